/**
 * Device loss on a loaded model, simulated by destroying its device (as test/device.test.ts does):
 * a model on a device of the library's rebuilds itself on a new one at its next call and answers as
 * before; a call in flight at the loss rejects with GpuDeviceLostError instead of hanging;
 * `recover: false` and a caller's device give an error saying what happened and what to do.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { acquireSharedGpu } from '../src/gpu/device.js';
import { GpuDeviceLostError, loadModel } from '../src/index.js';
import type { Int8Model } from '../src/session.js';

const texts = [
  'a gorgeous , witty , seductive movie .',
  'the plot is nothing but boilerplate clichés from start to finish .',
];
const logits = async (model: { classify(t: string[]): Promise<{ logits: number[] }[]> }) =>
  (await model.classify(texts)).map((p) => p.logits);

describe('device loss', { timeout: 600_000 }, () => {
  const models: { dispose(): void }[] = [];
  afterAll(() => models.forEach((m) => m.dispose()));

  it('the next call rebuilds the model on a new device and returns the logits it gave before the loss', async () => {
    const model = (await loadModel()) as Int8Model;
    models.push(model);
    const before = await logits(model);
    const lostGpu = model.encoder.gpu;
    lostGpu.device.destroy();
    // No waiting for the loss to be reported: the call made right after it must see it.
    const after = await logits(model);
    expect(after).toEqual(before);
    expect(model.recoveries).toBe(1);
    expect(model.encoder.gpu).not.toBe(lostGpu);
    expect(model.encoder.gpu.lost).toBeUndefined();
    expect(model.memory().weightBytes).toBeGreaterThan(1e6);
  });

  it('a call in flight at the loss rejects with GpuDeviceLostError; the call after it recovers', async () => {
    const model = (await loadModel()) as Int8Model;
    models.push(model);
    const before = await logits(model);
    // Four forwards, one text each: the loss lands while the first waits for the GPU.
    const inFlight = model.classify([texts[0], texts[1], texts[0], texts[1]], { batchSize: 1 });
    const queued = model.classify(texts);
    model.encoder.gpu.device.destroy();
    await expect(inFlight).rejects.toBeInstanceOf(GpuDeviceLostError);
    // Queued behind it, not in flight: it runs on the rebuilt model.
    expect((await queued).map((p) => p.logits)).toEqual(before);
    expect(await logits(model)).toEqual(before);
  });

  it('a loss while the model is being rebuilt (kernels compiling) rejects that call instead of hanging; the next one recovers', async () => {
    const model = (await loadModel()) as Int8Model;
    models.push(model);
    const before = await logits(model);
    model.encoder.gpu.device.destroy();
    const rebuilding = model.classify(texts);
    // The new shared device is the one the rebuild compiles on: lose it too, mid-rebuild.
    const lease = await acquireSharedGpu();
    await new Promise((r) => setTimeout(r, 50));
    lease.gpu.device.destroy();
    lease.release();
    await expect(rebuilding).rejects.toBeInstanceOf(GpuDeviceLostError);
    expect(await logits(model)).toEqual(before);
  });

  it("a caller's device cannot be replaced: calls after its loss reject, saying so", async () => {
    // The shared device as the caller's own: its kernels are compiled already.
    const lease = await acquireSharedGpu();
    try {
      const model = await loadModel('default', { gpu: lease.gpu });
      models.push(model);
      await logits(model);
      lease.gpu.device.destroy();
      const error = await model.classify(texts).catch((e) => e);
      expect(error).toBeInstanceOf(GpuDeviceLostError);
      expect(error.message).toMatch(/was lost/);
      expect(error.message).toMatch(/given by the caller/);
      expect(error.message).toMatch(/requestGpu\(\)/);
    } finally {
      lease.release();
    }
  });
  it('recover: false: calls after a loss reject, saying the device was lost and how to reload', async () => {
    const model = (await loadModel('default', { recover: false })) as Int8Model;
    models.push(model);
    await logits(model);
    model.encoder.gpu.device.destroy();
    const error = await model.classify(texts).catch((e) => e);
    expect(error).toBeInstanceOf(GpuDeviceLostError);
    expect(error.message).toMatch(/classify: the GPU device of this int8 model was lost \(destroyed/);
    expect(error.message).toMatch(/recover: false/);
    expect(error.message).toMatch(/call loadModel\(\) again/);
    // And keeps saying so: nothing was rebuilt behind the caller's back.
    await expect(model.classify(texts)).rejects.toThrow(/recover: false/);
    expect(model.recoveries).toBe(0);
  });
});
