/**
 * Integer LayerNorm: int32 [rows, H] (the wide residual stream) -> int8 [rows, ceil(H/4)] packed words.
 * The exact semantics, and every constant, are in src/reference/layernorm-i8.ts; the overflow proof
 * is in docs/kernels/layernorm-i8.md and enforced by src/kernels/layernorm-i8.ts.
 *
 * One workgroup per row. Thread t owns packed output words t, t + WG, t + 2 WG, ... and keeps the
 * 4 * WPT inputs behind them in registers, so global memory is read once and written once; the row
 * sum and the variance sum are tree reductions in workgroup memory.
 *
 * Bounds of every intermediate, with H <= 16384 and B = params.maxAbs <= 2^30 - 1:
 *   xc = clamp(x, -B, B)          |xc| < 2^30
 *   sum of (xc & 0xffff)          <= H (2^16 - 1) < 2^30        (u32, any partial sum too)
 *   sum of (xc >> 16)             |.| <= H 2^14 <= 2^28         (i32)
 *   mean                          |mean| <= B: the rounded mean of values in [-B, B]
 *   y = xc - mean                 |y| <= 2B < 2^31
 *   t^2, variance                 saturated at 2^32 - 1 (saturating addition is associative)
 *   root                          < 2^16, and >= 2^8 when variance > 0; factor <= 2^24
 *   z = dyadic(y, factor, ...)    product < 2^55 in the 64-bit (lo, hi) of dyadic_scale; |z| <= 2^30
 *   d = dyadic(+-z, m, e)         product < 2^61; |d| <= 2^30; |d + beta| <= 2^30 + 2^29
 *
 * Residual variant (options.residual): the input row is not read from an int32 tensor but made on
 * the fly from the residual add's two operands exactly as shaders/residual-add.ts makes it (each
 * term dyadic-rescaled and saturated to [-2^30, 2^30 - 1], the sum saturated to [lo, hi] of at most
 * 31 bits, so |sum| <= 2^30 and the bounds above hold unchanged), so a post-LN layer's residual add
 * and LayerNorm are one dispatch and the wide sum never reaches memory. With writeSum the sum is
 * also stored (int32 [rows, H]) for later readers of the stream (pre-LN decoders). Bindings: a, a's
 * multipliers (i8m only), b, b's multipliers (i8m only), channels, out, sum (writeSum only).
 *
 * Wide variant (options.wideOutput): the output is int32 [rows, H], the last rounding saturated to
 * [-params.outMax, params.outMax] instead of int8 (layerNormWideRef): the LayerNorm written straight
 * into the wide residual stream. Thread t then writes the 4 columns of each word it owns.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { dyadicWgsl } from './dyadic.js';
import { int8LanesWgsl } from './int8-lanes.js';
import type { ResidualOperandKind } from './residual-add.js';

/** The residual add read in place of the int32 input: its operand kinds, and whether the sum is also stored. */
export interface LayerNormI8ResidualInput {
  a: ResidualOperandKind;
  b: ResidualOperandKind;
  writeSum: boolean;
}

export interface LayerNormI8ShaderOptions {
  /** Threads per workgroup, a power of two in [1, 256]. */
  workgroupSize: number;
  /** Packed output words per thread: workgroupSize * wordsPerThread * 4 >= H. */
  wordsPerThread: number;
  /** Absent: the input is the int32 stream. */
  residual?: LayerNormI8ResidualInput;
  /** int32 output saturated at params.outMax (absent: packed int8). */
  wideOutput?: boolean;
}

/** Uniform layout (u32 words), shared with the host wrapper. */
export const LAYERNORM_PARAM_FIELDS = ['rows', 'H', 'words', 'shift', 'maxAbs', 'epsVar', 'gridX', 'outMax'] as const;
/** The residual variant's uniform: LAYERNORM_PARAM_FIELDS, then the residual add's constants (lo, hi as i32 bits). */
export const LAYERNORM_RESIDUAL_PARAM_FIELDS = [
  ...LAYERNORM_PARAM_FIELDS,
  'ma',
  'ea',
  'mb',
  'eb',
  'lo',
  'hi',
  'pad1',
  'pad2',
] as const;

/** Storage declarations of the input side, from binding 1 on; returns them and the next free binding. */
function inputBindings(r: LayerNormI8ResidualInput | undefined): { decls: string; next: number } {
  if (!r) return { decls: '@group(0) @binding(1) var<storage, read> x: array<i32>;', next: 2 };
  const lines: string[] = [];
  const add = (decl: string) => lines.push(`@group(0) @binding(${lines.length + 1}) ${decl}`);
  for (const side of ['a', 'b'] as const) {
    add(`var<storage, read> ${side}: array<${r[side] === 'i32' ? 'i32' : 'u32'}>;`);
    if (r[side] === 'i8m') add(`var<storage, read> ${side}_m: array<i32>;`);
  }
  return { decls: lines.join('\n'), next: lines.length + 1 };
}

/** The WGSL value of operand `side` at column `col`, lane `j` of this thread's word (see residual-add.ts). */
function operandValue(side: 'a' | 'b', kind: ResidualOperandKind): string {
  if (kind === 'i32') return `${side}[base + col]`;
  const q = `lane_i8(${side}_word, j)`;
  return kind === 'i8m' ? `${q} * ${side}_m[col]` : q;
}

/**
 * The statement that sets `v` (declared 0) for column `col` < H: the clamped stream value, or
 * the residual sum made as residual-add makes it (stored first when writeSum), then clamped.
 */
function inputValue(r: LayerNormI8ResidualInput | undefined): string {
  if (!r) return 'v = clamp(x[base + col], -B, B);';
  return `let s = residual_sum(${operandValue('a', r.a)}, ${operandValue('b', r.b)});${r.writeSum ? '\n        sum[base + col] = s;' : ''}
        v = clamp(s, -B, B);`;
}

/** Per-word loads of the packed operands (an i32 operand is read per column). */
function wordLoads(r: LayerNormI8ResidualInput | undefined): string {
  if (!r) return '';
  return (['a', 'b'] as const)
    .filter((side) => r[side] !== 'i32')
    .map(
      (side) => `    var ${side}_word = 0u;
    if (word < params.words) { ${side}_word = ${side}[row * params.words + word]; }`,
    )
    .join('\n');
}

function residualWgsl(r: LayerNormI8ResidualInput | undefined): string {
  if (!r) return '';
  return `
${int8LanesWgsl()}
// The residual add's rule (src/reference/residual-add.ts): terms saturated to the int32-safe
// [-2^30, 2^30 - 1], so their sum cannot wrap, then the sum saturated to the stream's width.
fn residual_sum(x: i32, y: i32) -> i32 {
  let tx = dyadic_scale(x, params.ma, params.ea, i32(-1073741824), 1073741823i);
  let ty = dyadic_scale(y, params.mb, params.eb, i32(-1073741824), 1073741823i);
  return clamp(tx + ty, params.lo, params.hi);
}
`;
}

/**
 * Exact floor(sqrt(v)) for every u32, bit by bit from the top: before the step with bit = 4^j,
 * root = q * 4^(j+1) where q holds the root's bits above j, and rem = v - q^2 4^(j+1). Bit j of the
 * root is set iff (2q + 1)^2 4^j <= v, i.e. rem >= root + bit; root + bit < 2^32 because q < 2^(15-j).
 * Sixteen fixed steps, so it terminates with q = floor(sqrt(v)).
 */
export function isqrtWgsl(): string {
  return `
fn isqrt_u32(v: u32) -> u32 {
  var rem = v;
  var root = 0u;
  var bit = 0x40000000u;
  for (var i = 0u; i < 16u; i = i + 1u) {
    let trial = root + bit;
    if (rem >= trial) {
      rem = rem - trial;
      root = (root >> 1u) + bit;
    } else {
      root = root >> 1u;
    }
    bit = bit >> 2u;
  }
  return root;
}
`;
}

export function layerNormI8Shader(o: LayerNormI8ShaderOptions): string {
  const WG = o.workgroupSize;
  const WPT = o.wordsPerThread;
  const r = o.residual;
  const { decls, next } = inputBindings(r);
  const residualParams = r ? '\n  ma: u32, ea: u32, mb: u32, eb: u32,\n  lo: i32, hi: i32, pad1: u32, pad2: u32,' : '';
  const sumBinding = r?.writeSum ? `\n@group(0) @binding(${next + 2}) var<storage, read_write> sum: array<i32>;` : '';
  return wgsl`
struct Params {
  rows: u32,
  H: u32,
  words: u32,
  shift: u32,
  maxAbs: i32,
  epsVar: u32,
  gridX: u32,
  outMax: i32,${residualParams}
}

@group(0) @binding(0) var<uniform> params: Params;
${decls}
// Per channel: (gamma multiplier m, its shift e, 1 if gamma < 0, beta in 1/256 steps as bits).
@group(0) @binding(${next}) var<storage, read> channel: array<vec4<u32>>;
@group(0) @binding(${next + 1}) var<storage, read_write> out: array<${o.wideOutput ? 'i32' : 'u32'}>;${sumBinding}

${dyadicWgsl()}
${isqrtWgsl()}
${residualWgsl(r)}

const WG = ${WG}u;
const WPT = ${WPT}u;

// (low 16 bits summed as u32, high bits summed as i32): the exact row sum needs up to 45 bits.
var<workgroup> sums: array<vec2<u32>, ${WG}>;
var<workgroup> squares: array<u32, ${WG}>;

fn add_sat(a: u32, b: u32) -> u32 {
  let s = a + b;
  return select(s, 0xffffffffu, s < a);
}

// floor(y / 2^s + 1/2) without forming y + 2^(s-1).
fn shift_round(y: i32, s: u32) -> i32 {
  if (s == 0u) { return y; }
  return (y >> s) + ((y >> (s - 1u)) & 1i);
}

fn square_sat(t: i32) -> u32 {
  let a = u32(abs(t));
  // abs(-2^31) stays -2^31, whose bits as u32 are 2^31: also above the limit.
  return select(a * a, 0xffffffffu, a > 0xffffu);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let row = wid.y * params.gridX + wid.x;
  // Uniform across the workgroup, so the barriers below stay in uniform control flow.
  if (row >= params.rows) { return; }
  let H = params.H;
  let B = params.maxAbs;
  let base = row * H;

  var xs: array<i32, ${4 * WPT}>;
  var lo = 0u;
  var hi = 0i;
  for (var k = 0u; k < WPT; k = k + 1u) {
    let word = tid + k * WG;
${wordLoads(r)}
    for (var j = 0u; j < 4u; j = j + 1u) {
      let col = word * 4u + j;
      var v = 0i;
      if (col < H) {
        ${inputValue(r)}
      }
      xs[k * 4u + j] = v;
      lo = lo + (u32(v) & 0xffffu);
      hi = hi + (v >> 16u);
    }
  }
  sums[tid] = vec2<u32>(lo, bitcast<u32>(hi));
  for (var stride = WG / 2u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (tid < stride) {
      let a = sums[tid];
      let b = sums[tid + stride];
      sums[tid] = vec2<u32>(a.x + b.x, bitcast<u32>(bitcast<i32>(a.y) + bitcast<i32>(b.y)));
    }
  }
  workgroupBarrier();
  let total = sums[0];

  // mean = floor((sum + floor(H/2)) / H) with sum = a * 2^16 + l, 0 <= l < 2^16:
  // a = qa H + ra (floor division), so mean = qa 2^16 + floor((ra 2^16 + l + floor(H/2)) / H),
  // where ra 2^16 + l + H/2 < (H + 1) 2^16 < 2^31.
  let Hi = i32(H);
  let a = bitcast<i32>(total.y) + i32(total.x >> 16u);
  var qa = a / Hi;
  var ra = a - qa * Hi;
  if (ra < 0i) {
    qa = qa - 1i;
    ra = ra + Hi;
  }
  let rest = (u32(ra) << 16u) + (total.x & 0xffffu) + (H >> 1u);
  let mean = qa * 65536i + i32(rest / H);

  let s = params.shift;
  var sq = 0u;
  for (var k = 0u; k < WPT; k = k + 1u) {
    let word = tid + k * WG;
    for (var j = 0u; j < 4u; j = j + 1u) {
      if (word * 4u + j < H) {
        sq = add_sat(sq, square_sat(shift_round(xs[k * 4u + j] - mean, s)));
      }
    }
  }
  squares[tid] = sq;
  for (var stride = WG / 2u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (tid < stride) {
      squares[tid] = add_sat(squares[tid], squares[tid + stride]);
    }
  }
  workgroupBarrier();
  let variance = add_sat(squares[0], params.epsVar);

  // 1 / sqrt(variance) as factor / 2^(32 + s - h): the root is normalized to 16 bits by h.
  var factor = 0u;
  var zShift = 0u;
  if (variance != 0u) {
    let h = min(countLeadingZeros(variance) >> 1u, 8u + s);
    let root = isqrt_u32(variance << (2u * h));
    factor = 0xffffffffu / root;
    zShift = 8u + s - h;
  }

  for (var k = 0u; k < WPT; k = k + 1u) {
    let word = tid + k * WG;
    if (word < params.words) {
      var packed = 0u;
      for (var j = 0u; j < 4u; j = j + 1u) {
        let col = word * 4u + j;
        if (col < H) {
          let z = dyadic_scale(xs[k * 4u + j] - mean, factor, zShift, -1073741824i, 1073741824i);
          let c = channel[col];
          let d = dyadic_scale(select(z, -z, c.z != 0u), c.x, c.y, -1073741824i, 1073741824i);
${
  o.wideOutput
    ? `          out[base + col] = dyadic_scale(d + bitcast<i32>(c.w), 1u, 8u, -params.outMax, params.outMax);`
    : `          let q = dyadic_scale(d + bitcast<i32>(c.w), 1u, 8u, -128i, 127i);
          packed = packed | ((u32(q) & 0xffu) << (8u * j));`
}
        }
      }${o.wideOutput ? '' : '\n      out[row * params.words + word] = packed;'}
    }
  }
}
`;
}
