/**
 * Host side of the KV cache append (shaders/kv-append-i8.ts): layout validation (positions within
 * the capacity, heads inside the q|k|v rows, u32 indices), the uniform and the bindings. One
 * pipeline serves every layer and length: the layer's cache offsets, past and queries are uniforms.
 * Also the shapes of a decoder run's attention against the caches (kvAttentionShapes).
 */

import {
  KV_APPEND_PARAM_FIELDS,
  KV_APPEND_WORKGROUP,
  type KvAppendParamField,
  kvAppendShader,
} from '../../shaders/kv-append-i8.js';
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
import {
  type GemmShape,
  type KvAttentionLayout,
  kvCacheWords,
  kvContextShape,
  kvScoresShape,
  resolveKvAttentionLayout,
} from './gemm-shape.js';
import type { SoftmaxI8Shape } from './softmax-i8.js';

export type { KvAttentionLayout };
export { kvCacheWords, kvContextShape, kvScoresShape, resolveKvAttentionLayout };

const GRID_X = 65535;
const U32_MAX = 2 ** 32 - 1;

/** What to compile: one pipeline for every layout. */
export function kvAppendKernel(): KernelProgram {
  return cachedKernel('kv-append-i8', () => ({ name: 'kv-append-i8', code: kvAppendShader() }));
}

/** Threads of the run: one per K word, then one per V^T word the new positions touch. */
function threads(l: Required<KvAttentionLayout>): { k: number; v: number; vWords: number } {
  const hd4 = l.headDim / 4;
  const vWords = Math.floor((l.past + l.queries - 1) / 4) - Math.floor(l.past / 4) + 1;
  return { k: l.batch * l.heads * l.queries * hd4, v: l.batch * l.heads * l.headDim * vWords, vWords };
}

/**
 * One append of positions past .. past + queries - 1 into the layer at kCacheOffset / vCacheOffset.
 * Refuses (RangeError) layouts beyond the capacity, heads outside the rows, and u32 index overflow.
 */
export function kvAppendRunData(layout: KvAttentionLayout): RunData {
  const l = resolveKvAttentionLayout(layout);
  const t = threads(l);
  const words = kvCacheWords(l);
  const tokens = l.batch * l.queries;
  for (const [what, n] of [
    ['K cache index', l.kCacheOffset + words.k],
    ['V cache index', l.vCacheOffset + words.v],
    ['q|k|v index', tokens * l.qkvRow],
    ['thread count', t.k + t.v + KV_APPEND_WORKGROUP * GRID_X],
  ] as const) {
    if (n > U32_MAX) throw new RangeError(`KV append: ${what} reaches ${n} and overflows u32`);
  }
  const groups = Math.ceil((t.k + t.v) / KV_APPEND_WORKGROUP);
  const gridX = Math.min(groups, GRID_X);
  const values: Record<KvAppendParamField, number> = {
    heads: l.heads,
    headWords: l.headDim / 4,
    headDim: l.headDim,
    queries: l.queries,
    past: l.past,
    capacity: l.capacity,
    capWords: wordsPerRow(l.capacity),
    qkvRow: l.qkvRow,
    kSrc: l.kSrc,
    vSrc: l.vSrc,
    kOffset: l.kCacheOffset,
    vOffset: l.vCacheOffset,
    kThreads: t.k,
    vThreads: t.v,
    vWords: t.vWords,
    gridX,
  };
  return {
    label: `kv-append-i8 ${l.batch}x${l.heads}x${l.queries} at ${l.past}/${l.capacity}`,
    workgroups: [gridX, Math.ceil(groups / gridX), 1],
    params: Uint32Array.from(KV_APPEND_PARAM_FIELDS, (f) => values[f]),
  };
}

export function kvAppendProgram(layout: KvAttentionLayout): ProgramInfo {
  const run = kvAppendRunData(layout);
  return { ...kvAppendKernel(), ...run, name: run.label! };
}

export interface KvAppendBuffers {
  /** The fused q|k|v GEMM output, [batch * queries, qkvRow] words of packed int8. */
  qkv: GPUBuffer;
  /** Every layer's K caches (this layer at kCacheOffset words) and V caches (at vCacheOffset). */
  kCache: GPUBuffer;
  vCache: GPUBuffer;
}

/** The buffers in binding order, checked to hold `layout` (the largest a Dispatch will run). */
export function kvAppendBindings(layout: KvAttentionLayout, buffers: KvAppendBuffers): GPUBuffer[] {
  const l = resolveKvAttentionLayout(layout);
  const words = kvCacheWords(l);
  checkBufferBytes('KV append', [
    ['qkv', buffers.qkv, l.batch * l.queries * l.qkvRow * 4],
    ['kCache', buffers.kCache, (l.kCacheOffset + words.k) * 4],
    ['vCache', buffers.vCache, (l.vCacheOffset + words.v) * 4],
  ]);
  return [buffers.qkv, buffers.kCache, buffers.vCache];
}

export async function bindKvAppend(
  gpu: Gpu,
  layout: KvAttentionLayout,
  buffers: KvAppendBuffers,
): Promise<BoundProgram> {
  return bindProgram(gpu, kvAppendProgram(layout), kvAppendBindings(layout, buffers));
}

/**
 * Every shape of one decoder layer's attention after the append, from one layout: Q.K^T against
 * the K cache (int32 scores [batch, heads, queries, scoreRow]), the causal softmax over
 * keys = past + queries with the mask [batch, maskRow], and P.V against the V^T cache.
 */
export function kvAttentionShapes(
  layout: KvAttentionLayout,
  maskRow?: number,
): { scores: GemmShape; softmax: SoftmaxI8Shape; context: GemmShape } {
  const l = resolveKvAttentionLayout(layout);
  const keys = l.past + l.queries;
  return {
    scores: kvScoresShape(l),
    softmax: {
      batch: l.batch,
      heads: l.heads,
      seq: keys,
      queries: l.queries,
      past: l.past,
      causal: true,
      scoreRow: l.scoreRow,
      maskRow: maskRow ?? keys,
      outRow: l.probRow,
    },
    context: kvContextShape(l),
  };
}
