/**
 * Host side of the requantize kernel (shaders/requantize.ts): shape and multiplier validation,
 * buffer size checks, and the dispatch. There is no range to prove: the dyadic rescale is exact
 * for every int32 input and every valid (m, e) (see src/reference/requantize.ts).
 */

import { optionsKey } from '../../shaders/codegen.js';
import { checkElementwiseShape, wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import { REQUANTIZE_PARAM_FIELDS, type RequantizeShaderOptions, requantizeShader } from '../../shaders/requantize.js';
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
import type { Dyadic } from '../reference/dyadic.js';
import { packRequant } from './gemm-i8.js';

export type RequantizeOptions = RequantizeShaderOptions;

export interface RequantizeShape {
  rows: number;
  cols: number;
}

function checkOutput(options: RequantizeOptions): void {
  if (options.output !== 'i8' && options.output !== 'u8')
    throw new RangeError(`requantize: output ${String(options.output)} is not 'i8' or 'u8'`);
}

/** What to compile: one pipeline per (output type, per channel or per tensor). */
export function requantizeKernel(options: RequantizeOptions): KernelProgram {
  checkOutput(options);
  const shaderOptions: RequantizeShaderOptions = { output: options.output, perChannel: !!options.perChannel };
  return cachedKernel(optionsKey('requantize', shaderOptions), () => ({
    name: `requantize[${options.output},${options.perChannel ? 'channel' : 'tensor'}]`,
    code: requantizeShader(shaderOptions),
  }));
}

export function requantizeRunData(options: RequantizeOptions, shape: RequantizeShape): RunData {
  const { rows, cols } = shape;
  checkElementwiseShape('requantize', rows, cols);
  checkOutput(options);
  const cols4 = wordsPerRow(cols);
  const values: Record<(typeof REQUANTIZE_PARAM_FIELDS)[number], number> = { rows, cols, cols4, words: rows * cols4 };
  return {
    label: `requantize[${options.output},${options.perChannel ? 'channel' : 'tensor'}] ${rows}x${cols}`,
    workgroups: wordGridWorkgroups(rows * cols4),
    params: new Uint32Array(REQUANTIZE_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function requantizeProgram(options: RequantizeOptions, shape: RequantizeShape): ProgramInfo {
  const run = requantizeRunData(options, shape);
  return { ...requantizeKernel(options), ...run, name: run.label! };
}

/**
 * The multipliers as the shader reads them (array<vec2<u32>>), validated: one per column when
 * per channel, one in all otherwise.
 */
export function packRequantizeMultipliers(
  options: RequantizeOptions,
  shape: RequantizeShape,
  requant: Dyadic[],
): Uint32Array {
  const want = options.perChannel ? shape.cols : 1;
  if (requant.length !== want) {
    throw new RangeError(
      `requantize: ${requant.length} multipliers given, ${options.perChannel ? `one per column (${want})` : 'one per tensor'} expected`,
    );
  }
  return packRequant(requant);
}

export interface RequantizeBuffers {
  /** int32 [rows, cols]. */
  input: GPUBuffer;
  /** array<vec2<u32>> of (m, e) from packRequantizeMultipliers. */
  requant: GPUBuffer;
  /** [rows, ceil(cols / 4)] packed words. */
  output: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function requantizeBindings(
  options: RequantizeOptions,
  shape: RequantizeShape,
  buffers: RequantizeBuffers,
): GPUBuffer[] {
  checkBufferBytes('requantize', [
    ['input', buffers.input, shape.rows * shape.cols * 4],
    ['requant', buffers.requant, (options.perChannel ? shape.cols : 1) * 8],
    ['output', buffers.output, shape.rows * wordsPerRow(shape.cols) * 4],
  ]);
  return [buffers.input, buffers.requant, buffers.output];
}

export async function bindRequantize(
  gpu: Gpu,
  options: RequantizeOptions,
  shape: RequantizeShape,
  buffers: RequantizeBuffers,
): Promise<BoundProgram> {
  const info = requantizeProgram(options, shape);
  return bindProgram(gpu, info, requantizeBindings(options, shape, buffers));
}
