/**
 * The benchmark grid: models x sequence lengths x batch sizes, each cell's estimated work, and the
 * compute budget that decides which cells a software adapter can afford. Pure functions, so the
 * plan can be printed and tested without a GPU.
 */
import type { EncoderConfig } from '../src/core/types.js';

export const SHARED_MODELS = ['sst2-bert-tiny', 'sst2-distilbert-mini', 'sst2-bert-minilm-l6'] as const;
export const RANDOM_BERT_BASE = 'random-bert-base';
export const SEQ_LENGTHS = [16, 64, 128, 512];
export const BATCH_SIZES = [1, 8];

/**
 * Default budget per forward pass on a software adapter. Every cell runs warm-up + 5 timed forwards
 * (+ 1 profiled) in each of 6 runtimes, four of them on WebGPU, where SwiftShader reaches 1.5-2
 * effective GOPS for our encoders and 0.2-0.5 for the ONNX runtimes' WebGPU kernels: a cell of B
 * GOP costs roughly 60 B seconds. 3 GOP admits one BERT-base cell (seq 16, batch 1) and keeps the
 * default grid near 20 minutes on a quiet 2-core machine (measured: 21 min with cached artifacts).
 */
export const DEFAULT_SOFTWARE_BUDGET_GOP = 3;

export interface ModelShape {
  layers: number;
  hidden: number;
  intermediate: number;
  maxPositions: number;
  labels: number;
}

export function shapeOf(config: EncoderConfig): ModelShape {
  return {
    layers: config.numLayers,
    hidden: config.hiddenSize,
    intermediate: config.intermediateSize,
    maxPositions: config.maxPositions - config.positionOffset,
    labels: config.labels.length,
  };
}

/**
 * Integer or float operations (2 per multiply-add) of one forward: the four projections and the
 * FFN per token, plus Q.K^T and P.V (4 S^2 H per sequence and layer). Embeddings, norms, softmax
 * and the head are a few percent at most and left out.
 */
export function estimateGop(shape: ModelShape, seqLen: number, batch: number): number {
  const { layers: L, hidden: H, intermediate: F } = shape;
  const tokens = seqLen * batch;
  return (2 * tokens * L * (4 * H * H + 2 * H * F) + 4 * L * batch * seqLen * seqLen * H) / 1e9;
}

export interface GridCell {
  model: string;
  seqLen: number;
  batch: number;
  estimatedGop: number;
  /** Why the cell is not run; undefined when it runs. */
  skipped?: string;
}

export interface GridOptions {
  /** Run everything (a real GPU). */
  full: boolean;
  /** One small model, seq 16, batch 1 (smoke test). */
  quick: boolean;
  /** Budget per forward on software adapters, in GOP. */
  budgetGop: number;
  /** The adapter is a CPU emulation (SwiftShader). */
  softwareAdapter: boolean;
  seqLengths?: number[];
  batchSizes?: number[];
}

export function planGrid(models: { name: string; shape: ModelShape }[], o: GridOptions): GridCell[] {
  const cells: GridCell[] = [];
  const seqs = o.quick ? [16] : (o.seqLengths ?? SEQ_LENGTHS);
  const batches = o.quick ? [1] : (o.batchSizes ?? BATCH_SIZES);
  for (const { name, shape } of o.quick ? models.slice(0, 1) : models) {
    for (const seqLen of seqs) {
      for (const batch of batches) {
        const estimatedGop = estimateGop(shape, seqLen, batch);
        const cell: GridCell = { model: name, seqLen, batch, estimatedGop };
        if (seqLen > shape.maxPositions) cell.skipped = `the model has ${shape.maxPositions} positions`;
        else if (!o.full && o.softwareAdapter && estimatedGop > o.budgetGop) {
          cell.skipped = `estimated ${estimatedGop.toFixed(1)} GOP per forward exceeds the ${o.budgetGop} GOP budget of a software adapter (run with --full on a GPU)`;
        }
        cells.push(cell);
      }
    }
  }
  return cells;
}
