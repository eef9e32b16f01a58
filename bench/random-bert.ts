/**
 * A BERT classifier with seeded random weights, written as a Hugging Face folder (config.json,
 * model.safetensors, the tokenizer of a shared model) plus its ONNX twin (onnx/model.onnx, whose
 * initializers are external data inside ../model.safetensors, exactly like the shared twins). So
 * every runtime of the benchmark loads it the way it loads the shared models: the same bytes.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { EncoderConfig, EncoderLayerWeights, EncoderModel, Linear, Tensor } from '../src/core/types.js';
import { Random } from '../src/util/random.js';
import { bertOnnxGraph, bertTensors } from './onnx-bert.js';
import { writeOnnxModel } from './onnx-writer.js';

export interface BertShape {
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  positions: number;
  labels: number;
}

export const BERT_BASE: BertShape = {
  layers: 12,
  hidden: 768,
  heads: 12,
  intermediate: 3072,
  vocab: 30522,
  positions: 512,
  labels: 2,
};

/** Weights drawn like an initialized-then-trained BERT's magnitudes: unit-variance activations through every layer. */
export function randomBertModel(shape: BertShape, seed: number): EncoderModel {
  const rng = new Random(seed);
  const H = shape.hidden;
  const tensor = (dims: number[], std: number, mean = 0): Tensor => {
    const data = rng.float32Array(
      dims.reduce((a, b) => a * b),
      std,
    );
    if (mean) for (let i = 0; i < data.length; i++) data[i] += mean;
    return { shape: dims, data };
  };
  const linear = (out: number, inF: number): Linear => ({
    weight: tensor([out, inF], 1 / Math.sqrt(inF)),
    bias: tensor([out], 0.05),
  });
  const norm = () => ({ gamma: tensor([H], 0.05, 1), beta: tensor([H], 0.05) });
  const layers: EncoderLayerWeights[] = Array.from({ length: shape.layers }, () => ({
    query: linear(H, H),
    key: linear(H, H),
    value: linear(H, H),
    attentionOutput: linear(H, H),
    attentionNorm: norm(),
    intermediate: linear(shape.intermediate, H),
    output: linear(H, shape.intermediate),
    outputNorm: norm(),
  }));
  const config: EncoderConfig = {
    architecture: 'BertForSequenceClassification',
    family: 'bert',
    task: 'sequence-classification',
    hiddenSize: H,
    numLayers: shape.layers,
    numHeads: shape.heads,
    intermediateSize: shape.intermediate,
    vocabSize: shape.vocab,
    maxPositions: shape.positions,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    hiddenAct: 'gelu',
    padTokenId: 0,
    positionOffset: 0,
    labels: Array.from({ length: shape.labels }, (_, i) => `LABEL_${i}`),
  };
  return {
    config,
    weights: {
      wordEmbeddings: tensor([shape.vocab, H], 0.5),
      positionEmbeddings: tensor([shape.positions, H], 0.2),
      tokenTypeEmbeddings: tensor([2, H], 0.2),
      embeddingNorm: norm(),
      layers,
      head: { dense: linear(H, H), activation: 'tanh', output: linear(shape.labels, H) },
    },
  };
}

/** config.json as transformers writes it for BertForSequenceClassification. */
export function hfBertConfig(config: EncoderConfig): Record<string, unknown> {
  return {
    architectures: ['BertForSequenceClassification'],
    model_type: 'bert',
    hidden_act: 'gelu',
    hidden_size: config.hiddenSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    intermediate_size: config.intermediateSize,
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxPositions,
    type_vocab_size: config.typeVocabSize,
    layer_norm_eps: config.layerNormEps,
    pad_token_id: config.padTokenId,
    position_embedding_type: 'absolute',
    id2label: Object.fromEntries(config.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(config.labels.map((l, i) => [l, i])),
    torch_dtype: 'float32',
  };
}

export interface Safetensors {
  bytes: Uint8Array;
  /** Absolute byte range of each tensor in the file. */
  ranges: Map<string, { offset: number; length: number }>;
}

/** A float32 safetensors file; the header is space-padded so the data starts 8-byte aligned. */
export function writeSafetensors(tensors: [string, Tensor][]): Safetensors {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const start = 8 + headerBytes.length;
  const bytes = new Uint8Array(start + at);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  bytes.set(headerBytes, 8);
  const ranges = new Map<string, { offset: number; length: number }>();
  for (const [name, t] of tensors) {
    const [begin, end] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), start + begin);
    ranges.set(name, { offset: start + begin, length: end - begin });
  }
  return { bytes, ranges };
}

/** The ONNX twin whose initializers point into `location` (the safetensors file, relative to the .onnx). */
export function bertOnnxWithExternalWeights(
  model: EncoderModel,
  safetensors: Safetensors,
  location = '../model.safetensors',
): Uint8Array {
  return writeOnnxModel(
    bertOnnxGraph(model, (name) => {
      const range = safetensors.ranges.get(name);
      if (!range) throw new Error(`no tensor ${name} in the safetensors file`);
      return { external: { location, ...range } };
    }),
  );
}

/**
 * Writes the folder (once: a folder with a complete stamp is reused). The tokenizer files come from
 * `tokenizerFolder` (a shared model with the bert-base-uncased vocabulary).
 */
export function writeRandomBertFolder(
  dir: string,
  shape: BertShape,
  seed: number,
  tokenizerFolder: string,
): { created: boolean } {
  const stamp = `${dir}/STAMP.json`;
  const identity = JSON.stringify({ shape, seed, version: 1 });
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === identity) return { created: false };
  mkdirSync(`${dir}/onnx`, { recursive: true });
  const model = randomBertModel(shape, seed);
  const safetensors = writeSafetensors(bertTensors(model));
  writeFileSync(`${dir}/model.safetensors`, safetensors.bytes);
  writeFileSync(`${dir}/onnx/model.onnx`, bertOnnxWithExternalWeights(model, safetensors));
  writeFileSync(`${dir}/config.json`, JSON.stringify(hfBertConfig(model.config), null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt']) {
    if (existsSync(`${tokenizerFolder}/${f}`)) copyFileSync(`${tokenizerFolder}/${f}`, `${dir}/${f}`);
  }
  writeFileSync(stamp, identity);
  return { created: true };
}
