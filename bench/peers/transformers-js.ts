/**
 * transformers.js 4.3.1 on the same ONNX twin. Offline: remote models are off and the model is
 * found under env.localModelPath (the bench server). The twin's weights are external data inside
 * ../model.safetensors, a layout transformers.js does not look for by itself (it only knows
 * onnx/model.onnx_data chunks), so the bytes are handed to it through session_options.externalData,
 * which it forwards to onnxruntime-web. transformers.js brings its own onnxruntime-web build.
 * dtype 'q8' loads onnx/model_quantized.onnx from the staging folder the bench writes beside the
 * model (config.json + the self-contained int8 twin), as transformers.js would from a hub repo.
 */
import { AutoModelForSequenceClassification, env, Tensor } from '@huggingface/transformers';
import { type BenchBatch, fetchBytes, int64Inputs, type LoadedRuntime, type ModelUrls } from './runtime.js';

export async function loadTransformersJs(
  device: 'webgpu' | 'wasm',
  urls: ModelUrls,
  wasmPaths: string,
  dtype: 'fp32' | 'q8' = 'fp32',
): Promise<LoadedRuntime> {
  if (dtype === 'q8' && !urls.quantizedFolder) throw new Error(`${urls.name}: no int8 twin was written for this model`);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useBrowserCache = false;
  // The model id is the folder's last segment; its parent is the local model root.
  const folder = (dtype === 'q8' ? urls.quantizedFolder! : urls.folder).replace(/\/$/, '');
  env.localModelPath = `${folder.slice(0, folder.lastIndexOf('/'))}/`;
  const id = folder.slice(folder.lastIndexOf('/') + 1);
  const onnxBackend = env.backends.onnx as {
    wasm?: { wasmPaths?: string; numThreads?: number };
    versions?: Record<string, string>;
  };
  if (onnxBackend.wasm) {
    onnxBackend.wasm.wasmPaths = wasmPaths;
    onnxBackend.wasm.numThreads = navigator.hardwareConcurrency || 1;
  }
  let weights: Uint8Array = new Uint8Array(0);
  let graphBytes = urls.quantizedBytes ?? 0;
  if (dtype === 'fp32') {
    weights = await fetchBytes(`${urls.folder}model.safetensors`);
    graphBytes = (await fetchBytes(`${urls.folder}onnx/model.onnx`)).length;
  }
  const model = await AutoModelForSequenceClassification.from_pretrained(id, {
    device,
    dtype,
    local_files_only: true,
    session_options: {
      logSeverityLevel: 3,
      ...(dtype === 'fp32' ? { externalData: [{ path: '../model.safetensors', data: weights }] } : {}),
    },
  });
  const feeds = new Map<BenchBatch, Record<string, Tensor>>();
  const feedsOf = (b: BenchBatch) => {
    let f = feeds.get(b);
    if (!f) {
      const dims = [b.batch, b.seqLen];
      const { ids, mask, types } = int64Inputs(b);
      f = { input_ids: new Tensor('int64', ids, dims), attention_mask: new Tensor('int64', mask, dims) };
      if (urls.tokenTypes) f.token_type_ids = new Tensor('int64', types, dims);
      feeds.set(b, f);
    }
    return f;
  };
  return {
    facts: {
      transformersJs: env.version,
      device,
      dtype,
      onnxruntimeWeb: onnxBackend.versions?.web ?? 'bundled with transformers.js',
      wasmThreads: onnxBackend.wasm?.numThreads ?? 1,
      weightsPassedAs: dtype === 'fp32' ? 'session_options.externalData' : 'inside onnx/model_quantized.onnx',
    },
    async run(b) {
      const out = (await model(feedsOf(b))) as { logits: Tensor };
      return out.logits.data as Float32Array;
    },
    memory: () => ({ modelFileBytes: graphBytes + weights.length }),
    async dispose() {
      await model.dispose();
    },
  };
}
