/**
 * The float encoder on WebGPU against (a) the float64 reference forward on small random models
 * of every family and (b) onnxruntime on the real SST-2 checkpoints' ONNX twins (when ../shared
 * is there). Tolerance 1e-4 on logits in both: f32 rounding through a few layers of these sizes
 * stays near 1e-6, so 1e-4 catches any semantic difference (a wrong mask, eps or op order would
 * show as 1e-3 or more) without depending on the summation order.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloatEncoder } from '../src/model/float-model.js';
import type { EncoderConfig, EncoderFamily, EncoderLayerWeights, EncoderModel, EncoderTask, Linear, TokenBatch } from '../src/model/types.js';
import { floatEncoderRef } from '../src/reference/float-encoder.js';
import { Random } from '../src/util/random.js';
import { testGpu } from './gpu.js';

const LOGIT_TOLERANCE = 1e-4;

interface Synthetic {
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

const SYNTHETIC: Synthetic[] = [
  { name: 'BERT, hidden 200, 5 heads of 40', family: 'bert', task: 'sequence-classification', hidden: 200, heads: 5, intermediate: 300, layers: 2, typeVocab: 2, head: { dense: true, activation: 'tanh' }, labels: 3 },
  { name: 'DistilBERT, hidden 64, 4 heads', family: 'distilbert', task: 'sequence-classification', hidden: 64, heads: 4, intermediate: 130, layers: 2, typeVocab: 0, head: { dense: true, activation: 'relu' }, labels: 2 },
  { name: 'RoBERTa, hidden 48, 3 heads', family: 'roberta', task: 'sequence-classification', hidden: 48, heads: 3, intermediate: 96, layers: 2, typeVocab: 1, head: { dense: true, activation: 'tanh' }, labels: 2 },
  { name: 'BertModel (mean pooling), hidden 36, 6 heads of 6', family: 'bert', task: 'embedding', hidden: 36, heads: 6, intermediate: 70, layers: 2, typeVocab: 2, labels: 0 },
  { name: 'BERT without a dense head, 1 layer', family: 'bert', task: 'sequence-classification', hidden: 32, heads: 2, intermediate: 64, layers: 1, typeVocab: 2, head: { dense: false }, labels: 2 },
];

const VOCAB = 60;
const MAX_POSITIONS = 40;

function syntheticModel(s: Synthetic, seed: number): EncoderModel {
  const rng = new Random(seed);
  const H = s.hidden;
  const tensor = (shape: number[], std: number, mean = 0) => ({ shape, data: rng.float32Array(shape.reduce((a, b) => a * b), std).map((v) => v + mean) });
  const linear = (out: number, inF: number): Linear => ({ weight: tensor([out, inF], 1 / Math.sqrt(inF)), bias: tensor([out], 0.1) });
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
      head: s.head ? { dense: s.head.dense ? linear(H, H) : undefined, activation: s.head.activation, output: linear(s.labels, H) } : undefined,
    },
  };
}

/** A right-padded batch with the position ids each family's tokenizer path produces. */
function syntheticBatch(config: EncoderConfig, lengths: number[], seqLen: number, seed: number): TokenBatch {
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

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

describe('FloatEncoder vs the float64 reference forward', () => {
  const report: string[] = [];
  afterAll(() => {
    if (report.length) console.log(`max |output difference| vs the float64 reference:\n${report.join('\n')}`);
  });
  SYNTHETIC.forEach((s, i) => {
    it(s.name, async () => {
      const gpu = await testGpu();
      const model = syntheticModel(s, 100 + i);
      const encoder = await FloatEncoder.create(gpu, model);
      try {
        const batch = syntheticBatch(model.config, [17, 9, 1], 17, 200 + i);
        const got = await encoder.forward(batch);
        const want = floatEncoderRef(model, batch);
        const out = s.task === 'embedding' ? got.embeddings! : got.logits!;
        const ref = s.task === 'embedding' ? want.embeddings! : want.logits!;
        expect(out.length).toBe(3 * (s.task === 'embedding' ? s.hidden : s.labels));
        expect(maxAbs(ref)).toBeGreaterThan(1e-2);
        const diff = maxAbsDiff(out, ref);
        report.push(`  ${s.name}: ${diff.toExponential(2)} (outputs up to ${maxAbs(ref).toFixed(2)})`);
        expect(diff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
        // A smaller batch reuses the buffers; a longer one grows them.
        const small = syntheticBatch(model.config, [5, 3], 5, 300 + i);
        const smallGot = await encoder.forward(small);
        const smallWant = floatEncoderRef(model, small);
        expect(maxAbsDiff((smallGot.logits ?? smallGot.embeddings)!, (smallWant.logits ?? smallWant.embeddings)!)).toBeLessThanOrEqual(LOGIT_TOLERANCE);
        const long = syntheticBatch(model.config, [30, 22], 30, 400 + i);
        const longGot = await encoder.forward(long);
        const longWant = floatEncoderRef(model, long);
        expect(maxAbsDiff((longGot.logits ?? longGot.embeddings)!, (longWant.logits ?? longWant.embeddings)!)).toBeLessThanOrEqual(LOGIT_TOLERANCE);
      } finally {
        encoder.dispose();
      }
    });
  });

  it('captures every activation the integer model quantizes, equal to the reference', async () => {
    const gpu = await testGpu();
    const model = syntheticModel(SYNTHETIC[0], 100);
    const encoder = await FloatEncoder.create(gpu, model);
    try {
      const batch = syntheticBatch(model.config, [11, 6], 11, 500);
      const got = await encoder.forward(batch, { capture: true });
      const want = floatEncoderRef(model, batch, { capture: true });
      const names = [...want.captures.keys()].sort();
      expect([...got.captures!.keys()].sort()).toEqual(names);
      expect(names).toContain('layer.1.attention_residual');
      for (const name of names) {
        const ref = want.captures.get(name)!;
        // Relative to the tensor's scale: GELU inputs and residual sums reach ~10.
        expect(maxAbsDiff(got.captures!.get(name)!, ref), name).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
      }
      const plain = await encoder.forward(batch);
      expect(maxAbsDiff(plain.logits!, got.logits!)).toBeLessThanOrEqual(1e-6);
    } finally {
      encoder.dispose();
    }
  });

  it('refuses malformed batches', async () => {
    const gpu = await testGpu();
    const model = syntheticModel(SYNTHETIC[4], 104);
    const encoder = await FloatEncoder.create(gpu, model);
    try {
      const batch = syntheticBatch(model.config, [3], 3, 600);
      batch.inputIds[1] = VOCAB;
      await expect(encoder.forward(batch)).rejects.toThrow(RangeError);
      const empty = syntheticBatch(model.config, [3, 0], 3, 601);
      await expect(encoder.forward(empty)).rejects.toThrow(/no real token/);
    } finally {
      encoder.dispose();
    }
  });
});

const SHARED = new URL('../../shared/', import.meta.url);
const sharedPath = (p: string) => fileURLToPath(new URL(p, SHARED));
const ONNX_MODELS = ['sst2-bert-tiny', 'sst2-distilbert-mini', 'sst2-bert-minilm-l6'];
const SENTENCES = 16;

describe.skipIf(!existsSync(sharedPath('models/sst2-bert-tiny/onnx/model.onnx')))('FloatEncoder vs onnxruntime on the SST-2 checkpoints', () => {
  let sentences: string[] = [];
  beforeAll(() => {
    const lines = readFileSync(sharedPath('data/glue/sst2/dev.tsv'), 'utf8').split('\n');
    expect(lines[0].split('\t')).toEqual(['sentence', 'label']);
    sentences = lines.slice(1).filter((l) => l.trim()).slice(0, SENTENCES).map((l) => l.split('\t')[0]);
  });
  const report: string[] = [];
  afterAll(() => {
    if (report.length) console.log(`max |logit difference| vs onnxruntime:\n${report.join('\n')}`);
  });

  for (const name of ONNX_MODELS) {
    it(name, async () => {
      const ort = await import('onnxruntime-node');
      const { loadEncoderModel } = await import('../src/model/load.js');
      const { folderSource } = await import('../src/model/sources-node.js');
      const { loadTokenizer } = await import('../src/model/tokenizer.js');
      const dir = sharedPath(`models/${name}`);
      const files = folderSource(dir);
      const model = await loadEncoderModel(files);
      const tokenizer = await loadTokenizer(files, model.config);
      const batch = tokenizer.encodeBatch(sentences);

      const session = await ort.InferenceSession.create(`${dir}/onnx/model.onnx`, {
        externalData: [{ path: '../model.safetensors', data: readFileSync(`${dir}/model.safetensors`) }],
      });
      const dims = [batch.batch, batch.seqLen];
      const int64 = (v: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), dims);
      const available: Record<string, Int32Array> = {
        input_ids: batch.inputIds,
        attention_mask: batch.attentionMask,
        token_type_ids: batch.tokenTypeIds,
        position_ids: batch.positionIds,
      };
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const input of session.inputNames) {
        if (!available[input]) throw new Error(`${name}: unexpected ONNX input ${input}`);
        feeds[input] = int64(available[input]);
      }
      const want = (await session.run(feeds)).logits.data as Float32Array;
      await session.release();

      const encoder = await FloatEncoder.create(await testGpu(), model);
      try {
        const got = (await encoder.forward(batch)).logits!;
        const diff = maxAbsDiff(got, want);
        report.push(`  ${name}: ${diff.toExponential(2)} (${batch.batch} x ${batch.seqLen} tokens, logits up to ${maxAbs(want).toFixed(2)})`);
        expect(maxAbs(want)).toBeGreaterThan(0.5);
        expect(diff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
      } finally {
        encoder.dispose();
      }
    });
  }
});
