/**
 * onnxruntime-web 1.30 on the ONNX twin: the graph from onnx/model.onnx, its initializers as
 * external data inside ../model.safetensors handed over as bytes (browsers cannot read paths);
 * or on the bench's int8 twin (bench/onnx-quantize.ts), one self-contained file.
 * The wasm files are served from node_modules by the bench's own server, so nothing is fetched
 * from a CDN.
 */
import * as ort from 'onnxruntime-web/webgpu';
import {
  type BenchBatch,
  fetchBytes,
  int64Inputs,
  type KernelTime,
  type LoadedRuntime,
  type ModelUrls,
} from './runtime.js';

/** onnxruntime-web's WebGPU profiler reports every kernel through this callback while enabled. */
interface ProfilingData {
  kernelName: string;
  kernelType: string;
  startTime: number;
  endTime: number;
}

export async function loadOnnxruntime(
  ep: 'webgpu' | 'wasm',
  urls: ModelUrls,
  wasmPaths: string,
  dtype: 'fp32' | 'int8' = 'fp32',
): Promise<LoadedRuntime> {
  ort.env.wasm.wasmPaths = wasmPaths;
  // Node-placement notices ("some nodes were not assigned to the preferred EP") are not errors.
  ort.env.logLevel = 'error';
  // Every core: the bench page is cross-origin isolated, so wasm threads are available.
  ort.env.wasm.numThreads = navigator.hardwareConcurrency || 1;
  let graph: Uint8Array;
  let weights: Uint8Array = new Uint8Array(0);
  if (dtype === 'int8') {
    if (!urls.quantizedFolder) throw new Error(`${urls.name}: no int8 twin was written for this model`);
    graph = await fetchBytes(`${urls.quantizedFolder}onnx/model_quantized.onnx`);
  } else {
    [graph, weights] = await Promise.all([
      fetchBytes(`${urls.folder}onnx/model.onnx`),
      fetchBytes(`${urls.folder}model.safetensors`),
    ]);
  }
  const session = await ort.InferenceSession.create(graph, {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(dtype === 'fp32' ? { externalData: [{ path: '../model.safetensors', data: weights }] } : {}),
  });
  const fileBytes = graph.length + weights.length;
  const feeds = new Map<BenchBatch, Record<string, ort.Tensor>>();
  const feedsOf = (b: BenchBatch) => {
    let f = feeds.get(b);
    if (!f) {
      const dims = [b.batch, b.seqLen];
      const { ids, mask, types } = int64Inputs(b);
      const all: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', ids, dims),
        attention_mask: new ort.Tensor('int64', mask, dims),
        token_type_ids: new ort.Tensor('int64', types, dims),
      };
      f = Object.fromEntries(session.inputNames.map((n) => [n, all[n]]));
      feeds.set(b, f);
    }
    return f;
  };
  const run = async (b: BenchBatch) => {
    const out = await session.run(feedsOf(b));
    const logits = out.logits.data as Float32Array;
    for (const t of Object.values(out)) t.dispose();
    return logits;
  };
  return {
    facts: {
      onnxruntimeWeb: ort.env.versions.web ?? 'unknown',
      executionProvider: ep,
      model: dtype === 'int8' ? 'onnx/model_quantized.onnx (int8 twin)' : 'onnx/model.onnx (fp32)',
      wasmThreads: ort.env.wasm.numThreads ?? 1,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
    },
    run,
    async profile(b) {
      if (ep !== 'webgpu') return undefined;
      const kernels: KernelTime[] = [];
      ort.env.webgpu.profiling = {
        mode: 'default',
        ondata: (d: ProfilingData) => kernels.push({ name: d.kernelType, ms: (d.endTime - d.startTime) / 1e6 }),
      };
      try {
        await run(b);
      } finally {
        ort.env.webgpu.profiling = { mode: 'off' };
      }
      return kernels.length ? kernels : undefined;
    },
    memory: () => ({ modelFileBytes: fileBytes }),
    async dispose() {
      await session.release();
    },
  };
}
