/**
 * One runtime under test inside the benchmark page: loads a model once, then runs token batches.
 * Every runtime gets the same token ids and returns logits to JavaScript, so a latency is always
 * "int64/int32 token ids in, float logits on the CPU out".
 */

export type RuntimeId =
  | 'int8'
  | 'fp32'
  | 'ort-webgpu'
  | 'ort-wasm'
  | 'ort-wasm-int8'
  | 'tjs-webgpu'
  | 'tjs-wasm'
  | 'tjs-webgpu-q8'
  | 'tjs-wasm-q8';

export const RUNTIMES: Record<RuntimeId, string> = {
  int8: 'this project, INT8 (Int8Model, WebGPU)',
  fp32: 'this project, FP32 (Fp32Model, WebGPU)',
  'ort-webgpu': 'onnxruntime-web, webgpu EP, fp32 ONNX twin',
  'ort-wasm': 'onnxruntime-web, wasm EP, fp32 ONNX twin',
  'ort-wasm-int8': "onnxruntime-web, wasm EP, the bench's dynamic-quantized int8 twin (bench/onnx-quantize.ts)",
  'tjs-webgpu': "transformers.js, device webgpu, dtype 'fp32'",
  'tjs-wasm': "transformers.js, device wasm, dtype 'fp32'",
  'tjs-webgpu-q8': "transformers.js, device webgpu, dtype 'q8' (onnx/model_quantized.onnx = the bench's int8 twin)",
  'tjs-wasm-q8': "transformers.js, device wasm, dtype 'q8' (onnx/model_quantized.onnx = the bench's int8 twin)",
};

/**
 * What each runtime computes in: ours INT8 is integer-only with static (calibrated) scales; the
 * peers' int8 paths quantize activations per run (dynamic) and keep attention, norms and the
 * head in float.
 */
export const RUNTIME_DTYPES: Record<RuntimeId, string> = {
  int8: 'int8 static (integer-only)',
  fp32: 'fp32',
  'ort-webgpu': 'fp32',
  'ort-wasm': 'fp32',
  'ort-wasm-int8': 'int8-dynamic',
  'tjs-webgpu': 'fp32',
  'tjs-wasm': 'fp32',
  'tjs-webgpu-q8': 'q8 (int8-dynamic)',
  'tjs-wasm-q8': 'q8 (int8-dynamic)',
};

/** Where one model's files are, as URLs the page can fetch. */
export interface ModelUrls {
  name: string;
  /** The Hugging Face folder (config.json, model.safetensors, tokenizer.json, onnx/model.onnx), ending in "/". */
  folder: string;
  /** This project's integer model file. */
  i8t: string;
  /**
   * A folder holding config.json and onnx/model_quantized.onnx, the self-contained int8 twin (what
   * transformers.js loads for dtype 'q8'), ending in "/"; with the twin's size in bytes.
   */
  quantizedFolder?: string;
  quantizedBytes?: number;
  /** The graph's inputs: DistilBERT has no token_type_ids. */
  tokenTypes: boolean;
}

/** A right-padded batch without padding: every token real, positions 0..S-1, token type 0. */
export interface BenchBatch {
  batch: number;
  seqLen: number;
  inputIds: number[];
}

export interface KernelTime {
  name: string;
  ms: number;
}

/** What a runtime can say about its memory, each figure labelled by what it measures. */
export interface MemoryFacts {
  /** Our encoders: GPU buffer bytes (weights, activations sized for the largest shape run). */
  gpuWeightBytes?: number;
  gpuActivationBytes?: number;
  /** Bytes of the files the runtime loaded (ONNX graph + external weights, or the .i8t file). */
  modelFileBytes?: number;
  /** performance.memory.usedJSHeapSize after loading and after the last cell (Chrome only). */
  jsHeapAfterLoadBytes?: number;
  jsHeapAfterRunsBytes?: number;
}

export interface LoadedRuntime {
  /** Versions and settings that matter to the timings (EP, threads, library versions). */
  facts: Record<string, string | number | boolean>;
  run(batch: BenchBatch): Promise<Float32Array>;
  /** GPU time per kernel of one forward, when the runtime and adapter can tell. */
  profile?(batch: BenchBatch): Promise<KernelTime[] | undefined>;
  memory(): MemoryFacts;
  dispose(): Promise<void>;
}

/** int64 inputs as onnxruntime wants them, built once per batch (outside the timed region). */
export function int64Inputs(b: BenchBatch): { ids: BigInt64Array; mask: BigInt64Array; types: BigInt64Array } {
  const n = b.batch * b.seqLen;
  return {
    ids: BigInt64Array.from(b.inputIds, BigInt),
    mask: new BigInt64Array(n).fill(1n),
    types: new BigInt64Array(n),
  };
}

/** Chrome's JS heap figure, or undefined elsewhere. */
export function jsHeapBytes(): number | undefined {
  return (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
}

export async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
