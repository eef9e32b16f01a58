import { describe, expect, it } from 'vitest';
import { dyadicScale, dyadicValue, toDyadic } from '../src/reference/dyadic.js';
import { suite } from './cases/dyadic.js';
import { runSuite } from './run-suite.js';

describe('dyadic rescale reference', () => {
  it('rounds to nearest with ties away from zero', () => {
    expect(dyadicScale(5, 1, 1, -128, 127)).toBe(3); // 2.5
    expect(dyadicScale(-5, 1, 1, -128, 127)).toBe(-3);
    expect(dyadicScale(3, 1, 1, -128, 127)).toBe(2); // 1.5
    expect(dyadicScale(1, 1, 2, -128, 127)).toBe(0); // 0.25
    expect(dyadicScale(-3, 1, 2, -128, 127)).toBe(-1); // -0.75
    expect(dyadicScale(100, 3, 2, -128, 127)).toBe(75);
    expect(dyadicScale(7, 5, 0, -128, 127)).toBe(35);
  });
  it('saturates to the clamp range', () => {
    expect(dyadicScale(1000, 1, 0, -128, 127)).toBe(127);
    expect(dyadicScale(-1000, 1, 0, -128, 127)).toBe(-128);
    expect(dyadicScale(-(2 ** 31), 0x7fffffff, 0, -(2 ** 31), 2 ** 31 - 1)).toBe(-(2 ** 31));
  });
  it('is exact where a double product would not be', () => {
    // (2^31 - 1) * (2^31 - 1) = 2^62 - 2^32 + 1; / 2^32 = 2^30 - 1 + 2^-32 -> 2^30 - 1.
    expect(dyadicScale(2 ** 31 - 1, 2 ** 31 - 1, 32, -(2 ** 31), 2 ** 31 - 1)).toBe(2 ** 30 - 1);
    // 3 * (2^31 - 1) / 2^32 = 1.4999999993 -> 1 (a double rounding 1.5 up would give 2).
    expect(dyadicScale(3, 2 ** 31 - 1, 32, -128, 127)).toBe(1);
  });
  it('toDyadic keeps 31 bits of the ratio', () => {
    for (const r of [1, 0.5, 1 / 3, 1e-6, 123.456, 2 ** -33, 1e5]) {
      const d = toDyadic(r);
      expect(d.m).toBeGreaterThanOrEqual(2 ** 30);
      expect(d.m).toBeLessThan(2 ** 31);
      expect(Math.abs(dyadicValue(d) / r - 1)).toBeLessThan(2 ** -30);
    }
  });
  it('toDyadic caps the shift at 63 for tiny ratios, losing low bits of m', () => {
    const d = toDyadic(2 ** -40 * 1.2345);
    expect(d.e).toBe(63);
    expect(Math.abs(dyadicValue(d) / (2 ** -40 * 1.2345) - 1)).toBeLessThan(2 ** -22);
  });
  it('toDyadic refuses ratios it cannot represent', () => {
    expect(() => toDyadic(0)).toThrow(/positive/);
    expect(() => toDyadic(NaN)).toThrow(/positive/);
    expect(() => toDyadic(2 ** 32)).toThrow(/too large/);
  });
});

runSuite(suite);
