import { describe, expect, it } from 'vitest';
import { packRows, padRowsF32, unpackRows, wordsPerRow } from '../src/quant/pack.js';

describe('int8 packing along rows', () => {
  it('puts element 4w + j in lane j (bits 8j..8j+7) and pads rows with zero lanes', () => {
    const v = Int8Array.from([1, -1, 127, -128, 5, 6, 7, 8, 9, 10]);
    const w = packRows(v, 2, 5);
    expect(wordsPerRow(5)).toBe(2);
    expect(Array.from(w)).toEqual([0x807fff01, 0x05, 0x09080706, 0x0a]);
  });
  it('round-trips signed and unsigned values for any column count', () => {
    for (const cols of [1, 2, 3, 4, 5, 13]) {
      const s = Int8Array.from({ length: 3 * cols }, (_, i) => ((i * 37) % 256) - 128);
      expect(Array.from(unpackRows(packRows(s, 3, cols), 3, cols))).toEqual(Array.from(s));
      const u = Uint8Array.from({ length: 3 * cols }, (_, i) => (i * 53) % 256);
      expect(Array.from(unpackRows(packRows(u, 3, cols), 3, cols, false))).toEqual(Array.from(u));
    }
  });
  it('rejects a size that does not match the shape', () => {
    expect(() => packRows(new Int8Array(5), 2, 3)).toThrow(/5 values for a 2x3/);
  });
  it('pads f32 rows to vec4', () => {
    expect(Array.from(padRowsF32(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, 3))).toEqual([1, 2, 3, 0, 4, 5, 6, 0]);
  });
});
