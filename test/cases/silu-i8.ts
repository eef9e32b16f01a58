/**
 * i-SiLU cases checked bit for bit against the CPU reference, with accuracy against float64
 * x sigmoid(x): the fixed-point intermediate (through a probe shader), the standalone kernel, and
 * the INT8 GEMM's fused 'silu-i8' epilogue (tiles and the few-row GEMV) for both inner-product
 * strategies. Shared by Node and the browser page.
 */

import { dyadicWgsl } from '../../shaders/dyadic.js';
import { isiluWgsl } from '../../shaders/silu-i8.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { bindProgram, submitPrograms } from '../../src/gpu/program.js';
import { bindGemmI8, type GemmI8Strategy, type GemmTile, packRequant } from '../../src/kernels/gemm-i8.js';
import { bindSiluI8, uploadSiluI8Constants } from '../../src/kernels/silu-i8.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import type { Dyadic } from '../../src/reference/dyadic.js';
import { gemmI8Ref } from '../../src/reference/gemm-i8.js';
import {
  deriveSiluI8Constants,
  isilu,
  isiluFixed,
  isiluRef,
  packSiluI8Constants,
  SILU_CLIP,
  SILU_FIXED_ERROR_BOUND,
  SILU_FIXED_MEAN_BOUND,
  SILU_FRAC_BITS,
  siluExact,
  siluInputRescale,
  siluOutputErrorSteps,
} from '../../src/reference/silu-i8.js';
import { Random } from '../../src/util/random.js';
import { type AccuracyReport, type CheckResult, type CheckSuite, compareExact } from './suite.js';

/** Mean |error| of the int8 output in output steps (measured at most 0.276 over whole ranges). */
export const SILU_OUTPUT_MEAN_BOUND = 0.3;

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

/** |out - SiLU(x) / S_out| in output steps, against SiLU clipped to the int8 range. */
function outputAccuracy(out: ArrayLike<number>, x: (i: number) => number, sOut: number): AccuracyReport {
  let maxAbs = 0;
  let sum = 0;
  for (let i = 0; i < out.length; i++) {
    const want = Math.min(127, Math.max(-128, siluExact(x(i)) / sOut));
    const e = Math.abs(out[i] - want);
    maxAbs = Math.max(maxAbs, e);
    sum += e;
  }
  return {
    unit: 'output steps',
    maxAbs,
    meanAbs: sum / Math.max(1, out.length),
    maxBound: siluOutputErrorSteps(sOut),
    meanBound: SILU_OUTPUT_MEAN_BOUND,
  };
}

/** Packing lanes past cols must be zero: count rows with nonzero padding bytes as mismatches. */
function withPadding(r: CheckResult, words: Uint32Array, rows: number, cols: number): CheckResult {
  const w = wordsPerRow(cols);
  const used = cols % 4;
  if (used === 0) return r;
  let bad = 0;
  for (let row = 0; row < rows; row++) if (words[row * w + w - 1] >>> (8 * used) !== 0) bad++;
  if (bad) {
    r.mismatches += bad;
    r.firstMismatch ??= `${bad} rows with nonzero padding lanes`;
  }
  return r;
}

// ---------------------------------------------------------------- fixed-point intermediate

const PROBE = `
${dyadicWgsl()}
${isiluWgsl()}
struct Probe { q: i32, m: u32, e: u32 }
@group(0) @binding(0) var<storage, read> probes: array<Probe>;
@group(0) @binding(1) var<storage, read> silu: SiluI8;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<i32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.y * 65535u * 64u + id.x;
  if (i >= arrayLength(&probes)) { return; }
  let p = probes[i];
  let rq = vec2<u32>(p.m, p.e);
  out[i] = vec2<i32>(isilu_fixed(p.q, rq, silu), isilu(p.q, rq, silu));
}`;

/** Accumulators at the fixed-point scale itself (S_in = 2^-15) around every boundary of the pipeline. */
function edgeAccumulators(): number[] {
  const out = [0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, -INT32_MAX, INT32_MAX - 1, 2 ** 30, -(2 ** 30)];
  for (const v of [SILU_CLIP, 22713, 2 * 22713, 23 * 22713, 2 ** 18, 32768, 41943, 63242])
    for (const d of [-1, 0, 1]) out.push(v + d, -(v + d));
  return out;
}

/**
 * isilu_fixed and isilu on every fixed-point x in [-20, 20] (step 2^-15 * 3), on grids at other
 * accumulator scales, and on edge values: bit-exact against the reference, and the fixed-point
 * SiLU within SILU_FIXED_ERROR_BOUND of float64 SiLU.
 */
export async function runSiluProbe(gpu: Gpu): Promise<CheckResult> {
  const constants = deriveSiluI8Constants(1e-4, 8 / 127);
  const rows: number[] = [];
  const xs: number[] = [];
  const grids: [number, number, number][] = [
    [2 ** -SILU_FRAC_BITS, 20, 3],
    [1e-5, 8, 7],
    [1e-3, 20, 1],
    [3.3e-4, 20, 1],
    [0.05, 20, 1],
  ];
  for (const [sIn, range, step] of grids) {
    const d = siluInputRescale(sIn);
    const lim = Math.floor(range / sIn);
    for (let q = -lim; q <= lim; q += step) {
      rows.push(q, d.m, d.e);
      xs.push(q * sIn);
    }
  }
  const measured = xs.length;
  const unit = siluInputRescale(2 ** -SILU_FRAC_BITS);
  for (const q of edgeAccumulators()) {
    rows.push(q, unit.m, unit.e);
    xs.push(q * 2 ** -SILU_FRAC_BITS);
  }
  const probes = Int32Array.from(rows);
  const n = xs.length;
  const inBuf = gpu.storage('silu.probes', probes);
  const sBuf = gpu.storage('silu.constants', packSiluI8Constants(constants));
  const outBuf = gpu.storage('silu.out', n * 8);
  try {
    const groups = Math.ceil(n / 64);
    const program = await bindProgram(
      gpu,
      {
        name: 'silu-probe',
        key: 'silu-probe',
        code: PROBE,
        workgroups: [Math.min(groups, 65535), Math.ceil(groups / 65535), 1],
      },
      [inBuf, sBuf, outBuf],
    );
    submitPrograms(gpu, [program]);
    const got = new Int32Array(await gpu.read(outBuf));
    const want = new Int32Array(2 * n);
    let maxAbs = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const input: Dyadic = { m: probes[3 * i + 1], e: probes[3 * i + 2] };
      const g = isiluFixed(probes[3 * i], input, constants);
      want[2 * i] = g;
      want[2 * i + 1] = isilu(probes[3 * i], input, constants);
      if (i < measured) {
        const e = Math.abs(g * 2 ** -SILU_FRAC_BITS - siluExact(xs[i]));
        maxAbs = Math.max(maxAbs, e);
        sum += e;
      }
    }
    const r = compareExact(
      `fixed-point SiLU on [-20, 20], ${grids.length} scales, edges`,
      got,
      want,
      (i) => `acc ${probes[3 * (i >> 1)]} x = ${xs[i >> 1]} (${i & 1 ? 'int8' : 'fixed'})`,
    );
    r.accuracy = {
      unit: 'real (fixed-point SiLU vs float64)',
      maxAbs,
      meanAbs: sum / measured,
      maxBound: SILU_FIXED_ERROR_BOUND,
      meanBound: SILU_FIXED_MEAN_BOUND,
    };
    return r;
  } finally {
    inBuf.destroy();
    sBuf.destroy();
    outBuf.destroy();
  }
}

// ---------------------------------------------------------------- standalone kernel

export interface SiluCase {
  name: string;
  rows: number;
  cols: number;
  pattern: 'realistic' | 'extreme' | 'zeros';
  /** Accumulator scale; per column a log-uniform draw in [sIn / 10, sIn * 10] when perChannel. */
  sIn: number;
  sOut: number;
  perChannel: boolean;
  seed: number;
}

const EXTREMES = [
  INT32_MAX,
  INT32_MIN,
  -INT32_MAX,
  0,
  1,
  -1,
  2 ** 24,
  -(2 ** 24),
  2 ** 30,
  -(2 ** 30),
  SILU_CLIP,
  -SILU_CLIP,
  2 ** 16,
  -(2 ** 16),
];

function channelScales(rng: Random, c: { sIn: number; perChannel: boolean }, cols: number): number[] {
  return Array.from({ length: cols }, () => (c.perChannel ? c.sIn * 10 ** (2 * rng.next() - 1) : c.sIn));
}

function siluInputs(c: SiluCase): { acc: Int32Array; scales: number[] } {
  const rng = new Random(c.seed);
  const scales = channelScales(rng, c, c.cols);
  const acc = new Int32Array(c.rows * c.cols);
  for (let i = 0; i < acc.length; i++) {
    const s = scales[i % c.cols];
    // x in [-10, 10]: SiLU's whole curved part and beyond.
    if (c.pattern === 'realistic') acc[i] = Math.round((rng.next() * 20 - 10) / s);
    else if (c.pattern === 'extreme')
      acc[i] = i % 3 === 2 ? rng.int(INT32_MIN, INT32_MAX) : EXTREMES[(i + c.seed) % EXTREMES.length];
  }
  return { acc, scales };
}

export function siluCases(): SiluCase[] {
  const cases: SiluCase[] = [];
  let seed = 6000;
  const add = (c: Omit<SiluCase, 'name' | 'seed'>) =>
    cases.push({
      ...c,
      seed: seed++,
      name: `${c.rows}x${c.cols} ${c.pattern} S_in ${c.sIn.toExponential(0)}${c.perChannel ? '/channel' : ''} S_out ${c.sOut.toPrecision(3)}`,
    });
  const sIns = [1e-5, 1e-4, 1e-3];
  const sOuts = [4 / 127, 8 / 127, 16 / 127];
  [192, 200, 512, 2048, 1, 3, 13].forEach((cols, i) => {
    add({
      rows: cols < 64 ? 37 : 5,
      cols,
      pattern: 'realistic',
      sIn: sIns[i % 3],
      sOut: sOuts[i % 3],
      perChannel: i % 2 === 1,
    });
  });
  add({ rows: 70, cols: 200, pattern: 'realistic', sIn: 3e-5, sOut: 2 / 127, perChannel: false });
  for (const sIn of [1e-9, 2 ** -SILU_FRAC_BITS, 1e-3, 1])
    add({ rows: 5, cols: 13, pattern: 'extreme', sIn, sOut: 8 / 127, perChannel: false });
  add({ rows: 4, cols: 197, pattern: 'extreme', sIn: 1e-4, sOut: 4 / 127, perChannel: true });
  add({ rows: 3, cols: 5, pattern: 'zeros', sIn: 1e-4, sOut: 8 / 127, perChannel: false });
  return cases;
}

export async function runSiluCase(gpu: Gpu, c: SiluCase): Promise<CheckResult> {
  const { acc, scales } = siluInputs(c);
  const constants = deriveSiluI8Constants(c.sIn, c.sOut);
  const requant = c.perChannel ? scales.map((s) => siluInputRescale(s)) : undefined;
  const words = c.rows * wordsPerRow(c.cols);
  const buffers = {
    x: gpu.storage('silu.x', acc),
    requant: requant ? gpu.storage('silu.requant', packRequant(requant)) : undefined,
    silu: uploadSiluI8Constants(gpu, constants),
    y: gpu.storage('silu.y', words * 4),
  };
  try {
    // Poison the output so that a lane the kernel fails to write cannot pass as zero.
    gpu.write(buffers.y, new Uint32Array(words).fill(0xdeadbeef));
    const program = await bindSiluI8(gpu, { perChannel: c.perChannel }, { rows: c.rows, cols: c.cols }, buffers);
    submitPrograms(gpu, [program]);
    const raw = new Uint32Array(await gpu.read(buffers.y));
    program.destroy();
    const got = unpackRows(raw, c.rows, c.cols) as Int8Array;
    const want = isiluRef(acc, c.rows, c.cols, constants, requant);
    const r = withPadding(
      compareExact(c.name, got, want, (i) => `row ${Math.floor(i / c.cols)} col ${i % c.cols} (acc ${acc[i]})`),
      raw,
      c.rows,
      c.cols,
    );
    r.accuracy = outputAccuracy(got, (i) => acc[i] * scales[i % c.cols], c.sOut);
    return r;
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

// ---------------------------------------------------------------- fused GEMM epilogue

export interface FusedSiluCase {
  name: string;
  M: number;
  N: number;
  K: number;
  values: 'random' | 'max' | 'min';
  bias: boolean;
  perChannel: boolean;
  strategy: GemmI8Strategy;
  /** Absent: the wrapper's picker, i.e. the GEMV variant for M <= 8. */
  tile?: GemmTile;
  /** S_in relative to the one that puts 3 standard deviations of a random accumulator at x = 6. */
  sInFactor: number;
  sOut: number;
  seed: number;
}

// Small per-thread tiles: SwiftShader's compile time grows steeply with the unrolled epilogue.
const SMALL_TILE: GemmTile = { m: 32, n: 32, k4: 8, threadM: 2, threadN: 4 };
const WIDE_TILE: GemmTile = { m: 8, n: 64, k4: 8, threadM: 1, threadN: 8 };

export function fusedSiluCases(strategy: GemmI8Strategy): FusedSiluCase[] {
  const cases: FusedSiluCase[] = [];
  let seed = strategy === 'dot4' ? 7000 : 8000;
  const add = (c: Omit<FusedSiluCase, 'name' | 'seed' | 'strategy'>) =>
    cases.push({
      ...c,
      strategy,
      seed: seed++,
      name: `${strategy} gemm+silu ${c.M}x${c.N}x${c.K} ${c.values}${c.bias ? '+bias' : ''}${c.perChannel ? '/channel' : '/tensor'}${c.tile ? ` tile ${c.tile.m}x${c.tile.n}/${c.tile.threadM}x${c.tile.threadN}` : ' gemv'}`,
    });
  // Three pipelines per strategy (compiling is most of the time on SwiftShader): per-channel input
  // rescales with bias, per tensor without, 4 and 8 columns per thread, and the GEMV variant.
  const a = { values: 'random' as const, bias: true, perChannel: true, sInFactor: 1, sOut: 8 / 127, tile: SMALL_TILE };
  const b = { ...a, bias: false, perChannel: false, tile: WIDE_TILE };
  [192, 200, 512, 1, 3, 13].forEach((N, i) =>
    add({
      ...(i % 3 === 2 ? b : a),
      M: N < 64 ? 21 : 9,
      N,
      K: [64, 100, 16, 200][i % 4],
      sOut: [4, 8, 16][i % 3] / 127,
    }),
  );
  add({ ...b, M: 37, N: 70, K: 130 });
  // Decoding rows: the picker's GEMV (4-row bucket), per channel with bias.
  add({ ...a, tile: undefined, M: 3, N: 133, K: 96 });
  add({ ...a, tile: undefined, M: 4, N: 64, K: 512, sOut: 2 / 127 });
  // |acc| up to 2^26 (4096 * 2^14): saturating far beyond the int8 range, positive and negative.
  add({ ...a, M: 3, N: 9, K: 4096, values: 'max', sInFactor: 1000 });
  add({ ...b, M: 3, N: 9, K: 4096, values: 'min', sInFactor: 30 });
  return cases;
}

function fill(rng: Random, n: number, values: FusedSiluCase['values'], sign: number): Int8Array {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++)
    out[i] = values === 'random' ? rng.int(-128, 127) : values === 'max' ? 127 : sign > 0 ? 127 : -128;
  return out;
}

export async function runFusedSiluCase(gpu: Gpu, c: FusedSiluCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const { M, N, K } = c;
  const a = fill(rng, M * K, c.values, -1);
  const b = fill(rng, N * K, c.values, 1);
  // Random int8 products have standard deviation ~ sqrt(K) * 5400; aim x = acc * S_in at +-6.
  const std = Math.sqrt(K) * 5400;
  const bias = c.bias ? rng.int32Array(N, -Math.round(std), Math.round(std)) : undefined;
  const sIn = (2 / std) * c.sInFactor;
  const scales = channelScales(rng, { sIn, perChannel: c.perChannel }, N);
  const constants = deriveSiluI8Constants(sIn, c.sOut);
  const requant = c.perChannel ? scales.map((s) => siluInputRescale(s)) : undefined;
  const cWords = M * wordsPerRow(N);
  const buffers = {
    a: gpu.storage('a', packRows(a, M, K)),
    b: gpu.storage('b', packRows(b, N, K)),
    bias: bias ? gpu.storage('bias', bias) : undefined,
    requant: requant ? gpu.storage('requant', packRequant(requant)) : undefined,
    silu: uploadSiluI8Constants(gpu, constants),
    c: gpu.storage('c', cWords * 4),
  };
  const biasMax = bias ? Math.max(...Array.from(bias, Math.abs)) : 0;
  try {
    gpu.write(buffers.c, new Uint32Array(cWords).fill(0xdeadbeef));
    const program = await bindGemmI8(
      gpu,
      {
        strategy: c.strategy,
        output: 'silu-i8',
        perChannel: c.perChannel,
        bias: c.bias,
        aUnsigned: false,
        tile: c.tile,
      },
      { M, N, K },
      buffers,
      biasMax,
    );
    submitPrograms(gpu, [program]);
    const raw = new Uint32Array(await gpu.read(buffers.c));
    program.destroy();
    const got = unpackRows(raw, M, N) as Int8Array;
    const acc = gemmI8Ref({ a, b, bias, M, N, K });
    const want = isiluRef(acc, M, N, constants, requant);
    const r = withPadding(
      compareExact(c.name, got, want, (i) => `row ${Math.floor(i / N)} col ${i % N} (acc ${acc[i]})`),
      raw,
      M,
      N,
    );
    r.accuracy = outputAccuracy(got, (i) => acc[i] * scales[i % N], c.sOut);
    return r;
  } finally {
    for (const buf of Object.values(buffers)) buf?.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'i-SiLU',
  cases: () => [
    { name: 'fixed-point SiLU probe on [-20, 20]', run: runSiluProbe },
    ...siluCases().map((c) => ({ name: `standalone ${c.name}`, run: (gpu: Gpu) => runSiluCase(gpu, c) })),
    ...(['unpack', 'dot4'] as const)
      .flatMap((s) => fusedSiluCases(s))
      .map((c) => ({ name: c.name, run: (gpu: Gpu) => runFusedSiluCase(gpu, c) })),
  ],
};
