/**
 * KV cache append, the specification of shaders/kv-append-i8.ts: a decoder run's K and V heads,
 * sliced by channel out of the fused q|k|v projection, are written into one layer's caches at
 * positions past .. past + queries - 1; every other cache entry keeps its value.
 *
 *   qkv   [batch * queries, qkvCols] int8 (token b * queries + i); K of head h in columns
 *         kCol + h headDim .. + headDim, V in vCol + h headDim ..
 *   K     [batch, heads, capacity, headDim]:  K[b, h, past + i, d]  = qkv[b q + i, kCol + h headDim + d]
 *   V^T   [batch, heads, headDim, capacity]:  V^T[b, h, d, past + i] = qkv[b q + i, vCol + h headDim + d]
 *
 * K rows are what Q.K^T reads as its B operand, V^T rows what P.V reads (src/kernels/gemm-shape.ts
 * kvScoresShape, kvContextShape). A pure copy: no arithmetic, nothing to bound.
 */

export interface KvAppendRefShape {
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  past: number;
  capacity: number;
  /** Columns of a q|k|v row (default 3 heads headDim), and where K and V start in it (default heads headDim, 2 heads headDim). */
  qkvCols?: number;
  kCol?: number;
  vCol?: number;
}

export function checkKvAppendShape(s: KvAppendRefShape): Required<KvAppendRefShape> {
  for (const k of ['batch', 'heads', 'headDim', 'queries', 'capacity'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1)
      throw new RangeError(`KV append: ${k} = ${s[k]} must be a positive integer`);
  }
  if (!Number.isInteger(s.past) || s.past < 0)
    throw new RangeError(`KV append: past = ${s.past} must be a non-negative integer`);
  if (s.past + s.queries > s.capacity)
    throw new RangeError(`KV append: ${s.past} cached + ${s.queries} new positions exceed the capacity ${s.capacity}`);
  const H = s.heads * s.headDim;
  const r = { ...s, qkvCols: s.qkvCols ?? 3 * H, kCol: s.kCol ?? H, vCol: s.vCol ?? 2 * H };
  for (const [name, col] of [
    ['kCol', r.kCol],
    ['vCol', r.vCol],
  ] as const) {
    if (!Number.isInteger(col) || col < 0 || col + H > r.qkvCols)
      throw new RangeError(`KV append: ${name} = ${col} puts ${H} columns outside the ${r.qkvCols}-column q|k|v rows`);
  }
  return r;
}

/** Returns the caches after the append (new arrays; the inputs are not modified). */
export function kvAppendRef(
  qkv: Int8Array,
  kCache: Int8Array,
  vCache: Int8Array,
  shape: KvAppendRefShape,
): { k: Int8Array; v: Int8Array } {
  const s = checkKvAppendShape(shape);
  const { batch, heads, headDim: D, queries, past, capacity } = s;
  if (qkv.length !== batch * queries * s.qkvCols)
    throw new RangeError(`kvAppendRef: ${qkv.length} q|k|v values for ${batch * queries} tokens of ${s.qkvCols}`);
  const cacheSize = batch * heads * capacity * D;
  if (kCache.length !== cacheSize || vCache.length !== cacheSize)
    throw new RangeError(`kvAppendRef: caches of ${kCache.length} and ${vCache.length} values, want ${cacheSize}`);
  const k = kCache.slice();
  const v = vCache.slice();
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const bh = b * heads + h;
      for (let i = 0; i < queries; i++) {
        const row = (b * queries + i) * s.qkvCols;
        for (let d = 0; d < D; d++) {
          k[(bh * capacity + past + i) * D + d] = qkv[row + s.kCol + h * D + d];
          v[(bh * D + d) * capacity + past + i] = qkv[row + s.vCol + h * D + d];
        }
      }
    }
  }
  return { k, v };
}
