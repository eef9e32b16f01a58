/**
 * The float encoder on WebGPU against (a) the float64 reference forward on small random models
 * of every family and (b) onnxruntime on the real SST-2 checkpoints' ONNX twins (when ../shared
 * is there). Tolerance 1.2e-6 on outputs in both, the figure the README states: with outputs of
 * magnitude 1-3 that is 5-10 float32 ulps, what f32 rounding through these few layers leaves
 * (measured on SwiftShader: at most 8.2e-7 against the float64 reference, 1.19e-6 against
 * onnxruntime-node on all three checkpoints). A wrong mask, eps or op order shows as 1e-3 or more.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FloatEncoder } from '../src/model/float-model.js';
import { SYNTHETIC, VOCAB, syntheticBatch, syntheticModel } from './synthetic.js';
import { floatEncoderRef } from '../src/reference/float-encoder.js';
import { testGpu } from './gpu.js';

const LOGIT_TOLERANCE = 1.2e-6;

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
      // Arrays must be exactly batch x seqLen: a short one would leave the last batch's ids in the buffer.
      const short = syntheticBatch(model.config, [3, 2], 3, 602);
      await expect(encoder.forward({ ...short, inputIds: short.inputIds.subarray(0, 5) })).rejects.toThrow(/inputIds has 5 values, expected batch 2 x seqLen 3 = 6/);
      const mask = syntheticBatch(model.config, [3], 3, 603);
      mask.attentionMask[2] = 2;
      await expect(encoder.forward(mask)).rejects.toThrow(/attentionMask\[2\] = 2 must be 0 or 1/);
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
