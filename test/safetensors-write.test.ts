/** The safetensors writer behind `float16`: exact half rounding, and files our strict reader accepts. */
import { describe, expect, it } from 'vitest';
import { f16ToNumber, parseSafetensors } from '../src/model/safetensors.js';
import { numberToF16, writeSafetensors } from '../src/model/safetensors-write.js';
import { Random } from '../src/util/random.js';

describe('numberToF16', () => {
  it('maps every half value to its own bit pattern (normals, subnormals, zeros, infinities)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && bits & 0x3ff) continue; // NaN payloads
      expect(numberToF16(f16ToNumber(bits))).toBe(bits);
    }
    expect(Number.isNaN(f16ToNumber(numberToF16(Number.NaN)))).toBe(true);
  });
  it('rounds to the nearest half, ties to even, overflow to infinity, underflow to signed zero', () => {
    const random = new Random(7);
    const rand = () => random.next();
    for (let i = 0; i < 20000; i++) {
      const x = (rand() - 0.5) * 2 ** Math.floor(rand() * 40 - 28);
      const h = f16ToNumber(numberToF16(x));
      // No half value lies strictly closer to x than the one chosen.
      const below = f16ToNumber(numberToF16(x) - 1);
      const above = f16ToNumber(numberToF16(x) + 1);
      const f = Math.fround(x);
      for (const n of [below, above])
        if (Number.isFinite(n)) expect(Math.abs(f - h)).toBeLessThanOrEqual(Math.abs(f - n));
    }
    expect(numberToF16(1 + 2 ** -11)).toBe(0x3c00); // tie, even stays
    expect(numberToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, rounds up to even
    expect(numberToF16(65520)).toBe(0x7c00);
    expect(numberToF16(-1e-9)).toBe(0x8000);
    expect(numberToF16(2 ** -25 + 2 ** -35)).toBe(0x0001);
  });
});

describe('writeSafetensors', () => {
  it('writes files the strict reader accepts, with the values back (F32 exactly, F16 rounded)', () => {
    const a = Float32Array.from({ length: 12 }, (_, i) => i * 0.37 - 2);
    const b = Float32Array.from([1, -0.5, 1e-3]);
    const bytes = writeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [3, 4], data: a },
        { name: 'b', dtype: 'F16', shape: [3], data: b },
      ],
      { format: 'pt' },
    );
    const st = parseSafetensors(bytes, 'written');
    expect(st.names()).toEqual(['a', 'b']);
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(Array.from(st.tensor('a').data)).toEqual(Array.from(a));
    expect(Array.from(st.tensor('b').data)).toEqual(Array.from(b, (v) => f16ToNumber(numberToF16(v))));
    expect(st.info('b').dtype).toBe('F16');
  });
  it('refuses data that does not fill the shape', () => {
    expect(() => writeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array(3) }])).toThrow(
      /w: shape \[2,2\] holds 4 values, data has 3/,
    );
  });
});
