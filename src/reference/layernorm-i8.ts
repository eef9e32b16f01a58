/**
 * Integer LayerNorm (I-BERT style), the specification shaders/layernorm-i8.ts must match bit for bit.
 *
 * Input: the wide residual stream, int32 [rows, H] at scale S_in, declared |x| <= B (inputMaxAbs).
 * Output: int8 [rows, H] at scale S_out. Per row, with every rounding rule fixed:
 *
 *   xc    = clamp(x, -B, B)                      inputs beyond the declared bound saturate
 *   mean  = floor((sum(xc) + floor(H/2)) / H)     nearest, ties toward +inf (sum needs up to 45 bits)
 *   y     = xc - mean                             |y| <= 2B < 2^31
 *   t     = floor(y / 2^s + 1/2)                  per-layer variance shift s, ties toward +inf
 *   V     = min(sum(min(t^2, 2^32-1)) + epsVar, 2^32-1)    saturating: defined for every input
 *   h     = min(floor(clz(V) / 2), 8 + s)         normalizes V so that its square root has 16 bits
 *   R     = isqrt(V * 4^h)                        exact floor square root of a u32, R ~ sqrt(V) * 2^h
 *   F     = floor((2^32-1) / R)                   (F = 0 when V = 0: the row is flat, output = beta)
 *   z     = dyadic(y, F, 8 + s - h) in [-2^30, 2^30]      = 2^24 * y / sqrt(sum y^2 + eps'), |.| <= 2^24
 *   d     = dyadic(+-z, m_c, e_c) in [-2^30, 2^30]        = 256 * gamma_c * (y / std) / S_out
 *   out   = dyadic(d + beta_c, 1, 8) in [-128, 127]       beta_c = round(256 * beta_c / S_out)
 *
 * where dyadic is src/reference/dyadic.ts (ties away from zero, saturating). The normalized value z
 * carries 24 fraction bits, gamma and beta keep 8 fraction bits until the final rounding, so the
 * result is within about half an output step of float LayerNorm (docs/kernels/layernorm-i8.md).
 */
import { checkDyadic, type Dyadic, dyadicScale, MAX_SHIFT, toDyadic } from './dyadic.js';
import { type ResidualAddConstants, type ResidualMultipliers, residualAddRef } from './residual-add.js';

/** Largest row length whose sums the overflow proof covers (docs/kernels/layernorm-i8.md). */
export const LN_MAX_H = 16384;
/** Largest declared input bound: y = x - mean must stay inside int32. */
export const LN_MAX_INPUT_ABS = 2 ** 30 - 1;
/** Fraction bits of the normalized value z = y / sqrt(sum y^2). */
export const LN_NORM_BITS = 24;
/** Fraction bits gamma * z and beta keep before the final rounding to int8. */
export const LN_BETA_FRAC_BITS = 8;
/** Saturation of z and of gamma * z: large enough that any clipped value also clips the int8 output. */
export const LN_WIDE_LIMIT = 2 ** 30;
/** |beta| in 1/256 output steps; with LN_WIDE_LIMIT it keeps d + beta inside int32. */
export const LN_MAX_BETA = 2 ** 29;
/** Cap on h: keeps the exponent of z, 32 + s - h - LN_NORM_BITS, non-negative. */
const H_CAP_BASE = 32 - LN_NORM_BITS;
const U32_MAX = 2 ** 32 - 1;

export interface LayerNormI8Channel {
  /** gamma_c folded with sqrt(H), S_out and the fixed-point positions, as a dyadic magnitude. */
  m: number;
  e: number;
  /** gamma_c < 0. */
  negate: boolean;
  /** round(256 * beta_c / S_out), |beta| <= 2^29. */
  beta: number;
}

export interface LayerNormI8Constants {
  H: number;
  /** Declared bound B: inputs are clamped to [-B, B]. */
  inputMaxAbs: number;
  /** Variance pre-shift s in [0, 31]. */
  shift: number;
  /** eps in units of the variance sum: round(H * eps / (S_in^2 * 4^s)), a u32. */
  epsVar: number;
  channels: LayerNormI8Channel[];
}

function checkInt(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new RangeError(`layernorm-i8: ${what} = ${v} is not an integer in [${lo}, ${hi}].`);
}

/** Refuses constants outside the ranges the overflow proof covers. */
export function checkLayerNormI8Constants(c: LayerNormI8Constants): void {
  checkInt('H', c.H, 1, LN_MAX_H);
  checkInt('inputMaxAbs', c.inputMaxAbs, 0, LN_MAX_INPUT_ABS);
  checkInt('shift', c.shift, 0, 31);
  checkInt('epsVar', c.epsVar, 0, U32_MAX);
  if (c.channels.length !== c.H)
    throw new RangeError(`layernorm-i8: ${c.channels.length} channel constants for H = ${c.H}.`);
  c.channels.forEach((ch, i) => {
    checkDyadic(ch, `layernorm-i8 gamma[${i}]`);
    checkInt(`beta[${i}]`, ch.beta, -LN_MAX_BETA, LN_MAX_BETA);
  });
}

/** Exact floor(sqrt(v)) for a u32, by the bitwise method the shader uses (16 fixed steps). */
export function isqrtU32(v: number): number {
  checkInt('isqrt argument', v, 0, U32_MAX);
  let rem = v;
  let root = 0;
  let bit = 2 ** 30;
  for (let i = 0; i < 16; i++) {
    // Invariant before step j = 15 - i: root = q * 4^(j+1) with q the root's bits above j, rem = v - q^2 * 4^(j+1).
    if (rem >= root + bit) {
      rem -= root + bit;
      root = root / 2 + bit;
    } else {
      root = root / 2;
    }
    bit /= 4;
  }
  return root;
}

/** floor((sum + floor(H/2)) / H): the row mean rounded to nearest, ties toward +infinity. */
export function roundedMean(sum: number, H: number): number {
  const n = sum + Math.floor(H / 2);
  let q = Math.floor(n / H);
  // |n| < 2^45, so the float quotient is within one of the truth; fix it exactly.
  const r = n - q * H;
  if (r < 0) q -= 1;
  else if (r >= H) q += 1;
  return q;
}

/** floor(y / 2^s + 1/2) without forming y + 2^(s-1), which could leave int32. */
export function shiftRound(y: number, s: number): number {
  return s === 0 ? y : (y >> s) + ((y >> (s - 1)) & 1);
}

/** Upper bound of |shiftRound(y, s)| over |y| <= maxAbsY. */
function shiftedBound(maxAbsY: number, s: number): number {
  return s === 0 ? maxAbsY : Math.floor(maxAbsY / 2 ** s + 0.5);
}

/**
 * The variance shift: the smallest s for which H * max|t|^2 fits a u32 when |x - mean| <= maxAbsY.
 * Pass a calibrated max |x - mean| for precision, or 2B (the declared worst case) for a proof that
 * the variance sum never saturates. Inputs beyond maxAbsY stay safe: the sum saturates.
 */
export function chooseVarianceShift(H: number, maxAbsY: number): number {
  checkInt('H', H, 1, LN_MAX_H);
  checkInt('maxAbsY', maxAbsY, 0, 2 * LN_MAX_INPUT_ABS);
  for (let s = 0; s <= 31; s++) {
    const t = shiftedBound(maxAbsY, s);
    if (H * t * t <= U32_MAX) return s;
  }
  return 31;
}

export interface LayerNormI8Bounds {
  /** Largest |x - mean| with |x| <= B. */
  maxAbsDeviation: number;
  /** Largest variance sum the declared bound allows (before saturation), excluding epsVar. */
  maxVariance: number;
  /** Whether some input under the declared bound saturates the variance sum. */
  varianceMaySaturate: boolean;
}

export function layerNormI8Bounds(H: number, inputMaxAbs: number, shift: number, epsVar = 0): LayerNormI8Bounds {
  checkInt('H', H, 1, LN_MAX_H);
  checkInt('inputMaxAbs', inputMaxAbs, 0, LN_MAX_INPUT_ABS);
  checkInt('shift', shift, 0, 31);
  // mean lies in [-B, B], so |x - mean| <= 2B; with H = 1, x = mean.
  const maxAbsDeviation = H === 1 ? 0 : 2 * inputMaxAbs;
  const t = shiftedBound(maxAbsDeviation, shift);
  const maxVariance = H * t * t;
  return { maxAbsDeviation, maxVariance, varianceMaySaturate: maxVariance + epsVar > U32_MAX };
}

export interface LayerNormI8Calibration {
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  eps: number;
  /** S_in: real value of one unit of the int32 input. */
  inputScale: number;
  /** S_out: real value of one unit of the int8 output. */
  outputScale: number;
  /** Declared bound B on |x| (e.g. 2^21 - 1 for a 22-bit residual stream). */
  inputMaxAbs: number;
  /** Calibrated max |x - mean| in input units; defaults to the declared worst case 2B. */
  maxAbsDeviation?: number;
}

/** The dyadic closest to a non-negative ratio, with ratios below the smallest dyadic step as 0. */
function gammaDyadic(ratio: number, i: number): Dyadic {
  if (ratio === 0 || ratio * 2 ** MAX_SHIFT < 0.5) return { m: 0, e: 0 };
  if (ratio >= 2 ** 31) {
    throw new RangeError(
      `layernorm-i8: gamma[${i}] / S_out is too large to fold (multiplier ${ratio} >= 2^31); raise the output scale.`,
    );
  }
  return toDyadic(ratio, `layernorm-i8 gamma[${i}]`);
}

/**
 * All integer constants of one LayerNorm from float gamma, beta, eps and the scales (the planner's
 * entry point). Throws RangeError for constants the kernel could not apply exactly.
 */
export function deriveLayerNormI8(c: LayerNormI8Calibration): LayerNormI8Constants {
  const H = c.gamma.length;
  checkInt('H', H, 1, LN_MAX_H);
  if (c.beta.length !== H) throw new RangeError(`layernorm-i8: ${c.beta.length} beta values for ${H} gamma values.`);
  for (const [what, v] of [
    ['inputScale', c.inputScale],
    ['outputScale', c.outputScale],
  ] as const) {
    if (!(v > 0) || !Number.isFinite(v))
      throw new RangeError(`layernorm-i8: ${what} = ${v} is not a positive finite number.`);
  }
  if (!(c.eps >= 0) || !Number.isFinite(c.eps))
    throw new RangeError(`layernorm-i8: eps = ${c.eps} is not a non-negative finite number.`);
  checkInt('inputMaxAbs', c.inputMaxAbs, 0, LN_MAX_INPUT_ABS);
  const maxAbsY = c.maxAbsDeviation ?? 2 * c.inputMaxAbs;
  const shift = chooseVarianceShift(H, Math.min(Math.ceil(maxAbsY), 2 * LN_MAX_INPUT_ABS));
  const epsVar = Math.min(Math.round((H * c.eps) / (c.inputScale * c.inputScale * 4 ** shift)), U32_MAX);
  // d = z * gamma * sqrt(H) * 2^8 / (S_out * 2^24): z is y / sqrt(sum y^2) = (y / std) / sqrt(H).
  const fold = Math.sqrt(H) / (c.outputScale * 2 ** (LN_NORM_BITS - LN_BETA_FRAC_BITS));
  const channels: LayerNormI8Channel[] = [];
  for (let i = 0; i < H; i++) {
    const g = c.gamma[i];
    const b = c.beta[i];
    if (!Number.isFinite(g) || !Number.isFinite(b))
      throw new RangeError(`layernorm-i8: gamma[${i}] = ${g}, beta[${i}] = ${b} must be finite.`);
    const beta = Math.round((b / c.outputScale) * 2 ** LN_BETA_FRAC_BITS);
    if (Math.abs(beta) > LN_MAX_BETA) {
      throw new RangeError(
        `layernorm-i8: beta[${i}] / S_out = ${b / c.outputScale} is beyond +-2^21 output steps; raise the output scale.`,
      );
    }
    channels.push({ ...gammaDyadic(Math.abs(g) * fold, i), negate: g < 0, beta: beta === 0 ? 0 : beta });
  }
  const constants = { H, inputMaxAbs: c.inputMaxAbs, shift, epsVar, channels };
  checkLayerNormI8Constants(constants);
  return constants;
}

/** Per-row intermediates of the reference (for tests and the docs' worked examples). */
export interface LayerNormI8RowStats {
  mean: number;
  variance: number;
  h: number;
  root: number;
  factor: number;
  /** Exponent of the normalization dyadic(y, factor, zShift). */
  zShift: number;
}

export function layerNormI8RowStats(row: ArrayLike<number>, c: LayerNormI8Constants): LayerNormI8RowStats {
  const { H, inputMaxAbs: B, shift: s } = c;
  let sum = 0;
  for (let i = 0; i < H; i++) sum += Math.min(Math.max(row[i], -B), B);
  const mean = roundedMean(sum, H);
  let variance = 0;
  for (let i = 0; i < H; i++) {
    const t = shiftRound(Math.min(Math.max(row[i], -B), B) - mean, s);
    const sq = Math.abs(t) > 0xffff ? U32_MAX : t * t;
    variance = Math.min(variance + sq, U32_MAX);
  }
  variance = Math.min(variance + c.epsVar, U32_MAX);
  if (variance === 0) return { mean, variance, h: 0, root: 0, factor: 0, zShift: 0 };
  const h = Math.min(Math.clz32(variance) >> 1, H_CAP_BASE + s);
  const root = isqrtU32(variance * 4 ** h);
  return { mean, variance, h, root, factor: Math.floor(U32_MAX / root), zShift: H_CAP_BASE + s - h };
}

/** The exact integer LayerNorm of [rows, H] int32 values: int8 [rows, H]. */
export function layerNormI8Ref(x: Int32Array, rows: number, c: LayerNormI8Constants): Int8Array {
  checkLayerNormInput('layerNormI8Ref', x, rows, c);
  return layerNormRows(x, rows, c, new Int8Array(rows * c.H), -128, 127);
}

/** Largest bound of a wide LayerNorm output: what a later LayerNorm may read (LN_MAX_INPUT_ABS). */
export const LN_MAX_WIDE_OUTPUT = LN_MAX_INPUT_ABS;

/**
 * The same LayerNorm with a wide output: int32 [rows, H], the last rounding saturated to
 * [-outMaxAbs, outMaxAbs] instead of int8. With S_out = range / outMaxAbs this writes the
 * normalized row straight into the wide residual stream (a residual reader of a LayerNorm whose
 * int8 output is too coarse for it). |d + beta| <= 2^30 + 2^29, so the output is within 2^22 + 2^21
 * whatever the bound; the bound is what later readers' proofs use.
 */
export function layerNormWideRef(x: Int32Array, rows: number, c: LayerNormI8Constants, outMaxAbs: number): Int32Array {
  checkLayerNormInput('layerNormWideRef', x, rows, c, outMaxAbs);
  return layerNormRows(x, rows, c, new Int32Array(rows * c.H), -outMaxAbs, outMaxAbs);
}

/**
 * The arguments' checks every LayerNorm implementation shares (`what` names the caller); with
 * `outMaxAbs`, a wide output's bound.
 */
export function checkLayerNormInput(
  what: string,
  x: Int32Array,
  rows: number,
  c: LayerNormI8Constants,
  outMaxAbs?: number,
): void {
  checkLayerNormI8Constants(c);
  if (x.length !== rows * c.H) throw new RangeError(`${what}: ${x.length} values for ${rows} rows of ${c.H}.`);
  if (outMaxAbs !== undefined) checkWideOutputBound(outMaxAbs, `${what} outMaxAbs`);
}

/** A wide output's saturation bound: an integer in [1, LN_MAX_WIDE_OUTPUT] (what a later LayerNorm may read). */
export function checkWideOutputBound(outMaxAbs: number, what = 'wide output bound'): void {
  checkInt(what, outMaxAbs, 1, LN_MAX_WIDE_OUTPUT);
}

function layerNormRows<T extends Int8Array | Int32Array>(
  x: Int32Array,
  rows: number,
  c: LayerNormI8Constants,
  out: T,
  lo: number,
  hi: number,
): T {
  const { H, inputMaxAbs: B } = c;
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * H, (r + 1) * H);
    const st = layerNormI8RowStats(row, c);
    for (let i = 0; i < H; i++) {
      const y = Math.min(Math.max(row[i], -B), B) - st.mean;
      const z = dyadicScale(y, st.factor, st.zShift, -LN_WIDE_LIMIT, LN_WIDE_LIMIT);
      const ch = c.channels[i];
      const d = dyadicScale(ch.negate ? -z : z, ch.m, ch.e, -LN_WIDE_LIMIT, LN_WIDE_LIMIT);
      out[r * H + i] = dyadicScale(d + ch.beta, 1, LN_BETA_FRAC_BITS, lo, hi);
    }
  }
  return out;
}

/**
 * The residual add and the LayerNorm of its sum (what the residual variant of the kernel computes
 * in one dispatch): by definition residualAddRef, then layerNormI8Ref on its int32 sum. a and b are
 * [rows, H] values (int8, int32, or int8 with `multipliers` as residualAddRef takes them).
 */
export function residualLayerNormI8Ref(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  residual: ResidualAddConstants,
  c: LayerNormI8Constants,
  multipliers: ResidualMultipliers = {},
): { sum: Int32Array; out: Int8Array } {
  if (a.length !== rows * c.H)
    throw new RangeError(`residualLayerNormI8Ref: ${a.length} values for ${rows} rows of ${c.H}.`);
  const sum = residualAddRef(a, b, residual, multipliers);
  return { sum, out: layerNormI8Ref(sum, rows, c) };
}

/** Float64 LayerNorm of the dequantized input, in output steps (divided by S_out, not rounded). */
export function layerNormFloatSteps(
  x: Int32Array,
  rows: number,
  p: { gamma: ArrayLike<number>; beta: ArrayLike<number>; eps: number; inputScale: number; outputScale: number },
): Float64Array {
  const H = p.gamma.length;
  const out = new Float64Array(rows * H);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < H; i++) mean += x[r * H + i] * p.inputScale;
    mean /= H;
    let v = 0;
    for (let i = 0; i < H; i++) v += (x[r * H + i] * p.inputScale - mean) ** 2;
    const std = Math.sqrt(v / H + p.eps);
    for (let i = 0; i < H; i++) {
      const u = std > 0 ? (x[r * H + i] * p.inputScale - mean) / std : 0;
      out[r * H + i] = (p.gamma[i] * u + p.beta[i]) / p.outputScale;
    }
  }
  return out;
}
