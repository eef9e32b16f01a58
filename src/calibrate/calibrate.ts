/**
 * Calibration: run the float model on calibration text and gather the range of every activation
 * the integer model quantizes, over real tokens only (padding rows would pollute the ranges).
 */
import type { Gpu } from '../gpu/gpu.js';
import { FloatEncoder } from '../model/float-model.js';
import type { EncoderTokenizer } from '../model/tokenizer.js';
import type { EncoderModel, Linear } from '../model/types.js';
import type { GlueInput } from '../data/glue.js';
import { RangeObserver } from './range-observer.js';

/** Per-token activations that become int8 (or the wide residual stream) in the integer model. */
export function quantizedActivations(numLayers: number): string[] {
  const perLayer = ['query', 'key', 'value', 'context', 'attention_output', 'attention_residual', 'attention_norm', 'gelu', 'output', 'output_residual', 'output_norm'];
  const names = ['embeddings.sum', 'embeddings.norm'];
  for (let i = 0; i < numLayers; i++) for (const a of perLayer) names.push(`layer.${i}.${a}`);
  return names;
}

export interface CalibrationOptions {
  batchSize?: number;
  maxLength?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Rows of a [tokens, width] capture whose token is real. */
function realRows(values: Float32Array, mask: Int32Array, width: number): Float32Array {
  const real = mask.reduce((n, m) => n + (m ? 1 : 0), 0);
  const out = new Float32Array(real * width);
  let o = 0;
  for (let t = 0; t < mask.length; t++) {
    if (!mask[t]) continue;
    out.set(values.subarray(t * width, (t + 1) * width), o);
    o += width;
  }
  return out;
}

/** dense(x) in float64 for the first token of each sequence: the head's pre-activation. */
function denseOnFirstTokens(hidden: Float32Array, batch: number, seqLen: number, H: number, dense: Linear): Float64Array {
  const out = dense.weight.shape[0];
  const y = new Float64Array(batch * out);
  for (let b = 0; b < batch; b++) {
    const x = hidden.subarray(b * seqLen * H, b * seqLen * H + H);
    for (let o = 0; o < out; o++) {
      let acc = dense.bias.data[o];
      for (let i = 0; i < H; i++) acc += x[i] * dense.weight.data[o * H + i];
      y[b * out + o] = acc;
    }
  }
  return y;
}

export async function calibrate(
  gpu: Gpu,
  model: EncoderModel,
  tokenizer: EncoderTokenizer,
  inputs: GlueInput[],
  options: CalibrationOptions = {},
): Promise<RangeObserver> {
  if (inputs.length === 0) throw new Error('calibration needs at least one text');
  const { config, weights } = model;
  const batchSize = options.batchSize ?? 16;
  const names = quantizedActivations(config.numLayers);
  const observer = new RangeObserver();
  const encoder = await FloatEncoder.create(gpu, model);
  try {
    for (let start = 0; start < inputs.length; start += batchSize) {
      const batch = tokenizer.encodeBatch(inputs.slice(start, start + batchSize), { maxLength: options.maxLength });
      const { captures } = await encoder.forward(batch, { capture: true });
      if (!captures) throw new Error('the float model returned no captures');
      for (const name of names) {
        const values = captures.get(name);
        if (!values) throw new Error(`the float model did not capture "${name}"`);
        observer.observe(name, realRows(values, batch.attentionMask, values.length / batch.attentionMask.length));
      }
      const head = weights.head?.dense;
      if (head) {
        const last = captures.get(`layer.${config.numLayers - 1}.output_norm`)!;
        observer.observe('head.dense_pre', denseOnFirstTokens(last, batch.batch, batch.seqLen, config.hiddenSize, head));
      }
      options.onProgress?.(Math.min(start + batchSize, inputs.length), inputs.length);
    }
  } finally {
    encoder.dispose();
  }
  return observer;
}
