/**
 * The generation benchmark inside a browser page: one runtime per page (ours through the public
 * loadModel / generate / generateBatch, transformers.js through AutoModelForCausalLM.generate on the
 * ONNX twin), any number of models loaded by key. bench/generate.ts keeps one page per runtime open
 * and calls them in turn (window.__gen*), so the runtimes' runs interleave.
 */
import { loadModel } from '../src/api.js';
import { readAnyIntModelFile } from '../src/format/int-model-file.js';
import { requestGpu } from '../src/gpu/device.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import type { TextModel } from '../src/index.js';
import { decoderGraph } from '../src/model/decoder.js';
import { loadDecoderModel } from '../src/model/load.js';
import { urlSource } from '../src/model/sources.js';
import { FloatDecoderGpu } from '../src/runtime/float-decoder.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';
import type { GenRuntimeId, TokenTime } from './generate-plan.js';
import { type SweepResult, sweepFp32, sweepInt8 } from './generate-sweep.js';
import { fetchBytes } from './peers/runtime.js';
import { adapterSummary, useLocalModel } from './peers/tjs-env.js';

export interface GenModelUrls {
  name: string;
  /** The Hugging Face folder, ending in "/" (its onnx/model.onnx for transformers.js). */
  folder: string;
  /** Our integer model file. */
  i8t: string;
}

export interface LoadSpec {
  key: string;
  runtime: GenRuntimeId;
  model: GenModelUrls;
  /** transformers.js's own onnxruntime-web wasm files. */
  wasmPath: string;
}

export interface LoadInfo {
  loadMs: number;
  adapter: string;
  facts: Record<string, string | number | boolean>;
}

export interface RunRequest {
  key: string;
  ids: number[][];
  texts: string[];
  newTokens: number;
}

export interface RunResult {
  events: TokenTime[];
  totalMs: number;
  tokens: number[][];
  /** GPU memory of our models after the run (KV cache bytes per token for INT8). */
  memory?: Record<string, number | undefined>;
}

export interface SweepRequest {
  runtime: 'int8' | 'fp32';
  model: GenModelUrls;
  batch: number;
  stream: number[];
  promptLen: number;
  lengths: number[];
  steps: number;
  replays: number;
  padId: number;
}

declare global {
  interface Window {
    __genLoad: (spec: LoadSpec) => Promise<LoadInfo>;
    __genRun: (req: RunRequest) => Promise<RunResult>;
    __genSweep: (req: SweepRequest) => Promise<SweepResult>;
    __genDispose: (key: string) => Promise<void>;
    __genWarmImports: () => Promise<string>;
  }
}

interface Runner {
  run(req: RunRequest): Promise<RunResult>;
  dispose(): Promise<void>;
}

const log = document.getElementById('log')!;
const say = (m: string) => {
  log.textContent = m;
  console.info(`[generate] ${m}`);
};

const runners = new Map<string, Runner>();
let ownGpu: Gpu | undefined;

const absolute = (path: string) => new URL(path, location.href).href;

async function loadOurs(spec: LoadSpec): Promise<{ runner: Runner; info: Omit<LoadInfo, 'loadMs'> }> {
  const precision = spec.runtime === 'int8' ? 'int8' : 'fp32';
  const model: TextModel = await loadModel(absolute(precision === 'int8' ? spec.model.i8t : spec.model.folder), {
    precision,
  });
  ownGpu ??= await requestGpu();
  const runner: Runner = {
    async run(req) {
      const events: TokenTime[] = [];
      const t0 = performance.now();
      const options = {
        maxNewTokens: req.newTokens,
        stopAtEos: false,
        onToken: (e: { sequence: number }) => events.push({ sequence: e.sequence, ms: performance.now() - t0 }),
      };
      const results =
        req.texts.length === 1
          ? [await model.generate(req.texts[0], options)]
          : await model.generateBatch(req.texts, options);
      const totalMs = performance.now() - t0;
      const m = model.memory() as unknown as Record<string, number | undefined>;
      return { events, totalMs, tokens: results.map((r) => r.tokens), memory: { ...m } };
    },
    async dispose() {
      model.dispose();
    },
  };
  return {
    runner,
    info: {
      adapter: formatDeviceReport(ownGpu),
      facts: { adapterIsSoftware: ownGpu.adapter.isSoftware, timestampQuery: ownGpu.features.timestampQuery },
    },
  };
}

async function loadTransformersJs(spec: LoadSpec): Promise<{ runner: Runner; info: Omit<LoadInfo, 'loadMs'> }> {
  const { AutoModelForCausalLM, env, Tensor } = await import('@huggingface/transformers');
  const device = spec.runtime === 'tjs-webgpu' ? 'webgpu' : 'wasm';
  const local = useLocalModel(env, spec.model.folder, spec.wasmPath);
  // The GPT-2 twin is self-contained (no external data), in the layout transformers.js looks for.
  const model = await AutoModelForCausalLM.from_pretrained(local.id, {
    device,
    dtype: 'fp32',
    local_files_only: true,
    session_options: { logSeverityLevel: 3 },
  });
  const runner: Runner = {
    async run(req) {
      const B = req.ids.length;
      const P = req.ids[0].length;
      if (req.ids.some((p) => p.length !== P)) throw new Error('transformers.js runs: prompts of one length only');
      const dims = [B, P];
      const input_ids = new Tensor('int64', BigInt64Array.from(req.ids.flat(), BigInt), dims);
      const attention_mask = new Tensor('int64', new BigInt64Array(B * P).fill(1n), dims);
      const events: TokenTime[] = [];
      const tokens: number[][] = Array.from({ length: B }, () => []);
      let prompt = true;
      const t0 = performance.now();
      // generate() puts the prompt first, then each step's new token of every sequence.
      const streamer = {
        put(value: bigint[][]) {
          if (prompt) {
            prompt = false;
            return;
          }
          const ms = performance.now() - t0;
          value.forEach((row, s) => {
            tokens[s].push(Number(row[row.length - 1]));
            events.push({ sequence: s, ms });
          });
        },
        end() {},
      };
      await model.generate({
        input_ids,
        attention_mask,
        max_new_tokens: req.newTokens,
        do_sample: false,
        // As ours with stopAtEos false: end-of-text is a token like another, generation goes on.
        eos_token_id: null,
        // biome-ignore lint/suspicious/noExplicitAny: transformers.js types the streamer as its own class
        streamer: streamer as any,
      } as never);
      return { events, totalMs: performance.now() - t0, tokens };
    },
    async dispose() {
      await model.dispose();
    },
  };
  return {
    runner,
    info: {
      adapter: await adapterSummary(),
      facts: local.facts(device),
    },
  };
}

window.__genLoad = async (spec) => {
  say(`loading ${spec.model.name} for ${spec.runtime}`);
  const t0 = performance.now();
  const { runner, info } =
    spec.runtime === 'int8' || spec.runtime === 'fp32' ? await loadOurs(spec) : await loadTransformersJs(spec);
  runners.set(spec.key, runner);
  return { ...info, loadMs: performance.now() - t0 };
};

window.__genRun = async (req) => {
  const runner = runners.get(req.key);
  if (!runner) throw new Error(`no model loaded as ${req.key}`);
  say(`${req.key}: batch ${req.ids.length}, prompt ${req.ids[0].length}, ${req.newTokens} new tokens`);
  return runner.run(req);
};

window.__genSweep = async (req) => {
  ownGpu ??= await requestGpu();
  const gpu = ownGpu;
  const prompt = req.stream.slice(0, req.promptLen);
  if (req.runtime === 'int8') {
    const file = await readAnyIntModelFile(await fetchBytes(req.model.i8t), req.model.i8t);
    if (file.kind !== 'decoder') throw new Error(`${req.model.i8t} is not a decoder`);
    return sweepInt8(
      gpu,
      file.program,
      { batch: req.batch, prompt, lengths: req.lengths, steps: req.steps, replays: req.replays, padId: req.padId },
      say,
    );
  }
  const model = await loadDecoderModel(urlSource(absolute(req.model.folder)));
  const runtime = await FloatGraphGpu.create(gpu, decoderGraph(model.config), model.params);
  const capacity = Math.max(...req.lengths) + 1;
  const decoder = new FloatDecoderGpu(runtime, req.batch, capacity, model.config.vocabSize, req.padId);
  try {
    return await sweepFp32(
      decoder,
      { batch: req.batch, stream: req.stream, lengths: req.lengths, runs: req.steps },
      say,
    );
  } finally {
    decoder.dispose();
  }
};

window.__genDispose = async (key) => {
  await runners.get(key)?.dispose();
  runners.delete(key);
};

/** Loads the peer module once, so that Vite finishes optimizing dependencies before any timing. */
window.__genWarmImports = async () => {
  await import('@huggingface/transformers');
  return 'ok';
};

say('ready');
