import { describe, expect, it } from 'vitest';
import { addF32Bindings, addF32RunData } from '../src/kernels/add-f32.js';
import { addF32Ref } from '../src/reference/add-f32.js';
import { suite } from './cases/add-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('f32 add: reference and host checks', () => {
  it('rounds each sum once to f32', () => {
    // 1 + 2^-24 is a tie between 1 and 1 + 2^-23: rounds to even (1); 1 + 3 * 2^-25 rounds up.
    const y = addF32Ref(Float32Array.of(1, 1, 3e38), Float32Array.of(2 ** -24, 3 * 2 ** -25, 3e38));
    expect(Array.from(y)).toEqual([1, 1 + 2 ** -23, Infinity]);
  });
  it('refuses operands of different lengths, bad counts and short buffers', () => {
    expect(() => addF32Ref(new Float32Array(2), new Float32Array(3))).toThrow(/2 and 3 values/);
    expect(() => addF32RunData(0)).toThrow(/count = 0/);
    const buffer = (size: number) => ({ size }) as GPUBuffer;
    expect(() => addF32Bindings(10, { a: buffer(40), b: buffer(36), y: buffer(40) })).toThrow(
      /add-f32: buffer b has 36 bytes, the shape needs 40/,
    );
  });
});
