/**
 * Calibration of decoder-only language models (GPT-2): whole token sequences (right-padded by
 * decoderBatch, padding rows left out of every range) through the float GPU interpreter, observed
 * exactly as encoders are (calibrationCaptures / observeCaptures), so the planner's ranges come
 * from the same kernels the float model runs. A CPU twin (float64 interpreter) serves tests and
 * machines without a GPU.
 */
import type { DecoderModel } from '../core/types.js';
import { runFloatGraphCpu } from '../cpu/float-graph.js';
import type { Gpu } from '../gpu/gpu.js';
import { decoderBatch, decoderGraph } from '../model/decoder.js';
import { FloatGraphGpu } from '../runtime/float-graph.js';
import { calibrationCaptures, observeCaptures } from './calibrate.js';
import { RangeObserver } from './range-observer.js';

export interface DecoderCalibrationOptions {
  /** Sequences per forward (default 8). */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

function checkSequences(model: DecoderModel, sequences: readonly (readonly number[])[]): void {
  if (sequences.length === 0) throw new Error('decoder calibration needs at least one token sequence');
  sequences.forEach((s, i) => {
    if (s.length > model.config.maxPositions)
      throw new RangeError(
        `decoder calibration: sequence ${i} has ${s.length} tokens, more than the model's ${model.config.maxPositions} positions`,
      );
  });
}

/** Ranges of every tensor the planner reads, from the float GPU interpreter on `sequences` (token ids). */
export async function calibrateDecoder(
  gpu: Gpu,
  model: DecoderModel,
  sequences: readonly (readonly number[])[],
  options: DecoderCalibrationOptions = {},
): Promise<RangeObserver> {
  checkSequences(model, sequences);
  const batchSize = options.batchSize ?? 8;
  const graph = decoderGraph(model.config);
  const capture = calibrationCaptures(graph);
  const observer = new RangeObserver();
  const seq = Math.max(...sequences.map((s) => s.length));
  const runtime = await FloatGraphGpu.create(gpu, graph, model.params, {
    capacity: { batch: Math.min(batchSize, sequences.length), seq },
  });
  try {
    for (let start = 0; start < sequences.length; start += batchSize) {
      const batch = decoderBatch(sequences.slice(start, start + batchSize), model.config.eosTokenId ?? 0);
      const { captures } = await runtime.forward(batch, { capture });
      if (!captures) throw new Error('decoder calibration: the float model returned no captures');
      observeCaptures(observer, graph, model.params, batch, captures);
      options.onProgress?.(Math.min(start + batchSize, sequences.length), sequences.length);
    }
  } finally {
    runtime.dispose();
  }
  return observer;
}

/** The same observation through the float64 CPU interpreter. */
export function calibrateDecoderCpu(
  model: DecoderModel,
  sequences: readonly (readonly number[])[],
  options: DecoderCalibrationOptions = {},
): RangeObserver {
  checkSequences(model, sequences);
  const batchSize = options.batchSize ?? 8;
  const graph = decoderGraph(model.config);
  const capture = calibrationCaptures(graph);
  const observer = new RangeObserver();
  for (let start = 0; start < sequences.length; start += batchSize) {
    const batch = decoderBatch(sequences.slice(start, start + batchSize), model.config.eosTokenId ?? 0);
    const { captures } = runFloatGraphCpu(graph, model.params, batch, { capture });
    observeCaptures(observer, graph, model.params, batch, captures);
    options.onProgress?.(Math.min(start + batchSize, sequences.length), sequences.length);
  }
  return observer;
}
