/**
 * Checks a plan that came from outside (a model file) before anything runs it, in three passes:
 * the config is one this runtime supports; every field of the plan has the expected type and shape
 * (src/core/schema.ts: booleans are booleans, numbers finite, integers integers, typed arrays of
 * the right class and the length the config implies, no missing or unknown fields); then every
 * kernel's constants pass that kernel's own overflow proof, and the plan agrees with the config
 * where the config is not otherwise visible in it (the head count, through the softmax rescale).
 * A failure names the offending field.
 *
 * What no check here can see: a plan that is well formed and consistent but computes something
 * else (a weight changed, two layers swapped). The model file's checksums catch those on damage;
 * nothing catches them if done on purpose (see src/format/int-model-file.ts, docs/integrity.md).
 */

import {
  absent,
  arrayOf,
  boolean,
  check,
  fail,
  finite,
  integer,
  object,
  oneOf,
  optional,
  positive,
  type Schema,
  typedArray,
} from '../core/schema.js';
import type { DecoderConfig, EncoderConfig } from '../core/types.js';
import { checkEmbeddingConstants } from '../kernels/embedding-i8.js';
import { checkAccumulatorBound } from '../kernels/gemm-i8.js';
import { checkResidualAddBounds } from '../kernels/residual-add.js';
import { checkDyadic, dyadicValue } from '../reference/dyadic.js';
import { checkGeluI8Constants } from '../reference/gelu-i8.js';
import { checkLayerNormI8Constants, type LayerNormI8Constants } from '../reference/layernorm-i8.js';
import { softmaxI8Bounds } from '../reference/softmax-i8.js';
import { type EncoderPlan, PLAN_VERSION, type PlannedLinear } from './v1-program.js';

const FAMILIES = ['bert', 'distilbert', 'roberta'];
const TASKS = ['sequence-classification', 'token-classification', 'embedding'];
const CONFIG_KEYS = [
  'architecture',
  'family',
  'task',
  'hiddenSize',
  'numLayers',
  'numHeads',
  'intermediateSize',
  'vocabSize',
  'maxPositions',
  'typeVocabSize',
  'layerNormEps',
  'hiddenAct',
  'padTokenId',
  'positionOffset',
  'labels',
];

export function validateConfig(c: EncoderConfig, what: string): void {
  const bad = (field: string, v: unknown, why = '') => {
    throw new RangeError(`${what}: config.${field} = ${JSON.stringify(v)} is not valid${why}`);
  };
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new RangeError(`${what}: no model config`);
  if (!FAMILIES.includes(c.family)) bad('family', c.family);
  if (!TASKS.includes(c.task)) bad('task', c.task);
  if (typeof c.architecture !== 'string') bad('architecture', c.architecture);
  for (const f of ['hiddenSize', 'numLayers', 'numHeads', 'intermediateSize', 'vocabSize', 'maxPositions'] as const) {
    if (!Number.isInteger(c[f]) || c[f] < 1 || c[f] > 2 ** 20) bad(f, c[f]);
  }
  if (!Number.isInteger(c.typeVocabSize) || c.typeVocabSize < 0 || c.typeVocabSize > 2 ** 20)
    bad('typeVocabSize', c.typeVocabSize);
  if (!Number.isInteger(c.positionOffset) || c.positionOffset < 0 || c.positionOffset >= c.maxPositions)
    bad('positionOffset', c.positionOffset, ` (maxPositions ${c.maxPositions})`);
  if (!Number.isInteger(c.padTokenId) || c.padTokenId < 0 || c.padTokenId >= c.vocabSize)
    bad('padTokenId', c.padTokenId, ` (vocabSize ${c.vocabSize})`);
  if (typeof c.layerNormEps !== 'number' || !(c.layerNormEps > 0 && c.layerNormEps <= 0.1))
    bad('layerNormEps', c.layerNormEps, ': expected (0, 0.1]');
  if (c.hiddenAct !== 'gelu') bad('hiddenAct', c.hiddenAct);
  if (c.hiddenSize % c.numHeads !== 0 || (c.hiddenSize / c.numHeads) % 4 !== 0) bad('numHeads', c.numHeads);
  if (!Array.isArray(c.labels) || !c.labels.every((l) => typeof l === 'string')) bad('labels', c.labels);
  if (c.task !== 'embedding' && c.labels.length < 1) bad('labels', c.labels);
  if (c.task === 'embedding' && c.labels.length !== 0) bad('labels', c.labels, ': an embedding model has no labels');
  for (const k of Object.keys(c))
    if (!CONFIG_KEYS.includes(k)) throw new RangeError(`${what}: config.${k}: unexpected field`);
}

const DECODER_CONFIG_KEYS = [
  'architecture',
  'family',
  'task',
  'hiddenSize',
  'numLayers',
  'numHeads',
  'intermediateSize',
  'vocabSize',
  'maxPositions',
  'layerNormEps',
  'hiddenAct',
  'bosTokenId',
  'eosTokenId',
  'padTokenId',
  'tiedEmbeddings',
];

/** A decoder's config as a model file stores it (what parseDecoderConfig makes of a config.json). */
export function validateDecoderConfig(c: DecoderConfig, what: string): void {
  const bad = (field: string, v: unknown, why = '') => {
    throw new RangeError(`${what}: config.${field} = ${JSON.stringify(v)} is not valid${why}`);
  };
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new RangeError(`${what}: no model config`);
  if (c.family !== 'gpt2') bad('family', c.family);
  if (c.task !== 'text-generation') bad('task', c.task);
  if (typeof c.architecture !== 'string') bad('architecture', c.architecture);
  for (const f of ['hiddenSize', 'numLayers', 'numHeads', 'intermediateSize', 'vocabSize', 'maxPositions'] as const) {
    if (!Number.isInteger(c[f]) || c[f] < 1 || c[f] > 2 ** 20) bad(f, c[f]);
  }
  if (c.hiddenSize % c.numHeads !== 0) bad('numHeads', c.numHeads, ` (hiddenSize ${c.hiddenSize})`);
  for (const f of ['bosTokenId', 'eosTokenId'] as const)
    if (!Number.isInteger(c[f]) || c[f] < 0 || c[f] >= c.vocabSize) bad(f, c[f], ` (vocabSize ${c.vocabSize})`);
  if (
    c.padTokenId !== undefined &&
    (!Number.isInteger(c.padTokenId) || c.padTokenId < 0 || c.padTokenId >= c.vocabSize)
  )
    bad('padTokenId', c.padTokenId, ` (vocabSize ${c.vocabSize})`);
  if (typeof c.layerNormEps !== 'number' || !(c.layerNormEps > 0 && c.layerNormEps <= 0.1))
    bad('layerNormEps', c.layerNormEps, ': expected (0, 0.1]');
  if (c.hiddenAct !== 'gelu_new' && c.hiddenAct !== 'gelu') bad('hiddenAct', c.hiddenAct);
  if (typeof c.tiedEmbeddings !== 'boolean') bad('tiedEmbeddings', c.tiedEmbeddings);
  for (const k of Object.keys(c))
    if (!DECODER_CONFIG_KEYS.includes(k)) throw new RangeError(`${what}: config.${k}: unexpected field`);
}

/** The plan's shape for this config: what the planner writes, nothing else. */
function planSchema(config: EncoderConfig): Schema {
  const { hiddenSize: H, intermediateSize: I, vocabSize: V, maxPositions: P, typeVocabSize: T } = config;
  const int = integer();
  const dyadic = object({ m: int, e: int });
  const linear = (inF: number, outF: number, requant: 'per-channel' | 'none') =>
    object({
      inFeatures: integer(inF, inF),
      outFeatures: integer(outF, outF),
      weight: typedArray(Int8Array, inF * outF),
      bias: typedArray(Int32Array, outF),
      weightScale: typedArray(Float64Array, outF, finite),
      inputScale: positive,
      requant: requant === 'per-channel' ? arrayOf(dyadic, outF) : absent('this GEMM returns int32'),
      outputScale: optional(positive),
    });
  const norm = object({
    H: integer(H, H),
    inputMaxAbs: int,
    shift: int,
    epsVar: int,
    channels: arrayOf(object({ m: int, e: int, negate: boolean, beta: int }), H),
  });
  const residual = object({ scale: positive, bits: int, a: dyadic, b: dyadic });
  const types = T > 0;
  const maybe = (present: boolean, s: Schema): Schema => (present ? s : absent('config.typeVocabSize is 0'));
  const layer = object({
    query: linear(H, H, 'per-channel'),
    key: linear(H, H, 'per-channel'),
    value: linear(H, H, 'per-channel'),
    softmax: object({ rescale: dyadic, tMax: int, ln2: int, b: int, c: int, shift: int }),
    context: dyadic,
    contextScale: positive,
    attentionOutput: linear(H, H, 'per-channel'),
    attentionResidual: residual,
    attentionNorm: norm,
    attentionNormScale: positive,
    intermediate: linear(H, I, 'per-channel'),
    gelu: object({ input: dyadic, clip: int, shift: int, corr: dyadic, output: dyadic }),
    geluScale: positive,
    output: linear(I, H, 'per-channel'),
    outputResidual: residual,
    outputNorm: norm,
    outputNormScale: positive,
  });
  const labels = config.labels.length;
  const head: Schema = (v, path) => {
    if (config.task !== 'sequence-classification') {
      if (v !== undefined) fail(path, 'present in an embedding model');
      return;
    }
    const d = (v as { dense?: { outFeatures?: unknown } } | null)?.dense;
    const X = d && typeof d === 'object' && Number.isInteger(d.outFeatures) ? (d.outFeatures as number) : H;
    object({
      dense: optional(linear(H, X, 'per-channel')),
      activation: optional(
        object({ kind: oneOf('tanh', 'relu'), table: typedArray(Int8Array, 256), outputScale: positive }),
      ),
      output: linear(X, labels, 'none'),
      logitScale: typedArray(Float64Array, labels, positive),
    })(v, path);
    const h = v as { dense?: unknown; activation?: unknown };
    if ((h.dense === undefined) !== (h.activation === undefined))
      fail(path, 'a dense layer needs its activation and an activation its dense layer');
  };
  return object({
    version: integer(),
    embeddings: object({
      tables: object({
        word: typedArray(Int8Array, V * H),
        position: typedArray(Int8Array, P * H),
        tokenType: maybe(types, typedArray(Int8Array, T * H)),
        hidden: integer(H, H),
      }),
      constants: object({ word: dyadic, position: dyadic, tokenType: maybe(types, dyadic), bits: int }),
      tableScales: object({ word: positive, position: positive, tokenType: maybe(types, positive) }),
      scale: positive,
    }),
    embeddingNorm: norm,
    embeddingNormScale: positive,
    layers: arrayOf(layer, config.numLayers),
    head: config.task === 'sequence-classification' ? head : optional(head),
    hiddenScale: positive,
  });
}

function array<T>(v: unknown, type: { new (n: number): T } & { name: string }, length: number, what: string): void {
  if (!(v instanceof type))
    throw new RangeError(`${what}: expected ${type.name}, got ${v === null ? 'null' : typeof v}`);
  const n = (v as unknown as ArrayLike<number>).length;
  if (n !== length) throw new RangeError(`${what}: ${n} values, expected ${length}`);
}

function checkLinear(
  l: PlannedLinear | undefined,
  inFeatures: number,
  outFeatures: number,
  what: string,
  requant: 'per-channel' | 'none',
): void {
  if (!l) throw new RangeError(`${what}: missing`);
  if (l.inFeatures !== inFeatures || l.outFeatures !== outFeatures)
    throw new RangeError(`${what}: ${l.outFeatures}x${l.inFeatures}, expected ${outFeatures}x${inFeatures}`);
  array(l.weight, Int8Array, inFeatures * outFeatures, `${what}.weight`);
  array(l.bias, Int32Array, outFeatures, `${what}.bias`);
  array(l.weightScale, Float64Array, outFeatures, `${what}.weightScale`);
  let biasMax = 0;
  for (const b of l.bias) biasMax = Math.max(biasMax, Math.abs(b));
  checkAccumulatorBound(inFeatures, biasMax, false, what);
  if (requant === 'per-channel') {
    if (!Array.isArray(l.requant) || l.requant.length !== outFeatures)
      throw new RangeError(`${what}.requant: expected ${outFeatures} multipliers`);
    l.requant.forEach((d, i) => checkDyadic(d, `${what}.requant[${i}]`));
  }
}

function checkNorm(c: LayerNormI8Constants, H: number, what: string): void {
  if (!c || c.H !== H) throw new RangeError(`${what}: LayerNorm constants for H = ${c?.H}, expected ${H}`);
  try {
    checkLayerNormI8Constants(c);
  } catch (e) {
    throw new RangeError(`${what}: ${(e as Error).message}`);
  }
}

/**
 * The plan does not store the head count, but the softmax rescale folds in 1/sqrt(head size):
 * rescale = s_q s_k / sqrt(D) 2^15. A config whose numHeads was changed under an unchanged plan
 * would split the heads differently and still pass every shape check; this catches it (a factor
 * of 2 in heads moves the rescale by sqrt 2, the tolerance is one unit of the multiplier + 1e-6).
 */
function checkHeadCount(
  rescale: { m: number; e: number },
  sq: number,
  sk: number,
  D: number,
  what: string,
  heads: number,
): void {
  const expected = ((sq * sk) / Math.sqrt(D)) * 2 ** 15;
  const stored = dyadicValue(rescale);
  if (!(Math.abs(stored - expected) <= 2 ** -rescale.e + 1e-6 * expected)) {
    throw new RangeError(
      `${what} = ${stored} does not match the query and key scales for ${heads} heads of ${D} (expected ${expected}): config.numHeads disagrees with the plan`,
    );
  }
}

/** Throws a RangeError naming the first problem; returns normally for a plan that is safe to run. */
export function validatePlan(plan: EncoderPlan, config: EncoderConfig, what = 'plan'): void {
  validateConfig(config, what);
  if (!plan || typeof plan !== 'object' || plan.version !== PLAN_VERSION)
    throw new RangeError(`${what}: plan version ${plan?.version}, this runtime runs version ${PLAN_VERSION}`);
  if (!Array.isArray(plan.layers) || plan.layers.length !== config.numLayers)
    throw new RangeError(`${what}: ${plan.layers?.length} layers, the config says ${config.numLayers}`);
  check(planSchema(config), plan, 'plan', what);
  const { hiddenSize: H, intermediateSize: I } = config;
  const D = H / config.numHeads;
  const e = plan.embeddings;
  array(e?.tables?.word, Int8Array, config.vocabSize * H, `${what}: embeddings.word`);
  array(e.tables.position, Int8Array, config.maxPositions * H, `${what}: embeddings.position`);
  if (e.tables.tokenType)
    array(e.tables.tokenType, Int8Array, config.typeVocabSize * H, `${what}: embeddings.tokenType`);
  checkEmbeddingConstants({ tokenTypes: !!e.tables.tokenType }, e.constants);
  checkNorm(plan.embeddingNorm, H, `${what}: embeddingNorm`);
  plan.layers.forEach((l, i) => {
    const p = `${what}: layer ${i}`;
    checkLinear(l.query, H, H, `${p} query`, 'per-channel');
    checkLinear(l.key, H, H, `${p} key`, 'per-channel');
    checkLinear(l.value, H, H, `${p} value`, 'per-channel');
    softmaxI8Bounds(l.softmax, config.maxPositions);
    checkHeadCount(
      l.softmax.rescale,
      l.query.outputScale!,
      l.key.outputScale!,
      D,
      `${what}: plan.layers[${i}].softmax.rescale`,
      config.numHeads,
    );
    checkDyadic(l.context, `${p} context requant`);
    checkLinear(l.attentionOutput, H, H, `${p} attention output`, 'per-channel');
    checkResidualAddBounds({ a: 'i8', b: 'i8' }, l.attentionResidual);
    checkNorm(l.attentionNorm, H, `${p} attention norm`);
    checkLinear(l.intermediate, H, I, `${p} intermediate`, 'per-channel');
    checkGeluI8Constants(l.gelu, `${p} i-GELU constants`);
    checkLinear(l.output, I, H, `${p} output`, 'per-channel');
    checkResidualAddBounds({ a: 'i8', b: 'i8' }, l.outputResidual);
    checkNorm(l.outputNorm, H, `${p} output norm`);
  });
  // Embedding models scale their int8 hidden states back to float by it; a zero, negative or NaN
  // scale would give every sentence the same (or a meaningless) vector without any error.
  if (typeof plan.hiddenScale !== 'number' || !Number.isFinite(plan.hiddenScale) || plan.hiddenScale <= 0) {
    throw new RangeError(`${what}: hiddenScale = ${String(plan.hiddenScale)} must be a positive finite number`);
  }
  if (config.task === 'sequence-classification') {
    const h = plan.head;
    if (!h) throw new RangeError(`${what}: a classifier without a head`);
    let x = H;
    if (h.dense) {
      checkLinear(h.dense, H, h.dense.outFeatures, `${what}: head dense`, 'per-channel');
      if (!h.activation || !['tanh', 'relu'].includes(h.activation.kind))
        throw new RangeError(`${what}: head activation ${JSON.stringify(h.activation?.kind)}`);
      array(h.activation.table, Int8Array, 256, `${what}: head activation table`);
      x = h.dense.outFeatures;
    }
    checkLinear(h.output, x, config.labels.length, `${what}: head output`, 'none');
    array(h.logitScale, Float64Array, config.labels.length, `${what}: head logit scales`);
    if (!h.logitScale.every((s) => s > 0 && Number.isFinite(s)))
      throw new RangeError(`${what}: head logit scales must be positive`);
  }
}
