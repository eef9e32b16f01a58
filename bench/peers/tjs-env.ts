/**
 * transformers.js set up for the benchmark pages that import it lazily (generate-page.ts,
 * translate-page.ts): offline, the model found on the bench server under env.localModelPath, its
 * own onnxruntime-web wasm files with one thread per core; and the facts a result records.
 */
type TjsEnv = typeof import('@huggingface/transformers')['env'];

export interface TjsLocalModel {
  /** The id to pass to from_pretrained: the folder's last segment. */
  id: string;
  facts(device: 'webgpu' | 'wasm'): Record<string, string | number | boolean>;
}

export function useLocalModel(env: TjsEnv, folderUrl: string, wasmPath: string): TjsLocalModel {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useBrowserCache = false;
  const folder = folderUrl.replace(/\/$/, '');
  env.localModelPath = `${folder.slice(0, folder.lastIndexOf('/'))}/`;
  const onnxBackend = env.backends.onnx as {
    wasm?: { wasmPaths?: string; numThreads?: number };
    versions?: Record<string, string>;
  };
  if (onnxBackend.wasm) {
    onnxBackend.wasm.wasmPaths = wasmPath;
    onnxBackend.wasm.numThreads = navigator.hardwareConcurrency || 1;
  }
  return {
    id: folder.slice(folder.lastIndexOf('/') + 1),
    facts: (device) => ({
      transformersJs: env.version,
      device,
      onnxruntimeWeb: onnxBackend.versions?.web ?? 'bundled with transformers.js',
      wasmThreads: onnxBackend.wasm?.numThreads ?? 1,
    }),
  };
}

/** The browser's WebGPU adapter in one line (what transformers.js webgpu runs on). */
export async function adapterSummary(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return 'no WebGPU adapter';
  const i = adapter.info;
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || '(no info)';
}
