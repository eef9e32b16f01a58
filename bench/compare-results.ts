/** The shape of bench/results/compare.json, shared by the runner and the report renderer. */
import type { GridCell, ModelShape } from './compare-grid.js';
import type { KernelTime, MemoryFacts, RuntimeId } from './peers/runtime.js';

export interface RuntimeCellResult {
  runsMs: number[];
  medianMs?: number;
  minMs?: number;
  p90Ms?: number;
  logits: number[];
  /** Against our FP32 model's logits on the same batch; INT8 shows its quantization error here. */
  maxAbsLogitDiffVsFp32?: number;
  kernels?: KernelTime[];
  error?: string;
}

export interface CellResult extends GridCell {
  results: Partial<Record<RuntimeId, RuntimeCellResult>>;
  /** Peer median / INT8 median, both from this run: > 1 means INT8 is faster. */
  ratios?: Partial<Record<RuntimeId, number>>;
}

export interface RuntimeLoad {
  model: string;
  runtime: RuntimeId;
  /** Start of loading to ready, in the runtime's own fresh page. */
  loadMs?: number;
  /** The first forward after ready, on the model's first cell (`firstRunCell`). */
  firstRunMs?: number;
  firstRunCell?: { seqLen: number; batch: number };
  memory?: MemoryFacts;
  facts?: Record<string, string | number | boolean>;
  adapter?: string;
  error?: string;
}

export interface ModelInfo {
  name: string;
  source: string;
  architecture: string;
  shape: ModelShape;
  heads: number;
  tokenTypes: boolean;
  /** int8OnnxBytes: the bench's self-contained dynamic-quantized twin (bench/onnx-quantize.ts). */
  files: { safetensorsBytes: number; onnxBytes: number; i8tBytes: number; int8OnnxBytes?: number };
}

export interface CompareResults {
  benchmark: 'compare';
  version: 1;
  date: string;
  mode: 'quick' | 'default' | 'full';
  options: {
    runs: number;
    warmup: number;
    budgetGop: number;
    calibrationSentences: number;
    runtimes: RuntimeId[];
    profile: boolean;
    adapter: string;
  };
  machine: {
    cpu: string;
    cores: number;
    memoryBytes: number;
    os: string;
    node: string;
    chromium: string;
    loadavgStart: number[];
    loadavgEnd: number[];
    nodeAdapter: string;
    browserAdapter: string;
  };
  durationS: number;
  runtimeNames: Partial<Record<RuntimeId, string>>;
  /** What each runtime computes in (fp32, q8, int8-dynamic, int8 static). */
  runtimeDtypes?: Partial<Record<RuntimeId, string>>;
  models: ModelInfo[];
  loads: RuntimeLoad[];
  cells: CellResult[];
  /** False while the run is in progress (written after every model) or when it was interrupted. */
  complete: boolean;
}

/** Every runtime's median over INT8's median in the same cell. */
export function ratiosFor(cell: CellResult): Partial<Record<RuntimeId, number>> {
  const int8 = cell.results.int8?.medianMs;
  const out: Partial<Record<RuntimeId, number>> = {};
  if (!int8) return out;
  for (const [id, r] of Object.entries(cell.results) as [RuntimeId, RuntimeCellResult][]) {
    if (id !== 'int8' && r.medianMs !== undefined) out[id] = r.medianMs / int8;
  }
  return out;
}
