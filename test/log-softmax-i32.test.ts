/**
 * Integer log-softmax (src/reference/log-softmax-i32.ts): its constants against independent
 * derivations, the polynomial exp over every argument, the error against float64 log-softmax over
 * many kinds of rows and scales (the bounds stated in the file's header), exact determinism and
 * the algebra that must hold exactly (lp = x - LSE, shift invariance, permutation), and refusals.
 */
import { describe, expect, it } from 'vitest';
import {
  deriveLogSoftmaxI32Constants,
  expPolyI32,
  expSumI32,
  LN2_W,
  LOG_SOFTMAX_I32_MAX_ROW,
  LOG_SOFTMAX_I32_POLY,
  type LogSoftmaxI32Constants,
  lnSumFixed,
  logSoftmaxI32,
  logSumExpI32,
} from '../src/reference/log-softmax-i32.js';
import { Random } from '../src/util/random.js';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const SCALES = [2 ** -24, 1e-4, 1e-3, 1e-2, 0.1, 1, 16];

/** Bound on the integer sum's logarithm before it is rounded onto s (natural-log units). */
const LN_BOUND = 1e-7;
/** Bound on |lp s - lp_float| beyond the s/2 of rounding onto the scale. */
const LP_EXTRA = 1e-7;

/** float64 ln(sum_j exp((x_j - max) s)), the reference the integer L approximates. */
function lnSumFloat(row: ArrayLike<number>, s: number): number {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) max = Math.max(max, row[j]);
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum += Math.exp((row[j] - max) * s);
  return Math.log(sum);
}

const clampI32 = (x: number) => Math.max(INT32_MIN, Math.min(INT32_MAX, Math.round(x)));

/** Rows of many shapes for a scale: `nats` sets how far below the maximum the logits spread. */
function rows(rng: Random, n: number, s: number): { name: string; row: Int32Array }[] {
  const units = (nats: number) => clampI32(nats / s);
  const out: { name: string; row: Int32Array }[] = [];
  for (const nats of [0.5, 5, 30, 200]) {
    const base = rng.int(-(2 ** 30), 2 ** 30);
    out.push({
      name: `uniform over ${nats} nats`,
      row: Int32Array.from({ length: n }, () => clampI32(base + rng.int(-units(nats / 2), units(nats / 2)))),
    });
  }
  for (const std of [1, 3, 8]) {
    out.push({ name: `normal, std ${std} nats`, row: Int32Array.from({ length: n }, () => units(rng.normal(std))) });
  }
  // An LM's row: one token far ahead of a crowd.
  for (const gap of [2, 10, 25]) {
    const row = Int32Array.from({ length: n }, () => units(rng.normal(1)));
    row[rng.int(0, n - 1)] = units(gap + 4);
    out.push({ name: `peaked, ${gap} nats ahead`, row });
  }
  out.push({ name: 'flat', row: new Int32Array(n).fill(rng.int(INT32_MIN, INT32_MAX)) });
  const two = new Int32Array(n).fill(units(3));
  for (let j = 0; j < n; j += 2) two[j] = units(3 - 1.5);
  out.push({ name: 'two values 1.5 nats apart', row: two });
  // Around the cut (exp(-d s) with z = 38, E = 0 from there).
  const cut = 38 * Math.LN2;
  out.push({
    name: 'crowd near the cut',
    row: Int32Array.from({ length: n }, (_, j) => (j === 0 ? units(cut) : rng.int(0, units(2)))),
  });
  const extreme = Int32Array.from({ length: n }, () => (rng.next() < 0.5 ? INT32_MIN : INT32_MAX));
  extreme[0] = INT32_MAX;
  out.push({ name: 'int32 extremes', row: extreme });
  return out;
}

describe('integer log-softmax constants', () => {
  it('ln2 at 2^-62 equals the independent series sum 1 / (k 2^k), within 1', () => {
    const one = 1n << 120n;
    let ln2 = 0n;
    for (let k = 1n; k < 130n; k++) ln2 += one / (k << k);
    const rounded = (ln2 + (1n << 57n)) >> 58n;
    const diff = rounded - LN2_W;
    expect(diff >= -1n && diff <= 1n).toBe(true);
  });

  it('the polynomial is exp(-(u0 + v)) Taylor-expanded around u0 = 5814540 / 2^24, coefficients within 1', () => {
    const u0 = 5814540 / 2 ** 24;
    expect(Math.abs(u0 - Math.LN2 / 2)).toBeLessThan(2 ** -24);
    let fact = 1;
    LOG_SOFTMAX_I32_POLY.forEach((a, i) => {
      if (i > 0) fact *= i;
      expect(Math.abs(a - (Math.exp(-u0) * (-1) ** i * 2 ** 29) / fact)).toBeLessThanOrEqual(0.5 + 1e-6);
    });
  });

  it('exp by the polynomial is within 1e-8 relative over every r in [0, ln2 2^24] (exhaustive)', () => {
    const last = Math.round(2977044472 / 256);
    let worst = 0;
    let maxP = 0;
    for (let r = 0; r <= last; r++) {
      const p = expPolyI32(r);
      const want = Math.exp(-r / 2 ** 24) * 2 ** 29;
      worst = Math.max(worst, Math.abs(p - want) / want);
      maxP = Math.max(maxP, p);
    }
    console.info(`log-softmax-i32: polynomial exp, max relative error ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-8);
    // The proofs of E = 0 from z = 38 and of the 2^53 sum assume P < 2^30.
    expect(maxP).toBeLessThan(2 ** 30);
  });

  it('picks the most multiplier bits that keep d m below 2^53, and s as an exact dyadic', () => {
    for (const s of SCALES) {
      const c = deriveLogSoftmaxI32Constants(s);
      expect(Number(c.sMant) * 2 ** c.sExp).toBe(s);
      expect(Number(c.sMant) % 2).toBe(1);
      const half = c.e > 0 ? 2 ** (c.e - 1) : 0;
      expect((c.dCut - 1) * c.m + half).toBeLessThan(2 ** 53);
      // One more bit of e would overflow (unless e is already at its cap).
      if (c.e < 53) {
        const m2 = Math.round(s * 2 ** (32 + c.e + 1));
        expect(BigInt(Math.max(0, c.dCut * 2 - 2)) * BigInt(m2)).toBeGreaterThanOrEqual(2n ** 53n - 2n ** 52n);
      }
      // m / 2^e is s 2^32 to within the rounding of m.
      expect(Math.abs(c.m / 2 ** c.e - s * 2 ** 32)).toBeLessThanOrEqual(2 ** -(c.e + 1) + 1e-9);
      // The cut: t(dCut) >= 38 L2 > t(dCut - 1).
      const t = (d: number) => Math.floor((d * c.m + half) / 2 ** c.e);
      if (c.dCut < 2 ** 32) {
        expect(t(c.dCut)).toBeGreaterThanOrEqual(38 * 2977044472);
        expect(t(c.dCut - 1)).toBeLessThan(38 * 2977044472);
      }
    }
    // At 1e-4 (a typical logit scale) m keeps at least 34 bits.
    expect(deriveLogSoftmaxI32Constants(1e-4).m).toBeGreaterThan(2 ** 34);
  });
});

describe('integer log-softmax against float64', () => {
  it(`ln of the integer sum within ${LN_BOUND} and lp within s/2 + ${LP_EXTRA} (vocab 8000, ${SCALES.length} scales, 14 row kinds)`, () => {
    const rng = new Random(2024);
    let worstLn = 0;
    let worstLp = 0;
    let checked = 0;
    for (const s of SCALES) {
      const c = deriveLogSoftmaxI32Constants(s);
      for (const { name, row } of rows(rng, 8000, s)) {
        const lf = lnSumFloat(row, s);
        const { sum } = expSumI32(row, c);
        const ln = Number(lnSumFixed(sum)) / 2 ** 62;
        const lnErr = Math.abs(ln - lf);
        if (lnErr > LN_BOUND) throw new Error(`s = ${s}, ${name}: |L - ln sum| = ${lnErr}`);
        worstLn = Math.max(worstLn, lnErr);
        // lp_int s - lp_float = -(d + Lq) s + d s + lf: the d s terms cancel exactly, so the error
        // is (lp + d) s + lf, the same for every element (and free of float64's loss at |lp| ~ 2^32).
        const lp = logSoftmaxI32(row, c);
        const max = row.reduce((a, b) => Math.max(a, b), INT32_MIN);
        for (let j = 0; j < row.length; j += 97) {
          const err = Math.abs((lp[j] + (max - row[j])) * s + lf);
          if (err > s / 2 + LP_EXTRA) throw new Error(`s = ${s}, ${name}, j = ${j}: |lp s - lp_float| = ${err}`);
          worstLp = Math.max(worstLp, err - s / 2);
          checked++;
        }
        // And directly, where float64 represents lp s well (|lp s| below 2^20 nats).
        for (let j = 0; j < row.length; j += 101) {
          const lpFloat = (row[j] - max) * s - lf;
          if (Math.abs(lpFloat) < 2 ** 20) {
            expect(Math.abs(lp[j] * s - lpFloat)).toBeLessThanOrEqual(s / 2 + LP_EXTRA + 2 ** 20 * 2 ** -50);
          }
        }
      }
    }
    console.info(
      `log-softmax-i32 (vocab 8000): max |L - ln sum| = ${worstLn.toExponential(2)}, ` +
        `max |lp s - lp_float| - s/2 = ${worstLp.toExponential(2)} over ${checked} elements`,
    );
    expect(worstLn).toBeLessThanOrEqual(LN_BOUND);
  });

  it('rows of the longest length 2^16 (sum near 2^53) keep the bounds', () => {
    const rng = new Random(77);
    let worstLn = 0;
    for (const s of [1e-4, 1e-2]) {
      const c = deriveLogSoftmaxI32Constants(s);
      for (const { name, row } of rows(rng, LOG_SOFTMAX_I32_MAX_ROW, s).filter((r) =>
        /flat|uniform over 0.5|cut/.test(r.name),
      )) {
        const { sum } = expSumI32(row, c);
        expect(sum).toBeLessThan(2 ** 53);
        const lf = lnSumFloat(row, s);
        const lnErr = Math.abs(Number(lnSumFixed(sum)) / 2 ** 62 - lf);
        if (lnErr > LN_BOUND) throw new Error(`s = ${s}, ${name}: |L - ln sum| = ${lnErr}`);
        worstLn = Math.max(worstLn, lnErr);
        const lp = logSoftmaxI32(row, c);
        const max = row.reduce((a, b) => Math.max(a, b), INT32_MIN);
        expect(Math.abs((lp[0] + (max - row[0])) * s + lf)).toBeLessThanOrEqual(s / 2 + LP_EXTRA);
      }
    }
    console.info(`log-softmax-i32 (vocab 65536): max |L - ln sum| = ${worstLn.toExponential(2)}`);
  });

  it('a flat row gives exactly -round(ln(n) / s) for every element, a single logit gives 0', () => {
    for (const s of [1e-4, 1e-3, 0.1]) {
      const c = deriveLogSoftmaxI32Constants(s);
      for (const n of [2, 3, 1000, 8000]) {
        const lp = logSoftmaxI32(new Int32Array(n).fill(123), c);
        expect(new Set(lp).size).toBe(1);
        // Within the rounding of ln n / s (and never more than one unit off the float rounding).
        expect(Math.abs(lp[0] + Math.log(n) / s)).toBeLessThanOrEqual(0.5 + LP_EXTRA / s);
      }
      expect(Array.from(logSoftmaxI32([INT32_MIN], c))).toEqual([0]);
      expect(Array.from(logSoftmaxI32([42], c))).toEqual([0]);
    }
  });

  it('orders log-probabilities exactly as the logits (strictly monotone: lp differences equal logit differences)', () => {
    const rng = new Random(5);
    const c = deriveLogSoftmaxI32Constants(1e-3);
    const row = rng.int32Array(8000, -20000, 20000);
    const lp = logSoftmaxI32(row, c);
    for (let j = 1; j < row.length; j++) expect(lp[j] - lp[0]).toBe(row[j] - row[0]);
  });
});

describe('integer log-softmax is a pure, exact function', () => {
  const rng = new Random(99);
  const c = deriveLogSoftmaxI32Constants(2e-3);
  const row = Int32Array.from({ length: 8000 }, () => Math.round(rng.normal(3) / 2e-3));

  it('gives the same integers every time, and leaves its input alone', () => {
    const copy = row.slice();
    const a = logSoftmaxI32(row, c);
    const b = logSoftmaxI32(row, deriveLogSoftmaxI32Constants(2e-3));
    expect(a).toEqual(b);
    expect(row).toEqual(copy);
    for (const v of a) expect(Number.isInteger(v)).toBe(true);
    // A plain array of the same integers is the same row.
    expect(logSoftmaxI32(Array.from(row), c)).toEqual(a);
    // Writing into a given output.
    const out = new Float64Array(row.length);
    expect(logSoftmaxI32(row, c, out)).toBe(out);
    expect(out).toEqual(a);
  });

  it('lp = x - LSE exactly, and LSE >= max', () => {
    const lse = logSumExpI32(row, c);
    const lp = logSoftmaxI32(row, c);
    const max = row.reduce((a, b) => Math.max(a, b), INT32_MIN);
    expect(lse).toBeGreaterThanOrEqual(max);
    for (let j = 0; j < row.length; j++) expect(lp[j]).toBe(row[j] - lse);
  });

  it('is invariant under adding a constant to every logit, and equivariant under permutation', () => {
    const lp = logSoftmaxI32(row, c);
    for (const shift of [1, -777, 123456789]) {
      expect(
        logSoftmaxI32(
          Int32Array.from(row, (x) => x + shift),
          c,
        ),
      ).toEqual(lp);
    }
    const perm = Array.from({ length: row.length }, (_, j) => j).sort(() => rng.next() - 0.5);
    const permuted = Int32Array.from(perm, (j) => row[j]);
    const lpPermuted = logSoftmaxI32(permuted, c);
    perm.forEach((j, i) => expect(lpPermuted[i]).toBe(lp[j]));
  });
});

describe('integer log-softmax refuses bad input by name', () => {
  const c = deriveLogSoftmaxI32Constants(1e-3);
  it('bad scales', () => {
    for (const s of [0, -1e-3, Number.NaN, Infinity, 1e-9, 100]) {
      expect(() => deriveLogSoftmaxI32Constants(s)).toThrow(RangeError);
      expect(() => deriveLogSoftmaxI32Constants(s)).toThrow(/scale/);
    }
    expect(() => deriveLogSoftmaxI32Constants('0.1' as unknown as number)).toThrow(
      /scale = 0.1 must be a positive finite number/,
    );
  });
  it('bad rows', () => {
    expect(() => logSoftmaxI32([], c)).toThrow(/empty row/);
    expect(() => logSoftmaxI32(new Int32Array(0), c)).toThrow(/empty row/);
    expect(() => logSoftmaxI32([1, 2.5, 3], c)).toThrow(/logit 1 = 2.5 is not an int32 integer/);
    expect(() => logSoftmaxI32([1, Number.NaN], c)).toThrow(/logit 1 = NaN/);
    expect(() => logSoftmaxI32([2 ** 31], c)).toThrow(/logit 0 = 2147483648 is not an int32/);
    expect(() => logSoftmaxI32(new Int32Array(LOG_SOFTMAX_I32_MAX_ROW + 1), c)).toThrow(/exceeds 65536/);
    expect(() => logSoftmaxI32(null as unknown as number[], c)).toThrow(/Int32Array or an array of integers/);
    expect(() => logSoftmaxI32([1, 2], c, new Float64Array(3))).toThrow(/output of 3 for a row of 2/);
  });
  it('constants that were not derived', () => {
    expect(() => logSoftmaxI32([1, 2], { scale: 1e-3 } as unknown as LogSoftmaxI32Constants)).toThrow(
      /deriveLogSoftmaxI32Constants/,
    );
    expect(() => lnSumFixed(0)).toThrow(/sum 0/);
    expect(() => lnSumFixed(2 ** 53)).toThrow(/sum/);
  });
});
