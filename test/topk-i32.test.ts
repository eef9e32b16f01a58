import { describe, expect, it } from 'vitest';
import {
  logitAccumulatorBound,
  packTopK,
  planLogitRescale,
  topKProgram,
  topKRef,
  topKVariant,
} from '../src/kernels/topk-i32.js';
import { dyadicValue } from '../src/reference/dyadic.js';
import { rescaleLogit } from '../src/reference/topk-i32.js';
import { suite } from './cases/topk-i32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('top-k reference', () => {
  it('orders by value descending, ties by lowest id, argmax the first', () => {
    const r = topKRef({ logits: Int32Array.from([5, 9, -1, 9, 5, 7, 9, -1, 0, 3]), batch: 2, vocab: 5, k: 3 });
    // Row 0: [5, 9, -1, 9, 5] -> 9 (1), 9 (3), 5 (0). Row 1: [7, 9, -1, 0, 3] -> 9 (1), 7 (0), 3 (4).
    expect(Array.from(r.argmax)).toEqual([1, 1]);
    expect(Array.from(r.ids)).toEqual([1, 3, 0, 1, 0, 4]);
    expect(Array.from(r.values)).toEqual([9, 9, 5, 9, 7, 3]);
    expect(Array.from(packTopK(r, 2, 3))).toEqual([1, 1, 3, 0, 9, 9, 5, 1, 1, 0, 4, 9, 7, 3]);
    // Negative values travel as their u32 bit patterns; all-equal rows give ids 0..k-1.
    const eq = topKRef({ logits: new Int32Array(4).fill(-(2 ** 31)), batch: 1, vocab: 4, k: 2 });
    expect(Array.from(packTopK(eq, 1, 2))).toEqual([0, 0, 1, 2 ** 31, 2 ** 31]);
  });
  it('rescales per channel before comparing', () => {
    // Channel 1 at half the scale of channel 0: 10 at s and 15 at s/2 -> 10 vs 7.5 -> 8 (ties away from 0).
    const r = topKRef({
      logits: Int32Array.from([10, 15]),
      batch: 1,
      vocab: 2,
      k: 2,
      requant: [
        { m: 1, e: 0 },
        { m: 1, e: 1 },
      ],
    });
    expect(Array.from(r.ids)).toEqual([0, 1]);
    expect(Array.from(r.values)).toEqual([10, 8]);
  });
  it('refuses what it cannot answer', () => {
    expect(() => topKRef({ logits: new Int32Array(10), batch: 1, vocab: 10, k: 65 })).toThrow(
      /k = 65 exceeds the supported maximum of 64/,
    );
    expect(() => topKRef({ logits: new Int32Array(10), batch: 1, vocab: 10, k: 11 })).toThrow(
      /k = 11 exceeds the vocabulary of 10/,
    );
    expect(() => topKRef({ logits: new Int32Array(10), batch: 1, vocab: 10, k: 0 })).toThrow(/k = 0/);
    expect(() => topKRef({ logits: new Int32Array(10), batch: 1, vocab: 10, k: 1, logitRow: 9 })).toThrow(
      /logitRow = 9 is shorter/,
    );
    expect(() => topKRef({ logits: new Int32Array(10), batch: 1, vocab: 10, k: 1, requant: [] })).toThrow(
      /0 rescales for a vocabulary of 10/,
    );
    expect(() =>
      topKProgram({ rescale: false }, { batch: 1, vocab: 100, k: 9 }, { workgroupSize: 64, kCap: 8 }),
    ).toThrow(/k = 9 exceeds the variant's list capacity 8/);
    expect(() =>
      topKProgram({ rescale: false }, { batch: 1, vocab: 100, k: 9 }, { workgroupSize: 48, kCap: 16 }),
    ).toThrow(/power of two/);
  });
  it('reads back batch (1 + 2k) words on one workgroup per row, k rounded up to a power of two', () => {
    expect(topKVariant({ k: 1 })).toEqual({ workgroupSize: 256, kCap: 1 });
    expect(topKVariant({ k: 40 }, true)).toEqual({ workgroupSize: 64, kCap: 64 });
    const p = topKProgram({ rescale: true }, { batch: 8, vocab: 50257, k: 50 });
    expect(p.workgroups).toEqual([8, 1, 1]);
    expect(Array.from(p.params!)).toEqual([8, 50257, 50, 50257, 0, 101, 0, 0]);
  });
});

describe('per-channel logit rescale onto one common scale (tied LM head)', () => {
  const accMaxAbs = logitAccumulatorBound(768);
  it('bounds the LM head accumulator: K 2^14 + |bias|', () => {
    expect(accMaxAbs).toBe(768 * 16384);
    expect(() => logitAccumulatorBound(131072)).toThrow(/overflow the int32 accumulator/);
  });
  it('takes the finest channel scale when the proof allows, and every rescaled logit provably fits int32', () => {
    const weightScales = [0.001, 0.004, 0.002, 0.0005];
    const plan = planLogitRescale({ inputScale: 0.05, weightScales, accMaxAbs });
    expect(plan.scale).toBeCloseTo(0.05 * 0.0005, 15);
    plan.requant.forEach((d, c) =>
      expect(Math.abs(dyadicValue(d) - weightScales[c] / 0.0005) / (weightScales[c] / 0.0005)).toBeLessThan(2 ** -30),
    );
    // The largest multiplier is 8: 8 * 768 * 2^14 = 100663296.
    expect(plan.maxAbs).toBe(8 * accMaxAbs);
    for (const [c, d] of plan.requant.entries())
      expect(Math.abs(rescaleLogit(c % 2 ? accMaxAbs : -accMaxAbs, d))).toBeLessThanOrEqual(plan.maxAbs);
  });
  it('coarsens the common scale just enough when the spread of channel scales would overflow int32', () => {
    // Ratio 1000 between channels: 1000 * 768 * 2^14 > 2^31, so S must rise above the finest scale.
    const plan = planLogitRescale({ inputScale: 1, weightScales: [1e-6, 1e-3], accMaxAbs });
    expect(plan.scale).toBeGreaterThan(1e-6);
    expect(plan.maxAbs).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(plan.maxAbs).toBeGreaterThan(0.999 * (2 ** 31 - 1));
    expect(rescaleLogit(accMaxAbs, plan.requant[1])).toBe(plan.maxAbs);
  });
  it('refuses a forced scale that could overflow, naming the channel', () => {
    expect(() => planLogitRescale({ inputScale: 1, weightScales: [1e-6, 1e-3], accMaxAbs, scale: 1e-6 })).toThrow(
      /could overflow int32 \(channel 1: .* > 2\^31 - 1\)/,
    );
    expect(() => planLogitRescale({ inputScale: 1, weightScales: [1e-3, 0], accMaxAbs })).toThrow(
      /weight scale of channel 1 = 0/,
    );
    expect(() => planLogitRescale({ inputScale: 1, weightScales: [1e-3], accMaxAbs: 0 })).toThrow(
      /accumulator bound 0/,
    );
  });
});
