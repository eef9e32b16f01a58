import { describe, expect, it } from 'vitest';
import { checkAccumulatorBound, gemmI8Program } from '../src/kernels/gemm-i8.js';
import { suite } from './cases/gemm-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('INT8 GEMM refuses what it cannot compute exactly', () => {
  const options = { strategy: 'dot4', output: 'i32', perChannel: false, bias: false, aUnsigned: false } as const;
  it('accepts the largest K whose int32 accumulator cannot overflow', () => {
    expect(() => checkAccumulatorBound(131071, 0, false)).not.toThrow();
    expect(() => gemmI8Program(options, { M: 1, N: 1, K: 131071 })).not.toThrow();
  });
  it('rejects a K that could overflow, naming the limit', () => {
    expect(() => gemmI8Program(options, { M: 1, N: 1, K: 131072 })).toThrow(
      /overflow the int32 accumulator \(max K is 131071\)/,
    );
    expect(() => checkAccumulatorBound(131071, 16384, false)).toThrow(/max K is 131070/);
    expect(() => checkAccumulatorBound(65793, 0, true)).not.toThrow();
    expect(() => checkAccumulatorBound(65794, 0, true)).toThrow(/max K is 65793/);
  });
  it('rejects empty or fractional shapes', () => {
    expect(() => gemmI8Program(options, { M: 0, N: 1, K: 1 })).toThrow(/M = 0/);
    expect(() => gemmI8Program(options, { M: 1, N: 1.5, K: 1 })).toThrow(/N = 1.5/);
  });
  it('rejects tiles that do not divide into threads', () => {
    expect(() =>
      gemmI8Program({ ...options, tile: { m: 64, n: 64, k4: 8, threadM: 3, threadN: 4 } }, { M: 1, N: 1, K: 1 }),
    ).toThrow(/not divisible/);
    expect(() =>
      gemmI8Program({ ...options, tile: { m: 64, n: 64, k4: 8, threadM: 4, threadN: 2 } }, { M: 1, N: 1, K: 1 }),
    ).toThrow(/multiple of 4/);
  });
});
