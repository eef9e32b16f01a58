import { describe, expect, it } from 'vitest';
import { meanPoolF32Ref } from '../src/reference/mean-pool-f32.js';

// The GPU check of mean pooling is in the embedding suite (test/cases/embedding-f32.ts).
describe('mean pooling reference', () => {
  it('averages real tokens only', () => {
    // batch 1, seq 3, H 2: tokens [1, 2], [3, 4], [100, 100] (padding).
    expect(Array.from(meanPoolF32Ref([1, 2, 3, 4, 100, 100], [1, 1, 0], 1, 3, 2))).toEqual([2, 3]);
  });
});
