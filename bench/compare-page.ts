/**
 * The peer benchmark inside a browser page: one runtime, one model, several (sequence, batch)
 * cells. bench/compare.ts opens one page per (model, runtime), calls window.__startCompare(spec)
 * and polls window.__compare. A page of its own per runtime keeps each runtime's memory apart.
 */
import { formatDeviceReport } from '../src/gpu/report.js';
import { loadOurs } from './peers/ours.js';
import {
  type BenchBatch,
  jsHeapBytes,
  type KernelTime,
  type LoadedRuntime,
  type MemoryFacts,
  type ModelUrls,
  type RuntimeId,
} from './peers/runtime.js';

export interface PageCell {
  batch: BenchBatch;
  warmup: number;
  runs: number;
}

export interface PageSpec {
  runtime: RuntimeId;
  model: ModelUrls;
  cells: PageCell[];
  profile: boolean;
  wasmPaths: { ort: string; tjs: string };
}

export interface PageCellResult {
  seqLen: number;
  batch: number;
  runsMs: number[];
  /** Every row's logits of the last run, to check that the runtimes computed the same model. */
  logits: number[];
  kernels?: KernelTime[];
  error?: string;
}

export interface PageResult {
  done: boolean;
  runtime?: RuntimeId;
  facts?: Record<string, string | number | boolean>;
  adapter?: string;
  /** From the page's start of loading to a runtime ready to run (files fetched, sessions or pipelines created). */
  loadMs?: number;
  /** The first forward after loading: the first cell's first warm-up run. */
  firstRunMs?: number;
  memory?: MemoryFacts;
  cells: PageCellResult[];
  error?: string;
}

declare global {
  interface Window {
    __compare: PageResult;
    __startCompare: (spec: PageSpec) => void;
    __warmImports: () => Promise<string>;
  }
}

window.__compare = { done: false, cells: [] };
const log = document.getElementById('log')!;
const say = (m: string) => {
  log.textContent = m;
  console.info(`[compare] ${m}`);
};

async function adapterSummary(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return 'no WebGPU adapter';
  const i = adapter.info;
  return [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') || '(no info)';
}

async function load(spec: PageSpec): Promise<{ runtime: LoadedRuntime; adapter: string }> {
  const { runtime, model } = spec;
  if (runtime === 'int8' || runtime === 'fp32') {
    const r = await loadOurs(runtime, model);
    return { runtime: r, adapter: formatDeviceReport(r.gpu) };
  }
  const adapter = await adapterSummary();
  // Peers are imported on demand, so a page for our runtime never loads them.
  if (runtime === 'ort-webgpu' || runtime === 'ort-wasm' || runtime === 'ort-wasm-int8') {
    const { loadOnnxruntime } = await import('./peers/onnxruntime.js');
    return {
      runtime: await loadOnnxruntime(
        runtime === 'ort-webgpu' ? 'webgpu' : 'wasm',
        model,
        spec.wasmPaths.ort,
        runtime === 'ort-wasm-int8' ? 'int8' : 'fp32',
      ),
      adapter,
    };
  }
  const { loadTransformersJs } = await import('./peers/transformers-js.js');
  return {
    runtime: await loadTransformersJs(
      runtime.startsWith('tjs-webgpu') ? 'webgpu' : 'wasm',
      model,
      spec.wasmPaths.tjs,
      runtime.endsWith('-q8') ? 'q8' : 'fp32',
    ),
    adapter,
  };
}

async function measure(
  runtime: LoadedRuntime,
  cell: PageCell,
  profile: boolean,
  label: string,
  onFirstRun?: (ms: number) => void,
): Promise<PageCellResult> {
  const { batch } = cell;
  const result: PageCellResult = { seqLen: batch.seqLen, batch: batch.batch, runsMs: [], logits: [] };
  try {
    for (let i = 0; i < cell.warmup; i++) {
      say(`${label}: warm-up ${i + 1}/${cell.warmup}`);
      const t0 = performance.now();
      await runtime.run(batch);
      if (i === 0) onFirstRun?.(performance.now() - t0);
    }
    let logits: Float32Array | undefined;
    for (let i = 0; i < cell.runs; i++) {
      const t0 = performance.now();
      logits = await runtime.run(batch);
      result.runsMs.push(performance.now() - t0);
      if (i === 0 && !cell.warmup) onFirstRun?.(result.runsMs[0]);
      say(`${label}: run ${i + 1}/${cell.runs} ${result.runsMs.at(-1)!.toFixed(1)} ms`);
    }
    result.logits = Array.from(logits ?? []);
    // Profiled separately: timestamp passes per kernel would distort the timed runs.
    if (profile && runtime.profile) result.kernels = await runtime.profile(batch);
  } catch (e) {
    result.error = (e as Error).message ?? String(e);
  }
  return result;
}

async function main(spec: PageSpec): Promise<void> {
  const out = window.__compare;
  out.runtime = spec.runtime;
  const t0 = performance.now();
  const { runtime, adapter } = await load(spec);
  out.loadMs = performance.now() - t0;
  out.adapter = adapter;
  out.facts = runtime.facts;
  const heapAfterLoad = jsHeapBytes();
  for (const [i, cell] of spec.cells.entries()) {
    const label = `${spec.model.name} ${spec.runtime} seq ${cell.batch.seqLen} batch ${cell.batch.batch}`;
    // The first forward after 'ready' (the first cell's first warm-up): what a user's first text waits.
    const first = i === 0 ? (ms: number) => (out.firstRunMs = ms) : undefined;
    out.cells.push(await measure(runtime, cell, spec.profile, label, first));
  }
  out.memory = { ...runtime.memory(), jsHeapAfterLoadBytes: heapAfterLoad, jsHeapAfterRunsBytes: jsHeapBytes() };
  await runtime.dispose();
}

/** Loads the peer modules once, so that Vite finishes optimizing dependencies before any timing. */
window.__warmImports = async () => {
  await import('./peers/onnxruntime.js');
  await import('./peers/transformers-js.js');
  return 'ok';
};

window.__startCompare = (spec) => {
  main(spec)
    .catch((e: Error) => (window.__compare.error = e.message ?? String(e)))
    .finally(() => {
      window.__compare.done = true;
      say(window.__compare.error ?? 'done');
    });
};
