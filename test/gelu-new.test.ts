/**
 * GPT-2's tanh GELU (gelu_new) on I-BERT's erf i-GELU: the errors measured against both GELUs,
 * asserted against the bounds written in src/reference/gelu-i8.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  GELU_NEW_MAX_ERROR_STEPS,
  geluExact,
  geluI8MaxError,
  geluPolynomial,
  geluTanh,
} from '../src/reference/gelu-i8.js';

describe('i-GELU as gelu_new (GPT-2)', () => {
  it('computes gelu_new at hand-checked points', () => {
    // 0.5 (1 + tanh(0.7978846 * 1.044715)) = 0.5 (1 + tanh(0.8335615)) = 0.8411920.
    expect(geluTanh(1)).toBeCloseTo(0.841192, 6);
    expect(geluTanh(0)).toBe(0);
    expect(geluTanh(-3)).toBeCloseTo(-0.0036373, 6);
    expect(geluExact(1)).toBeCloseTo(0.8413447, 6);
  });
  it('the two float GELUs differ 38x less than the polynomial differs from either', () => {
    let erfVsTanh = 0;
    let polyVsErf = 0;
    let polyVsTanh = 0;
    for (let x = -12; x <= 12; x += 1e-3) {
      erfVsTanh = Math.max(erfVsTanh, Math.abs(geluExact(x) - geluTanh(x)));
      polyVsErf = Math.max(polyVsErf, Math.abs(geluPolynomial(x) - geluExact(x)));
      polyVsTanh = Math.max(polyVsTanh, Math.abs(geluPolynomial(x) - geluTanh(x)));
    }
    expect(erfVsTanh).toBeLessThan(4.8e-4);
    expect(erfVsTanh).toBeGreaterThan(4.7e-4);
    expect(polyVsErf).toBeLessThan(0.0182);
    expect(polyVsTanh).toBeLessThan(0.0178);
    expect(polyVsTanh / erfVsTanh).toBeGreaterThan(37);
  });
  it(`stays within ${GELU_NEW_MAX_ERROR_STEPS} int8 output steps of gelu_new at realistic scales, as close as to erf GELU`, () => {
    for (const R of [2, 4, 8, 16, 32]) {
      const sOut = R / 127;
      // Accumulators at a fine scale (every 13th of 2^21 values) and at int8 resolution (all of them).
      for (const [sIn, qMax, stride] of [
        [R / 2 ** 20, 2 ** 20, 13],
        [R / 127, 128, 1],
      ]) {
        const vsTanh = geluI8MaxError(geluTanh, sIn, sOut, qMax, stride);
        const vsErf = geluI8MaxError(geluExact, sIn, sOut, qMax, stride);
        expect(vsTanh, `R ${R}, S_in ${sIn}`).toBeLessThanOrEqual(GELU_NEW_MAX_ERROR_STEPS);
        expect(Math.abs(vsTanh - vsErf), `R ${R}`).toBeLessThan(0.02);
      }
    }
    // The bound is tight where it binds: the smallest range, a step of 2/127.
    expect(geluI8MaxError(geluTanh, 2 / 2 ** 20, 2 / 127, 2 ** 20, 5)).toBeGreaterThan(1.14);
  });
});
