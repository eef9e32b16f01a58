/**
 * The translation benchmark inside a browser page: one runtime per page (ours through the public
 * loadModel / translate, transformers.js through AutoModelForSeq2SeqLM.generate on the ONNX twin).
 * bench/translate.ts keeps one page per runtime open and calls them in turn (window.__tr*), so the
 * runtimes' runs interleave.
 */
import { loadModel } from '../src/api.js';
import { requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import type { TextModel } from '../src/index.js';
import { fetchBytes } from './peers/runtime.js';
import { adapterSummary, useLocalModel } from './peers/tjs-env.js';
import type { TrRuntimeId } from './translate-plan.js';

export interface TrLoadSpec {
  runtime: TrRuntimeId;
  /** The Hugging Face folder, ending in "/" (its onnx/ twin for transformers.js). */
  folder: string;
  /** Our integer model file. */
  i8t: string;
  /** transformers.js's own onnxruntime-web wasm files. */
  wasmPath: string;
}

export interface TrLoadInfo {
  loadMs: number;
  adapter: string;
  facts: Record<string, string | number | boolean>;
  /** Bytes of the files the runtime read (the .i8t, model.safetensors, or both ONNX graphs). */
  fileBytes: number;
}

export interface TrRunRequest {
  /** The sentences as text (ours) and as source ids with eos (transformers.js), the same ids. */
  texts: string[];
  ids: number[][];
  numBeams: number;
  maxNewTokens: number;
  padId: number;
}

export interface TrRunResult {
  totalMs: number;
  /** Each sentence's generated row as the runtime returns it (transformers.js: with the decoder start, past eos). */
  rows: number[][];
  /** GPU memory of our models after the run. */
  memory?: Record<string, number | undefined>;
}

declare global {
  interface Window {
    __trLoad: (spec: TrLoadSpec) => Promise<TrLoadInfo>;
    __trRun: (req: TrRunRequest) => Promise<TrRunResult>;
    __trWarmImports: () => Promise<string>;
  }
}

interface Runner {
  run(req: TrRunRequest): Promise<TrRunResult>;
}

const log = document.getElementById('log')!;
const say = (m: string) => {
  log.textContent = m;
  console.info(`[translate] ${m}`);
};

let runner: Runner | undefined;
const absolute = (path: string) => new URL(path, location.href).href;

async function contentLength(url: string): Promise<number> {
  return (await fetchBytes(url)).length;
}

async function loadOurs(spec: TrLoadSpec): Promise<{ runner: Runner; info: Omit<TrLoadInfo, 'loadMs'> }> {
  const precision = spec.runtime === 'int8' ? 'int8' : 'fp32';
  const url = absolute(precision === 'int8' ? spec.i8t : spec.folder);
  const model: TextModel = await loadModel(url, { precision });
  const gpu = await requestGpu();
  const fileBytes = await contentLength(precision === 'int8' ? url : `${url}model.safetensors`);
  return {
    runner: {
      async run(req) {
        const t0 = performance.now();
        const results = await model.translate(req.texts, { numBeams: req.numBeams, maxNewTokens: req.maxNewTokens });
        const totalMs = performance.now() - t0;
        const m = model.memory() as unknown as Record<string, number | undefined>;
        return { totalMs, rows: results.map((r) => r.tokens), memory: { ...m } };
      },
    },
    info: {
      adapter: formatDeviceReport(gpu),
      facts: { adapterIsSoftware: gpu.adapter.isSoftware, timestampQuery: gpu.features.timestampQuery },
      fileBytes,
    },
  };
}

async function loadTransformersJs(spec: TrLoadSpec): Promise<{ runner: Runner; info: Omit<TrLoadInfo, 'loadMs'> }> {
  const { AutoModelForSeq2SeqLM, env, Tensor } = await import('@huggingface/transformers');
  const device = spec.runtime === 'tjs-webgpu' ? 'webgpu' : 'wasm';
  const local = useLocalModel(env, spec.folder, spec.wasmPath);
  // The Marian twin's graphs hold their weights (no external data), named as transformers.js looks for them.
  const model = await AutoModelForSeq2SeqLM.from_pretrained(local.id, {
    device,
    dtype: 'fp32',
    local_files_only: true,
    session_options: { logSeverityLevel: 3 },
  });
  const fileBytes =
    (await contentLength(`${spec.folder}onnx/encoder_model.onnx`)) +
    (await contentLength(`${spec.folder}onnx/decoder_model_merged.onnx`));
  return {
    runner: {
      async run(req) {
        // Right-padded sources with their mask, as the tokenizer would give them.
        const B = req.ids.length;
        const S = Math.max(...req.ids.map((s) => s.length));
        const ids = new BigInt64Array(B * S).fill(BigInt(req.padId));
        const mask = new BigInt64Array(B * S);
        req.ids.forEach((s, b) =>
          s.forEach((t, i) => {
            ids[b * S + i] = BigInt(t);
            mask[b * S + i] = 1n;
          }),
        );
        const t0 = performance.now();
        const out = (await model.generate({
          inputs: new Tensor('int64', ids, [B, S]),
          attention_mask: new Tensor('int64', mask, [B, S]),
          max_new_tokens: req.maxNewTokens,
          num_beams: req.numBeams,
          do_sample: false,
        } as never)) as { tolist(): bigint[][] };
        const totalMs = performance.now() - t0;
        return { totalMs, rows: out.tolist().map((row) => row.map(Number)) };
      },
    },
    info: { adapter: await adapterSummary(), facts: local.facts(device), fileBytes },
  };
}

window.__trLoad = async (spec) => {
  say(`loading for ${spec.runtime}`);
  const t0 = performance.now();
  const loaded =
    spec.runtime === 'int8' || spec.runtime === 'fp32' ? await loadOurs(spec) : await loadTransformersJs(spec);
  runner = loaded.runner;
  return { ...loaded.info, loadMs: performance.now() - t0 };
};

window.__trRun = async (req) => {
  if (!runner) throw new Error('no model loaded');
  say(`batch ${req.texts.length}, ${req.numBeams} beam(s), at most ${req.maxNewTokens} new tokens`);
  return runner.run(req);
};

/** Loads the peer module once, so that Vite finishes optimizing dependencies before any timing. */
window.__trWarmImports = async () => {
  await import('@huggingface/transformers');
  return 'ok';
};

say('ready');
