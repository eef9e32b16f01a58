/**
 * What the integer activations' host sides (i-GELU, i-SiLU) share: constants buffers that are
 * bound only once proven (uploaded by `upload`, which runs the family's check), the standalone
 * kernel's pipeline per input-rescale kind, its folded 2-D grid and uniform, and its bindings.
 * Each family gives its shader, its uniform fields and its constants' check and packing.
 */
import { optionsKey } from '../../shaders/codegen.js';
import { checkBufferBytes } from '../gpu/bindings.js';
import type { Gpu } from '../gpu/gpu.js';
import {
  type BoundProgram,
  bindProgram,
  cachedKernel,
  type KernelProgram,
  type ProgramInfo,
  type RunData,
} from '../gpu/program.js';
import { wordsPerRow } from '../quant/pack.js';

export interface ActivationI8Options {
  /** Per-column input rescale (a requant buffer) instead of one in the constants. */
  perChannel?: boolean;
}

export interface ActivationI8Shape {
  rows: number;
  cols: number;
}

export interface ActivationI8Buffers {
  /** int32 [rows, cols], e.g. an FFN's first GEMM accumulator plus bias. */
  x: GPUBuffer;
  /** array<vec2<u32>> of (m, e) per column (options.perChannel), from packRequant. */
  requant?: GPUBuffer;
  /** The proven constants, from the family's upload. */
  constants: GPUBuffer;
  /** int8 [rows, cols] packed 4 per word. */
  y: GPUBuffer;
}

export interface ActivationI8Family<C> {
  /** Kernel family name, e.g. 'gelu-i8'. */
  family: string;
  /** Name in messages, e.g. 'i-GELU'. */
  display: string;
  /** The family's upload function, named in refusals. */
  uploadName: string;
  shader: (options: { perChannel: boolean }) => string;
  paramFields: readonly string[];
  workgroup: number;
  check: (constants: C, what: string) => void;
  pack: (constants: C) => Uint32Array;
  /** A deep copy: later changes to the caller's object must not pass for what was proven. */
  copy: (constants: C) => C;
}

/** Workgroups per row of the folded 2-D dispatch. */
const GROUPS_X = 32768;

export function activationI8<C>(f: ActivationI8Family<C>) {
  const proven = new WeakMap<GPUBuffer, C>();
  const tag = (options: ActivationI8Options) => `${f.family}${options.perChannel ? '[channel]' : ''}`;
  const positiveInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${f.display}: ${name} = ${v} must be a positive integer`);
  };

  /** Uploads constants after proving them; the only buffers the wrappers bind. */
  function upload(gpu: Gpu, constants: C, label = `${f.family}.constants`): GPUBuffer {
    // pack runs the family's check: constants that could overflow are never uploaded.
    const buffer = gpu.storage(label, f.pack(constants));
    proven.set(buffer, f.copy(constants));
    return buffer;
  }

  /** The constants a buffer was uploaded with, re-checked; a RangeError for a buffer upload did not make. */
  function provenConstants(buffer: GPUBuffer, what: string): C {
    const c = proven.get(buffer);
    if (!c)
      throw new RangeError(
        `${what}: the ${f.family.replace(/-i8$/, '')} constants buffer was not made by ${f.uploadName}, so its overflow bounds are unproven.`,
      );
    f.check(c, what);
    return c;
  }

  /** What to compile: one pipeline per input-rescale kind (the constants are a buffer, sizes uniforms). */
  function kernel(options: ActivationI8Options): KernelProgram {
    const shaderOptions = { perChannel: !!options.perChannel };
    return cachedKernel(optionsKey(f.family, shaderOptions), () => ({
      name: tag(shaderOptions),
      code: f.shader(shaderOptions),
    }));
  }

  function runData(options: ActivationI8Options, shape: ActivationI8Shape): RunData {
    positiveInt('rows', shape.rows);
    positiveInt('cols', shape.cols);
    const words = wordsPerRow(shape.cols);
    // The shader indexes words and input elements with u32.
    if (shape.rows * shape.cols >= 2 ** 32 || shape.rows * words >= 2 ** 32) {
      throw new RangeError(`${f.display}: ${shape.rows}x${shape.cols} has too many elements for u32 indexing.`);
    }
    const groups = Math.ceil((shape.rows * words) / f.workgroup);
    const groupsX = Math.min(groups, GROUPS_X);
    const values: Record<string, number> = { rows: shape.rows, cols: shape.cols, words, groupsX };
    return {
      label: `${tag(options)} ${shape.rows}x${shape.cols}`,
      workgroups: [groupsX, Math.ceil(groups / groupsX), 1],
      params: new Uint32Array(f.paramFields.map((name) => values[name])),
    };
  }

  function program(options: ActivationI8Options, shape: ActivationI8Shape): ProgramInfo {
    const run = runData(options, shape);
    return { ...kernel(options), ...run, name: run.label! };
  }

  /** The buffers in binding order, checked to hold the shape, the constants proven. */
  function bindings(options: ActivationI8Options, shape: ActivationI8Shape, buffers: ActivationI8Buffers): GPUBuffer[] {
    if (!!options.perChannel !== !!buffers.requant)
      throw new Error(`${f.display}: options.perChannel and the requant buffer disagree`);
    provenConstants(buffers.constants, `${tag(options)} ${shape.rows}x${shape.cols}`);
    const words = shape.rows * wordsPerRow(shape.cols);
    checkBufferBytes(
      f.display,
      [
        ['x', buffers.x, shape.rows * shape.cols * 4],
        ['requant', buffers.requant, shape.cols * 8],
        ['y', buffers.y, words * 4],
      ],
      { skipAbsent: true },
    );
    const list = [buffers.x];
    if (buffers.requant) list.push(buffers.requant);
    list.push(buffers.constants, buffers.y);
    return list;
  }

  async function bind(
    gpu: Gpu,
    options: ActivationI8Options,
    shape: ActivationI8Shape,
    buffers: ActivationI8Buffers,
  ): Promise<BoundProgram> {
    return bindProgram(gpu, program(options, shape), bindings(options, shape, buffers));
  }

  return { upload, provenConstants, kernel, runData, program, bindings, bind };
}
