/**
 * Hugging Face config.json -> EncoderConfig. Each family spells the same hyper-parameters
 * differently (DistilBERT: dim, n_layers, ...); this module is the only place that knows those
 * spellings. Anything the integer runtime cannot execute faithfully is refused here, at import,
 * rather than producing a model that silently computes something else.
 */

import type { EncoderConfig, EncoderFamily, EncoderTask } from '../core/types.js';

interface Architecture {
  family: EncoderFamily;
  task: EncoderTask;
}

export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  BertForSequenceClassification: { family: 'bert', task: 'sequence-classification' },
  DistilBertForSequenceClassification: { family: 'distilbert', task: 'sequence-classification' },
  RobertaForSequenceClassification: { family: 'roberta', task: 'sequence-classification' },
  BertModel: { family: 'bert', task: 'embedding' },
};

type Json = Record<string, unknown>;

/**
 * Largest values accepted from config.json. Far above any encoder this runtime targets (BERT-large:
 * 24 layers, hidden 1024, FFN 4096, vocab 30522, 512 positions; XLM-R: vocab 250002), and low enough
 * that nothing sized from them can exhaust memory before the checkpoint's tensors are compared with
 * them: a hostile `num_hidden_layers: 1e9` used to loop (and allocate) for minutes before failing.
 * hidden_size stops at the integer LayerNorm's limit (LN_MAX_H); the rest are generous powers of 2.
 */
export const CONFIG_LIMITS = {
  num_hidden_layers: 256,
  hidden_size: 16384,
  num_attention_heads: 1024,
  intermediate_size: 131072,
  vocab_size: 1 << 20,
  max_position_embeddings: 1 << 16,
  type_vocab_size: 1024,
  num_labels: 1 << 16,
  /** LayerNorm eps: transformers' encoders use 1e-12..1e-5; 0.1 already swamps a unit variance. */
  layer_norm_eps: 0.1,
} as const;

/** `what` names the file in error messages (e.g. the source it came from). */
export function parseConfig(json: unknown, what = 'config.json'): EncoderConfig {
  const fail = (problem: string): never => {
    throw new Error(`${what}: ${problem}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('not a JSON object');
  const c = json as Json;

  const archs = c.architectures;
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
    fail(`"architectures" is missing; supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}`);
  }
  const architecture = (archs as string[])[0];
  const arch = Object.hasOwn(SUPPORTED_ARCHITECTURES, architecture) ? SUPPORTED_ARCHITECTURES[architecture] : undefined;
  if (!arch) {
    return fail(
      `architecture ${architecture} is not supported; supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}`,
    );
  }

  const int = (key: string, min: number, fallback?: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) return fail(`"${key}" is missing`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      return fail(`"${key}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    if (v > max) return fail(`"${key}" = ${v} is above ${max}, the largest this runtime accepts`);
    return v;
  };
  const L = CONFIG_LIMITS;
  const distil = arch.family === 'distilbert';
  // DistilBERT uses its own key names; the rest of this function sees BERT's names.
  const key = (bert: string, distilbert: string) => (distil ? distilbert : bert);

  const hiddenSize = int(key('hidden_size', 'dim'), 1, undefined, L.hidden_size);
  const numLayers = int(key('num_hidden_layers', 'n_layers'), 1, undefined, L.num_hidden_layers);
  const numHeads = int(key('num_attention_heads', 'n_heads'), 1, undefined, L.num_attention_heads);
  const intermediateSize = int(key('intermediate_size', 'hidden_dim'), 1, undefined, L.intermediate_size);
  const vocabSize = int('vocab_size', 1, undefined, L.vocab_size);
  const maxPositions = int('max_position_embeddings', 1, undefined, L.max_position_embeddings);
  // transformers' defaults when the key is absent: RobertaConfig 1, the others 0.
  const padTokenId = int('pad_token_id', 0, arch.family === 'roberta' ? 1 : 0);
  if (hiddenSize % numHeads !== 0) {
    fail(`hidden size ${hiddenSize} is not divisible by the number of attention heads ${numHeads} ("${key('hidden_size', 'dim')}" / "${key('num_attention_heads', 'n_heads')}")`);
  }
  if (padTokenId >= vocabSize) fail(`pad_token_id ${padTokenId} is outside the vocabulary (${vocabSize})`);

  const actKey = key('hidden_act', 'activation');
  const act = c[actKey];
  if (act !== 'gelu') {
    fail(
      `${actKey} ${JSON.stringify(act)} is not supported: only exact (erf) "gelu" is; ` +
        'approximations such as gelu_new or other activations would change the model',
    );
  }

  // DistilBERT's LayerNorm epsilon is hard-coded to 1e-12 in transformers, not configurable.
  let layerNormEps = 1e-12;
  if (!distil) {
    const eps = c.layer_norm_eps ?? 1e-12;
    if (typeof eps !== 'number' || !(eps > 0) || !(eps <= L.layer_norm_eps)) {
      fail(`"layer_norm_eps" must be a number in (0, ${L.layer_norm_eps}], got ${JSON.stringify(eps)}`);
    }
    layerNormEps = eps as number;
    const posType = c.position_embedding_type ?? 'absolute';
    if (posType !== 'absolute') {
      fail(`position_embedding_type ${JSON.stringify(posType)} is not supported: only "absolute" is`);
    }
    if (c.is_decoder === true || c.add_cross_attention === true) {
      fail('decoder configurations (is_decoder / add_cross_attention) are not supported: encoders only');
    }
  }
  const typeVocabSize = distil ? 0 : int('type_vocab_size', 1, 2, L.type_vocab_size);

  // RoBERTa numbers positions from padding_idx + 1 (transformers' create_position_ids_from_input_ids).
  const positionOffset = arch.family === 'roberta' ? padTokenId + 1 : 0;
  if (positionOffset >= maxPositions) {
    fail(`max_position_embeddings ${maxPositions} leaves no positions after the offset ${positionOffset}`);
  }

  return {
    architecture,
    family: arch.family,
    task: arch.task,
    hiddenSize,
    numLayers,
    numHeads,
    intermediateSize,
    vocabSize,
    maxPositions,
    typeVocabSize,
    layerNormEps,
    hiddenAct: 'gelu',
    padTokenId,
    positionOffset,
    labels: arch.task === 'sequence-classification' ? parseLabels(c, fail) : [],
  };
}

/** id2label when present (keys must be 0..n-1), else transformers' default names LABEL_i. */
function parseLabels(c: Json, fail: (p: string) => never): string[] {
  const id2label = c.id2label;
  if (id2label !== undefined && id2label !== null) {
    if (typeof id2label !== 'object' || Array.isArray(id2label)) fail('"id2label" is not an object');
    const entries = Object.entries(id2label as Json);
    if (entries.length === 0) fail('"id2label" is empty');
    if (entries.length > CONFIG_LIMITS.num_labels) fail(`"id2label" has ${entries.length} labels, above ${CONFIG_LIMITS.num_labels}`);
    const labels: string[] = new Array(entries.length);
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!/^(0|[1-9]\d*)$/.test(k) || i >= entries.length || labels[i] !== undefined) {
        fail(`"id2label" keys must be 0..${entries.length - 1}, got "${k}"`);
      }
      if (typeof v !== 'string') fail(`"id2label" entry ${k} is not a string`);
      labels[i] = v as string;
    }
    return labels;
  }
  const n = c.num_labels ?? c._num_labels ?? 2;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > CONFIG_LIMITS.num_labels) {
    fail(`"num_labels" must be an integer in [1, ${CONFIG_LIMITS.num_labels}], got ${JSON.stringify(n)}`);
  }
  return Array.from({ length: n as number }, (_, i) => `LABEL_${i}`);
}

/** Parameters of the model a config describes (float weights, biases, LayerNorms, head). */
export function countParameters(c: EncoderConfig): number {
  const { hiddenSize: H, intermediateSize: I } = c;
  const norm = 2 * H;
  const embeddings = (c.vocabSize + c.maxPositions + c.typeVocabSize) * H + norm;
  const layer = 4 * (H * H + H) + (H * I + I) + (I * H + H) + 2 * norm;
  // Every supported classifier has a dense H x H before its output (pooler, pre_classifier, dense).
  const head = c.task === 'sequence-classification' ? H * H + H + c.labels.length * (H + 1) : 0;
  return embeddings + c.numLayers * layer + head;
}

export interface ModelBytesEstimate {
  parameters: number;
  /** All weights at `bytesPerWeight`. */
  weights: number;
  /** The largest single weight tensor (the word embeddings, or an FFN matrix). */
  largestWeight: number;
  /** The largest single activation at `seqLen` tokens, batch 1 (attention scores or the FFN's). */
  largestActivation: number;
  /** weights + largestActivation: a floor on the device memory the model needs. */
  total: number;
}

/**
 * Device bytes a model needs, from its config alone, so that a caller can compare it with a
 * device's limits (GPUSupportedLimits: maxBufferSize and maxStorageBufferBindingSize against the
 * largest tensors, memory against the total) before downloading or allocating anything. A floor,
 * not an exact figure: the runtime also holds a few activations at once and its uniform buffers.
 * Defaults: float32 weights and activations, the full position table as sequence length.
 */
export function estimateModelBytes(c: EncoderConfig, options: { bytesPerWeight?: number; bytesPerActivation?: number; seqLen?: number } = {}): ModelBytesEstimate {
  const { bytesPerWeight = 4, bytesPerActivation = 4, seqLen = c.maxPositions } = options;
  const { hiddenSize: H, intermediateSize: I } = c;
  const parameters = countParameters(c);
  const largestWeight = Math.max(c.vocabSize * H, H * I, c.maxPositions * H) * bytesPerWeight;
  const largestActivation = Math.max(c.numHeads * seqLen * seqLen, seqLen * I, 3 * seqLen * H) * bytesPerActivation;
  const weights = parameters * bytesPerWeight;
  return { parameters, weights, largestWeight, largestActivation, total: weights + largestActivation };
}
