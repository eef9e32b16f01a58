import { describe, expect, it } from 'vitest';
import { RangeObserver, RangeStats } from '../src/calibrate/range-observer.js';

describe('calibration range statistics', () => {
  it('tracks max |x| and locates percentiles within 1.1%', () => {
    const s = new RangeStats();
    const values = Float64Array.from({ length: 100_000 }, (_, i) => ((i % 2 ? -1 : 1) * (i + 1)) / 1000);
    s.observe(values);
    expect(s.maxAbs).toBe(100);
    expect(s.range('max')).toBe(100);
    expect(Math.abs(s.percentile(50) / 50 - 1)).toBeLessThan(0.011);
    expect(Math.abs(s.percentile(99.9) / 99.9 - 1)).toBeLessThan(0.011);
    expect(s.percentile(100)).toBe(100);
  });
  it('a single outlier moves max but not a high percentile', () => {
    const s = new RangeStats();
    s.observe(new Float32Array(10_000).fill(0.5));
    s.observe([400]);
    expect(s.range('max')).toBe(400);
    expect(s.range('percentile-99.99')).toBeLessThan(0.51);
  });
  it('merges and names missing or bad data', () => {
    const o = new RangeObserver();
    o.observe('a', [1, -3]);
    o.observe('a', [2]);
    expect(o.get('a').maxAbs).toBe(3);
    expect(o.get('a').count).toBe(3);
    expect(() => o.get('b')).toThrow(/no statistics for "b"/);
    expect(() => o.observe('a', [NaN])).toThrow(/non-finite/);
    expect(() => o.get('a').percentile(0)).toThrow(/percentile/);
  });
});

describe('per-channel statistics and the mse range', () => {
  it('keeps per-channel max and mean squares of [rows, width] values', () => {
    const s = new RangeStats();
    s.observe([1, -2, 3, 0.5, 4, -6], 'x', 3);
    s.observe([2, 0, -1], 'x', 3);
    expect(Array.from(s.channels!.maxAbs)).toEqual([2, 4, 6]);
    expect(Array.from(s.channels!.sumSquares)).toEqual([1 + 0.25 + 4, 4 + 16, 9 + 36 + 1]);
    expect(s.channels!.rows).toBe(3);
    expect(() => s.observe([1, 2], 'x', 3)).toThrow(/not whole rows of 3/);
    expect(() => s.observe([1, 2], 'x', 2)).toThrow(/3 wide, now 2 wide/);
    expect(() => s.observe([1, 2, 3])).toThrow(/give its width/);
  });
  it('mse clips a lone spike but keeps a dense range', () => {
    const dense = new RangeStats();
    dense.observe(Float64Array.from({ length: 20_000 }, (_, i) => ((i % 200) - 100) / 100));
    expect(dense.range('mse')).toBeGreaterThan(0.95);
    const spiky = new RangeStats();
    spiky.observe(Float64Array.from({ length: 200_000 }, (_, i) => ((i % 200) - 100) / 100));
    spiky.observe([10]);
    // Over [0, 10] 200,000 values cost ~5e-4 each (~104 in all), clipped at 1 the spike costs 81:
    // the optimum lies between (about 5: 26 + 25).
    const r = spiky.range('mse');
    expect(r).toBeGreaterThan(3);
    expect(r).toBeLessThan(7);
    for (const other of [1, 2, 3, 7, 10])
      expect(spiky.quantizationError(r)).toBeLessThan(spiky.quantizationError(other));
    // One spike among few values is cheaper kept than clipped: mse is not a percentile.
    const few = new RangeStats();
    few.observe(Float64Array.from({ length: 2_000 }, (_, i) => ((i % 200) - 100) / 100));
    few.observe([10]);
    expect(few.range('mse')).toBeGreaterThan(9.5);
  });
  it('round-trips through JSON and merges', () => {
    const o = new RangeObserver();
    o.observe('a', [1, -3, 0.25, 8], 2);
    o.observe('b', [0.5]);
    const back = RangeObserver.fromJSON(JSON.parse(JSON.stringify(o)));
    expect(back.get('a').range('percentile-50')).toBe(o.get('a').range('percentile-50'));
    expect(Array.from(back.get('a').channels!.maxAbs)).toEqual([1, 8]);
    expect(back.get('b').channels).toBeUndefined();
    expect([...back.channelStats().keys()]).toEqual(['a']);
    back.get('a').merge(o.get('a'));
    expect(back.get('a').count).toBe(8);
    expect(back.get('a').channels!.rows).toBe(4);
  });
});
