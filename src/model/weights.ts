/**
 * Checkpoint tensor names -> EncoderWeights. Knows the transformers naming of BERT, DistilBERT and
 * RoBERTa (with the base-model prefix, or without it as bare BertModel checkpoints are often saved)
 * and checks every shape against the config before converting, so a mismatched checkpoint fails
 * with the tensor's name instead of being misread.
 */

import type {
  ClassifierHead,
  EncoderConfig,
  EncoderLayerWeights,
  EncoderWeights,
  LayerNormWeights,
  Linear,
  Tensor,
} from './types.js';

/** What the mapping needs from a checkpoint; a parsed safetensors file provides it. */
export interface TensorStore {
  has(name: string): boolean;
  info(name: string): { shape: number[] };
  tensor(name: string): Tensor;
}

/** How many missing names to list before summarising; a wrong family misses hundreds. */
const MAX_LISTED = 12;

export function mapWeights(store: TensorStore, config: EncoderConfig, what = 'model.safetensors'): EncoderWeights {
  const prefix = findPrefix(store, config, what);
  const missing: string[] = [];
  const placeholder: Tensor = { shape: [], data: new Float32Array(0) };

  const take = (name: string, shape: number[]): Tensor => {
    const full = prefix.resolve(name);
    if (!store.has(full)) {
      missing.push(full);
      return placeholder;
    }
    const actual = store.info(full).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new Error(`${what}: tensor "${full}" has shape [${actual.join(', ')}], expected [${shape.join(', ')}] from config.json`);
    }
    return store.tensor(full);
  };
  const linear = (base: string, out: number, inp: number): Linear => ({
    weight: take(`${base}.weight`, [out, inp]),
    bias: take(`${base}.bias`, [out]),
  });
  // Checkpoints converted from TF-era code name LayerNorm parameters gamma/beta.
  const norm = (base: string): LayerNormWeights => {
    const h = config.hiddenSize;
    const old = !store.has(prefix.resolve(`${base}.weight`)) && store.has(prefix.resolve(`${base}.gamma`));
    return old
      ? { gamma: take(`${base}.gamma`, [h]), beta: take(`${base}.beta`, [h]) }
      : { gamma: take(`${base}.weight`, [h]), beta: take(`${base}.bias`, [h]) };
  };

  const h = config.hiddenSize;
  const ffn = config.intermediateSize;
  const distil = config.family === 'distilbert';
  const weights: EncoderWeights = {
    wordEmbeddings: take('~embeddings.word_embeddings.weight', [config.vocabSize, h]),
    positionEmbeddings: take('~embeddings.position_embeddings.weight', [config.maxPositions, h]),
    tokenTypeEmbeddings:
      config.typeVocabSize > 0 ? take('~embeddings.token_type_embeddings.weight', [config.typeVocabSize, h]) : undefined,
    embeddingNorm: norm('~embeddings.LayerNorm'),
    layers: [],
  };
  for (let i = 0; i < config.numLayers; i++) {
    let layer: EncoderLayerWeights;
    if (distil) {
      const p = `~transformer.layer.${i}`;
      layer = {
        query: linear(`${p}.attention.q_lin`, h, h),
        key: linear(`${p}.attention.k_lin`, h, h),
        value: linear(`${p}.attention.v_lin`, h, h),
        attentionOutput: linear(`${p}.attention.out_lin`, h, h),
        attentionNorm: norm(`${p}.sa_layer_norm`),
        intermediate: linear(`${p}.ffn.lin1`, ffn, h),
        output: linear(`${p}.ffn.lin2`, h, ffn),
        outputNorm: norm(`${p}.output_layer_norm`),
      };
    } else {
      const p = `~encoder.layer.${i}`;
      layer = {
        query: linear(`${p}.attention.self.query`, h, h),
        key: linear(`${p}.attention.self.key`, h, h),
        value: linear(`${p}.attention.self.value`, h, h),
        attentionOutput: linear(`${p}.attention.output.dense`, h, h),
        attentionNorm: norm(`${p}.attention.output.LayerNorm`),
        intermediate: linear(`${p}.intermediate.dense`, ffn, h),
        output: linear(`${p}.output.dense`, h, ffn),
        outputNorm: norm(`${p}.output.LayerNorm`),
      };
    }
    weights.layers.push(layer);
  }
  if (config.task === 'sequence-classification') weights.head = mapHead(config, linear);

  if (missing.length > 0) {
    const listed = missing.slice(0, MAX_LISTED).join(', ');
    const more = missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : '';
    throw new Error(`${what}: missing ${missing.length} tensor(s) required by ${config.architecture}: ${listed}${more}`);
  }
  return weights;
}

/** The head sits outside the base model, so its names carry no prefix (except BERT's pooler). */
function mapHead(config: EncoderConfig, linear: (base: string, out: number, inp: number) => Linear): ClassifierHead {
  const h = config.hiddenSize;
  const labels = config.labels.length;
  switch (config.family) {
    case 'bert':
      return { dense: linear('~pooler.dense', h, h), activation: 'tanh', output: linear('classifier', labels, h) };
    case 'distilbert':
      return { dense: linear('pre_classifier', h, h), activation: 'relu', output: linear('classifier', labels, h) };
    case 'roberta':
      return {
        dense: linear('classifier.dense', h, h),
        activation: 'tanh',
        output: linear('classifier.out_proj', labels, h),
      };
  }
}

interface Prefix {
  /** Replaces a leading "~" (the base model's namespace) with the prefix found in the file. */
  resolve(name: string): string;
}

function findPrefix(store: TensorStore, config: EncoderConfig, what: string): Prefix {
  const probe = 'embeddings.word_embeddings.weight';
  const candidates = [`${config.family}.`, ''];
  const found = candidates.find((p) => store.has(p + probe));
  if (found === undefined) {
    const other = ['bert.', 'distilbert.', 'roberta.'].find((p) => store.has(p + probe));
    const hint = other ? ` (the file has "${other}${probe}": a ${other.slice(0, -1)} checkpoint?)` : '';
    throw new Error(
      `${what}: missing tensor "${candidates[0]}${probe}" (or "${probe}") required by ${config.architecture}${hint}`,
    );
  }
  return { resolve: (name) => (name.startsWith('~') ? found + name.slice(1) : name) };
}
