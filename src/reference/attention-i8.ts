/**
 * CPU reference of the fused integer attention (shaders/attention-i8.ts): the unfused chain of the
 * interpreters, composed from their own references, so that the fused kernel equals that chain by
 * construction of this specification:
 *
 *   scores[b, h, i, j] = Q[b, i, h] . K[b, j, h]                  int32 (gemmI8Ref)
 *   P[b, h, i, :]      = i-softmax(scores, mask, causal, past)    uint8 at 2^-8 (softmaxI8Ref)
 *   out[b, i, h]       = requantize(P[b, h, i, :] . V[b, :, h])   int8 (gemmI8Ref on V^T, requantizeRef)
 *
 * Q, K and V are channel slices of row-major int8 tensors ([batch * queries, qCols] and
 * [batch * keys, kCols | vCols]): head h of a slice starting at column c is columns c + h D ..
 * c + (h + 1) D - 1. The output is [batch * queries, heads * D], head h in columns h D ...
 */
import type { Dyadic } from './dyadic.js';
import { gemmI8Ref } from './gemm-i8.js';
import { requantizeRef } from './requantize.js';
import { type SoftmaxI8Constants, softmaxI8Ref } from './softmax-i8.js';
import { transposeHeadsI8Ref } from './transpose-heads-i8.js';

/** One operand: unpacked int8 rows of `cols` values; the heads start at column `channel`. */
export interface AttentionI8Operand {
  values: Int8Array;
  cols: number;
  channel: number;
}

export interface AttentionI8RefInput {
  q: AttentionI8Operand;
  k: AttentionI8Operand;
  v: AttentionI8Operand;
  /** [batch, maskRow] (maskRow defaults to keys), nonzero = key present. */
  mask: ArrayLike<number>;
  maskRow?: number;
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  keys: number;
  causal?: boolean;
  past?: number;
  softmax: SoftmaxI8Constants;
  context: Dyadic;
}

/** Rows of one head of an operand: [rows, D] taken from column channel + h D of each of `rows` rows from `row0`. */
function headRows(o: AttentionI8Operand, row0: number, rows: number, h: number, D: number): Int8Array {
  const out = new Int8Array(rows * D);
  for (let r = 0; r < rows; r++) {
    const at = (row0 + r) * o.cols + o.channel + h * D;
    out.set(o.values.subarray(at, at + D), r * D);
  }
  return out;
}

function checkOperand(name: string, o: AttentionI8Operand, rows: number, heads: number, D: number): void {
  if (o.values.length !== rows * o.cols)
    throw new RangeError(`attentionI8Ref: ${name} has ${o.values.length} values, not ${rows} rows of ${o.cols}`);
  if (!Number.isInteger(o.channel) || o.channel < 0 || o.channel + heads * D > o.cols)
    throw new RangeError(`attentionI8Ref: ${name}'s heads at column ${o.channel} run past its ${o.cols} columns`);
}

/** Unpacked int8 [batch * queries, heads * headDim]. */
export function attentionI8Ref(input: AttentionI8RefInput): Int8Array {
  const { q, k, v, mask, batch: B, heads, headDim: D, queries: Sq, keys: Sk } = input;
  const { causal = false, past = 0, maskRow = Sk } = input;
  checkOperand('q', q, B * Sq, heads, D);
  checkOperand('k', k, B * Sk, heads, D);
  checkOperand('v', v, B * Sk, heads, D);
  const scores = new Int32Array(B * heads * Sq * Sk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const acc = gemmI8Ref({ a: headRows(q, b * Sq, Sq, h, D), b: headRows(k, b * Sk, Sk, h, D), M: Sq, N: Sk, K: D });
      scores.set(acc, (b * heads + h) * Sq * Sk);
    }
  }
  const probs = softmaxI8Ref(
    { scores, mask, batch: B, heads, seq: Sk, queries: Sq, causal, past, maskRow },
    input.softmax,
  );
  const vt = transposeHeadsI8Ref(v.values, B, Sk, v.cols, heads, D, v.channel);
  const H = heads * D;
  const out = new Int8Array(B * Sq * H);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const bh = b * heads + h;
      const p = probs.subarray(bh * Sq * Sk, (bh + 1) * Sq * Sk);
      const acc = gemmI8Ref({ a: p, b: vt.subarray(bh * D * Sk, (bh + 1) * D * Sk), M: Sq, N: D, K: Sk });
      const ctx = requantizeRef(acc, Sq, D, [input.context]);
      for (let i = 0; i < Sq; i++) out.set(ctx.subarray(i * D, (i + 1) * D), (b * Sq + i) * H + h * D);
    }
  }
  return out;
}
