/**
 * Host side of the next-token choice (shaders/topk-i32.ts): shape checks, the variant (threads per
 * row, list capacity), the uniform and the bindings. The int32 bound of the optional per-channel
 * rescale is proven by planLogitRescale (src/reference/topk-i32.ts) when the planner makes it; the
 * kernel saturates regardless, as the reference does.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { TOPK_PARAM_FIELDS, type TopKParamField, topKShader } from '../../shaders/topk-i32.js';
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
import type { LogitRescalePlan, LogitRescalePlanInput, TopKResult } from '../reference/topk-i32.js';
import {
  checkTopK,
  logitAccumulatorBound,
  packTopK,
  planLogitRescale,
  TOPK_MAX_K,
  topKRef,
} from '../reference/topk-i32.js';

export type { LogitRescalePlan, LogitRescalePlanInput, TopKResult };
export { logitAccumulatorBound, packTopK, planLogitRescale, TOPK_MAX_K, topKRef };

export interface TopKOptions {
  /** A requant array rescales each vocabulary entry onto the common scale. */
  rescale: boolean;
}

/** What to compile besides the options: threads per row and each thread's list capacity. */
export interface TopKVariant {
  workgroupSize: number;
  kCap: number;
}

/** [batch, logitRow] int32 logits (vocab used per row), k best per row. */
export interface TopKShape {
  batch: number;
  vocab: number;
  k: number;
  /** Values between logit rows (default vocab), and before row 0 (default 0). */
  logitRow?: number;
  logitOffset?: number;
}

/**
 * 256 threads per row on GPUs; 64 on SwiftShader (each round of phase 2 costs log2(WG) + 2
 * barriers, paid per thread there). kCap: k rounded up to a power of two, so few pipelines serve
 * every k.
 */
export function topKVariant(shape: Pick<TopKShape, 'k'>, software = false): TopKVariant {
  return { workgroupSize: software ? 64 : 256, kCap: 2 ** Math.ceil(Math.log2(Math.max(1, shape.k))) };
}

function checkVariant(v: TopKVariant): void {
  const { workgroupSize: wg, kCap } = v;
  if (!Number.isInteger(wg) || wg < 1 || wg > 256 || (wg & (wg - 1)) !== 0)
    throw new RangeError(`top-k: workgroupSize = ${wg} must be a power of two in [1, 256]`);
  if (!Number.isInteger(kCap) || kCap < 1 || kCap > TOPK_MAX_K)
    throw new RangeError(`top-k: kCap = ${kCap} must be an integer in [1, ${TOPK_MAX_K}]`);
}

export function topKKernel(options: TopKOptions, variant: TopKVariant): KernelProgram {
  checkVariant(variant);
  const o = { rescale: !!options.rescale, workgroupSize: variant.workgroupSize, kCap: variant.kCap };
  return cachedKernel(optionsKey('topk-i32', o), () => ({
    name: `topk-i32[${o.rescale ? 'rescale,' : ''}wg ${o.workgroupSize},k<=${o.kCap}]`,
    code: topKShader(o),
    workgroupStorageBytes: 8 * o.workgroupSize,
  }));
}

/** Words of the output: batch (1 + 2k). */
export function topKOutputWords(shape: Pick<TopKShape, 'batch' | 'k'>): number {
  return shape.batch * (1 + 2 * shape.k);
}

export function topKRunData(shape: TopKShape, variant: TopKVariant): RunData {
  checkVariant(variant);
  const { batch, vocab, k } = shape;
  checkTopK(batch, vocab, k);
  if (k > variant.kCap) throw new RangeError(`top-k: k = ${k} exceeds the variant's list capacity ${variant.kCap}`);
  if (batch > 65535)
    throw new RangeError(`top-k: batch = ${batch} exceeds the 65535 workgroups of one dispatch dimension`);
  const logitRow = shape.logitRow ?? vocab;
  const logitOffset = shape.logitOffset ?? 0;
  if (!Number.isInteger(logitRow) || logitRow < vocab)
    throw new RangeError(`top-k: logitRow = ${logitRow} is shorter than the vocabulary of ${vocab}`);
  if (!Number.isInteger(logitOffset) || logitOffset < 0)
    throw new RangeError(`top-k: logitOffset = ${logitOffset} must be a non-negative integer`);
  if (logitOffset + batch * logitRow > 2 ** 32 - 1)
    throw new RangeError(`top-k: ${batch} rows of ${logitRow} logits overflow u32 indices`);
  const values: Record<TopKParamField, number> = {
    batch,
    vocab,
    k,
    logitRow,
    logitOffset,
    outRow: 1 + 2 * k,
    pad0: 0,
    pad1: 0,
  };
  return {
    label: `topk-i32[wg ${variant.workgroupSize}] ${batch}x${vocab} k ${k}`,
    workgroups: [batch, 1, 1],
    params: Uint32Array.from(TOPK_PARAM_FIELDS, (f) => values[f]),
  };
}

export function topKProgram(options: TopKOptions, shape: TopKShape, variant = topKVariant(shape)): ProgramInfo {
  const run = topKRunData(shape, variant);
  return { ...topKKernel(options, variant), ...run, name: run.label! };
}

export interface TopKBuffers {
  /** int32 [batch, logitRow] after logitOffset values. */
  logits: GPUBuffer;
  /** array<vec2<u32>> (m, e) per vocabulary entry (packRequant), with options.rescale only. */
  requant?: GPUBuffer;
  /** [batch, 1 + 2k] u32. */
  out: GPUBuffer;
}

export function topKBindings(options: TopKOptions, shape: TopKShape, buffers: TopKBuffers): GPUBuffer[] {
  if (!!options.rescale !== !!buffers.requant)
    throw new Error('top-k: a requant buffer is bound exactly when options.rescale');
  checkBufferBytes(
    'top-k',
    [
      [
        'logits',
        buffers.logits,
        ((shape.logitOffset ?? 0) + (shape.batch - 1) * (shape.logitRow ?? shape.vocab) + shape.vocab) * 4,
      ],
      ['requant', buffers.requant, options.rescale ? shape.vocab * 8 : 0],
      ['out', buffers.out, topKOutputWords(shape) * 4],
    ],
    { skipAbsent: true },
  );
  return buffers.requant ? [buffers.logits, buffers.requant, buffers.out] : [buffers.logits, buffers.out];
}

export async function bindTopK(
  gpu: Gpu,
  options: TopKOptions,
  shape: TopKShape,
  buffers: TopKBuffers,
): Promise<BoundProgram> {
  const list = topKBindings(options, shape, buffers);
  return bindProgram(gpu, topKProgram(options, shape, topKVariant(shape, gpu.adapter.isSoftware)), list);
}
