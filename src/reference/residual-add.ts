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
import { type Dyadic, checkDyadic, dyadicScale, toDyadic } from './dyadic.js';

export type ResidualOperand = 'i8' | 'i32';

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
    throw new RangeError(`${what}: output width ${bits} bits is not an integer in [${MIN_OUTPUT_BITS}, ${MAX_OUTPUT_BITS}]`);
  }
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

/** Largest |dyadic(x, m, e)| over |x| <= maxAbs, without saturation (the rescale is monotone in |x|). */
export function dyadicTermBound(maxAbs: number, d: Dyadic): number {
  return dyadicScale(maxAbs, d.m, d.e, 0, Number.MAX_SAFE_INTEGER);
}

/** The bound an operand of this kind is known to respect: 128 for int8, 2^31 for int32 unless declared tighter. */
export function operandMaxAbs(kind: ResidualOperand, declared?: number): number {
  const full = kind === 'i8' ? 128 : 2 ** 31;
  if (declared === undefined) return full;
  if (!Number.isInteger(declared) || declared < 0 || declared > full) {
    throw new RangeError(`residual add: declared bound ${declared} is not an integer in [0, ${full}] for a ${kind} operand`);
  }
  return declared;
}

export function residualAddRef(a: ArrayLike<number>, b: ArrayLike<number>, c: ResidualAddConstants): Int32Array {
  if (a.length !== b.length) throw new RangeError(`residualAddRef: operands have ${a.length} and ${b.length} values`);
  checkDyadic(c.a, 'residual add multiplier a');
  checkDyadic(c.b, 'residual add multiplier b');
  const [lo, hi] = signedRange(c.bits);
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const ta = dyadicScale(a[i], c.a.m, c.a.e, RESIDUAL_TERM_MIN, RESIDUAL_TERM_MAX);
    const tb = dyadicScale(b[i], c.b.m, c.b.e, RESIDUAL_TERM_MIN, RESIDUAL_TERM_MAX);
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
  for (const [name, o] of [['a', p.a], ['b', p.b]] as const) {
    if (!(o.scale > 0) || !Number.isFinite(o.scale)) throw new RangeError(`planResidualAdd: scale of ${name} ${o.scale} is not a positive finite number`);
    if (!Number.isInteger(o.maxAbs) || o.maxAbs < 0 || o.maxAbs > 2 ** 31) throw new RangeError(`planResidualAdd: bound of ${name} ${o.maxAbs} is not an integer in [0, 2^31]`);
  }
  const range = p.range ?? p.a.maxAbs * p.a.scale + p.b.maxAbs * p.b.scale;
  if (!(range > 0) || !Number.isFinite(range)) throw new RangeError(`planResidualAdd: range ${range} is not a positive finite number`);
  const scale = range / hi;
  const plan: ResidualAddPlan = {
    scale,
    bits: p.bits,
    a: toDyadic(p.a.scale / scale, 'residual add ratio S_a / S'),
    b: toDyadic(p.b.scale / scale, 'residual add ratio S_b / S'),
  };
  for (const [name, o, d] of [['a', p.a, plan.a], ['b', p.b, plan.b]] as const) {
    const t = dyadicTermBound(o.maxAbs, d);
    if (t > RESIDUAL_TERM_MAX) {
      throw new RangeError(`planResidualAdd: with range ${range}, |${name}| <= ${o.maxAbs} rescales to ${t} > 2^30 - 1; plan a wider range or fewer bits`);
    }
  }
  return plan;
}

/** The accuracy bound above, in output steps, for one element; deltas bound |m / 2^e - r| per side. */
export function residualAddErrorBound(a: number, b: number, deltaA: number, deltaB: number): number {
  return 1 + Math.abs(a) * deltaA + Math.abs(b) * deltaB;
}
