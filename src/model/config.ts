/**
 * Hugging Face config.json -> EncoderConfig or DecoderConfig. Each family spells the same hyper-parameters
 * differently (DistilBERT: dim, n_layers, ...); this module is the only place that knows those
 * spellings. Anything the integer runtime cannot execute faithfully is refused here, at import,
 * rather than producing a model that silently computes something else.
 */

import type {
  DecoderConfig,
  EncoderConfig,
  EncoderFamily,
  EncoderTask,
  MarianConfig,
  ModelConfig,
} from '../core/types.js';

interface Architecture {
  family: EncoderFamily;
  task: EncoderTask;
}

export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, Architecture>> = {
  BertForSequenceClassification: { family: 'bert', task: 'sequence-classification' },
  DistilBertForSequenceClassification: { family: 'distilbert', task: 'sequence-classification' },
  RobertaForSequenceClassification: { family: 'roberta', task: 'sequence-classification' },
  BertForTokenClassification: { family: 'bert', task: 'token-classification' },
  DistilBertForTokenClassification: { family: 'distilbert', task: 'token-classification' },
  RobertaForTokenClassification: { family: 'roberta', task: 'token-classification' },
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

/** An integer key of a config.json in [min, max] (or its fallback when absent), refused naming the key. */
function configInt(
  c: Json,
  fail: (problem: string) => never,
  key: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  const v = c[key] ?? fallback;
  if (v === undefined) return fail(`"${key}" is missing`);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    return fail(`"${key}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  }
  if (v > max) return fail(`"${key}" = ${v} is above ${max}, the largest this runtime accepts`);
  return v;
}

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

  const int = (key: string, min: number, fallback?: number, max = Number.MAX_SAFE_INTEGER): number =>
    configInt(c, fail, key, min, max, fallback);
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
    fail(
      `hidden size ${hiddenSize} is not divisible by the number of attention heads ${numHeads} ("${key('hidden_size', 'dim')}" / "${key('num_attention_heads', 'n_heads')}")`,
    );
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
    labels: arch.task === 'embedding' ? [] : parseLabels(c, fail),
  };
}

/** Decoder-only language models (src/model/weights.ts mapDecoderWeights knows their checkpoints). */
export const DECODER_ARCHITECTURES: Readonly<Record<string, 'gpt2'>> = {
  GPT2LMHeadModel: 'gpt2',
};

/** Any supported config.json: a decoder's (DECODER_ARCHITECTURES) or an encoder's (parseConfig). */
export function parseModelConfig(json: unknown, what = 'config.json'): ModelConfig {
  const archs = json !== null && typeof json === 'object' ? (json as Json).architectures : undefined;
  const first = Array.isArray(archs) ? archs[0] : undefined;
  if (typeof first === 'string' && Object.hasOwn(DECODER_ARCHITECTURES, first)) return parseDecoderConfig(json, what);
  return parseConfig(json, what);
}

/**
 * GPT-2's config.json (GPT2Config: n_embd, n_layer, n_head, n_inner, n_positions) -> DecoderConfig.
 * Refused, because the graph would compute another model: activations other than gelu_new (tanh
 * GELU) and gelu, attention not scaled by 1/sqrt(head_dim) or scaled by the layer index,
 * reorder_and_upcast_attn (a different softmax precision path), cross-attention.
 */
export function parseDecoderConfig(json: unknown, what = 'config.json'): DecoderConfig {
  const fail = (problem: string): never => {
    throw new Error(`${what}: ${problem}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('not a JSON object');
  const c = json as Json;
  const archs = c.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : undefined;
  if (architecture === undefined || !Object.hasOwn(DECODER_ARCHITECTURES, architecture)) {
    return fail(
      `architecture ${architecture ?? '(missing "architectures")'} is not a supported decoder; supported: ${Object.keys(DECODER_ARCHITECTURES).join(', ')}`,
    );
  }
  // Keys are GPT-2's; limits are the encoder keys' of the same meaning.
  const int = (key: string, limit: number, fallback?: number, min = 1): number =>
    configInt(c, fail, key, min, limit, fallback);
  const L = CONFIG_LIMITS;
  const hiddenSize = int('n_embd', L.hidden_size);
  const numLayers = int('n_layer', L.num_hidden_layers);
  const numHeads = int('n_head', L.num_attention_heads);
  // transformers: inner_dim = n_inner if n_inner is not None else 4 * hidden_size.
  const intermediateSize =
    c.n_inner === null || c.n_inner === undefined ? 4 * hiddenSize : int('n_inner', L.intermediate_size);
  if (intermediateSize > L.intermediate_size)
    fail(`4 * n_embd = ${intermediateSize} is above ${L.intermediate_size}, the largest this runtime accepts`);
  const vocabSize = int('vocab_size', L.vocab_size);
  const maxPositions = int('n_positions', L.max_position_embeddings);
  if (hiddenSize % numHeads !== 0) fail(`n_embd ${hiddenSize} is not divisible by n_head ${numHeads}`);

  // GPT2Config's defaults: bos = eos = 50256 (which a smaller vocabulary then refuses below).
  const bosTokenId = int('bos_token_id', Number.MAX_SAFE_INTEGER, 50256, 0);
  const eosTokenId = int('eos_token_id', Number.MAX_SAFE_INTEGER, 50256, 0);
  const padTokenId =
    c.pad_token_id === null || c.pad_token_id === undefined
      ? undefined
      : int('pad_token_id', Number.MAX_SAFE_INTEGER, undefined, 0);
  for (const [key, id] of [
    ['bos_token_id', bosTokenId],
    ['eos_token_id', eosTokenId],
    ['pad_token_id', padTokenId],
  ] as const) {
    if (id !== undefined && id >= vocabSize) fail(`"${key}" ${id} is outside the vocabulary (${vocabSize})`);
  }

  const act = c.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new' && act !== 'gelu') {
    fail(
      `activation_function ${JSON.stringify(act)} is not supported: only "gelu_new" (tanh GELU) and "gelu" (erf) are`,
    );
  }
  const eps = c.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !(eps > 0) || !(eps <= L.layer_norm_eps)) {
    fail(`"layer_norm_epsilon" must be a number in (0, ${L.layer_norm_eps}], got ${JSON.stringify(eps)}`);
  }
  const refuse = (key: string, unsupported: unknown, why: string) => {
    if (c[key] === unsupported) fail(`${key} ${JSON.stringify(unsupported)} is not supported: ${why}`);
  };
  refuse('scale_attn_weights', false, 'attention scores are always scaled by 1/sqrt(head_dim)');
  refuse('scale_attn_by_inverse_layer_idx', true, 'scores would also be divided by the layer index + 1');
  refuse('reorder_and_upcast_attn', true, 'its reordered, upcast attention is another computation');
  refuse('add_cross_attention', true, 'decoder-only models have no encoder to attend to');
  const tied = c.tie_word_embeddings ?? true;
  if (typeof tied !== 'boolean') fail(`"tie_word_embeddings" must be true or false, got ${JSON.stringify(tied)}`);

  return {
    architecture,
    family: DECODER_ARCHITECTURES[architecture],
    task: 'text-generation',
    hiddenSize,
    numLayers,
    numHeads,
    intermediateSize,
    vocabSize,
    maxPositions,
    layerNormEps: eps as number,
    hiddenAct: act as 'gelu_new' | 'gelu',
    bosTokenId,
    eosTokenId,
    ...(padTokenId !== undefined ? { padTokenId } : {}),
    tiedEmbeddings: tied as boolean,
  };
}

/** id2label when present (keys must be 0..n-1), else transformers' default names LABEL_i. */
function parseLabels(c: Json, fail: (p: string) => never): string[] {
  const id2label = c.id2label;
  if (id2label !== undefined && id2label !== null) {
    if (typeof id2label !== 'object' || Array.isArray(id2label)) fail('"id2label" is not an object');
    const entries = Object.entries(id2label as Json);
    if (entries.length === 0) fail('"id2label" is empty');
    if (entries.length > CONFIG_LIMITS.num_labels)
      fail(`"id2label" has ${entries.length} labels, above ${CONFIG_LIMITS.num_labels}`);
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
  // Every supported sequence classifier has a dense H x H before its output (pooler, pre_classifier, dense).
  const output = c.labels.length * (H + 1);
  // A token classifier has no dense: its classifier reads every token's hidden state.
  const head =
    c.task === 'sequence-classification' ? H * H + H + output : c.task === 'token-classification' ? output : 0;
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
export function estimateModelBytes(
  c: EncoderConfig,
  options: { bytesPerWeight?: number; bytesPerActivation?: number; seqLen?: number } = {},
): ModelBytesEstimate {
  const { bytesPerWeight = 4, bytesPerActivation = 4, seqLen = c.maxPositions } = options;
  const { hiddenSize: H, intermediateSize: I } = c;
  const parameters = countParameters(c);
  const largestWeight = Math.max(c.vocabSize * H, H * I, c.maxPositions * H) * bytesPerWeight;
  const largestActivation = Math.max(c.numHeads * seqLen * seqLen, seqLen * I, 3 * seqLen * H) * bytesPerActivation;
  const weights = parameters * bytesPerWeight;
  return { parameters, weights, largestWeight, largestActivation, total: weights + largestActivation };
}

/** Encoder-decoder translation models (src/model/weights.ts mapMarianWeights knows their checkpoints). */
export const ENCODER_DECODER_ARCHITECTURES: Readonly<Record<string, 'marian'>> = {
  MarianMTModel: 'marian',
};

/** transformers' ACT2FN names a Marian config may use -> the activation the graph computes. */
const MARIAN_ACTIVATIONS: Readonly<Record<string, MarianConfig['activation']>> = {
  swish: 'silu',
  silu: 'silu',
  gelu: 'gelu',
  gelu_new: 'gelu_new',
  relu: 'relu',
};

/**
 * MarianConfig's config.json (d_model, encoder_layers, decoder_layers, encoder/decoder_attention_heads,
 * encoder/decoder_ffn_dim, vocab_size, max_position_embeddings, scale_embedding, pad/eos/
 * decoder_start_token_id, activation_function) -> MarianConfig. transformers' Marian is always
 * post-LN with static sinusoidal positions and no embedding or final LayerNorm; the BART-era keys
 * old opus-mt conversions still carry (normalize_before, normalize_embedding, add_final_layer_norm,
 * static_position_embeddings, add_bias_logits) are ignored by MarianModel, so they are here too.
 * Refused: separate encoder and decoder vocabularies (share_encoder_decoder_embeddings false).
 */
export function parseMarianConfig(json: unknown, what = 'config.json'): MarianConfig {
  const fail = (problem: string): never => {
    throw new Error(`${what}: ${problem}`);
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail('not a JSON object');
  const c = json as Json;
  const archs = c.architectures;
  const architecture = Array.isArray(archs) && typeof archs[0] === 'string' ? (archs[0] as string) : undefined;
  if (architecture === undefined || !Object.hasOwn(ENCODER_DECODER_ARCHITECTURES, architecture)) {
    return fail(
      `architecture ${architecture ?? '(missing "architectures")'} is not a supported encoder-decoder; supported: ${Object.keys(ENCODER_DECODER_ARCHITECTURES).join(', ')}`,
    );
  }
  // Limits are the encoder keys' of the same meaning (CONFIG_LIMITS).
  const int = (key: string, limit: number, fallback?: number, min = 1): number =>
    configInt(c, fail, key, min, limit, fallback);
  const L = CONFIG_LIMITS;
  // MarianConfig's defaults for absent keys (opus-mt's sizes).
  const hiddenSize = int('d_model', L.hidden_size, 1024);
  const encoderLayers = int('encoder_layers', L.num_hidden_layers, 12);
  const decoderLayers = int('decoder_layers', L.num_hidden_layers, 12);
  const encoderHeads = int('encoder_attention_heads', L.num_attention_heads, 16);
  const decoderHeads = int('decoder_attention_heads', L.num_attention_heads, 16);
  const encoderFfnSize = int('encoder_ffn_dim', L.intermediate_size, 4096);
  const decoderFfnSize = int('decoder_ffn_dim', L.intermediate_size, 4096);
  const vocabSize = int('vocab_size', L.vocab_size, 58101);
  const maxPositions = int('max_position_embeddings', L.max_position_embeddings, 1024);
  for (const [key, heads] of [
    ['encoder_attention_heads', encoderHeads],
    ['decoder_attention_heads', decoderHeads],
  ] as const) {
    if (hiddenSize % heads !== 0) fail(`d_model ${hiddenSize} is not divisible by ${key} ${heads}`);
  }
  const share = c.share_encoder_decoder_embeddings ?? true;
  if (share !== true) {
    fail(
      `share_encoder_decoder_embeddings ${JSON.stringify(share)} is not supported: only one embedding shared by encoder, decoder and LM head`,
    );
  }
  const tied = c.tie_word_embeddings ?? true;
  if (typeof tied !== 'boolean') fail(`"tie_word_embeddings" must be true or false, got ${JSON.stringify(tied)}`);
  const scale = c.scale_embedding ?? false;
  if (typeof scale !== 'boolean') fail(`"scale_embedding" must be true or false, got ${JSON.stringify(scale)}`);

  const id = (key: string, fallback?: number) => int(key, Number.MAX_SAFE_INTEGER, fallback, 0);
  const padTokenId = id('pad_token_id', 58100);
  const eosTokenId = id('eos_token_id', 0);
  // transformers' generate() starts the decoder with decoder_start_token_id (opus-mt: the pad id).
  const decoderStartTokenId = id('decoder_start_token_id', 58100);
  // MarianConfig's default is 0; null says generate() forces nothing.
  const forcedEosTokenId = c.forced_eos_token_id === null ? undefined : id('forced_eos_token_id', 0);
  for (const [key, v] of [
    ['pad_token_id', padTokenId],
    ['eos_token_id', eosTokenId],
    ['decoder_start_token_id', decoderStartTokenId],
    ['forced_eos_token_id', forcedEosTokenId],
  ] as const) {
    if (v !== undefined && v >= vocabSize) fail(`"${key}" ${v} is outside the vocabulary (vocab_size ${vocabSize})`);
  }

  const actName = c.activation_function ?? 'gelu';
  const activation = typeof actName === 'string' ? MARIAN_ACTIVATIONS[actName] : undefined;
  if (activation === undefined || !Object.hasOwn(MARIAN_ACTIVATIONS, actName as string)) {
    return fail(
      `activation_function ${JSON.stringify(actName)} is not supported; supported: ${Object.keys(MARIAN_ACTIVATIONS).join(', ')}`,
    );
  }
  if (c.is_encoder_decoder === false) fail('"is_encoder_decoder" false: MarianMTModel is an encoder-decoder');

  return {
    architecture,
    family: ENCODER_DECODER_ARCHITECTURES[architecture],
    task: 'translation',
    hiddenSize,
    encoderLayers,
    decoderLayers,
    encoderHeads,
    decoderHeads,
    encoderFfnSize,
    decoderFfnSize,
    vocabSize,
    maxPositions,
    layerNormEps: 1e-5,
    activation,
    scaleEmbedding: scale as boolean,
    padTokenId,
    eosTokenId,
    decoderStartTokenId,
    ...(forcedEosTokenId !== undefined ? { forcedEosTokenId } : {}),
    tiedEmbeddings: tied as boolean,
  };
}

/** "GPT2LMHeadModel (2 x 128)": the architecture and size, as messages and reports name a model. */
export function describeConfig(c: ModelConfig): string {
  if (c.task === 'translation')
    return `${c.architecture} (${c.encoderLayers} + ${c.decoderLayers} layers x ${c.hiddenSize})`;
  return `${c.architecture} (${c.numLayers} x ${c.hiddenSize})`;
}
