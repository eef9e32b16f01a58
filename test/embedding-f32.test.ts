import { describe, expect, it } from 'vitest';
import { checkEmbeddingIds } from '../src/kernels/embedding-f32.js';
import { suite } from './cases/embedding-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('embedding ids', () => {
  it('refuses an id outside its table', () => {
    expect(() => checkEmbeddingIds('inputIds', [0, 5], 5, 2)).toThrow(RangeError);
    expect(() => checkEmbeddingIds('inputIds', [-1], 5, 1)).toThrow(RangeError);
    expect(() => checkEmbeddingIds('inputIds', [4, 0], 5, 2)).not.toThrow();
  });
});
