/**
 * Host side of the integer SiLU (shaders/silu-i8.ts): shape validation, the overflow proof of the
 * constants, and the dispatch of the standalone kernel. The same constants buffer feeds the GEMM's
 * fused 'silu-i8' epilogue (src/kernels/gemm-i8.ts).
 *
 * Enforcement: the wrappers accept only constants buffers made by uploadSiluI8Constants, which runs
 * checkSiluI8Constants first, so constants that could overflow a u32 or int32 intermediate never reach
 * a dispatch. Any int32 input value is accepted: the first step saturates.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { SILU_PARAM_FIELDS, SILU_WORKGROUP, type SiluI8ShaderOptions, siluI8Shader } from '../../shaders/silu-i8.js';
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
import { checkSiluI8Constants, packSiluI8Constants, type SiluI8Constants } from '../reference/silu-i8.js';

export {
  checkSiluI8Constants,
  deriveSiluI8Constants,
  packSiluI8Constants,
  siluInputRescale,
} from '../reference/silu-i8.js';
export type { SiluI8Constants, SiluI8ShaderOptions };

export type SiluI8Options = SiluI8ShaderOptions;

export interface SiluI8Shape {
  rows: number;
  cols: number;
}

/** Workgroups per row of the folded 2-D dispatch. */
const GROUPS_X = 32768;

const proven = new WeakMap<GPUBuffer, SiluI8Constants>();

/** Uploads i-SiLU constants after proving them; the only buffers the wrappers bind as `silu`. */
export function uploadSiluI8Constants(gpu: Gpu, constants: SiluI8Constants, label = 'silu-i8.constants'): GPUBuffer {
  const words = packSiluI8Constants(constants);
  const buffer = gpu.storage(label, words);
  // A copy: later changes to the caller's object must not pass for what was proven and uploaded.
  proven.set(buffer, { ...constants, input: { ...constants.input }, output: { ...constants.output } });
  return buffer;
}

/** The proven constants of a buffer, or a RangeError for a buffer that did not come from the upload. */
export function provenSiluConstants(buffer: GPUBuffer, what: string): SiluI8Constants {
  const c = proven.get(buffer);
  if (!c)
    throw new RangeError(
      `${what}: the silu constants buffer was not made by uploadSiluI8Constants, so its overflow bounds are unproven.`,
    );
  checkSiluI8Constants(c, what);
  return c;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`i-SiLU: ${name} = ${v} must be a positive integer`);
}

/** What to compile: one pipeline per input-rescale kind (the constants are a buffer, sizes uniforms). */
export function siluI8Kernel(options: SiluI8Options): KernelProgram {
  const shaderOptions: SiluI8ShaderOptions = { perChannel: !!options.perChannel };
  return cachedKernel(optionsKey('silu-i8', shaderOptions), () => ({
    name: `silu-i8${shaderOptions.perChannel ? '[channel]' : ''}`,
    code: siluI8Shader(shaderOptions),
  }));
}

export function siluI8RunData(options: SiluI8Options, shape: SiluI8Shape): RunData {
  positiveInt('rows', shape.rows);
  positiveInt('cols', shape.cols);
  const words = wordsPerRow(shape.cols);
  // The shader indexes words and input elements with u32.
  if (shape.rows * shape.cols >= 2 ** 32 || shape.rows * words >= 2 ** 32) {
    throw new RangeError(`i-SiLU: ${shape.rows}x${shape.cols} has too many elements for u32 indexing.`);
  }
  const groups = Math.ceil((shape.rows * words) / SILU_WORKGROUP);
  const groupsX = Math.min(groups, GROUPS_X);
  const values: Record<(typeof SILU_PARAM_FIELDS)[number], number> = {
    rows: shape.rows,
    cols: shape.cols,
    words,
    groupsX,
  };
  return {
    label: `silu-i8${options.perChannel ? '[channel]' : ''} ${shape.rows}x${shape.cols}`,
    workgroups: [groupsX, Math.ceil(groups / groupsX), 1],
    params: new Uint32Array(SILU_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function siluI8Program(options: SiluI8Options, shape: SiluI8Shape): ProgramInfo {
  const run = siluI8RunData(options, shape);
  return { ...siluI8Kernel(options), ...run, name: run.label! };
}

export interface SiluI8Buffers {
  /** int32 [rows, cols], e.g. an FFN's first GEMM accumulator plus bias. */
  x: GPUBuffer;
  /** array<vec2<u32>> of (m, e) per column (options.perChannel), from packRequant. */
  requant?: GPUBuffer;
  /** From uploadSiluI8Constants. */
  silu: GPUBuffer;
  /** Packed int8 [rows, ceil(cols / 4)] words. */
  y: GPUBuffer;
}

/**
 * The buffers in binding order, checked against the options and to hold `shape` (the largest a
 * Dispatch will run); refuses a constants buffer whose bounds were not proven on upload.
 */
export function siluI8Bindings(options: SiluI8Options, shape: SiluI8Shape, buffers: SiluI8Buffers): GPUBuffer[] {
  if (options.perChannel !== !!buffers.requant)
    throw new Error('i-SiLU: options.perChannel and the requant buffer disagree');
  provenSiluConstants(buffers.silu, `silu-i8${options.perChannel ? '[channel]' : ''} ${shape.rows}x${shape.cols}`);
  const words = shape.rows * wordsPerRow(shape.cols);
  const need: [string, GPUBuffer | undefined, number][] = [
    ['x', buffers.x, shape.rows * shape.cols * 4],
    ['requant', buffers.requant, shape.cols * 8],
    ['y', buffers.y, words * 4],
  ];
  for (const [what, buffer, bytes] of need) {
    if (buffer && buffer.size < bytes)
      throw new RangeError(`i-SiLU: ${what} buffer has ${buffer.size} bytes, needs ${bytes}`);
  }
  const list = [buffers.x];
  if (buffers.requant) list.push(buffers.requant);
  list.push(buffers.silu, buffers.y);
  return list;
}

export async function bindSiluI8(
  gpu: Gpu,
  options: SiluI8Options,
  shape: SiluI8Shape,
  buffers: SiluI8Buffers,
): Promise<BoundProgram> {
  if (options.perChannel !== !!buffers.requant)
    throw new Error('i-SiLU: options.perChannel and the requant buffer disagree');
  const info = siluI8Program(options, shape);
  return bindProgram(gpu, info, siluI8Bindings(options, shape, buffers));
}
