/**
 * Integer SiLU (swish, x sigmoid(x)) from an int32 accumulator to int8: the specification that
 * shaders/silu-i8.ts must match bit for bit, and the derivation of its integer constants.
 *
 * The sigmoid comes from the integer exp of the integer softmax (I-BERT's i-exp, iExpRef of
 * src/reference/softmax-i8.ts, with the softmax's own polynomial constants), always at a
 * non-positive argument so that exp stays in (0, 1]:
 *   sigmoid(-u) = exp(-u) / (1 + exp(-u))          u = |x| >= 0
 *   sigmoid(x)  = 1 - sigmoid(-x)                  for x >= 0 (= 1 / (1 + exp(-x)))
 * Like i-GELU, SiLU is written as relu minus a correction, for both signs of x:
 *   SiLU(x) = relu(x) - corr(|x|),   corr(u) = u sigmoid(-u) = u exp(-u) / (1 + exp(-u))
 * (x >= 0: x - x (1 - sigmoid(x)); x < 0: x sigmoid(x) = -|x| sigmoid(-|x|)). The unbounded part
 * needs no multiplication, and corr is at most 0.2785 (at u = 1.28) and below 2e-6 beyond u = 16,
 * so the product only ever sees |x| <= 16.
 *
 * Integer pipeline (fixed point 2^-15, the i-exp's argument scale; u32 from step 2 to step 8):
 *   1  x    = dyadic(q, input) saturated to +-(2^31 - 1)       any int32 q accepted
 *   2  u    = min(|x|, clip)                                    clip = 2^19 (16.0)
 *   3  z    = floor(u / ln2) <= 23, rem = u - z ln2 <= ln2 - 1 <= b
 *   4  poly = (b - rem)^2 + c <= b^2 + c = 2998027182 < 2^32    the softmax's bound
 *   5  E    = round(poly / 2^(shift + z)) <= one                exp(-u) in units of 1 / one
 *      one  = round((b^2 + c) / 2^shift) = E at u = 0 = 5718    (shift 19), so E(0) / one = 1 exactly
 *   6  D    = E + one in [one, 2 one]
 *   7  n    = u E <= clip one = 2997878784 < 2^32                why shift is 19 (18 gives 5.99e9)
 *   8  corr = round(n / D), ties up = n / D + (2 (n mod D) >= D)     2 (n mod D) < 2 D <= 4 one
 *      corr <= ceil(u / 2) <= 2^18 since E <= one
 *   9  g    = max(x, 0) - corr in [-2^18, 2^31 - 1]              the fixed-point SiLU, scale 2^-15
 *  10  out  = dyadic(g, output) saturated to [-128, 127]
 * Saturating x at +-(2^31 - 1) keeps |x| an int32 and is harmless: 2^31 - 1 units are 65536.0,
 * far above 127.5 S_out for any plan (checked on derive), and below -16 SiLU is 0 in int8.
 *
 * Measured against float64 x sigmoid(x) (test/silu-i8.test.ts): the fixed-point SiLU is within
 * SILU_FIXED_ERROR_BOUND (1e-3; measured 8.5e-4) of it everywhere, and the int8 output within half
 * an output step plus that (siluOutputErrorSteps); docs/kernels/silu-i8.md has the table.
 */
import { checkDyadic, type Dyadic, dyadicScale, toDyadic } from './dyadic.js';
import { deriveSoftmaxI8Constants, IEXP_FRACTION_BITS, iExpRef, type SoftmaxI8Constants } from './softmax-i8.js';

/** Fixed-point bits of the SiLU domain: the i-exp's argument scale, so x feeds the exp unchanged. */
export const SILU_FRAC_BITS = IEXP_FRACTION_BITS;
/** |x| beyond which the correction is dropped: 16.0 (corr(16) = 1.8e-6). */
export const SILU_CLIP = 2 ** 19;

const INT32_MAX = 2 ** 31 - 1;
const U32_MAX = 2 ** 32 - 1;

/** Per-tensor constants of the integer SiLU, as the shader's SiluI8 struct holds them. */
export interface SiluI8Constants {
  /** Accumulator scale -> fixed point 2^-15 (per tensor; a per-channel requant overrides it). */
  input: Dyadic;
  /** |x| where the correction stops (fixed point). */
  clip: number;
  /** The integer softmax's i-exp polynomial: round(ln2 2^15), b, c (src/reference/softmax-i8.ts). */
  ln2: number;
  b: number;
  c: number;
  /** Right shift of the polynomial at z = 0. */
  shift: number;
  /** E at u = 0: round((b^2 + c) / 2^shift), the integer 1 of the sigmoid's ratio. */
  one: number;
  /** Fixed point 2^-15 -> int8 output scale. */
  output: Dyadic;
}

/** The proven maxima of the intermediates (the table in the header). */
export interface SiluI8Bounds {
  zMax: number;
  polyMax: number;
  /** Largest E (= one), largest D = 2 one, largest n = clip one. */
  expMax: number;
  denominatorMax: number;
  productMax: number;
  /** Largest corr: ceil(clip / 2). */
  corrMax: number;
}

function positiveFinite(name: string, v: number): void {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`i-SiLU: ${name} = ${v} must be a positive finite number.`);
}

/** round(p / 2^k), ties up, for p < 2^53 and k >= 0: the rounding of the i-exp (softmax's shr_round). */
function shiftRound(p: number, k: number): number {
  if (k === 0) return p;
  if (k > 53) return 0;
  return Math.floor((p + 2 ** (k - 1)) / 2 ** k);
}

/**
 * The overflow proof: refuses constants for which an intermediate could leave u32 (steps 2-8) or
 * int32 (steps 1, 9), and returns the bounds. Holds for every int32 input q (step 1 saturates).
 */
export function checkSiluI8Constants(c: SiluI8Constants, what = 'i-SiLU constants'): SiluI8Bounds {
  const fail = (why: string): never => {
    throw new RangeError(`${what}: ${why}`);
  };
  checkDyadic(c.input, `${what}: input`);
  checkDyadic(c.output, `${what}: output`);
  for (const k of ['clip', 'ln2', 'b', 'c', 'shift', 'one'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] > U32_MAX) fail(`${k} = ${c[k]} is not a u32`);
  }
  if (c.clip > INT32_MAX) fail(`clip = ${c.clip} exceeds 2^31 - 1 (|x| is at most that)`);
  if (c.ln2 < 1) fail('ln2 must be at least 1');
  if (c.shift > 31) fail(`shift = ${c.shift} must be at most 31`);
  const zMax = Math.floor(c.clip / c.ln2);
  const remMax = Math.min(c.ln2 - 1, c.clip);
  if (c.b < remMax) fail(`b - rem can go negative (b = ${c.b} < largest rem ${remMax}): u32 underflow`);
  const polyMax = c.b * c.b + c.c;
  if (polyMax > U32_MAX) fail(`poly = (b - rem)^2 + c reaches ${polyMax} and overflows u32`);
  const one = shiftRound(polyMax, c.shift);
  if (c.one !== one) fail(`one = ${c.one} must be E at u = 0, round((b^2 + c) / 2^shift) = ${one}`);
  if (one < 1) fail(`exp(0) rounds to 0 at shift ${c.shift}: the sigmoid would divide 0 by 0`);
  const productMax = c.clip * one;
  if (productMax > U32_MAX) {
    fail(
      `u * E can reach clip * one = ${c.clip} * ${one} = ${productMax} and overflow u32; use a larger shift or a smaller clip`,
    );
  }
  return {
    zMax,
    polyMax,
    expMax: one,
    denominatorMax: 2 * one,
    productMax,
    corrMax: Math.ceil(c.clip / 2),
  };
}

/** Dyadic multiplier from an accumulator scale to the SiLU fixed-point domain (one channel). */
export function siluInputRescale(sIn: number): Dyadic {
  positiveFinite('S_in', sIn);
  return toDyadic(sIn * 2 ** SILU_FRAC_BITS, 'i-SiLU input rescale S_in * 2^15');
}

/** The smallest exp shift (most resolution) for which u * E stays in u32 up to `clip`. */
export function siluShift(clip: number, polyMax: number): number {
  for (let k = 0; k <= 31; k++) if (clip * shiftRound(polyMax, k) <= U32_MAX) return k;
  throw new RangeError(`i-SiLU: no shift keeps clip = ${clip} in range`);
}

/**
 * Every integer constant of the i-SiLU from the float scale S_in of the int32 accumulator and the
 * planned scale S_out of the int8 output. This is what a planner calls, once per layer.
 */
export function deriveSiluI8Constants(sIn: number, sOut: number): SiluI8Constants {
  positiveFinite('S_in', sIn);
  positiveFinite('S_out', sOut);
  const s = 2 ** -SILU_FRAC_BITS;
  // The positive saturation of x must lie where the int8 output already saturates.
  if (INT32_MAX * s < 127.5 * sOut) {
    throw new RangeError(
      `i-SiLU: S_out = ${sOut} puts the int8 range beyond the fixed-point domain (${INT32_MAX * s}).`,
    );
  }
  // The softmax's i-exp constants, unchanged: one integer exp for the whole runtime.
  const e = iExpConstants();
  const polyMax = e.b * e.b + e.c;
  const shift = siluShift(SILU_CLIP, polyMax);
  const constants: SiluI8Constants = {
    input: siluInputRescale(sIn),
    clip: SILU_CLIP,
    ln2: e.ln2,
    b: e.b,
    c: e.c,
    shift,
    one: shiftRound(polyMax, shift),
    output: toDyadic(s / sOut, 'i-SiLU output rescale 2^-15 / S_out'),
  };
  checkSiluI8Constants(constants);
  return constants;
}

/** The integer softmax's exp polynomial (its scale-independent constants). */
function iExpConstants(): Pick<SoftmaxI8Constants, 'ln2' | 'b' | 'c'> {
  const { ln2, b, c } = deriveSoftmaxI8Constants(2 ** -IEXP_FRACTION_BITS);
  return { ln2, b, c };
}

/** The struct as the shader reads it: (in_m, in_e, clip, ln2, b, c, shift, one, out_m, out_e). */
export function packSiluI8Constants(c: SiluI8Constants): Uint32Array {
  checkSiluI8Constants(c);
  return Uint32Array.from([c.input.m, c.input.e, c.clip, c.ln2, c.b, c.c, c.shift, c.one, c.output.m, c.output.e]);
}

/** exp(-u) in units of 1 / c.one for u in [0, clip] (fixed point 2^-15): the softmax's i-exp. */
export function siluExp(u: number, c: SiluI8Constants): number {
  // iExpRef rescales d by (1, 0), i.e. not at all, and saturates at tMax = clip: t = u.
  return iExpRef(u, { rescale: { m: 1, e: 0 }, tMax: c.clip, ln2: c.ln2, b: c.b, c: c.c, shift: c.shift });
}

/** corr(u) = round(u E / (E + one)) in fixed point: u sigmoid(-u). */
export function siluCorrection(u: number, c: SiluI8Constants): number {
  const e = siluExp(u, c);
  const d = e + c.one;
  const n = u * e;
  const q = Math.floor(n / d);
  // n < 2^32: the double quotient is exact enough that floor never errs by one, but check it.
  const r = n - q * d;
  return q + (2 * r >= d ? 1 : 0);
}

/** The fixed-point SiLU g (scale 2^-15) of one accumulator value q. */
export function isiluFixed(q: number, input: Dyadic, c: SiluI8Constants): number {
  const x = dyadicScale(q, input.m, input.e, -INT32_MAX, INT32_MAX);
  const u = Math.min(Math.abs(x), c.clip);
  return Math.max(x, 0) - siluCorrection(u, c);
}

/** The int8 i-SiLU of one accumulator value q. */
export function isilu(q: number, input: Dyadic, c: SiluI8Constants): number {
  return dyadicScale(isiluFixed(q, input, c), c.output.m, c.output.e, -128, 127);
}

/**
 * i-SiLU of a row-major [rows, cols] int32 tensor. `requant`: per-column input rescales (length
 * cols) replacing c.input, for accumulators with per-output-channel weight scales.
 */
export function isiluRef(
  acc: Int32Array,
  rows: number,
  cols: number,
  c: SiluI8Constants,
  requant?: Dyadic[],
): Int8Array {
  if (acc.length !== rows * cols) throw new RangeError(`isiluRef: ${acc.length} values for ${rows}x${cols}`);
  if (requant && requant.length !== cols)
    throw new RangeError(`isiluRef: ${requant.length} input rescales for ${cols} columns`);
  checkSiluI8Constants(c);
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) out[r * cols + j] = isilu(acc[r * cols + j], requant ? requant[j] : c.input, c);
  }
  return out;
}

/** SiLU(x) = x sigmoid(x) in float64, stable for either sign (exp of a non-positive argument only). */
export function siluExact(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? x / (1 + e) : (x * e) / (1 + e);
}

/**
 * Largest |g 2^-15 - SiLU(x)| of the fixed-point SiLU over every fixed-point x in [-20, 20]
 * (measured 8.34e-4 at x = -1.93; 8.50e-4 through the rescale of other input scales), see
 * docs/kernels/silu-i8.md.
 */
export const SILU_FIXED_ERROR_BOUND = 1e-3;
/** Mean of the same over [-8, 8] (measured 2.7e-4 .. 3.1e-4). */
export const SILU_FIXED_MEAN_BOUND = 4e-4;

/**
 * The int8 output's bound in output steps at output scale S_out: half a step of int8 rounding
 * plus the fixed-point error in steps (measured 0.550 at S_out = 2/127, bound 0.563).
 */
export function siluOutputErrorSteps(sOut: number): number {
  return 0.5 + SILU_FIXED_ERROR_BOUND / sOut;
}

/**
 * Largest |isilu(q) - clamp(SiLU(q S_in) / S_out)| in output steps over accumulators q in
 * [-qMax, qMax] (every `stride`-th), with the mean: the measurement behind the asserted bounds.
 */
export function siluI8Error(
  sIn: number,
  sOut: number,
  qMax: number,
  stride = 1,
): { max: number; mean: number; fixedMax: number; fixedMean: number } {
  const c = deriveSiluI8Constants(sIn, sOut);
  let max = 0;
  let sum = 0;
  let fixedMax = 0;
  let fixedSum = 0;
  let n = 0;
  for (let q = -qMax; q <= qMax; q += stride) {
    const exact = siluExact(q * sIn);
    const want = Math.max(-128, Math.min(127, exact / sOut));
    const e = Math.abs(isilu(q, c.input, c) - want);
    const f = Math.abs(isiluFixed(q, c.input, c) * 2 ** -SILU_FRAC_BITS - exact);
    max = Math.max(max, e);
    sum += e;
    fixedMax = Math.max(fixedMax, f);
    fixedSum += f;
    n++;
  }
  return { max, mean: sum / n, fixedMax, fixedMean: fixedSum / n };
}
