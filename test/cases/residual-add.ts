/**
 * Residual add cases checked bit for bit against the CPU reference, with the error against the
 * float sum measured where the plan's bounds hold. Corner multipliers are per tensor (uniforms),
 * so an 'extreme' case runs one dispatch per (m, e) pair of a sweep over every shift 0..63.
 * 'i8m' operands (int8 times per-column integer multipliers) get a few scaled columns among ones,
 * as a rescaled residual branch has, or the multipliers' corners (+-(2^23 - 1), 0, 1, 127).
 * Shared by the Node tests and the browser page.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { type BoundProgram, submitPrograms } from '../../src/gpu/program.js';
import { bindResidualAdd, checkResidualAddBounds, type ResidualAddBounds } from '../../src/kernels/residual-add.js';
import { packRows } from '../../src/quant/pack.js';
import type { Dyadic } from '../../src/reference/dyadic.js';
import { PLANNED_RATIO_PRECISION } from '../../src/reference/requantize.js';
import {
  checkColumnMultipliers,
  MAX_COLUMN_MULTIPLIER,
  operandMaxAbs,
  planResidualAdd,
  planResidualStream,
  type ResidualAddConstants,
  type ResidualOperand,
  residualAddErrorBound,
  residualAddRef,
  signedRange,
} from '../../src/reference/residual-add.js';
import { Random } from '../../src/util/random.js';
import { ELEMENTWISE_COLS, EXTREME_INT32, EXTREME_M, FLOAT_SLACK } from './requantize.js';
import type { AccuracyReport, CheckResult, CheckSuite } from './suite.js';

type Values = 'typical' | 'saturating' | 'extreme' | 'guard';

export interface ResidualAddCase {
  name: string;
  rows: number;
  cols: number;
  a: ResidualOperand;
  b: ResidualOperand;
  bits: number;
  values: Values;
  seed: number;
}

const KINDS: [ResidualOperand, ResidualOperand][] = [
  ['i8', 'i32'],
  ['i32', 'i8'],
  ['i32', 'i32'],
  ['i8', 'i8'],
  ['i32', 'i8m'],
  ['i8m', 'i8'],
];
/** The int32 operand of typical cases is a 22-bit residual stream. */
const STREAM_BOUND = 2 ** 21;
/** Two roundings of spread-out fractions: the mean |error| is 1/3 step; asserted on large random cases. */
const MEAN_BOUND = 0.4;
const MEAN_MIN_ELEMENTS = 1024;

export function residualAddCases(): ResidualAddCase[] {
  const cases: ResidualAddCase[] = [];
  let seed = 4000;
  const add = (c: Omit<ResidualAddCase, 'name' | 'seed'>) =>
    cases.push({ ...c, seed: seed++, name: `${c.rows}x${c.cols} ${c.a}+${c.b} -> ${c.bits} bits ${c.values}` });
  ELEMENTWISE_COLS.forEach((cols, i) => {
    const rows = [41, 13, 7, 5, 4, 3, 2, 2][i];
    for (const k of [i % 4, (i + 2) % 4])
      add({ rows, cols, a: KINDS[k][0], b: KINDS[k][1], bits: k < 2 ? 22 : 16, values: 'typical' });
  });
  for (const [a, b] of KINDS) {
    add({ rows: 3, cols: 200, a, b, bits: 16, values: 'saturating' });
    add({ rows: 2, cols: 13, a, b, bits: 8, values: 'saturating' });
    add({ rows: 5, cols: 13, a, b, bits: 31, values: 'extreme' });
    add({ rows: 2, cols: 3, a, b, bits: 22, values: 'extreme' });
  }
  // The planner's shape: the wide stream plus a rescaled 256-wide branch; odd widths for the lane tail.
  add({ rows: 9, cols: 256, a: 'i32', b: 'i8m', bits: 22, values: 'typical' });
  add({ rows: 7, cols: 13, a: 'i8m', b: 'i8m', bits: 22, values: 'typical' });
  add({ rows: 4, cols: 3, a: 'i8m', b: 'i32', bits: 16, values: 'typical' });
  add({ rows: 3, cols: 384, a: 'i32', b: 'i8', bits: 22, values: 'guard' });
  add({ rows: 3, cols: 13, a: 'i32', b: 'i32', bits: 31, values: 'guard' });
  return cases;
}

interface Plan {
  constants: ResidualAddConstants;
  /** Real ratios S_a / S and S_b / S the multipliers stand for. */
  ratioA: number;
  ratioB: number;
  /** What the error bound allows for |m / 2^e - ratio| per side: the planner's precision, or 0 for exact corners. */
  deltaA: number;
  deltaB: number;
}

interface Prepared {
  a: Int8Array | Int32Array;
  b: Int8Array | Int32Array;
  /** Column multipliers of the 'i8m' sides. */
  multipliers: { a?: Int32Array; b?: Int32Array };
  /** The values each side's rescale sees: the operand, times its column multiplier for 'i8m'. */
  va: ArrayLike<number>;
  vb: ArrayLike<number>;
  bounds: ResidualAddBounds;
  plans: Plan[];
  /** False where data break their declared bound on purpose (the guard fires; no float bound holds). */
  measure: boolean;
}

function operand(rng: Random, kind: ResidualOperand, n: number, values: Values, seed: number): Int8Array | Int32Array {
  if (values === 'extreme' || values === 'guard') {
    const int8 = kind !== 'i32';
    const corners = int8 ? [-128, 127, 0, -1, 1] : EXTREME_INT32;
    const out = int8 ? new Int8Array(n) : new Int32Array(n);
    for (let i = 0; i < n; i++)
      out[i] =
        i % 4 === 3
          ? int8
            ? rng.int(-128, 127)
            : rng.int(-(2 ** 31), 2 ** 31 - 1)
          : corners[(i * 7 + seed) % corners.length];
    return out;
  }
  return kind !== 'i32' ? rng.int8Array(n) : rng.int32Array(n, -STREAM_BOUND, STREAM_BOUND - 1);
}

const MULTIPLIER_CORNERS = [MAX_COLUMN_MULTIPLIER, -MAX_COLUMN_MULTIPLIER, 0, 1, 127, -1];

/** An 'i8m' side's multipliers: ones with every fifth column scaled up to 127, or corners and random ones. */
function columnMultipliers(rng: Random, cols: number, values: Values): Int32Array {
  const m = new Int32Array(cols).fill(1);
  for (let c = 0; c < cols; c++) {
    if (values === 'extreme' || values === 'guard')
      m[c] =
        c % 3 === 2
          ? rng.int(-MAX_COLUMN_MULTIPLIER, MAX_COLUMN_MULTIPLIER)
          : MULTIPLIER_CORNERS[c % MULTIPLIER_CORNERS.length];
    else if (c % 5 === 1) m[c] = rng.int(2, 127);
  }
  return m;
}

function products(x: Int8Array | Int32Array, m: Int32Array | undefined): ArrayLike<number> {
  return m ? Array.from(x, (v, i) => v * m[i % m.length]) : x;
}

/** The largest multiplier <= m with shift e that the host accepts for this operand bound. */
function legalMultiplier(m: number, e: number, maxAbs: number, kind: ResidualOperand): Dyadic {
  const other: Dyadic = { m: 0, e: 0 };
  const bounds = { a: kind === 'i32' ? maxAbs : undefined };
  // The floor of a double quotient can exceed the exact one by a unit or two; step down from it.
  for (let d = { m: Math.min(m, Math.floor(((2 ** 30 - 1) * 2 ** e) / maxAbs)), e }; d.m >= 0; d = { m: d.m - 1, e }) {
    try {
      checkResidualAddBounds({ a: kind, b: 'i8' }, { a: d, b: other, bits: 31 }, bounds);
      return d;
    } catch {
      // Too large still.
    }
  }
  throw new Error(`no legal multiplier with shift ${e} for |x| <= ${maxAbs}`);
}

function prepare(c: ResidualAddCase): Prepared {
  const rng = new Random(c.seed);
  const n = c.rows * c.cols;
  const a = operand(rng, c.a, n, c.values, c.seed);
  const b = operand(rng, c.b, n, c.values, c.seed + 3);
  const multipliers = {
    a: c.a === 'i8m' ? columnMultipliers(rng, c.cols, c.values) : undefined,
    b: c.b === 'i8m' ? columnMultipliers(rng, c.cols, c.values) : undefined,
  };
  const common = { a, b, multipliers, va: products(a, multipliers.a), vb: products(b, multipliers.b) };
  if (c.values === 'extreme' || c.values === 'guard') {
    // Full int32 range declared for 'extreme'; 'guard' declares 2^20 and then breaks it.
    const declared = c.values === 'guard' ? 2 ** 20 : undefined;
    const bounds: ResidualAddBounds = {
      a: c.a === 'i32' ? declared : undefined,
      b: c.b === 'i32' ? declared : undefined,
    };
    const maxA = operandMaxAbs(c.a, bounds.a);
    const maxB = operandMaxAbs(c.b, bounds.b);
    const plans: Plan[] = [];
    for (let e = 0; e < 64; e++) {
      const da = legalMultiplier(EXTREME_M[e % EXTREME_M.length], e, maxA, c.a);
      const db = legalMultiplier(EXTREME_M[(e + c.seed) % EXTREME_M.length], 63 - e, maxB, c.b);
      plans.push({
        constants: { a: da, b: db, bits: c.bits },
        ratioA: da.m / 2 ** da.e,
        ratioB: db.m / 2 ** db.e,
        deltaA: 0,
        deltaB: 0,
      });
    }
    return { ...common, bounds, plans, measure: c.values === 'extreme' };
  }
  // An 'i8m' side declares what its multipliers give (128 max |m_c|), as the planner does.
  const declared = (kind: ResidualOperand, m: Int32Array | undefined) =>
    kind === 'i32' ? STREAM_BOUND : m ? checkColumnMultipliers(m, c.cols, 'case') : undefined;
  const bounds: ResidualAddBounds = { a: declared(c.a, multipliers.a), b: declared(c.b, multipliers.b) };
  const scale = (kind: ResidualOperand) => (kind === 'i32' ? 1e-5 : kind === 'i8m' ? 0.002 : 0.05) * 10 ** rng.next();
  const pa = { scale: scale(c.a), maxAbs: operandMaxAbs(c.a, bounds.a) };
  const pb = { scale: scale(c.b), maxAbs: operandMaxAbs(c.b, bounds.b) };
  // 'saturating' maps a quarter of the worst case onto the output range: both ends clip.
  const range = c.values === 'saturating' ? 0.25 * (pa.maxAbs * pa.scale + pb.maxAbs * pb.scale) : undefined;
  const plan = planResidualAdd({ a: pa, b: pb, bits: c.bits, range });
  const ratioA = pa.scale / plan.scale;
  const ratioB = pb.scale / plan.scale;
  const deltaA = ratioA * PLANNED_RATIO_PRECISION;
  const deltaB = ratioB * PLANNED_RATIO_PRECISION;
  return { ...common, bounds, plans: [{ constants: plan, ratioA, ratioB, deltaA, deltaB }], measure: true };
}

function upload(gpu: Gpu, label: string, x: Int8Array | Int32Array, rows: number, cols: number): GPUBuffer {
  return gpu.storage(label, x instanceof Int8Array ? packRows(x, rows, cols) : x);
}

export async function runResidualAddCase(gpu: Gpu, c: ResidualAddCase): Promise<CheckResult> {
  const p = prepare(c);
  const n = c.rows * c.cols;
  const aBuf = upload(gpu, 'a', p.a, c.rows, c.cols);
  const bBuf = upload(gpu, 'b', p.b, c.rows, c.cols);
  const mBufs = {
    aMultipliers: p.multipliers.a && gpu.storage('a multipliers', p.multipliers.a),
    bMultipliers: p.multipliers.b && gpu.storage('b multipliers', p.multipliers.b),
  };
  const outputs = p.plans.map(() => gpu.storage('out', new Int32Array(n).fill(0x5a5a5a5a)));
  const programs: BoundProgram[] = [];
  let mismatches = 0;
  let firstMismatch: string | undefined;
  let maxAbs = 0;
  let sum = 0;
  let maxBound = 0;
  try {
    for (let k = 0; k < p.plans.length; k++) {
      programs.push(
        await bindResidualAdd(
          gpu,
          { a: c.a, b: c.b },
          { rows: c.rows, cols: c.cols },
          p.plans[k].constants,
          { a: aBuf, b: bBuf, ...mBufs, output: outputs[k] },
          p.bounds,
        ),
      );
    }
    submitPrograms(gpu, programs);
    for (let k = 0; k < p.plans.length; k++) {
      const { constants, ratioA, ratioB, deltaA, deltaB } = p.plans[k];
      const got = new Int32Array(await gpu.read(outputs[k]));
      const want = residualAddRef(p.a, p.b, constants, p.multipliers);
      const [lo, hi] = signedRange(constants.bits);
      for (let i = 0; i < n; i++) {
        if (got[i] !== want[i]) {
          mismatches++;
          firstMismatch ??= `a ${constants.a.m}/2^${constants.a.e} b ${constants.b.m}/2^${constants.b.e}: row ${Math.floor(i / c.cols)} col ${i % c.cols} (a ${p.a[i]}, b ${p.b[i]}): got ${got[i]}, want ${want[i]}`;
        }
        if (p.measure) {
          const err = Math.abs(got[i] - Math.min(hi, Math.max(lo, p.va[i] * ratioA + p.vb[i] * ratioB)));
          maxAbs = Math.max(maxAbs, err);
          sum += err;
          maxBound = Math.max(maxBound, residualAddErrorBound(p.va[i], p.vb[i], deltaA, deltaB));
        }
      }
    }
  } finally {
    for (const pr of programs) pr.destroy();
    for (const b of [aBuf, bBuf, mBufs.aMultipliers, mBufs.bMultipliers, ...outputs]) b?.destroy();
  }
  const elements = n * p.plans.length;
  let accuracy: AccuracyReport | undefined;
  if (p.measure) {
    maxBound += FLOAT_SLACK;
    accuracy = {
      unit: 'output steps',
      maxAbs,
      meanAbs: sum / elements,
      maxBound,
      meanBound: elements >= MEAN_MIN_ELEMENTS && c.values !== 'extreme' ? MEAN_BOUND : maxBound,
    };
  }
  return { name: c.name, elements, mismatches, firstMismatch, accuracy };
}

/**
 * A pre-LN decoder's residual stream (GPT-2: r = r + attn, r = r + mlp per layer): a 22-bit int32
 * stream (|r| <= 2^21) plus an int8 operand (|x| <= 128), both rescaled onto each sum's new scale,
 * planned by planResidualStream from calibrated ranges and run as a chain on the GPU, each sum's
 * output the next one's stream operand.
 */
export interface ResidualStreamCase {
  name: string;
  rows: number;
  cols: number;
  scales: 'per-sum' | 'common';
  /** Calibrated ranges of the sums (real units), growing as GPT-2's do over its layers. */
  ranges: number[];
  seed: number;
}

export function residualStreamCases(): ResidualStreamCase[] {
  const ranges = [6, 7.5, 9, 12, 20, 45, 400, 380];
  return [
    { name: 'GPT-2-like stream, 4 layers, per-sum scales', rows: 5, cols: 768, scales: 'per-sum', ranges, seed: 4500 },
    { name: 'GPT-2-like stream, 4 layers, one common scale', rows: 5, cols: 768, scales: 'common', ranges, seed: 4501 },
    {
      name: 'odd width, shrinking then growing ranges',
      rows: 3,
      cols: 37,
      scales: 'per-sum',
      ranges: [50, 3, 0.5, 4, 64],
      seed: 4502,
    },
  ];
}

export async function runResidualStreamCase(gpu: Gpu, c: ResidualStreamCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const n = c.rows * c.cols;
  const bits = 22;
  const inputScale = 5 / (2 ** 21 - 1);
  const operandScales = c.ranges.map(() => 0.01 + 0.03 * rng.next());
  const steps = planResidualStream({
    bits,
    inputScale,
    adds: c.ranges.map((range, i) => ({ name: `sum ${i}`, operand: { scale: operandScales[i] }, range })),
    scales: c.scales,
  });
  // The stream starts anywhere in 22 bits, corners included; operands are int8 with their extremes.
  const r0 = rng.int32Array(n, -(2 ** 21), 2 ** 21 - 1);
  r0.set([-(2 ** 21), 2 ** 21 - 1, 0, -1]);
  const xs = steps.map(() => {
    const x = rng.int8Array(n);
    x.set([-128, 127, -128, 127]);
    return x;
  });
  const streams = [gpu.storage('r0', r0), ...steps.map(() => gpu.storage('r', n * 4))];
  const operands = xs.map((x) => gpu.storage('x', packRows(x, c.rows, c.cols)));
  const programs: BoundProgram[] = [];
  let mismatches = 0;
  let elements = 0;
  let firstMismatch: string | undefined;
  let maxAbs = 0;
  let maxBound = 0;
  let sum = 0;
  try {
    for (let i = 0; i < steps.length; i++) {
      programs.push(
        await bindResidualAdd(
          gpu,
          { a: 'i32', b: 'i8' },
          { rows: c.rows, cols: c.cols },
          steps[i],
          { a: streams[i], b: operands[i], output: streams[i + 1] },
          { a: steps[i].bounds.a },
        ),
      );
    }
    submitPrograms(gpu, programs);
    let r: Int32Array = r0;
    let scale = inputScale;
    const [lo, hi] = signedRange(bits);
    for (let i = 0; i < steps.length; i++) {
      const want = residualAddRef(r, xs[i], steps[i]);
      const got = new Int32Array(await gpu.read(streams[i + 1]));
      const ratioA = scale / steps[i].scale;
      const ratioB = operandScales[i] / steps[i].scale;
      for (let j = 0; j < n; j++) {
        elements++;
        if (got[j] !== want[j]) {
          mismatches++;
          firstMismatch ??= `${steps[i].name} element ${j}: got ${got[j]}, want ${want[j]}`;
        }
        const err = Math.abs(got[j] - Math.min(hi, Math.max(lo, r[j] * ratioA + xs[i][j] * ratioB)));
        maxAbs = Math.max(maxAbs, err);
        sum += err;
        maxBound = Math.max(
          maxBound,
          residualAddErrorBound(r[j], xs[i][j], ratioA * PLANNED_RATIO_PRECISION, ratioB * PLANNED_RATIO_PRECISION),
        );
      }
      r = want;
      scale = steps[i].scale;
    }
  } finally {
    for (const pr of programs) pr.destroy();
    for (const b of [...streams, ...operands]) b.destroy();
  }
  const accuracy: AccuracyReport = {
    unit: 'output steps',
    maxAbs,
    meanAbs: sum / elements,
    maxBound: maxBound + FLOAT_SLACK,
    meanBound: MEAN_BOUND,
  };
  return { name: c.name, elements, mismatches, firstMismatch, accuracy };
}

export const suite: CheckSuite = {
  name: 'residual add',
  cases: () => [
    ...residualAddCases().map((c) => ({ name: c.name, run: (gpu: Gpu) => runResidualAddCase(gpu, c) })),
    ...residualStreamCases().map((c) => ({
      name: `stream: ${c.name}`,
      run: (gpu: Gpu) => runResidualStreamCase(gpu, c),
    })),
  ],
};
