/**
 * Host side of the integer GELU (shaders/gelu-i8.ts): shape validation, the overflow proof of the
 * constants, and the dispatch of the standalone kernel. The same constants buffer feeds the GEMM's
 * fused 'gelu-i8' epilogue (src/kernels/gemm-i8.ts).
 *
 * Enforcement: the wrappers accept only constants buffers made by uploadGeluI8Constants, which runs
 * checkGeluI8Constants first, so constants that could overflow an int32 intermediate never reach
 * a dispatch. Any int32 input value is accepted: the first step saturates.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { GELU_PARAM_FIELDS, GELU_WORKGROUP, type GeluI8ShaderOptions, geluI8Shader } from '../../shaders/gelu-i8.js';
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
import { checkGeluI8Constants, type GeluI8Constants, packGeluI8Constants } from '../reference/gelu-i8.js';

export {
  checkGeluI8Constants,
  deriveGeluI8Constants,
  geluInputRescale,
  packGeluI8Constants,
} from '../reference/gelu-i8.js';
export type { GeluI8Constants, GeluI8ShaderOptions };

export type GeluI8Options = GeluI8ShaderOptions;

export interface GeluI8Shape {
  rows: number;
  cols: number;
}

/** Workgroups per row of the folded 2-D dispatch. */
const GROUPS_X = 32768;

const proven = new WeakMap<GPUBuffer, GeluI8Constants>();

/** Uploads i-GELU constants after proving them; the only buffers the wrappers bind as `gelu`. */
export function uploadGeluI8Constants(gpu: Gpu, constants: GeluI8Constants, label = 'gelu-i8.constants'): GPUBuffer {
  const words = packGeluI8Constants(constants);
  const buffer = gpu.storage(label, words);
  proven.set(buffer, {
    ...constants,
    input: { ...constants.input },
    corr: { ...constants.corr },
    output: { ...constants.output },
  });
  return buffer;
}

/** The proven constants of a buffer, or a RangeError for a buffer that did not come from the upload. */
export function provenGeluConstants(buffer: GPUBuffer, what: string): GeluI8Constants {
  const c = proven.get(buffer);
  if (!c)
    throw new RangeError(
      `${what}: the gelu constants buffer was not made by uploadGeluI8Constants, so its overflow bounds are unproven.`,
    );
  checkGeluI8Constants(c, what);
  return c;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`i-GELU: ${name} = ${v} must be a positive integer`);
}

/** What to compile: one pipeline per input-rescale kind (the constants are a buffer, sizes uniforms). */
export function geluI8Kernel(options: GeluI8Options): KernelProgram {
  const shaderOptions: GeluI8ShaderOptions = { perChannel: !!options.perChannel };
  return cachedKernel(optionsKey('gelu-i8', shaderOptions), () => ({
    name: `gelu-i8${shaderOptions.perChannel ? '[channel]' : ''}`,
    code: geluI8Shader(shaderOptions),
  }));
}

export function geluI8RunData(options: GeluI8Options, shape: GeluI8Shape): RunData {
  positiveInt('rows', shape.rows);
  positiveInt('cols', shape.cols);
  const words = wordsPerRow(shape.cols);
  // The shader indexes words and input elements with u32.
  if (shape.rows * shape.cols >= 2 ** 32 || shape.rows * words >= 2 ** 32) {
    throw new RangeError(`i-GELU: ${shape.rows}x${shape.cols} has too many elements for u32 indexing.`);
  }
  const groups = Math.ceil((shape.rows * words) / GELU_WORKGROUP);
  const groupsX = Math.min(groups, GROUPS_X);
  const values: Record<(typeof GELU_PARAM_FIELDS)[number], number> = {
    rows: shape.rows,
    cols: shape.cols,
    words,
    groupsX,
  };
  return {
    label: `gelu-i8${options.perChannel ? '[channel]' : ''} ${shape.rows}x${shape.cols}`,
    workgroups: [groupsX, Math.ceil(groups / groupsX), 1],
    params: new Uint32Array(GELU_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function geluI8Program(options: GeluI8Options, shape: GeluI8Shape): ProgramInfo {
  const run = geluI8RunData(options, shape);
  return { ...geluI8Kernel(options), ...run, name: run.label! };
}

export interface GeluI8Buffers {
  /** int32 [rows, cols], e.g. the FFN1 accumulator plus bias. */
  x: GPUBuffer;
  /** array<vec2<u32>> of (m, e) per column (options.perChannel), from packRequant. */
  requant?: GPUBuffer;
  /** From uploadGeluI8Constants. */
  gelu: GPUBuffer;
  /** Packed int8 [rows, ceil(cols / 4)] words. */
  y: GPUBuffer;
}

/**
 * The buffers in binding order, checked against the options and to hold `shape` (the largest a
 * Dispatch will run); refuses a constants buffer whose bounds were not proven on upload.
 */
export function geluI8Bindings(options: GeluI8Options, shape: GeluI8Shape, buffers: GeluI8Buffers): GPUBuffer[] {
  if (options.perChannel !== !!buffers.requant)
    throw new Error('i-GELU: options.perChannel and the requant buffer disagree');
  provenGeluConstants(buffers.gelu, `gelu-i8${options.perChannel ? '[channel]' : ''} ${shape.rows}x${shape.cols}`);
  const words = shape.rows * wordsPerRow(shape.cols);
  const need: [string, GPUBuffer | undefined, number][] = [
    ['x', buffers.x, shape.rows * shape.cols * 4],
    ['requant', buffers.requant, shape.cols * 8],
    ['y', buffers.y, words * 4],
  ];
  for (const [what, buffer, bytes] of need) {
    if (buffer && buffer.size < bytes)
      throw new RangeError(`i-GELU: ${what} buffer has ${buffer.size} bytes, needs ${bytes}`);
  }
  const list = [buffers.x];
  if (buffers.requant) list.push(buffers.requant);
  list.push(buffers.gelu, buffers.y);
  return list;
}

export async function bindGeluI8(
  gpu: Gpu,
  options: GeluI8Options,
  shape: GeluI8Shape,
  buffers: GeluI8Buffers,
): Promise<BoundProgram> {
  if (options.perChannel !== !!buffers.requant)
    throw new Error('i-GELU: options.perChannel and the requant buffer disagree');
  const info = geluI8Program(options, shape);
  return bindProgram(gpu, info, geluI8Bindings(options, shape, buffers));
}
