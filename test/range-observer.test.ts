import { describe, expect, it } from 'vitest';
import { RangeObserver, RangeStats } from '../src/calibrate/range-observer.js';

describe('calibration range statistics', () => {
  it('tracks max |x| and locates percentiles within 1.1%', () => {
    const s = new RangeStats();
    const values = Float64Array.from({ length: 100_000 }, (_, i) => (i % 2 ? -1 : 1) * (i + 1) / 1000);
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
