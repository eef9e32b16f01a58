/**
 * Calibration: run the float model graph on calibration text and gather the range of every tensor
 * the integer planner reads a range of (calibratedTensors), keyed by tensor id, over real tokens
 * only (padding rows would pollute the ranges).
 */
import type { EncoderModel, TokenBatch } from '../core/types.js';
import { isTokenTensor } from '../cpu/float-graph.js';
import type { GlueInput } from '../data/glue.js';
import type { Gpu } from '../gpu/gpu.js';
import { encoderParams, modelGraph, type Params, param } from '../graph/architectures.js';
import { type GraphOp, type ModelGraph, tensorSpec, widthOf } from '../graph/types.js';
import type { EncoderTokenizer } from '../model/tokenizer.js';
import { calibratedTensors } from '../plan/plan-graph.js';
import { FloatGraphGpu } from '../runtime/float-graph.js';
import { RangeObserver } from './range-observer.js';

export interface CalibrationOptions {
  batchSize?: number;
  maxLength?: number;
  onProgress?: (done: number, total: number) => void;
}

type Values = Float32Array | Float64Array;

function producers(graph: ModelGraph): Map<string, GraphOp> {
  return new Map(graph.ops.map((op) => [op.out, op]));
}

/**
 * The tensors a forward must read back to observe calibratedTensors(graph):
 *   - a linear over first tokens is observed from its input (see observeCaptures);
 *   - a GELU's input comes along with the GELU, so that its GEMM runs without the fused epilogue,
 *     as the float model always ran for calibration: the fused and the separate GELU are the same
 *     function, but only the same kernels guarantee the same ranges on every GPU, and with them
 *     the same converted models.
 */
export function calibrationCaptures(graph: ModelGraph): string[] {
  const byOut = producers(graph);
  const ids = new Set<string>();
  for (const id of calibratedTensors(graph)) {
    const op = byOut.get(id)!;
    if (op.kind === 'linear' && op.rows === 'first') {
      ids.add(op.input);
      continue;
    }
    if (op.kind === 'activation' && op.fn === 'gelu') ids.add(op.input);
    ids.add(id);
  }
  return [...ids];
}

/** Rows of a [tokens, width] tensor whose token is real. */
function realRows(values: Values, mask: Int32Array, width: number): Float64Array {
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
 * A linear over the first token of each sequence, in float64 from its captured input: the
 * classifier head's dense layer before tanh / ReLU (its output on the GPU is not read back, and
 * ranges made this way are those every converted model so far was planned with).
 */
function firstTokenLinear64(
  x: Values,
  batch: TokenBatch,
  weight: Float32Array,
  bias: Float32Array,
  out: number,
  inF: number,
): Float64Array {
  const y = new Float64Array(batch.batch * out);
  for (let b = 0; b < batch.batch; b++) {
    const row = x.subarray(b * batch.seqLen * inF, b * batch.seqLen * inF + inF);
    for (let o = 0; o < out; o++) {
      let acc = bias[o];
      for (let i = 0; i < inF; i++) acc += row[i] * weight[o * inF + i];
      y[b * out + o] = acc;
    }
  }
  return y;
}

/**
 * Observes one batch: every tensor of calibratedTensors(graph) from `captures` (those of
 * calibrationCaptures(graph), from either float interpreter), token tensors over real tokens only.
 */
export function observeCaptures(
  observer: RangeObserver,
  graph: ModelGraph,
  params: Params,
  batch: TokenBatch,
  captures: ReadonlyMap<string, Values>,
): void {
  const byOut = producers(graph);
  const captured = (id: string) => {
    const v = captures.get(id);
    if (!v) throw new Error(`calibration: the float model did not capture "${id}"`);
    return v;
  };
  for (const id of calibratedTensors(graph)) {
    const op = byOut.get(id)!;
    const width = widthOf(tensorSpec(graph, id));
    if (op.kind === 'linear' && op.rows === 'first') {
      const inF = widthOf(tensorSpec(graph, op.input));
      observer.observe(
        id,
        firstTokenLinear64(
          captured(op.input),
          batch,
          param(params, `${op.param}.weight`).data,
          param(params, `${op.param}.bias`).data,
          width,
          inF,
        ),
        width,
      );
    } else {
      const values = captured(id);
      observer.observe(
        id,
        isTokenTensor(tensorSpec(graph, id)) ? realRows(values, batch.attentionMask, width) : values,
        width,
      );
    }
  }
}

export async function calibrate(
  gpu: Gpu,
  model: EncoderModel,
  tokenizer: EncoderTokenizer,
  inputs: GlueInput[],
  options: CalibrationOptions = {},
): Promise<RangeObserver> {
  if (inputs.length === 0) throw new Error('calibration needs at least one text');
  const batchSize = options.batchSize ?? 16;
  const graph = modelGraph(model);
  const params = encoderParams(model.weights);
  const capture = calibrationCaptures(graph);
  const observer = new RangeObserver();
  const runtime = await FloatGraphGpu.create(gpu, graph, params);
  try {
    for (let start = 0; start < inputs.length; start += batchSize) {
      const batch = tokenizer.encodeBatch(inputs.slice(start, start + batchSize), { maxLength: options.maxLength });
      const { captures } = await runtime.forward(batch, { capture });
      if (!captures) throw new Error('calibration: the float model returned no captures');
      observeCaptures(observer, graph, params, batch, captures);
      options.onProgress?.(Math.min(start + batchSize, inputs.length), inputs.length);
    }
  } finally {
    runtime.dispose();
  }
  return observer;
}
