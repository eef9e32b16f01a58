/** What both renderings of compare.json (markdown and HTML) read from it. */
import type { CellResult, CompareResults } from './compare-results.js';
import { type KernelTime, RUNTIME_DTYPES, type RuntimeId } from './peers/runtime.js';

export const PEERS: RuntimeId[] = [
  'fp32',
  'ort-webgpu',
  'ort-wasm',
  'ort-wasm-int8',
  'tjs-webgpu',
  'tjs-wasm',
  'tjs-webgpu-q8',
  'tjs-wasm-q8',
];

/** Column and legend names; every peer's name says its dtype, so no figure is read without it. */
export const SHORT: Record<RuntimeId, string> = {
  int8: 'INT8 (ours)',
  fp32: 'FP32 (ours)',
  'ort-webgpu': 'ORT webgpu fp32',
  'ort-wasm': 'ORT wasm fp32',
  'ort-wasm-int8': 'ORT wasm int8',
  'tjs-webgpu': 'transformers.js webgpu fp32',
  'tjs-wasm': 'transformers.js wasm fp32',
  'tjs-webgpu-q8': 'transformers.js webgpu q8',
  'tjs-wasm-q8': 'transformers.js wasm q8',
};

/**
 * One colour per runtime in every chart of the report, whichever runtimes a run had: a hue per
 * library (ours blue, onnxruntime-web orange/red, transformers.js green), darker for its int8 path.
 */
export const RUNTIME_COLORS: Record<RuntimeId, string> = {
  int8: '#1b4f9c',
  fp32: '#7aa7e0',
  'ort-webgpu': '#d1495b',
  'ort-wasm': '#edae49',
  'ort-wasm-int8': '#a0522d',
  'tjs-webgpu': '#66a182',
  'tjs-wasm': '#a8d5a2',
  'tjs-webgpu-q8': '#00798c',
  'tjs-wasm-q8': '#2e6b3a',
};

/** The dtype a runtime ran in, from the results (older results did not record it). */
export function dtypeOf(r: CompareResults, id: RuntimeId): string {
  return r.runtimeDtypes?.[id] ?? RUNTIME_DTYPES[id];
}

export function runtimesIn(r: CompareResults): RuntimeId[] {
  return r.options.runtimes;
}

export const ranCells = (r: CompareResults): CellResult[] => r.cells.filter((c) => !c.skipped);
export const skippedCells = (r: CompareResults): CellResult[] => r.cells.filter((c) => c.skipped);

export function ms(v: number | undefined): string {
  if (v === undefined) return '–';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

export function ratio(v: number | undefined): string {
  return v === undefined ? '–' : `${v.toFixed(2)}x`;
}

export function bytes(v: number | undefined): string {
  if (v === undefined) return '–';
  if (v >= 1e9) return `${(v / 1e9).toFixed(2)} GB`;
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB`;
  return `${(v / 1e3).toFixed(0)} kB`;
}

/** A kernel's family: the program name before its options and shape ("gemm-i8[dot4] 16x384x384" -> "gemm-i8"). */
export function kernelFamily(name: string): string {
  return name.split(/[[ (:]/)[0] || name;
}

export function families(kernels: KernelTime[]): { name: string; value: number }[] {
  const by = new Map<string, number>();
  for (const k of kernels) by.set(kernelFamily(k.name), (by.get(kernelFamily(k.name)) ?? 0) + k.ms);
  return [...by.entries()].map(([name, value]) => ({ name, value })).sort((a, b) => b.value - a.value);
}

/**
 * Kernel families in one colour across every breakdown chart: the report's families ranked by
 * total time, the first `slots` of them a palette colour each, the rest merged into "other".
 */
export function familyColors(
  r: CompareResults,
  palette: string[],
): { color: (family: string) => string; name: (family: string) => string } {
  const total = new Map<string, number>();
  for (const c of ranCells(r))
    for (const x of Object.values(c.results))
      for (const f of families(x?.kernels ?? [])) total.set(f.name, (total.get(f.name) ?? 0) + f.value);
  const ranked = [...total.entries()].sort((a, b) => b[1] - a[1]).map(([n]) => n);
  const slots = ranked.length > palette.length ? palette.length - 1 : palette.length;
  const named = new Map(ranked.slice(0, slots).map((n, i) => [n, palette[i]]));
  return {
    color: (f) => named.get(f) ?? OTHER_COLOR,
    name: (f) => (named.has(f) ? f : 'other'),
  };
}

export const OTHER_COLOR = '#bbbbbb';

/** The largest cell of a model that every profiled runtime ran: the breakdown's subject. */
export function largestProfiledCell(r: CompareResults, model: string): CellResult | undefined {
  const mine = ranCells(r).filter((c) => c.model === model && Object.values(c.results).some((x) => x?.kernels?.length));
  return mine.sort((a, b) => b.estimatedGop - a.estimatedGop)[0];
}

export function loadavg(v: number[]): string {
  return v.map((x) => x.toFixed(2)).join(' / ');
}

export function adapterLine(r: CompareResults): string {
  const line = r.machine.browserAdapter.split('\n').find((l) => l.startsWith('adapter'));
  return line ? line.replace(/^adapter\s+/, '') : r.machine.browserAdapter || 'unknown';
}
