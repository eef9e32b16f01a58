/** Reference of the attention head split: a permutation with zero padding, q times qScale in f32 (see the shader). */
import { wordsPerRow } from '../quant/pack.js';

export interface SplitHeadsF32Shape {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  /** Multiplies q (default 1): the attention scale 1/sqrt(headDim). */
  qScale?: number;
}

/** Element counts of the outputs: q and k [batch, heads, seq, dPad] each, vT [batch, heads, d, seqPad]. */
export function splitHeadsF32Sizes(s: SplitHeadsF32Shape): { dPad: number; seqPad: number; qk: number; v: number } {
  const dPad = wordsPerRow(s.headDim) * 4;
  const seqPad = wordsPerRow(s.seq) * 4;
  return { dPad, seqPad, qk: s.batch * s.heads * s.seq * dPad, v: s.batch * s.heads * s.headDim * seqPad };
}

export function splitHeadsF32Ref(
  qkv: ArrayLike<number>,
  shape: SplitHeadsF32Shape,
): { q: Float32Array; k: Float32Array; vT: Float32Array } {
  const { batch, seq, heads, headDim: d } = shape;
  const z = splitHeadsF32Sizes(shape);
  const H = heads * d;
  const q = new Float32Array(z.qk);
  const k = new Float32Array(z.qk);
  const vT = new Float32Array(z.v);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let s = 0; s < seq; s++) {
        for (let j = 0; j < d; j++) {
          const src = (b * seq + s) * 3 * H + h * d + j;
          const bh = b * heads + h;
          q[(bh * seq + s) * z.dPad + j] = Math.fround(qkv[src] * Math.fround(shape.qScale ?? 1));
          k[(bh * seq + s) * z.dPad + j] = qkv[src + H];
          vT[(bh * d + j) * z.seqPad + s] = qkv[src + 2 * H];
        }
      }
    }
  }
  return { q, k, vT };
}
