/**
 * A model is compared with the device before any GPU buffer is made: a tensor larger than the
 * device can create or bind is refused naming the tensor and the limit (here with limits mocked
 * small on the real device, and nothing may be allocated); a software adapter's total is guarded
 * against free host memory.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkDeviceFits, type DeviceNeeds, GpuLimitError } from '../src/gpu/device.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { modelGraph } from '../src/graph/architectures.js';
import { builtInModelUrl, loadModel } from '../src/index.js';
import type { ModelFiles } from '../src/model/sources.js';
import { Fp32Model, floatModelNeeds } from '../src/session.js';
import { Random } from '../src/util/random.js';
import { testGpu } from './gpu.js';
import { SYNTHETIC, syntheticModel } from './synthetic.js';

/** The real device, reporting smaller limits. */
function withLimits(gpu: Gpu, limits: Partial<Gpu['limits']>): Gpu {
  return Object.assign(Object.create(gpu) as Gpu, { limits: { ...gpu.limits, ...limits } });
}

/** Counts buffers created on the device while the test runs. */
function countBuffers(gpu: Gpu) {
  return vi.spyOn(gpu.device, 'createBuffer');
}

const noFiles: ModelFiles = {
  describe: 'no files (nothing may be read before the limits check)',
  has: async () => false,
  read: async (name) => {
    throw new Error(`read ${name} before the limits check`);
  },
};

/** A one-layer BERT (hidden 32) whose word embeddings, 5000 x 32 floats = 640000 bytes, are by far its largest tensor. */
function bigVocabModel() {
  const model = syntheticModel(SYNTHETIC[4], 7);
  const vocab = 5000;
  model.config.vocabSize = vocab;
  model.weights.wordEmbeddings = { shape: [vocab, 32], data: new Random(1).float32Array(vocab * 32, 1) };
  return model;
}

describe('device limits before allocation', () => {
  afterEach(() => vi.restoreAllMocks());

  it('refuses a synthetic model whose word embeddings exceed maxStorageBufferBindingSize, naming tensor and limit, creating nothing', async () => {
    const gpu = await testGpu();
    const model = bigVocabModel();
    const small = withLimits(gpu, { maxStorageBufferBindingSize: 600_000 });
    const created = countBuffers(gpu);
    const error = await Fp32Model.fromFiles(small, noFiles, model).catch((e) => e);
    expect(error).toBeInstanceOf(GpuLimitError);
    expect(error.message).toMatch(/tensor "embeddings\.word" needs 640000 bytes/);
    expect(error.message).toMatch(/maxStorageBufferBindingSize of 600000 bytes/);
    expect(created).not.toHaveBeenCalled();
    // Within the limit the same check lets it through (it fails later only for want of a tokenizer).
    const roomy = withLimits(gpu, { maxStorageBufferBindingSize: 640_000 });
    await expect(Fp32Model.fromFiles(roomy, noFiles, model)).rejects.toThrow(/read tokenizer|tokenizer/);
  });

  it('names maxBufferSize when that is the smaller limit', async () => {
    const gpu = await testGpu();
    const small = withLimits(gpu, { maxBufferSize: 500_000 });
    await expect(Fp32Model.fromFiles(small, noFiles, bigVocabModel())).rejects.toThrow(
      /"embeddings\.word" needs 640000 bytes .* maxBufferSize of 500000 bytes/,
    );
  });

  it('counts the fused q|k|v matrix the float runtime makes, not only the separate weights', async () => {
    const model = syntheticModel(SYNTHETIC[0], 3); // hidden 200: q, k, v 200 x 200 each
    const needs = floatModelNeeds(model, modelGraph(model));
    const qkv = needs.weights.find((w) => w.name.includes('|'));
    expect(qkv?.bytes).toBe(3 * 200 * 200 * 4);
  });

  it('loadModel refuses the built-in int8 model on a device binding less than its packed word embeddings, before allocating', async () => {
    const gpu = await testGpu();
    // 30522 tokens x 128 int8 = 3906816 bytes packed.
    const small = withLimits(gpu, { maxStorageBufferBindingSize: 2 ** 21 });
    const created = countBuffers(gpu);
    const error = await loadModel(fileURLToPath(builtInModelUrl('int8')), { gpu: small }).catch((e) => e);
    expect(error).toBeInstanceOf(GpuLimitError);
    expect(error.message).toMatch(/\.word" needs 3906816 bytes/);
    expect(error.message).toMatch(/maxStorageBufferBindingSize of 2097152 bytes/);
    expect(created).not.toHaveBeenCalled();
  });

  it('a buffer above maxStorageBufferBindingSize is refused at creation too (storage buffers are bound whole)', async () => {
    const gpu = await testGpu();
    const small = withLimits(gpu, { maxStorageBufferBindingSize: 1024 });
    expect(() => small.storage('activation.0', 2048)).toThrow(
      /"activation\.0" needs 2048 bytes; this adapter binds at most 1024 \(maxStorageBufferBindingSize\)/,
    );
  });
});

describe('checkDeviceFits', () => {
  const needs: DeviceNeeds = {
    weights: [{ name: 'w', bytes: 400 }],
    largestActivation: { name: 'attention scores (batch 1, 512 tokens)', bytes: 700 },
  };
  const fake = (isSoftware: boolean) =>
    ({
      limits: { maxBufferSize: 1000, maxStorageBufferBindingSize: 600 },
      adapter: { isSoftware, vendor: 'v', architecture: '', description: '' },
      runtime: 'node',
    }) as unknown as Gpu;

  it("names an activation that exceeds the limit at the model's own length", async () => {
    await expect(checkDeviceFits(fake(false), needs, 'm')).rejects.toThrow(
      /m: activation "attention scores \(batch 1, 512 tokens\)" needs 700 bytes/,
    );
  });

  it('on a software adapter, refuses a total above free memory unless memoryGuard is false; a hardware adapter is not guarded', async () => {
    const fits: DeviceNeeds = { weights: [{ name: 'w', bytes: 500 }], largestActivation: { name: 'a', bytes: 500 } };
    await expect(checkDeviceFits(fake(true), fits, 'm', { freeMemory: 999 })).rejects.toThrow(
      /needs at least 1000 bytes of device memory .* 999 bytes free.*memoryGuard: false/,
    );
    await expect(checkDeviceFits(fake(true), fits, 'm', { freeMemory: 1000 })).resolves.toBeUndefined();
    await expect(
      checkDeviceFits(fake(true), fits, 'm', { freeMemory: 999, memoryGuard: false }),
    ).resolves.toBeUndefined();
    await expect(checkDeviceFits(fake(false), fits, 'm', { freeMemory: 999 })).resolves.toBeUndefined();
  });
});
