import { describe, expect, it } from 'vitest';
import { softmaxF32Ref } from '../src/reference/softmax-f32.js';
import { suite } from './cases/softmax-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('f32 masked softmax reference', () => {
  it('matches the additive mask of transformers on rows with a real key', () => {
    const scores = [1, 2, 50, -3];
    const mask = [1, 1, 0, 1];
    const got = softmaxF32Ref({ scores, mask, batch: 1, heads: 1, queries: 1, seq: 4 });
    // transformers: scores + finfo(float32).min at masked keys, then softmax.
    const added = scores.map((s, i) => s + (mask[i] ? 0 : -3.4028234663852886e38));
    const max = Math.max(...added);
    const e = added.map((s) => Math.exp(s - max));
    const sum = e.reduce((a, b) => a + b);
    expect(Array.from(got)).toEqual(e.map((v) => v / sum));
    expect(got[2]).toBe(0);
  });
  it('causal: query i sees keys up to its own position, the queries being the last keys', () => {
    // Equal scores: each row is uniform over the keys it may see.
    const whole = softmaxF32Ref({
      scores: new Array(9).fill(0),
      mask: [1, 1, 1],
      batch: 1,
      heads: 1,
      queries: 3,
      seq: 3,
      causal: true,
    });
    expect(Array.from(whole)).toEqual([1, 0, 0, 0.5, 0.5, 0, 1 / 3, 1 / 3, 1 / 3]);
    // Two new queries after two cached keys; the padding mask still applies (key 1 is padding).
    const cached = softmaxF32Ref({
      scores: new Array(8).fill(0),
      mask: [1, 0, 1, 1],
      batch: 1,
      heads: 1,
      queries: 2,
      seq: 4,
      causal: true,
    });
    expect(Array.from(cached)).toEqual([0.5, 0, 0.5, 0, 1 / 3, 0, 1 / 3, 1 / 3]);
  });
  it('gives zeros for a row without real keys', () => {
    expect(Array.from(softmaxF32Ref({ scores: [1, 2], mask: [0, 0], batch: 1, heads: 1, queries: 1, seq: 2 }))).toEqual(
      [0, 0],
    );
  });
});
