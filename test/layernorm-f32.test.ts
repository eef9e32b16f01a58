import { describe, expect, it } from 'vitest';
import { layerNormF32Ref } from '../src/reference/layernorm-f32.js';
import { suite } from './cases/layernorm-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('f32 LayerNorm reference', () => {
  it('normalizes a hand-computed row (biased variance, as torch)', () => {
    // v = [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
    const y = layerNormF32Ref({ x: [1, 2, 3, 4], gamma: [1, 1, 2, 1], beta: [0, 0, 0, 1], rows: 1, H: 4, eps: 0 });
    const s = 1 / Math.sqrt(1.25);
    expect(Array.from(y)).toEqual([-1.5 * s, -0.5 * s, 2 * 0.5 * s, 1.5 * s + 1]);
  });
});
