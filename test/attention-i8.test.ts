import { describe, expect, it } from 'vitest';
import { attentionI8WorkgroupBytes } from '../shaders/attention-i8.js';
import {
  ATTENTION_I8_MAX_KEYS,
  ATTENTION_I8_WORKGROUP_BYTES,
  attentionI8RunData,
  attentionI8Variant,
} from '../src/kernels/attention-i8.js';
import { attentionI8Ref } from '../src/reference/attention-i8.js';
import { toDyadic } from '../src/reference/dyadic.js';
import { deriveSoftmaxI8Constants } from '../src/reference/softmax-i8.js';
import { suite } from './cases/attention-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

const softmax = deriveSoftmaxI8Constants(2 ** -6);
const context = toDyadic(1 / 64);
const shape = { batch: 1, heads: 2, headDim: 8, queries: 4, keys: 4, qRow: 4, kRow: 4, vRow: 4, outRow: 4 };

describe('fused attention launches', () => {
  it('every key count up to 512 gets a launch within 16 KiB of workgroup memory, holding its rows', () => {
    for (const software of [false, true]) {
      for (let keys = 1; keys <= ATTENTION_I8_MAX_KEYS; keys++) {
        const l = attentionI8Variant({ keys }, 'unpack', software);
        expect(l.keys).toBeGreaterThanOrEqual(keys);
        expect(attentionI8WorkgroupBytes(l)).toBeLessThanOrEqual(ATTENTION_I8_WORKGROUP_BYTES);
        expect(l.queryBlock * l.rowThreads).toBeLessThanOrEqual(256);
      }
    }
  });

  it('refuses what it cannot run exactly, naming the problem', () => {
    const l = attentionI8Variant({ keys: 4 }, 'unpack');
    const run =
      (s: object, launch = l) =>
      () =>
        attentionI8RunData({ ...shape, ...s }, softmax, context, launch);
    expect(run({})).not.toThrow();
    expect(() => attentionI8Variant({ keys: 513 }, 'unpack')).toThrow(/keys = 513/);
    expect(run({ keys: 8, queries: 8 })).toThrow(/launch for 4 keys cannot hold rows of 8/);
    expect(run({ headDim: 6 })).toThrow(/multiple of 4/);
    expect(run({ causal: true, past: 2, queries: 4 })).toThrow(/needs 6 keys/);
    expect(run({ qOffset: 1 })).toThrow(/Q's heads end at word 5/);
    expect(run({ outRow: 3 })).toThrow(/output's heads need 4 words/);
    // Softmax constants proven for 512 keys are refused for longer rows (shift 10 allows 733).
    const big = attentionI8Variant({ keys: 512 }, 'unpack');
    expect(() =>
      attentionI8RunData({ ...shape, keys: 512, queries: 1 }, deriveSoftmaxI8Constants(2 ** -6, 16), context, big),
    ).toThrow(/overflow u32/);
  });
});

describe('fused attention reference', () => {
  it('one key: probability 255, context = requant(255 v) per head', () => {
    // Q.K is irrelevant with one key: p = min(round(256 E / E), 255) = 255.
    const v = Int8Array.from([1, -2, 3, -4, 10, 20, -30, 40]);
    const out = attentionI8Ref({
      q: { values: new Int8Array(8).fill(5), cols: 8, channel: 0 },
      k: { values: new Int8Array(8).fill(-7), cols: 8, channel: 0 },
      v: { values: v, cols: 8, channel: 0 },
      mask: [1],
      batch: 1,
      heads: 2,
      headDim: 4,
      queries: 1,
      keys: 1,
      softmax,
      context,
    });
    // round(255 v / 64), ties away from zero, saturated.
    expect(Array.from(out)).toEqual([4, -8, 12, -16, 40, 80, -120, 127]);
  });

  it('a query whose keys are all masked gets a zero context', () => {
    const out = attentionI8Ref({
      q: { values: new Int8Array(8).fill(3), cols: 4, channel: 0 },
      k: { values: new Int8Array(8).fill(3), cols: 4, channel: 0 },
      v: { values: new Int8Array(8).fill(100), cols: 4, channel: 0 },
      mask: [0, 0],
      batch: 1,
      heads: 1,
      headDim: 4,
      queries: 2,
      keys: 2,
      softmax,
      context,
    });
    expect(Array.from(out)).toEqual(new Array(8).fill(0));
  });
});
