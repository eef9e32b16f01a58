/**
 * Next-token choice (the specification of shaders/topk-i32.ts): per row of int32 logits, the k
 * largest in the order (value descending, id ascending) and the argmax (the first of them: ties go
 * to the lowest id). Logits must be comparable across the vocabulary, i.e. at one common scale.
 *
 * Tied LM heads (GPT-2's is the word embedding matrix) have per-channel weight scales s_w[c], so
 * the int32 accumulators of channel c are at s_in s_w[c]. The optional rescale maps each channel
 * onto one common scale S with a dyadic per channel, saturated to int32:
 *   l[c] = clamp(dyadic(acc[c], m_c, e_c), -2^31, 2^31 - 1),   m_c / 2^e_c ~ s_in s_w[c] / S
 * planLogitRescale chooses S and proves the clamp never fires: for |acc| <= A (the accumulator
 * bound K 2^14 + |bias|, checkAccumulatorBound), round(A m_c / 2^e_c) <= 2^31 - 1 for every c.
 * S is the finest scale that proof allows, at most min_c s_in s_w[c] (no channel loses resolution
 * beyond the rounding of its own rescale).
 */
import { checkDyadic, type Dyadic, dyadicScale, toDyadic } from './dyadic.js';
import { dyadicTermBound } from './residual-add.js';

export const TOPK_MAX_K = 64;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export interface TopKResult {
  /** [batch] the argmax id of each row. */
  argmax: Uint32Array;
  /** [batch, k] ids, best first. */
  ids: Uint32Array;
  /** [batch, k] their (rescaled) values. */
  values: Int32Array;
}

export interface TopKRefInput {
  /** [batch, logitRow] row-major, the first vocab of each row used. */
  logits: Int32Array;
  batch: number;
  vocab: number;
  k: number;
  logitRow?: number;
  /** One (m, e) per vocabulary entry: rescale onto the common scale first. */
  requant?: Dyadic[];
}

export function checkTopK(batch: number, vocab: number, k: number): void {
  for (const [name, v] of [
    ['batch', batch],
    ['vocab', vocab],
    ['k', k],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`top-k: ${name} = ${v} must be a positive integer`);
  }
  if (k > TOPK_MAX_K) throw new RangeError(`top-k: k = ${k} exceeds the supported maximum of ${TOPK_MAX_K}`);
  if (k > vocab) throw new RangeError(`top-k: k = ${k} exceeds the vocabulary of ${vocab}`);
}

/** The rescaled logit of channel c (saturated; planLogitRescale proves it never saturates). */
export function rescaleLogit(acc: number, d: Dyadic): number {
  return dyadicScale(acc, d.m, d.e, INT32_MIN, INT32_MAX);
}

export function topKRef(input: TopKRefInput): TopKResult {
  const { logits, batch, vocab, k, requant } = input;
  checkTopK(batch, vocab, k);
  const logitRow = input.logitRow ?? vocab;
  if (!Number.isInteger(logitRow) || logitRow < vocab)
    throw new RangeError(`top-k: logitRow = ${logitRow} is shorter than the vocabulary of ${vocab}`);
  if (logits.length < (batch - 1) * logitRow + vocab)
    throw new RangeError(`topKRef: ${logits.length} logits for ${batch} rows of ${logitRow}`);
  if (requant) {
    if (requant.length !== vocab)
      throw new RangeError(`topKRef: ${requant.length} rescales for a vocabulary of ${vocab}`);
    requant.forEach((d, c) => checkDyadic(d, `top-k rescale of channel ${c}`));
  }
  const out: TopKResult = {
    argmax: new Uint32Array(batch),
    ids: new Uint32Array(batch * k),
    values: new Int32Array(batch * k),
  };
  const order = new Uint32Array(vocab);
  const v = new Int32Array(vocab);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < vocab; c++) {
      const x = logits[b * logitRow + c];
      v[c] = requant ? rescaleLogit(x, requant[c]) : x;
      order[c] = c;
    }
    order.sort((i, j) => v[j] - v[i] || i - j);
    for (let r = 0; r < k; r++) {
      out.ids[b * k + r] = order[r];
      out.values[b * k + r] = v[order[r]];
    }
    out.argmax[b] = order[0];
  }
  return out;
}

/** The kernel's output words: per row [argmax, ids[k], values[k] as u32]. */
export function packTopK(r: TopKResult, batch: number, k: number): Uint32Array {
  const out = new Uint32Array(batch * (1 + 2 * k));
  for (let b = 0; b < batch; b++) {
    const o = b * (1 + 2 * k);
    out[o] = r.argmax[b];
    out.set(r.ids.subarray(b * k, (b + 1) * k), o + 1);
    out.set(new Uint32Array(r.values.buffer, r.values.byteOffset + b * k * 4, k), o + 1 + k);
  }
  return out;
}

export interface LogitRescalePlanInput {
  /** Scale of the LM head's int8 input (the final LayerNorm's output). */
  inputScale: number;
  /** Per-channel weight scales of the LM head (one per vocabulary entry). */
  weightScales: ArrayLike<number>;
  /** Largest |accumulator| of the LM head: K 2^14 + max |bias| (logitAccumulatorBound). */
  accMaxAbs: number;
  /** Force a common scale (checked, not chosen); default: the finest the proof allows. */
  scale?: number;
}

export interface LogitRescalePlan {
  /** The common scale S of the rescaled logits. */
  scale: number;
  /** (m, e) per channel: s_in s_w[c] / S. */
  requant: Dyadic[];
  /** Largest |rescaled logit| over |acc| <= accMaxAbs: proven <= 2^31 - 1. */
  maxAbs: number;
}

/** K 2^14 + max|bias|: the bound checkAccumulatorBound proves for an int8 x int8 GEMM. */
export function logitAccumulatorBound(K: number, biasMaxAbs = 0): number {
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`logit rescale: K = ${K} must be a positive integer`);
  const bound = K * 128 * 128 + biasMaxAbs;
  if (bound > INT32_MAX)
    throw new RangeError(`logit rescale: K = ${K} with |bias| <= ${biasMaxAbs} can overflow the int32 accumulator`);
  return bound;
}

/**
 * The common scale and per-channel dyadics for the LM head's logits, with the proof that no
 * rescaled logit can leave int32 (a RangeError names the channel otherwise).
 */
export function planLogitRescale(p: LogitRescalePlanInput): LogitRescalePlan {
  if (!(p.inputScale > 0) || !Number.isFinite(p.inputScale))
    throw new RangeError(`logit rescale: input scale ${p.inputScale} is not a positive finite number`);
  if (!Number.isInteger(p.accMaxAbs) || p.accMaxAbs < 1 || p.accMaxAbs > 2 ** 31)
    throw new RangeError(`logit rescale: accumulator bound ${p.accMaxAbs} is not an integer in [1, 2^31]`);
  const n = p.weightScales.length;
  if (n < 1) throw new RangeError('logit rescale: no channels');
  let lo = Infinity;
  let hi = 0;
  for (let c = 0; c < n; c++) {
    const s = p.weightScales[c];
    if (!(s > 0) || !Number.isFinite(s))
      throw new RangeError(`logit rescale: weight scale of channel ${c} = ${s} is not a positive finite number`);
    lo = Math.min(lo, s);
    hi = Math.max(hi, s);
  }
  const build = (S: number): LogitRescalePlan | string => {
    const requant: Dyadic[] = [];
    let maxAbs = 0;
    for (let c = 0; c < n; c++) {
      const d = toDyadic((p.inputScale * p.weightScales[c]) / S, `logit rescale of channel ${c}`);
      const t = dyadicTermBound(p.accMaxAbs, d);
      if (t > INT32_MAX) return `channel ${c}: |acc| <= ${p.accMaxAbs} times ${d.m} / 2^${d.e} reaches ${t} > 2^31 - 1`;
      maxAbs = Math.max(maxAbs, t);
      requant.push(d);
    }
    return { scale: S, requant, maxAbs };
  };
  if (p.scale !== undefined) {
    if (!(p.scale > 0) || !Number.isFinite(p.scale))
      throw new RangeError(`logit rescale: common scale ${p.scale} is not a positive finite number`);
    const plan = build(p.scale);
    if (typeof plan === 'string')
      throw new RangeError(
        `logit rescale: common scale ${p.scale} could overflow int32 (${plan}); use a coarser scale`,
      );
    return plan;
  }
  // Finest: the smallest channel scale, unless the largest channel's multiplier would then push
  // A s_max / S past int32; then S = s_in s_max A / (2^31 - 1), nudged up past rounding.
  let S = p.inputScale * Math.max(lo, (hi * p.accMaxAbs) / (INT32_MAX - 1));
  for (let i = 0; i < 8; i++) {
    const plan = build(S);
    if (typeof plan !== 'string') return plan;
    S *= 1 + 2 ** -20;
  }
  throw new RangeError(`logit rescale: no common scale keeps the logits in int32`);
}

/**
 * The `k` best next tokens of one row of LM-head accumulators as real logits (the common-scale
 * integers times `scale`), best first with ties to the lowest id, as topKRef orders them; k >= the
 * vocabulary gives it whole. `restBelow` bounds every logit not returned.
 */
export function logitCandidates(
  acc: Int32Array,
  rescale: { scale: number; requant: readonly Dyadic[] },
  k: number,
): { ids: Int32Array; logits: Float32Array; restBelow: number } {
  const vocab = rescale.requant.length;
  if (acc.length !== vocab) throw new RangeError(`logitCandidates: ${acc.length} logits for a vocabulary of ${vocab}`);
  const values = Int32Array.from(acc, (a, c) => rescaleLogit(a, rescale.requant[c]));
  const order = Array.from({ length: vocab }, (_, c) => c).sort((x, y) => values[y] - values[x] || x - y);
  const n = Math.min(k, vocab);
  const ids = Int32Array.from(order.slice(0, n));
  return fromTopK(
    ids,
    Int32Array.from(ids, (c) => values[c]),
    rescale.scale,
    n === vocab,
  );
}

/** Top-k ids and common-scale values (as the top-k kernel reads them back) as real logits. */
export function fromTopK(
  ids: ArrayLike<number>,
  values: ArrayLike<number>,
  scale: number,
  whole: boolean,
): { ids: Int32Array; logits: Float32Array; restBelow: number } {
  const logits = Float32Array.from(values, (v) => v * scale);
  return { ids: Int32Array.from(ids), logits, restBelow: whole ? -Infinity : logits[logits.length - 1] };
}

/** [rows, vocab] accumulators onto the program's common logit scale. */
export function rescaledLogitRows(
  rescale: { requant: readonly Dyadic[] },
  logits: Int32Array,
  rows: number,
): Int32Array {
  const V = rescale.requant.length;
  const out = new Int32Array(rows * V);
  for (let r = 0; r < rows; r++)
    for (let v = 0; v < V; v++) out[r * V + v] = rescaleLogit(logits[r * V + v], rescale.requant[v]);
  return out;
}
