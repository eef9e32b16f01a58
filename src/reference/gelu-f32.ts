/**
 * Float64 reference of exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), the specification of
 * shaders/gelu-f32.ts. JavaScript has no erf either, so this one is computed from the series
 *   erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n (2x^2)^n x / (1 * 3 * ... * (2n + 1)),
 * whose terms are all positive (no cancellation, unlike the Taylor series), which gives ~1e-16
 * relative accuracy for |x| < 6; beyond, |erf| = 1 to double precision (erfc(6) = 2e-17).
 */

export function erf64(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  if (a >= 6) return Math.sign(x);
  const twoX2 = 2 * a * a;
  let term = a;
  let sum = a;
  for (let n = 1; n < 400; n++) {
    term *= twoX2 / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  const r = Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum);
  return x < 0 ? -r : r;
}

export function gelu64(x: number): number {
  return x * 0.5 * (1 + erf64(x * Math.SQRT1_2));
}

/**
 * Allowed |GPU gelu - gelu64| for an f32 input x: the f32 evaluation's erf error (<= 1.4e-7,
 * shaders/gelu-f32.ts) plus headroom for a GPU exp of a few ulp, times |x| / 2, plus 4 roundings
 * of the result.
 */
export function geluF32Tolerance(x: number, exact = gelu64(x)): number {
  return Math.abs(x) * 0.5 * 3e-7 + Math.abs(exact) * 4 * 2 ** -24 + 1e-37;
}

/**
 * The tanh approximation of GELU (transformers' gelu_new / NewGELUActivation, GPT-2's), in float64:
 * 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3), computed as x / (1 + exp(-2u)), the
 * same value without 1 + tanh(u) cancelling to 0 for negative x (which even float64 does from
 * x ~ -6 on, where the true value is still ~1e-16 relative to x).
 */
export function geluTanh64(x: number): number {
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  return x / (1 + Math.exp(-2 * u));
}

/**
 * Allowed |GPU gelu_tanh - geluTanh64| for an f32 input x (shaders/gelu-f32.ts computes
 * x / (1 + e), e = exp(-2u)): u carries ~4 roundings (relative), which exp turns into a relative
 * error of 8|u| eps in e, WGSL's exp adds its own 3 + 2|2u| ulp, and the result's sensitivity to
 * e is e / (1 + e); then 3 roundings of the result. A GPU may divide as x * (1 / d), whose
 * reciprocal flushes to 0 once d passes 2^126: results below |x| 2^-125 may come out 0.
 */
export function geluTanhF32Tolerance(x: number, exact = geluTanh64(x)): number {
  const eps = 2 ** -24;
  const u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
  const e = Math.exp(-2 * u);
  const sensitivity = Number.isFinite(e) ? e / (1 + e) : 1;
  return Math.abs(exact) * eps * ((3 + 12 * Math.abs(u)) * sensitivity + 3) + Math.abs(x) * 2 ** -125 + 2 ** -126;
}
