/**
 * Residual add: out[rows, cols] (int32) = sat_bits(dyadic(a, ma, ea) + dyadic(b, mb, eb)), each
 * operand int8 packed ([rows, ceil(cols / 4)] words), int32 ([rows, cols]) or int8 packed times
 * per-column integer multipliers ('i8m': |m_c| <= 2^23 - 1, so |q m_c| < 2^30); see
 * src/reference/residual-add.ts for the exact rule.
 *
 * One thread per group of four columns (one word of a packed operand): a packed operand is read as
 * one word, an int32 operand as four contiguous values; four int32 are written. Bindings: a, a's
 * multipliers (i8m only), b, b's multipliers (i8m only), out.
 *
 * Bounds: each term is saturated by dyadic_scale to [-2^30, 2^30 - 1] before the add, so the sum is
 * in [-2^31, 2^31 - 2] and cannot wrap; the host refuses plans in which the guard could fire for
 * the declared input bounds. The output range [lo, hi] (bits <= 31) comes in the uniform, so one
 * pipeline serves every width and multiplier.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { unroll } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';
import { int8LanesWgsl, wordGridEntry } from './int8-lanes.js';

export type ResidualOperandKind = 'i8' | 'i32' | 'i8m';

export interface ResidualAddShaderOptions {
  a: ResidualOperandKind;
  b: ResidualOperandKind;
}

/** Uniform layout (u32 words; lo and hi are i32 bit patterns). */
export const RESIDUAL_ADD_PARAM_FIELDS = [
  'rows',
  'cols',
  'cols4',
  'words',
  'ma',
  'ea',
  'mb',
  'eb',
  'lo',
  'hi',
  'pad0',
  'pad1',
] as const;

/** The value of operand `name` at lane l of this thread's group of four columns. */
function operandLane(name: string, kind: ResidualOperandKind, l: number): string {
  if (kind === 'i32') return `${name}[base + col0 + ${l}u]`;
  const q = `lane_i8(${name}_word, ${l}u)`;
  return kind === 'i8m' ? `${q} * ${name}_m[col0 + ${l}u]` : q;
}

/** Storage bindings in order (after the uniform at 0): each operand, then its multipliers if i8m, then out. */
function storageBindings(o: ResidualAddShaderOptions): string {
  const lines: string[] = [];
  const add = (decl: string) => lines.push(`@group(0) @binding(${lines.length + 1}) ${decl}`);
  for (const side of ['a', 'b'] as const) {
    add(`var<storage, read> ${side}: array<${o[side] === 'i32' ? 'i32' : 'u32'}>;`);
    if (o[side] === 'i8m') add(`var<storage, read> ${side}_m: array<i32>;`);
  }
  add('var<storage, read_write> out: array<i32>;');
  return lines.join('\n');
}

export function residualAddShader(o: ResidualAddShaderOptions): string {
  return wgsl`
struct Params {
  rows: u32, cols: u32, cols4: u32, words: u32,
  ma: u32, ea: u32, mb: u32, eb: u32,
  lo: i32, hi: i32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
${storageBindings(o)}
${dyadicWgsl()}
${int8LanesWgsl()}

// The int32-safe term range: two terms sum to at most 2^31 - 2 and at least -2^31.
const TERM_MIN = i32(-1073741824);
const TERM_MAX = 1073741823i;

fn add_terms(x: i32, y: i32) -> i32 {
  let tx = dyadic_scale(x, params.ma, params.ea, TERM_MIN, TERM_MAX);
  let ty = dyadic_scale(y, params.mb, params.eb, TERM_MIN, TERM_MAX);
  return clamp(tx + ty, params.lo, params.hi);
}

${wordGridEntry()}
  if (index >= params.words) { return; }
  let row = index / params.cols4;
  let col0 = (index - row * params.cols4) * 4u;
  let base = row * params.cols;
#if ${o.a !== 'i32'}
  let a_word = a[index];
#endif
#if ${o.b !== 'i32'}
  let b_word = b[index];
#endif
${unroll(4, (l) => `  if (col0 + ${l}u < params.cols) { out[base + col0 + ${l}u] = add_terms(${operandLane('a', o.a, l)}, ${operandLane('b', o.b, l)}); }`)}
}
`;
}
