/**
 * CPU reference of the residual add (the specification the shader must match bit for bit):
 *
 *   ta = clamp(dyadic(a, ma, ea), -2^30, 2^30 - 1)
 *   tb = clamp(dyadic(b, mb, eb), -2^30, 2^30 - 1)
 *   out = clamp(ta + tb, -2^(bits-1), 2^(bits-1) - 1)
 *
 * a and b are integer tensors at scales S_a and S_b (each int8, or int32 such as the residual
 * stream itself), out is int32 at the common scale S with m / 2^e ~ S_a / S and S_b / S.
 *
 * An 'i8m' operand is int8 with one integer multiplier per column: its value is q[r, c] * m_c
 * (exact, |m_c| <= 2^23 - 1, so |q m_c| < 2^30), at one scale S_x. A residual branch whose outlier
 * channels were requantized at m_c times the other channels' scale is read this way: each channel
 * keeps the int8 resolution of its own range and the product puts them all on one scale, without a
 * diagonal GEMM or an int32 copy of the branch.
 *
 * Why the sum cannot overflow: each term is saturated to [-2^30, 2^30 - 1], so ta + tb lies in
 * [-2^31, 2^31 - 2], inside int32, for every input and every (m, e). The term clamp is a guard,
 * not part of the arithmetic a plan relies on: the host wrapper refuses a plan unless, for the
 * declared input bounds |a| <= A and |b| <= B, round(A ma / 2^ea) and round(B mb / 2^eb) are at
 * most 2^30 - 1 (checkResidualAddBounds). Within those bounds the guard never fires and
 *   out = sat_bits(round(a ma / 2^ea) + round(b mb / 2^eb))
 * exactly. Only int32 data that break their declared bound can meet the guard; the result is then
 * still defined (and what the shader computes), never a wrapped sum.
 *
 * bits is in [2, 31], so |out| <= 2^30 and a consumer can subtract two outputs (x - mean in
 * LayerNorm) without overflow.
 *
 * Accuracy against float (a S_a + b S_b) / S: two roundings of at most 1/2 step and the
 * multipliers' error, |out - clamp(real / S)| <= 1 + |a| |ma / 2^ea - S_a / S| + |b| |mb / 2^eb - S_b / S|
 * (saturation is 1-Lipschitz).
 */
import { checkDyadic, type Dyadic, dyadicScale, toDyadic } from './dyadic.js';

export type ResidualOperand = 'i8' | 'i32' | 'i8m';

/** Largest |m_c| of an 'i8m' operand: 128 (2^23 - 1) < 2^30, so the product is an int32 term input. */
export const MAX_COLUMN_MULTIPLIER = 2 ** 23 - 1;

/** Per-column integer multipliers of the 'i8m' operands (absent for 'i8' and 'i32' ones). */
export interface ResidualMultipliers {
  a?: ArrayLike<number>;
  b?: ArrayLike<number>;
}

/**
 * Checks one operand's column multipliers (integers, |m| <= MAX_COLUMN_MULTIPLIER, one per column)
 * and returns 128 max |m|, the bound of the products.
 */
export function checkColumnMultipliers(m: ArrayLike<number>, cols: number, what: string): number {
  if (m.length !== cols) throw new RangeError(`${what}: ${m.length} column multipliers for ${cols} columns`);
  let max = 0;
  for (let c = 0; c < m.length; c++) {
    if (!Number.isInteger(m[c]) || Math.abs(m[c]) > MAX_COLUMN_MULTIPLIER)
      throw new RangeError(
        `${what}: column multiplier ${c} is ${m[c]}, not an integer in [-${MAX_COLUMN_MULTIPLIER}, ${MAX_COLUMN_MULTIPLIER}]`,
      );
    max = Math.max(max, Math.abs(m[c]));
  }
  return 128 * max;
}

/** Saturation range of each rescaled term (the overflow guard). */
export const RESIDUAL_TERM_MIN = -(2 ** 30);
export const RESIDUAL_TERM_MAX = 2 ** 30 - 1;
export const MIN_OUTPUT_BITS = 2;
export const MAX_OUTPUT_BITS = 31;

export interface ResidualAddConstants {
  /** Multiplier of operand a: S_a / S. */
  a: Dyadic;
  /** Multiplier of operand b: S_b / S. */
  b: Dyadic;
  /** Output width: out is saturated to [-2^(bits-1), 2^(bits-1) - 1]. */
  bits: number;
}

/** Saturation range of a signed output of `bits` bits, bits in [2, 31]. */
export function signedRange(bits: number, what = 'residual add'): [number, number] {
  if (!Number.isInteger(bits) || bits < MIN_OUTPUT_BITS || bits > MAX_OUTPUT_BITS) {
    throw new RangeError(
      `${what}: output width ${bits} bits is not an integer in [${MIN_OUTPUT_BITS}, ${MAX_OUTPUT_BITS}]`,
    );
  }
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

/** Largest |dyadic(x, m, e)| over |x| <= maxAbs, without saturation (the rescale is monotone in |x|). */
export function dyadicTermBound(maxAbs: number, d: Dyadic): number {
  return dyadicScale(maxAbs, d.m, d.e, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * The bound an operand of this kind is known to respect: 128 for int8, 2^31 for int32 and
 * 128 MAX_COLUMN_MULTIPLIER for int8 times column multipliers, unless declared tighter.
 */
export function operandMaxAbs(kind: ResidualOperand, declared?: number): number {
  const full = kind === 'i8' ? 128 : kind === 'i8m' ? 128 * MAX_COLUMN_MULTIPLIER : 2 ** 31;
  if (declared === undefined) return full;
  if (!Number.isInteger(declared) || declared < 0 || declared > full) {
    throw new RangeError(
      `residual add: declared bound ${declared} is not an integer in [0, ${full}] for a ${kind} operand`,
    );
  }
  return declared;
}

/**
 * `multipliers` makes a side 'i8m': element i of it is a[i] * multipliers.a[i mod cols], cols the
 * number of multipliers (a's values must be int8 and a whole number of rows).
 */
export function residualAddRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c: ResidualAddConstants,
  multipliers: ResidualMultipliers = {},
): Int32Array {
  if (a.length !== b.length) throw new RangeError(`residualAddRef: operands have ${a.length} and ${b.length} values`);
  checkDyadic(c.a, 'residual add multiplier a');
  checkDyadic(c.b, 'residual add multiplier b');
  const [lo, hi] = signedRange(c.bits);
  const side = (x: ArrayLike<number>, m: ArrayLike<number> | undefined, name: string) => {
    if (!m) return (i: number) => x[i];
    const cols = m.length;
    checkColumnMultipliers(m, cols, `residualAddRef: operand ${name}`);
    if (cols === 0 || x.length % cols !== 0)
      throw new RangeError(`residualAddRef: operand ${name} has ${x.length} values, not rows of ${cols} columns`);
    for (let i = 0; i < x.length; i++)
      if (!Number.isInteger(x[i]) || x[i] < -128 || x[i] > 127)
        throw new RangeError(`residualAddRef: operand ${name} value ${i} is ${x[i]}, not int8`);
    return (i: number) => x[i] * m[i % cols];
  };
  const va = side(a, multipliers.a, 'a');
  const vb = side(b, multipliers.b, 'b');
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const ta = dyadicScale(va(i), c.a.m, c.a.e, RESIDUAL_TERM_MIN, RESIDUAL_TERM_MAX);
    const tb = dyadicScale(vb(i), c.b.m, c.b.e, RESIDUAL_TERM_MIN, RESIDUAL_TERM_MAX);
    out[i] = Math.min(hi, Math.max(lo, ta + tb));
  }
  return out;
}

export interface ResidualAddPlanInput {
  /** Real scale and integer bound (128 for int8, 2^(k-1) for a k-bit stream) of each operand. */
  a: { scale: number; maxAbs: number };
  b: { scale: number; maxAbs: number };
  /** Output width, e.g. 16 or 22 for the residual stream. */
  bits: number;
  /**
   * Calibrated max |a S_a + b S_b| (real units) to map onto the output range. Without it the scale
   * covers the worst case A S_a + B S_b, so the output never saturates.
   */
  range?: number;
}

export interface ResidualAddPlan extends ResidualAddConstants {
  /** The common output scale S. */
  scale: number;
}

/**
 * Planner: the common scale S = range / (2^(bits-1) - 1) and the multipliers S_a / S, S_b / S.
 * Refuses (RangeError) a plan whose terms could reach the overflow guard for the given bounds.
 */
export function planResidualAdd(p: ResidualAddPlanInput): ResidualAddPlan {
  const [, hi] = signedRange(p.bits);
  for (const [name, o] of [
    ['a', p.a],
    ['b', p.b],
  ] as const) {
    if (!(o.scale > 0) || !Number.isFinite(o.scale))
      throw new RangeError(`planResidualAdd: scale of ${name} ${o.scale} is not a positive finite number`);
    if (!Number.isInteger(o.maxAbs) || o.maxAbs < 0 || o.maxAbs > 2 ** 31)
      throw new RangeError(`planResidualAdd: bound of ${name} ${o.maxAbs} is not an integer in [0, 2^31]`);
  }
  const range = p.range ?? p.a.maxAbs * p.a.scale + p.b.maxAbs * p.b.scale;
  if (!(range > 0) || !Number.isFinite(range))
    throw new RangeError(`planResidualAdd: range ${range} is not a positive finite number`);
  const scale = range / hi;
  const plan: ResidualAddPlan = {
    scale,
    bits: p.bits,
    a: toDyadic(p.a.scale / scale, 'residual add ratio S_a / S'),
    b: toDyadic(p.b.scale / scale, 'residual add ratio S_b / S'),
  };
  for (const [name, o, d] of [
    ['a', p.a, plan.a],
    ['b', p.b, plan.b],
  ] as const) {
    const t = dyadicTermBound(o.maxAbs, d);
    if (t > RESIDUAL_TERM_MAX) {
      throw new RangeError(
        `planResidualAdd: with range ${range}, |${name}| <= ${o.maxAbs} rescales to ${t} > 2^30 - 1; plan a wider range or fewer bits`,
      );
    }
  }
  return plan;
}

/** The accuracy bound above, in output steps, for one element; deltas bound |m / 2^e - r| per side. */
export function residualAddErrorBound(a: number, b: number, deltaA: number, deltaB: number): number {
  return 1 + Math.abs(a) * deltaA + Math.abs(b) * deltaB;
}

/** One residual sum of a stream: its int8 (or narrower) operand and the calibrated range of the sum. */
export interface ResidualStreamAdd {
  /** For errors and the plan, e.g. 'layer.3.attention'. */
  name?: string;
  /** Scale and integer bound (default 128: int8) of the operand added to the stream. */
  operand: { scale: number; maxAbs?: number };
  /** Calibrated max |r + x| in real units over every calibration input. */
  range: number;
}

export interface ResidualStreamPlanInput {
  /** Width of the stream, e.g. 22: every sum is saturated to [-2^(bits-1), 2^(bits-1) - 1]. */
  bits: number;
  /** Real scale of the stream entering the first add (e.g. the embeddings' sum). */
  inputScale: number;
  /** Every residual sum in order: pre-LN GPT-2 has r + attn then r + mlp per layer. */
  adds: ResidualStreamAdd[];
  /** Calibrated ranges are widened by this factor before they are mapped (default 1). */
  headroom?: number;
  /**
   * 'per-sum' (default): each sum gets its own scale, the range over the stream's top value, so
   * early layers keep resolution while late ones grow. 'common': one scale for every sum (the
   * largest range): the stream's multiplier is exactly 1 and only the added operand is rounded.
   */
  scales?: 'per-sum' | 'common';
}

export interface ResidualStreamPlanStep extends ResidualAddPlan {
  name: string;
  /** The declared bound of the stream operand (2^(bits-1): the previous sum's saturation) and of the added one. */
  bounds: { a: number; b: number };
  /** The proven largest |term| of each side (each <= 2^30 - 1, so the int32 sum is exact). */
  termA: number;
  termB: number;
  /** The calibrated range in output steps (<= 2^(bits-1) - 1: calibrated sums never saturate). */
  rangeSteps: number;
}

/**
 * Plans every residual sum of a stream of `bits` bits and proves it holds: each step's operands
 * (the stream, bounded by 2^(bits-1) whatever the data, and the int8 operand, by 128) rescale to
 * terms within 2^30 - 1, so no int32 intermediate can overflow for any input, and each calibrated
 * range maps into the stream without saturating. Refuses (RangeError naming the sum) a plan where
 * either could fail, e.g. a sum whose range shrinks more than ~2^9-fold from the previous one
 * (the stream's multiplier S_prev / S would push 2^21 past 2^30).
 */
export function planResidualStream(p: ResidualStreamPlanInput): ResidualStreamPlanStep[] {
  const [lo, hi] = signedRange(p.bits, 'residual stream');
  const streamBound = -lo;
  if (!(p.inputScale > 0) || !Number.isFinite(p.inputScale))
    throw new RangeError(`residual stream: input scale ${p.inputScale} is not a positive finite number`);
  if (!Array.isArray(p.adds) || p.adds.length === 0) throw new RangeError('residual stream: no residual sums to plan');
  const headroom = p.headroom ?? 1;
  if (!(headroom >= 1) || !Number.isFinite(headroom))
    throw new RangeError(`residual stream: headroom ${headroom} must be a finite number >= 1`);
  const names = p.adds.map((a, i) => a.name ?? `sum ${i}`);
  p.adds.forEach((a, i) => {
    if (!(a.range > 0) || !Number.isFinite(a.range))
      throw new RangeError(
        `residual stream: ${names[i]} has calibrated range ${a.range}, not a positive finite number`,
      );
  });
  const common = p.scales === 'common' ? headroom * Math.max(...p.adds.map((a) => a.range)) : undefined;
  const steps: ResidualStreamPlanStep[] = [];
  let scale = p.inputScale;
  p.adds.forEach((add, i) => {
    const b = add.operand.maxAbs ?? 128;
    const range = common ?? headroom * add.range;
    let plan: ResidualAddPlan;
    try {
      plan = planResidualAdd({
        a: { scale, maxAbs: streamBound },
        b: { scale: add.operand.scale, maxAbs: b },
        bits: p.bits,
        range,
      });
    } catch (e) {
      throw new RangeError(
        `residual stream: ${names[i]} (range ${add.range}, after a stream at scale ${scale}) cannot be planned: ${(e as Error).message}`,
      );
    }
    const rangeSteps = (headroom * add.range) / plan.scale;
    // Rounding of range / hi can put the calibrated range a hair above hi steps: never past it by a step.
    if (rangeSteps > hi + 1e-6)
      throw new RangeError(
        `residual stream: ${names[i]}'s range ${add.range} is ${rangeSteps} steps, beyond the stream's ${hi}`,
      );
    steps.push({
      ...plan,
      name: names[i],
      bounds: { a: streamBound, b },
      termA: dyadicTermBound(streamBound, plan.a),
      termB: dyadicTermBound(b, plan.b),
      rangeSteps,
    });
    scale = plan.scale;
  });
  return steps;
}
