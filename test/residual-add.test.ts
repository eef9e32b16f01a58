import { describe, expect, it } from 'vitest';
import { checkResidualAddBounds, residualAddProgram } from '../src/kernels/residual-add.js';
import { dyadicValue } from '../src/reference/dyadic.js';
import { dyadicTermBound, planResidualAdd, planResidualStream, residualAddRef } from '../src/reference/residual-add.js';
import { suite } from './cases/residual-add.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('residual add reference', () => {
  it('rescales each side, rounds half away from zero, adds, saturates to the output width', () => {
    // a / 2 + 3b / 4: 5/2 + 3/4 = 3 + 1; 100/2 + 300/4 = 125 fits 8 bits; 200/2 + 600/4 = 250 -> 127;
    // 7/2 - 27/4 = 4 - 7.
    const c = { a: { m: 1, e: 1 }, b: { m: 3, e: 2 }, bits: 8 };
    expect(Array.from(residualAddRef([5, -5, 100, 200, -200, 7], [1, -1, 100, 200, -200, -9], c))).toEqual([
      4, -4, 125, 127, -128, -3,
    ]);
  });
  it('rounds each term before the sum, as the GPU does', () => {
    // 1/2 + 1/2: terms round to 1 + 1 = 2, not round(1) = 1.
    expect(Array.from(residualAddRef([1], [1], { a: { m: 1, e: 1 }, b: { m: 1, e: 1 }, bits: 16 }))).toEqual([2]);
  });
  it('guards each term at [-2^30, 2^30 - 1] so the int32 sum cannot wrap', () => {
    const c = { a: { m: 1, e: 0 }, b: { m: 1, e: 0 }, bits: 31 };
    expect(Array.from(residualAddRef([2 ** 31 - 1, -(2 ** 31)], [2 ** 31 - 1, -(2 ** 31)], c))).toEqual([
      2 ** 30 - 1,
      -(2 ** 30),
    ]);
    // The guard fires only for data beyond the term bound: 2^31 - 1 and -2^30 rescale to (2^30 - 1) - 2^30.
    expect(Array.from(residualAddRef([2 ** 31 - 1], [-(2 ** 30)], c))).toEqual([-1]);
  });
  it('plans the common scale from the worst case or a calibrated range', () => {
    const a = { scale: 0.04, maxAbs: 128 };
    const b = { scale: 2e-5, maxAbs: 2 ** 21 };
    const worst = planResidualAdd({ a, b, bits: 22 });
    expect(worst.scale).toBeCloseTo((128 * 0.04 + 2 ** 21 * 2e-5) / (2 ** 21 - 1), 12);
    expect(Math.abs(dyadicValue(worst.a) / (a.scale / worst.scale) - 1)).toBeLessThan(2 ** -30);
    expect(Math.abs(dyadicValue(worst.b) / (b.scale / worst.scale) - 1)).toBeLessThan(2 ** -30);
    // The worst case cannot saturate: both terms together stay within 2^21 - 1 (+1 for the two roundings).
    expect(dyadicTermBound(128, worst.a) + dyadicTermBound(2 ** 21, worst.b)).toBeLessThanOrEqual(2 ** 21);
    expect(() => checkResidualAddBounds({ a: 'i8', b: 'i32' }, worst, { b: 2 ** 21 })).not.toThrow();
    const calibrated = planResidualAdd({ a, b, bits: 16, range: 20 });
    expect(calibrated.scale).toBeCloseTo(20 / 32767, 15);
    expect(() => planResidualAdd({ a, b, bits: 16, range: 1e-6 })).toThrow(/2\^30 - 1/);
    expect(() => planResidualAdd({ a, b, bits: 32 })).toThrow(/\[2, 31\]/);
  });
});

describe("residual add with an 'i8m' operand (int8 times per-column integer multipliers)", () => {
  it('multiplies each column before the rescale, so the term is round(q m_c ma / 2^ea)', () => {
    // Columns x1, x100, x-3: (5 x 1 + 7) / 2 rounds 6, (5 x 100) / 2 + 7 = 257, (-5 x -3) / 2 = 7.5 -> 8 (+7 = 15).
    const c = { a: { m: 1, e: 1 }, b: { m: 1, e: 0 }, bits: 16 };
    const m = Int32Array.from([1, 100, -3]);
    expect(Array.from(residualAddRef([5, 5, -5, -128, 127, 0], [7, 7, 7, 0, 0, 0], c, { a: m }))).toEqual([
      10, 257, 15, -64, 6350, 0,
    ]);
    // The same as an int32 operand holding the products (the diagonal GEMM this operand replaces).
    const q = [5, 5, -5, -128, 127, 0];
    const products = q.map((v, i) => v * m[i % 3]);
    expect(residualAddRef(q, [7, 7, 7, 0, 0, 0], c, { a: m })).toEqual(residualAddRef(products, [7, 7, 7, 0, 0, 0], c));
  });
  it('refuses multipliers out of range, of the wrong count, or on a side that is not int8', () => {
    const c = { a: { m: 1, e: 0 }, b: { m: 1, e: 0 }, bits: 22 };
    expect(() => residualAddRef([1, 2], [0, 0], c, { b: [2 ** 23, 1] })).toThrow(/column multiplier 0 is 8388608/);
    expect(() => residualAddRef([1, 2], [0, 0], c, { b: [1.5, 1] })).toThrow(/column multiplier 0 is 1.5/);
    expect(() => residualAddRef([1, 2, 3], [0, 0, 0], c, { b: [1, 1] })).toThrow(/not rows of 2 columns/);
    expect(() => residualAddRef([1, 300], [0, 0], c, { a: [1, 1] })).toThrow(/value 1 is 300, not int8/);
  });
  it('proves the term over the declared bound of q m_c, the full 128 (2^23 - 1) when none is declared', () => {
    const shape = { rows: 2, cols: 3 };
    // 128 (2^23 - 1) x 1 fits 2^30 - 1; x 2 does not unless the bound says the multipliers are small.
    const one = { a: { m: 1, e: 0 }, b: { m: 1, e: 0 }, bits: 22 };
    expect(() => residualAddProgram({ a: 'i32', b: 'i8m' }, shape, one, { a: 2 ** 21 })).not.toThrow();
    const two = { ...one, b: { m: 2, e: 0 } };
    expect(() => residualAddProgram({ a: 'i32', b: 'i8m' }, shape, two, { a: 2 ** 21 })).toThrow(
      /operand b \(i8m, \|b\| <= 1073741696\)/,
    );
    expect(() => residualAddProgram({ a: 'i32', b: 'i8m' }, shape, two, { a: 2 ** 21, b: 128 * 127 })).not.toThrow();
    expect(() => residualAddProgram({ a: 'i32', b: 'i8x' as 'i8' }, shape, one, { a: 2 ** 21 })).toThrow(
      /operand b kind i8x is not 'i8', 'i32' or 'i8m'/,
    );
  });
});

describe('residual add refuses what could overflow', () => {
  const shape = { rows: 2, cols: 3 };
  it('accepts the largest multiplier whose int8 term stays within 2^30 - 1, refuses the next', () => {
    // 128 * m rounds to at most 2^30 - 1 for m <= 2^23 - 1 with e = 0.
    const ok = { a: { m: 2 ** 23 - 1, e: 0 }, b: { m: 0, e: 0 }, bits: 22 };
    expect(() => residualAddProgram({ a: 'i8', b: 'i8' }, shape, ok)).not.toThrow();
    expect(() => residualAddProgram({ a: 'i8', b: 'i8' }, shape, { ...ok, a: { m: 2 ** 23, e: 0 } })).toThrow(
      /operand a \(i8, \|a\| <= 128\).*can reach 1073741824/,
    );
  });
  it('takes the full int32 range for an int32 operand unless a tighter bound is declared', () => {
    // 2^31 (2^31 - 1) / 2^32 = 2^30 - 1/2 rounds to 2^30: refused; one more shift is fine.
    expect(() =>
      residualAddProgram({ a: 'i32', b: 'i8' }, shape, { a: { m: 2 ** 31 - 1, e: 32 }, b: { m: 1, e: 0 }, bits: 22 }),
    ).toThrow(/can reach 1073741824/);
    const c = { a: { m: 2 ** 31 - 1, e: 33 }, b: { m: 1, e: 0 }, bits: 22 };
    expect(() => residualAddProgram({ a: 'i32', b: 'i32' }, shape, c)).toThrow(
      /operand b \(i32, \|b\| <= 2147483648\)/,
    );
    expect(() => residualAddProgram({ a: 'i32', b: 'i32' }, shape, c, { b: 2 ** 21 })).not.toThrow();
    expect(() => residualAddProgram({ a: 'i32', b: 'i32' }, shape, c, { b: 2 ** 31 + 1 })).toThrow(/declared bound/);
    expect(() => residualAddProgram({ a: 'i8', b: 'i32' }, shape, c, { a: 100, b: 2 ** 21 })).toThrow(
      /int8; its bound is 128/,
    );
  });
  it('rejects output widths outside [2, 31] and invalid multipliers', () => {
    const c = { a: { m: 1, e: 0 }, b: { m: 1, e: 0 }, bits: 22 };
    expect(() => residualAddProgram({ a: 'i8', b: 'i8' }, shape, { ...c, bits: 32 })).toThrow(/32 bits/);
    expect(() => residualAddProgram({ a: 'i8', b: 'i8' }, shape, { ...c, bits: 1 })).toThrow(/1 bits/);
    expect(() => residualAddProgram({ a: 'i8', b: 'i8' }, shape, { ...c, a: { m: -1, e: 0 } })).toThrow(/m = -1/);
    expect(() => residualAddProgram({ a: 'i8', b: 'i8' }, shape, { ...c, b: { m: 1, e: 64 } })).toThrow(/e = 64/);
  });
  it('rejects empty shapes', () => {
    expect(() =>
      residualAddProgram({ a: 'i8', b: 'i8' }, { rows: 1, cols: 0 }, { a: { m: 1, e: 0 }, b: { m: 1, e: 0 }, bits: 8 }),
    ).toThrow(/cols = 0/);
  });
});

describe('residual stream plan (pre-LN decoders: r = r + attn, r = r + mlp over every layer)', () => {
  const HI = 2 ** 21 - 1;
  it('plans each sum onto its calibrated range and proves both terms of every sum', () => {
    // Input at 2^-11; sum 0 maps range HI 2^-10 onto the 22 bits: scale 2^-10, stream x 1/2, operand (2^-4) x 64.
    // Sum 1 shrinks 256-fold: stream x 256, |2^21 x 256| = 2^29 <= 2^30 - 1.
    const steps = planResidualStream({
      bits: 22,
      inputScale: 2 ** -11,
      adds: [
        { name: 'layer.0.attention', operand: { scale: 2 ** -4 }, range: HI * 2 ** -10 },
        { name: 'layer.0.mlp', operand: { scale: 2 ** -12 }, range: HI * 2 ** -18 },
      ],
    });
    expect(steps.map((s) => s.name)).toEqual(['layer.0.attention', 'layer.0.mlp']);
    expect(steps[0]).toMatchObject({
      scale: 2 ** -10,
      bits: 22,
      a: { m: 2 ** 30, e: 31 },
      b: { m: 2 ** 30, e: 24 },
      bounds: { a: 2 ** 21, b: 128 },
      termA: 2 ** 20,
      termB: 8192,
      rangeSteps: HI,
    });
    expect(steps[1]).toMatchObject({
      scale: 2 ** -18,
      a: { m: 2 ** 30, e: 22 },
      b: { m: 2 ** 30, e: 24 },
      termA: 2 ** 29,
      termB: 8192,
    });
    // What the plan says is what the kernel's own proof accepts with the declared stream bound.
    for (const s of steps)
      expect(() => checkResidualAddBounds({ a: 'i32', b: 'i8' }, s, { a: s.bounds.a })).not.toThrow();
  });
  it('refuses a sum whose range shrinks so fast that the stream term could pass 2^30 - 1, naming it', () => {
    const adds = [
      { name: 'layer.0.attention', operand: { scale: 2 ** -4 }, range: HI * 2 ** -10 },
      { name: 'layer.0.mlp', operand: { scale: 2 ** -12 }, range: HI * 2 ** -19 },
    ];
    // 512-fold: 2^21 x 512 = 2^30.
    expect(() => planResidualStream({ bits: 22, inputScale: 2 ** -11, adds })).toThrow(
      /layer\.0\.mlp .* cannot be planned: .*\|a\| <= 2097152 rescales to 1073741824 > 2\^30 - 1/,
    );
    // An operand far coarser than the sum's range: 128 x 2^24 > 2^30 - 1.
    expect(() =>
      planResidualStream({
        bits: 22,
        inputScale: 2 ** -11,
        adds: [{ name: 'x', operand: { scale: 2 ** 14 }, range: HI * 2 ** -10 }],
      }),
    ).toThrow(/x .* \|b\| <= 128 rescales/);
  });
  it('with one common scale the stream passes through exactly (multiplier 1)', () => {
    const steps = planResidualStream({
      bits: 22,
      inputScale: 3 / HI,
      scales: 'common',
      adds: [1, 3, 2].map((range) => ({ operand: { scale: 0.02 }, range })),
    });
    for (const s of steps) {
      expect(s.scale).toBeCloseTo(3 / HI, 15);
      expect(s.a).toEqual({ m: 2 ** 30, e: 30 });
      expect(s.termA).toBe(2 ** 21);
    }
    expect(steps.map((s) => Math.round(s.rangeSteps))).toEqual([Math.round(HI / 3), HI, Math.round((2 * HI) / 3)]);
    expect(residualAddRef([2 ** 21 - 1, -(2 ** 21)], [0, 0], steps[1])).toEqual(
      Int32Array.from([2 ** 21 - 1, -(2 ** 21)]),
    );
  });
  it('refuses malformed plans', () => {
    const add = { operand: { scale: 0.02 }, range: 5 };
    expect(() => planResidualStream({ bits: 22, inputScale: 1e-5, adds: [] })).toThrow(/no residual sums/);
    expect(() =>
      planResidualStream({ bits: 22, inputScale: 1e-5, adds: [add, { ...add, name: 'layer.7.mlp', range: 0 }] }),
    ).toThrow(/layer\.7\.mlp has calibrated range 0/);
    expect(() => planResidualStream({ bits: 22, inputScale: 1e-5, adds: [{ ...add, range: Number.NaN }] })).toThrow(
      /sum 0 has calibrated range NaN/,
    );
    expect(() => planResidualStream({ bits: 32, inputScale: 1e-5, adds: [add] })).toThrow(/output width 32 bits/);
    expect(() => planResidualStream({ bits: 22, inputScale: 0, adds: [add] })).toThrow(/input scale 0/);
    expect(() => planResidualStream({ bits: 22, inputScale: 1e-5, adds: [add], headroom: 0.5 })).toThrow(
      /headroom 0.5/,
    );
  });
});
