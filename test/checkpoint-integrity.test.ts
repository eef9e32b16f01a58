/**
 * Float checkpoints from outside: non-finite weights refused with the tensor and position named,
 * absurd or inconsistent config values refused with the key named before anything is sized from
 * them, the size estimate others compare with device limits, and calibration naming the
 * activation that went non-finite. CPU only, synthetic checkpoints.
 */
import { describe, expect, it } from 'vitest';
import { bertSafetensors } from '../bench/onnx-bert.js';
import { RangeObserver } from '../src/calibrate/range-observer.js';
import type { EncoderModel, EncoderWeights, Linear, Tensor } from '../src/core/types.js';
import { countParameters, estimateModelBytes } from '../src/model/config.js';
import { loadEncoderModel } from '../src/model/load.js';
import { type TensorToWrite, writeSafetensors } from '../src/model/safetensors-write.js';
import { memorySource } from '../src/model/sources.js';
import { MAX_POSITIONS, SYNTHETIC, type Synthetic, syntheticModel, VOCAB } from './synthetic.js';

const SMALL: Synthetic = {
  name: 'small',
  family: 'bert',
  task: 'sequence-classification',
  hidden: 32,
  heads: 2,
  intermediate: 64,
  layers: 2,
  typeVocab: 2,
  head: { dense: true, activation: 'tanh' },
  labels: 2,
};

const CONFIG = {
  architectures: ['BertForSequenceClassification'],
  hidden_size: SMALL.hidden,
  num_hidden_layers: SMALL.layers,
  num_attention_heads: SMALL.heads,
  intermediate_size: SMALL.intermediate,
  vocab_size: VOCAB,
  max_position_embeddings: MAX_POSITIONS,
  type_vocab_size: SMALL.typeVocab,
  hidden_act: 'gelu',
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
  id2label: { 0: 'NEGATIVE', 1: 'POSITIVE' },
};

function load(
  options: { config?: Record<string, unknown>; edit?: (t: TensorToWrite[]) => void; dtype?: 'F32' | 'F16' } = {},
): Promise<EncoderModel> {
  const tensors = bertSafetensors(syntheticModel(SMALL, 3), options.dtype);
  options.edit?.(tensors);
  return loadEncoderModel(
    memorySource(
      {
        'config.json': JSON.stringify({ ...CONFIG, ...options.config }),
        'model.safetensors': writeSafetensors(tensors),
      },
      'ckpt',
    ),
  );
}

const tensor = (ts: TensorToWrite[], name: string) => ts.find((t) => t.name === name)!;

describe('non-finite weights are refused at load, naming the tensor', () => {
  it('loads the intact checkpoint', async () => {
    const m = await load();
    expect(m.weights.layers).toHaveLength(2);
  });
  it('NaN', async () => {
    const edit = (ts: TensorToWrite[]) =>
      (tensor(ts, 'bert.encoder.layer.1.output.dense.weight').data[3 * SMALL.intermediate + 5] = Number.NaN);
    await expect(load({ edit })).rejects.toThrow(
      /ckpt: model\.safetensors: tensor "bert\.encoder\.layer\.1\.output\.dense\.weight" holds NaN at \[3, 5\] \(1 non-finite value in all\)/,
    );
  });
  it('-Infinity in the classifier (it used to surface as "head logit scales must be positive")', async () => {
    const edit = (ts: TensorToWrite[]) => (tensor(ts, 'classifier.weight').data[SMALL.hidden] = -Infinity);
    await expect(load({ edit })).rejects.toThrow(/tensor "classifier\.weight" holds -Infinity at \[1, 0\]/);
  });
  it('an infinity from float16 overflow, counting every one', async () => {
    const edit = (ts: TensorToWrite[]) => tensor(ts, 'bert.embeddings.LayerNorm.bias').data.fill(1e6, 4, 7);
    await expect(load({ edit, dtype: 'F16' })).rejects.toThrow(
      /"bert\.embeddings\.LayerNorm\.bias" holds Infinity at \[4\] \(3 non-finite values in all\)/,
    );
  });
});

describe('absurd or inconsistent config values are refused, naming the key', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'layer_norm_eps 1e300',
      { layer_norm_eps: 1e300 },
      /"layer_norm_eps" must be a number in \(0, 0\.1\], got 1e\+300/,
    ],
    ['layer_norm_eps 0', { layer_norm_eps: 0 }, /"layer_norm_eps" must be a number in \(0, 0\.1\], got 0/],
    ['layer_norm_eps 0.5', { layer_norm_eps: 0.5 }, /"layer_norm_eps" must be a number in \(0, 0\.1\]/],
    ['num_hidden_layers 1e9', { num_hidden_layers: 1e9 }, /"num_hidden_layers" = 1000000000 is above 256/],
    ['hidden_size 1e6', { hidden_size: 1e6 }, /"hidden_size" = 1000000 is above 16384/],
    ['intermediate_size 1e9', { intermediate_size: 1e9 }, /"intermediate_size" = 1000000000 is above/],
    ['vocab_size 1e9', { vocab_size: 1e9 }, /"vocab_size" = 1000000000 is above/],
    [
      'max_position_embeddings 1e9',
      { max_position_embeddings: 1e9 },
      /"max_position_embeddings" = 1000000000 is above/,
    ],
    ['num_attention_heads 1e9', { num_attention_heads: 1e9 }, /"num_attention_heads" = 1000000000 is above/],
    ['type_vocab_size 1e9', { type_vocab_size: 1e9 }, /"type_vocab_size" = 1000000000 is above/],
    [
      'hidden not divisible by heads',
      { num_attention_heads: 3 },
      /hidden size 32 is not divisible by the number of attention heads 3 \("hidden_size" \/ "num_attention_heads"\)/,
    ],
    [
      'more layers than the checkpoint holds',
      { num_hidden_layers: 3 },
      /config\.json says 3 layers \("num_hidden_layers"\), the checkpoint holds 2 under "bert\.encoder\.layer\."/,
    ],
    [
      'fewer layers than the checkpoint holds',
      { num_hidden_layers: 1 },
      /config\.json says 1 layers \("num_hidden_layers"\), the checkpoint holds 2/,
    ],
    [
      'a hidden size the tensors do not have',
      { hidden_size: 64 },
      /tensor "bert\.embeddings\.word_embeddings\.weight" has shape \[60, 32\], expected \[60, 64\]/,
    ],
  ];
  it.each(cases)('%s', async (_, config, want) => {
    await expect(load({ config })).rejects.toThrow(want);
  });
});

describe('estimateModelBytes', () => {
  const count = (w: EncoderWeights) => {
    const linears = (ls: (Linear | undefined)[]) =>
      ls.reduce((n, l) => n + (l ? l.weight.data.length + l.bias.data.length : 0), 0);
    const norm = (n: { gamma: Tensor; beta: Tensor }) => n.gamma.data.length + n.beta.data.length;
    let n =
      w.wordEmbeddings.data.length +
      w.positionEmbeddings.data.length +
      (w.tokenTypeEmbeddings?.data.length ?? 0) +
      norm(w.embeddingNorm);
    for (const l of w.layers)
      n +=
        linears([l.query, l.key, l.value, l.attentionOutput, l.intermediate, l.output]) +
        norm(l.attentionNorm) +
        norm(l.outputNorm);
    return n + linears([w.head?.dense, w.head?.output]);
  };
  // The real architectures all have a dense layer before the classifier (the synthetic dense-less head has none).
  it.each(SYNTHETIC.filter((s) => s.task === 'embedding' || s.head?.dense).map((s) => [s.name, s] as const))(
    'counts every parameter of %s',
    (_, s) => {
      const m = syntheticModel(s, 1);
      expect(countParameters(m.config)).toBe(count(m.weights));
    },
  );
  it('covers the float32 weights and the largest activation at full length', () => {
    const m = syntheticModel(SMALL, 1);
    const e = estimateModelBytes(m.config);
    expect(e.weights).toBe(4 * count(m.weights));
    const L = m.config.maxPositions;
    expect(e.largestActivation).toBeGreaterThanOrEqual(4 * Math.max(SMALL.heads * L * L, L * SMALL.intermediate));
    expect(e.largestWeight).toBeGreaterThanOrEqual(
      4 * Math.max(...Object.values(m.weights.layers[0]).map((l) => (l as Linear).weight?.data.length ?? 0)),
    );
    expect(e.total).toBe(e.weights + e.largestActivation);
  });
});

describe('calibration', () => {
  it('names the activation that went non-finite, and counts nothing of that batch', () => {
    const observer = new RangeObserver();
    observer.observe('layer.1.gelu', [0.5, -2]);
    expect(() => observer.observe('layer.1.gelu', [1, 3, Number.NaN])).toThrow(
      /non-finite value \(NaN\) in activation "layer\.1\.gelu" at index 2 of 3/,
    );
    expect(() => observer.observe('layer.0.query', [-Infinity])).toThrow(
      /\(-Infinity\) in activation "layer\.0\.query"/,
    );
    expect(observer.get('layer.1.gelu').count).toBe(2);
    expect(observer.get('layer.1.gelu').maxAbs).toBe(2);
  });
});
