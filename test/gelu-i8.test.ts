import { describe, expect, it } from 'vitest';
import { geluI8Program } from '../src/kernels/gelu-i8.js';
import { gemmI8Program } from '../src/kernels/gemm-i8.js';
import {
  checkGeluI8Constants,
  deriveGeluI8Constants,
  erf,
  GELU_FRAC_BITS,
  type GeluI8Constants,
  geluExact,
  geluPolynomial,
  IGELU_CLIP,
  igelu,
  igeluFixed,
  igeluRef,
  minShift,
  packGeluI8Constants,
} from '../src/reference/gelu-i8.js';
import { suite } from './cases/gelu-i8.js';
import { runSuite } from './run-suite.js';

const ONE = { m: 1, e: 0 };

describe('i-GELU reference', () => {
  it('erf matches tabulated values to 1e-15', () => {
    const table: [number, number][] = [
      [0.1, 0.1124629160182849],
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2, 0.9953222650189527],
      [3, 0.9999779095030014],
      [4.5, 0.9999999998033839],
    ];
    for (const [y, v] of table) {
      expect(Math.abs(erf(y) - v)).toBeLessThan(1e-15);
      expect(Math.abs(erf(-y) + v)).toBeLessThan(1e-15);
    }
    expect(erf(0)).toBe(0);
  });

  it("the relu-minus-correction form equals I-BERT's erf form", () => {
    const a = -0.2888;
    const b = -1.769;
    const ibert = (x: number) => {
      const y = x / Math.SQRT2;
      return (x / 2) * (1 + Math.sign(y) * (a * (Math.min(Math.abs(y), -b) + b) ** 2 + 1));
    };
    for (let x = -6; x <= 6; x += 0.01) expect(Math.abs(geluPolynomial(x) - ibert(x))).toBeLessThan(1e-12);
  });

  it('derives the constants from S_in and S_out', () => {
    const c = deriveGeluI8Constants(1e-4, 8 / 127);
    expect(c.clip).toBe(40989); // round(1.769 sqrt2 2^14)
    expect(c.shift).toBe(15); // 40989 * round(40989^2 / 2^15) = 2101629597 < 2^31; shift 14 overflows
    const rel = (d: { m: number; e: number }, want: number) => Math.abs(d.m / 2 ** d.e / want - 1);
    expect(rel(c.input, 1e-4 * 2 ** 14)).toBeLessThan(2 ** -30);
    expect(rel(c.output, 2 ** -14 / (8 / 127))).toBeLessThan(2 ** -30);
    expect(rel(c.corr, (0.2888 / 4) * 2 ** (15 - 28))).toBeLessThan(2 ** -30);
    expect(Array.from(packGeluI8Constants(c))).toEqual([
      c.input.m,
      c.input.e,
      40989,
      15,
      c.corr.m,
      c.corr.e,
      c.output.m,
      c.output.e,
    ]);
  });

  it('computes hand-checked values in fixed point (input already at 2^-14)', () => {
    const c = deriveGeluI8Constants(2 ** -14, 1);
    expect(c.input).toEqual({ m: 2 ** 30, e: 30 });
    // x = 0: d = clip, p = round(40989^2 / 2^15) = 51273, xc * p = 0: GELU 0.
    expect(igeluFixed(0, ONE, c)).toBe(0);
    // At and past the clip the correction vanishes: relu(x) exactly, 0 for negative x.
    expect(igeluFixed(40989, ONE, c)).toBe(40989);
    expect(igeluFixed(100000, ONE, c)).toBe(100000);
    expect(igeluFixed(-40989, ONE, c)).toBe(0);
    expect(igeluFixed(-(2 ** 31), ONE, c)).toBe(0);
    expect(igeluFixed(2 ** 31 - 1, ONE, c)).toBe(2 ** 31 - 1);
    // x = 1.0 (16384): d = 24605, p = round(605406025 / 32768) = 18475,
    // xc * p = 302694400, corr = round(302694400 * 0.0722 * 2^-13) = round(2667.9...) = 2668.
    const corr = Math.round(302694400 * (0.2888 / 4) * 2 ** -13);
    expect(corr).toBe(2668);
    expect(igeluFixed(16384, ONE, c)).toBe(16384 - 2668);
    expect(igeluFixed(-16384, ONE, c)).toBe(-2668);
    // GELU(1) = 0.8413, GELU(-1) = -0.1587; the polynomial gives 0.8372 / -0.1628.
    expect((16384 - 2668) / 16384).toBeCloseTo(geluPolynomial(1), 4);
  });

  it('rounds the int8 output with the dyadic rule and saturates', () => {
    const c = deriveGeluI8Constants(1e-3, 0.05);
    expect(igelu(2 ** 31 - 1, c.input, c)).toBe(127);
    expect(igelu(-(2 ** 31), c.input, c)).toBe(0);
    expect(igelu(0, c.input, c)).toBe(0);
    // x = 1.0 (q = 1000): g = 13716 (x = 1000 * 1e-3 * 2^14 = 16384 exactly), 13716 * 2^-14 / 0.05 = 16.74 -> 17.
    expect(igeluFixed(1000, c.input, c)).toBe(13716);
    expect(igelu(1000, c.input, c)).toBe(17);
    // x = -1: g = -2668 -> -3.26 -> -3.
    expect(igelu(-1000, c.input, c)).toBe(-3);
    // The minimum of GELU (-0.17 near x = -0.75) is -3.4 output steps at S_out 0.05.
    expect(igelu(-750, c.input, c)).toBe(-3);
  });

  it('uses per-column input rescales when given', () => {
    const c = deriveGeluI8Constants(1e-3, 0.05);
    const out = igeluRef(Int32Array.from([1000, 1000]), 1, 2, c, [c.input, { m: c.input.m, e: c.input.e + 1 }]);
    expect(Array.from(out)).toEqual([17, igelu(500, c.input, c)]);
  });

  it('stays within 0.02 of exact GELU on [-4, 4] before the int8 rounding, for S_in 1e-5 .. 1e-3', () => {
    for (const sIn of [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]) {
      const c = deriveGeluI8Constants(sIn, 8 / 127);
      let max = 0;
      for (let x = -4; x <= 4; x += 0.0007) {
        const q = Math.round(x / sIn);
        max = Math.max(max, Math.abs(igeluFixed(q, c.input, c) * 2 ** -GELU_FRAC_BITS - geluExact(q * sIn)));
      }
      expect(max).toBeLessThan(0.02);
      expect(max).toBeGreaterThan(0.017); // the polynomial's own error, not a broken measurement
    }
  });
});

describe('i-GELU refuses what could overflow', () => {
  const good = deriveGeluI8Constants(1e-4, 8 / 127);
  it('refuses a clip whose square leaves int32', () => {
    expect(() => checkGeluI8Constants({ ...good, clip: 46341 })).toThrow(/clip = 46341 .*clip\^2 fits in int32/);
    expect(() => checkGeluI8Constants({ ...good, clip: 46340, shift: 16 })).not.toThrow();
  });
  it('refuses a shift too small for xc * p, naming the smallest safe one', () => {
    expect(minShift(40989)).toBe(15);
    expect(() => checkGeluI8Constants({ ...good, shift: 14 })).toThrow(/overflows int32; shift must be at least 15/);
    expect(() => packGeluI8Constants({ ...good, shift: 14 })).toThrow(RangeError);
    expect(() => igeluRef(new Int32Array(1), 1, 1, { ...good, shift: 0 })).toThrow(RangeError);
  });
  it('refuses malformed dyadic multipliers', () => {
    const bad: GeluI8Constants = { ...good, corr: { m: 2 ** 31, e: 3 } };
    expect(() => checkGeluI8Constants(bad)).toThrow(/corr: m = 2147483648/);
    expect(() => checkGeluI8Constants({ ...good, output: { m: 1, e: 64 } })).toThrow(/output: e = 64/);
  });
  it('refuses scales and fixed-point widths it cannot represent', () => {
    expect(() => deriveGeluI8Constants(0, 1)).toThrow(/S_in = 0/);
    expect(() => deriveGeluI8Constants(1e-4, NaN)).toThrow(/S_out = NaN/);
    expect(() => deriveGeluI8Constants(1e-4, 1, 15)).toThrow(/fracBits = 15/);
    expect(() => deriveGeluI8Constants(1e-4, 1e6)).toThrow(/beyond the fixed-point domain/);
    expect(IGELU_CLIP * 2 ** 15).toBeGreaterThan(46340); // why 14 is the limit
  });
  it('refuses shapes and option/buffer mismatches before anything runs', () => {
    expect(() => geluI8Program({ perChannel: false }, { rows: 0, cols: 3 })).toThrow(/rows = 0/);
    expect(() => geluI8Program({ perChannel: false }, { rows: 2, cols: 1.5 })).toThrow(/cols = 1.5/);
    const options = { strategy: 'dot4', output: 'gelu-i8', perChannel: false, bias: true, aUnsigned: false } as const;
    expect(() => gemmI8Program(options, { M: 1, N: 1, K: 131072 })).toThrow(/overflow the int32 accumulator/);
    expect(gemmI8Program(options, { M: 2, N: 5, K: 3 }).params?.[6]).toBe(2); // cRow: packed words
  });
});

runSuite(suite);
