/**
 * The float encoder forward pass in float64 with plain loops: the specification of what
 * src/model/float-model.ts computes on the GPU, i.e. Hugging Face transformers' BERT / DistilBERT
 * / RoBERTa encoders in eval mode:
 *   embeddings: LN((word[id] + tokenType[type]) + position[pos])   (no token types for DistilBERT;
 *               RoBERTa's position ids, padding offset included, come with the batch)
 *   per layer (post-LN):
 *     q, k, v = x Wq^T + bq, ...; per head h of size d:
 *     scores = q_h k_h^T / sqrt(d); probs = softmax over real keys (padding keys get 0)
 *     context = probs v_h (heads concatenated); a = LN(context Wo^T + bo + x)
 *     out = LN(gelu(a Wi^T + bi) Wo2^T + bo2 + a)                 (exact erf GELU)
 *   classification: first token -> [dense -> tanh | relu] -> output projection -> logits
 *   embedding task: mean of the last hidden states over real tokens
 * Captures use the names documented in src/model/float-model.ts.
 */
import type { EncoderModel, Linear, TokenBatch } from '../model/types.js';
import { gelu64 } from './gelu-f32.js';
import { layerNormF32Ref } from './layernorm-f32.js';
import { meanPoolF32Ref } from './mean-pool-f32.js';
import { softmaxF32Ref } from './softmax-f32.js';

export interface FloatEncoderRefResult {
  logits?: Float64Array;
  embeddings?: Float64Array;
  captures: Map<string, Float64Array>;
}

/** y[rows, out] = x[rows, in] W^T + b, with x rows `stride` apart. */
export function linearRef(x: ArrayLike<number>, rows: number, linear: Linear, stride?: number): Float64Array {
  const [out, inF] = linear.weight.shape;
  const s = stride ?? inF;
  const w = linear.weight.data;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let acc = linear.bias.data[o];
      for (let i = 0; i < inF; i++) acc += x[r * s + i] * w[o * inF + i];
      y[r * out + o] = acc;
    }
  }
  return y;
}

export function floatEncoderRef(model: EncoderModel, batch: TokenBatch, options: { capture?: boolean } = {}): FloatEncoderRefResult {
  const { config, weights } = model;
  const H = config.hiddenSize;
  const heads = config.numHeads;
  const d = H / heads;
  const { batch: B, seqLen: S } = batch;
  const T = B * S;
  const eps = config.layerNormEps;
  const captures = new Map<string, Float64Array>();
  const keep = (name: string, v: Float64Array) => {
    if (options.capture) captures.set(name, v);
  };
  const ln = (x: ArrayLike<number>, g: { gamma: { data: Float32Array }; beta: { data: Float32Array } }) =>
    layerNormF32Ref({ x, gamma: g.gamma.data, beta: g.beta.data, rows: T, H, eps });

  const emb = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < H; c++) {
      let v = weights.wordEmbeddings.data[batch.inputIds[t] * H + c];
      if (weights.tokenTypeEmbeddings) v += weights.tokenTypeEmbeddings.data[batch.tokenTypeIds[t] * H + c];
      emb[t * H + c] = v + weights.positionEmbeddings.data[batch.positionIds[t] * H + c];
    }
  }
  keep('embeddings.sum', emb);
  let x = ln(emb, weights.embeddingNorm);
  keep('embeddings.norm', x);

  weights.layers.forEach((layer, li) => {
    const p = `layer.${li}.`;
    const q = linearRef(x, T, layer.query);
    const k = linearRef(x, T, layer.key);
    const v = linearRef(x, T, layer.value);
    const scores = new Float64Array(B * heads * S * S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < S; i++) {
          for (let j = 0; j < S; j++) {
            let acc = 0;
            for (let e = 0; e < d; e++) acc += q[(b * S + i) * H + h * d + e] * k[(b * S + j) * H + h * d + e];
            scores[((b * heads + h) * S + i) * S + j] = acc / Math.sqrt(d);
          }
        }
      }
    }
    const probs = softmaxF32Ref({ scores, mask: batch.attentionMask, batch: B, heads, queries: S, seq: S });
    const context = new Float64Array(T * H);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < S; i++) {
          for (let e = 0; e < d; e++) {
            let acc = 0;
            for (let j = 0; j < S; j++) acc += probs[((b * heads + h) * S + i) * S + j] * v[(b * S + j) * H + h * d + e];
            context[(b * S + i) * H + h * d + e] = acc;
          }
        }
      }
    }
    const attnOut = linearRef(context, T, layer.attentionOutput);
    const attnRes = attnOut.map((a, i) => a + x[i]);
    const attnNorm = ln(attnRes, layer.attentionNorm);
    const inter = linearRef(attnNorm, T, layer.intermediate);
    const gelu = inter.map(gelu64);
    const out = linearRef(gelu, T, layer.output);
    const outRes = out.map((a, i) => a + attnNorm[i]);
    const outNorm = ln(outRes, layer.outputNorm);
    for (const [name, value] of Object.entries({
      query: q, key: k, value: v, scores, probs, context,
      attention_output: attnOut, attention_residual: attnRes, attention_norm: attnNorm,
      intermediate: inter, gelu, output: out, output_residual: outRes, output_norm: outNorm,
    })) keep(p + name, value);
    x = outNorm;
  });

  if (config.task === 'embedding') return { embeddings: meanPoolF32Ref(x, batch.attentionMask, B, S, H), captures };
  const head = weights.head;
  if (!head) throw new Error('floatEncoderRef: a classification model without a head');
  let first: Float64Array = new Float64Array(B * H);
  for (let b = 0; b < B; b++) first.set(x.subarray(b * S * H, b * S * H + H), b * H);
  if (head.dense) {
    const act = head.activation === 'relu' ? (v: number) => Math.max(v, 0) : Math.tanh;
    first = linearRef(first, B, head.dense).map(act);
    keep('head.dense', first);
  }
  return { logits: linearRef(first, B, head.output), captures };
}
