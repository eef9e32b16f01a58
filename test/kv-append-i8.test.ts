import { describe, expect, it } from 'vitest';
import { kvContextShape, kvScoresShape, resolveGemmShape } from '../src/kernels/gemm-shape.js';
import { kvAppendProgram, kvAttentionShapes, kvCacheWords } from '../src/kernels/kv-append-i8.js';
import { kvAppendRef } from '../src/reference/kv-append-i8.js';
import { suite } from './cases/kv-append-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('KV cache append reference', () => {
  it('writes K rows and V^T columns at past .. past + queries - 1 and nothing else', () => {
    // batch 1, heads 2, headDim 2, 2 new tokens after 1 cached position, capacity 4.
    // q|k|v row of token i: q (4 values), k (4), v (4); k of head h = columns 4 + 2h .. 4 + 2h + 1.
    const qkv = Int8Array.from([
      0,
      0,
      0,
      0,
      10,
      11,
      12,
      13,
      20,
      21,
      22,
      23, // token 0
      0,
      0,
      0,
      0,
      30,
      31,
      32,
      33,
      40,
      41,
      42,
      43, // token 1
    ]);
    const k0 = new Int8Array(16).fill(-1);
    const v0 = new Int8Array(16).fill(-2);
    const { k, v } = kvAppendRef(qkv, k0, v0, { batch: 1, heads: 2, headDim: 2, queries: 2, past: 1, capacity: 4 });
    // K [head][position][d]
    expect(Array.from(k)).toEqual([-1, -1, 10, 11, 30, 31, -1, -1, /* head 1 */ -1, -1, 12, 13, 32, 33, -1, -1]);
    // V^T [head][d][position]
    expect(Array.from(v)).toEqual([-2, 20, 40, -2, -2, 21, 41, -2, /* head 1 */ -2, 22, 42, -2, -2, 23, 43, -2]);
    expect(Array.from(k0)).toEqual(new Array(16).fill(-1));
  });
  it('refuses positions beyond the capacity and heads outside the rows', () => {
    const s = { batch: 1, heads: 2, headDim: 4, queries: 2, past: 3, capacity: 4 };
    expect(() => kvAppendRef(new Int8Array(48), new Int8Array(32), new Int8Array(32), s)).toThrow(
      /3 cached \+ 2 new positions exceed the capacity 4/,
    );
    expect(() =>
      kvAppendRef(new Int8Array(48), new Int8Array(32), new Int8Array(32), { ...s, past: 0, vCol: 20 }),
    ).toThrow(/vCol = 20 puts 8 columns outside the 24-column/);
    expect(() => kvAppendRef(new Int8Array(47), new Int8Array(32), new Int8Array(32), { ...s, past: 0 })).toThrow(
      /47 q\|k\|v values/,
    );
    expect(() => kvAppendProgram({ ...s, headDim: 6 })).toThrow(/headDim = 6 must be a multiple of 4/);
    expect(() => kvAppendProgram(s)).toThrow(/exceed the KV cache capacity 4/);
    expect(() => kvAppendProgram({ ...s, past: 0, kSrc: 5 })).toThrow(/K's 2 words at word 5 do not fit the 6-word/);
    expect(() =>
      kvAppendProgram({ batch: 64, heads: 64, headDim: 256, queries: 1, past: 0, capacity: 2 ** 14 }),
    ).toThrow(/K cache index reaches \d+ and overflows u32/);
  });
  it('launches one thread per K word and per touched V^T word', () => {
    // 2 x 3 heads, headDim 8, 1 query at past 13: K 2*3*1*2 = 12 threads; V^T 2*3*8 rows x 1 word = 48.
    const p = kvAppendProgram({ batch: 2, heads: 3, headDim: 8, queries: 1, past: 13, capacity: 32 });
    expect(p.workgroups).toEqual([1, 1, 1]);
    expect(Array.from(p.params!.subarray(12, 15))).toEqual([12, 48, 1]);
    // 9 positions from 5: words 1..3 of each V^T row.
    expect(kvAppendProgram({ batch: 1, heads: 1, headDim: 4, queries: 9, past: 5, capacity: 16 }).params![14]).toBe(3);
    expect(kvCacheWords({ batch: 2, heads: 3, headDim: 8, capacity: 30 })).toEqual({
      k: 2 * 3 * 30 * 2,
      v: 2 * 3 * 8 * 8,
    });
  });
});

describe('GEMM shapes of attention against the KV cache', () => {
  const layout = {
    batch: 2,
    heads: 12,
    headDim: 64,
    queries: 1,
    past: 699,
    capacity: 1024,
    kCacheOffset: 1000,
    vCacheOffset: 2000,
  };
  it('Q.K^T: keys = past + queries columns, K rows capacity apart per head, scores rows capacity apart', () => {
    const s = resolveGemmShape(kvScoresShape(layout), false);
    expect(s).toMatchObject({
      M: 1,
      N: 700,
      K: 64,
      batchOuter: 2,
      batchInner: 12,
      aRow: 576,
      aInner: 16,
      aOuter: 576,
      aOffset: 0,
    });
    expect(s).toMatchObject({
      bRow: 16,
      bInner: 1024 * 16,
      bOuter: 12 * 1024 * 16,
      bOffset: 1000,
      cRow: 1024,
      cInner: 1024,
      cOuter: 12 * 1024,
    });
  });
  it('P.V: K = keys over V^T rows of ceil(capacity / 4) words, context into each head of [tokens, H]', () => {
    const s = resolveGemmShape(kvContextShape(layout), true);
    expect(s).toMatchObject({
      M: 1,
      N: 64,
      K: 700,
      aRow: 256,
      aInner: 256,
      aOuter: 12 * 256,
      bRow: 256,
      bInner: 64 * 256,
      bOuter: 12 * 64 * 256,
      bOffset: 2000,
    });
    expect(s).toMatchObject({ cRow: 192, cInner: 16, cOuter: 192, cOffset: 0 });
  });
  it('softmax: causal over keys with the past, strided by the capacity', () => {
    expect(kvAttentionShapes(layout, 1024).softmax).toEqual({
      batch: 2,
      heads: 12,
      seq: 700,
      queries: 1,
      past: 699,
      causal: true,
      scoreRow: 1024,
      maskRow: 1024,
      outRow: 256,
    });
  });
  it('refuses strides shorter than the keys', () => {
    expect(() => kvScoresShape({ ...layout, scoreRow: 600 })).toThrow(/scoreRow = 600 is shorter than the 700 keys/);
    expect(() => kvContextShape({ ...layout, probRow: 100 })).toThrow(/probRow = 100 words cannot hold 700 keys/);
    expect(() => kvContextShape({ ...layout, contextRow: 100 })).toThrow(
      /contextRow = 100 words cannot hold 12 heads of 64/,
    );
  });
});
