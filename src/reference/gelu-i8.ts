/**
 * Integer GELU (I-BERT's i-GELU) from an int32 accumulator to int8: the specification that
 * shaders/gelu-i8.ts must match bit for bit, and the derivation of its integer constants.
 *
 * I-BERT approximates GELU(x) = x/2 (1 + erf(x / sqrt2)) with
 *   erf(y) ~ L(y) = sign(y) [a (min(|y|, -b) + b)^2 + 1],   a = -0.2888, b = -1.769.
 * Writing r = 1 - |L| = |a| (|b| - min(|y|, |b|))^2 and T = |b| sqrt2 (the clip on |x|), the same
 * function is, for either sign of x,
 *   GELU(x) ~ relu(x) - corr(|x|),   corr(u) = |a|/4 * min(u, T) * (T - min(u, T))^2,
 * because x (1 + L) / 2 = x - x r / 2 for x > 0 and = x r / 2 = -|x| r / 2 for x < 0, and r = 0
 * once |x| >= T. This form is what makes int32 enough: the unbounded part (relu) needs no
 * multiplication, and the product lives only on |x| <= T, whatever the accumulator's range.
 *
 * Integer pipeline (every step a dyadic rescale, the project's one rounding rule):
 *   x    = dyadic(q, input)  saturated to +-(2^31 - 1)   fixed point, scale 2^-fracBits
 *   xc   = min(|x|, clip)                                 clip = round(T 2^fracBits) <= 46340
 *   d    = clip - xc
 *   p    = dyadic(d * d, 1, shift)                        d^2 <= clip^2 < 2^31
 *   corr = dyadic(xc * p, corr)                           xc * p <= clip * pmax < 2^31 (proven)
 *   g    = max(x, 0) - corr                               the fixed-point GELU, scale 2^-fracBits
 *   out  = dyadic(g, output) saturated to [-128, 127]
 * Saturating x at +-(2^31 - 1) (not -2^31) keeps |x| an int32 and is harmless: below -T GELU is 0,
 * and 2^31 - 1 fixed-point units are far above any planned int8 output range (checked on derive).
 *
 * GPT-2's tanh GELU (gelu_new = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))) runs on this same
 * i-GELU: measured (test/gelu-new.test.ts), the two float GELUs differ by at most 4.8e-4 over all
 * x (at x = 2.70), 38x less than the polynomial's own error, 0.0182 against erf GELU (at x = -2.35)
 * and 0.0178 against gelu_new. End to end in int8, with the output scale S_out = R / 127 for
 * pre-activation ranges R = 2, 4, 8, 16, 32 and accumulators at S_in = R / 2^20 (every value of
 * the range) or R / 127 (int8 inputs), the largest error of the i-GELU is
 *   vs erf GELU:  1.150, 1.076, 0.788, 0.644, 0.571 output steps
 *   vs gelu_new:  1.151, 1.064, 0.782, 0.641, 0.570 output steps
 * (half a step of it is the int8 rounding itself), so a tanh-GELU kernel could win at most a few
 * hundredths of a step: not worth a second polynomial. GELU_NEW_MAX_ERROR_STEPS is the asserted bound.
 */
import { checkDyadic, type Dyadic, dyadicScale, toDyadic } from './dyadic.js';

export const IGELU_A = -0.2888;
export const IGELU_B = -1.769;
/** |x| beyond which the polynomial's erf is clipped to +-1: |b| sqrt2. */
export const IGELU_CLIP = -IGELU_B * Math.SQRT2;
/** Fixed-point bits of the GELU domain: the largest for which clip^2 fits in int32. */
export const GELU_FRAC_BITS = 14;

const INT32_MAX = 2 ** 31 - 1;
/** floor(sqrt(2^31 - 1)): the largest clip whose square is an int32. */
export const MAX_GELU_CLIP = 46340;

/** Per-tensor constants of the integer GELU, as the shader's GeluI8 struct holds them. */
export interface GeluI8Constants {
  /** Accumulator scale -> fixed point 2^-fracBits (per tensor; a per-channel requant overrides it). */
  input: Dyadic;
  /** round(|b| sqrt2 2^fracBits): |x| where erf reaches +-1. */
  clip: number;
  /** Right shift (rounded) of d^2 so that xc * p fits in int32. */
  shift: number;
  /** |a|/4 2^(shift - 2 fracBits): maps xc * p to the correction in fixed-point units. */
  corr: Dyadic;
  /** Fixed point 2^-fracBits -> int8 output scale. */
  output: Dyadic;
}

function positiveFinite(name: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`i-GELU: ${name} = ${v} must be a positive finite number.`);
}

/** Largest p = dyadic(d^2, 1, shift) over d in [0, clip]. */
export function geluMaxP(clip: number, shift: number): number {
  return dyadicScale(clip * clip, 1, shift, 0, INT32_MAX);
}

/**
 * The overflow proof: refuses constants for which an intermediate of the pipeline above could
 * leave int32. Holds for every int32 input q (the first step saturates).
 */
export function checkGeluI8Constants(c: GeluI8Constants, what = 'i-GELU constants'): void {
  checkDyadic(c.input, `${what}: input`);
  checkDyadic(c.corr, `${what}: corr`);
  checkDyadic(c.output, `${what}: output`);
  if (!Number.isInteger(c.clip) || c.clip < 0 || c.clip > MAX_GELU_CLIP) {
    throw new RangeError(
      `${what}: clip = ${c.clip} must be an integer in [0, ${MAX_GELU_CLIP}] so that clip^2 fits in int32 (fracBits <= ${GELU_FRAC_BITS}).`,
    );
  }
  if (!Number.isInteger(c.shift) || c.shift < 0 || c.shift > 31) {
    throw new RangeError(`${what}: shift = ${c.shift} must be an integer in [0, 31].`);
  }
  const pMax = geluMaxP(c.clip, c.shift);
  if (c.clip * pMax > INT32_MAX) {
    throw new RangeError(
      `${what}: clip * round(clip^2 / 2^shift) = ${c.clip} * ${pMax} = ${c.clip * pMax} overflows int32; shift must be at least ${minShift(c.clip)}.`,
    );
  }
}

/** The smallest shift (most resolution) for which xc * p cannot overflow. */
export function minShift(clip: number): number {
  for (let k = 0; k <= 31; k++) if (clip * geluMaxP(clip, k) <= INT32_MAX) return k;
  throw new RangeError(`i-GELU: no shift keeps clip = ${clip} in range`);
}

/** Dyadic multiplier from an accumulator scale to the GELU fixed-point domain (one channel). */
export function geluInputRescale(sIn: number, fracBits = GELU_FRAC_BITS): Dyadic {
  positiveFinite('S_in', sIn);
  return toDyadic(sIn * 2 ** fracBits, 'i-GELU input rescale S_in * 2^fracBits');
}

/**
 * Every integer constant of the i-GELU from the float scale S_in of the int32 accumulator and the
 * planned scale S_out of the int8 output. This is what the planner calls, once per layer.
 */
export function deriveGeluI8Constants(sIn: number, sOut: number, fracBits = GELU_FRAC_BITS): GeluI8Constants {
  positiveFinite('S_in', sIn);
  positiveFinite('S_out', sOut);
  if (!Number.isInteger(fracBits) || fracBits < 1 || fracBits > GELU_FRAC_BITS) {
    throw new RangeError(
      `i-GELU: fracBits = ${fracBits} must be an integer in [1, ${GELU_FRAC_BITS}] (clip^2 must fit in int32).`,
    );
  }
  const s = 2 ** -fracBits;
  // The positive saturation of x must lie where the int8 output already saturates.
  if (INT32_MAX * s < 127.5 * sOut) {
    throw new RangeError(
      `i-GELU: S_out = ${sOut} puts the int8 range beyond the fixed-point domain (${INT32_MAX * s}).`,
    );
  }
  const clip = Math.round(IGELU_CLIP / s);
  const shift = minShift(clip);
  const constants: GeluI8Constants = {
    input: geluInputRescale(sIn, fracBits),
    clip,
    shift,
    // corr(u) / s = |a|/4 s^2 xc d^2 = |a|/4 s^2 2^shift (xc p).
    corr: toDyadic((-IGELU_A / 4) * s * s * 2 ** shift, 'i-GELU correction multiplier'),
    output: toDyadic(s / sOut, 'i-GELU output rescale 2^-fracBits / S_out'),
  };
  checkGeluI8Constants(constants);
  return constants;
}

/** The struct as the shader reads it: (in_m, in_e, clip, shift, corr_m, corr_e, out_m, out_e). */
export function packGeluI8Constants(c: GeluI8Constants): Uint32Array {
  checkGeluI8Constants(c);
  return Uint32Array.from([c.input.m, c.input.e, c.clip, c.shift, c.corr.m, c.corr.e, c.output.m, c.output.e]);
}

/** The fixed-point GELU g (scale 2^-fracBits) of one accumulator value q. */
export function igeluFixed(q: number, input: Dyadic, c: GeluI8Constants): number {
  const x = dyadicScale(q, input.m, input.e, -INT32_MAX, INT32_MAX);
  const xc = Math.min(Math.abs(x), c.clip);
  const d = c.clip - xc;
  // Both products are below 2^31 (checkGeluI8Constants), so doubles hold them exactly.
  const p = dyadicScale(d * d, 1, c.shift, 0, INT32_MAX);
  const corr = dyadicScale(xc * p, c.corr.m, c.corr.e, 0, INT32_MAX);
  return Math.max(x, 0) - corr;
}

/** The int8 i-GELU of one accumulator value q. */
export function igelu(q: number, input: Dyadic, c: GeluI8Constants): number {
  return dyadicScale(igeluFixed(q, input, c), c.output.m, c.output.e, -128, 127);
}

/** The arguments' checks every i-GELU implementation shares (`what` names the caller). */
export function checkIgeluInput(
  what: string,
  acc: Int32Array,
  rows: number,
  cols: number,
  c: GeluI8Constants,
  requant?: Dyadic[],
): void {
  if (acc.length !== rows * cols) throw new RangeError(`${what}: ${acc.length} values for ${rows}x${cols}`);
  if (requant && requant.length !== cols)
    throw new RangeError(`${what}: ${requant.length} input rescales for ${cols} columns`);
  checkGeluI8Constants(c);
}

/**
 * i-GELU of a row-major [rows, cols] int32 tensor. `requant`: per-column input rescales (length
 * cols) replacing c.input, for accumulators with per-output-channel weight scales.
 */
export function igeluRef(
  acc: Int32Array,
  rows: number,
  cols: number,
  c: GeluI8Constants,
  requant?: Dyadic[],
): Int8Array {
  checkIgeluInput('igeluRef', acc, rows, cols, c, requant);
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) out[r * cols + j] = igelu(acc[r * cols + j], requant ? requant[j] : c.input, c);
  }
  return out;
}

/**
 * erf in float64 to ~1e-15 absolute, the truth for accuracy measurements:
 * erf(y) = 2/sqrt(pi) e^(-y^2) sum_n 2^n y^(2n+1) / (1 * 3 * ... * (2n+1)), a series of positive
 * terms (no cancellation, unlike the Taylor series of erf itself). erfc(6) < 3e-17.
 */
export function erf(y: number): number {
  if (Number.isNaN(y)) return NaN;
  const ay = Math.abs(y);
  if (ay >= 6) return Math.sign(y);
  const y2 = ay * ay;
  let term = ay;
  let sum = ay;
  for (let n = 1; n < 500; n++) {
    term *= (2 * y2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(y) * Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-y2) * sum);
}

/** Exact GELU(x) = x/2 (1 + erf(x / sqrt2)). */
export function geluExact(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** GPT-2's gelu_new: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in float64. */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/**
 * Largest error of the int8 i-GELU against gelu_new, in output steps, at output scales R / 127 for
 * pre-activation ranges R in [2, 32] (measured 1.151 at R = 2, see the header).
 */
export const GELU_NEW_MAX_ERROR_STEPS = 1.16;

/**
 * Largest |igelu(q) - clamp(f(q S_in) / S_out)| in output steps over accumulators q in
 * [-qMax, qMax] (every `stride`-th), for the constants derived from (S_in, S_out): the measurement
 * behind GELU_NEW_MAX_ERROR_STEPS, with f = geluTanh or geluExact.
 */
export function geluI8MaxError(f: (x: number) => number, sIn: number, sOut: number, qMax: number, stride = 1): number {
  const c = deriveGeluI8Constants(sIn, sOut);
  let max = 0;
  for (let q = -qMax; q <= qMax; q += stride) {
    const want = Math.max(-128, Math.min(127, f(q * sIn) / sOut));
    max = Math.max(max, Math.abs(igelu(q, c.input, c) - want));
  }
  return max;
}

/** I-BERT's polynomial GELU in float64 (no integer rounding), for separating the error sources. */
export function geluPolynomial(x: number): number {
  const u = Math.min(Math.abs(x), IGELU_CLIP);
  return Math.max(x, 0) - (-IGELU_A / 4) * u * (IGELU_CLIP - u) ** 2;
}
