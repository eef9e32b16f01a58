/** Small random encoders of every family, and padded batches for them (tests only). */
import type {
  EncoderConfig,
  EncoderFamily,
  EncoderLayerWeights,
  EncoderModel,
  EncoderTask,
  Linear,
  TokenBatch,
} from '../src/core/types.js';
import { Random } from '../src/util/random.js';

export interface Synthetic {
  name: string;
  family: EncoderFamily;
  task: EncoderTask;
  hidden: number;
  heads: number;
  intermediate: number;
  layers: number;
  typeVocab: number;
  head?: { dense: boolean; activation?: 'tanh' | 'relu' };
  labels: number;
}

export const SYNTHETIC: Synthetic[] = [
  {
    name: 'BERT, hidden 200, 5 heads of 40',
    family: 'bert',
    task: 'sequence-classification',
    hidden: 200,
    heads: 5,
    intermediate: 300,
    layers: 2,
    typeVocab: 2,
    head: { dense: true, activation: 'tanh' },
    labels: 3,
  },
  {
    name: 'DistilBERT, hidden 64, 4 heads',
    family: 'distilbert',
    task: 'sequence-classification',
    hidden: 64,
    heads: 4,
    intermediate: 130,
    layers: 2,
    typeVocab: 0,
    head: { dense: true, activation: 'relu' },
    labels: 2,
  },
  {
    name: 'RoBERTa, hidden 48, 3 heads',
    family: 'roberta',
    task: 'sequence-classification',
    hidden: 48,
    heads: 3,
    intermediate: 96,
    layers: 2,
    typeVocab: 1,
    head: { dense: true, activation: 'tanh' },
    labels: 2,
  },
  {
    name: 'BertModel (mean pooling), hidden 36, 6 heads of 6',
    family: 'bert',
    task: 'embedding',
    hidden: 36,
    heads: 6,
    intermediate: 70,
    layers: 2,
    typeVocab: 2,
    labels: 0,
  },
  {
    name: 'BERT without a dense head, 1 layer',
    family: 'bert',
    task: 'sequence-classification',
    hidden: 32,
    heads: 2,
    intermediate: 64,
    layers: 1,
    typeVocab: 2,
    head: { dense: false },
    labels: 2,
  },
];

/** Two small layers (so that layers and ops can be swapped) of 2 heads of 8: files of ~25 KB, fast to mutate byte by byte. */
export const SMALL_BERT: Synthetic = {
  name: 'small',
  family: 'bert',
  task: 'sequence-classification',
  hidden: 16,
  heads: 2,
  intermediate: 32,
  layers: 2,
  typeVocab: 2,
  head: { dense: true, activation: 'tanh' },
  labels: 2,
};

export const VOCAB = 60;
export const MAX_POSITIONS = 40;

export function syntheticModel(s: Synthetic, seed: number): EncoderModel {
  const rng = new Random(seed);
  const H = s.hidden;
  const tensor = (shape: number[], std: number, mean = 0) => ({
    shape,
    data: rng
      .float32Array(
        shape.reduce((a, b) => a * b),
        std,
      )
      .map((v) => v + mean),
  });
  const linear = (out: number, inF: number): Linear => ({
    weight: tensor([out, inF], 1 / Math.sqrt(inF)),
    bias: tensor([out], 0.1),
  });
  const norm = () => ({ gamma: tensor([H], 0.1, 1), beta: tensor([H], 0.1) });
  const layers: EncoderLayerWeights[] = Array.from({ length: s.layers }, () => ({
    query: linear(H, H),
    key: linear(H, H),
    value: linear(H, H),
    attentionOutput: linear(H, H),
    attentionNorm: norm(),
    intermediate: linear(s.intermediate, H),
    output: linear(H, s.intermediate),
    outputNorm: norm(),
  }));
  const roberta = s.family === 'roberta';
  const config: EncoderConfig = {
    architecture: s.task === 'embedding' ? 'BertModel' : `${s.family}ForSequenceClassification`,
    family: s.family,
    task: s.task,
    hiddenSize: H,
    numLayers: s.layers,
    numHeads: s.heads,
    intermediateSize: s.intermediate,
    vocabSize: VOCAB,
    maxPositions: MAX_POSITIONS,
    typeVocabSize: s.typeVocab,
    layerNormEps: s.family === 'roberta' ? 1e-5 : 1e-12,
    hiddenAct: 'gelu',
    padTokenId: roberta ? 1 : 0,
    positionOffset: roberta ? 2 : 0,
    labels: Array.from({ length: s.labels }, (_, i) => `LABEL_${i}`),
  };
  return {
    config,
    weights: {
      wordEmbeddings: tensor([VOCAB, H], 1),
      positionEmbeddings: tensor([MAX_POSITIONS, H], 0.5),
      tokenTypeEmbeddings: s.typeVocab ? tensor([s.typeVocab, H], 0.3) : undefined,
      embeddingNorm: norm(),
      layers,
      head: s.head
        ? { dense: s.head.dense ? linear(H, H) : undefined, activation: s.head.activation, output: linear(s.labels, H) }
        : undefined,
    },
  };
}

/** A right-padded batch with the position ids each family's tokenizer path produces. */
export function syntheticBatch(config: EncoderConfig, lengths: number[], seqLen: number, seed: number): TokenBatch {
  const rng = new Random(seed);
  const B = lengths.length;
  const batch: TokenBatch = {
    batch: B,
    seqLen,
    inputIds: new Int32Array(B * seqLen).fill(config.padTokenId),
    attentionMask: new Int32Array(B * seqLen),
    tokenTypeIds: new Int32Array(B * seqLen),
    positionIds: new Int32Array(B * seqLen),
  };
  lengths.forEach((n, b) => {
    for (let s = 0; s < seqLen; s++) {
      const i = b * seqLen + s;
      const real = s < n;
      if (real) {
        batch.inputIds[i] = rng.int(2, VOCAB - 1);
        batch.attentionMask[i] = 1;
        batch.tokenTypeIds[i] = config.typeVocabSize > 1 && s >= n / 2 ? 1 : 0;
      }
      // RoBERTa: padding_idx + 1 + index for real tokens, padding_idx for padding.
      batch.positionIds[i] = config.family === 'roberta' ? (real ? config.padTokenId + 1 + s : config.padTokenId) : s;
    }
  });
  return batch;
}
