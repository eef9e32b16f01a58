/** Host side of the masked f32 softmax (shaders/softmax-f32.ts). */

import { optionsKey } from '../../shaders/codegen.js';
import { SOFTMAX_F32_PARAM_FIELDS, type SoftmaxF32ShaderOptions, softmaxF32Shader } from '../../shaders/softmax-f32.js';
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
import type { SoftmaxF32Shape } from '../reference/softmax-f32.js';
import { rowGrid, rowWorkgroupSize } from './layernorm-f32.js';

export type { SoftmaxF32Shape };

/**
 * The variant a shape gets by default: a workgroup of rowWorkgroupSize(probStride) threads (32 up
 * to 128 keys, then 64, 128, 256). Any workgroup size runs any length correctly (threads stride
 * over the keys); the size only sets speed, so a model may also fix one for all lengths.
 */
export function softmaxF32Variant(
  shape: SoftmaxF32Shape,
  options: Partial<SoftmaxF32ShaderOptions> = {},
): SoftmaxF32ShaderOptions {
  return {
    workgroupSize: options.workgroupSize ?? rowWorkgroupSize(shape.probStride ?? shape.seq),
    ...(options.causal ? { causal: true } : {}),
  };
}

export function softmaxF32Kernel(variant: SoftmaxF32ShaderOptions): KernelProgram {
  const wg = variant.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || wg > 256 || (wg & (wg - 1)) !== 0)
    throw new RangeError(`softmax-f32: workgroupSize ${wg} must be a power of two <= 256`);
  // Absent unless causal, so that the padding-mask kernel keeps its cache key.
  const shaderOptions: SoftmaxF32ShaderOptions = { workgroupSize: wg, ...(variant.causal ? { causal: true } : {}) };
  return cachedKernel(optionsKey('softmax-f32', shaderOptions), () => ({
    name: `softmax-f32${variant.causal ? '+causal' : ''}[wg ${wg}]`,
    code: softmaxF32Shader(shaderOptions),
    workgroupStorageBytes: wg * 4,
  }));
}

export function softmaxF32RunData(shape: SoftmaxF32Shape): RunData {
  const { batch, heads, queries, seq } = shape;
  const scoreStride = shape.scoreStride ?? seq;
  const probStride = shape.probStride ?? seq;
  for (const [k, v] of Object.entries({ batch, heads, queries, seq, scoreStride, probStride })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`softmax-f32: ${k} = ${v} must be a positive integer`);
  }
  if (scoreStride < seq || probStride < seq)
    throw new RangeError(`softmax-f32: strides (${scoreStride}, ${probStride}) shorter than seq ${seq}`);
  // The causal variant places the queries at the end of the keys.
  if (queries > seq && shape.causal)
    throw new RangeError(`softmax-f32: ${queries} causal queries over ${seq} keys (the queries are the last keys)`);
  const rows = batch * heads * queries;
  if (rows * Math.max(scoreStride, probStride) >= 2 ** 32)
    throw new RangeError(`softmax-f32: ${rows} rows exceed u32 indexing`);
  const grid = rowGrid(rows);
  const values: Record<(typeof SOFTMAX_F32_PARAM_FIELDS)[number], number> = {
    rows,
    seq,
    scoreStride,
    probStride,
    rowsPerBatch: heads * queries,
    gridX: grid.gridX,
    queries,
    pad1: 0,
  };
  return {
    label: `softmax-f32 ${batch}x${heads}x${queries}x${seq}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(SOFTMAX_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function softmaxF32Program(shape: SoftmaxF32Shape, options: Partial<SoftmaxF32ShaderOptions> = {}): ProgramInfo {
  const run = softmaxF32RunData(shape);
  return {
    ...softmaxF32Kernel(softmaxF32Variant(shape, { causal: shape.causal, ...options })),
    ...run,
    name: run.label!,
  };
}

export interface SoftmaxF32Buffers {
  scores: GPUBuffer;
  /** i32 [batch, seq]. */
  mask: GPUBuffer;
  probs: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function softmaxF32Bindings(shape: SoftmaxF32Shape, b: SoftmaxF32Buffers): GPUBuffer[] {
  const rows = shape.batch * shape.heads * shape.queries;
  checkBufferBytes('softmax-f32', [
    // The last row's stride padding is never read; every probs row is written up to probStride.
    ['scores', b.scores, ((rows - 1) * (shape.scoreStride ?? shape.seq) + shape.seq) * 4],
    ['mask', b.mask, shape.batch * shape.seq * 4],
    ['probs', b.probs, rows * (shape.probStride ?? shape.seq) * 4],
  ]);
  return [b.scores, b.mask, b.probs];
}

export async function bindSoftmaxF32(
  gpu: Gpu,
  shape: SoftmaxF32Shape,
  b: SoftmaxF32Buffers,
  options?: Partial<SoftmaxF32ShaderOptions>,
): Promise<BoundProgram> {
  const info = softmaxF32Program(shape, options);
  return bindProgram(gpu, info, softmaxF32Bindings(shape, b));
}
