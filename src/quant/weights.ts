/**
 * Symmetric int8 quantization of weights: per output channel for linear layers (I-BERT), per tensor
 * for embedding tables, and int32 biases at the product scale of input and weight.
 */
import type { Tensor } from '../core/types.js';

export interface QuantizedLinear {
  /** [out, in] int8, row-major (not yet packed). */
  weight: Int8Array;
  /** Per output channel: real = q * scale[c]. */
  scale: Float64Array;
  outFeatures: number;
  inFeatures: number;
}

function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** scale[c] = max |W[c, :]| / 127 (a zero row gets scale 1 so that it stays exactly zero). */
export function quantizeLinearWeight(weight: Tensor): QuantizedLinear {
  const [outFeatures, inFeatures] = weight.shape;
  if (weight.shape.length !== 2 || weight.data.length !== outFeatures * inFeatures) {
    throw new RangeError(`quantizeLinearWeight: expected a 2-D weight, got shape [${weight.shape}]`);
  }
  const q = new Int8Array(outFeatures * inFeatures);
  const scale = new Float64Array(outFeatures);
  for (let c = 0; c < outFeatures; c++) {
    const row = weight.data.subarray(c * inFeatures, (c + 1) * inFeatures);
    let max = 0;
    for (let i = 0; i < inFeatures; i++) max = Math.max(max, Math.abs(row[i]));
    const s = max > 0 ? max / 127 : 1;
    scale[c] = s;
    for (let i = 0; i < inFeatures; i++)
      q[c * inFeatures + i] = Math.max(-127, Math.min(127, roundHalfAway(row[i] / s)));
  }
  return { weight: q, scale, outFeatures, inFeatures };
}

/** A whole tensor at one scale: max |x| / 127. */
export function quantizeTensorPerTensor(t: Tensor): { values: Int8Array; scale: number } {
  let max = 0;
  for (let i = 0; i < t.data.length; i++) max = Math.max(max, Math.abs(t.data[i]));
  const scale = max > 0 ? max / 127 : 1;
  const values = new Int8Array(t.data.length);
  for (let i = 0; i < t.data.length; i++) values[i] = Math.max(-127, Math.min(127, roundHalfAway(t.data[i] / scale)));
  return { values, scale };
}

/** Bias at scale inputScale * weightScale[c], as int32; refuses a bias that does not fit. */
export function quantizeBias(bias: Tensor, inputScale: number, weightScale: Float64Array, what = 'bias'): Int32Array {
  if (bias.data.length !== weightScale.length) {
    throw new RangeError(`${what}: ${bias.data.length} values for ${weightScale.length} channels`);
  }
  const out = new Int32Array(bias.data.length);
  for (let c = 0; c < out.length; c++) {
    const q = roundHalfAway(bias.data[c] / (inputScale * weightScale[c]));
    if (!(Math.abs(q) < 2 ** 30)) {
      throw new RangeError(
        `${what}[${c}] = ${bias.data[c]} is ${q} at scale ${inputScale * weightScale[c]}: beyond 2^30, the int32 accumulator's headroom`,
      );
    }
    out[c] = q;
  }
  return out;
}
