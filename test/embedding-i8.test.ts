import { describe, expect, it } from 'vitest';
import { embeddingI8Program } from '../src/kernels/embedding-i8.js';
import { dyadicValue } from '../src/reference/dyadic.js';
import { embeddingI8Ref, embeddingTermBound, planEmbedding } from '../src/reference/embedding-i8.js';
import { suite } from './cases/embedding-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('int8 embedding reference', () => {
  // hidden 2; word rows [10, -10], [3, 5]; position rows [1, 1], [-7, 100]; type rows [0, 0], [4, -4].
  const tables = {
    word: Int8Array.from([10, -10, 3, 5]),
    position: Int8Array.from([1, 1, -7, 100]),
    tokenType: Int8Array.from([0, 0, 4, -4]),
    hidden: 2,
  };
  const c = { word: { m: 1, e: 1 }, position: { m: 1, e: 0 }, tokenType: { m: 3, e: 2 }, bits: 8 };
  it('sums the three rescaled rows, each rounded half away from zero, and saturates', () => {
    // token 1, pos 1, type 1: 3/2 -> 2, 5/2 -> 3; -7, 100; 3, -3 -> [2 - 7 + 3, 3 + 100 - 3] = [-2, 100].
    // token 0, pos 1, type 0: [5 - 7 + 0, -5 + 100 + 0] = [-2, 95]; with 8 bits nothing clips...
    const ids = { token: [1, 0], position: [1, 1], tokenType: [1, 0] };
    expect(Array.from(embeddingI8Ref(tables, ids, c))).toEqual([-2, 100, -2, 95]);
    // ...with 7 bits 100 and 95 clip to 63.
    expect(Array.from(embeddingI8Ref(tables, ids, { ...c, bits: 7 }))).toEqual([-2, 63, -2, 63]);
  });
  it('works without a token-type table', () => {
    const noTypes = { word: tables.word, position: tables.position, hidden: 2 };
    expect(
      Array.from(
        embeddingI8Ref(noTypes, { token: [1], position: [0] }, { word: c.word, position: c.position, bits: 16 }),
      ),
    ).toEqual([3, 4]);
  });
  it('uses a zero row for an out-of-range id of one table, the others still count', () => {
    const ids = { token: [2], position: [2 ** 32 - 1], tokenType: [1] };
    expect(Array.from(embeddingI8Ref(tables, ids, c))).toEqual([3, -3]);
  });
  it('plans the common scale from the worst case or a calibrated range', () => {
    const plan = planEmbedding({ wordScale: 0.03, positionScale: 0.01, tokenTypeScale: 0.002, bits: 22 });
    expect(plan.scale).toBeCloseTo((128 * 0.042) / (2 ** 21 - 1), 15);
    expect(Math.abs(dyadicValue(plan.word) / (0.03 / plan.scale) - 1)).toBeLessThan(2 ** -30);
    expect(Math.abs(dyadicValue(plan.tokenType!) / (0.002 / plan.scale) - 1)).toBeLessThan(2 ** -30);
    // Worst case: all three terms together within 2^21 - 1 (+1 for rounding), so nothing saturates.
    expect(
      embeddingTermBound(plan.word) + embeddingTermBound(plan.position) + embeddingTermBound(plan.tokenType!),
    ).toBeLessThanOrEqual(2 ** 21 + 1);
    expect(() =>
      embeddingI8Program({ tokenTypes: true }, { tokens: 1, hidden: 4, vocab: 1, positions: 1, types: 1 }, plan),
    ).not.toThrow();
    const distil = planEmbedding({ wordScale: 0.03, positionScale: 0.01, bits: 16, range: 3 });
    expect(distil.tokenType).toBeUndefined();
    expect(distil.scale).toBeCloseTo(3 / 32767, 15);
    expect(() => planEmbedding({ wordScale: 0.03, positionScale: 0.01, bits: 31 })).toThrow(/2\^29/);
  });
});

describe('int8 embedding refuses what could overflow or read out of bounds', () => {
  const shape = { tokens: 3, hidden: 5, vocab: 10, positions: 4, types: 2 };
  const c = { word: { m: 1, e: 0 }, position: { m: 1, e: 0 }, tokenType: { m: 1, e: 0 }, bits: 22 };
  it('accepts multipliers up to round(128 m / 2^e) = 2^29, refuses beyond', () => {
    expect(() => embeddingI8Program({ tokenTypes: true }, shape, { ...c, word: { m: 2 ** 22, e: 0 } })).not.toThrow();
    expect(() => embeddingI8Program({ tokenTypes: true }, shape, { ...c, word: { m: 2 ** 22 + 1, e: 0 } })).toThrow(
      /word table .* can reach 536871040/,
    );
    expect(() =>
      embeddingI8Program({ tokenTypes: true }, shape, { ...c, position: { m: 2 ** 31 - 1, e: 9 } }),
    ).not.toThrow();
    expect(() =>
      embeddingI8Program({ tokenTypes: true }, shape, { ...c, tokenType: { m: 2 ** 31 - 1, e: 8 } }),
    ).toThrow(/tokenType table/);
  });
  it('requires token-type multiplier and row count exactly when the model has token types', () => {
    expect(() => embeddingI8Program({ tokenTypes: false }, { ...shape, types: undefined }, c)).toThrow(
      /no token-type table/,
    );
    expect(() => embeddingI8Program({ tokenTypes: true }, shape, { ...c, tokenType: undefined })).toThrow(
      /token-type multiplier is required/,
    );
    expect(() => embeddingI8Program({ tokenTypes: true }, { ...shape, types: undefined }, c)).toThrow(
      /types\): rows = NaN/,
    );
    expect(() => embeddingI8Program({ tokenTypes: false }, shape, { ...c, tokenType: undefined })).toThrow(
      /shape.types given/,
    );
    expect(() =>
      embeddingI8Program({ tokenTypes: false }, { ...shape, types: undefined }, { ...c, tokenType: undefined }),
    ).not.toThrow();
  });
  it('rejects output widths outside [2, 31]', () => {
    expect(() => embeddingI8Program({ tokenTypes: true }, shape, { ...c, bits: 32 })).toThrow(/32 bits/);
  });
});
