/**
 * The integer encoder on the CPU: the composition of the kernel references in exactly the order
 * and layouts of the GPU scheduler (src/runtime/int-encoder.ts). It is the specification of the
 * whole integer model: GPU logits must equal these bit for bit.
 */
import type { EncoderConfig, TokenBatch } from '../model/types.js';
import type { EncoderPlan, PlannedLinear } from '../plan/encoder-plan.js';
import { embeddingI8Ref } from './embedding-i8.js';
import { gemmI8Ref } from './gemm-i8.js';
import { requantizeRef } from './requantize.js';
import { igeluRef } from './gelu-i8.js';
import { layerNormI8Ref } from './layernorm-i8.js';
import { residualAddRef } from './residual-add.js';
import { softmaxI8Ref } from './softmax-i8.js';
import { embeddingInputs } from '../plan/embedding-plan.js';
import { lookupI8Ref } from './lookup-i8.js';
import { transposeHeadsI8Ref } from './transpose-heads-i8.js';

export interface IntEncoderResult {
  /** Final hidden states, int8 [batch * seq, hidden] at plan.hiddenScale. */
  hidden: Int8Array;
  /** Classification: int32 logits [batch, labels] and their float values (logit * logitScale[c]). */
  logitsInt?: Int32Array;
  logits?: Float32Array;
}

function linearRef(x: Int8Array, rows: number, l: PlannedLinear): Int8Array {
  const acc = gemmI8Ref({ a: x, b: l.weight, bias: l.bias, M: rows, N: l.outFeatures, K: l.inFeatures });
  if (!l.requant) throw new Error('linearRef: this linear has no int8 requantization');
  return requantizeRef(acc, rows, l.outFeatures, l.requant) as Int8Array;
}

/** [seq, D] slice of head h of sequence b out of [batch * seq, hidden]. */
function headSlice(x: Int8Array, b: number, h: number, seq: number, hidden: number, D: number): Int8Array {
  const out = new Int8Array(seq * D);
  for (let s = 0; s < seq; s++) out.set(x.subarray((b * seq + s) * hidden + h * D, (b * seq + s) * hidden + h * D + D), s * D);
  return out;
}


export function intEncoderRef(plan: EncoderPlan, config: EncoderConfig, batch: TokenBatch): IntEncoderResult {
  const { hiddenSize: H, numHeads: heads } = config;
  const D = H / heads;
  const { batch: B, seqLen: S } = batch;
  const T = B * S;
  const e = plan.embeddings;
  const wide = embeddingI8Ref(e.tables, embeddingInputs(batch, !!e.tables.tokenType), e.constants);
  let h = layerNormI8Ref(wide, T, plan.embeddingNorm);
  for (const layer of plan.layers) {
    const q = linearRef(h, T, layer.query);
    const k = linearRef(h, T, layer.key);
    const v = linearRef(h, T, layer.value);
    const scores = new Int32Array(B * heads * S * S);
    const context = new Int8Array(T * H);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < heads; hd++) {
        const acc = gemmI8Ref({ a: headSlice(q, b, hd, S, H, D), b: headSlice(k, b, hd, S, H, D), M: S, N: S, K: D });
        scores.set(acc, (b * heads + hd) * S * S);
      }
    }
    const vt = transposeHeadsI8Ref(v, B, S, H, heads, D, 0);
    const probs = softmaxI8Ref({ scores, mask: batch.attentionMask, batch: B, heads, seq: S }, layer.softmax);
    for (let b = 0; b < B; b++) {
      for (let hd = 0; hd < heads; hd++) {
        const p = probs.subarray((b * heads + hd) * S * S, (b * heads + hd + 1) * S * S);
        const vth = vt.subarray((b * heads + hd) * D * S, (b * heads + hd + 1) * D * S);
        const ctx = requantizeRef(gemmI8Ref({ a: p, b: vth, M: S, N: D, K: S }), S, D, [layer.context]);
        for (let s = 0; s < S; s++) context.set(ctx.subarray(s * D, (s + 1) * D), (b * S + s) * H + hd * D);
      }
    }
    const attention = linearRef(context, T, layer.attentionOutput);
    const r1 = residualAddRef(attention, h, layer.attentionResidual);
    const h1 = layerNormI8Ref(r1, T, layer.attentionNorm);
    const ffn = layer.intermediate;
    const acc = gemmI8Ref({ a: h1, b: ffn.weight, bias: ffn.bias, M: T, N: ffn.outFeatures, K: ffn.inFeatures });
    const g = igeluRef(acc, T, ffn.outFeatures, layer.gelu, ffn.requant);
    const f = linearRef(g, T, layer.output);
    const r2 = residualAddRef(f, h1, layer.outputResidual);
    h = layerNormI8Ref(r2, T, layer.outputNorm);
  }
  const result: IntEncoderResult = { hidden: h };
  if (plan.head) {
    const first = new Int8Array(B * H);
    for (let b = 0; b < B; b++) first.set(h.subarray(b * S * H, b * S * H + H), b * H);
    let x: Int8Array = first;
    if (plan.head.dense && plan.head.activation) {
      const pre = linearRef(x, B, plan.head.dense);
      x = lookupI8Ref(pre, plan.head.activation.table);
    }
    const out = plan.head.output;
    const logitsInt = gemmI8Ref({ a: x, b: out.weight, bias: out.bias, M: B, N: out.outFeatures, K: out.inFeatures });
    result.logitsInt = logitsInt;
    result.logits = Float32Array.from(logitsInt, (v, i) => v * plan.head!.logitScale[i % out.outFeatures]);
  }
  return result;
}
