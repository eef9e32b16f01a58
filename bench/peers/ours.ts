/** This project's two models in the benchmark page: Int8Model (.i8t) and Fp32Model (the HF folder). */

import type { EncoderConfig, TokenBatch } from '../../src/core/types.js';
import { requestGpu } from '../../src/gpu/device.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { urlSource } from '../../src/model/sources.js';
import { Fp32Model, Int8Model } from '../../src/session.js';
import { type BenchBatch, fetchBytes, type LoadedRuntime, type ModelUrls } from './runtime.js';

/** The benchmark batch as our encoders take it: every token real. */
export function tokenBatch(b: BenchBatch, config: EncoderConfig): TokenBatch {
  const n = b.batch * b.seqLen;
  return {
    batch: b.batch,
    seqLen: b.seqLen,
    inputIds: Int32Array.from(b.inputIds),
    attentionMask: new Int32Array(n).fill(1),
    tokenTypeIds: new Int32Array(n),
    positionIds: Int32Array.from({ length: n }, (_, i) => config.positionOffset + (i % b.seqLen)),
  };
}

export async function loadOurs(
  kind: 'int8' | 'fp32',
  urls: ModelUrls,
  gpu?: Gpu,
): Promise<LoadedRuntime & { gpu: Gpu }> {
  const device = gpu ?? (await requestGpu());
  let fileBytes: number;
  let model: Int8Model | Fp32Model;
  if (kind === 'int8') {
    const bytes = await fetchBytes(urls.i8t);
    fileBytes = bytes.length;
    model = await Int8Model.fromBytes(device, bytes, urls.i8t);
  } else {
    // The float model reads config.json, model.safetensors and the tokenizer from the folder.
    const source = urlSource(urls.folder);
    fileBytes = (await source.read('model.safetensors')).length;
    model = await Fp32Model.fromFiles(device, source);
  }
  const encoder = model.encoder;
  const batches = new Map<BenchBatch, TokenBatch>();
  const prepared = (b: BenchBatch) => {
    let batch = batches.get(b);
    if (!batch) {
      batch = tokenBatch(b, model.config);
      batches.set(b, batch);
    }
    return batch;
  };
  return {
    gpu: device,
    facts: { timestampQuery: device.features.timestampQuery, adapterIsSoftware: device.adapter.isSoftware },
    async run(b) {
      if (model instanceof Int8Model) return model.logitsOf((await model.encoder.forward(prepared(b))).output);
      return (await model.encoder.forward(prepared(b))).logits!;
    },
    async profile(b) {
      if (!device.features.timestampQuery) return undefined;
      return (await encoder.forward(prepared(b), { profile: true })).kernels;
    },
    memory() {
      const m = encoder.memory();
      return { gpuWeightBytes: m.weightBytes, gpuActivationBytes: m.activationBytes, modelFileBytes: fileBytes };
    },
    async dispose() {
      model.dispose();
    },
  };
}
