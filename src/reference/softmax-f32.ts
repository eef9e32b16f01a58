/**
 * Float64 reference of the masked attention softmax: over the real keys of the row's sequence
 * (mask 1) and, when causal, not after the query's position, exp(s - max) / sum; masked keys and
 * padding columns are 0, and so is a row with no real key (see shaders/softmax-f32.ts for how this
 * relates to transformers' additive mask).
 */

/**
 * Attention scores [batch, heads, queries, seq] (rows scoreStride apart) -> probabilities with
 * rows probStride apart; the mask is [batch, seq].
 */
export interface SoftmaxF32Shape {
  batch: number;
  heads: number;
  queries: number;
  seq: number;
  scoreStride?: number;
  probStride?: number;
  /**
   * Decoders: query i (the last `queries` of the `seq` keys) also masks keys t > i + seq - queries.
   * A shape's property for the reference; the GPU kernel compiles it as a variant.
   */
  causal?: boolean;
}

export interface SoftmaxF32RefInput extends SoftmaxF32Shape {
  /** [batch, heads, queries, seq], rows scoreStride apart. */
  scores: ArrayLike<number>;
  /** [batch, seq]. */
  mask: ArrayLike<number>;
}

export function softmaxF32Ref(p: SoftmaxF32RefInput): Float64Array {
  const scoreStride = p.scoreStride ?? p.seq;
  const probStride = p.probStride ?? p.seq;
  const rows = p.batch * p.heads * p.queries;
  const out = new Float64Array(rows * probStride);
  for (let r = 0; r < rows; r++) {
    const b = Math.floor(r / (p.heads * p.queries));
    const keys = p.causal ? (r % p.queries) + p.seq - p.queries + 1 : p.seq;
    let max = -Infinity;
    for (let t = 0; t < keys; t++) if (p.mask[b * p.seq + t]) max = Math.max(max, p.scores[r * scoreStride + t]);
    if (max === -Infinity) continue;
    let sum = 0;
    for (let t = 0; t < keys; t++) if (p.mask[b * p.seq + t]) sum += Math.exp(p.scores[r * scoreStride + t] - max);
    for (let t = 0; t < keys; t++)
      if (p.mask[b * p.seq + t]) out[r * probStride + t] = Math.exp(p.scores[r * scoreStride + t] - max) / sum;
  }
  return out;
}
