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
