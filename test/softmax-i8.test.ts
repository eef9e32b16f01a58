import { describe, expect, it } from 'vitest';
import { defaultSoftmaxI8Launch, SOFTMAX_I8_MAX_KEYS, softmaxI8Program } from '../src/kernels/softmax-i8.js';
import {
  deriveSoftmaxI8Constants,
  dyadicMagnitudeRef,
  iExpRef,
  type SoftmaxI8Constants,
  softmaxI8Bounds,
  softmaxI8Ref,
  softmaxI8RowRef,
} from '../src/reference/softmax-i8.js';
import { Random } from '../src/util/random.js';
import { accuracyBounds, errorVsFloat, suite } from './cases/softmax-i8.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

/** Scale 2^-15: one integer step is one unit of t, so d = 22713 is exactly ln2. */
const UNIT = deriveSoftmaxI8Constants(2 ** -15);
const E0 = 2927761; // round((44357^2 + 1030483733) / 2^10) = round(2998027182 / 1024)

describe('integer softmax constants', () => {
  it('derives the hand-checked constants', () => {
    const c = deriveSoftmaxI8Constants((0.05 * 0.05) / 8);
    // 3.125e-4 * 2^15 = 10.24 = 1374389535 / 2^27 (to 2^-31 relative).
    expect(c).toEqual({
      rescale: { m: 1374389535, e: 27 },
      tMax: 30 * 22713,
      ln2: 22713,
      b: 44357,
      c: 1030483733,
      shift: 10,
    });
    expect(UNIT.rescale).toEqual({ m: 2 ** 30, e: 30 });
    // b / 2^15 = 0.96963238 / (2 * 0.35815147) = 1.3536624; c / 2^30 = 1 / 0.35815147 - 1.3536624^2 = 0.9597128.
    expect(Math.abs(c.b / 2 ** 15 - 1.3536624)).toBeLessThan(2 ** -16);
    expect(Math.abs(c.c / 2 ** 30 - 0.9597128)).toBeLessThan(1e-7);
  });
  it('picks the smallest exp shift whose sums fit u32 for the row length', () => {
    expect(softmaxI8Bounds(UNIT, 512)).toMatchObject({
      polyMax: 2998027182,
      expMax: E0,
      sumMax: 512 * E0,
      numeratorMax: 1024 * E0,
      zMax: 30,
      remMax: 22712,
    });
    // (512 + 64) * round(2998027182 / 2^9) < 2^32 <= (512 + 64) * round(2998027182 / 2^8); the 2^9 E
    // term alone keeps shift 9 even for one key.
    expect(deriveSoftmaxI8Constants(2 ** -15, 64).shift).toBe(9);
    expect(deriveSoftmaxI8Constants(2 ** -15, 1).shift).toBe(9);
  });
  it('refuses scales outside [2^-40, 2^16)', () => {
    for (const s of [0, -1, NaN, Infinity, 2 ** -41, 2 ** 16])
      expect(() => deriveSoftmaxI8Constants(s)).toThrow(/input scale .* is outside \[2\^-40, 2\^16\)/);
    expect(() => deriveSoftmaxI8Constants(2 ** -40)).not.toThrow();
    expect(() => deriveSoftmaxI8Constants(2 ** 16 - 1)).not.toThrow();
    expect(() => deriveSoftmaxI8Constants(1, 2049)).toThrow(/maxKeys = 2049/);
  });
  it('refuses constants whose u32 arithmetic could wrap, naming the intermediate', () => {
    const bad =
      (patch: Partial<SoftmaxI8Constants>, keys = 512) =>
      () =>
        softmaxI8Bounds({ ...UNIT, ...patch }, keys);
    expect(bad({ shift: 9 })).toThrow(/2\^9 exp \+ sum can reach \d+ and overflow u32 for 512 keys/);
    expect(bad({ shift: 5 })).toThrow(/sum of 512 exps can reach \d+ and overflow u32/);
    expect(bad({ shift: 9 }, 64)).not.toThrow();
    expect(bad({ b: 22711 })).toThrow(/b - rem can go negative/);
    expect(bad({ c: 2 ** 32 - 1 })).toThrow(/poly = \(b - rem\)\^2 \+ c reaches \d+ and overflows u32/);
    expect(bad({ shift: 33 })).toThrow(/rounds to 0/);
    expect(bad({ ln2: 0 })).toThrow(/ln2 must be at least 1/);
    expect(bad({ tMax: 2 ** 32 })).toThrow(/tMax = 4294967296 is not a u32/);
    expect(bad({ rescale: { m: 2 ** 31, e: 3 } })).toThrow(/input rescale: m = 2147483648/);
    expect(bad({}, 2049)).toThrow(/row length 2049 exceeds the supported maximum of 2048 keys/);
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
    expect(() => softmaxI8Ref({ scores: new Int32Array(8), mask: [1, 1], batch: 1, heads: 1, seq: 2 }, c)).toThrow(
      /8 scores/,
    );
    expect(() => softmaxI8Ref({ scores: new Int32Array(4), mask: [1], batch: 1, heads: 1, seq: 2 }, c)).toThrow(
      /mask of 1/,
    );
  });
  it('stays within 2 output steps of float softmax on realistic scores (the docs table)', () => {
    for (const [range, seq] of [
      [10, 13],
      [10, 128],
      [10, 512],
      [30, 128],
      [30, 512],
    ]) {
      const rng = new Random(range * 1000 + seq);
      const scale = (0.05 * 0.05) / 8;
      const heads = Math.max(1, Math.floor(4096 / (seq * seq)) + 1);
      const scores = Int32Array.from({ length: heads * seq * seq }, () =>
        Math.round(((rng.next() * 2 - 1) * range) / scale),
      );
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
  it('refuses rows longer than 2048 keys and empty shapes', () => {
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 2049 }, deriveSoftmaxI8Constants(0.01, 2048))).toThrow(
      /seq = 2049 exceeds the supported maximum of 2048 keys/,
    );
    expect(() => softmaxI8Program({ batch: 0, heads: 1, seq: 4 }, c)).toThrow(/batch = 0/);
    expect(() => softmaxI8Program({ batch: 1, heads: 1.5, seq: 4 }, c)).toThrow(/heads = 1.5/);
  });
  it('refuses constants that overflow for the row length', () => {
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 512 }, { ...c, shift: 9 })).toThrow(
      /overflow u32 for 512 keys/,
    );
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 64 }, { ...c, shift: 9 })).not.toThrow();
  });
  it('refuses launches that cannot hold the row', () => {
    expect(() =>
      softmaxI8Program({ batch: 1, heads: 1, seq: 100 }, c, { workgroupSize: 32, keysPerThread: 3 }),
    ).toThrow(/cannot hold a row of 100 keys/);
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 10 }, c, { workgroupSize: 48, keysPerThread: 1 })).toThrow(
      /power of two/,
    );
  });
  it('serves lengths 1..2048 with at most one pipeline per power-of-two bucket, each holding its rows', () => {
    const c = deriveSoftmaxI8Constants(0.01, SOFTMAX_I8_MAX_KEYS);
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
        // A decode step over the same keys runs on the same pipeline.
        if (seq > 1)
          expect(
            softmaxI8Program({ batch: 1, heads: 1, seq, queries: 1, past: seq - 1, causal: true }, c, launch).key,
          ).toBe(softmaxI8Program({ batch: 1, heads: 1, seq }, c, launch).key);
      }
      for (const [bucket, shapes] of byBucket)
        expect(shapes.size, `lengths up to 2^${bucket} (software ${software})`).toBe(1);
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

describe('integer softmax beyond 512 keys (the u32 sum proof for GPT-2 lengths)', () => {
  it('derives one more bit of exp shift per doubling of the row, and refuses shorter-row constants for longer rows', () => {
    // E(0) = round(2998027182 / 2^shift); 2 keys E(0) < 2^32 limits keys to 733, 1466, 2933.
    expect(deriveSoftmaxI8Constants(2 ** -15, 733).shift).toBe(10);
    expect(deriveSoftmaxI8Constants(2 ** -15, 734).shift).toBe(11);
    expect(deriveSoftmaxI8Constants(2 ** -15, 1024).shift).toBe(11);
    expect(deriveSoftmaxI8Constants(2 ** -15, 1466).shift).toBe(11);
    expect(deriveSoftmaxI8Constants(2 ** -15, 1467).shift).toBe(12);
    expect(deriveSoftmaxI8Constants(2 ** -15, 2048).shift).toBe(12);
    expect(softmaxI8Bounds(deriveSoftmaxI8Constants(2 ** -15, 2048), 2048)).toMatchObject({
      expMax: 731940,
      sumMax: 2048 * 731940,
      denominatorMax: 2998026240,
    });
    expect(softmaxI8Bounds(UNIT, 733).denominatorMax).toBe(4292097626);
    expect(() => softmaxI8Bounds(UNIT, 734)).toThrow(/2 sum can reach 4297953148 and overflow u32 for 734 keys/);
    expect(() => softmaxI8Bounds(deriveSoftmaxI8Constants(2 ** -15, 1024), 1467)).toThrow(/overflow u32 for 1467 keys/);
    // The default derivation is unchanged (the encoder's constants): 512 keys, shift 10.
    expect(deriveSoftmaxI8Constants(2 ** -15).shift).toBe(10);
    const c512 = deriveSoftmaxI8Constants(0.01);
    expect(() => softmaxI8Program({ batch: 1, heads: 1, seq: 1024 }, c512)).toThrow(/overflow u32 for 1024 keys/);
    expect(() =>
      softmaxI8Program({ batch: 1, heads: 1, seq: 1024 }, deriveSoftmaxI8Constants(0.01, 1024)),
    ).not.toThrow();
  });
  it('launches 1024 and 2048 keys on 256 threads (GPUs) and 64 / 128 threads of 16 keys (SwiftShader)', () => {
    expect(defaultSoftmaxI8Launch(1024)).toEqual({ workgroupSize: 256, keysPerThread: 4 });
    expect(defaultSoftmaxI8Launch(2048)).toEqual({ workgroupSize: 256, keysPerThread: 8 });
    expect(defaultSoftmaxI8Launch(1024, true)).toEqual({ workgroupSize: 64, keysPerThread: 16 });
    expect(defaultSoftmaxI8Launch(2048, true)).toEqual({ workgroupSize: 128, keysPerThread: 16 });
  });
  it('stays within 2 output steps of float softmax for 1024 and 2048 keys', () => {
    for (const seq of [1024, 2048]) {
      const rng = new Random(seq);
      const scale = (0.05 * 0.05) / 8;
      const heads = 2;
      const scores = Int32Array.from({ length: heads * seq * seq }, () => Math.round(rng.normal(3) / scale));
      const mask = new Uint32Array(seq).fill(1);
      const shape = { batch: 1, heads, seq, scale };
      const probs = softmaxI8Ref({ scores, mask, ...shape }, deriveSoftmaxI8Constants(scale, seq));
      const e = errorVsFloat(probs, scores, mask, shape);
      expect(e.max).toBeLessThanOrEqual(2);
      expect(e.mean).toBeLessThanOrEqual(0.25);
    }
  });
});

describe('causal integer softmax with a past (decoder rows)', () => {
  const one = (q: number[][], o: { past: number; causal: boolean; mask?: number[]; scoreRow?: number }) => {
    const seq = q[0].length;
    const scoreRow = o.scoreRow ?? seq;
    const scores = new Int32Array(q.length * scoreRow).fill(2 ** 31 - 1);
    q.forEach((row, i) => scores.set(row, i * scoreRow));
    const out = softmaxI8Ref(
      {
        scores,
        mask: o.mask ?? new Array(seq).fill(1),
        batch: 1,
        heads: 1,
        seq,
        queries: q.length,
        past: o.past,
        causal: o.causal,
        scoreRow,
      },
      UNIT,
    );
    return q.map((_, i) => Array.from(out.subarray(i * seq, (i + 1) * seq)));
  };
  it('query i after `past` cached positions sees keys j <= past + i', () => {
    // Prefill of 3 queries after 1 cached position over 4 keys, all scores equal: row i averages past + i + 1 keys.
    expect(
      one(
        [
          [5, 5, 5, 5],
          [5, 5, 5, 5],
          [5, 5, 5, 5],
        ],
        { past: 1, causal: true },
      ),
    ).toEqual([
      [128, 128, 0, 0],
      [85, 85, 85, 0],
      [64, 64, 64, 64],
    ]);
    // The keys beyond the limit are ignored however large (2^31 - 1 would take the whole row).
    expect(one([[0, -22713, 2 ** 31 - 1]], { past: 1, causal: true })).toEqual([[171, 85, 0]]);
    // Decode step: 1 query over past + 1 keys sees every key.
    expect(one([[0, -22713, 0]], { past: 2, causal: true })).toEqual(one([[0, -22713, 0]], { past: 0, causal: false }));
    // The padding mask still applies inside the window; a window of only masked keys is all zero.
    expect(
      one(
        [
          [0, -22713, 0],
          [0, -22713, 0],
        ],
        { past: 1, causal: true, mask: [0, 1, 1] },
      ),
    ).toEqual([
      [0, 255, 0],
      [0, 85, 171],
    ]);
    expect(
      one(
        [
          [1, 2],
          [3, 4],
        ],
        { past: 0, causal: true, mask: [0, 1] },
      ),
    ).toEqual([
      [0, 0],
      [0, 255],
    ]);
    // Score rows strided by a capacity: what lies past the keys is never read.
    expect(one([[0, -22713]], { past: 1, causal: true, scoreRow: 8 })).toEqual([[171, 85]]);
  });
  it('refuses decoder fields that cannot describe a run', () => {
    const c = deriveSoftmaxI8Constants(0.01);
    const shape = { batch: 1, heads: 1, seq: 10 };
    expect(() => softmaxI8Program({ ...shape, queries: 3, past: 8, causal: true }, c)).toThrow(
      /3 queries after 8 cached positions needs 11 keys, has 10/,
    );
    expect(() => softmaxI8Program({ ...shape, queries: 1, past: 9 }, c)).toThrow(/past = 9 without causal masking/);
    expect(() => softmaxI8Program({ ...shape, queries: 0 }, c)).toThrow(/queries = 0/);
    expect(() => softmaxI8Program({ ...shape, scoreRow: 9 }, c)).toThrow(/scoreRow = 9 is shorter than the 10 keys/);
    expect(() => softmaxI8Program({ ...shape, maskRow: 4 }, c)).toThrow(/maskRow = 4/);
    expect(() => softmaxI8Program({ ...shape, outRow: 2 }, c)).toThrow(/outRow = 2 words cannot hold 10 keys/);
    expect(() =>
      softmaxI8Program(
        { batch: 2 ** 16, heads: 2 ** 8, seq: 2048, queries: 1, past: 2047, causal: true, scoreRow: 2 ** 9 },
        deriveSoftmaxI8Constants(0.01, 2048),
      ),
    ).toThrow(/scoreRow = 512 is shorter/);
    expect(() =>
      softmaxI8Program(
        { batch: 2 ** 12, heads: 2 ** 8, seq: 2048, queries: 2, past: 2046, causal: true },
        deriveSoftmaxI8Constants(0.01, 2048),
      ),
    ).toThrow(/overflow u32 indices/);
  });
  it('puts the decoder fields in the uniform, and gives the encoder the uniform words it had', () => {
    const c = deriveSoftmaxI8Constants(0.01);
    const enc = softmaxI8Program({ batch: 2, heads: 3, seq: 13 }, c).params!;
    // rows, seq, rowsPerBatch, outRow, gridX, then the constants, then scoreRow, queries, past, causal, maskRow, outWords.
    expect(Array.from(enc.subarray(0, 5))).toEqual([78, 13, 39, 4, 78]);
    expect(Array.from(enc.subarray(12))).toEqual([13, 13, 0, 0, 13, 4, 0, 0]);
    const dec = softmaxI8Program(
      { batch: 2, heads: 3, seq: 13, queries: 1, past: 12, causal: true, scoreRow: 64, maskRow: 64, outRow: 16 },
      c,
    ).params!;
    expect(Array.from(dec.subarray(0, 5))).toEqual([6, 13, 3, 16, 6]);
    expect(Array.from(dec.subarray(12))).toEqual([64, 1, 12, 1, 64, 4, 0, 0]);
  });
});
