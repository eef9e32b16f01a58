import { describe, expect, it } from 'vitest';
import {
  layerNormI8Program,
  layerNormI8RunData,
  layerNormI8Variant,
  packLayerNormChannels,
} from '../src/kernels/layernorm-i8.js';
import {
  chooseVarianceShift,
  deriveLayerNormI8,
  isqrtU32,
  type LayerNormI8Constants,
  LN_MAX_INPUT_ABS,
  layerNormI8Bounds,
  layerNormI8Ref,
  layerNormI8RowStats,
  layerNormWideRef,
  roundedMean,
  shiftRound,
} from '../src/reference/layernorm-i8.js';
import { Random } from '../src/util/random.js';
import { isqrtProbeValues, suite } from './cases/layernorm-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('integer square root', () => {
  it('equals floor(Math.sqrt) on squares, their neighbours, the u32 ends and random values', () => {
    const values = [...isqrtProbeValues(), ...Array.from({ length: 65536 }, (_, k) => k * k)];
    for (let k = 0; k < 65536; k++) values.push(k * k + 2 * k, k * k + 2 * k + 1);
    let wrong = 0;
    let first = '';
    for (const v of values) {
      if (v > 2 ** 32 - 1) continue;
      // Math.sqrt is correctly rounded, so its floor is exact for v < 2^52.
      const want = Math.floor(Math.sqrt(v));
      const got = isqrtU32(v);
      if (got !== want) {
        wrong++;
        first ||= `isqrt(${v}) = ${got}, want ${want}`;
      }
    }
    expect(first).toBe('');
    expect(wrong).toBe(0);
    expect(isqrtU32(0)).toBe(0);
    expect(isqrtU32(1)).toBe(1);
    expect(isqrtU32(2 ** 32 - 1)).toBe(65535);
    expect(isqrtU32(65536 * 65535)).toBe(65535);
  });
  it('refuses non-u32 arguments', () => {
    expect(() => isqrtU32(2 ** 32)).toThrow(RangeError);
    expect(() => isqrtU32(-1)).toThrow(RangeError);
  });
});

describe('integer LayerNorm reference, hand-checked', () => {
  it('rounds the mean to nearest with ties toward +infinity', () => {
    expect(roundedMean(-5, 2)).toBe(-2); // -2.5
    expect(roundedMean(5, 2)).toBe(3); // 2.5
    expect(roundedMean(7, 3)).toBe(2); // 2.33
    expect(roundedMean(8, 3)).toBe(3); // 2.67
    expect(roundedMean(-8, 3)).toBe(-3); // -2.67
    expect(roundedMean(4096 * (2 ** 30 - 1) - 1, 4096)).toBe(2 ** 30 - 1);
  });
  it('shifts the deviation with rounding and no overflow', () => {
    expect(shiftRound(5, 1)).toBe(3); // 2.5
    expect(shiftRound(-5, 1)).toBe(-2); // -2.5
    expect(shiftRound(-6, 2)).toBe(-1); // -1.5
    expect(shiftRound(2 ** 31 - 2, 2)).toBe(2 ** 29); // y + 2 would leave int32
    expect(shiftRound(-(2 ** 31) + 2, 31)).toBe(-1);
  });
  it('normalizes [-3, -1, 1, 3] to +-3/sqrt(5), +-1/sqrt(5)', () => {
    // mean 0, sum of squares 20: h = min(clz(20) / 2, 8) = 8, root = isqrt(20 * 2^16) = 1144,
    // factor = floor((2^32 - 1) / 1144) = 3754342, z = y * factor (exponent 0).
    // With gamma = 1, beta = 0, S_out = 1/64: out = 64 * y / sqrt(5) = -85.87, -28.62, 28.62, 85.87.
    const c = deriveLayerNormI8({
      gamma: [1, 1, 1, 1],
      beta: [0, 0, 0, 0],
      eps: 0,
      inputScale: 1,
      outputScale: 1 / 64,
      inputMaxAbs: 3,
      maxAbsDeviation: 3,
    });
    expect(c.shift).toBe(0);
    const x = Int32Array.from([-3, -1, 1, 3]);
    expect(layerNormI8RowStats(x, c)).toEqual({ mean: 0, variance: 20, h: 8, root: 1144, factor: 3754342, zShift: 0 });
    expect(Array.from(layerNormI8Ref(x, 1, c))).toEqual([-86, -29, 29, 86]);
    // gamma = -0.5 and beta = 1 (64 steps): 64 - 32 y / sqrt(5) = 106.93, 78.31, 49.69, 21.07.
    const d = deriveLayerNormI8({
      gamma: [-0.5, -0.5, -0.5, -0.5],
      beta: [1, 1, 1, 1],
      eps: 0,
      inputScale: 1,
      outputScale: 1 / 64,
      inputMaxAbs: 3,
    });
    expect(Array.from(layerNormI8Ref(x, 1, d))).toEqual([107, 78, 50, 21]);
  });
  it('outputs beta for a flat row, and saturates at the int8 ends', () => {
    const c = deriveLayerNormI8({
      gamma: [1, 2, 3],
      beta: [0.5, -0.25, 10],
      eps: 0,
      inputScale: 1,
      outputScale: 0.05,
      inputMaxAbs: 1000,
    });
    expect(Array.from(layerNormI8Ref(Int32Array.from([7, 7, 7]), 1, c))).toEqual([10, -5, 127]);
    // [0, 0, 30]: y = -10, -10, 20 with std sqrt(200): u = -0.707, -0.707, 1.414.
    // out = (gamma u + beta) / 0.05 = -4.14, -33.28, 284.85 -> -4, -33, 127.
    expect(Array.from(layerNormI8Ref(Int32Array.from([0, 0, 30]), 1, c))).toEqual([-4, -33, 127]);
  });
  it('adds eps in units of the variance sum', () => {
    // [-1, 1] at S_in = 1 has variance 1; eps = 3 gives std 2, so u = -+0.5 -> -+32 steps at S_out = 1/64.
    const c = deriveLayerNormI8({
      gamma: [1, 1],
      beta: [0, 0],
      eps: 3,
      inputScale: 1,
      outputScale: 1 / 64,
      inputMaxAbs: 1,
    });
    expect(c.epsVar).toBe(6 / 4 ** c.shift);
    expect(Array.from(layerNormI8Ref(Int32Array.from([-1, 1]), 1, c))).toEqual([-32, 32]);
  });
  it('clamps inputs to the declared bound', () => {
    const c = deriveLayerNormI8({
      gamma: [1, 1, 1, 1],
      beta: [0, 0, 0, 0],
      eps: 0,
      inputScale: 1,
      outputScale: 1 / 64,
      inputMaxAbs: 3,
    });
    const inBound = layerNormI8Ref(Int32Array.from([-3, -1, 1, 3]), 1, c);
    expect(layerNormI8Ref(Int32Array.from([-(2 ** 31), -1, 1, 2 ** 31 - 1]), 1, c)).toEqual(inBound);
  });
});

describe('variance shift selection', () => {
  it('picks the smallest shift whose variance sum fits 32 bits', () => {
    expect(chooseVarianceShift(1, 65535)).toBe(0);
    expect(chooseVarianceShift(1, 65536)).toBe(1);
    expect(chooseVarianceShift(768, 2364)).toBe(0); // 768 * 2364^2 = 4.2920e9 < 2^32
    expect(chooseVarianceShift(768, 2365)).toBe(1);
    // 22-bit residuals: |y| <= 2^22 - 2 at H = 768 needs a shift of 11.
    expect(chooseVarianceShift(768, 2 ** 22 - 2)).toBe(11);
    const B = LN_MAX_INPUT_ABS;
    for (const H of [1, 3, 768, 4096, 16384]) {
      const s = chooseVarianceShift(H, 2 * B);
      expect(layerNormI8Bounds(H, B, s).varianceMaySaturate).toBe(false);
      if (s > 0 && H > 1) expect(layerNormI8Bounds(H, B, s - 1).varianceMaySaturate).toBe(true);
    }
  });
  it('the declared-bound shift never saturates on the worst rows the bound allows', () => {
    const B = 2 ** 21 - 1;
    const rng = new Random(5);
    for (const H of [2, 3, 768, 1000]) {
      const c: LayerNormI8Constants = {
        H,
        inputMaxAbs: B,
        shift: chooseVarianceShift(H, 2 * B),
        epsVar: 0,
        channels: [],
      };
      const rows = [
        Int32Array.from({ length: H }, (_, i) => (i % 2 ? B : -B)),
        Int32Array.from({ length: H }, (_, i) => (i === 0 ? -B : B)),
        Int32Array.from({ length: H }, () => (rng.next() < 0.5 ? B : -B)),
      ];
      for (const row of rows) expect(layerNormI8RowStats(row, c).variance).toBeLessThan(2 ** 32 - 1);
    }
  });
});

describe('integer LayerNorm refuses what it cannot compute exactly', () => {
  const constants = (H: number, over: Partial<LayerNormI8Constants> = {}): LayerNormI8Constants => ({
    H,
    inputMaxAbs: 2 ** 21 - 1,
    shift: 11,
    epsVar: 0,
    channels: Array.from({ length: H }, () => ({ m: 1 << 30, e: 40, negate: false, beta: 0 })),
    ...over,
  });
  it('accepts the largest H and declared bound of the proof', () => {
    expect(() =>
      layerNormI8Program(constants(16384, { inputMaxAbs: LN_MAX_INPUT_ABS, shift: 31 }), { rows: 1, H: 16384 }),
    ).not.toThrow();
  });
  it('rejects shapes outside the proof', () => {
    expect(() => layerNormI8Program(constants(4), { rows: 0, H: 4 })).toThrow(/rows = 0/);
    expect(() => layerNormI8Program(constants(4), { rows: 1, H: 5 })).toThrow(/H = 4/);
    expect(() => layerNormI8Program({ H: 16385, inputMaxAbs: 1, shift: 0, epsVar: 0 }, { rows: 1, H: 16385 })).toThrow(
      /H = 16385 must be an integer in \[1, 16384\]/,
    );
    expect(() => layerNormI8Program(constants(4), { rows: 1, H: 4 }, { workgroupSize: 48 })).toThrow(/power of two/);
  });
  it('refuses a wide output bound outside [1, 2^30 - 1], or one for the int8 variant, naming it', () => {
    const c = constants(4);
    const shape = { rows: 1, H: 4 };
    expect(() => layerNormI8Program(c, shape, { wideOutput: { maxAbs: 2 ** 21 } })).not.toThrow();
    for (const maxAbs of [0, 2 ** 30, 1.5])
      expect(() => layerNormI8Program(c, shape, { wideOutput: { maxAbs } })).toThrow(
        new RegExp(`wide output bound = ${maxAbs} is not an integer in \\[1, 1073741823\\]`),
      );
    expect(() => layerNormI8RunData(c, shape, layerNormI8Variant(4), { wideOutput: { maxAbs: 8 } })).toThrow(
      /a wide output bound for a variant with an int8 output/,
    );
    expect(() => layerNormWideRef(new Int32Array(4), 1, c, 0)).toThrow(/layerNormWideRef outMaxAbs = 0/);
  });
  it('rejects a declared bound that would let x - mean leave int32', () => {
    expect(() => layerNormI8Program(constants(4, { inputMaxAbs: 2 ** 30 }), { rows: 1, H: 4 })).toThrow(
      /inputMaxAbs = 1073741824 is not an integer in \[0, 1073741823\]/,
    );
  });
  it('rejects constants outside their ranges', () => {
    expect(() => layerNormI8Program(constants(4, { shift: 32 }), { rows: 1, H: 4 })).toThrow(/shift = 32/);
    expect(() => layerNormI8Program(constants(4, { epsVar: 2 ** 32 }), { rows: 1, H: 4 })).toThrow(/epsVar/);
    const big = constants(4);
    big.channels[2] = { m: 2 ** 31, e: 3, negate: false, beta: 0 };
    expect(() => packLayerNormChannels(big)).toThrow(/gamma\[2\]: m = 2147483648/);
    const beta = constants(4);
    beta.channels[1] = { m: 1, e: 3, negate: false, beta: 2 ** 29 + 1 };
    expect(() => layerNormI8Program(beta, { rows: 1, H: 4 })).toThrow(/beta\[1\]/);
    expect(() => layerNormI8Program({ ...constants(4), channels: constants(3).channels }, { rows: 1, H: 4 })).toThrow(
      /3 channel constants for H = 4/,
    );
  });
  it("refuses a residual input outside the residual add's proof or out of step with its variant", () => {
    const H = 8;
    const residual = {
      operands: { a: 'i32' as const, b: 'i8' as const },
      constants: { a: { m: 1, e: 0 }, b: { m: 3, e: 1 }, bits: 22 },
      bounds: { a: 2 ** 21 },
    };
    const shape = { rows: 2, H };
    expect(layerNormI8Program(constants(H), shape, { residual }).params!.length).toBe(16);
    // |a| <= 2^21 times 2^9 reaches 2^30: over the int32-safe term bound.
    const over = { ...residual, constants: { ...residual.constants, a: { m: 512, e: 0 } } };
    expect(() => layerNormI8Program(constants(H), shape, { residual: over })).toThrow(
      /operand a \(i32, \|a\| <= 2097152\) times 512 \/ 2\^0 can reach 1073741824/,
    );
    // An int32 operand without a declared bound is taken at 2^31: the same multiplier 1 is refused.
    expect(() => layerNormI8Program(constants(H), shape, { residual: { ...residual, bounds: {} } })).toThrow(
      /operand a \(i32, \|a\| <= 2147483648\)/,
    );
    expect(() =>
      layerNormI8Program(constants(H), shape, {
        residual: { ...residual, constants: { ...residual.constants, bits: 32 } },
      }),
    ).toThrow(/output width 32 bits/);
    expect(() =>
      layerNormI8Program(constants(H), shape, {
        residual: { ...residual, operands: { a: 'i16', b: 'i8' } } as never,
      }),
    ).toThrow(/residual operand a kind i16/);
    const variant = layerNormI8Variant(H, { residual: { ...residual, writeSum: true } });
    expect(() => layerNormI8RunData(constants(H), shape, variant, { residual })).toThrow(/does not match the variant/);
    expect(() => layerNormI8RunData(constants(H), shape, variant)).toThrow(/needs the residual add/);
    expect(() => layerNormI8RunData(constants(H), shape, layerNormI8Variant(H), { residual })).toThrow(
      /variant without a residual input/,
    );
  });
  it('refuses to fold gamma or beta that no dyadic can carry', () => {
    const base = { gamma: [1, 1], beta: [0, 0], eps: 0, inputScale: 1e-3, outputScale: 0.01, inputMaxAbs: 1000 };
    expect(() => deriveLayerNormI8(base)).not.toThrow();
    expect(() => deriveLayerNormI8({ ...base, gamma: [1, 1e12] })).toThrow(/gamma\[1\] \/ S_out is too large/);
    expect(() => deriveLayerNormI8({ ...base, beta: [0, 1e5] })).toThrow(/beta\[1\]/);
    expect(() => deriveLayerNormI8({ ...base, outputScale: 0 })).toThrow(/outputScale/);
    expect(() => deriveLayerNormI8({ ...base, beta: [0] })).toThrow(/1 beta values for 2 gamma/);
    // A gamma below the smallest dyadic step folds to 0 instead of failing.
    expect(deriveLayerNormI8({ ...base, gamma: [1, 1e-30] }).channels[1].m).toBe(0);
  });
});
