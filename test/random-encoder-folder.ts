/**
 * Small encoders with seeded random weights written as Hugging Face folders (config.json as
 * transformers writes it, model.safetensors under the checkpoint's own names, and a tiny WordPiece
 * tokenizer.json of TINY_VOCAB's words), for the token-classification and zero-shot tests: BERT and
 * DistilBERT token classifiers, and BERT sequence classifiers (an NLI head when its labels say so).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { wordPieceTokenizerJson } from '../bench/wordpiece-tokenizer.js';
import type { EncoderFamily, EncoderModel, EncoderTask, Linear, Tensor } from '../src/core/types.js';
import { type TensorToWrite, writeSafetensors } from '../src/model/safetensors-write.js';
import { MAX_POSITIONS, syntheticModel, VOCAB } from './synthetic.js';

/** Ids 0..4 are the special tokens; '##' marks a word piece; 'ca' '##fe' makes 'café' (accents stripped). */
export const TINY_VOCAB = [
  '[PAD]',
  '[UNK]',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  '.',
  ',',
  '!',
  '?',
  'a',
  'the',
  'is',
  'in',
  'of',
  'and',
  'to',
  'was',
  'it',
  'this',
  'example',
  'about',
  'john',
  'mary',
  'smith',
  'lives',
  'works',
  'new',
  'york',
  'paris',
  'berlin',
  'hugging',
  'face',
  '##face',
  '##s',
  '##ing',
  '##ed',
  'play',
  'read',
  'good',
  'bad',
  'film',
  'movie',
  'sports',
  'politics',
  'weather',
  'great',
  'ca',
  '##fe',
  'at',
  'she',
  'he',
];

export function tinyTokenizerJson(): string {
  return wordPieceTokenizerJson(TINY_VOCAB, { stripAccents: null });
}

export interface RandomEncoder {
  family: Extract<EncoderFamily, 'bert' | 'distilbert'>;
  task: Extract<EncoderTask, 'sequence-classification' | 'token-classification'>;
  labels: string[];
  hidden: number;
  heads: number;
  intermediate: number;
  layers: number;
}

const ARCHITECTURE = {
  bert: {
    'sequence-classification': 'BertForSequenceClassification',
    'token-classification': 'BertForTokenClassification',
  },
  distilbert: {
    'sequence-classification': 'DistilBertForSequenceClassification',
    'token-classification': 'DistilBertForTokenClassification',
  },
} as const;

/** The float model (synthetic.ts' weights); a token classifier's head is its classifier alone. */
export function randomEncoder(spec: RandomEncoder, seed: number): EncoderModel {
  const sequence = spec.task === 'sequence-classification';
  const model = syntheticModel(
    {
      name: ARCHITECTURE[spec.family][spec.task],
      family: spec.family,
      task: spec.task,
      hidden: spec.hidden,
      heads: spec.heads,
      intermediate: spec.intermediate,
      layers: spec.layers,
      typeVocab: spec.family === 'bert' ? 2 : 0,
      head: sequence ? { dense: true, activation: spec.family === 'bert' ? 'tanh' : 'relu' } : { dense: false },
      labels: spec.labels.length,
    },
    seed,
  );
  model.config.architecture = ARCHITECTURE[spec.family][spec.task];
  model.config.labels = [...spec.labels];
  return model;
}

/** Every weight under the checkpoint's names. */
export function hfTensors(model: EncoderModel): TensorToWrite[] {
  const { config, weights: w } = model;
  const out: TensorToWrite[] = [];
  const put = (name: string, t: Tensor) => out.push({ name, dtype: 'F32', shape: t.shape, data: t.data });
  const linear = (name: string, l: Linear) => {
    put(`${name}.weight`, l.weight);
    put(`${name}.bias`, l.bias);
  };
  const norm = (name: string, n: { gamma: Tensor; beta: Tensor }) => {
    put(`${name}.weight`, n.gamma);
    put(`${name}.bias`, n.beta);
  };
  const distil = config.family === 'distilbert';
  const p = distil ? 'distilbert' : 'bert';
  put(`${p}.embeddings.word_embeddings.weight`, w.wordEmbeddings);
  put(`${p}.embeddings.position_embeddings.weight`, w.positionEmbeddings);
  if (w.tokenTypeEmbeddings) put(`${p}.embeddings.token_type_embeddings.weight`, w.tokenTypeEmbeddings);
  norm(`${p}.embeddings.LayerNorm`, w.embeddingNorm);
  w.layers.forEach((l, i) => {
    if (distil) {
      const x = `${p}.transformer.layer.${i}`;
      linear(`${x}.attention.q_lin`, l.query);
      linear(`${x}.attention.k_lin`, l.key);
      linear(`${x}.attention.v_lin`, l.value);
      linear(`${x}.attention.out_lin`, l.attentionOutput);
      norm(`${x}.sa_layer_norm`, l.attentionNorm);
      linear(`${x}.ffn.lin1`, l.intermediate);
      linear(`${x}.ffn.lin2`, l.output);
      norm(`${x}.output_layer_norm`, l.outputNorm);
    } else {
      const x = `${p}.encoder.layer.${i}`;
      linear(`${x}.attention.self.query`, l.query);
      linear(`${x}.attention.self.key`, l.key);
      linear(`${x}.attention.self.value`, l.value);
      linear(`${x}.attention.output.dense`, l.attentionOutput);
      norm(`${x}.attention.output.LayerNorm`, l.attentionNorm);
      linear(`${x}.intermediate.dense`, l.intermediate);
      linear(`${x}.output.dense`, l.output);
      norm(`${x}.output.LayerNorm`, l.outputNorm);
    }
  });
  const head = w.head!;
  if (head.dense) linear(distil ? 'pre_classifier' : 'bert.pooler.dense', head.dense);
  linear('classifier', head.output);
  return out;
}

/** config.json as transformers writes it for the model's architecture. */
export function hfConfig(model: EncoderModel): Record<string, unknown> {
  const c = model.config;
  const labels = {
    id2label: Object.fromEntries(c.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(c.labels.map((l, i) => [l, i])),
  };
  if (c.family === 'distilbert')
    return {
      architectures: [c.architecture],
      model_type: 'distilbert',
      activation: 'gelu',
      dim: c.hiddenSize,
      n_layers: c.numLayers,
      n_heads: c.numHeads,
      hidden_dim: c.intermediateSize,
      vocab_size: c.vocabSize,
      max_position_embeddings: c.maxPositions,
      pad_token_id: c.padTokenId,
      sinusoidal_pos_embds: false,
      ...labels,
    };
  return {
    architectures: [c.architecture],
    model_type: 'bert',
    hidden_act: 'gelu',
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositions,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    pad_token_id: c.padTokenId,
    position_embedding_type: 'absolute',
    ...labels,
  };
}

/** Writes config.json, model.safetensors and tokenizer.json into `dir` (created). */
export function writeEncoderFolder(dir: string, model: EncoderModel): string {
  if (TINY_VOCAB.length > VOCAB || model.config.maxPositions !== MAX_POSITIONS)
    throw new Error('random encoder: the tiny vocabulary must fit the synthetic model');
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/config.json`, JSON.stringify(hfConfig(model), null, 2));
  writeFileSync(`${dir}/model.safetensors`, writeSafetensors(hfTensors(model)));
  writeFileSync(`${dir}/tokenizer.json`, tinyTokenizerJson());
  return dir;
}
