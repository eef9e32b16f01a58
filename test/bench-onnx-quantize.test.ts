/**
 * The benchmark's int8 twin (bench/onnx-quantize.ts): on a small random BERT written as
 * safetensors + ONNX twin (external data, as the shared twins), onnxruntime-node runs the twin
 * without the external file, every projection runs as MatMulInteger, and the logits stay within a
 * stated bound of the fp32 graph's (the full-size agreement on SST-2 is bench/onnx-quantize-accuracy.ts).
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bertTensors } from '../bench/onnx-bert.js';
import { type QuantizeReport, quantizeColumns, quantizeOnnxDynamic } from '../bench/onnx-quantize.js';
import { bertOnnxWithExternalWeights, randomBertModel, writeSafetensors } from '../bench/random-bert.js';
import { Random } from '../src/util/random.js';

const SHAPE = { layers: 2, hidden: 64, heads: 4, intermediate: 160, vocab: 60, positions: 40, labels: 3 };

describe('per-column symmetric int8 weights', () => {
  it('one scale per column (max |w| / 127), zero exact, values within half a step', () => {
    // B [3, 2]: column 0 spans 2.54, column 1 only 0.127.
    const B = [
      [2.54, 0.127],
      [-1, 0],
      [0.3, -0.05],
    ];
    const { q, scale } = quantizeColumns(3, 2, (k, n) => B[k][n]);
    expect(Array.from(scale)).toEqual([Math.fround(0.02), Math.fround(0.001)]);
    expect(Array.from(q)).toEqual([127, 127, -50, 0, 15, -50]);
    const rng = new Random(3);
    const K = 50;
    const N = 7;
    const w = Array.from({ length: K * N }, () => rng.next() * 2 - 1);
    const r = quantizeColumns(K, N, (k, n) => w[k * N + n]);
    for (let k = 0; k < K; k++)
      for (let n = 0; n < N; n++) {
        expect(Math.abs(r.q[k * N + n])).toBeLessThanOrEqual(127);
        expect(Math.abs(r.q[k * N + n] * r.scale[n] - w[k * N + n])).toBeLessThanOrEqual(r.scale[n] / 2 + 1e-7);
      }
  });
});

describe('dynamic-quantized ONNX twin', () => {
  const model = randomBertModel(SHAPE, 5);
  const safetensors = writeSafetensors(bertTensors(model));
  const onnx = bertOnnxWithExternalWeights(model, safetensors);
  const externalData = [{ path: '../model.safetensors', data: safetensors.bytes }];

  it('refuses external data it was not given, naming the file', () => {
    expect(() => quantizeOnnxDynamic(onnx)).toThrow(/external data in '\.\.\/model\.safetensors'; pass its bytes/);
    expect(() => quantizeOnnxDynamic(new Uint8Array([0x0a, 0xff]))).toThrow(/onnx/);
  });

  it('runs self-contained in onnxruntime-node, every projection int8, logits close to fp32', {
    timeout: 30_000,
  }, async () => {
    const report = {} as QuantizeReport;
    const twin = quantizeOnnxDynamic(onnx, { externalData }, report);
    // Q, K, V, attention output, FFN in and out per layer; pooler and classifier are Gemm and stay float.
    expect(report.quantizedMatMuls).toBe(6 * SHAPE.layers);
    const fp32 = await ort.InferenceSession.create(onnx, { externalData });
    const int8 = await ort.InferenceSession.create(twin);
    const rng = new Random(9);
    try {
      let maxDiff = 0;
      let maxLogit = 0;
      let agree = 0;
      const rows = 16;
      const seqLen = 24;
      const tensor = (f: () => number) =>
        new ort.Tensor(
          'int64',
          BigInt64Array.from({ length: rows * seqLen }, () => BigInt(f())),
          [rows, seqLen],
        );
      const feeds = {
        input_ids: tensor(() => rng.int(0, SHAPE.vocab - 1)),
        attention_mask: tensor(() => 1),
        token_type_ids: tensor(() => rng.int(0, 1)),
      };
      const want = (await fp32.run(feeds)).logits.data as Float32Array;
      const got = (await int8.run(feeds)).logits.data as Float32Array;
      for (let r = 0; r < rows; r++) {
        const row = (x: Float32Array) => Array.from(x.subarray(r * SHAPE.labels, (r + 1) * SHAPE.labels));
        const argmax = (v: number[]) => v.indexOf(Math.max(...v));
        if (argmax(row(want)) === argmax(row(got))) agree++;
      }
      for (let i = 0; i < want.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
        maxLogit = Math.max(maxLogit, Math.abs(want[i]));
      }
      // Quantized for real (not the float graph again), and within 5% of the logits' range.
      expect(maxDiff).toBeGreaterThan(0);
      expect(maxDiff / maxLogit).toBeLessThan(0.05);
      expect(agree).toBeGreaterThanOrEqual(rows - 1);
    } finally {
      await fp32.release();
      await int8.release();
    }
  });
});
