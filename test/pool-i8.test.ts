import { describe, expect, it } from 'vitest';
import { poolI8BufferBytes, poolI8Program, poolI8ProgramInfo, poolI8RunData } from '../src/kernels/pool-i8.js';
import { meanPoolF32Ref } from '../src/reference/mean-pool-f32.js';
import { POOL_I8_MAX_SEQ, poolI8Ref, poolToFloat } from '../src/reference/pool-i8.js';
import { Random } from '../src/util/random.js';
import { suite } from './cases/pool-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('integer pooling reference', () => {
  // batch 2, seq 3, hidden 2; sequence 1 has one padding token at the end.
  const x = Int8Array.from([1, -2, 3, 4, 100, -128, /* b1 */ -7, 5, 127, 127, 9, 9]);
  const mask = [1, 1, 1, 1, 1, 0];
  const shape = { batch: 2, seq: 3, hidden: 2 };

  it('mean: sums the real tokens per channel and counts them', () => {
    // b0: 1 + 3 + 100 = 104, -2 + 4 - 128 = -126, 3 tokens; b1: -7 + 127 = 120, 5 + 127 = 132, 2 tokens.
    expect(Array.from(poolI8Ref(x, mask, shape, 'mean'))).toEqual([104, -126, 3, 120, 132, 2]);
  });
  it('cls: copies token 0 of each sequence and says whether it is real', () => {
    expect(Array.from(poolI8Ref(x, mask, shape, 'cls'))).toEqual([1, -2, 1, -7, 5, 1]);
    expect(Array.from(poolI8Ref(x, [0, 1, 1, 1, 1, 1], shape, 'cls'))).toEqual([1, -2, 0, -7, 5, 1]);
  });
  it('reaches the proven bound exactly: -128 * seq with every token real', () => {
    const seq = 1000;
    const out = poolI8Ref(
      new Int8Array(seq * 3).fill(-128),
      new Uint32Array(seq).fill(1),
      { batch: 1, seq, hidden: 3 },
      'mean',
    );
    expect(Array.from(out)).toEqual([-128000, -128000, -128000, 1000]);
  });
  it('refuses sequences whose sum could leave int32, bad modes and mismatched lengths', () => {
    expect(() => poolI8Ref(new Int8Array(0), [], { batch: 1, seq: POOL_I8_MAX_SEQ + 1, hidden: 1 }, 'mean')).toThrow(
      /seq = 16777217 exceeds 2\^24/,
    );
    expect(() => poolI8Ref(x, mask, shape, 'max' as 'mean')).toThrow(/mode max/);
    expect(() => poolI8Ref(x, [1, 1], shape, 'mean')).toThrow(/mask has 2 entries, want batch \* seq = 6/);
    expect(() => poolI8Ref(x.subarray(1), mask, shape, 'mean')).toThrow(/11 values/);
  });
});

describe('poolToFloat: the float finishing step', () => {
  it('divides once: mean = sum * scale / count, cls = v * scale', () => {
    const ints = [104, -126, 3, 120, 132, 2];
    const [a, b] = poolToFloat(ints, 2, 2, 0.5, { mode: 'mean' });
    expect(Array.from(a)).toEqual([Math.fround(52 / 3), -21]);
    expect(Array.from(b)).toEqual([30, 33]);
    const [c] = poolToFloat([3, -4, 1], 1, 2, 0.25, { mode: 'cls' });
    expect(Array.from(c)).toEqual([0.75, -1]);
  });
  it('mean equals float mean pooling of the dequantized rows to 1e-6 relative', () => {
    const rng = new Random(71);
    const batch = 4;
    const seq = 37;
    const hidden = 50;
    const scale = 0.0317;
    const x = rng.int8Array(batch * seq * hidden);
    const mask = Uint32Array.from({ length: batch * seq }, (_, t) => (t % seq < seq - 5 * ((t / seq) | 0) ? 1 : 0));
    const got = poolToFloat(poolI8Ref(x, mask, { batch, seq, hidden }, 'mean'), batch, hidden, scale, { mode: 'mean' });
    const want = meanPoolF32Ref(
      Float64Array.from(x, (v) => v * scale),
      mask,
      batch,
      seq,
      hidden,
    );
    let worst = 0;
    for (let b = 0; b < batch; b++) {
      for (let c = 0; c < hidden; c++) {
        const w = want[b * hidden + c];
        worst = Math.max(worst, Math.abs(got[b][c] - w) / Math.max(Math.abs(w), 1e-30));
      }
    }
    expect(worst).toBeLessThan(1e-6);
  });
  it('normalize gives unit L2 norm and keeps direction; a zero vector stays zero', () => {
    const [v, z] = poolToFloat([3, 4, 1, 0, 0, 2], 2, 2, 0.1, { mode: 'mean', normalize: true });
    expect(v[0]).toBeCloseTo(0.6, 7);
    expect(v[1]).toBeCloseTo(0.8, 7);
    expect(Array.from(z)).toEqual([0, 0]);
    const rng = new Random(72);
    const hidden = 384;
    const ints = Int32Array.from({ length: hidden + 1 }, (_, i) => (i === hidden ? 7 : rng.int(-128 * 7, 127 * 7)));
    const [u] = poolToFloat(ints, 1, hidden, 0.02, { mode: 'mean', normalize: true });
    expect(Math.abs(Math.hypot(...u) - 1)).toBeLessThan(1e-6);
    const [plain] = poolToFloat(ints, 1, hidden, 0.02, { mode: 'mean' });
    const norm = Math.hypot(...plain);
    for (let c = 0; c < hidden; c++) expect(Math.abs(u[c] - plain[c] / norm)).toBeLessThan(1e-6);
  });
  it('refuses a sequence that pooled nothing, a bad scale and a wrong length', () => {
    expect(() => poolToFloat([1, 2, 0], 1, 2, 1, { mode: 'mean' })).toThrow(/sequence 0 has no real token/);
    expect(() => poolToFloat([1, 2, 1, 1, 2, 0], 2, 2, 1, { mode: 'cls' })).toThrow(
      /sequence 1 starts with a padding token/,
    );
    expect(() => poolToFloat([1, 2, 1], 1, 2, 0, { mode: 'mean' })).toThrow(/scale 0/);
    expect(() => poolToFloat([1, 2, 1], 1, 2, NaN, { mode: 'mean' })).toThrow(/scale NaN/);
    expect(() => poolToFloat([1, 2], 1, 2, 1, { mode: 'mean' })).toThrow(/2 values, want batch \* \(hidden \+ 1\) = 3/);
  });
});

describe('pool-i8 host wrapper', () => {
  it('keys the pipeline by mode alone: shapes travel in the uniform', () => {
    const mean = poolI8Program({ mode: 'mean' });
    const cls = poolI8Program({ mode: 'cls' });
    expect(mean.key).not.toBe(cls.key);
    expect(mean.workgroupStorageBytes).toBe(0);
    for (const shape of [
      { batch: 1, seq: 1, hidden: 4 },
      { batch: 5, seq: 130, hidden: 767, rowWords: 200 },
    ]) {
      const info = poolI8ProgramInfo({ mode: 'mean' }, shape);
      expect(info.key).toBe(mean.key);
      expect(info.code).toBe(mean.code);
    }
    // No size of either shape appears in the code.
    expect(mean.code).not.toMatch(/\b(767|130|200)u?\b/);
  });
  it('puts batch, seq, hidden and row words in the uniform, and covers every (sequence, word) thread', () => {
    const run = poolI8RunData({ mode: 'cls' }, { batch: 3, seq: 130, hidden: 383, rowWords: 97 });
    // batch, seq, hidden, rowWords, hiddenWords, threads, pad, pad.
    expect(Array.from(run.params)).toEqual([3, 130, 383, 97, 96, 288, 0, 0]);
    expect(run.workgroups).toEqual([5, 1, 1]);
    expect(poolI8BufferBytes({ batch: 3, seq: 130, hidden: 383, rowWords: 97 })).toEqual({
      x: 3 * 130 * 97 * 4,
      mask: 3 * 130 * 4,
      output: 3 * 384 * 4,
    });
  });
  it('refuses sequences above 2^24, rows shorter than the hidden size, u32 overflow and bad modes', () => {
    expect(() => poolI8RunData({ mode: 'mean' }, { batch: 1, seq: 2 ** 24 + 1, hidden: 4 })).toThrow(/exceeds 2\^24/);
    expect(() => poolI8RunData({ mode: 'mean' }, { batch: 1, seq: 2 ** 24, hidden: 4 })).not.toThrow();
    expect(() => poolI8RunData({ mode: 'mean' }, { batch: 1, seq: 4, hidden: 13, rowWords: 3 })).toThrow(
      /rowWords = 3 must be an integer >= ceil\(hidden \/ 4\) = 4/,
    );
    expect(() => poolI8RunData({ mode: 'mean' }, { batch: 300, seq: 2 ** 20, hidden: 64 })).toThrow(
      /exceed u32 indexing/,
    );
    expect(() => poolI8RunData({ mode: 'mean' }, { batch: 0, seq: 4, hidden: 4 })).toThrow(/batch = 0/);
    expect(() => poolI8RunData({ mode: 'mean' }, { batch: 1, seq: 4, hidden: 2.5 })).toThrow(/hidden = 2.5/);
    expect(() => poolI8Program({ mode: 'sum' as 'mean' })).toThrow(/mode sum is not 'mean' or 'cls'/);
  });
});
