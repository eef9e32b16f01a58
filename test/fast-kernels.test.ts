/**
 * The CPU backend's fast kernels (src/cpu/fast-kernels.ts) give the references' integers exactly:
 * the dyadic rescale on both sides of 2^53 and on rounding ties, the GEMM on wrapping sums, odd
 * sizes and uint8 operands, requantize / i-GELU / LayerNorm on the reference suites' edge cases,
 * the WebAssembly SIMD GEMM on the same edges (K off multiples of 16, -128 everywhere, wrapping
 * sums), embedding / residual add / softmax on extremes, masks and causal rows, and whole programs
 * (the built-in model, a random one) run with both fast kernel sets against REFERENCE_KERNELS.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { builtInModelUrl } from '../src/api.js';
import {
  createFastKernels,
  dyadicFast,
  embeddingI8Fast,
  FAST_KERNELS,
  gemmI8Fast,
  igeluFast,
  layerNormI8Fast,
  layerNormWideFast,
  requantizeFast,
  residualAddFast,
  softmaxI8Fast,
} from '../src/cpu/fast-kernels.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { createWasmGemm, wasmGemmModuleBytes } from '../src/cpu/wasm-gemm.js';
import { readIntModelFile } from '../src/format/int-model-file.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { memorySource } from '../src/model/sources.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { dyadicScale } from '../src/reference/dyadic.js';
import { embeddingI8Ref } from '../src/reference/embedding-i8.js';
import { deriveGeluI8Constants, igeluRef } from '../src/reference/gelu-i8.js';
import { gemmI8Ref } from '../src/reference/gemm-i8.js';
import { layerNormI8Ref, layerNormWideRef } from '../src/reference/layernorm-i8.js';
import { requantizeRef } from '../src/reference/requantize.js';
import { residualAddRef } from '../src/reference/residual-add.js';
import { deriveSoftmaxI8Constants, softmaxI8Ref } from '../src/reference/softmax-i8.js';
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

describe('WebAssembly SIMD GEMM', () => {
  const wasm = createWasmGemm();
  it('the emitted module validates and compiles in Node (so the CPU backend uses it here)', () => {
    expect(WebAssembly.validate(wasmGemmModuleBytes())).toBe(true);
    expect(wasm).toBeDefined();
    expect(createFastKernels().gemmEngine).toBe('wasm-simd');
    expect(createFastKernels({ wasm: false }).gemmEngine).toBe('js');
  });
  it('equals gemmI8Ref: -128 everywhere, K off multiples of 16, odd M and N, uint8 A, wrapping sums and biases', () => {
    const rng = new Random(19);
    const kernels = createFastKernels();
    for (const [M, N, K] of [
      [1, 1, 1],
      [2, 4, 16],
      [3, 5, 17],
      [7, 9, 33],
      [13, 6, 130],
      [5, 3, 768],
      // 16384 K reaches 2^31 at K = 2^17: the int32 sums wrap, as the reference's do.
      [1, 3, 2 ** 17 + 24],
    ]) {
      for (const values of ['random', 'min', 'max'] as const) {
        const v = () => (values === 'min' ? -128 : values === 'max' ? 127 : rng.int(-128, 127));
        const a = Int8Array.from({ length: M * K }, v);
        const u = Uint8Array.from({ length: M * K }, () => (values === 'random' ? rng.int(0, 255) : 255));
        const b = Int8Array.from({ length: N * K }, v);
        const bias = Int32Array.from({ length: N }, (_, n) =>
          n % 3 === 0 ? INT32_MAX : n % 3 === 1 ? -(2 ** 31) : rng.int(-(2 ** 31), INT32_MAX),
        );
        for (const lhs of [a, u])
          for (const withBias of [bias, undefined])
            for (const constantB of [true, false]) {
              const input = { a: lhs, b, bias: withBias, M, N, K };
              const what = `${M}x${N}x${K} ${values} ${lhs instanceof Uint8Array ? 'u8' : 'i8'} ${constantB}`;
              expect(firstDifference(kernels.gemm(input, constantB), gemmI8Ref(input)), what).toBe(-1);
            }
      }
    }
  });
  it('a resident weight gives the same integers on later calls with other A; strided and transposed views read right', () => {
    const rng = new Random(23);
    const [M, N, K] = [6, 10, 40];
    const b = Int8Array.from({ length: N * K }, () => rng.int(-128, 127));
    const bias = Int32Array.from({ length: N }, () => rng.int(-1000, 1000));
    for (let call = 0; call < 3; call++) {
      const a = Int8Array.from({ length: M * K }, () => rng.int(-128, 127));
      const got = wasm!.gemm({ M, N, K }, { src: a, offset: 0, rowStride: K, colStride: 1 }, { weight: b, bias });
      expect(firstDifference(got, gemmI8Ref({ a, b, bias, M, N, K }))).toBe(-1);
    }
    // A as columns 5..5+K of a wider tensor; B read transposed out of a [K, N + 3] tensor.
    const wide = Int8Array.from({ length: M * (K + 9) }, () => rng.int(-128, 127));
    const bt = Int8Array.from({ length: K * (N + 3) }, () => rng.int(-128, 127));
    const a = Int8Array.from({ length: M * K }, (_, i) => wide[Math.floor(i / K) * (K + 9) + 5 + (i % K)]);
    const bb = Int8Array.from({ length: N * K }, (_, i) => bt[(i % K) * (N + 3) + 1 + Math.floor(i / K)]);
    const got = wasm!.gemm(
      { M, N, K },
      { src: wide, offset: 5, rowStride: K + 9, colStride: 1 },
      { src: bt, offset: 1, rowStride: 1, colStride: N + 3 },
    );
    expect(firstDifference(got, gemmI8Ref({ a, b: bb, M, N, K }))).toBe(-1);
  });
});

describe('embedding, residual add and softmax, fast', () => {
  it('embeddingI8Fast equals embeddingI8Ref with and without token types, ids past the tables, extreme tables', () => {
    const rng = new Random(29);
    for (const [H, types, bits] of [
      [16, true, 22],
      [7, false, 16],
      [33, true, 2],
    ] as const) {
      const table = (rows: number, extreme: boolean) =>
        Int8Array.from({ length: rows * H }, (_, i) => (extreme ? (i % 2 ? -128 : 127) : rng.int(-128, 127)));
      const tables = {
        word: table(30, false),
        position: table(12, true),
        tokenType: types ? table(2, false) : undefined,
        hidden: H,
      };
      const n = 25;
      const ids = {
        token: Int32Array.from({ length: n }, (_, i) => (i === 3 ? 30 : rng.int(0, 29))),
        position: Int32Array.from({ length: n }, (_, i) => i % 13),
        tokenType: types ? Int32Array.from({ length: n }, () => rng.int(0, 1)) : undefined,
      };
      const d = () => ({ m: rng.int(2 ** 30, INT32_MAX), e: rng.int(28, 40) });
      const c = { word: d(), position: d(), tokenType: types ? d() : undefined, bits };
      expect(firstDifference(embeddingI8Fast(tables, ids, c), embeddingI8Ref(tables, ids, c))).toBe(-1);
    }
  });
  it('residualAddFast equals residualAddRef on every operand kind, int32 extremes and saturating widths', () => {
    const rng = new Random(31);
    const [rows, cols] = [5, 12];
    const n = rows * cols;
    const operand = (kind: string) =>
      kind === 'i32'
        ? Int32Array.from({ length: n }, (_, i) =>
            i % 4 === 0 ? EXTREME_INT32[i % EXTREME_INT32.length] : rng.int(-(2 ** 21), 2 ** 21),
          )
        : Int8Array.from({ length: n }, (_, i) => (i % 5 === 0 ? -128 : i % 5 === 1 ? 127 : rng.int(-128, 127)));
    for (const [ka, kb] of [
      ['i8', 'i32'],
      ['i32', 'i32'],
      ['i32', 'i8m'],
      ['i8m', 'i8'],
    ])
      for (const bits of [22, 31, 8]) {
        const mults = (k: string) =>
          k === 'i8m'
            ? Int32Array.from({ length: cols }, (_, c) =>
                c === 0 ? 2 ** 23 - 1 : c === 1 ? -(2 ** 23 - 1) : rng.int(-50, 50),
              )
            : undefined;
        const multipliers = { a: mults(ka), b: mults(kb) };
        const c = {
          a: { m: rng.int(2 ** 30, INT32_MAX), e: rng.int(30, 40) },
          b: { m: rng.int(0, INT32_MAX), e: rng.int(20, 50) },
          bits,
        };
        const [a, b] = [operand(ka), operand(kb)];
        expect(
          firstDifference(residualAddFast(a, b, c, multipliers), residualAddRef(a, b, c, multipliers)),
          `${ka} ${kb} ${bits}`,
        ).toBe(-1);
      }
    expect(() =>
      residualAddFast(new Int32Array(4), new Int32Array(5), { a: { m: 1, e: 0 }, b: { m: 1, e: 0 }, bits: 22 }),
    ).toThrow(/operands have 4 and 5 values/);
  });
  it('softmaxI8Fast equals softmaxI8Ref: int32 extremes, masks, causal rows after a past, strided rows', () => {
    const rng = new Random(37);
    for (const [scale, keys] of [
      [2 ** -10, 512],
      [1e-3, 1024],
      [2 ** -30, 2048],
      [100, 512],
    ]) {
      const c = deriveSoftmaxI8Constants(scale, keys);
      const [batch, heads, seq, queries, past] = [2, 3, 19, 5, 14];
      for (const causal of [false, true]) {
        const scoreRow = seq + 3;
        const maskRow = seq + 2;
        const scores = Int32Array.from({ length: batch * heads * queries * scoreRow }, (_, i) =>
          i % 7 === 0 ? EXTREME_INT32[i % EXTREME_INT32.length] : rng.int(-(2 ** 20), 2 ** 20),
        );
        // Sequence 1 has no present key at all: its rows are zeros.
        const mask = Int32Array.from({ length: batch * maskRow }, (_, i) =>
          i >= maskRow ? 0 : rng.next() < 0.8 ? 1 : 0,
        );
        const input = { scores, mask, batch, heads, seq, queries, past: causal ? past : 0, causal, scoreRow, maskRow };
        expect(firstDifference(softmaxI8Fast(input, c), softmaxI8Ref(input, c)), `${scale} ${causal}`).toBe(-1);
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
  it('LayerNorm equals layerNormI8Ref (wide: layerNormWideRef) on every case of its GPU suite', () => {
    const cases = layerNormI8Cases();
    expect(cases.length).toBeGreaterThan(5);
    for (const c of cases) {
      const p = prepareLayerNormI8Case(c);
      const [fast, ref] = c.wideOutput
        ? [
            layerNormWideFast(p.x, c.rows, p.constants, c.wideOutput),
            layerNormWideRef(p.x, c.rows, p.constants, c.wideOutput),
          ]
        : [layerNormI8Fast(p.x, c.rows, p.constants), layerNormI8Ref(p.x, c.rows, p.constants)];
      expect(firstDifference(fast, ref), c.name).toBe(-1);
    }
  });
});

describe('whole programs with the fast kernel sets (plain JS and WebAssembly)', () => {
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
    const ref = runIntProgramCpu(program, batch, { keep: true });
    for (const kernels of [FAST_KERNELS, createFastKernels()]) {
      const fast = runIntProgramCpu(program, batch, { kernels, keep: true });
      for (const [id, v] of ref.values!) expect(firstDifference(fast.values!.get(id)!, v), id).toBe(-1);
      expect(firstDifference(fast.output, ref.output)).toBe(-1);
    }
  });
  it('a random model planned from random ranges: the same output', () => {
    const s = SYNTHETIC[1];
    const model = syntheticModel(s, 13);
    const graph = modelGraph(model);
    const rng = new Random(2);
    const ranges = new Map(calibratedTensors(graph).map((n) => [n, 0.5 + 8 * rng.next()]));
    const program = planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: model.config.maxPositions });
    const batch = syntheticBatch(model.config, [7, 3, 11, 1, 9], 11, 4);
    const want = runIntProgramCpu(program, batch).output;
    for (const kernels of [FAST_KERNELS, createFastKernels()])
      expect(firstDifference(runIntProgramCpu(program, batch, { kernels }).output, want)).toBe(-1);
  });
});
