/**
 * Integer log-softmax of one row of int32 logits on a common scale s (natural-log units per
 * integer; the LM head's rescaled logits, see planLogitRescale in topk-i32.ts): the beam search's
 * log-probabilities, so that beam scores are exact integer sums and the search stays integer.
 *
 *   lp[j] = x[j] - LSE,   LSE = max + Lq,   Lq ~ ln(sum_j exp((x[j] - max) s)) / s
 *
 * lp is an integer on the same scale s. Only integer arithmetic runs per row (JS numbers holding
 * exact integers below 2^53, BigInt for the few per-row steps of the logarithm); the constants of a
 * scale are derived once (deriveLogSoftmaxI32Constants) and the polynomial and ln2 constants are
 * integer literals, so the result is the same on every engine. Per element (I-BERT's i-exp idea,
 * with more bits than softmax-i8.ts because the sum feeds a logarithm, not an 8-bit probability):
 *
 *   d  = max - x                       >= 0, below 2^32
 *   t  = round(d m / 2^e)              d s in units of 2^-32 (m / 2^e ~ s 2^32; m gets the most bits
 *                                      that keep d m below 2^53 for every d that can contribute)
 *   z  = floor(t / L2),  r = t - z L2  exp(-d s) = 2^-z exp(-r 2^-32), L2 = round(ln2 2^32)
 *   v  = round(r / 2^8) - R0           r at 2^-24, centred on R0 = round(ln2/2 2^24)
 *   P  = Horner(a_0..a_8, v)           exp(-r) 2^29: Taylor of degree 8 around ln2/2 (|v| <= ln2/2,
 *                                      truncation < 2e-10), each product rounded at 2^-24
 *   E  = round(P 2^7 / 2^z)            exp(-d s) 2^36 (ties up); z >= 38 gives 0, so d with
 *                                      t >= 38 L2 is skipped without computing t
 *   S  = sum of E                      < 2^53 for rows of up to 2^16 (E < 2^37)
 *
 * then per row, in BigInt: S = f 2^b with f in [1/sqrt2, sqrt2), ln f = 2 atanh((f-1)/(f+1)) by
 * its series at 2^-62, L = (b - 36) ln2 + ln f (natural-log units at 2^-62; the 2^36 of E cancels),
 * and Lq = round(L / s) exactly (s is a double: an integer times a power of two).
 *
 * Error against float64 (log-softmax of the same integers times s), measured by
 * test/log-softmax-i32.test.ts over seeded rows (vocab 8000 and 2^16; uniform over 0.5 to 200 nats,
 * normal, peaked, flat, two-valued, a crowd at the cut, int32 extremes) at scales 2^-24, 1e-4, 1e-3,
 * 1e-2, 0.1, 1 and 16:
 *   polynomial exp, every r:        max relative error 2.9e-9              (asserted < 1e-8)
 *   |L - ln sum exp((x - max) s)|:  max 4.2e-8 (vocab 8000 and 2^16)       (asserted <= 1e-7)
 *   |lp s - lp_float|:              max s/2 + 3e-9                         (asserted <= s/2 + 1e-7)
 * lp s - lp_float is the same for every element of a row (the d s terms cancel), so the rounding
 * of Lq onto s dominates at every scale above 2^-20. Worst case by analysis: r rounded to 2^-24
 * (3e-8 relative per element), polynomial 3e-9, z L2 (38 2^-33), and each E's rounding (2^-37
 * relative to the largest, so n 2^-37 for a row of n: 6e-8 at 8000, 5e-7 at 2^16) add to
 * about 1e-7 at 8000 and 6e-7 at 2^16; the measured rows stay near the per-element part.
 */

/** Fraction bits of t = d s (natural-log units). */
const T_BITS = 32;
/** round(ln2 2^32). */
const L2_T = 2977044472;
/** Fraction bits of r and of v in the polynomial, and of its rounded products. */
const R_BITS = 24;
const R_SHIFT = 2 ** (T_BITS - R_BITS);
const R_HALF = R_SHIFT / 2;
/** The polynomial's expansion point: round(ln2 / 2 2^24). */
const R0 = 5814540;
/** round(exp(-R0 2^-24) (-1)^i / i! 2^29), i = 0..8: exp(-(u0 + v)) = exp(-u0) sum (-v)^i / i!. */
export const LOG_SOFTMAX_I32_POLY = [
  379625062, -379625062, 189812531, -63270844, 15817711, -3163542, 527257, -75322, 9415,
] as const;
const P_BITS = 29;
/** E = exp(-d s) 2^36. */
const E_BITS = 36;
/** z at which E rounds to 0 (P < 2^30, and E = round(P 2^7 / 2^z) = 0 once 2^(z-8) > P). */
const Z_CUT = 38;
/** Rows longer than this could carry the sum past 2^53 (E < 2^37). */
export const LOG_SOFTMAX_I32_MAX_ROW = 2 ** 16;
/** Scales accepted: below, m could not keep d m < 2^53 with enough bits; above, s is no logit scale. */
export const LOG_SOFTMAX_I32_MIN_SCALE = 2 ** -24;
export const LOG_SOFTMAX_I32_MAX_SCALE = 16;

/** The logarithm's fixed point: natural-log units at 2^-62. */
const W = 62n;
const ONE_W = 1n << W;
/** round(ln2 2^62). */
export const LN2_W = 3196577161300663915n;
/** floor(sqrt2 2^62): where the mantissa wraps to [1/sqrt2, 1). */
const SQRT2_W = 6521908912666391106n;

const SAFE = 2 ** 53;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export interface LogSoftmaxI32Constants {
  /** The logit scale s (natural-log units per integer). */
  scale: number;
  /** t = round(d m / 2^e) ~ d s 2^32. */
  m: number;
  e: number;
  /** Smallest d whose E is 0 (t >= 38 L2); min(that, 2^32), so every int32 difference below it is computed. */
  dCut: number;
  /** s = sMant 2^sExp exactly (sMant an odd integer below 2^53). */
  sMant: bigint;
  sExp: number;
}

function fail(what: string): never {
  throw new RangeError(`integer log-softmax: ${what}`);
}

/** floor(a / b) for BigInts, b > 0. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

/**
 * The integer constants for logits at scale `scale`: the multiplier of d s with the most bits that
 * keeps every product below 2^53, and s as an exact dyadic for the final division.
 */
export function deriveLogSoftmaxI32Constants(scale: number): LogSoftmaxI32Constants {
  if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0)
    fail(`scale = ${String(scale)} must be a positive finite number (natural-log units per integer)`);
  if (scale < LOG_SOFTMAX_I32_MIN_SCALE || scale > LOG_SOFTMAX_I32_MAX_SCALE)
    fail(`scale = ${scale} is outside [2^-24, 16]: not a logit scale this function is proven for`);
  let mant = scale;
  let sExp = 0;
  while (!Number.isInteger(mant)) {
    mant *= 2;
    sExp--;
  }
  while (mant % 2 === 0) {
    mant /= 2;
    sExp++;
  }
  const tCut = BigInt(Z_CUT * L2_T);
  // The largest e whose m keeps (dCut - 1) m + 2^(e-1) below 2^53: each step down halves m.
  for (let e = 53; e >= 0; e--) {
    const m = Math.round(scale * 2 ** (T_BITS + e));
    if (m < 1 || m >= SAFE) continue;
    const half = e > 0 ? 1n << BigInt(e - 1) : 0n;
    const mb = BigInt(m);
    // Smallest d with d m + half >= tCut 2^e, i.e. round(d m / 2^e) >= tCut.
    const need = (tCut << BigInt(e)) - half;
    let dCut = need <= 0n ? 0n : (need + mb - 1n) / mb;
    if (dCut > 2n ** 32n) dCut = 2n ** 32n;
    const top = dCut > 0n ? (dCut - 1n) * mb + half : 0n;
    if (top >= BigInt(SAFE)) continue;
    return { scale, m, e, dCut: Number(dCut), sMant: BigInt(mant), sExp };
  }
  return fail(`no multiplier of d s fits 2^53 at scale ${scale}`);
}

function checkConstants(c: LogSoftmaxI32Constants): void {
  if (c === null || typeof c !== 'object' || typeof c.sMant !== 'bigint')
    fail('constants must come from deriveLogSoftmaxI32Constants');
}

/** Checks a row: non-empty, at most 2^16 long, int32 integers (an Int32Array is taken as is). */
function checkRow(row: ArrayLike<number>): void {
  if (row === null || typeof row !== 'object' || typeof row.length !== 'number')
    fail('the row must be an Int32Array or an array of integers');
  const n = row.length;
  if (n === 0) fail('empty row (no logits)');
  if (n > LOG_SOFTMAX_I32_MAX_ROW)
    fail(`row of ${n} logits exceeds ${LOG_SOFTMAX_I32_MAX_ROW} (the integer sum could pass 2^53)`);
  if (row instanceof Int32Array) return;
  for (let j = 0; j < n; j++) {
    const x = row[j];
    if (!Number.isInteger(x) || x < INT32_MIN || x > INT32_MAX)
      fail(`logit ${j} = ${String(x)} is not an int32 integer`);
  }
}

/** The row's maximum and S = sum of E = sum exp((x - max) s) 2^36 (exact integer below 2^53). */
export function expSumI32(row: ArrayLike<number>, c: LogSoftmaxI32Constants): { max: number; sum: number } {
  checkConstants(c);
  checkRow(row);
  return expSum(row, c);
}

function expSum(row: ArrayLike<number>, c: LogSoftmaxI32Constants): { max: number; sum: number } {
  const n = row.length;
  let max = row[0];
  for (let j = 1; j < n; j++) if (row[j] > max) max = row[j];
  const { m, dCut } = c;
  const pow2e = 2 ** c.e;
  const half = c.e > 0 ? pow2e / 2 : 0;
  const [a0, a1, a2, a3, a4, a5, a6, a7, a8] = LOG_SOFTMAX_I32_POLY;
  const pOne = 2 ** R_BITS;
  const pHalf = pOne / 2;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const d = max - row[j];
    if (d >= dCut) continue;
    // d m + half < 2^53 for d < dCut (deriveLogSoftmaxI32Constants): every step below is exact.
    const t = Math.floor((d * m + half) / pow2e);
    let z = Math.floor(t / L2_T);
    if (z * L2_T > t) z--;
    else if ((z + 1) * L2_T <= t) z++;
    const v = Math.floor((t - z * L2_T + R_HALF) / R_SHIFT) - R0;
    // |acc| < 2^29.1 and |v| < 2^22.5: each product stays below 2^53.
    let acc = a8;
    acc = a7 + Math.floor((acc * v + pHalf) / pOne);
    acc = a6 + Math.floor((acc * v + pHalf) / pOne);
    acc = a5 + Math.floor((acc * v + pHalf) / pOne);
    acc = a4 + Math.floor((acc * v + pHalf) / pOne);
    acc = a3 + Math.floor((acc * v + pHalf) / pOne);
    acc = a2 + Math.floor((acc * v + pHalf) / pOne);
    acc = a1 + Math.floor((acc * v + pHalf) / pOne);
    acc = a0 + Math.floor((acc * v + pHalf) / pOne);
    const sh = z - (E_BITS - P_BITS);
    sum += sh <= 0 ? acc * 2 ** -sh : Math.floor((acc + 2 ** (sh - 1)) / 2 ** sh);
  }
  return { max, sum };
}

/** P(r) = exp(-r 2^-24) 2^29 for r in [0, round(L2 / 2^8)]: the polynomial alone (for the exhaustive test). */
export function expPolyI32(r: number): number {
  const v = r - R0;
  const pOne = 2 ** R_BITS;
  let acc: number = LOG_SOFTMAX_I32_POLY[8];
  for (let i = 7; i >= 0; i--) acc = LOG_SOFTMAX_I32_POLY[i] + Math.floor((acc * v + pOne / 2) / pOne);
  return acc;
}

/** ln(S / 2^36) in natural-log units at 2^-62, for an integer S in [1, 2^53). */
export function lnSumFixed(sum: number): bigint {
  if (!Number.isInteger(sum) || sum < 1 || sum >= SAFE) fail(`sum ${sum} is not an integer in [1, 2^53)`);
  let b = 0;
  while (2 ** (b + 1) <= sum) b++;
  // f = S / 2^b in [1, 2) at 2^-62, exact (b <= 52); above sqrt2 it becomes f / 2 in [1/sqrt2, 1).
  let w = BigInt(sum) << (W - BigInt(b));
  if (w >= SQRT2_W) {
    b++;
    w >>= 1n; // exact: S 2^(62 - b) with b <= 53 keeps at least 9 zero bits
  }
  // ln f = 2 atanh(y), y = (f - 1) / (f + 1) in (-0.172, 0.172): 2 (y + y^3/3 + y^5/5 + ...).
  // atanh is odd: the series runs on |y| (a right shift of a negative term would stall at -1).
  const y = floorDiv((w - ONE_W) << W, w + ONE_W);
  const ay = y < 0n ? -y : y;
  const y2 = (ay * ay) >> W;
  let term = ay;
  let series = 0n;
  for (let k = 1n; term !== 0n; k += 2n) {
    series += term / k;
    term = (term * y2) >> W;
  }
  return BigInt(b - E_BITS) * LN2_W + (y < 0n ? -2n : 2n) * series;
}

/** round(L / s) (ties up) for L in natural-log units at 2^-62: exact, s being sMant 2^sExp. */
function toScale(L: bigint, c: LogSoftmaxI32Constants): number {
  const shift = c.sExp + Number(W);
  let num = L;
  let den = c.sMant;
  if (shift >= 0) den <<= BigInt(shift);
  else num <<= BigInt(-shift);
  return Number(floorDiv(2n * num + den, 2n * den));
}

/**
 * The integer log-sum-exp of a row at scale s: LSE with lp = x - LSE, an integer on the same
 * scale (may lie outside int32: max + ln(row length) / s).
 */
export function logSumExpI32(row: ArrayLike<number>, c: LogSoftmaxI32Constants): number {
  checkConstants(c);
  checkRow(row);
  const { max, sum } = expSum(row, c);
  return max + toScale(lnSumFixed(sum), c);
}

/**
 * Integer log-probabilities of a row of int32 logits at scale s: x - LSE, exact integers on the
 * same scale (a Float64Array: the most negative reach -(2^32 - 1) - ln(row length) / s, beyond
 * int32). A pure function of (row, s).
 */
export function logSoftmaxI32(row: ArrayLike<number>, c: LogSoftmaxI32Constants, out?: Float64Array): Float64Array {
  const lse = logSumExpI32(row, c);
  const n = row.length;
  if (out !== undefined && out.length !== n) fail(`output of ${out.length} for a row of ${n}`);
  const lp = out ?? new Float64Array(n);
  for (let j = 0; j < n; j++) lp[j] = row[j] - lse;
  return lp;
}
