/**
 * Shapes and uniform parameters of the tiled GEMMs (int8 and f32 share the skeleton of
 * shaders/gemm-tiled.ts). Operands are rows of "words" of 4 values along K.
 */
import { GEMM_PARAM_FIELDS, type GemmParamField, type GemmTile } from '../../shaders/gemm-tiled.js';
import { wordsPerRow } from '../quant/pack.js';

export type { GemmTile };

/**
 * 8x8 accumulators per thread, 64 threads: the fastest of the tiles measured on SwiftShader
 * (scratch sweep at 128x768x768: 3.4 GOPS unpack vs 1.7-3.1 for 4x4/4x8/8x8 with 128-256 threads);
 * a common shape for real GPUs too. Tiles are options: benchmarks can sweep them per adapter.
 */
export const DEFAULT_TILE: GemmTile = { m: 64, n: 64, k4: 8, threadM: 8, threadN: 8 };

/**
 * The tile for M rows when the caller names none. Short inputs (a sentence of 13 tokens, attention
 * of one head) would leave most of a 64-row tile idle: measured on SwiftShader, M = 16 runs 2.9x
 * faster with 16x32 tiles and M = 32 1.7x faster with 32x64. From M = 64, 64x64 and 32x64 tie there
 * (2.6-2.75 GOPS), but SwiftShader's JIT takes ~10 s to compile the 64x64 kernels (64 accumulators
 * unrolled), so software adapters stay at 32x64; GPUs get 64x64 register blocking for long inputs.
 * At most three tiles, so three pipelines per kernel variant.
 */
export function gemmTileFor(M: number, software = false): GemmTile {
  if (M <= 16) return { m: 16, n: 32, k4: 8, threadM: 4, threadN: 4 };
  if (M <= 32 || software) return { m: 32, n: 64, k4: 8, threadM: 4, threadN: 8 };
  return DEFAULT_TILE;
}

/** Sequence lengths that between them use every tile gemmTileFor picks: compile them up front. */
export const TILE_WARMUP_LENGTHS = [1, 17, 33];

export function gemmWorkgroupStorageBytes(tile: GemmTile, wordBytes: number): number {
  return (tile.m + tile.n) * tile.k4 * wordBytes;
}

/**
 * One (batched) GEMM, strides in words. Defaults describe contiguous tensors: A [batch, M, K4],
 * B [batch, N, K4], C [batch, M, cRow] with cRow = N (one value per element) or ceil(N / 4) (packed
 * int8). Batch index z = outer * batchInner + inner, e.g. (sequence, head) for attention.
 */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  batchOuter?: number;
  batchInner?: number;
  aRow?: number;
  bRow?: number;
  cRow?: number;
  aOuter?: number;
  aInner?: number;
  bOuter?: number;
  bInner?: number;
  cOuter?: number;
  cInner?: number;
  /** Words before element (0, 0) of batch 0, e.g. to address K inside a fused Q|K|V tensor. */
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`GEMM: ${name} = ${v} must be a positive integer`);
}

export function resolveGemmShape(shape: GemmShape, packedOutput: boolean): Required<GemmShape> {
  positiveInt('M', shape.M);
  positiveInt('N', shape.N);
  positiveInt('K', shape.K);
  const K4 = wordsPerRow(shape.K);
  const aRow = shape.aRow ?? K4;
  const bRow = shape.bRow ?? K4;
  const cRow = shape.cRow ?? (packedOutput ? wordsPerRow(shape.N) : shape.N);
  if (aRow < K4 || bRow < K4) throw new RangeError(`GEMM: row strides (${aRow}, ${bRow}) are shorter than K4 = ${K4}`);
  const batchOuter = shape.batchOuter ?? 1;
  const batchInner = shape.batchInner ?? 1;
  positiveInt('batchOuter', batchOuter);
  positiveInt('batchInner', batchInner);
  const aInner = shape.aInner ?? shape.M * aRow;
  const bInner = shape.bInner ?? shape.N * bRow;
  const cInner = shape.cInner ?? shape.M * cRow;
  return {
    M: shape.M,
    N: shape.N,
    K: shape.K,
    batchOuter,
    batchInner,
    aRow,
    bRow,
    cRow,
    aInner,
    bInner,
    cInner,
    aOffset: shape.aOffset ?? 0,
    bOffset: shape.bOffset ?? 0,
    cOffset: shape.cOffset ?? 0,
    aOuter: shape.aOuter ?? batchInner * aInner,
    bOuter: shape.bOuter ?? batchInner * bInner,
    cOuter: shape.cOuter ?? batchInner * cInner,
  };
}

export function gemmParams(s: Required<GemmShape>): Uint32Array {
  const values: Record<GemmParamField, number> = {
    M: s.M,
    N: s.N,
    K4: wordsPerRow(s.K),
    batchInner: s.batchInner,
    aRow: s.aRow,
    bRow: s.bRow,
    cRow: s.cRow,
    aOffset: s.aOffset,
    aOuter: s.aOuter,
    aInner: s.aInner,
    bOuter: s.bOuter,
    bInner: s.bInner,
    cOuter: s.cOuter,
    cInner: s.cInner,
    bOffset: s.bOffset,
    cOffset: s.cOffset,
  };
  return new Uint32Array(GEMM_PARAM_FIELDS.map((f) => values[f]));
}

export function gemmWorkgroups(s: Required<GemmShape>, tile: GemmTile): [number, number, number] {
  return [Math.ceil(s.N / tile.n), Math.ceil(s.M / tile.m), s.batchOuter * s.batchInner];
}

export function gemmLabel(kind: string, s: Required<GemmShape>): string {
  const batch = s.batchOuter * s.batchInner;
  return `${kind} ${s.M}x${s.N}x${s.K}${batch > 1 ? ` x${batch}` : ''}`;
}

/**
 * Where one layer's int8 KV cache and the attention operands of a decoder run live, in words.
 * K cache: [batch, heads, capacity, headDim] packed along headDim (Q.K^T reads its rows as B);
 * V cache: [batch, heads, headDim, capacity] packed along positions, i.e. V transposed (P.V reads
 * its rows as B). Positions 0 .. past + queries - 1 are valid after this run's append.
 */
export interface KvAttentionLayout {
  batch: number;
  heads: number;
  /** A multiple of 4: head slices of the fused q|k|v rows are whole words. */
  headDim: number;
  /** Query positions of this run (1 for a decode step); the run's tokens are [batch, queries]. */
  queries: number;
  /** Positions cached before this run. */
  past: number;
  /** Positions the cache holds per (batch, head): past + queries <= capacity. */
  capacity: number;
  /** Words per token row of the fused q|k|v tensor (default 3 heads headDim / 4) and Q's word offset in it (default 0). */
  qkvRow?: number;
  qOffset?: number;
  /** Word offsets of K and V in a q|k|v row (defaults: qOffset + heads headDim / 4, qOffset + 2 heads headDim / 4). */
  kSrc?: number;
  vSrc?: number;
  /** Words before this layer's caches (per-layer slices of one buffer). */
  kCacheOffset?: number;
  vCacheOffset?: number;
  /** Scores [batch, heads, queries, scoreRow] i32, scoreRow >= keys (default capacity). */
  scoreRow?: number;
  /** Probabilities [batch, heads, queries, probRow] words of uint8 (default ceil(capacity / 4)). */
  probRow?: number;
  /** Context [batch, queries, contextRow words] int8, head h at words h headDim / 4 (default heads headDim / 4), after contextOffset words. */
  contextRow?: number;
  contextOffset?: number;
}

export function resolveKvAttentionLayout(l: KvAttentionLayout): Required<KvAttentionLayout> {
  for (const k of ['batch', 'heads', 'headDim', 'queries', 'capacity'] as const) positiveInt(`KV layout ${k}`, l[k]);
  if (!Number.isInteger(l.past) || l.past < 0)
    throw new RangeError(`GEMM: KV layout past = ${l.past} must be a non-negative integer`);
  if (l.headDim % 4)
    throw new RangeError(
      `GEMM: KV layout headDim = ${l.headDim} must be a multiple of 4 (heads are whole words of the packed rows)`,
    );
  if (l.past + l.queries > l.capacity)
    throw new RangeError(
      `GEMM: ${l.past} cached + ${l.queries} new positions exceed the KV cache capacity ${l.capacity}`,
    );
  const hd4 = l.headDim / 4;
  const r: Required<KvAttentionLayout> = {
    ...l,
    qkvRow: l.qkvRow ?? 3 * l.heads * hd4,
    qOffset: l.qOffset ?? 0,
    kSrc: l.kSrc ?? (l.qOffset ?? 0) + l.heads * hd4,
    vSrc: l.vSrc ?? (l.qOffset ?? 0) + 2 * l.heads * hd4,
    kCacheOffset: l.kCacheOffset ?? 0,
    vCacheOffset: l.vCacheOffset ?? 0,
    scoreRow: l.scoreRow ?? l.capacity,
    probRow: l.probRow ?? wordsPerRow(l.capacity),
    contextRow: l.contextRow ?? l.heads * hd4,
    contextOffset: l.contextOffset ?? 0,
  };
  const keys = l.past + l.queries;
  for (const [name, at] of [
    ['Q', r.qOffset],
    ['K', r.kSrc],
    ['V', r.vSrc],
  ] as const) {
    if (!Number.isInteger(at) || at < 0 || at + l.heads * hd4 > r.qkvRow)
      throw new RangeError(
        `GEMM: ${name}'s ${l.heads * hd4} words at word ${at} do not fit the ${r.qkvRow}-word q|k|v rows`,
      );
  }
  if (r.scoreRow < keys) throw new RangeError(`GEMM: scoreRow = ${r.scoreRow} is shorter than the ${keys} keys`);
  if (r.probRow < wordsPerRow(keys))
    throw new RangeError(`GEMM: probRow = ${r.probRow} words cannot hold ${keys} keys`);
  if (r.contextRow < l.heads * hd4)
    throw new RangeError(`GEMM: contextRow = ${r.contextRow} words cannot hold ${l.heads} heads of ${l.headDim}`);
  return r;
}

/** Words of one layer's K cache and of its V cache: batch heads capacity headDim / 4 and batch heads headDim ceil(capacity / 4). */
export function kvCacheWords(l: Pick<KvAttentionLayout, 'batch' | 'heads' | 'headDim' | 'capacity'>): {
  k: number;
  v: number;
} {
  return {
    k: l.batch * l.heads * l.capacity * (l.headDim / 4),
    v: l.batch * l.heads * l.headDim * wordsPerRow(l.capacity),
  };
}

/**
 * Q.K^T of a decoder run against the K cache: per (batch, head) C[queries, keys] (int32 scores,
 * keys = past + queries) = Q[queries, headDim] . K[keys, headDim]^T. Q rows are the run's tokens
 * in the fused q|k|v tensor; K rows are the cache's, `capacity` rows per head apart; scores rows
 * are scoreRow apart. Any variant (tile or GEMV) runs it.
 */
export function kvScoresShape(layout: KvAttentionLayout): GemmShape {
  const l = resolveKvAttentionLayout(layout);
  const hd4 = l.headDim / 4;
  const keys = l.past + l.queries;
  return {
    M: l.queries,
    N: keys,
    K: l.headDim,
    batchOuter: l.batch,
    batchInner: l.heads,
    aRow: l.qkvRow,
    aInner: hd4,
    aOuter: l.queries * l.qkvRow,
    aOffset: l.qOffset,
    bRow: hd4,
    bInner: l.capacity * hd4,
    bOuter: l.heads * l.capacity * hd4,
    bOffset: l.kCacheOffset,
    cRow: l.scoreRow,
    cInner: l.queries * l.scoreRow,
    cOuter: l.heads * l.queries * l.scoreRow,
  };
}

/**
 * P.V of a decoder run against the transposed V cache: per (batch, head) C[queries, headDim]
 * (int8 context) = P[queries, keys] (uint8) . V^T[headDim, keys]^T, with V^T rows ceil(capacity / 4)
 * words apart and the context written into head h's words of [batch, queries, contextRow].
 */
export function kvContextShape(layout: KvAttentionLayout): GemmShape {
  const l = resolveKvAttentionLayout(layout);
  const hd4 = l.headDim / 4;
  const cap4 = wordsPerRow(l.capacity);
  return {
    M: l.queries,
    N: l.headDim,
    K: l.past + l.queries,
    batchOuter: l.batch,
    batchInner: l.heads,
    aRow: l.probRow,
    aInner: l.queries * l.probRow,
    aOuter: l.heads * l.queries * l.probRow,
    bRow: cap4,
    bInner: l.headDim * cap4,
    bOuter: l.heads * l.headDim * cap4,
    bOffset: l.vCacheOffset,
    cRow: l.contextRow,
    cInner: hd4,
    cOuter: l.queries * l.contextRow,
    cOffset: l.contextOffset,
  };
}

/** Largest |product| of an int8 (or uint8) by an int8. */
const MAX_PRODUCT = 128 * 128;
const INT32_MAX = 2 ** 31 - 1;

/**
 * Proves that no partial sum of the accumulator can leave int32: |bias| + K * 2^14 <= 2^31 - 1.
 * (uint8 A: |a| <= 255, |a * b| <= 255 * 128 < 2^15, the same bound holds with K * 2^15.)
 */
export function checkAccumulatorBound(K: number, biasMaxAbs: number, aUnsigned: boolean, what = 'INT8 GEMM'): void {
  const perTerm = aUnsigned ? 255 * 128 : MAX_PRODUCT;
  const bound = biasMaxAbs + K * perTerm;
  if (bound > INT32_MAX) {
    throw new RangeError(
      `${what}: K = ${K} with |bias| <= ${biasMaxAbs} can reach ${bound} and overflow the int32 accumulator (max K is ${Math.floor((INT32_MAX - biasMaxAbs) / perTerm)}).`,
    );
  }
}
