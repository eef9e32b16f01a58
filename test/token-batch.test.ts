/** The checks every encoder runs on a TokenBatch before uploading it (src/core/token-batch.ts). */
import { describe, expect, it } from 'vitest';
import { checkEmbeddingIds, checkTokenBatch } from '../src/core/token-batch.js';
import type { TokenBatch } from '../src/core/types.js';

/** Two sequences of three tokens, the second padded after two. */
function batch(): TokenBatch {
  return {
    batch: 2,
    seqLen: 3,
    inputIds: Int32Array.from([101, 7, 102, 101, 102, 0]),
    attentionMask: Int32Array.from([1, 1, 1, 1, 1, 0]),
    tokenTypeIds: new Int32Array(6),
    positionIds: Int32Array.from([0, 1, 2, 0, 1, 2]),
  };
}

describe('checkTokenBatch', () => {
  it('accepts a well-formed batch', () => {
    expect(() => checkTokenBatch(batch())).not.toThrow();
  });
  it('refuses arrays shorter or longer than batch x seqLen, naming the array', () => {
    // A short array would leave the previous batch's ids in the GPU buffer.
    expect(() => checkTokenBatch({ ...batch(), inputIds: new Int32Array(5) })).toThrow(
      /inputIds has 5 values, expected batch 2 x seqLen 3 = 6/,
    );
    expect(() => checkTokenBatch({ ...batch(), positionIds: new Int32Array(7) })).toThrow(/positionIds has 7 values/);
    expect(() => checkTokenBatch({ ...batch(), tokenTypeIds: new Int32Array(0) })).toThrow(/tokenTypeIds has 0 values/);
    expect(() => checkTokenBatch({ ...batch(), attentionMask: new Int32Array(3) })).toThrow(
      /attentionMask has 3 values/,
    );
    expect(() => checkTokenBatch({ ...batch(), tokenTypeIds: undefined as unknown as Int32Array })).toThrow(
      /tokenTypeIds is missing/,
    );
  });
  it('refuses a mask value other than 0 or 1, naming its position', () => {
    const b = batch();
    b.attentionMask[4] = 2;
    expect(() => checkTokenBatch(b)).toThrow(/attentionMask\[4\] = 2 must be 0 or 1 \(sequence 1, position 1\)/);
    b.attentionMask[4] = -1;
    expect(() => checkTokenBatch(b)).toThrow(/attentionMask\[4\] = -1/);
  });
  it('refuses ids that are not integers (plain arrays passed as a TokenBatch)', () => {
    const ids = [101, 7, 102, 101, 102.5, 0] as unknown as Int32Array;
    expect(() => checkTokenBatch({ ...batch(), inputIds: ids })).toThrow(
      /inputIds\[4\] = 102.5 is not an integer \(sequence 1, position 1\)/,
    );
    const positions = [0, 1, 2, 0, Number.NaN, 2] as unknown as Int32Array;
    expect(() => checkTokenBatch({ ...batch(), positionIds: positions })).toThrow(
      /positionIds\[4\] = NaN is not an integer/,
    );
  });
  it('refuses a shape that is not two positive integers', () => {
    expect(() => checkTokenBatch({ ...batch(), batch: 0 })).toThrow(/batch 0 x seqLen 3 must be positive integers/);
    expect(() => checkTokenBatch({ ...batch(), seqLen: 1.5 })).toThrow(/seqLen 1.5/);
  });
});

describe('checkEmbeddingIds', () => {
  it('refuses ids outside their table before upload, naming the id and its index', () => {
    expect(() => checkEmbeddingIds([0, 9, 3], 10)).not.toThrow();
    expect(() => checkEmbeddingIds([0, 10, 3], 10)).toThrow(/token id 10 at index 1 is outside the table's 10 rows/);
    expect(() => checkEmbeddingIds([-1], 10, 'position')).toThrow(/position id -1 at index 0/);
    expect(() => checkEmbeddingIds([1.5], 10)).toThrow(/id 1.5/);
  });
});
