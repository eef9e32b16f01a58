/**
 * The benchmark's hand-written ONNX graph computes what our float model computes: a small random
 * BERT classifier written as safetensors + ONNX twin (external data, as the shared twins), run by
 * onnxruntime-node, against the float model graph on WebGPU, on padded batches of several lengths.
 */

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { bertTensors } from '../bench/onnx-bert.js';
import { ProtoWriter } from '../bench/onnx-writer.js';
import { bertOnnxWithExternalWeights, randomBertModel, writeSafetensors } from '../bench/random-bert.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { parseSafetensors } from '../src/model/safetensors.js';
import { mapWeights } from '../src/model/weights.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';
import { testGpu } from './gpu.js';
import { syntheticBatch } from './synthetic.js';

const SHAPE = { layers: 2, hidden: 64, heads: 4, intermediate: 160, vocab: 60, positions: 40, labels: 3 };

describe('protobuf wire format', () => {
  it('writes varints, negative int64, fixed32 floats and nested messages as protobuf does', () => {
    // Reference bytes worked out by hand from the protobuf encoding rules.
    expect([...new ProtoWriter().int(1, 150).finish()]).toEqual([0x08, 0x96, 0x01]);
    expect([...new ProtoWriter().int(3, -1).finish()]).toEqual([
      0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    expect([...new ProtoWriter().float(2, 1).finish()]).toEqual([0x15, 0x00, 0x00, 0x80, 0x3f]);
    expect([...new ProtoWriter().string(2, 'ab').finish()]).toEqual([0x12, 0x02, 0x61, 0x62]);
    expect([...new ProtoWriter().message(7, new ProtoWriter().int(1, 1)).finish()]).toEqual([0x3a, 0x02, 0x08, 0x01]);
  });
});

describe('random BERT as safetensors + ONNX twin', () => {
  it('the safetensors file reads back into the same weights with our importer', () => {
    const model = randomBertModel(SHAPE, 7);
    const { bytes } = writeSafetensors(bertTensors(model));
    const weights = mapWeights(parseSafetensors(bytes, 'random'), model.config, 'random');
    expect(weights.layers[1].output.weight.data).toEqual(model.weights.layers[1].output.weight.data);
    expect(weights.head!.output.bias.data).toEqual(model.weights.head!.output.bias.data);
  });

  it('onnxruntime-node on the ONNX twin gives the logits of FloatGraphGpu (padded batches)', {
    timeout: 60_000,
  }, async () => {
    const model = randomBertModel(SHAPE, 11);
    const safetensors = writeSafetensors(bertTensors(model));
    const onnx = bertOnnxWithExternalWeights(model, safetensors);
    const session = await ort.InferenceSession.create(onnx, {
      externalData: [{ path: '../model.safetensors', data: safetensors.bytes }],
    });
    const encoder = await FloatGraphGpu.create(await testGpu(), modelGraph(model), encoderParams(model.weights));
    try {
      for (const [lengths, seqLen] of [
        [[5], 5],
        [[12, 3, 7], 12],
        [[40, 40], 40],
      ] as [number[], number][]) {
        const batch = syntheticBatch(model.config, lengths, seqLen, seqLen);
        const int64 = (v: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [batch.batch, seqLen]);
        const out = await session.run({
          input_ids: int64(batch.inputIds),
          attention_mask: int64(batch.attentionMask),
          token_type_ids: int64(batch.tokenTypeIds),
        });
        const want = out.logits.data as Float32Array;
        const got = (await encoder.forward(batch)).logits!;
        expect(out.logits.dims).toEqual([batch.batch, SHAPE.labels]);
        // Non-trivial logits, so that agreement means something.
        expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.1);
        const diff = Math.max(...got.map((g, i) => Math.abs(g - want[i])));
        expect(diff).toBeLessThan(1e-4);
      }
    } finally {
      encoder.dispose();
      await session.release();
    }
  });
});
