/** The demo page: the built-in integer model classifying what the user types, in the browser. */
import { GpuUnavailableError, Int8Model, formatDeviceReport, requestGpu } from '../src/index.js';
import modelUrl from '../models/sst2-bert-tiny.i8t?url';

const $ = (id: string) => document.getElementById(id)!;
const status = $('status');
const text = $('text') as HTMLTextAreaElement;
const run = $('run') as HTMLButtonElement;
const result = $('result');

async function main(): Promise<void> {
  const gpu = await requestGpu();
  $('device').textContent = formatDeviceReport(gpu);
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`could not load the model (${response.status} ${response.statusText})`);
  const model = await Int8Model.fromBytes(gpu, new Uint8Array(await response.arrayBuffer()), 'built-in model');
  status.textContent = `${model.config.architecture}, ${model.config.numLayers} layers x ${model.config.hiddenSize}, integer-only. Type a movie review:`;
  text.disabled = false;
  run.disabled = false;
  const classify = async () => {
    run.disabled = true;
    try {
      const t0 = performance.now();
      const [p] = await model.classify([text.value]);
      const ms = performance.now() - t0;
      result.className = 'prediction';
      result.textContent = `${p.label} (${(100 * p.score).toFixed(1)}%) in ${ms.toFixed(0)} ms`;
    } catch (e) {
      result.className = 'prediction error';
      result.textContent = (e as Error).message;
    } finally {
      run.disabled = false;
    }
  };
  run.addEventListener('click', classify);
  await classify();
}

main().catch((e: Error) => {
  status.className = 'error';
  status.textContent = e instanceof GpuUnavailableError ? `WebGPU is not available here: ${e.message}` : `error: ${e.message}`;
});
