/**
 * Integer LayerNorm cases checked bit for bit against the CPU reference, and, on realistic data,
 * against float64 LayerNorm (accuracy in output steps). Residual cases: the variant that reads a
 * residual add's operands (every kind pair, with and without storing the sum) against the
 * reference's composition of the residual add and the LayerNorm, including sums that saturate the
 * stream, terms that meet the int32 guard and a LayerNorm bound below the stream's. Wide cases:
 * the variant writing int32 saturated at a bound (the LayerNorm straight into the residual stream),
 * against layerNormWideRef, and its accuracy at the stream's scale.
 * Shared by the Node tests and the browser page.
 */

import { isqrtWgsl } from '../../shaders/layernorm-i8.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { bindProgram, submitPrograms } from '../../src/gpu/program.js';
import {
  bindLayerNormI8,
  bindResidualLayerNormI8,
  packLayerNormChannels,
  type ResidualLayerNormI8Buffers,
} from '../../src/kernels/layernorm-i8.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import { toDyadic } from '../../src/reference/dyadic.js';
import {
  deriveLayerNormI8,
  isqrtU32,
  type LayerNormI8Constants,
  LN_MAX_INPUT_ABS,
  layerNormFloatSteps,
  layerNormI8Ref,
  layerNormI8RowStats,
  layerNormWideRef,
  residualLayerNormI8Ref,
} from '../../src/reference/layernorm-i8.js';
import {
  MAX_COLUMN_MULTIPLIER,
  planResidualAdd,
  type ResidualAddConstants,
  type ResidualOperand,
  residualAddRef,
} from '../../src/reference/residual-add.js';
import { Random } from '../../src/util/random.js';
import { type AccuracyReport, type CheckResult, type CheckSuite, compareExact } from './suite.js';

/**
 * realistic: residual values ~ N(offset, 1) per channel, a few outlier channels 10-20x wider (as in
 *   BERT checkpoints), scaled so that max |x| is about 2^20 under the declared 2^21 - 1.
 * oneHuge: realistic rows of small values with one value at +-B.
 * equal: every row constant (including +-B): the variance is 0 and the output is beta.
 * extreme: B = 2^30 - 1 and rows at the corners: alternating +-B, one -B among +B, uniform in [-B, B].
 * beyond: arbitrary int32 values, far outside the declared bound (clamped by the kernel).
 * tiny: values in [-2, 2], and rows with a single 1: the shift is 0 and the variance a few units.
 */
export type LayerNormData = 'realistic' | 'oneHuge' | 'equal' | 'extreme' | 'beyond' | 'tiny';

export interface LayerNormI8Case {
  name: string;
  rows: number;
  H: number;
  data: LayerNormData;
  /** 'calibrated': from the data's max |x - mean|; 'declared': from the bound; a number: forced. */
  shift: 'calibrated' | 'declared' | number;
  /** realistic: gamma ~ 1 +- 0.2 with a few negative, beta ~ N(0, 0.1); stress: gamma in [-3, 3] with zeros, large beta. */
  affine: 'realistic' | 'stress';
  eps: number;
  workgroupSize?: number;
  maxWorkgroupsX?: number;
  /** Measure against float LayerNorm and assert the bound. */
  accuracy: boolean;
  /** Wide output saturated at this bound (output scale: the data's max / bound, or 4 / bound for 'stress'). */
  wideOutput?: number;
  seed: number;
}

/** Bounds asserted on realistic data: the int8 rounding alone costs 0.5 max / 0.25 mean. */
export const ACCURACY_MAX_STEPS = 1;
export const ACCURACY_MEAN_STEPS = 0.3;

const REALISTIC_H = [1, 3, 128, 192, 200, 384, 768, 1000, 1024];

export function layerNormI8Cases(): LayerNormI8Case[] {
  const cases: LayerNormI8Case[] = [];
  let seed = 3000;
  const add = (c: Omit<LayerNormI8Case, 'seed' | 'name'> & { name?: string; seed?: number }) => {
    const desc = `${c.rows}x${c.H} ${c.data} shift ${c.shift} ${c.affine}${c.eps > 1e-9 ? ` eps ${c.eps}` : ''}${c.workgroupSize ? ` wg ${c.workgroupSize}` : ''}${c.maxWorkgroupsX ? ` grid x <= ${c.maxWorkgroupsX}` : ''}${c.wideOutput ? `, wide output <= ${c.wideOutput}` : ''}`;
    cases.push({ ...c, name: c.name ?? desc, seed: c.seed ?? seed++ });
  };
  const base = { shift: 'calibrated' as const, affine: 'realistic' as const, eps: 1e-12, accuracy: false };
  for (const H of REALISTIC_H) add({ ...base, rows: 16, H, data: 'realistic', accuracy: true });
  // The same rows as 16x768 above under the declared-bound shift and under a large eps.
  const seed768 = cases.find((c) => c.H === 768)!.seed;
  add({ ...base, rows: 4, H: 4096, data: 'realistic', accuracy: true });
  add({ ...base, rows: 16, H: 768, data: 'realistic', shift: 'declared', accuracy: true, seed: seed768 });
  add({ ...base, rows: 16, H: 768, data: 'realistic', eps: 0.25, accuracy: true, seed: seed768 });
  add({ ...base, rows: 512, H: 384, data: 'realistic', accuracy: true });
  add({ ...base, rows: 50, H: 200, data: 'realistic', maxWorkgroupsX: 7 });
  add({ ...base, rows: 8, H: 1000, data: 'realistic', workgroupSize: 32 });
  add({ ...base, rows: 5, H: 37, data: 'realistic', workgroupSize: 1 });
  for (const H of [3, 768]) {
    add({ ...base, rows: 8, H, data: 'oneHuge', accuracy: true });
    add({ ...base, rows: 8, H, data: 'equal', affine: 'stress' });
    add({ ...base, rows: 8, H, data: 'extreme', shift: 'declared', affine: 'stress' });
  }
  add({ ...base, rows: 8, H: 1000, data: 'extreme', shift: 'declared', affine: 'stress' });
  add({
    ...base,
    rows: 16,
    H: 768,
    data: 'realistic',
    shift: 4,
    seed: seed768,
    name: '16x768 realistic, shift 4 (calibrated: 9): the variance sum saturates on some rows',
  });
  add({
    ...base,
    rows: 8,
    H: 1024,
    data: 'extreme',
    shift: 4,
    affine: 'stress',
    name: '8x1024 extreme, shift 4: the variance sum saturates',
  });
  add({ ...base, rows: 8, H: 384, data: 'beyond', shift: 'declared', affine: 'stress' });
  add({ ...base, rows: 8, H: 200, data: 'tiny', affine: 'stress' });
  add({
    ...base,
    rows: 4,
    H: 768,
    data: 'realistic',
    shift: 25,
    name: '4x768 realistic, shift 25: every |y| < 2^24 rounds to 0, output beta',
  });
  add({ ...base, rows: 8, H: 768, data: 'realistic', affine: 'stress', eps: 3 });
  // Wide output: the residual stream's 2^21 over the data's range, odd widths, saturation, corners.
  add({ ...base, rows: 16, H: 768, data: 'realistic', accuracy: true, wideOutput: 2 ** 21, seed: seed768 });
  add({ ...base, rows: 12, H: 256, data: 'oneHuge', accuracy: true, wideOutput: 2 ** 21 });
  add({ ...base, rows: 5, H: 37, data: 'realistic', workgroupSize: 1, wideOutput: 2 ** 21 });
  add({ ...base, rows: 8, H: 200, data: 'realistic', affine: 'stress', wideOutput: 1000 });
  add({ ...base, rows: 8, H: 384, data: 'extreme', shift: 'declared', affine: 'stress', wideOutput: 2 ** 21 });
  add({ ...base, rows: 8, H: 3, data: 'equal', affine: 'stress', wideOutput: 2 ** 21, maxWorkgroupsX: 3 });
  return cases;
}

/**
 * Wide output on realistic data, relative to the output bound: not the final rounding but the
 * variance sum's shifted deviations set it (with a few outlier channels, the shift leaves them
 * ~11 bits, a ~1e-4 relative error in the row's std). Measured on 16x768 realistic at 2^21:
 * max 461, mean 6.9 steps (2.2e-4, 3.3e-6 of the bound).
 */
export const WIDE_ACCURACY_RELATIVE = 2 ** -12;
export const WIDE_ACCURACY_MEAN_RELATIVE = 2 ** -17;

const REALISTIC_BOUND = 2 ** 21 - 1;

export interface Prepared {
  x: Int32Array;
  constants: LayerNormI8Constants;
  /** Float parameters for the accuracy comparison. */
  float: { gamma: Float64Array; beta: Float64Array; eps: number; inputScale: number; outputScale: number };
}

function inputRows(rng: Random, c: LayerNormI8Case): { x: Int32Array; B: number; inputScale: number } {
  const { rows, H } = c;
  const x = new Int32Array(rows * H);
  if (c.data === 'realistic' || c.data === 'oneHuge') {
    const width = Array.from({ length: H }, () => (rng.next() < 0.006 ? 10 + rng.next() * 10 : 1));
    const real = new Float64Array(rows * H);
    let max = 0;
    for (let r = 0; r < rows; r++) {
      const offset = rng.normal(0.5);
      const spread = 0.5 + rng.next();
      for (let i = 0; i < H; i++) {
        real[r * H + i] = offset + rng.normal(width[i] * spread);
        max = Math.max(max, Math.abs(real[r * H + i]));
      }
    }
    const inputScale = max / 2 ** 20;
    for (let i = 0; i < x.length; i++) x[i] = Math.round(real[i] / inputScale);
    if (c.data === 'oneHuge') {
      // Shrink the rows to ~2^10 and put one value at the bound: the outlier dominates the variance.
      for (let i = 0; i < x.length; i++) x[i] >>= 10;
      for (let r = 0; r < rows; r++)
        x[r * H + rng.int(0, H - 1)] = rng.next() < 0.5 ? REALISTIC_BOUND : -REALISTIC_BOUND;
    }
    return { x, B: REALISTIC_BOUND, inputScale };
  }
  if (c.data === 'equal') {
    const values = [0, 1, -1, REALISTIC_BOUND, -REALISTIC_BOUND, 12345, -777, 2 ** 20];
    for (let r = 0; r < rows; r++) x.fill(values[r % values.length], r * H, (r + 1) * H);
    return { x, B: REALISTIC_BOUND, inputScale: 1e-4 };
  }
  if (c.data === 'extreme') {
    const B = LN_MAX_INPUT_ABS;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < H; i++) {
        const k = r % 4;
        x[r * H + i] =
          k === 0 ? (i % 2 ? B : -B) : k === 1 ? (i === r % H ? -B : B) : k === 2 ? rng.int(-B, B) : i === 0 ? B : -B;
      }
    }
    return { x, B, inputScale: 2 ** -26 };
  }
  if (c.data === 'beyond') {
    for (let i = 0; i < x.length; i++) x[i] = rng.int(-(2 ** 31), 2 ** 31 - 1);
    return { x, B: REALISTIC_BOUND, inputScale: 1e-4 };
  }
  // Odd rows hold a single 1: the variance sum is 1 and the root takes its smallest value, 2^8.
  for (let i = 0; i < x.length; i++) x[i] = Math.floor(i / H) % 2 ? (i % H === 1 ? 1 : 0) : rng.int(-2, 2);
  return { x, B: REALISTIC_BOUND, inputScale: 0.5 };
}

/** Inputs and constants of a case (also for benchmarks and the docs' error table). */
export function prepareLayerNormI8Case(c: LayerNormI8Case): Prepared {
  const rng = new Random(c.seed);
  const { x, B, inputScale } = inputRows(rng, c);
  const { rows, H } = c;
  const gamma = new Float64Array(H);
  const beta = new Float64Array(H);
  for (let i = 0; i < H; i++) {
    if (c.affine === 'realistic') {
      gamma[i] = (rng.next() < 0.02 ? -1 : 1) * (1 + rng.normal(0.2));
      beta[i] = rng.normal(0.1);
    } else {
      gamma[i] = rng.next() < 0.1 ? 0 : (rng.next() * 2 - 1) * 3;
      beta[i] = (rng.next() * 2 - 1) * 2;
    }
  }
  // The output scale a calibration would pick: max |float LayerNorm| / 127 over the data.
  const unit = layerNormFloatSteps(x, rows, { gamma, beta, eps: c.eps, inputScale, outputScale: 1 });
  let maxOut = 0;
  for (const v of unit) maxOut = Math.max(maxOut, Math.abs(v));
  const steps = c.wideOutput ?? 127;
  const outputScale = c.affine === 'realistic' ? maxOut / steps : 4 / steps;
  let maxAbsDeviation: number | undefined;
  if (c.shift === 'calibrated') {
    maxAbsDeviation = 0;
    const probe: LayerNormI8Constants = { H, inputMaxAbs: B, shift: 0, epsVar: 0, channels: [] };
    for (let r = 0; r < rows; r++) {
      const row = x.subarray(r * H, (r + 1) * H);
      const { mean } = layerNormI8RowStats(row, probe);
      for (let i = 0; i < H; i++)
        maxAbsDeviation = Math.max(maxAbsDeviation, Math.abs(Math.min(Math.max(row[i], -B), B) - mean));
    }
  }
  const float = { gamma, beta, eps: c.eps, inputScale, outputScale };
  const constants = deriveLayerNormI8({ ...float, inputMaxAbs: B, maxAbsDeviation });
  if (typeof c.shift === 'number') constants.shift = c.shift;
  return { x, constants, float };
}

/**
 * Output against float LayerNorm in output steps, the float clipped to the output's range: int8
 * (bounds ACCURACY_*_STEPS) or a wide output saturating at `wideBound` (bounds relative to it).
 */
export function layerNormAccuracy(
  got: Int8Array | Int32Array,
  x: Int32Array,
  rows: number,
  p: Prepared,
  wideBound?: number,
): AccuracyReport {
  const want = layerNormFloatSteps(x, rows, p.float);
  const [lo, hi] = wideBound ? [-wideBound, wideBound] : [-128, 127];
  let maxAbs = 0;
  let sum = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - Math.min(hi, Math.max(lo, want[i])));
    maxAbs = Math.max(maxAbs, err);
    sum += err;
  }
  return {
    unit: 'output steps',
    maxAbs,
    meanAbs: sum / want.length,
    maxBound: wideBound ? WIDE_ACCURACY_RELATIVE * wideBound : ACCURACY_MAX_STEPS,
    meanBound: wideBound ? WIDE_ACCURACY_MEAN_RELATIVE * wideBound : ACCURACY_MEAN_STEPS,
  };
}

/** Int8 output: packed words (padding lanes must be zero); wide output: int32 per value. */
export async function runLayerNormI8Case(gpu: Gpu, c: LayerNormI8Case): Promise<CheckResult> {
  const p = prepareLayerNormI8Case(c);
  const { rows, H } = c;
  const words = wordsPerRow(H);
  const wide = c.wideOutput;
  const buffers = {
    x: gpu.storage('x', p.x),
    channels: gpu.storage('channels', packLayerNormChannels(p.constants)),
    out: gpu.storage('out', rows * (wide ? H : words) * 4),
  };
  try {
    const program = await bindLayerNormI8(gpu, p.constants, { rows, H }, buffers, {
      workgroupSize: c.workgroupSize,
      maxWorkgroupsX: c.maxWorkgroupsX,
      ...(wide ? { wideOutput: { maxAbs: wide } } : {}),
    });
    submitPrograms(gpu, [program]);
    const raw = await gpu.read(buffers.out);
    program.destroy();
    const got = wide ? new Int32Array(raw) : (unpackRows(new Uint32Array(raw), rows, H) as Int8Array);
    const want = wide ? layerNormWideRef(p.x, rows, p.constants, wide) : layerNormI8Ref(p.x, rows, p.constants);
    const result = compareExact(c.name, got, want, (i) => `row ${Math.floor(i / H)} col ${i % H}`);
    // Padding lanes must be written as zeros.
    let padding = 0;
    if (!wide && H % 4) {
      const packed = new Uint32Array(raw);
      for (let r = 0; r < rows; r++) if (packed[r * words + words - 1] >>> (8 * (H % 4)) !== 0) padding++;
    }
    if (padding) {
      result.mismatches += padding;
      result.firstMismatch ??= `${padding} rows with non-zero padding lanes`;
    }
    if (c.accuracy) result.accuracy = layerNormAccuracy(got, p.x, rows, p, wide);
    return result;
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

/**
 * realistic: int8 operands uniform, int32 ones a 22-bit stream, 'i8m' multipliers ones with every
 *   fifth column up to 127 (a rescaled branch); the add planned over the worst case (no saturation).
 * saturating: the add planned for a quarter of the worst case, so many sums saturate the stream.
 * corners: 'i8m' multipliers at +-(2^23 - 1), 0, +-1; int32 operands at their declared bound's ends.
 * guard: int32 operands over all of int32 against a declared bound of 2^21, multiplier 256: the
 *   terms meet the [-2^30, 2^30 - 1] guard.
 */
type ResidualData = 'realistic' | 'saturating' | 'corners' | 'guard';

export interface ResidualLayerNormCase {
  name: string;
  rows: number;
  H: number;
  a: ResidualOperand;
  b: ResidualOperand;
  /** Width of the stream the add saturates to. */
  bits: number;
  data: ResidualData;
  writeSum: boolean;
  /** The LayerNorm's declared input bound; default the stream's 2^(bits-1) (at most 2^30 - 1). */
  inputMaxAbs?: number;
  workgroupSize?: number;
  maxWorkgroupsX?: number;
  seed: number;
}

export function residualLayerNormCases(): ResidualLayerNormCase[] {
  const cases: ResidualLayerNormCase[] = [];
  let seed = 3500;
  const add = (c: Omit<ResidualLayerNormCase, 'seed' | 'name'>) => {
    const extras = [
      c.writeSum ? 'sum stored' : '',
      c.inputMaxAbs !== undefined ? `LN bound ${c.inputMaxAbs}` : '',
      c.workgroupSize ? `wg ${c.workgroupSize}` : '',
      c.maxWorkgroupsX ? `grid x <= ${c.maxWorkgroupsX}` : '',
    ].filter(Boolean);
    const name = `residual ${c.a}+${c.b} (${c.bits} bits) -> LayerNorm ${c.rows}x${c.H} ${c.data}${extras.length ? `, ${extras.join(', ')}` : ''}`;
    cases.push({ ...c, name, seed: seed++ });
  };
  // Post-LN encoders: int8 + int8, a rescaled branch, odd widths; pre-LN decoders: the stream plus a branch, stored.
  add({ rows: 16, H: 768, a: 'i8', b: 'i8', bits: 22, data: 'realistic', writeSum: false });
  add({ rows: 12, H: 200, a: 'i8m', b: 'i8', bits: 22, data: 'realistic', writeSum: false, workgroupSize: 32 });
  add({ rows: 7, H: 13, a: 'i8', b: 'i8m', bits: 22, data: 'realistic', writeSum: false, workgroupSize: 1 });
  add({ rows: 9, H: 256, a: 'i32', b: 'i8', bits: 22, data: 'realistic', writeSum: true });
  add({ rows: 5, H: 37, a: 'i32', b: 'i32', bits: 22, data: 'realistic', writeSum: true, maxWorkgroupsX: 2 });
  add({ rows: 6, H: 3, a: 'i8', b: 'i32', bits: 22, data: 'realistic', writeSum: false });
  add({ rows: 8, H: 384, a: 'i8', b: 'i8', bits: 16, data: 'saturating', writeSum: true, inputMaxAbs: 2 ** 13 });
  add({ rows: 4, H: 13, a: 'i32', b: 'i8m', bits: 24, data: 'saturating', writeSum: true });
  add({ rows: 5, H: 41, a: 'i8m', b: 'i8m', bits: 22, data: 'corners', writeSum: false });
  add({ rows: 3, H: 384, a: 'i32', b: 'i8', bits: 22, data: 'guard', writeSum: true });
  add({ rows: 2, H: 13, a: 'i8', b: 'i32', bits: 22, data: 'guard', writeSum: false });
  return cases;
}

const RESIDUAL_STREAM = 2 ** 21;

interface ResidualPrepared {
  a: Int8Array | Int32Array;
  b: Int8Array | Int32Array;
  multipliers: { a?: Int32Array; b?: Int32Array };
  residual: ResidualAddConstants;
  bounds: { a?: number; b?: number };
  constants: LayerNormI8Constants;
}

function residualOperand(rng: Random, kind: ResidualOperand, n: number, data: ResidualData): Int8Array | Int32Array {
  if (kind !== 'i32') return rng.int8Array(n);
  if (data === 'guard') return rng.int32Array(n, -(2 ** 31), 2 ** 31 - 1);
  if (data === 'corners')
    return Int32Array.from({ length: n }, (_, i) => [RESIDUAL_STREAM, -RESIDUAL_STREAM, 0][i % 3]);
  return rng.int32Array(n, -RESIDUAL_STREAM, RESIDUAL_STREAM - 1);
}

function residualMultipliers(rng: Random, H: number, data: ResidualData): Int32Array {
  const corners = [MAX_COLUMN_MULTIPLIER, -MAX_COLUMN_MULTIPLIER, 0, 1, -1];
  return Int32Array.from({ length: H }, (_, c) =>
    data === 'corners' ? corners[c % corners.length] : c % 5 === 1 ? rng.int(2, 127) : 1,
  );
}

/** Operands, the add's constants (planned as the planner plans them) and LayerNorm constants for the sum's data. */
export function prepareResidualLayerNormCase(c: ResidualLayerNormCase): ResidualPrepared {
  const rng = new Random(c.seed);
  const { rows, H } = c;
  const multipliers: { a?: Int32Array; b?: Int32Array } = {};
  const bounds: { a?: number; b?: number } = {};
  const sides = {} as Record<'a' | 'b', { values: Int8Array | Int32Array; scale: number; maxAbs: number }>;
  for (const side of ['a', 'b'] as const) {
    const kind = c[side];
    const values = residualOperand(rng, kind, rows * H, c.data);
    let maxAbs = 128;
    if (kind === 'i8m') {
      multipliers[side] = residualMultipliers(rng, H, c.data);
      maxAbs = 128 * Math.max(...multipliers[side].map(Math.abs));
    }
    if (kind === 'i32') maxAbs = RESIDUAL_STREAM;
    if (kind !== 'i8') bounds[side] = maxAbs;
    sides[side] = { values, scale: kind === 'i32' ? 2 ** -18 : 0.02 + rng.next() * 0.05, maxAbs };
  }
  let residual: ResidualAddConstants;
  if (c.data === 'guard') {
    // |x| <= 2^21 declared, times 256 (a) or 3.7 (b): terms within 2^30 for data within the bound, past it beyond.
    residual = { a: toDyadic(256), b: toDyadic(3.7), bits: c.bits };
  } else {
    const worst = sides.a.maxAbs * sides.a.scale + sides.b.maxAbs * sides.b.scale;
    const { scale: _s, ...constants } = planResidualAdd({
      a: sides.a,
      b: sides.b,
      bits: c.bits,
      range: c.data === 'saturating' ? worst / 4 : undefined,
    });
    residual = constants;
  }
  const B = c.inputMaxAbs ?? Math.min(2 ** (c.bits - 1), LN_MAX_INPUT_ABS);
  const gamma = Float64Array.from({ length: H }, () => (rng.next() < 0.05 ? -1 : 1) * (1 + rng.normal(0.2)));
  const beta = Float64Array.from({ length: H }, () => rng.normal(0.1));
  // The sum's own data pick the output scale and the variance shift, as calibration would.
  const sum = residualAddRef(sides.a.values, sides.b.values, residual, multipliers);
  const probe: LayerNormI8Constants = { H, inputMaxAbs: B, shift: 0, epsVar: 0, channels: [] };
  let maxAbsDeviation = 0;
  for (let r = 0; r < rows; r++) {
    const row = sum.subarray(r * H, (r + 1) * H);
    const { mean } = layerNormI8RowStats(row, probe);
    for (const v of row) maxAbsDeviation = Math.max(maxAbsDeviation, Math.abs(Math.min(Math.max(v, -B), B) - mean));
  }
  const inputScale = 1e-4;
  const unit = layerNormFloatSteps(sum, rows, { gamma, beta, eps: 1e-12, inputScale, outputScale: 1 });
  let maxOut = 0;
  for (const v of unit) maxOut = Math.max(maxOut, Math.abs(v));
  const constants = deriveLayerNormI8({
    gamma,
    beta,
    eps: 1e-12,
    inputScale,
    outputScale: Math.max(maxOut, 1e-3) / 127,
    inputMaxAbs: B,
    maxAbsDeviation,
  });
  return { a: sides.a.values, b: sides.b.values, multipliers, residual, bounds, constants };
}

export async function runResidualLayerNormCase(gpu: Gpu, c: ResidualLayerNormCase): Promise<CheckResult> {
  const p = prepareResidualLayerNormCase(c);
  const { rows, H } = c;
  const words = wordsPerRow(H);
  const operand = (x: Int8Array | Int32Array, kind: ResidualOperand) =>
    kind === 'i32' ? Int32Array.from(x) : packRows(x as Int8Array, rows, H);
  const buffers: ResidualLayerNormI8Buffers = {
    a: gpu.storage('a', operand(p.a, c.a)),
    b: gpu.storage('b', operand(p.b, c.b)),
    channels: gpu.storage('channels', packLayerNormChannels(p.constants)),
    out: gpu.storage('out', rows * words * 4),
  };
  if (p.multipliers.a) buffers.aMultipliers = gpu.storage('a.multipliers', p.multipliers.a);
  if (p.multipliers.b) buffers.bMultipliers = gpu.storage('b.multipliers', p.multipliers.b);
  if (c.writeSum) buffers.sum = gpu.storage('sum', rows * H * 4);
  try {
    const program = await bindResidualLayerNormI8(gpu, p.constants, { rows, H }, buffers, {
      workgroupSize: c.workgroupSize,
      maxWorkgroupsX: c.maxWorkgroupsX,
      residual: { operands: { a: c.a, b: c.b }, constants: p.residual, bounds: p.bounds, writeSum: c.writeSum },
    });
    submitPrograms(gpu, [program]);
    const raw = new Uint32Array(await gpu.read(buffers.out));
    const gotSum = buffers.sum && new Int32Array(await gpu.read(buffers.sum));
    program.destroy();
    const want = residualLayerNormI8Ref(p.a, p.b, rows, p.residual, p.constants, p.multipliers);
    const got = unpackRows(raw, rows, H) as Int8Array;
    const where = (i: number) => `row ${Math.floor(i / H)} col ${i % H}`;
    const result = compareExact(c.name, got, want.out, where);
    let padding = 0;
    if (H % 4) {
      for (let r = 0; r < rows; r++) if (raw[r * words + words - 1] >>> (8 * (H % 4)) !== 0) padding++;
    }
    const extra: [number, string | undefined][] = [[padding, `${padding} rows with non-zero padding lanes`]];
    if (gotSum) {
      const sums = compareExact(c.name, gotSum, want.sum, (i) => `sum at ${where(i)}`);
      extra.push([sums.mismatches, sums.firstMismatch]);
      result.elements += want.sum.length;
    }
    for (const [n, first] of extra) {
      if (!n) continue;
      result.mismatches += n;
      result.firstMismatch ??= first;
    }
    return result;
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

const ISQRT_PROBE = `
${isqrtWgsl()}
@group(0) @binding(0) var<storage, read> v: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= arrayLength(&v)) { return; }
  out[id.x] = isqrt_u32(v[id.x]);
}`;

/** Perfect squares and their neighbours, the ends of the u32 range, and random values. */
export function isqrtProbeValues(seed = 11): Uint32Array {
  const rng = new Random(seed);
  const values: number[] = [
    0,
    1,
    2,
    3,
    2 ** 32 - 1,
    2 ** 32 - 2,
    2 ** 31,
    2 ** 31 - 1,
    2 ** 30,
    0xfffe0001,
    0xfffe0000,
  ];
  for (let k = 0; k < 65536; k += k < 1024 ? 1 : 37) {
    for (const d of [-1, 0, 1]) if (k * k + d >= 0) values.push(k * k + d);
  }
  values.push(65535 * 65535 + 1, 65535 * 65535 - 1);
  for (let i = 0; i < 4000; i++) values.push(Math.floor(rng.next() * 2 ** 32));
  return Uint32Array.from(values);
}

async function runIsqrtProbe(gpu: Gpu): Promise<CheckResult> {
  const values = isqrtProbeValues();
  const inBuf = gpu.storage('v', values);
  const outBuf = gpu.storage('out', values.length * 4);
  try {
    const program = await bindProgram(
      gpu,
      {
        name: 'isqrt-probe',
        key: 'layernorm-i8-isqrt-probe',
        code: ISQRT_PROBE,
        workgroups: [Math.ceil(values.length / 64), 1, 1],
      },
      [inBuf, outBuf],
    );
    submitPrograms(gpu, [program]);
    const got = new Uint32Array(await gpu.read(outBuf));
    const want = Uint32Array.from(values, (v) => isqrtU32(v));
    return compareExact('isqrt_u32 on squares +-1, u32 ends, random', got, want, (i) => `isqrt(${values[i]})`);
  } finally {
    inBuf.destroy();
    outBuf.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'INT8 LayerNorm',
  cases: () => [
    { name: 'isqrt_u32 on squares +-1, u32 ends, random', run: runIsqrtProbe },
    ...layerNormI8Cases().map((c) => ({ name: c.name, run: (gpu: Gpu) => runLayerNormI8Case(gpu, c) })),
    ...residualLayerNormCases().map((c) => ({ name: c.name, run: (gpu: Gpu) => runResidualLayerNormCase(gpu, c) })),
  ],
};
