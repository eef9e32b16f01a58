/**
 * Requantize cases checked bit for bit against the CPU reference (packed words, so padding lanes
 * are checked too), with the error against float measured on every case. Shared by the Node tests
 * and the browser page.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindRequantize, packRequantizeMultipliers } from '../../src/kernels/requantize.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import type { Dyadic } from '../../src/reference/dyadic.js';
import {
  PLANNED_RATIO_PRECISION,
  planRequantize,
  type RequantizeOutput,
  requantizeErrorBound,
  requantizeRange,
  requantizeRef,
} from '../../src/reference/requantize.js';
import { Random } from '../../src/util/random.js';
import { type AccuracyReport, type CheckResult, type CheckSuite, compareExact } from './suite.js';

/** Adversarial int32 inputs, cycled through the extreme cases. */
export const EXTREME_INT32 = [
  2 ** 31 - 1,
  -(2 ** 31),
  -(2 ** 31) + 1,
  0,
  1,
  -1,
  127,
  -128,
  128,
  -129,
  255,
  256,
  2 ** 30,
  -(2 ** 30),
];
/** Multipliers at the corners of the domain; per channel, column c gets M[c % 8] with e = c % 64. */
export const EXTREME_M = [0x7fffffff, 1, 0x40000000, 0, 0x7ffffffe, 12345, 0x55555555, 3];

/** Sizes that are not multiples of the workgroup or of 4, and the BERT family's widths. */
export const ELEMENTWISE_COLS = [1, 3, 13, 192, 200, 384, 768, 1024];

type Values = 'typical' | 'extreme' | 'saturating';

export interface RequantizeCase {
  name: string;
  rows: number;
  cols: number;
  output: RequantizeOutput;
  perChannel: boolean;
  values: Values;
  seed: number;
}

/** Mean error of a rounding to nearest on spread-out fractions is 1/4 step; asserted on large random cases. */
const MEAN_BOUND = 0.3;
const MEAN_MIN_ELEMENTS = 1024;
/** Slack for evaluating the float reference in double precision. */
export const FLOAT_SLACK = 2 ** -20;

export function requantizeCases(): RequantizeCase[] {
  const cases: RequantizeCase[] = [];
  let seed = 3000;
  const add = (c: Omit<RequantizeCase, 'name' | 'seed'>) =>
    cases.push({
      ...c,
      seed: seed++,
      name: `${c.rows}x${c.cols} ${c.output} ${c.perChannel ? 'channel' : 'tensor'} ${c.values}`,
    });
  ELEMENTWISE_COLS.forEach((cols, i) => {
    const rows = [37, 11, 9, 5, 3, 4, 2, 3][i];
    add({ rows, cols, output: 'i8', perChannel: true, values: 'typical' });
    add({ rows, cols, output: 'i8', perChannel: false, values: 'typical' });
  });
  for (const cols of [13, 200, 768]) {
    add({ rows: 5, cols, output: 'i8', perChannel: true, values: 'extreme' });
    add({ rows: 3, cols, output: 'i8', perChannel: true, values: 'saturating' });
    add({ rows: 3, cols, output: 'u8', perChannel: true, values: 'typical' });
    add({ rows: 5, cols, output: 'u8', perChannel: true, values: 'extreme' });
  }
  for (const values of ['extreme', 'saturating'] as Values[]) {
    add({ rows: 7, cols: 3, output: 'i8', perChannel: false, values });
    add({ rows: 7, cols: 130, output: 'u8', perChannel: false, values });
  }
  return cases;
}

interface Prepared {
  x: Int32Array;
  requant: Dyadic[];
  /** The real ratios S_in / S_out the multipliers stand for (m / 2^e exactly for corner multipliers). */
  ratios: number[];
  /** What the error bound allows for |m / 2^e - ratio|: the planner's precision, or 0 for exact corners. */
  deltas: number[];
}

function prepare(c: RequantizeCase): Prepared {
  const rng = new Random(c.seed);
  const n = c.rows * c.cols;
  const channels = c.perChannel ? c.cols : 1;
  if (c.values === 'extreme') {
    const x = new Int32Array(n);
    for (let i = 0; i < n; i++)
      x[i] = i % 3 === 2 ? rng.int(-(2 ** 31), 2 ** 31 - 1) : EXTREME_INT32[(i + c.seed) % EXTREME_INT32.length];
    // Per tensor, the seed picks the corner: every case then covers a different (m, e).
    const requant = Array.from({ length: channels }, (_, k) => {
      const j = c.perChannel ? k : c.seed;
      return { m: EXTREME_M[j % EXTREME_M.length], e: j % 64 };
    });
    return { x, requant, ratios: requant.map((d) => d.m / 2 ** d.e), deltas: requant.map(() => 0) };
  }
  // Accumulators of a GEMM: |x| up to 2^20, input scales spread over two decades per channel.
  const x = rng.int32Array(n, -(2 ** 20), 2 ** 20);
  const inScales = Array.from({ length: channels }, () => 1e-4 * 10 ** (2 * rng.next()));
  const meanScale = inScales.reduce((s, v) => s + v, 0) / channels;
  // 'typical' maps ~2^19 onto the output range; 'saturating' a thousandth of that.
  const outScale = (meanScale * 2 ** 19) / (c.values === 'typical' ? 127 : 127000);
  const requant = planRequantize(inScales, outScale);
  const ratios = inScales.map((s) => s / outScale);
  return { x, requant, ratios, deltas: ratios.map((r) => r * PLANNED_RATIO_PRECISION) };
}

function accuracy(c: RequantizeCase, p: Prepared, got: ArrayLike<number>): AccuracyReport {
  const [lo, hi] = requantizeRange(c.output);
  let maxAbs = 0;
  let sum = 0;
  let maxBound = 0;
  for (let i = 0; i < got.length; i++) {
    const ch = c.perChannel ? i % c.cols : 0;
    const want = Math.min(hi, Math.max(lo, p.x[i] * p.ratios[ch]));
    const err = Math.abs(got[i] - want);
    maxAbs = Math.max(maxAbs, err);
    sum += err;
    maxBound = Math.max(maxBound, requantizeErrorBound(p.x[i], p.deltas[ch]));
  }
  maxBound += FLOAT_SLACK;
  const meanAbs = sum / got.length;
  return {
    unit: 'output steps',
    maxAbs,
    meanAbs,
    maxBound,
    meanBound: got.length >= MEAN_MIN_ELEMENTS && c.values !== 'extreme' ? MEAN_BOUND : maxBound,
  };
}

export async function runRequantizeCase(gpu: Gpu, c: RequantizeCase): Promise<CheckResult> {
  const p = prepare(c);
  const options = { output: c.output, perChannel: c.perChannel };
  const shape = { rows: c.rows, cols: c.cols };
  const cols4 = wordsPerRow(c.cols);
  const buffers = {
    input: gpu.storage('x', p.x),
    requant: gpu.storage('requant', packRequantizeMultipliers(options, shape, p.requant)),
    // Filled with ones so that a padding lane left unwritten shows up as a mismatch.
    output: gpu.storage('y', new Uint32Array(c.rows * cols4).fill(0xffffffff)),
  };
  try {
    const program = await bindRequantize(gpu, options, shape, buffers);
    submitPrograms(gpu, [program]);
    const got = new Uint32Array(await gpu.read(buffers.output));
    program.destroy();
    const want = requantizeRef(p.x, c.rows, c.cols, p.requant, c.output);
    const result = compareExact(c.name, got, packRows(want, c.rows, c.cols), (i) => {
      const row = Math.floor(i / cols4);
      return `row ${row} word ${i - row * cols4}`;
    });
    return { ...result, accuracy: accuracy(c, p, unpackRows(got, c.rows, c.cols, c.output === 'i8')) };
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'requantize',
  cases: () => requantizeCases().map((c) => ({ name: c.name, run: (gpu) => runRequantizeCase(gpu, c) })),
};
