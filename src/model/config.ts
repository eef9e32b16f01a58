/**
 * Hugging Face config.json -> EncoderConfig. Each family spells the same hyper-parameters
 * differently (DistilBERT: dim, n_layers, ...); this module is the only place that knows those
 * spellings. Anything the integer runtime cannot execute faithfully is refused here, at import,
 * rather than producing a model that silently computes something else.
 */

import type { EncoderConfig, EncoderFamily, EncoderTask } from './types.js';

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

  const int = (key: string, min: number, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) return fail(`"${key}" is missing`);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      return fail(`"${key}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const distil = arch.family === 'distilbert';
  // DistilBERT uses its own key names; the rest of this function sees BERT's names.
  const key = (bert: string, distilbert: string) => (distil ? distilbert : bert);

  const hiddenSize = int(key('hidden_size', 'dim'), 1);
  const numLayers = int(key('num_hidden_layers', 'n_layers'), 1);
  const numHeads = int(key('num_attention_heads', 'n_heads'), 1);
  const intermediateSize = int(key('intermediate_size', 'hidden_dim'), 1);
  const vocabSize = int('vocab_size', 1);
  const maxPositions = int('max_position_embeddings', 1);
  // transformers' defaults when the key is absent: RobertaConfig 1, the others 0.
  const padTokenId = int('pad_token_id', 0, arch.family === 'roberta' ? 1 : 0);
  if (hiddenSize % numHeads !== 0) {
    fail(`hidden size ${hiddenSize} is not divisible by the number of attention heads ${numHeads}`);
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
    if (typeof eps !== 'number' || !(eps > 0) || !Number.isFinite(eps)) {
      fail(`"layer_norm_eps" must be a positive number, got ${JSON.stringify(eps)}`);
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
  const typeVocabSize = distil ? 0 : int('type_vocab_size', 1, 2);

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
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    fail(`"num_labels" must be a positive integer, got ${JSON.stringify(n)}`);
  }
  return Array.from({ length: n as number }, (_, i) => `LABEL_${i}`);
}
