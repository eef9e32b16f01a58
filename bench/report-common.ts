/** What both renderings of compare.json (markdown and HTML) read from it. */
import type { CellResult, CompareResults } from './compare-results.js';
import type { KernelTime, RuntimeId } from './peers/runtime.js';

export const PEERS: RuntimeId[] = ['fp32', 'ort-webgpu', 'ort-wasm', 'tjs-webgpu', 'tjs-wasm'];

export const SHORT: Record<RuntimeId, string> = {
  int8: 'INT8 (ours)',
  fp32: 'FP32 (ours)',
  'ort-webgpu': 'ORT webgpu',
  'ort-wasm': 'ORT wasm',
  'tjs-webgpu': 'transformers.js webgpu',
  'tjs-wasm': 'transformers.js wasm',
};

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
