/**
 * Dyadic rescaling, the one rounding rule every integer kernel uses to change scale:
 *
 *   dyadic(x, m, e) = sign(x) * floor((|x| * m + 2^(e-1)) / 2^e)      (e = 0: |x| * m)
 *
 * i.e. x * m / 2^e rounded to nearest with ties away from zero, then saturated to [lo, hi].
 * x is an int32, m an integer in [0, 2^31), e in [0, 63]. The product |x| * m has up to 62 bits;
 * WGSL has no 64-bit integers, so the shaders form it exactly from 16-bit halves (see
 * shaders/dyadic.ts). This file is the specification: it computes the same value with BigInt.
 */

export const MAX_MULTIPLIER = 0x7fffffff;
export const MAX_SHIFT = 63;

export interface Dyadic {
  /** Multiplier, an integer in [0, 2^31). */
  m: number;
  /** Right shift, an integer in [0, 63]. */
  e: number;
}

export function checkDyadic(d: Dyadic, what = 'dyadic multiplier'): void {
  if (!Number.isInteger(d.m) || d.m < 0 || d.m > MAX_MULTIPLIER) {
    throw new RangeError(`${what}: m = ${d.m} is not an integer in [0, 2^31).`);
  }
  if (!Number.isInteger(d.e) || d.e < 0 || d.e > MAX_SHIFT) {
    throw new RangeError(`${what}: e = ${d.e} is not an integer in [0, 63].`);
  }
}

/** Exact dyadic rescale of one int32 with saturation to [lo, hi]. */
export function dyadicScale(x: number, m: number, e: number, lo: number, hi: number): number {
  const neg = x < 0;
  const magnitude = Math.abs(x);
  const sum = magnitude * m + (e > 0 ? 2 ** (e - 1) : 0);
  if (sum <= Number.MAX_SAFE_INTEGER) {
    // Every quantity is an integer below 2^53 and 2^e a power of two: the double result is exact.
    const q = Math.floor(sum / 2 ** e);
    return neg ? (q > -lo ? lo : 0 - q) : Math.min(q, hi);
  }
  const mag = BigInt(Math.abs(x));
  const half = e > 0 ? 1n << BigInt(e - 1) : 0n;
  const q = (mag * BigInt(m) + half) >> BigInt(e);
  if (neg) return q > BigInt(-lo) ? lo : 0 - Number(q);
  return q > BigInt(hi) ? hi : Number(q);
}

/**
 * The dyadic number closest to a positive real ratio with the most multiplier bits: m in
 * [2^30, 2^31) whenever the shift allows. Throws when the ratio cannot be represented.
 */
export function toDyadic(ratio: number, what = 'scale ratio'): Dyadic {
  if (!(ratio > 0) || !Number.isFinite(ratio))
    throw new RangeError(`${what}: ${ratio} is not a positive finite number.`);
  let e = 30 - Math.floor(Math.log2(ratio));
  if (e < 0)
    throw new RangeError(`${what}: ${ratio} is too large for a dyadic multiplier (needs m < 2^31 with e >= 0).`);
  if (e > MAX_SHIFT) e = MAX_SHIFT;
  let m = Math.round(ratio * 2 ** e);
  if (m > MAX_MULTIPLIER) {
    // log2 rounding put m at 2^31: one bit less shift.
    m = Math.round(ratio * 2 ** (e - 1));
    e -= 1;
  }
  if (m === 0) throw new RangeError(`${what}: ${ratio} is too small for a dyadic multiplier (below 2^-64).`);
  return { m, e };
}

export function dyadicValue(d: Dyadic): number {
  return d.m / 2 ** d.e;
}
