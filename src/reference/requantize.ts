/**
 * CPU reference of the requantize kernel (the specification the shader must match bit for bit):
 *
 *   out[r, c] = dyadic(x[r, c], m[c], e[c]) saturated to [-128, 127] ('i8') or [0, 255] ('u8')
 *
 * x is int32 [rows, cols] row-major; (m, e) is one pair per column (channel) or one for the tensor.
 * Every int32 x and every m < 2^31, e <= 63 is in the domain: the dyadic rescale is exact for all
 * of them (src/reference/dyadic.ts), so nothing can overflow and no configuration is refused for
 * range reasons.
 *
 * Accuracy against float: with real input x * S_in[c] and output scale S_out, the ratio
 * r = S_in[c] / S_out is represented as m / 2^e with |m / 2^e - r| = delta, and
 *   |out - clamp(x r)| <= 1/2 + |x| delta          (output steps)
 * since saturation is 1-Lipschitz. toDyadic keeps m >= 2^30 whenever e <= 63 allows it, so
 * delta <= r 2^-31 and the multiplier term is below 2^-31 of the output magnitude: invisible for
 * unsaturated outputs (|x r| <= 255).
 */
import { checkDyadic, type Dyadic, dyadicScale, toDyadic } from './dyadic.js';

export type RequantizeOutput = 'i8' | 'u8';

/** Saturation range of an output type. */
export function requantizeRange(output: RequantizeOutput): [number, number] {
  return output === 'u8' ? [0, 255] : [-128, 127];
}

/** Unpacked result: Int8Array for 'i8', Uint8Array for 'u8'. */
/** The arguments' checks every requantize implementation shares (`what` names the caller). */
export function checkRequantizeInput(what: string, x: Int32Array, rows: number, cols: number, requant: Dyadic[]): void {
  if (x.length !== rows * cols) throw new RangeError(`${what}: ${x.length} values for ${rows}x${cols}`);
  if (requant.length !== cols && requant.length !== 1)
    throw new RangeError(`${what}: ${requant.length} multipliers for ${cols} channels`);
  requant.forEach((d, i) => checkDyadic(d, `requant[${i}]`));
}

export function requantizeRef(
  x: Int32Array,
  rows: number,
  cols: number,
  requant: Dyadic[],
  output: RequantizeOutput = 'i8',
): Int8Array | Uint8Array {
  checkRequantizeInput('requantizeRef', x, rows, cols, requant);
  const [lo, hi] = requantizeRange(output);
  const out = output === 'u8' ? new Uint8Array(rows * cols) : new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const { m, e } = requant.length === 1 ? requant[0] : requant[c];
      out[r * cols + c] = dyadicScale(x[r * cols + c], m, e, lo, hi);
    }
  }
  return out;
}

/**
 * Planner: the multipliers m / 2^e ~ S_in / S_out for a tensor whose input scale is one number
 * (per tensor) or one per column (per channel, e.g. S_x * S_w[c] after a GEMM).
 */
export function planRequantize(inputScales: number | ArrayLike<number>, outputScale: number): Dyadic[] {
  if (!(outputScale > 0) || !Number.isFinite(outputScale))
    throw new RangeError(`planRequantize: output scale ${outputScale} is not a positive finite number`);
  const scales = typeof inputScales === 'number' ? [inputScales] : Array.from(inputScales);
  if (scales.length === 0) throw new RangeError('planRequantize: no input scales');
  return scales.map((s, c) => toDyadic(s / outputScale, `requantize ratio S_in[${c}] / S_out`));
}

/**
 * Planner: the output scale that maps a calibrated real range onto the output type without
 * saturating it: max|x| / 127 for int8, max x / 255 for uint8 (non-negative data).
 */
export function requantizeOutputScale(maxAbsReal: number, output: RequantizeOutput = 'i8'): number {
  if (!(maxAbsReal > 0) || !Number.isFinite(maxAbsReal))
    throw new RangeError(`requantizeOutputScale: range ${maxAbsReal} is not a positive finite number`);
  return maxAbsReal / requantizeRange(output)[1];
}

/**
 * Relative precision of planned multipliers: toDyadic keeps m >= 2^30 (unless the ratio is below
 * 2^-33 and the shift caps at 63), so |m / 2^e - r| <= r 2^-31; bounds use twice that.
 */
export const PLANNED_RATIO_PRECISION = 2 ** -30;

/** The accuracy bound above, in output steps, for one element; delta bounds |m / 2^e - r|. */
export function requantizeErrorBound(x: number, delta: number): number {
  return 0.5 + Math.abs(x) * delta;
}
