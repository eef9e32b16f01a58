import { describe, expect, it } from 'vitest';
import { accuracyBounds, errorVsFloat, suite } from './cases/softmax-i8.js';
import { runSuite } from './run-suite.js';
import { SOFTMAX_I8_MAX_KEYS, defaultSoftmaxI8Launch, softmaxI8Program } from '../src/kernels/softmax-i8.js';
import {
  type SoftmaxI8Constants,
  deriveSoftmaxI8Constants,
  dyadicMagnitudeRef,
  iExpRef,
  softmaxI8Bounds,
  softmaxI8Ref,
  softmaxI8RowRef,
} from '../src/reference/softmax-i8.js';
import { Random } from '../src/util/random.js';

runSuite(suite);

/** Scale 2^-15: one integer step is one unit of t, so d = 22713 is exactly ln2. */
const UNIT = deriveSoftmaxI8Constants(2 ** -15);
const E0 = 2927761; // round((44357^2 + 1030483733) / 2^10) = round(2998027182 / 1024)

describe('integer softmax constants', () => {
  it('derives the hand-checked constants', () => {
    const c = deriveSoftmaxI8Constants((0.05 * 0.05) / 8);
    // 3.125e-4 * 2^15 = 10.24 = 1374389535 / 2^27 (to 2^-31 relative).
    expect(c).toEqual({ rescale: { m: 1374389535, e: 27 }, tMax: 30 * 22713, ln2: 22713, b: 44357, c: 1030483733, shift: 10 });
    expect(UNIT.rescale).toEqual({ m: 2 ** 30, e: 30 });
    // b / 2^15 = 0.96963238 / (2 * 0.35815147) = 1.3536624; c / 2^30 = 1 / 0.35815147 - 1.3536624^2 = 0.9597128.
    expect(Math.abs(c.b / 2 ** 15 - 1.3536624)).toBeLessThan(2 ** -16);
    expect(Math.abs(c.c / 2 ** 30 - 0.9597128)).toBeLessThan(1e-7);
  });
  it('picks the smallest exp shift whose sums fit u32 for the row length', () => {
    expect(softmaxI8Bounds(UNIT, 512)).toMatchObject({ polyMax: 2998027182, expMax: E0, sumMax: 512 * E0, numeratorMax: 1024 * E0, zMax: 30, remMax: 22712 });
    // (512 + 64) * round(2998027182 / 2^9) < 2^32 <= (512 + 64) * round(2998027182 / 2^8); the 2^9 E
    // term alone keeps shift 9 even for one key.
    expect(deriveSoftmaxI8Constants(2 ** -15, 64).shift).toBe(9);
    expect(deriveSoftmaxI8Constants(2 ** -15, 1).shift).toBe(9);
  });
  it('refuses scales outside [2^-40, 2^16)', () => {
    for (const s of [0, -1, NaN, Infinity, 2 ** -41, 2 ** 16]) expect(() => deriveSoftmaxI8Constants(s)).toThrow(/input scale .* is outside \[2\^-40, 2\^16\)/);
    expect(() => deriveSoftmaxI8Constants(2 ** -40)).not.toThrow();
    expect(() => deriveSoftmaxI8Constants(2 ** 16 - 1)).not.toThrow();
    expect(() => deriveSoftmaxI8Constants(1, 513)).toThrow(/maxKeys = 513/);
  });
  it('refuses constants whose u32 arithmetic could wrap, naming the intermediate', () => {
    const bad = (patch: Partial<SoftmaxI8Constants>, keys = 512) => () => softmaxI8Bounds({ ...UNIT, ...patch }, keys);
    expect(bad({ shift: 9 })).toThrow(/2\^9 exp \+ sum can reach \d+ and overflow u32 for 512 keys/);
    expect(bad({ shift: 5 })).toThrow(/sum of 512 exps can reach \d+ and overflow u32/);
    expect(bad({ shift: 9 }, 64)).not.toThrow();
    expect(bad({ b: 22711 })).toThrow(/b - rem can go negative/);
    expect(bad({ c: 2 ** 32 - 1 })).toThrow(/poly = \(b - rem\)\^2 \+ c reaches \d+ and overflows u32/);
    expect(bad({ shift: 33 })).toThrow(/rounds to 0/);
    expect(bad({ ln2: 0 })).toThrow(/ln2 must be at least 1/);
    expect(bad({ tMax: 2 ** 32 })).toThrow(/tMax = 4294967296 is not a u32/);
    expect(bad({ rescale: { m: 2 ** 31, e: 3 } })).toThrow(/input rescale: m = 2147483648/);
    expect(bad({}, 513)).toThrow(/row length 513 exceeds the supported maximum of 512 keys/);
  });
});

describe('integer softmax reference', () => {
  it('rescales d exactly in 63 bits, ties up, saturating', () => {
    expect(dyadicMagnitudeRef(3, 1, 1, 100)).toBe(2); // 1.5
    expect(dyadicMagnitudeRef(5, 1, 2, 100)).toBe(1); // 1.25
    expect(dyadicMagnitudeRef(1000, 1, 0, 100)).toBe(100);
    // (2^32 - 1)(2^31 - 1) / 2^62 = 1.99999999907 -> 2, which doubles cannot decide.
    expect(dyadicMagnitudeRef(2 ** 32 - 1, 2 ** 31 - 1, 62, 2 ** 32 - 1)).toBe(2);
    // (2^32 - 1)(2^31 - 1) / 2^33 = 2^30 - 2^-1 - 2^-2 + 2^-33 -> 2^30 - 1.
    expect(dyadicMagnitudeRef(2 ** 32 - 1, 2 ** 31 - 1, 33, 2 ** 32 - 1)).toBe(2 ** 30 - 1);
  });
  it('i-exp halves per ln2 and vanishes past z = 22', () => {
    expect(iExpRef(0, UNIT)).toBe(E0);
    expect(iExpRef(22713, UNIT)).toBe(1463880); // round(2998027182 / 2^11)
    expect(iExpRef(2 * 22713, UNIT)).toBe(731940); // round(2998027182 / 2^12) = 731940.2
    // r = -11357 / 2^15 ~ -ln2 / 2: ((44357 - 11357)^2 + 1030483733) / 2^10 = 2069808.33 -> 2069808, and
    // 2069808 / E0 = 0.7069593 matches 0.35815147 r^2 + 0.96963238 r + 1 = 0.7069593 (exp: 0.70711).
    expect(iExpRef(11357, UNIT)).toBe(2069808);
    expect(Math.abs(2069808 / E0 - 0.7069593)).toBeLessThan(1e-7);
    expect(iExpRef(22 * 22713, UNIT)).toBe(1); // 2998027182 / 2^32 = 0.698
    expect(iExpRef(23 * 22713, UNIT)).toBe(0);
    expect(iExpRef(2 ** 32 - 1, UNIT)).toBe(0); // t saturates at 30 ln2
  });
  it('computes hand-checked rows', () => {
    const row = (q: number[], present = q.map(() => 1)) => Array.from(softmaxI8RowRef(q, present, UNIT));
    // exp(0), exp(-ln2): 256 * 2927761 / 4391641 = 170.67 -> 171, 256 * 1463880 / 4391641 = 85.33 -> 85.
    expect(row([0, -22713])).toEqual([171, 85]);
    expect(row([-22713, 0])).toEqual([85, 171]);
    expect(row([5, 5])).toEqual([128, 128]); // 128.5 -> 128 after the exact floor((2^9 E + sum) / 2 sum)
    expect(row([7, 7, 7])).toEqual([85, 85, 85]); // 85.33
    expect(row([7, 7, 7, 7])).toEqual([64, 64, 64, 64]);
    // A lone or dominant key would be 256: clamped to 255.
    expect(row([123])).toEqual([255]);
    expect(row([0, -(2 ** 31), 2 ** 31 - 1])).toEqual([0, 0, 255]);
    // Masked keys get exactly 0 and do not take part in max or sum, however large.
    expect(row([2 ** 31 - 1, 0, -22713], [0, 1, 1])).toEqual([0, 171, 85]);
    expect(row([1, 2, 3], [0, 0, 0])).toEqual([0, 0, 0]);
    expect(row([-(2 ** 31), -(2 ** 31)])).toEqual([128, 128]);
    // 512 equal keys: 256 / 512 = 0.5 exactly, a tie, rounded up: (2^9 E + 512 E) / (2 * 512 E) = 1.
    expect(new Set(row(new Array(512).fill(-7)))).toEqual(new Set([1]));
  });
  it('refuses mismatched tensors', () => {
    const c = deriveSoftmaxI8Constants(0.01);
    expect(() => softmaxI8Ref({ scores: new Int32Array(8), mask: [1, 1], batch: 1, heads: 1, seq: 2 }, c)).toThrow(/8 scores/);
    expect(() => softmaxI8Ref({ scores: new Int32Array(4), mask: [1], batch: 1, heads: 1, seq: 2 }, c)).toThrow(/mask of 1/);
  });
  it('stays within 2 output steps of float softmax on realistic scores (the docs table)', () => {
    for (const [range, seq] of [[10, 13], [10, 128], [10, 512], [30, 128], [30, 512]]) {
      const rng = new Random(range * 1000 + seq);
      const scale = (0.05 * 0.05) / 8;
      const heads = Math.max(1, Math.floor(4096 / (seq * seq)) + 1);
      const scores = Int32Array.from({ length: heads * seq * seq }, () => Math.round(((rng.next() * 2 - 1) * range) / scale));
      const mask = new Uint32Array(seq).fill(1);
      const shape = { batch: 1, heads, seq, scale };
      const probs = softmaxI8Ref({ scores, mask, ...shape }, deriveSoftmaxI8Constants(scale));
      const e = errorVsFloat(probs, scores, mask, shape);
      const { maxBound, meanBound } = accuracyBounds(seq);
      expect(e.max).toBeLessThanOrEqual(maxBound);
      expect(e.mean).toBeLessThanOrEqual(meanBound);
    }
  });
});

describe('integer softmax kernel refuses what it cannot compute exactly', () => {
  const c = deriveSoftmaxI8Constants(0.01);
  it('refuses rows longer than 512 keys and empty shapes', () => {
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 513 }, c)).toThrow(/seq = 513 exceeds the supported maximum of 512 keys/);
    expect(() => softmaxI8Program({ batch: 0, heads: 1, seq: 4 }, c)).toThrow(/batch = 0/);
    expect(() => softmaxI8Program({ batch: 1, heads: 1.5, seq: 4 }, c)).toThrow(/heads = 1.5/);
  });
  it('refuses constants that overflow for the row length', () => {
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 512 }, { ...c, shift: 9 })).toThrow(/overflow u32 for 512 keys/);
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 64 }, { ...c, shift: 9 })).not.toThrow();
  });
  it('refuses launches that cannot hold the row', () => {
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 100 }, c, { workgroupSize: 32, keysPerThread: 3 })).toThrow(/cannot hold a row of 100 keys/);
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 10 }, c, { workgroupSize: 48, keysPerThread: 1 })).toThrow(/power of two/);
  });
  it('serves lengths 1..512 with at most one pipeline per power-of-two bucket, each holding its rows', () => {
    // keysPerThread is compiled in: a new sentence length must not mean a new pipeline (a compile
    // of ~0.1-0.3 s on SwiftShader while the user waits), so lengths in (2^(k-1), 2^k] share one.
    for (const software of [false, true]) {
      const byBucket = new Map<number, Set<string>>();
      const keys = new Set<string>();
      for (let seq = 1; seq <= SOFTMAX_I8_MAX_KEYS; seq++) {
        const launch = defaultSoftmaxI8Launch(seq, software);
        expect(launch.workgroupSize * launch.keysPerThread, `seq ${seq}`).toBeGreaterThanOrEqual(seq);
        const bucket = Math.ceil(Math.log2(seq));
        const shapes = byBucket.get(bucket) ?? new Set<string>();
        shapes.add(JSON.stringify(launch));
        byBucket.set(bucket, shapes);
        keys.add(softmaxI8Program({ batch: 1, heads: 1, seq }, c, launch).key);
      }
      for (const [bucket, shapes] of byBucket) expect(shapes.size, `lengths up to 2^${bucket} (software ${software})`).toBe(1);
      expect(keys.size).toBeLessThanOrEqual(Math.log2(SOFTMAX_I8_MAX_KEYS) + 1);
    }
  });
  it('launches one workgroup per row on a 2-D grid, one pipeline per launch shape', () => {
    expect(defaultSoftmaxI8Launch(13)).toEqual({ workgroupSize: 32, keysPerThread: 1 });
    expect(defaultSoftmaxI8Launch(197)).toEqual({ workgroupSize: 128, keysPerThread: 2 });
    expect(defaultSoftmaxI8Launch(512)).toEqual({ workgroupSize: 128, keysPerThread: 4 });
    expect(defaultSoftmaxI8Launch(384)).toEqual({ workgroupSize: 128, keysPerThread: 4 });
    expect(defaultSoftmaxI8Launch(9, true)).toEqual({ workgroupSize: 4, keysPerThread: 4 });
    expect(softmaxI8Program({ batch: 2, heads: 12, seq: 128 }, c).workgroups).toEqual([3072, 1, 1]);
    expect(softmaxI8Program({ batch: 16, heads: 12, seq: 512 }, c).workgroups).toEqual([65535, 2, 1]);
    const a = softmaxI8Program({ batch: 1, heads: 1, seq: 200 }, c);
    const b = softmaxI8Program({ batch: 3, heads: 2, seq: 256 }, deriveSoftmaxI8Constants(0.5));
    expect(a.key).toBe(b.key);
  });
});
