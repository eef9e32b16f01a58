/**
 * Scale propagation: the integer encoder planned once from a float model and calibrated activation
 * ranges. Every tensor gets an integer type, a real scale and a proven bound; every kernel gets its
 * integer constants (dyadic multipliers, polynomial constants, LayerNorm shifts), each derived by
 * the kernel's own planning function, which refuses constants whose int32 intermediates could
 * overflow. At run time nothing is decided: kernels pass integers to each other.
 *
 * Per layer (post-LayerNorm BERT; h is int8 at scale s_h):
 *   q, k, v   = int8 GEMM(h, W) + bias, per-channel requant to s_q, s_k, s_v
 *   scores    = q_h . k_h^T (int32, scale s_q s_k / sqrt(d) with 1/sqrt(d) folded into softmax)
 *   probs     = i-softmax(scores, mask), uint8 at 2^-8
 *   context   = probs_h . v_h (int32 at 2^-8 s_v), requant to int8 s_ctx
 *   attn      = int8 GEMM(context, Wo) + bias, requant to int8 s_ao
 *   r1        = residual add(attn, h) -> wide int (22 bits) at s_r1
 *   h1        = integer LayerNorm(r1) -> int8 s_ln1
 *   g         = int8 GEMM(h1, W1) + bias -> i-GELU -> int8 s_g  (one dispatch)
 *   f         = int8 GEMM(g, W2) + bias, requant to int8 s_f
 *   r2        = residual add(f, h1) -> wide at s_r2
 *   h'        = integer LayerNorm(r2) -> int8 s_ln2
 * Head (classification): first token -> int8 GEMM -> requant -> activation by 256-entry lookup
 * (tanh or ReLU) -> int8 GEMM -> int32 logits, the only values converted to float.
 */
import type { EncoderModel, LayerNormWeights, Linear } from '../model/types.js';
import { type Dyadic, toDyadic } from '../reference/dyadic.js';
import { type GeluI8Constants, deriveGeluI8Constants, geluInputRescale } from '../reference/gelu-i8.js';
import { type LayerNormI8Constants, deriveLayerNormI8 } from '../reference/layernorm-i8.js';
import { type ResidualAddPlan, planResidualAdd } from '../reference/residual-add.js';
import { type SoftmaxI8Constants, deriveSoftmaxI8Constants } from '../reference/softmax-i8.js';
import { type EmbeddingPlan, planEmbeddings } from './embedding-plan.js';
export type { EmbeddingPlan };
import { checkAccumulatorBound } from '../kernels/gemm-i8.js';
import { quantizeBias, quantizeLinearWeight } from '../quant/weights.js';

export const PLAN_VERSION = 1;

/** Width of the residual stream between the residual adds and LayerNorm (I-BERT keeps ~22 bits). */
export const RESIDUAL_BITS = 22;

/** Probabilities are uint8 at this scale (see the i-softmax kernel). */
export const PROBABILITY_SCALE = 2 ** -8;

/** An int8 tensor's scale from its calibrated real range. */
export function int8Scale(range: number, what: string): number {
  if (!(range > 0) || !Number.isFinite(range)) throw new RangeError(`plan: calibrated range of ${what} is ${range}; it must be positive and finite`);
  return range / 127;
}

export interface PlannedLinear {
  inFeatures: number;
  outFeatures: number;
  /** [out, in] int8, row-major (unpacked). */
  weight: Int8Array;
  /** int32 at s_in * s_w[c]. */
  bias: Int32Array;
  weightScale: Float64Array;
  inputScale: number;
  /** Per output channel: s_in s_w[c] / s_out (absent when the GEMM feeds i-GELU or returns int32). */
  requant?: Dyadic[];
  outputScale?: number;
}

export interface PlannedLayer {
  query: PlannedLinear;
  key: PlannedLinear;
  value: PlannedLinear;
  softmax: SoftmaxI8Constants;
  /** probs . v accumulator (2^-8 s_v) to int8 s_ctx. */
  context: Dyadic;
  contextScale: number;
  attentionOutput: PlannedLinear;
  attentionResidual: ResidualAddPlan;
  attentionNorm: LayerNormI8Constants;
  attentionNormScale: number;
  /** FFN1 with i-GELU: requant holds the per-channel rescales into GELU's fixed point. */
  intermediate: PlannedLinear;
  gelu: GeluI8Constants;
  geluScale: number;
  output: PlannedLinear;
  outputResidual: ResidualAddPlan;
  outputNorm: LayerNormI8Constants;
  outputNormScale: number;
}

export interface PlannedHead {
  /** Dense before the activation (BERT pooler, DistilBERT pre_classifier, RoBERTa dense). */
  dense?: PlannedLinear;
  /** int8 -> int8 activation table indexed by (q + 128), and its output scale. */
  activation?: { kind: 'tanh' | 'relu'; table: Int8Array; outputScale: number };
  /** Output projection: int32 logits at logitScale[c]. */
  output: PlannedLinear;
  logitScale: Float64Array;
}

export interface EncoderPlan {
  version: number;
  embeddings: EmbeddingPlan;
  embeddingNorm: LayerNormI8Constants;
  embeddingNormScale: number;
  layers: PlannedLayer[];
  head?: PlannedHead;
  /** Scale of the final hidden states (int8), for embeddings. */
  hiddenScale: number;
}

export type ActivationRanges = Map<string, number>;

function range(ranges: ActivationRanges, name: string): number {
  const r = ranges.get(name);
  if (r === undefined) throw new Error(`plan: no calibrated range for activation "${name}"`);
  return r;
}

function planLinear(linear: Linear, inputScale: number, outputScale: number | undefined, what: string): PlannedLinear {
  const q = quantizeLinearWeight(linear.weight);
  checkAccumulatorBound(q.inFeatures, 2 ** 30, false, what);
  const bias = quantizeBias(linear.bias, inputScale, q.scale, `${what} bias`);
  const planned: PlannedLinear = {
    inFeatures: q.inFeatures,
    outFeatures: q.outFeatures,
    weight: q.weight,
    bias,
    weightScale: q.scale,
    inputScale,
  };
  if (outputScale !== undefined) {
    planned.outputScale = outputScale;
    planned.requant = Array.from(q.scale, (sw, c) => toDyadic((inputScale * sw) / outputScale, `${what} requant[${c}]`));
  }
  return planned;
}

/** 256-entry int8 -> int8 table of an activation, rounding to nearest. */
export function activationTable(kind: 'tanh' | 'relu', inputScale: number, outputScale: number): Int8Array {
  const table = new Int8Array(256);
  for (let q = -128; q <= 127; q++) {
    const x = q * inputScale;
    const y = kind === 'tanh' ? Math.tanh(x) : Math.max(0, x);
    table[q + 128] = Math.max(-128, Math.min(127, Math.round(y / outputScale)));
  }
  return table;
}

/** Residual add of two int8 branches into the wide stream, then LayerNorm to int8. */
function planResidualNorm(
  branch: number,
  skip: number,
  sumRange: number,
  norm: LayerNormWeights,
  eps: number,
  normScale: number,
): { residual: ResidualAddPlan; norm: LayerNormI8Constants } {
  const residual = planResidualAdd({ a: { scale: branch, maxAbs: 128 }, b: { scale: skip, maxAbs: 128 }, bits: RESIDUAL_BITS, range: sumRange });
  return { residual, norm: planNorm(norm, eps, residual.scale, normScale) };
}

function planNorm(norm: LayerNormWeights, eps: number, inputScale: number, outputScale: number): LayerNormI8Constants {
  return deriveLayerNormI8({ gamma: norm.gamma.data, beta: norm.beta.data, eps, inputScale, outputScale, inputMaxAbs: 2 ** (RESIDUAL_BITS - 1) });
}

export function planEncoder(model: EncoderModel, ranges: ActivationRanges): EncoderPlan {
  const { config, weights } = model;
  const D = config.hiddenSize / config.numHeads;
  if (D % 4 !== 0) {
    throw new RangeError(`plan: head size ${D} (hidden ${config.hiddenSize} / ${config.numHeads} heads) is not a multiple of 4; the packed int8 attention needs whole words per head`);
  }
  const embeddings = planEmbeddings(model, range(ranges, 'embeddings.sum'), RESIDUAL_BITS);
  const embeddingNormScale = int8Scale(range(ranges, 'embeddings.norm'), 'embeddings.norm');
  const embeddingNorm = planNorm(weights.embeddingNorm, config.layerNormEps, embeddings.scale, embeddingNormScale);
  let hScale = embeddingNormScale;
  const layers = weights.layers.map((w, i): PlannedLayer => {
    const name = (a: string) => `layer.${i}.${a}`;
    const s = (a: string) => int8Scale(range(ranges, name(a)), name(a));
    const query = planLinear(w.query, hScale, s('query'), name('query'));
    const key = planLinear(w.key, hScale, s('key'), name('key'));
    const value = planLinear(w.value, hScale, s('value'), name('value'));
    const softmax = deriveSoftmaxI8Constants((query.outputScale! * key.outputScale!) / Math.sqrt(D), config.maxPositions);
    const contextScale = s('context');
    const context = toDyadic((PROBABILITY_SCALE * value.outputScale!) / contextScale, `${name('context')} requant`);
    const attentionOutput = planLinear(w.attentionOutput, contextScale, s('attention_output'), name('attention_output'));
    const attentionNormScale = s('attention_norm');
    const attention = planResidualNorm(attentionOutput.outputScale!, hScale, range(ranges, name('attention_residual')), w.attentionNorm, config.layerNormEps, attentionNormScale);
    const intermediate = planLinear(w.intermediate, attentionNormScale, undefined, name('intermediate'));
    const geluScale = s('gelu');
    const meanWeightScale = intermediate.weightScale.reduce((a, b) => a + b, 0) / intermediate.outFeatures;
    const gelu = deriveGeluI8Constants(attentionNormScale * meanWeightScale, geluScale);
    intermediate.requant = Array.from(intermediate.weightScale, (sw) => geluInputRescale(attentionNormScale * sw));
    const output = planLinear(w.output, geluScale, s('output'), name('output'));
    const outputNormScale = s('output_norm');
    const out = planResidualNorm(output.outputScale!, attentionNormScale, range(ranges, name('output_residual')), w.outputNorm, config.layerNormEps, outputNormScale);
    hScale = outputNormScale;
    return {
      query, key, value, softmax, context, contextScale, attentionOutput,
      attentionResidual: attention.residual, attentionNorm: attention.norm, attentionNormScale,
      intermediate, gelu, geluScale, output,
      outputResidual: out.residual, outputNorm: out.norm, outputNormScale,
    };
  });
  let head: PlannedHead | undefined;
  if (config.task === 'sequence-classification') {
    if (!weights.head) throw new Error('plan: a classification model without head weights');
    let x = hScale;
    let dense: PlannedLinear | undefined;
    let activation: PlannedHead['activation'];
    if (weights.head.dense) {
      const preScale = int8Scale(range(ranges, 'head.dense_pre'), 'head.dense_pre');
      dense = planLinear(weights.head.dense, x, preScale, 'head.dense');
      const kind = weights.head.activation ?? 'tanh';
      const outputScale = kind === 'tanh' ? 1 / 127 : preScale;
      activation = { kind, table: activationTable(kind, preScale, outputScale), outputScale };
      x = outputScale;
    }
    const output = planLinear(weights.head.output, x, undefined, 'head.output');
    head = { dense, activation, output, logitScale: output.weightScale.map((sw) => sw * x) };
  }
  return { version: PLAN_VERSION, embeddings, embeddingNorm, embeddingNormScale, layers, head, hiddenScale: hScale };
}
