import { describe, expect, it } from 'vitest';
import { transposeHeadsI8Program } from '../src/kernels/transpose-heads-i8.js';
import { activationTable } from '../src/plan/plan-graph.js';
import { suite } from './cases/small-int8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('activation tables', () => {
  it('round tanh and ReLU to the nearest output step', () => {
    const tanh = activationTable('tanh', 0.02, 1 / 127);
    expect(tanh[128]).toBe(0);
    expect(tanh[128 + 50]).toBe(Math.round(Math.tanh(1) * 127));
    expect(tanh[0]).toBe(-Math.round(Math.tanh(2.56) * 127));
    const relu = activationTable('relu', 0.1, 0.1);
    expect(relu[0]).toBe(0);
    expect(relu[255]).toBe(127);
  });
  it('transpose refuses heads beyond the row', () => {
    expect(() =>
      transposeHeadsI8Program({ batch: 1, seq: 2, heads: 2, headDim: 8, rowWords: 4, colOffset: 4 }),
    ).toThrow(/beyond the row/);
  });
});
