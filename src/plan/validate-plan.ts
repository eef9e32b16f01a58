/**
 * Checks a plan that came from outside (a model file) before anything runs it: the config is one
 * this runtime supports, every array has the shape the config implies, and every kernel's constants
 * pass that kernel's own overflow proof. A failure names the offending field.
 */
import type { EncoderConfig } from '../model/types.js';
import { checkAccumulatorBound } from '../kernels/gemm-i8.js';
import { checkEmbeddingConstants } from '../kernels/embedding-i8.js';
import { checkResidualAddBounds } from '../kernels/residual-add.js';
import { checkDyadic } from '../reference/dyadic.js';
import { checkGeluI8Constants } from '../reference/gelu-i8.js';
import { checkLayerNormI8Constants, type LayerNormI8Constants } from '../reference/layernorm-i8.js';
import { softmaxI8Bounds } from '../reference/softmax-i8.js';
import { type EncoderPlan, PLAN_VERSION, type PlannedLinear } from './encoder-plan.js';

const FAMILIES = ['bert', 'distilbert', 'roberta'];
const TASKS = ['sequence-classification', 'embedding'];

export function validateConfig(c: EncoderConfig, what: string): void {
  const bad = (field: string, v: unknown) => {
    throw new RangeError(`${what}: config.${field} = ${JSON.stringify(v)} is not valid`);
  };
  if (!c || typeof c !== 'object') throw new RangeError(`${what}: no model config`);
  if (!FAMILIES.includes(c.family)) bad('family', c.family);
  if (!TASKS.includes(c.task)) bad('task', c.task);
  for (const f of ['hiddenSize', 'numLayers', 'numHeads', 'intermediateSize', 'vocabSize', 'maxPositions'] as const) {
    if (!Number.isInteger(c[f]) || c[f] < 1 || c[f] > 2 ** 20) bad(f, c[f]);
  }
  if (!Number.isInteger(c.typeVocabSize) || c.typeVocabSize < 0) bad('typeVocabSize', c.typeVocabSize);
  if (!Number.isInteger(c.positionOffset) || c.positionOffset < 0) bad('positionOffset', c.positionOffset);
  if (c.hiddenSize % c.numHeads !== 0 || (c.hiddenSize / c.numHeads) % 4 !== 0) bad('numHeads', c.numHeads);
  if (!Array.isArray(c.labels) || !c.labels.every((l) => typeof l === 'string')) bad('labels', c.labels);
  if (c.task === 'sequence-classification' && c.labels.length < 1) bad('labels', c.labels);
}

function array<T>(v: unknown, type: { new (n: number): T } & { name: string }, length: number, what: string): void {
  if (!(v instanceof type)) throw new RangeError(`${what}: expected ${type.name}, got ${v === null ? 'null' : typeof v}`);
  const n = (v as unknown as ArrayLike<number>).length;
  if (n !== length) throw new RangeError(`${what}: ${n} values, expected ${length}`);
}

function checkLinear(l: PlannedLinear | undefined, inFeatures: number, outFeatures: number, what: string, requant: 'per-channel' | 'none'): void {
  if (!l) throw new RangeError(`${what}: missing`);
  if (l.inFeatures !== inFeatures || l.outFeatures !== outFeatures) throw new RangeError(`${what}: ${l.outFeatures}x${l.inFeatures}, expected ${outFeatures}x${inFeatures}`);
  array(l.weight, Int8Array, inFeatures * outFeatures, `${what}.weight`);
  array(l.bias, Int32Array, outFeatures, `${what}.bias`);
  array(l.weightScale, Float64Array, outFeatures, `${what}.weightScale`);
  let biasMax = 0;
  for (const b of l.bias) biasMax = Math.max(biasMax, Math.abs(b));
  checkAccumulatorBound(inFeatures, biasMax, false, what);
  if (requant === 'per-channel') {
    if (!Array.isArray(l.requant) || l.requant.length !== outFeatures) throw new RangeError(`${what}.requant: expected ${outFeatures} multipliers`);
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

/** Throws a RangeError naming the first problem; returns normally for a plan that is safe to run. */
export function validatePlan(plan: EncoderPlan, config: EncoderConfig, what = 'plan'): void {
  validateConfig(config, what);
  if (!plan || plan.version !== PLAN_VERSION) throw new RangeError(`${what}: plan version ${plan?.version}, this runtime runs version ${PLAN_VERSION}`);
  const { hiddenSize: H, intermediateSize: I } = config;
  const e = plan.embeddings;
  array(e?.tables?.word, Int8Array, config.vocabSize * H, `${what}: embeddings.word`);
  array(e.tables.position, Int8Array, config.maxPositions * H, `${what}: embeddings.position`);
  if (e.tables.tokenType) array(e.tables.tokenType, Int8Array, config.typeVocabSize * H, `${what}: embeddings.tokenType`);
  checkEmbeddingConstants({ tokenTypes: !!e.tables.tokenType }, e.constants);
  checkNorm(plan.embeddingNorm, H, `${what}: embeddingNorm`);
  if (!Array.isArray(plan.layers) || plan.layers.length !== config.numLayers) throw new RangeError(`${what}: ${plan.layers?.length} layers, the config says ${config.numLayers}`);
  plan.layers.forEach((l, i) => {
    const p = `${what}: layer ${i}`;
    checkLinear(l.query, H, H, `${p} query`, 'per-channel');
    checkLinear(l.key, H, H, `${p} key`, 'per-channel');
    checkLinear(l.value, H, H, `${p} value`, 'per-channel');
    softmaxI8Bounds(l.softmax, config.maxPositions);
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
  if (config.task === 'sequence-classification') {
    const h = plan.head;
    if (!h) throw new RangeError(`${what}: a classifier without a head`);
    let x = H;
    if (h.dense) {
      checkLinear(h.dense, H, h.dense.outFeatures, `${what}: head dense`, 'per-channel');
      if (!h.activation || !['tanh', 'relu'].includes(h.activation.kind)) throw new RangeError(`${what}: head activation ${JSON.stringify(h.activation?.kind)}`);
      array(h.activation.table, Int8Array, 256, `${what}: head activation table`);
      x = h.dense.outFeatures;
    }
    checkLinear(h.output, x, config.labels.length, `${what}: head output`, 'none');
    array(h.logitScale, Float64Array, config.labels.length, `${what}: head logit scales`);
    if (!h.logitScale.every((s) => s > 0 && Number.isFinite(s))) throw new RangeError(`${what}: head logit scales must be positive`);
  }
}
