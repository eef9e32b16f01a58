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
import {
  EMBEDDING_TERM_MAX,
  type EmbeddingConstants,
  type EmbeddingIds,
  type EmbeddingTables,
} from '../reference/embedding-i8.js';
import { checkIgeluInput, type GeluI8Constants } from '../reference/gelu-i8.js';
import type { GemmI8RefInput } from '../reference/gemm-i8.js';
import {
  checkLayerNormInput,
  type LayerNormI8Constants,
  LN_BETA_FRAC_BITS,
  LN_WIDE_LIMIT,
  layerNormI8RowStats,
} from '../reference/layernorm-i8.js';
import { checkRequantizeInput, type RequantizeOutput, requantizeRange } from '../reference/requantize.js';
import {
  checkColumnMultipliers,
  RESIDUAL_TERM_MAX,
  RESIDUAL_TERM_MIN,
  type ResidualAddConstants,
  type ResidualMultipliers,
  signedRange,
} from '../reference/residual-add.js';
import {
  checkSoftmaxI8Rows,
  type SoftmaxI8Constants,
  type SoftmaxI8RefInput,
  softmaxI8Bounds,
} from '../reference/softmax-i8.js';
import type { AttentionInput, IntKernels } from './int-program.js';
import { createWasmGemm, type OperandView, type WasmGemmShape } from './wasm-gemm.js';

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
  return neg ? (q > -lo ? lo : 0 - q) : Math.min(q, hi);
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
  checkRequantizeInput('requantizeFast', x, rows, cols, requant);
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
      out[base + c] = v < 0 ? (q > -lo ? lo : -q) : Math.min(q, hi);
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
  checkIgeluInput('igeluFast', acc, rows, cols, c, requant);
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
      const xc = Math.min(ax, clip);
      const d = clip - xc;
      const p = dyadicFast(d * d, 1, shift, 0, INT32_MAX);
      const g = Math.max(x, 0) - dyadicFast(xc * p, corr.m, corr.e, 0, INT32_MAX);
      out[base + j] = dyadicFast(g, output.m, output.e, -128, 127);
    }
  }
  return out;
}

/** layerNormI8Ref (src/reference/layernorm-i8.ts), integer for integer: its row statistics, then dyadicFast. */
export function layerNormI8Fast(x: Int32Array, rows: number, c: LayerNormI8Constants): Int8Array {
  checkLayerNormInput('layerNormI8Fast', x, rows, c);
  return layerNormFastRows(x, rows, c, new Int8Array(rows * c.H), -128, 127);
}

/** layerNormWideRef, integer for integer. */
export function layerNormWideFast(x: Int32Array, rows: number, c: LayerNormI8Constants, outMaxAbs: number): Int32Array {
  checkLayerNormInput('layerNormWideFast', x, rows, c, outMaxAbs);
  return layerNormFastRows(x, rows, c, new Int32Array(rows * c.H), -outMaxAbs, outMaxAbs);
}

function layerNormFastRows<T extends Int8Array | Int32Array>(
  x: Int32Array,
  rows: number,
  c: LayerNormI8Constants,
  out: T,
  lo: number,
  hi: number,
): T {
  const { H, inputMaxAbs: B } = c;
  const m = Float64Array.from(c.channels, (ch) => ch.m);
  const e = Int32Array.from(c.channels, (ch) => ch.e);
  const sign = Float64Array.from(c.channels, (ch) => (ch.negate ? -1 : 1));
  const beta = Float64Array.from(c.channels, (ch) => ch.beta);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * H, (r + 1) * H);
    const st = layerNormI8RowStats(row, c);
    for (let i = 0; i < H; i++) {
      const v = row[i];
      const y = (v < -B ? -B : Math.min(v, B)) - st.mean;
      const z = dyadicFast(y, st.factor, st.zShift, -LN_WIDE_LIMIT, LN_WIDE_LIMIT);
      // sign * z: -0 for z = 0 would be harmless (dyadicFast maps it to 0) but stays integral anyway.
      const d = dyadicFast(sign[i] * z, m[i], e[i], -LN_WIDE_LIMIT, LN_WIDE_LIMIT);
      out[r * H + i] = dyadicFast(d + beta[i], 1, LN_BETA_FRAC_BITS, lo, hi);
    }
  }
  return out;
}

/** embeddingI8Ref (src/reference/embedding-i8.ts), integer for integer: the same saturated terms through dyadicFast. */
export function embeddingI8Fast(tables: EmbeddingTables, ids: EmbeddingIds, c: EmbeddingConstants): Int32Array {
  const H = tables.hidden;
  if (!Number.isInteger(H) || H < 1) throw new RangeError(`embeddingI8Fast: hidden = ${H}`);
  const hasTypes = !!tables.tokenType;
  if (hasTypes !== !!ids.tokenType || hasTypes !== !!c.tokenType)
    throw new RangeError('embeddingI8Fast: token-type table, ids and multiplier must be all present or all absent');
  const n = ids.token.length;
  if (ids.position.length !== n || (ids.tokenType && ids.tokenType.length !== n))
    throw new RangeError('embeddingI8Fast: id arrays differ in length');
  const [lo, hi] = signedRange(c.bits, 'embedding');
  const terms: [Int8Array, ArrayLike<number>, Dyadic][] = [
    [tables.word, ids.token, c.word],
    [tables.position, ids.position, c.position],
  ];
  if (tables.tokenType && ids.tokenType && c.tokenType) terms.push([tables.tokenType, ids.tokenType, c.tokenType]);
  for (const [table, , d] of terms) {
    checkDyadic(d, 'embedding multiplier');
    if (table.length % H !== 0)
      throw new RangeError(`embeddingI8Fast: a table of ${table.length} values for hidden ${H}`);
  }
  // The sum is exact in doubles (each term within 2^29) and saturated once, as the reference does.
  const sum = new Float64Array(n * H);
  for (const [table, tableIds, d] of terms) {
    const rows = table.length / H;
    for (let i = 0; i < n; i++) {
      const id = tableIds[i];
      const at = i * H;
      // An id past the table reads zeros (the reference's rule), which rescale to 0.
      if (!(id < rows)) continue;
      const from = id * H;
      for (let h = 0; h < H; h++)
        sum[at + h] += dyadicFast(table[from + h], d.m, d.e, -EMBEDDING_TERM_MAX, EMBEDDING_TERM_MAX);
    }
  }
  const out = new Int32Array(n * H);
  for (let i = 0; i < out.length; i++) {
    const v = sum[i];
    out[i] = v < lo ? lo : Math.min(v, hi);
  }
  return out;
}

/** residualAddRef (src/reference/residual-add.ts), integer for integer, with its checks. */
export function residualAddFast(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ResidualAddConstants,
  multipliers: ResidualMultipliers = {},
): Int32Array {
  if (a.length !== b.length) throw new RangeError(`residualAddFast: operands have ${a.length} and ${b.length} values`);
  checkDyadic(c.a, 'residual add multiplier a');
  checkDyadic(c.b, 'residual add multiplier b');
  const [lo, hi] = signedRange(c.bits);
  for (const [x, m, name] of [
    [a, multipliers.a, 'a'],
    [b, multipliers.b, 'b'],
  ] as const) {
    if (!m) continue;
    checkColumnMultipliers(m, m.length, `residualAddFast: operand ${name}`);
    if (m.length === 0 || x.length % m.length !== 0)
      throw new RangeError(`residualAddFast: operand ${name} has ${x.length} values, not rows of ${m.length} columns`);
    if (!(x instanceof Int8Array))
      for (let i = 0; i < x.length; i++)
        if (!Number.isInteger(x[i]) || x[i] < -128 || x[i] > 127)
          throw new RangeError(`residualAddFast: operand ${name} value ${i} is ${x[i]}, not int8`);
  }
  const n = a.length;
  const out = new Int32Array(n);
  const [ma, ea, mb, eb] = [c.a.m, c.a.e, c.b.m, c.b.e];
  const colsA = multipliers.a?.length ?? 0;
  const colsB = multipliers.b?.length ?? 0;
  const colMa = multipliers.a;
  const colMb = multipliers.b;
  for (let i = 0; i < n; i++) {
    const va = colMa ? a[i] * colMa[i % colsA] : a[i];
    const vb = colMb ? b[i] * colMb[i % colsB] : b[i];
    const s =
      dyadicFast(va, ma, ea, RESIDUAL_TERM_MIN, RESIDUAL_TERM_MAX) +
      dyadicFast(vb, mb, eb, RESIDUAL_TERM_MIN, RESIDUAL_TERM_MAX);
    out[i] = s < lo ? lo : Math.min(s, hi);
  }
  return out;
}

/** Per-constants values of the i-exp: the rescale's multiplier halves, so a row needs no BigInt. */
interface SoftmaxPlan {
  c: SoftmaxI8Constants;
  m: number;
  mh: number;
  ml: number;
  e: number;
}

function softmaxPlan(c: SoftmaxI8Constants): SoftmaxPlan {
  const mh = Math.floor(c.rescale.m / 65536);
  return { c, m: c.rescale.m, mh, ml: c.rescale.m - mh * 65536, e: c.rescale.e };
}

/** round(p / 2^k), ties up, for p < 2^53 (the reference's shiftRound). */
function shiftRoundFast(p: number, k: number): number {
  if (k === 0) return p;
  if (k > 53) return 0;
  return Math.floor((p + HALF[k]) * INV[k]);
}

/**
 * softmaxI8RowRef over scores[from .. from + n) with keys j < limit present where mask[maskAt + j]
 * is nonzero, into out[to .. to + n): the reference's integers (same i-exp, sum and division) with
 * the wide rescale split like dyadicFast's and the exps kept in a reused buffer.
 */
function softmaxRowFast(
  scores: Int32Array,
  from: number,
  n: number,
  mask: ArrayLike<number>,
  maskAt: number,
  limit: number,
  p: SoftmaxPlan,
  exps: Float64Array,
  out: Uint8Array,
  to: number,
): void {
  const { c, m, mh, ml, e } = p;
  let qmax = -Infinity;
  for (let j = 0; j < limit; j++) if (mask[maskAt + j] && scores[from + j] > qmax) qmax = scores[from + j];
  if (qmax === -Infinity) {
    out.fill(0, to, to + n);
    return;
  }
  const { tMax, ln2, b, c: cc, shift } = c;
  const half = HALF[e];
  const inv = INV[e];
  let sum = 0;
  for (let j = 0; j < n; j++) {
    if (j >= limit || !mask[maskAt + j]) {
      exps[j] = 0;
      continue;
    }
    const d = qmax - scores[from + j];
    const wide = d * m + half;
    let t = wide <= SAFE ? Math.floor(wide * inv) : splitQuotient(d, mh, ml, e);
    if (t > tMax) t = tMax;
    const z = Math.floor(t / ln2);
    const u = b - (t - z * ln2);
    const x = shiftRoundFast(u * u + cc, shift + z);
    exps[j] = x;
    sum += x;
  }
  const den = 2 * sum;
  for (let j = 0; j < n; j++) {
    const num = 512 * exps[j] + sum;
    let q = Math.floor(num / den);
    if (q * den > num) q--;
    else if ((q + 1) * den <= num) q++;
    out[to + j] = Math.min(q, 255);
  }
}

/** softmaxI8Ref (src/reference/softmax-i8.ts), integer for integer. */
export function softmaxI8Fast(input: SoftmaxI8RefInput, c: SoftmaxI8Constants): Uint8Array {
  const { scores, mask, batch, heads, seq } = input;
  softmaxI8Bounds(c, seq);
  checkSoftmaxI8Rows(input);
  const { queries = seq, past = 0, causal = false, scoreRow = seq, maskRow = seq } = input;
  if (scores.length !== batch * heads * queries * scoreRow)
    throw new RangeError(`softmaxI8Fast: ${scores.length} scores for [${batch}, ${heads}, ${queries}, ${scoreRow}]`);
  if (mask.length !== batch * maskRow)
    throw new RangeError(`softmaxI8Fast: mask of ${mask.length} for [${batch}, ${maskRow}]`);
  const out = new Uint8Array(batch * heads * queries * seq);
  const plan = softmaxPlan(c);
  const exps = new Float64Array(seq);
  for (let bi = 0; bi < batch; bi++) {
    for (let r = 0; r < heads * queries; r++) {
      const i = r % queries;
      const limit = causal ? Math.min(seq, past + i + 1) : seq;
      const row = bi * heads * queries + r;
      softmaxRowFast(scores, row * scoreRow, seq, mask, bi * maskRow, limit, plan, exps, out, row * seq);
    }
  }
  return out;
}

/** A GEMM over operand views: the WebAssembly one, or the plain-JS one on gathered copies. */
type ViewGemm = (
  shape: WasmGemmShape,
  a: OperandView,
  b: OperandView | { weight: Int8Array; bias?: Int32Array },
) => Int32Array;

function gather(v: OperandView, rows: number, cols: number, unsigned: boolean): Int8Array | Uint8Array {
  const out = unsigned ? new Uint8Array(rows * cols) : new Int8Array(rows * cols);
  const src = v.src;
  for (let r = 0; r < rows; r++) {
    let from = v.offset + r * v.rowStride;
    for (let k = 0; k < cols; k++, from += v.colStride) out[r * cols + k] = src[from];
  }
  return out;
}

const jsViewGemm: ViewGemm = ({ M, N, K, aUnsigned }, a, b) => {
  const bw = 'weight' in b ? b : { weight: gather(b, N, K, false) as Int8Array, bias: undefined };
  return gemmI8Fast({ a: gather(a, M, K, !!aUnsigned), b: bw.weight, bias: bw.bias, M, N, K });
};

/**
 * Attention without a cache (encoders, cross-attention, a causal forward): the interpreter's
 * composition (per head Q.K^T, softmax, P.V, requantize) on views of the Q, K and V tensors, so no
 * head is sliced, transposed or padded into arrays of its own.
 */
function attentionWith(gemm: ViewGemm, input: AttentionInput): Int8Array {
  const { q, k, v, widths, channels, B, heads, D, Sq, Sk, mask, causal, softmax, context } = input;
  softmaxI8Bounds(softmax, Sk);
  checkDyadic(context, 'attention context rescale');
  const [qw, kw, vw] = widths;
  const [qc, kc, vc] = channels;
  const H = heads * D;
  const out = new Int8Array(B * Sq * H);
  const probs = new Uint8Array(Sq * Sk);
  const exps = new Float64Array(Sk);
  const plan = softmaxPlan(softmax);
  const cm = context.m;
  const ce = context.e;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const scores = gemm(
        { M: Sq, N: Sk, K: D },
        { src: q as Int8Array, offset: b * Sq * qw + qc + h * D, rowStride: qw, colStride: 1 },
        { src: k as Int8Array, offset: b * Sk * kw + kc + h * D, rowStride: kw, colStride: 1 },
      );
      for (let i = 0; i < Sq; i++) {
        const limit = causal ? Math.min(Sk, i + 1) : Sk;
        softmaxRowFast(scores, i * Sk, Sk, mask, b * Sk, limit, plan, exps, probs, i * Sk);
      }
      // V^T of the head: row d of B is channel d of V read down the keys.
      const acc = gemm(
        { M: Sq, N: D, K: Sk, aUnsigned: true },
        { src: probs, offset: 0, rowStride: Sk, colStride: 1 },
        { src: v as Int8Array, offset: b * Sk * vw + vc + h * D, rowStride: 1, colStride: vw },
      );
      for (let s = 0; s < Sq; s++) {
        const to = (b * Sq + s) * H + h * D;
        for (let d = 0; d < D; d++) out[to + d] = dyadicFast(acc[s * D + d], cm, ce, -128, 127);
      }
    }
  }
  return out;
}

/**
 * A kernel set for the interpreter (runIntProgramCpu's `kernels` option) with the same integers as
 * REFERENCE_KERNELS: the GEMM in WebAssembly SIMD where available (each set has its own module
 * memory, holding the weights it has seen: make one per model), else the plain-JS GEMM.
 */
export function createFastKernels(options: { wasm?: boolean } = {}): IntKernels & { gemmEngine: 'wasm-simd' | 'js' } {
  const wasm = options.wasm === false ? undefined : createWasmGemm();
  const view: ViewGemm = wasm ? (shape, a, b) => wasm.gemm(shape, a, b) : jsViewGemm;
  const gemm: IntKernels['gemm'] = (input, constantB) => {
    const { a, b, bias, M, N, K } = input;
    if (!wasm) return gemmI8Fast(input);
    if (a.length !== M * K || b.length !== N * K) throw new RangeError('gemm: operand sizes do not match M, N, K');
    return wasm.gemm(
      { M, N, K, aUnsigned: a instanceof Uint8Array },
      { src: a, offset: 0, rowStride: K, colStride: 1 },
      constantB ? { weight: b, bias } : { src: b, offset: 0, rowStride: K, colStride: 1 },
    );
  };
  // A bias with a non-resident B: the WebAssembly path adds it afterwards (wrapping like the reference).
  const withBias: IntKernels['gemm'] = (input, constantB) => {
    if (!wasm || constantB || !input.bias) return gemm(input, constantB);
    const acc = gemm({ ...input, bias: undefined });
    const { bias, N } = input;
    for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] + bias[i % N]) | 0;
    return acc;
  };
  return {
    gemmEngine: wasm ? 'wasm-simd' : 'js',
    gemm: withBias,
    requantize: requantizeFast,
    igelu: igeluFast,
    layerNorm: layerNormI8Fast,
    layerNormWide: layerNormWideFast,
    embedding: embeddingI8Fast,
    residual: residualAddFast,
    softmax: softmaxI8Fast,
    attention: (input) => attentionWith(view, input),
  };
}

/** The plain-JS fast kernel set (no WebAssembly): same integers as REFERENCE_KERNELS. */
export const FAST_KERNELS: IntKernels = createFastKernels({ wasm: false });
