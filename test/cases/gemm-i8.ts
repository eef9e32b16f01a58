/**
 * INT8 GEMM cases checked bit for bit against the CPU reference. Shared by the Node tests and the
 * browser page (test/browser), so both run exactly the same checks.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import {
  bindGemmI8,
  type GemmI8Strategy,
  type GemmI8Variant,
  type GemmShape,
  type GemmTile,
  gemvShapeFor,
  packRequant,
} from '../../src/kernels/gemm-i8.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import { type Dyadic, toDyadic } from '../../src/reference/dyadic.js';
import { gemmI8Ref } from '../../src/reference/gemm-i8.js';
import { requantizeRef } from '../../src/reference/requantize.js';
import { Random } from '../../src/util/random.js';
import type { CheckResult, CheckSuite } from './suite.js';

export type ValuePattern = 'random' | 'min' | 'max' | 'alternating';
export type RequantPattern = 'typical' | 'saturating' | 'extreme';

export interface GemmI8Case {
  name: string;
  M: number;
  N: number;
  K: number;
  values: ValuePattern;
  output: 'i32' | 'i8';
  bias: boolean;
  perChannel: boolean;
  requant: RequantPattern;
  aUnsigned: boolean;
  strategy: GemmI8Strategy;
  tile?: GemmI8Variant;
  /** Attention layouts: heads sliced out of [batch, seq, heads * headDim] tensors. */
  attention?: { kind: 'qk' | 'pv'; batch: number; heads: number };
  seed: number;
}

const SMALL_TILE: GemmTile = { m: 16, n: 16, k4: 4, threadM: 2, threadN: 4 };
const WIDE_TILE: GemmTile = { m: 32, n: 64, k4: 16, threadM: 4, threadN: 8 };

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 3],
  [5, 3, 1],
  [2, 5, 6],
  [17, 33, 65],
  [64, 64, 32],
  [65, 63, 31],
  [129, 67, 130],
  [3, 130, 770],
  [96, 200, 192],
];

function variantName(v: GemmI8Variant | undefined): string {
  if (!v) return '';
  if ('gemv' in v) return ` gemv ${v.gemv.rows}x${4 * v.gemv.columns}/${v.gemv.split}`;
  if ('matrix' in v) {
    const t = v.matrix;
    return ` ${v.emulate ? 'emulated ' : ''}matrix ${t.config.M}x${t.config.N}x${t.config.K} tiles ${t.tilesM}x${t.tilesN}x${t.kSteps}/${t.threads}`;
  }
  return ` tile ${v.m}x${v.n}x${v.k4}/${v.threadM}x${v.threadN}`;
}

/** Every case for one strategy: shapes x epilogues, extreme values, tiles, and attention layouts. */
export function gemmI8Cases(strategy: GemmI8Strategy): GemmI8Case[] {
  const cases: GemmI8Case[] = [];
  let seed = strategy === 'dot4' ? 1000 : 2000;
  const add = (c: Omit<GemmI8Case, 'strategy' | 'seed' | 'name'> & { name?: string }) => {
    const desc = `${c.M}x${c.N}x${c.K} ${c.values} ${c.output}${c.output === 'i8' ? `/${c.perChannel ? 'channel' : 'tensor'}/${c.requant}` : ''}${c.bias ? '+bias' : ''}${c.aUnsigned ? ' u8' : ''}${variantName(c.tile)}`;
    cases.push({ ...c, name: `${strategy} ${c.name ?? desc}`, strategy, seed: seed++ });
  };
  const base = {
    values: 'random' as ValuePattern,
    bias: true,
    perChannel: true,
    requant: 'typical' as RequantPattern,
    aUnsigned: false,
  };
  for (const [M, N, K] of SHAPES) {
    add({ ...base, M, N, K, output: 'i32' });
    add({ ...base, M, N, K, output: 'i8' });
  }
  for (const values of ['min', 'max', 'alternating'] as ValuePattern[]) {
    add({ ...base, M: 33, N: 20, K: 771, values, output: 'i32', bias: false });
    add({ ...base, M: 33, N: 20, K: 771, values, output: 'i8', requant: 'saturating' });
  }
  add({ ...base, M: 40, N: 36, K: 100, output: 'i8', requant: 'saturating' });
  add({ ...base, M: 40, N: 36, K: 100, output: 'i8', requant: 'extreme' });
  add({ ...base, M: 40, N: 36, K: 100, output: 'i8', perChannel: false });
  add({ ...base, M: 40, N: 36, K: 100, output: 'i8', perChannel: false, bias: false, requant: 'saturating' });
  add({ ...base, M: 31, N: 45, K: 77, output: 'i32', aUnsigned: true });
  add({ ...base, M: 31, N: 45, K: 77, output: 'i8', aUnsigned: true, values: 'max' });
  for (const tile of [SMALL_TILE, WIDE_TILE]) {
    add({ ...base, M: 37, N: 70, K: 199, output: 'i32', tile });
    add({ ...base, M: 37, N: 70, K: 199, output: 'i8', tile, aUnsigned: true });
  }
  // The GEMV variant (decoding, M <= 8): both adapters' shapes and every row bucket, rows beyond the
  // bucket (grid y > 1), N not a multiple of the workgroup's columns, K not a multiple of the split.
  for (const software of [false, true]) {
    for (const [M, N, K] of [
      [1, 1, 1],
      [1, 67, 771],
      [3, 130, 3072],
      [4, 65, 64],
      [7, 33, 258],
      [8, 257, 769],
      [11, 70, 100],
    ] as [number, number, number][]) {
      const tile = { gemv: gemvShapeFor(Math.min(M, 8), software) };
      add({ ...base, M, N, K, output: 'i32', tile });
      add({
        ...base,
        M,
        N,
        K,
        output: 'i8',
        tile,
        perChannel: M % 2 === 0,
        requant: M === 7 ? 'saturating' : 'typical',
      });
    }
    add({ ...base, M: 5, N: 45, K: 77, output: 'i32', aUnsigned: true, tile: { gemv: gemvShapeFor(5, software) } });
    add({
      ...base,
      M: 2,
      N: 45,
      K: 200,
      output: 'i8',
      aUnsigned: true,
      values: 'max',
      tile: { gemv: gemvShapeFor(2, software) },
    });
    add({
      ...base,
      M: 6,
      N: 20,
      K: 771,
      values: 'min',
      output: 'i32',
      bias: false,
      tile: { gemv: gemvShapeFor(6, software) },
    });
  }
  add({
    ...base,
    M: 1,
    N: 50,
    K: 40,
    output: 'i8',
    requant: 'extreme',
    tile: { gemv: { rows: 1, columns: 3, split: 2 } },
  });
  // Attention per (sequence, head): scores = Q_h . K_h^T, context_h = P_h . V_h.
  add({
    ...base,
    name: 'attention Q.K^T 2 seqs x 3 heads, seq 13, head dim 64',
    M: 13,
    N: 13,
    K: 64,
    output: 'i32',
    bias: false,
    attention: { kind: 'qk', batch: 2, heads: 3 },
  });
  add({
    ...base,
    name: 'attention P.V 2 seqs x 3 heads, seq 13, head dim 40',
    M: 13,
    N: 40,
    K: 13,
    output: 'i8',
    bias: false,
    perChannel: false,
    aUnsigned: true,
    attention: { kind: 'pv', batch: 2, heads: 3 },
  });
  add({
    ...base,
    name: 'attention P.V 2 seqs x 3 heads, one query (GEMV), head dim 40',
    M: 1,
    N: 40,
    K: 9,
    output: 'i8',
    bias: false,
    perChannel: false,
    aUnsigned: true,
    attention: { kind: 'pv', batch: 2, heads: 3 },
  });
  add({
    ...base,
    name: 'attention P.V 1 seq x 2 heads, seq 70, head dim 64',
    M: 70,
    N: 64,
    K: 70,
    output: 'i8',
    bias: false,
    perChannel: false,
    aUnsigned: true,
    values: 'max',
    attention: { kind: 'pv', batch: 1, heads: 2 },
  });
  return cases;
}

function fillValues(rng: Random, n: number, pattern: ValuePattern, unsigned: boolean): Int8Array | Uint8Array {
  const [lo, hi] = unsigned ? [0, 255] : [-128, 127];
  const out = unsigned ? new Uint8Array(n) : new Int8Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = pattern === 'random' ? rng.int(lo, hi) : pattern === 'min' ? lo : pattern === 'max' ? hi : i % 2 ? hi : lo;
  }
  return out;
}

function requantFor(rng: Random, c: GemmI8Case, count: number): Dyadic[] {
  // |acc| is about sqrt(K) * 2^13 for random data; 'typical' maps that near the int8 range.
  const typicalRatio = 100 / (Math.sqrt(c.K) * 5000 + 1);
  return Array.from({ length: count }, (_, i) => {
    if (c.requant === 'saturating') return toDyadic(typicalRatio * (20 + rng.next() * 100));
    if (c.requant === 'extreme') {
      const corners: Dyadic[] = [
        { m: 0x7fffffff, e: 63 },
        { m: 0x7fffffff, e: 31 },
        { m: 0x7fffffff, e: 32 },
        { m: 1, e: 0 },
        { m: 0, e: 5 },
        { m: 0x40000000, e: 45 },
        { m: 12345, e: 1 },
        { m: 0x7fffffff, e: 40 },
      ];
      return corners[i % corners.length];
    }
    return toDyadic(typicalRatio * (0.5 + rng.next()));
  });
}

/** Operands and expected output of a case, unpacked, per batch element. */
interface Prepared {
  batches: { a: Int8Array | Uint8Array; b: Int8Array }[];
  bias?: Int32Array;
  requant: Dyadic[];
}

function prepare(c: GemmI8Case): Prepared {
  const rng = new Random(c.seed);
  const count = c.attention ? c.attention.batch * c.attention.heads : 1;
  const batches = Array.from({ length: count }, () => ({
    a: fillValues(rng, c.M * c.K, c.values, c.aUnsigned),
    b: fillValues(rng, c.N * c.K, c.values === 'alternating' ? 'random' : c.values, false) as Int8Array,
  }));
  const bias = c.bias ? rng.int32Array(c.N, -(2 ** 20), 2 ** 20) : undefined;
  const requant = c.output === 'i8' ? requantFor(rng, c, c.perChannel ? c.N : 1) : [];
  return { batches, bias, requant };
}

/** Writes per-batch [rows, cols] matrices into a packed buffer at the layout's word offsets. */
function scatterPacked(
  mats: (Int8Array | Uint8Array)[],
  rows: number,
  cols: number,
  totalWords: number,
  offset: (batch: number) => number,
  rowStride: number,
): Uint32Array {
  const out = new Uint32Array(totalWords);
  mats.forEach((m, batch) => {
    const packed = packRows(m, rows, cols);
    const w = wordsPerRow(cols);
    for (let r = 0; r < rows; r++) out.set(packed.subarray(r * w, (r + 1) * w), offset(batch) + r * rowStride);
  });
  return out;
}

interface Layout {
  shape: GemmShape;
  aWords: Uint32Array;
  bWords: Uint32Array;
  cWords: number;
  /** Reads batch element z's [M, N] result out of C. */
  extract: (c: Uint32Array | Int32Array, z: number) => Int32Array | Int8Array;
}

function layout(c: GemmI8Case, p: Prepared): Layout {
  const { M, N, K } = c;
  if (!c.attention) {
    const shape: GemmShape = { M, N, K };
    const cRow = c.output === 'i8' ? wordsPerRow(N) : N;
    return {
      shape,
      aWords: packRows(p.batches[0].a, M, K),
      bWords: packRows(p.batches[0].b, N, K),
      cWords: M * cRow,
      extract: (out) =>
        c.output === 'i8'
          ? (unpackRows(new Uint32Array(out.buffer), M, N) as Int8Array)
          : new Int32Array(out.buffer, 0, M * N),
    };
  }
  const { batch, heads } = c.attention;
  if (c.attention.kind === 'qk') {
    // Q, K: [batch, seq, heads * D] packed; head h is words h*D/4 .. of each row. Scores: [batch, heads, S, S] i32.
    const D = K;
    const row = (heads * D) / 4;
    const off = (i: number) => Math.floor(i / heads) * M * row + (i % heads) * (D / 4);
    return {
      shape: {
        M,
        N,
        K,
        batchOuter: batch,
        batchInner: heads,
        aRow: row,
        bRow: row,
        aInner: D / 4,
        bInner: D / 4,
        aOuter: M * row,
        bOuter: N * row,
      },
      aWords: scatterPacked(
        p.batches.map((x) => x.a),
        M,
        K,
        batch * M * row,
        off,
        row,
      ),
      bWords: scatterPacked(
        p.batches.map((x) => x.b),
        N,
        K,
        batch * N * row,
        off,
        row,
      ),
      cWords: batch * heads * M * N,
      extract: (out, i) => new Int32Array(out.buffer, i * M * N * 4, M * N),
    };
  }
  // P: [batch, heads, S, S] uint8 packed along keys; V^T: [batch, heads, D, S] packed along S;
  // context: [batch, S, heads * D] int8 packed, head h at words h*D/4.
  const D = N;
  const kRow = wordsPerRow(K);
  const cRow = (heads * D) / 4;
  return {
    shape: { M, N, K, batchOuter: batch, batchInner: heads, cRow, cInner: D / 4, cOuter: M * cRow },
    aWords: scatterPacked(
      p.batches.map((x) => x.a),
      M,
      K,
      batch * heads * M * kRow,
      (i) => i * M * kRow,
      kRow,
    ),
    bWords: scatterPacked(
      p.batches.map((x) => x.b),
      N,
      K,
      batch * heads * N * kRow,
      (i) => i * N * kRow,
      kRow,
    ),
    cWords: batch * M * cRow,
    extract: (out, i) => {
      const all = unpackRows(new Uint32Array(out.buffer), batch * M, heads * D) as Int8Array;
      const b = Math.floor(i / heads);
      const h = i % heads;
      const res = new Int8Array(M * N);
      for (let r = 0; r < M; r++)
        res.set(all.subarray((b * M + r) * heads * D + h * D, (b * M + r) * heads * D + h * D + D), r * N);
      return res;
    },
  };
}

export async function runGemmI8Case(gpu: Gpu, c: GemmI8Case): Promise<CheckResult> {
  const p = prepare(c);
  const l = layout(c, p);
  const buffers = {
    a: gpu.storage('a', l.aWords),
    b: gpu.storage('b', l.bWords),
    bias: p.bias ? gpu.storage('bias', p.bias) : undefined,
    requant: c.output === 'i8' ? gpu.storage('requant', packRequant(p.requant)) : undefined,
    c: gpu.storage('c', l.cWords * 4),
  };
  const biasMax = p.bias ? Math.max(...Array.from(p.bias, Math.abs)) : 0;
  try {
    const program = await bindGemmI8(
      gpu,
      {
        strategy: c.strategy,
        output: c.output,
        perChannel: c.perChannel,
        bias: c.bias,
        aUnsigned: c.aUnsigned,
        tile: c.tile,
      },
      l.shape,
      buffers,
      biasMax,
    );
    submitPrograms(gpu, [program]);
    const raw = await gpu.read(buffers.c);
    program.destroy();
    const out = c.output === 'i8' ? new Uint32Array(raw) : new Int32Array(raw);
    let mismatches = 0;
    let elements = 0;
    let firstMismatch: string | undefined;
    p.batches.forEach((batch, z) => {
      const acc = gemmI8Ref({ a: batch.a, b: batch.b, bias: p.bias, M: c.M, N: c.N, K: c.K });
      const want = c.output === 'i8' ? requantizeRef(acc, c.M, c.N, p.requant) : acc;
      const got = l.extract(out, z);
      for (let i = 0; i < want.length; i++) {
        elements++;
        if (got[i] !== want[i]) {
          mismatches++;
          firstMismatch ??= `batch ${z} row ${Math.floor(i / c.N)} col ${i % c.N}: got ${got[i]}, want ${want[i]}`;
        }
      }
    });
    return { name: c.name, elements, mismatches, firstMismatch };
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'INT8 GEMM',
  cases: () =>
    (['unpack', 'dot4'] as const)
      .flatMap((s) => gemmI8Cases(s))
      .map((c) => ({ name: c.name, run: (gpu) => runGemmI8Case(gpu, c) })),
};
