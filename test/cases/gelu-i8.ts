/**
 * i-GELU cases checked bit for bit against the CPU reference, with accuracy against exact GELU:
 * the standalone kernel, the fixed-point intermediate (through a probe shader), and the INT8 GEMM's
 * fused 'gelu-i8' epilogue for both inner-product strategies. Shared by Node and the browser page.
 */

import { dyadicWgsl } from '../../shaders/dyadic.js';
import { igeluWgsl } from '../../shaders/gelu-i8.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { bindProgram, submitPrograms } from '../../src/gpu/program.js';
import { bindGeluI8, uploadGeluI8Constants } from '../../src/kernels/gelu-i8.js';
import { bindGemmI8, type GemmI8Strategy, type GemmTile, packRequant } from '../../src/kernels/gemm-i8.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import type { Dyadic } from '../../src/reference/dyadic.js';
import {
  deriveGeluI8Constants,
  GELU_FRAC_BITS,
  geluExact,
  geluInputRescale,
  igelu,
  igeluFixed,
  igeluRef,
  packGeluI8Constants,
} from '../../src/reference/gelu-i8.js';
import { gemmI8Ref } from '../../src/reference/gemm-i8.js';
import { Random } from '../../src/util/random.js';
import type { AccuracyReport, CheckResult, CheckSuite } from './suite.js';

/** I-BERT's polynomial is 0.0182 from GELU on [-4, 4]; integer rounding adds ~1e-4. */
export const GELU_POLY_ERROR_BOUND = 0.02;
/** Mean |error| of the fixed-point GELU on [-4, 4] (measured 0.00647). */
export const GELU_POLY_MEAN_BOUND = 0.0075;
/** Mean |error| of the int8 output in output steps (measured below 0.3 on these cases). */
export const GELU_OUTPUT_MEAN_BOUND = 0.4;

const INT32_MAX = 2 ** 31 - 1;
const INT32_MIN = -(2 ** 31);

/** Final int8 output: one output step (0.5 rounding + slack) plus the polynomial error in steps. */
function outputMaxBound(sOut: number): number {
  return 1 + GELU_POLY_ERROR_BOUND / sOut;
}

/** |out - GELU(x) / S_out| in output steps, against GELU clipped to the int8 range. */
function outputAccuracy(out: ArrayLike<number>, x: (i: number) => number, sOut: number): AccuracyReport {
  let maxAbs = 0;
  let sum = 0;
  for (let i = 0; i < out.length; i++) {
    const want = Math.min(127, Math.max(-128, geluExact(x(i)) / sOut));
    const e = Math.abs(out[i] - want);
    maxAbs = Math.max(maxAbs, e);
    sum += e;
  }
  return {
    unit: 'output steps',
    maxAbs,
    meanAbs: sum / Math.max(1, out.length),
    maxBound: outputMaxBound(sOut),
    meanBound: GELU_OUTPUT_MEAN_BOUND,
  };
}

function compare(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  describe: (i: number) => string,
): CheckResult {
  let mismatches = 0;
  let firstMismatch: string | undefined;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      mismatches++;
      firstMismatch ??= `${describe(i)}: got ${got[i]}, want ${want[i]}`;
    }
  }
  return { name, elements: want.length, mismatches, firstMismatch };
}

/** Packing lanes past cols must be zero: count nonzero padding bytes as mismatches. */
function paddingMismatches(words: Uint32Array, rows: number, cols: number): number {
  const w = wordsPerRow(cols);
  const used = cols % 4;
  if (used === 0) return 0;
  let bad = 0;
  for (let r = 0; r < rows; r++) if (words[r * w + w - 1] >>> (8 * used) !== 0) bad++;
  return bad;
}

// ---------------------------------------------------------------- standalone kernel

export type InputPattern = 'realistic' | 'extreme' | 'zeros';

export interface GeluCase {
  name: string;
  rows: number;
  cols: number;
  pattern: InputPattern;
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
  46341,
  -46341,
  2 ** 16,
  -(2 ** 16),
];

function channelScales(rng: Random, c: { sIn: number; perChannel: boolean }, cols: number): number[] {
  return Array.from({ length: cols }, () => (c.perChannel ? c.sIn * 10 ** (2 * rng.next() - 1) : c.sIn));
}

function geluInputs(c: GeluCase): { acc: Int32Array; scales: number[] } {
  const rng = new Random(c.seed);
  const scales = channelScales(rng, c, c.cols);
  const acc = new Int32Array(c.rows * c.cols);
  for (let i = 0; i < acc.length; i++) {
    const s = scales[i % c.cols];
    if (c.pattern === 'realistic') acc[i] = Math.round((rng.next() * 12 - 6) / s);
    else if (c.pattern === 'extreme')
      acc[i] = i % 3 === 2 ? rng.int(INT32_MIN, INT32_MAX) : EXTREMES[(i + c.seed) % EXTREMES.length];
  }
  return { acc, scales };
}

export function geluCases(): GeluCase[] {
  const cases: GeluCase[] = [];
  let seed = 3000;
  const add = (c: Omit<GeluCase, 'name' | 'seed'>) =>
    cases.push({
      ...c,
      seed: seed++,
      name: `${c.rows}x${c.cols} ${c.pattern} S_in ${c.sIn.toExponential(0)}${c.perChannel ? '/channel' : ''} S_out ${c.sOut.toPrecision(3)}`,
    });
  const sIns = [1e-5, 1e-4, 1e-3];
  const sOuts = [4 / 127, 8 / 127, 16 / 127];
  [192, 200, 384, 768, 1024, 1, 3, 13].forEach((cols, i) => {
    add({
      rows: cols < 64 ? 37 : 9,
      cols,
      pattern: 'realistic',
      sIn: sIns[i % 3],
      sOut: sOuts[i % 3],
      perChannel: i % 2 === 1,
    });
  });
  add({ rows: 70, cols: 200, pattern: 'realistic', sIn: 3e-5, sOut: 6 / 127, perChannel: false });
  for (const sIn of [1e-9, 1e-5, 1e-3, 1])
    add({ rows: 5, cols: 13, pattern: 'extreme', sIn, sOut: 8 / 127, perChannel: false });
  add({ rows: 4, cols: 197, pattern: 'extreme', sIn: 1e-4, sOut: 4 / 127, perChannel: true });
  add({ rows: 3, cols: 5, pattern: 'zeros', sIn: 1e-4, sOut: 8 / 127, perChannel: false });
  return cases;
}

export async function runGeluCase(gpu: Gpu, c: GeluCase): Promise<CheckResult> {
  const { acc, scales } = geluInputs(c);
  const constants = deriveGeluI8Constants(c.sIn, c.sOut);
  const requant = c.perChannel ? scales.map((s) => geluInputRescale(s)) : undefined;
  const words = c.rows * wordsPerRow(c.cols);
  const buffers = {
    x: gpu.storage('gelu.x', acc),
    requant: requant ? gpu.storage('gelu.requant', packRequant(requant)) : undefined,
    gelu: uploadGeluI8Constants(gpu, constants),
    y: gpu.storage('gelu.y', words * 4),
  };
  try {
    // Poison the output so that a lane the kernel fails to write cannot pass as zero.
    gpu.write(buffers.y, new Uint32Array(words).fill(0xdeadbeef));
    const program = await bindGeluI8(gpu, { perChannel: c.perChannel }, { rows: c.rows, cols: c.cols }, buffers);
    submitPrograms(gpu, [program]);
    const raw = new Uint32Array(await gpu.read(buffers.y));
    program.destroy();
    const got = unpackRows(raw, c.rows, c.cols) as Int8Array;
    const want = igeluRef(acc, c.rows, c.cols, constants, requant);
    const r = compare(c.name, got, want, (i) => `row ${Math.floor(i / c.cols)} col ${i % c.cols} (acc ${acc[i]})`);
    const pad = paddingMismatches(raw, c.rows, c.cols);
    if (pad) {
      r.mismatches += pad;
      r.firstMismatch ??= `${pad} rows with nonzero padding lanes`;
    }
    r.accuracy = outputAccuracy(got, (i) => acc[i] * scales[i % c.cols], c.sOut);
    return r;
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

// ---------------------------------------------------------------- fixed-point intermediate

const PROBE = `
${dyadicWgsl()}
${igeluWgsl()}
struct Probe { q: i32, m: u32, e: u32 }
@group(0) @binding(0) var<storage, read> probes: array<Probe>;
@group(0) @binding(1) var<storage, read> gelu: GeluI8;
@group(0) @binding(2) var<storage, read_write> out: array<vec2<i32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= arrayLength(&probes)) { return; }
  let p = probes[id.x];
  let rq = vec2<u32>(p.m, p.e);
  out[id.x] = vec2<i32>(igelu_fixed(p.q, rq, gelu), igelu(p.q, rq, gelu));
}`;

/**
 * igelu_fixed and igelu on a dense grid of x in [-4, 4] at several accumulator scales: bit-exact
 * against the reference, and the fixed-point GELU within GELU_POLY_ERROR_BOUND of exact GELU.
 */
export async function runGeluProbe(gpu: Gpu): Promise<CheckResult> {
  const sOut = 8 / 127;
  const constants = deriveGeluI8Constants(1e-4, sOut);
  const rows: number[] = [];
  const xs: number[] = [];
  for (const [sIn, step] of [
    [1e-5, 7],
    [1e-4, 1],
    [1e-3, 1],
    [2 ** -GELU_FRAC_BITS, 1],
    [3.3e-4, 1],
  ] as const) {
    const d = geluInputRescale(sIn);
    const lim = Math.floor(4 / sIn);
    for (let q = -lim; q <= lim; q += step) {
      rows.push(q, d.m, d.e);
      xs.push(q * sIn);
    }
  }
  const probes = Int32Array.from(rows);
  const n = xs.length;
  const inBuf = gpu.storage('gelu.probes', probes);
  const gBuf = gpu.storage('gelu.constants', packGeluI8Constants(constants));
  const outBuf = gpu.storage('gelu.out', n * 8);
  try {
    const program = await bindProgram(
      gpu,
      { name: 'gelu-probe', key: 'gelu-probe', code: PROBE, workgroups: [Math.ceil(n / 64), 1, 1] },
      [inBuf, gBuf, outBuf],
    );
    submitPrograms(gpu, [program]);
    const got = new Int32Array(await gpu.read(outBuf));
    const want = new Int32Array(2 * n);
    let maxAbs = 0;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const input: Dyadic = { m: probes[3 * i + 1], e: probes[3 * i + 2] };
      const g = igeluFixed(probes[3 * i], input, constants);
      want[2 * i] = g;
      want[2 * i + 1] = igelu(probes[3 * i], input, constants);
      const e = Math.abs(g * 2 ** -GELU_FRAC_BITS - geluExact(xs[i]));
      maxAbs = Math.max(maxAbs, e);
      sum += e;
    }
    const r = compare(
      'fixed-point GELU on [-4, 4], 5 scales',
      got,
      want,
      (i) => `x = ${xs[i >> 1]} (${i & 1 ? 'int8' : 'fixed'})`,
    );
    r.accuracy = {
      unit: 'real (fixed-point GELU vs exact)',
      maxAbs,
      meanAbs: sum / n,
      maxBound: GELU_POLY_ERROR_BOUND,
      meanBound: GELU_POLY_MEAN_BOUND,
    };
    return r;
  } finally {
    inBuf.destroy();
    gBuf.destroy();
    outBuf.destroy();
  }
}

// ---------------------------------------------------------------- fused GEMM epilogue

export interface FusedCase {
  name: string;
  M: number;
  N: number;
  K: number;
  values: 'random' | 'max' | 'min';
  bias: boolean;
  perChannel: boolean;
  strategy: GemmI8Strategy;
  tile?: GemmTile;
  /** S_in relative to the one that puts 3 standard deviations of a random accumulator at x = 6. */
  sInFactor: number;
  sOut: number;
  seed: number;
}

// Small per-thread tiles: SwiftShader's compile time grows steeply with the unrolled epilogue.
const SMALL_TILE: GemmTile = { m: 32, n: 32, k4: 8, threadM: 2, threadN: 4 };
const WIDE_TILE: GemmTile = { m: 8, n: 64, k4: 8, threadM: 1, threadN: 8 };

export function fusedCases(strategy: GemmI8Strategy): FusedCase[] {
  const cases: FusedCase[] = [];
  let seed = strategy === 'dot4' ? 4000 : 5000;
  const add = (c: Omit<FusedCase, 'name' | 'seed' | 'strategy'>) =>
    cases.push({
      ...c,
      strategy,
      seed: seed++,
      name: `${strategy} gemm+gelu ${c.M}x${c.N}x${c.K} ${c.values}${c.bias ? '+bias' : ''}${c.perChannel ? '/channel' : '/tensor'}${c.tile ? ` tile ${c.tile.m}x${c.tile.n}/${c.tile.threadM}x${c.tile.threadN}` : ''}`,
    });
  // Two pipelines per strategy (compiling is most of the time on SwiftShader), covering per-channel
  // and per-tensor input rescales, with and without bias, 4 and 8 columns per thread.
  const a = { values: 'random' as const, bias: true, perChannel: true, sInFactor: 1, sOut: 8 / 127, tile: SMALL_TILE };
  const b = { ...a, bias: false, perChannel: false, tile: WIDE_TILE };
  [192, 200, 384, 768, 1024, 1, 3, 13].forEach((N, i) =>
    add({
      ...(i % 3 === 2 ? b : a),
      M: N < 64 ? 21 : 5,
      N,
      K: [64, 100, 16, 200][i % 4],
      sOut: [4, 8, 16][i % 3] / 127,
    }),
  );
  add({ ...a, M: 37, N: 70, K: 130 });
  add({ ...b, M: 37, N: 70, K: 130 });
  // |acc| up to 2^26 (4096 * 2^14): saturating far beyond the int8 range, positive and negative.
  add({ ...a, M: 3, N: 9, K: 4096, values: 'max', sInFactor: 1000 });
  add({ ...b, M: 3, N: 9, K: 4096, values: 'min', sInFactor: 30 });
  return cases;
}

function fill(rng: Random, n: number, values: FusedCase['values'], sign: number): Int8Array {
  const out = new Int8Array(n);
  for (let i = 0; i < n; i++)
    out[i] = values === 'random' ? rng.int(-128, 127) : values === 'max' ? 127 : sign > 0 ? 127 : -128;
  return out;
}

export async function runFusedCase(gpu: Gpu, c: FusedCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const { M, N, K } = c;
  const a = fill(rng, M * K, c.values, -1);
  const b = fill(rng, N * K, c.values, 1);
  // Random int8 products have standard deviation ~ sqrt(K) * 5400; aim x = acc * S_in at +-6.
  const std = Math.sqrt(K) * 5400;
  const bias = c.bias ? rng.int32Array(N, -Math.round(std), Math.round(std)) : undefined;
  const sIn = (2 / std) * c.sInFactor;
  const scales = channelScales(rng, { sIn, perChannel: c.perChannel }, N);
  const constants = deriveGeluI8Constants(sIn, c.sOut);
  const requant = c.perChannel ? scales.map((s) => geluInputRescale(s)) : undefined;
  const cWords = M * wordsPerRow(N);
  const buffers = {
    a: gpu.storage('a', packRows(a, M, K)),
    b: gpu.storage('b', packRows(b, N, K)),
    bias: bias ? gpu.storage('bias', bias) : undefined,
    requant: requant ? gpu.storage('requant', packRequant(requant)) : undefined,
    gelu: uploadGeluI8Constants(gpu, constants),
    c: gpu.storage('c', cWords * 4),
  };
  const biasMax = bias ? Math.max(...Array.from(bias, Math.abs)) : 0;
  try {
    gpu.write(buffers.c, new Uint32Array(cWords).fill(0xdeadbeef));
    const program = await bindGemmI8(
      gpu,
      {
        strategy: c.strategy,
        output: 'gelu-i8',
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
    const want = igeluRef(acc, M, N, constants, requant);
    const r = compare(c.name, got, want, (i) => `row ${Math.floor(i / N)} col ${i % N} (acc ${acc[i]})`);
    const pad = paddingMismatches(raw, M, N);
    if (pad) {
      r.mismatches += pad;
      r.firstMismatch ??= `${pad} rows with nonzero padding lanes`;
    }
    r.accuracy = outputAccuracy(got, (i) => acc[i] * scales[i % N], c.sOut);
    return r;
  } finally {
    for (const buf of Object.values(buffers)) buf?.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'i-GELU',
  cases: () => [
    { name: 'fixed-point GELU probe on [-4, 4]', run: runGeluProbe },
    ...geluCases().map((c) => ({ name: `standalone ${c.name}`, run: (gpu: Gpu) => runGeluCase(gpu, c) })),
    ...(['unpack', 'dot4'] as const)
      .flatMap((s) => fusedCases(s))
      .map((c) => ({ name: c.name, run: (gpu: Gpu) => runFusedCase(gpu, c) })),
  ],
};
