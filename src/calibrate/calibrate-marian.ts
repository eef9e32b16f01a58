/**
 * Calibration of encoder-decoder translation models (Marian): sentence pairs (source ids, decoder
 * inputs) teacher-forced through the float64 CPU interpreter, every tensor the planner reads
 * observed over real tokens only: the encoder's tensors (rows = source positions) under the source
 * mask, the decoder's under the target mask. The GPT-2 pattern (calibrate-decoder.ts) with two
 * batches instead of one.
 */
import type { MarianModel, TokenBatch } from '../core/types.js';
import { runFloatGraphCpu } from '../cpu/float-graph.js';
import type { ModelGraph } from '../graph/types.js';
import { tensorSpec, widthOf } from '../graph/types.js';
import { marianBatches, marianGraph } from '../model/marian.js';
import { calibratedTensors } from '../plan/plan-graph.js';
import { calibrationCaptures } from './calibrate.js';
import { RangeObserver } from './range-observer.js';

export interface MarianPair {
  /** Source ids (ending with eos). */
  source: readonly number[];
  /** Decoder inputs (starting with decoder_start_token_id). */
  target: readonly number[];
}

export interface MarianCalibrationOptions {
  /** Pairs per forward (default 8). */
  batchSize?: number;
  graph?: ModelGraph;
  onProgress?: (done: number, total: number) => void;
}

/** Rows of a [tokens, width] tensor whose token the mask marks real. */
function realRows(values: Float64Array, mask: Int32Array, width: number): Float64Array {
  if (values.length !== mask.length * width)
    throw new RangeError(`calibration: ${values.length} values for ${mask.length} tokens of width ${width}`);
  let real = 0;
  for (const m of mask) if (m) real++;
  const out = new Float64Array(real * width);
  let o = 0;
  for (let t = 0; t < mask.length; t++) {
    if (!mask[t]) continue;
    out.set(values.subarray(t * width, (t + 1) * width), o);
    o += width;
  }
  return out;
}

/**
 * Observes one batch of pairs: token tensors over the real tokens of their own batch (source or
 * target). Marian's graph has no first-token linears (a classifier's head), which this refuses.
 */
export function observeMarianCaptures(
  observer: RangeObserver,
  graph: ModelGraph,
  batches: { source: TokenBatch; target: TokenBatch },
  captures: ReadonlyMap<string, Float64Array>,
): void {
  for (const id of calibratedTensors(graph)) {
    const spec = tensorSpec(graph, id);
    const values = captures.get(id);
    if (!values) throw new Error(`marian calibration: the float model did not capture "${id}"`);
    if (spec.shape.length !== 3)
      throw new Error(`marian calibration: "${id}" is not a token tensor; an encoder-decoder has none other`);
    const batch = spec.shape.includes('source') ? batches.source : batches.target;
    const width = widthOf(spec);
    observer.observe(id, realRows(values, batch.attentionMask, width), width);
  }
}

/** Ranges (and per-channel statistics) of every tensor the planner reads, over `pairs`. */
export function calibrateMarianCpu(
  model: MarianModel,
  pairs: readonly MarianPair[],
  options: MarianCalibrationOptions = {},
): RangeObserver {
  if (pairs.length === 0) throw new Error('marian calibration needs at least one sentence pair');
  const batchSize = options.batchSize ?? 8;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`marian calibration: batchSize = ${batchSize} must be a positive integer`);
  const graph = options.graph ?? marianGraph(model.config);
  const capture = calibrationCaptures(graph);
  const observer = new RangeObserver();
  for (let start = 0; start < pairs.length; start += batchSize) {
    const chunk = pairs.slice(start, start + batchSize);
    // marianBatches refuses empty sentences and lengths above the model's positions, naming them.
    const batches = marianBatches(
      model.config,
      chunk.map((p) => p.source),
      chunk.map((p) => p.target),
    );
    const { captures } = runFloatGraphCpu(graph, model.params, batches.target, { capture, source: batches.source });
    observeMarianCaptures(observer, graph, batches, captures);
    options.onProgress?.(Math.min(start + batchSize, pairs.length), pairs.length);
  }
  return observer;
}
