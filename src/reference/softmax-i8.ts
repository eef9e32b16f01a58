/**
 * Integer softmax (I-BERT's i-exp / i-softmax) over the key axis of attention scores: the
 * specification that shaders/softmax-i8.ts must match bit for bit.
 *
 * Input: int32 scores q at real scale S_in (the Q.K^T accumulator; 1/sqrt(d) folded into S_in), and
 * a key mask (nonzero = present). Output: uint8 probabilities at scale 2^-8. Per row:
 *
 *   qmax  = max of q over present keys
 *   d     = qmax - q                          an integer in [0, 2^32 - 1]: exact in u32, no saturation
 *   t     = min(dyadic(d, m, e), tMax)        -x in units of 2^-15 (x = (q - qmax) S_in <= 0)
 *   z     = floor(t / ln2),  rem = t - z ln2  x = -z ln2 + r with r = -rem 2^-15 in (-ln2, 0]
 *   poly  = (b - rem)^2 + c                   exp(r) / (a 2^-30), u32
 *   E     = round(poly / 2^(shift + z))       exp(x) at a fixed scale, ties up (one rounded shift)
 *   sum   = sum of E over present keys
 *   p     = min(round(2^8 E / sum), 255)      = min(floor((2^9 E + sum) / (2 sum)), 255); masked: E = 0
 *
 * The polynomial is I-BERT's exp(r) ~ a r^2 + b' r + 1 (a = 0.35815147, b' = 0.96963238) written as a
 * completed square so that every term is a non-negative u32: a ((r + b'/2a)^2 + 1/a - (b'/2a)^2).
 * The constant factor a and the fixed scale of E cancel in E / sum.
 *
 * Rows whose keys are all masked output zeros (sum = 0). Every bound is proved by
 * softmaxI8Bounds, which refuses constants whose u32 arithmetic could wrap.
 *
 * Decoders: rows are [batch, heads, queries] over `seq` keys (queries need not equal seq), and
 * with `causal` query i of a run after `past` cached positions sees keys j <= past + i (and the
 * padding mask); keys beyond are absent exactly like masked keys.
 *
 * The sum bound for long rows (what limits the row length): sum <= keys E(0), and the kernel also
 * forms 2^9 E + sum and 2 sum, so (512 + keys) E(0) and 2 keys E(0) must stay below 2^32. With
 * poly(0) = b^2 + c = 2998027182 and E(0) = round(poly(0) / 2^shift):
 *   shift 10: E(0) = 2927761, rows of up to  733 keys (2 * 733 E(0)  = 4292097626 < 2^32)
 *   shift 11: E(0) = 1463880, rows of up to 1466 keys (2 * 1466 E(0) = 4292096160)
 *   shift 12: E(0) =  731940, rows of up to 2933 keys (2 * 2933 E(0) = 4293560040)
 * so deriveSoftmaxI8Constants gives shift 10 for the encoder's 512 keys (shift 9 allows only 221),
 * 11 for GPT-2's 1024 positions and 12 for 2048.
 * i.e. each doubling of the row costs one bit of E (E keeps >= 19 bits at 2048 keys, against 8
 * output bits). Constants derived for fewer keys are refused for longer rows (softmaxI8Bounds).
 */
import { checkDyadic, type Dyadic, toDyadic } from './dyadic.js';

/** I-BERT's exp polynomial on (-ln2, 0]: exp(r) ~ A r^2 + B r + 1. */
export const IEXP_A = 0.35815147;
export const IEXP_B = 0.96963238;
/** Fraction bits of t (the exponent argument): 15 keeps (b - rem)^2 + c below 2^32. */
export const IEXP_FRACTION_BITS = 15;
/** I-BERT clamps x at -30 ln2. With shift 10, E is already 0 for z >= 23, so the clamp changes nothing. */
export const IEXP_Z_MAX = 30;
/**
 * Rows longer than this are refused: the kernel stages one row in workgroup memory (8 KiB at
 * 2048), and the u32 sums need shift 12 there (see the header).
 */
export const SOFTMAX_I8_MAX_KEYS = 2048;
/** The row length deriveSoftmaxI8Constants plans for when not told: the encoder's 512 positions. */
export const SOFTMAX_I8_DEFAULT_KEYS = 512;
/** Input scales accepted by deriveSoftmaxI8Constants (see docs/kernels/softmax-i8.md). */
export const SOFTMAX_I8_MIN_SCALE = 2 ** -40;
export const SOFTMAX_I8_MAX_SCALE = 2 ** 16;

const U32_MAX = 2 ** 32 - 1;

export interface SoftmaxI8Constants {
  /** d (units of S_in) to t (units of 2^-15): the dyadic value of S_in * 2^15. */
  rescale: Dyadic;
  /** Saturation of t: IEXP_Z_MAX * ln2. */
  tMax: number;
  /** round(ln2 * 2^15). */
  ln2: number;
  /** round(B / (2A) * 2^15). */
  b: number;
  /** round((1/A - (B / 2A)^2) * 2^30). */
  c: number;
  /** Right shift of poly at z = 0, chosen so that the sum and the division stay in u32. */
  shift: number;
}

/** The proven maxima of every intermediate for a row of `keys` keys. */
export interface SoftmaxI8Bounds {
  keys: number;
  /** Largest t (= tMax) and z. */
  tMax: number;
  zMax: number;
  /** Largest rem, and the smallest b - rem (must be >= 0). */
  remMax: number;
  /** Largest poly = b^2 + c (at rem = 0). */
  polyMax: number;
  /** Largest E (at d = 0). Also the smallest sum of a row with a present key. */
  expMax: number;
  /** Largest sum = keys * expMax, and the largest numerator 2^9 E + sum and denominator 2 sum. */
  sumMax: number;
  numeratorMax: number;
  denominatorMax: number;
}

/**
 * Checks that the u32 arithmetic of the kernel cannot wrap for rows of up to `keys` keys and
 * returns the bounds; throws a RangeError naming the first intermediate that could overflow.
 */
export function softmaxI8Bounds(c: SoftmaxI8Constants, keys: number): SoftmaxI8Bounds {
  const fail = (what: string) => {
    throw new RangeError(`integer softmax: ${what}`);
  };
  if (!Number.isInteger(keys) || keys < 1) fail(`row length ${keys} must be a positive integer`);
  if (keys > SOFTMAX_I8_MAX_KEYS)
    fail(`row length ${keys} exceeds the supported maximum of ${SOFTMAX_I8_MAX_KEYS} keys`);
  checkDyadic(c.rescale, 'integer softmax: input rescale');
  for (const k of ['tMax', 'ln2', 'b', 'c', 'shift'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 0 || c[k] > U32_MAX) fail(`constant ${k} = ${c[k]} is not a u32`);
  }
  if (c.ln2 < 1) fail('constant ln2 must be at least 1');
  const zMax = Math.floor(c.tMax / c.ln2);
  const remMax = Math.min(c.ln2 - 1, c.tMax);
  if (c.b < remMax) fail(`b - rem can go negative (b = ${c.b} < largest rem ${remMax}): u32 underflow`);
  const polyMax = c.b * c.b + c.c;
  if (polyMax > U32_MAX) fail(`poly = (b - rem)^2 + c reaches ${polyMax} and overflows u32`);
  if (c.shift + zMax > U32_MAX) fail('shift + z overflows u32');
  const expMax = shiftRound(polyMax, c.shift);
  if (expMax < 1) fail(`exp of the row maximum rounds to 0 (shift ${c.shift} too large): every sum would be 0`);
  const sumMax = keys * expMax;
  const numeratorMax = 512 * expMax + sumMax;
  const denominatorMax = 2 * sumMax;
  if (sumMax > U32_MAX)
    fail(`sum of ${keys} exps can reach ${sumMax} and overflow u32; use a larger shift or shorter rows`);
  if (numeratorMax > U32_MAX)
    fail(`2^9 exp + sum can reach ${numeratorMax} and overflow u32 for ${keys} keys; use a larger shift`);
  if (denominatorMax > U32_MAX)
    fail(`2 sum can reach ${denominatorMax} and overflow u32 for ${keys} keys; use a larger shift`);
  return { keys, tMax: c.tMax, zMax, remMax, polyMax, expMax, sumMax, numeratorMax, denominatorMax };
}

/**
 * The integer constants for scores at real scale `inputScale`, with the smallest exp shift (the most
 * exp bits) whose sums fit u32 for rows of up to `maxKeys` keys. The planner calls this.
 */
export function deriveSoftmaxI8Constants(inputScale: number, maxKeys = SOFTMAX_I8_DEFAULT_KEYS): SoftmaxI8Constants {
  if (!(inputScale >= SOFTMAX_I8_MIN_SCALE && inputScale < SOFTMAX_I8_MAX_SCALE)) {
    throw new RangeError(
      `integer softmax: input scale ${inputScale} is outside [2^-40, 2^16): below, all int32 scores span less than 2^-8 and the scale is surely misplanned; above, the rescale to 2^-15 needs a multiplier over 2^31`,
    );
  }
  if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > SOFTMAX_I8_MAX_KEYS) {
    throw new RangeError(`integer softmax: maxKeys = ${maxKeys} must be an integer in [1, ${SOFTMAX_I8_MAX_KEYS}]`);
  }
  const one = 2 ** IEXP_FRACTION_BITS;
  const half = IEXP_B / (2 * IEXP_A);
  const ln2 = Math.round(Math.LN2 * one);
  const b = Math.round(half * one);
  const c = Math.round((1 / IEXP_A - half * half) * one * one);
  // The sum bounds grow with E(0) = round((b^2 + c) / 2^shift): take the smallest shift they allow.
  let shift = 0;
  while (!sumsFit(shiftRound(b * b + c, shift), maxKeys)) shift++;
  const constants: SoftmaxI8Constants = {
    rescale: toDyadic(inputScale * one, 'integer softmax input rescale'),
    tMax: IEXP_Z_MAX * ln2,
    ln2,
    b,
    c,
    shift,
  };
  softmaxI8Bounds(constants, maxKeys);
  return constants;
}

function sumsFit(expMax: number, keys: number): boolean {
  return (512 + keys) * expMax <= U32_MAX && 2 * keys * expMax <= U32_MAX;
}

/** floor(a / b) for integers below 2^53, corrected so that no double rounding can leak in. */
function divFloor(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

/** round(p / 2^k), ties up, for p < 2^53 and any k >= 0 (the shader's shr_round). */
function shiftRound(p: number, k: number): number {
  if (k === 0) return p;
  if (k > 53) return 0;
  return Math.floor((p + 2 ** (k - 1)) / 2 ** k);
}

/** round(d m / 2^e), ties up, saturated at lim: the u32-magnitude dyadic rescale (dyadic_magnitude). */
export function dyadicMagnitudeRef(d: number, m: number, e: number, lim: number): number {
  const half = e > 0 ? 2 ** (e - 1) : 0;
  const p = d * m;
  // Exact in doubles while the numerator stays below 2^53; BigInt beyond.
  if (p + half <= Number.MAX_SAFE_INTEGER) {
    return Math.min(Math.floor((p + half) / 2 ** e), lim);
  }
  const q = (BigInt(d) * BigInt(m) + BigInt(half)) >> BigInt(e);
  return q > BigInt(lim) ? lim : Number(q);
}

/** i-exp: d = qmax - q (an integer in [0, 2^32 - 1]) to E, the exp at the kernel's fixed scale. */
export function iExpRef(d: number, c: SoftmaxI8Constants): number {
  const t = dyadicMagnitudeRef(d, c.rescale.m, c.rescale.e, c.tMax);
  const z = Math.floor(t / c.ln2);
  const rem = t - z * c.ln2;
  const u = c.b - rem;
  return shiftRound(u * u + c.c, c.shift + z);
}

/** round(2^8 e / sum), ties up, clamped to 255; 0 when sum = 0 (no present key). */
export function probabilityRef(e: number, sum: number): number {
  return sum === 0 ? 0 : Math.min(divFloor(512 * e + sum, 2 * sum), 255);
}

/**
 * One row: scores (int32) and present flags to uint8 probabilities. `present[j]` nonzero means key j
 * takes part; masked keys get exactly 0, and a row with no present key is all zeros.
 */
export function softmaxI8RowRef(
  scores: ArrayLike<number>,
  present: ArrayLike<number>,
  c: SoftmaxI8Constants,
): Uint8Array {
  const n = scores.length;
  const out = new Uint8Array(n);
  let qmax = -Infinity;
  for (let j = 0; j < n; j++) if (present[j]) qmax = Math.max(qmax, scores[j]);
  if (qmax === -Infinity) return out;
  const exps = new Float64Array(n);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    if (!present[j]) continue;
    exps[j] = iExpRef(qmax - scores[j], c);
    sum += exps[j];
  }
  for (let j = 0; j < n; j++) out[j] = probabilityRef(exps[j], sum);
  return out;
}

export interface SoftmaxI8RefInput {
  /** [batch, heads, queries, scoreRow] row-major (scoreRow defaults to seq). */
  scores: Int32Array;
  /** [batch, maskRow] (maskRow defaults to seq), nonzero = key present. */
  mask: ArrayLike<number>;
  batch: number;
  heads: number;
  /** Keys per row. */
  seq: number;
  /** Query rows per (batch, head); defaults to seq (self-attention of an encoder). */
  queries?: number;
  /** Cached positions before this run's queries (causal only). */
  past?: number;
  /** Query i sees keys j <= past + i. */
  causal?: boolean;
  scoreRow?: number;
  maskRow?: number;
}

/** Checks the decoder fields of a softmax run: a RangeError names the first bad one. */
export function checkSoftmaxI8Rows(
  input: Pick<SoftmaxI8RefInput, 'seq' | 'queries' | 'past' | 'causal' | 'scoreRow' | 'maskRow'>,
): void {
  const { seq, queries = seq, past = 0, causal = false, scoreRow = seq, maskRow = seq } = input;
  const fail = (what: string) => {
    throw new RangeError(`integer softmax: ${what}`);
  };
  if (!Number.isInteger(queries) || queries < 1) fail(`queries = ${queries} must be a positive integer`);
  if (!Number.isInteger(past) || past < 0) fail(`past = ${past} must be a non-negative integer`);
  if (!causal && past !== 0) fail(`past = ${past} without causal masking means nothing; pass causal: true`);
  if (causal && past + queries > seq)
    fail(`causal run of ${queries} queries after ${past} cached positions needs ${past + queries} keys, has ${seq}`);
  if (!Number.isInteger(scoreRow) || scoreRow < seq) fail(`scoreRow = ${scoreRow} is shorter than the ${seq} keys`);
  if (!Number.isInteger(maskRow) || maskRow < seq) fail(`maskRow = ${maskRow} is shorter than the ${seq} keys`);
}

/** All rows; returns [batch, heads, queries, seq] uint8 probabilities (unpacked, no stride). */
export function softmaxI8Ref(input: SoftmaxI8RefInput, c: SoftmaxI8Constants): Uint8Array {
  const { scores, mask, batch, heads, seq } = input;
  softmaxI8Bounds(c, seq);
  checkSoftmaxI8Rows(input);
  const { queries = seq, past = 0, causal = false, scoreRow = seq, maskRow = seq } = input;
  if (scores.length !== batch * heads * queries * scoreRow)
    throw new RangeError(`softmaxI8Ref: ${scores.length} scores for [${batch}, ${heads}, ${queries}, ${scoreRow}]`);
  if (mask.length !== batch * maskRow)
    throw new RangeError(`softmaxI8Ref: mask of ${mask.length} for [${batch}, ${maskRow}]`);
  const out = new Uint8Array(batch * heads * queries * seq);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < heads * queries; r++) {
      const i = r % queries;
      const limit = causal ? Math.min(seq, past + i + 1) : seq;
      const present = Array.from({ length: seq }, (_, j) => (j < limit ? mask[b * maskRow + j] : 0));
      const row = b * heads * queries + r;
      out.set(softmaxI8RowRef(scores.subarray(row * scoreRow, row * scoreRow + seq), present, c), row * seq);
    }
  }
  return out;
}
