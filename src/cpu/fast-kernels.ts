/**
 * Fast CPU versions of the integer kernels the interpreter spends its time in: the INT8 GEMM and the
 * dyadic requantization. They compute exactly what src/reference/gemm-i8.ts and requantize.ts
 * specify, integer for integer (test/fast-kernels.test.ts checks them against the references on
 * random and edge cases); only the work is arranged differently:
 *
 * - GEMM: int32 addition modulo 2^32 is associative, so any summation order gives the reference's
 *   wrapped sum. Four rows of A against four rows of B at a time keep 16 sums in registers and read
 *   each operand once per 16 multiply-adds instead of once per one.
 * - Dyadic rescale: the reference forms |x| m exactly with BigInt when it exceeds 2^53. Here the
 *   product is split at the multiplier's 16th bit, so every partial sum stays an exact double and
 *   no BigInt is ever made.
 */

import { checkDyadic, type Dyadic } from '../reference/dyadic.js';
import { checkGeluI8Constants, type GeluI8Constants } from '../reference/gelu-i8.js';
import type { GemmI8RefInput } from '../reference/gemm-i8.js';
import {
  checkLayerNormI8Constants,
  type LayerNormI8Constants,
  LN_BETA_FRAC_BITS,
  LN_WIDE_LIMIT,
  layerNormI8RowStats,
} from '../reference/layernorm-i8.js';
import { type RequantizeOutput, requantizeRange } from '../reference/requantize.js';
import type { IntKernels } from './int-program.js';

const SAFE = Number.MAX_SAFE_INTEGER;
const INT32_MAX = 2 ** 31 - 1;
/** 2^-e and the rounding half 2^(e-1) (0 for e = 0), by e: a load instead of a Math.pow per value. */
const INV = Float64Array.from({ length: 64 }, (_, e) => 2 ** -e);
const HALF = Float64Array.from({ length: 64 }, (_, e) => (e > 0 ? 2 ** (e - 1) : 0));

/**
 * sign(x) floor((|x| m + 2^(e-1)) / 2^e) saturated to [lo, hi], for any int32 x, m in [0, 2^31),
 * e in [0, 63] and bounds within +-2^37: the value of dyadicScale (src/reference/dyadic.ts)
 * without BigInt.
 */
export function dyadicFast(x: number, m: number, e: number, lo: number, hi: number): number {
  const neg = x < 0;
  const a = neg ? -x : x;
  const sum = a * m + HALF[e];
  const q = sum <= SAFE ? Math.floor(sum * INV[e]) : wideQuotient(a, m, e);
  return neg ? (q > -lo ? lo : 0 - q) : q > hi ? hi : q;
}

/**
 * floor((a m + 2^(e-1)) / 2^e) for a < 2^31, m < 2^31 when a m + 2^(e-1) > 2^53. With
 * m = mh 2^16 + ml: a m = A 2^16 + B, A = a mh < 2^46, B = a ml < 2^47, both exact doubles.
 * For e >= 17 the half is 2^16 2^(e-17), so a m + half = 2^16 (A + 2^(e-17) + floor(B / 2^16)) + (B mod 2^16),
 * and dividing by 2^e = 2^16 2^(e-16) drops the last term (it is below 2^16, and the integer part's
 * quotient by 2^(e-16) is unchanged by adding a fraction below one). e = 16 folds the half into B.
 * For e < 16 the quotient is at least 2^53 / 2^16 = 2^37, above every saturation bound (2^31).
 */
function wideQuotient(a: number, m: number, e: number): number {
  const mh = Math.floor(m / 65536);
  return splitQuotient(a, mh, m - mh * 65536, e);
}

/** wideQuotient with m given as its halves mh = floor(m / 2^16) and ml = m mod 2^16. */
function splitQuotient(a: number, mh: number, ml: number, e: number): number {
  if (e < 16) return 2 ** 37;
  const A = a * mh;
  const B = a * ml;
  const high = e === 16 ? A + Math.floor((B + 32768) / 65536) : A + HALF[e - 16] + Math.floor(B * INV[16]);
  return Math.floor(high * INV[e - 16]);
}

/** requantizeRef (src/reference/requantize.ts), integer for integer. */
export function requantizeFast(
  x: Int32Array,
  rows: number,
  cols: number,
  requant: Dyadic[],
  output: RequantizeOutput = 'i8',
): Int8Array | Uint8Array {
  if (x.length !== rows * cols) throw new RangeError(`requantizeFast: ${x.length} values for ${rows}x${cols}`);
  if (requant.length !== cols && requant.length !== 1)
    throw new RangeError(`requantizeFast: ${requant.length} multipliers for ${cols} channels`);
  requant.forEach((d, i) => checkDyadic(d, `requant[${i}]`));
  const [lo, hi] = requantizeRange(output);
  const out = output === 'u8' ? new Uint8Array(rows * cols) : new Int8Array(rows * cols);
  // Per column: m, the rounding half and 2^-e, so the common case is one multiply-add, a multiply
  // (exact: a power of two) and a floor.
  const ms = new Float64Array(cols);
  const halves = new Float64Array(cols);
  const inv = new Float64Array(cols);
  const es = new Int32Array(cols);
  const mh = new Float64Array(cols);
  const ml = new Float64Array(cols);
  for (let c = 0; c < cols; c++) {
    const d = requant.length === 1 ? requant[0] : requant[c];
    ms[c] = d.m;
    mh[c] = Math.floor(d.m / 65536);
    ml[c] = d.m - mh[c] * 65536;
    es[c] = d.e;
    halves[c] = d.e > 0 ? 2 ** (d.e - 1) : 0;
    inv[c] = 2 ** -d.e;
  }
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) {
      const v = x[base + c];
      const a = v < 0 ? -v : v;
      const sum = a * ms[c] + halves[c];
      const q = sum <= SAFE ? Math.floor(sum * inv[c]) : splitQuotient(a, mh[c], ml[c], es[c]);
      out[base + c] = v < 0 ? (q > -lo ? lo : -q) : q > hi ? hi : q;
    }
  }
  return out;
}

/**
 * gemmI8Ref (src/reference/gemm-i8.ts), integer for integer: acc[m, n] = bias[n] + sum_k
 * A[m, k] B[n, k] wrapped to int32. Each product is below 2^15 in magnitude and K below 2^16 in
 * every plan, so the sums are exact in doubles before the final |0 wraps them.
 */
export function gemmI8Fast({ a, b, bias, M, N, K }: GemmI8RefInput): Int32Array {
  if (a.length !== M * K || b.length !== N * K) throw new RangeError('gemmI8Fast: operand sizes do not match M, N, K');
  if (K >= 65536) throw new RangeError(`gemmI8Fast: K = ${K} (sums are kept exact only below 2^16 terms)`);
  const out = new Int32Array(M * N);
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let m = 0; m < M4; m += 4) {
    const r0 = m * K;
    const r1 = r0 + K;
    const r2 = r1 + K;
    const r3 = r2 + K;
    for (let n = 0; n < N4; n += 4) {
      const c0 = n * K;
      const c1 = c0 + K;
      const c2 = c1 + K;
      const c3 = c2 + K;
      let s00 = 0,
        s01 = 0,
        s02 = 0,
        s03 = 0;
      let s10 = 0,
        s11 = 0,
        s12 = 0,
        s13 = 0;
      let s20 = 0,
        s21 = 0,
        s22 = 0,
        s23 = 0;
      let s30 = 0,
        s31 = 0,
        s32 = 0,
        s33 = 0;
      for (let k = 0; k < K; k++) {
        const a0 = a[r0 + k];
        const a1 = a[r1 + k];
        const a2 = a[r2 + k];
        const a3 = a[r3 + k];
        const b0 = b[c0 + k];
        const b1 = b[c1 + k];
        const b2 = b[c2 + k];
        const b3 = b[c3 + k];
        s00 += a0 * b0;
        s01 += a0 * b1;
        s02 += a0 * b2;
        s03 += a0 * b3;
        s10 += a1 * b0;
        s11 += a1 * b1;
        s12 += a1 * b2;
        s13 += a1 * b3;
        s20 += a2 * b0;
        s21 += a2 * b1;
        s22 += a2 * b2;
        s23 += a2 * b3;
        s30 += a3 * b0;
        s31 += a3 * b1;
        s32 += a3 * b2;
        s33 += a3 * b3;
      }
      const z0 = bias ? bias[n] : 0;
      const z1 = bias ? bias[n + 1] : 0;
      const z2 = bias ? bias[n + 2] : 0;
      const z3 = bias ? bias[n + 3] : 0;
      let o = m * N + n;
      out[o] = (z0 + s00) | 0;
      out[o + 1] = (z1 + s01) | 0;
      out[o + 2] = (z2 + s02) | 0;
      out[o + 3] = (z3 + s03) | 0;
      o += N;
      out[o] = (z0 + s10) | 0;
      out[o + 1] = (z1 + s11) | 0;
      out[o + 2] = (z2 + s12) | 0;
      out[o + 3] = (z3 + s13) | 0;
      o += N;
      out[o] = (z0 + s20) | 0;
      out[o + 1] = (z1 + s21) | 0;
      out[o + 2] = (z2 + s22) | 0;
      out[o + 3] = (z3 + s23) | 0;
      o += N;
      out[o] = (z0 + s30) | 0;
      out[o + 1] = (z1 + s31) | 0;
      out[o + 2] = (z2 + s32) | 0;
      out[o + 3] = (z3 + s33) | 0;
    }
    for (let n = N4; n < N; n++) {
      const c0 = n * K;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0;
      for (let k = 0; k < K; k++) {
        const bk = b[c0 + k];
        s0 += a[r0 + k] * bk;
        s1 += a[r1 + k] * bk;
        s2 += a[r2 + k] * bk;
        s3 += a[r3 + k] * bk;
      }
      const z = bias ? bias[n] : 0;
      out[m * N + n] = (z + s0) | 0;
      out[(m + 1) * N + n] = (z + s1) | 0;
      out[(m + 2) * N + n] = (z + s2) | 0;
      out[(m + 3) * N + n] = (z + s3) | 0;
    }
  }
  for (let m = M4; m < M; m++) {
    const r0 = m * K;
    for (let n = 0; n < N; n++) {
      const c0 = n * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += a[r0 + k] * b[c0 + k];
      out[m * N + n] = ((bias ? bias[n] : 0) + s) | 0;
    }
  }
  return out;
}

/**
 * igeluRef (src/reference/gelu-i8.ts), integer for integer: the same four rescales per value
 * (input, d^2, correction, output), each through dyadicFast.
 */
export function igeluFast(
  acc: Int32Array,
  rows: number,
  cols: number,
  c: GeluI8Constants,
  requant?: Dyadic[],
): Int8Array {
  if (acc.length !== rows * cols) throw new RangeError(`igeluFast: ${acc.length} values for ${rows}x${cols}`);
  if (requant && requant.length !== cols)
    throw new RangeError(`igeluFast: ${requant.length} input rescales for ${cols} columns`);
  checkGeluI8Constants(c);
  const inM = Float64Array.from({ length: cols }, (_, j) => (requant ? requant[j] : c.input).m);
  const inE = Int32Array.from({ length: cols }, (_, j) => (requant ? requant[j] : c.input).e);
  const inH = Float64Array.from(inM, (m) => Math.floor(m / 65536));
  const inL = Float64Array.from(inM, (m, j) => m - inH[j] * 65536);
  const { clip, shift, corr, output } = c;
  const out = new Int8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let j = 0; j < cols; j++) {
      // The input rescale (dyadicFast inlined with the multiplier's halves precomputed): its
      // products are the ones that most often pass 2^53.
      const v = acc[base + j];
      const av = v < 0 ? -v : v;
      const sum = av * inM[j] + HALF[inE[j]];
      let ax = sum <= SAFE ? Math.floor(sum * INV[inE[j]]) : splitQuotient(av, inH[j], inL[j], inE[j]);
      if (ax > INT32_MAX) ax = INT32_MAX;
      const x = v < 0 ? -ax : ax;
      const xc = ax < clip ? ax : clip;
      const d = clip - xc;
      const p = dyadicFast(d * d, 1, shift, 0, INT32_MAX);
      const g = (x > 0 ? x : 0) - dyadicFast(xc * p, corr.m, corr.e, 0, INT32_MAX);
      out[base + j] = dyadicFast(g, output.m, output.e, -128, 127);
    }
  }
  return out;
}

/** layerNormI8Ref (src/reference/layernorm-i8.ts), integer for integer: its row statistics, then dyadicFast. */
export function layerNormI8Fast(x: Int32Array, rows: number, c: LayerNormI8Constants): Int8Array {
  checkLayerNormI8Constants(c);
  const { H, inputMaxAbs: B } = c;
  if (x.length !== rows * H) throw new RangeError(`layerNormI8Fast: ${x.length} values for ${rows} rows of ${H}.`);
  const m = Float64Array.from(c.channels, (ch) => ch.m);
  const e = Int32Array.from(c.channels, (ch) => ch.e);
  const sign = Float64Array.from(c.channels, (ch) => (ch.negate ? -1 : 1));
  const beta = Float64Array.from(c.channels, (ch) => ch.beta);
  const out = new Int8Array(rows * H);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * H, (r + 1) * H);
    const st = layerNormI8RowStats(row, c);
    for (let i = 0; i < H; i++) {
      const v = row[i];
      const y = (v < -B ? -B : v > B ? B : v) - st.mean;
      const z = dyadicFast(y, st.factor, st.zShift, -LN_WIDE_LIMIT, LN_WIDE_LIMIT);
      // sign * z: -0 for z = 0 would be harmless (dyadicFast maps it to 0) but stays integral anyway.
      const d = dyadicFast(sign[i] * z, m[i], e[i], -LN_WIDE_LIMIT, LN_WIDE_LIMIT);
      out[r * H + i] = dyadicFast(d + beta[i], 1, LN_BETA_FRAC_BITS, -128, 127);
    }
  }
  return out;
}

/** The interpreter's kernels made fast (runIntProgramCpu's `kernels` option): same integers as REFERENCE_KERNELS. */
export const FAST_KERNELS: IntKernels = {
  gemm: gemmI8Fast,
  requantize: requantizeFast,
  igelu: igeluFast,
  layerNorm: layerNormI8Fast,
};
