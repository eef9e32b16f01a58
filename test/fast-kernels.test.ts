/**
 * The CPU backend's fast kernels (src/cpu/fast-kernels.ts) give the references' integers exactly:
 * the dyadic rescale on both sides of 2^53 and on rounding ties, the GEMM on wrapping sums, odd
 * sizes and uint8 operands, requantize / i-GELU / LayerNorm on the reference suites' edge cases,
 * and whole programs (the built-in model, a random one) run with FAST_KERNELS against
 * REFERENCE_KERNELS.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtInModelUrl } from '../src/api.js';
import {
  dyadicFast,
  FAST_KERNELS,
  gemmI8Fast,
  igeluFast,
  layerNormI8Fast,
  requantizeFast,
} from '../src/cpu/fast-kernels.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { readIntModelFile } from '../src/format/int-model-file.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { memorySource } from '../src/model/sources.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { dyadicScale } from '../src/reference/dyadic.js';
import { deriveGeluI8Constants, igeluRef } from '../src/reference/gelu-i8.js';
import { gemmI8Ref } from '../src/reference/gemm-i8.js';
import { layerNormI8Ref } from '../src/reference/layernorm-i8.js';
import { requantizeRef } from '../src/reference/requantize.js';
import { Random } from '../src/util/random.js';
import { layerNormI8Cases, prepareLayerNormI8Case } from './cases/layernorm-i8.js';
import { EXTREME_INT32, EXTREME_M } from './cases/requantize.js';
import { SYNTHETIC, syntheticBatch, syntheticModel } from './synthetic.js';

const INT32_MAX = 2 ** 31 - 1;

/** Index of the first difference, or -1: one assertion instead of a million element-wise ones. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('dyadicFast', () => {
  const ranges: [number, number][] = [
    [-128, 127],
    [0, 255],
    [-INT32_MAX, INT32_MAX],
    [-(2 ** 30), 2 ** 30],
    [0, INT32_MAX],
  ];
  it('equals dyadicScale at the corners of the domain, on ties and across 2^53', () => {
    const rng = new Random(5);
    let wide = 0;
    let checked = 0;
    const check = (x: number, m: number, e: number) => {
      for (const [lo, hi] of ranges) {
        const want = dyadicScale(x, m, e, lo, hi);
        const got = dyadicFast(x, m, e, lo, hi);
        if (got !== want) expect({ x, m, e, lo, hi, got }).toEqual({ x, m, e, lo, hi, got: want });
        checked++;
      }
      if (Math.abs(x) * m + 2 ** Math.max(e - 1, 0) > Number.MAX_SAFE_INTEGER) wide++;
    };
    for (const x of EXTREME_INT32) for (const m of EXTREME_M) for (let e = 0; e <= 63; e++) check(x, m, e);
    for (let i = 0; i < 20000; i++) {
      const e = rng.int(0, 63);
      const m = rng.next() < 0.5 ? rng.int(2 ** 30, INT32_MAX) : rng.int(0, INT32_MAX);
      check(rng.int(-(2 ** 31), INT32_MAX), m, e);
      // Exact ties: |x| m = (2k + 1) 2^(e-1), which rounds away from zero.
      if (e > 0 && e <= 31) {
        const k = rng.int(0, 2 ** Math.max(0, 31 - e) - 1);
        const x = (2 * k + 1) * 2 ** (e - 1);
        if (x <= INT32_MAX) check(rng.next() < 0.5 ? x : -x, 1, e);
      }
    }
    expect(checked).toBeGreaterThan(100000);
    // The split path (the reference's BigInt side) is exercised, not only the double one.
    expect(wide).toBeGreaterThan(10000);
  });
});

describe('requantizeFast', () => {
  it('equals requantizeRef per tensor and per channel, int8 and uint8, on extreme and random values', () => {
    const rng = new Random(7);
    for (const [rows, cols] of [
      [3, 1],
      [5, 13],
      [7, 64],
      [2, 200],
    ]) {
      const x = Int32Array.from({ length: rows * cols }, (_, i) =>
        i % 2 ? EXTREME_INT32[i % EXTREME_INT32.length] : rng.int(-(2 ** 31), INT32_MAX),
      );
      const perChannel = Array.from({ length: cols }, (_, c) => ({ m: EXTREME_M[c % 8], e: c % 64 }));
      const perTensor = [{ m: rng.int(2 ** 30, INT32_MAX), e: 40 }];
      for (const requant of [perChannel, perTensor])
        for (const out of ['i8', 'u8'] as const)
          expect(
            firstDifference(requantizeFast(x, rows, cols, requant, out), requantizeRef(x, rows, cols, requant, out)),
          ).toBe(-1);
    }
  });
  it('refuses what the reference refuses', () => {
    expect(() =>
      requantizeFast(new Int32Array(6), 2, 3, [
        { m: 1, e: 0 },
        { m: 1, e: 0 },
      ]),
    ).toThrow(/2 multipliers for 3 channels/);
    expect(() => requantizeFast(new Int32Array(6), 2, 3, [{ m: 2 ** 31, e: 0 }])).toThrow(/requant\[0\]/);
  });
});

describe('gemmI8Fast', () => {
  it('equals gemmI8Ref on sizes around the 4 x 4 blocks, uint8 operands, extreme values and wrapping biases', () => {
    const rng = new Random(9);
    for (const [M, N, K] of [
      [1, 1, 1],
      [4, 4, 4],
      [5, 7, 3],
      [8, 12, 64],
      [13, 9, 130],
      [3, 17, 768],
    ]) {
      for (const values of ['random', 'min', 'max'] as const) {
        const v = () => (values === 'min' ? -128 : values === 'max' ? 127 : rng.int(-128, 127));
        const a = Int8Array.from({ length: M * K }, v);
        const u = Uint8Array.from({ length: M * K }, () => (values === 'random' ? rng.int(0, 255) : 255));
        const b = Int8Array.from({ length: N * K }, v);
        // Biases at the ends of int32: the sums wrap modulo 2^32 as WGSL's do.
        const bias = Int32Array.from({ length: N }, (_, n) =>
          n % 3 === 0 ? INT32_MAX : n % 3 === 1 ? -(2 ** 31) : rng.int(-(2 ** 31), INT32_MAX),
        );
        for (const lhs of [a, u])
          for (const withBias of [bias, undefined]) {
            const input = { a: lhs, b, bias: withBias, M, N, K };
            expect(firstDifference(gemmI8Fast(input), gemmI8Ref(input)), `${M}x${N}x${K} ${values}`).toBe(-1);
          }
      }
    }
  });
});

describe('igeluFast and layerNormI8Fast', () => {
  it('i-GELU equals igeluRef on realistic and extreme accumulators, per tensor and per channel', () => {
    const rng = new Random(11);
    for (const [sIn, sOut] of [
      [1e-9, 8 / 127],
      [1e-4, 4 / 127],
      [1e-3, 16 / 127],
      [1, 8 / 127],
    ]) {
      const rows = 9;
      const cols = 37;
      const c = deriveGeluI8Constants(sIn, sOut);
      const acc = Int32Array.from({ length: rows * cols }, (_, i) =>
        i % 3 === 0
          ? EXTREME_INT32[i % EXTREME_INT32.length]
          : i % 3 === 1
            ? rng.int(-(2 ** 31), INT32_MAX)
            : Math.round((rng.next() * 12 - 6) / sIn),
      );
      const requant = Array.from(
        { length: cols },
        () => deriveGeluI8Constants(sIn * 10 ** (2 * rng.next() - 1), sOut).input,
      );
      expect(firstDifference(igeluFast(acc, rows, cols, c), igeluRef(acc, rows, cols, c))).toBe(-1);
      expect(firstDifference(igeluFast(acc, rows, cols, c, requant), igeluRef(acc, rows, cols, c, requant))).toBe(-1);
    }
  });
  it('LayerNorm equals layerNormI8Ref on every case of its GPU suite', () => {
    const cases = layerNormI8Cases();
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      const p = prepareLayerNormI8Case(c);
      expect(
        firstDifference(layerNormI8Fast(p.x, c.rows, p.constants), layerNormI8Ref(p.x, c.rows, p.constants)),
        c.name,
      ).toBe(-1);
    }
  });
});

describe('whole programs with FAST_KERNELS', () => {
  it('the built-in model: the same logits and every tensor the same as with the references', async () => {
    const bytes = new Uint8Array(readFileSync(builtInModelUrl()));
    const file = await readIntModelFile(bytes, 'built-in');
    const program = file.program;
    const tokenizer = await loadTokenizer(
      memorySource({ 'tokenizer.json': file.tokenizer.json }, 'built-in'),
      file.config,
    );
    const batch = tokenizer.encodeBatch([
      'a gripping, beautifully acted film',
      'flat and tedious',
      ['it is fine', 'no, it is not'],
    ]);
    const fast = runIntProgramCpu(program, batch, { kernels: FAST_KERNELS, keep: true });
    const ref = runIntProgramCpu(program, batch, { keep: true });
    for (const [id, v] of ref.values!) expect(firstDifference(fast.values!.get(id)!, v), id).toBe(-1);
    expect(firstDifference(fast.output, ref.output)).toBe(-1);
  });
  it('a random model planned from random ranges: the same output', () => {
    const s = SYNTHETIC[1];
    const model = syntheticModel(s, 13);
    const graph = modelGraph(model);
    const rng = new Random(2);
    const ranges = new Map(calibratedTensors(graph).map((n) => [n, 0.5 + 8 * rng.next()]));
    const program = planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: model.config.maxPositions });
    const batch = syntheticBatch(model.config, [7, 3, 11, 1, 9], 11, 4);
    const fast = runIntProgramCpu(program, batch, { kernels: FAST_KERNELS }).output;
    expect(firstDifference(fast, runIntProgramCpu(program, batch).output)).toBe(-1);
  });
});
