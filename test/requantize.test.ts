import { describe, expect, it } from 'vitest';
import { packRequantizeMultipliers, requantizeProgram } from '../src/kernels/requantize.js';
import { dyadicValue } from '../src/reference/dyadic.js';
import { planRequantize, requantizeOutputScale, requantizeRef } from '../src/reference/requantize.js';
import { suite } from './cases/requantize.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('requantize reference', () => {
  it('rounds half away from zero and saturates per output type', () => {
    // ratio 1/2: 5 -> 2.5 -> 3, -5 -> -3, 3 -> 1.5 -> 2, 1000 -> 127 / 255, -7 -> -4 / 0.
    const x = Int32Array.from([5, -5, 3, 1000, -7, -1000]);
    expect(Array.from(requantizeRef(x, 1, 6, [{ m: 1, e: 1 }], 'i8'))).toEqual([3, -3, 2, 127, -4, -128]);
    expect(Array.from(requantizeRef(x, 1, 6, [{ m: 1, e: 1 }], 'u8'))).toEqual([3, 0, 2, 255, 0, 0]);
  });
  it('applies one multiplier per column when per channel', () => {
    const x = Int32Array.from([10, 10, 10, -10, -10, -10]);
    const rq = [
      { m: 1, e: 0 },
      { m: 3, e: 2 },
      { m: 0, e: 0 },
    ];
    expect(Array.from(requantizeRef(x, 2, 3, rq))).toEqual([10, 8, 0, -10, -8, 0]); // 7.5 -> 8
  });
  it('is exact at the int32 corners', () => {
    const x = Int32Array.from([2 ** 31 - 1, -(2 ** 31)]);
    // (2^31 - 1) / 2^24 = 127.99999994 -> 128 saturates to 127; -2^31 / 2^24 = -128 exactly.
    expect(Array.from(requantizeRef(x, 1, 2, [{ m: 1, e: 24 }]))).toEqual([127, -128]);
    // 3 * (2^31 - 1) / 2^32 = 1.4999999993 -> 1 (a double product rounded first would give 2).
    expect(Array.from(requantizeRef(Int32Array.from([3]), 1, 1, [{ m: 2 ** 31 - 1, e: 32 }]))).toEqual([1]);
  });
  it('plans multipliers within 2^-30 of the scale ratios', () => {
    const inScales = [1e-4, 3e-5, 2.5e-3];
    const rq = planRequantize(inScales, 0.02);
    rq.forEach((d, c) => expect(Math.abs(dyadicValue(d) / (inScales[c] / 0.02) - 1)).toBeLessThan(2 ** -30));
    expect(requantizeOutputScale(12.7)).toBeCloseTo(0.1, 15);
    expect(requantizeOutputScale(25.5, 'u8')).toBeCloseTo(0.1, 15);
    expect(() => planRequantize(1, 0)).toThrow(/output scale/);
    expect(() => planRequantize(2 ** 40, 1)).toThrow(/too large/);
  });
});

describe('requantize refuses what it cannot run', () => {
  const options = { output: 'i8', perChannel: true } as const;
  it('rejects empty, fractional or u32-overflowing shapes', () => {
    expect(() => requantizeProgram(options, { rows: 0, cols: 4 })).toThrow(/rows = 0/);
    expect(() => requantizeProgram(options, { rows: 2, cols: 2.5 })).toThrow(/cols = 2.5/);
    expect(() => requantizeProgram(options, { rows: 2 ** 16, cols: 2 ** 16 })).toThrow(/u32 indices/);
    expect(() => requantizeProgram(options, { rows: 2 ** 16 - 1, cols: 2 ** 16 })).not.toThrow();
  });
  it('rejects a multiplier count that does not match per channel / per tensor', () => {
    expect(() => packRequantizeMultipliers(options, { rows: 1, cols: 3 }, [{ m: 1, e: 0 }])).toThrow(
      /one per column \(3\)/,
    );
    expect(() => packRequantizeMultipliers({ ...options, perChannel: false }, { rows: 1, cols: 3 }, [])).toThrow(
      /one per tensor/,
    );
  });
  it('rejects multipliers outside m < 2^31, e <= 63', () => {
    expect(() => packRequantizeMultipliers(options, { rows: 1, cols: 1 }, [{ m: 2 ** 31, e: 0 }])).toThrow(
      /m = 2147483648/,
    );
    expect(() => packRequantizeMultipliers(options, { rows: 1, cols: 1 }, [{ m: 1, e: 64 }])).toThrow(/e = 64/);
  });
  it('dispatches one thread per output word, folding large grids into two dimensions', () => {
    expect(requantizeProgram(options, { rows: 3, cols: 13 }).workgroups).toEqual([1, 1, 1]);
    const [x, y] = requantizeProgram(options, { rows: 4096, cols: 4096 }).workgroups;
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y * 64).toBeGreaterThanOrEqual(4096 * 1024);
  });
});
