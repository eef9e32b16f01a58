/**
 * Integer SiLU (swish, x sigmoid(x)), int32 accumulator -> int8. The algorithm, the constants and
 * the bound of every intermediate are specified in src/reference/silu-i8.ts; in short, with x the
 * accumulator rescaled to fixed point 2^-15 and saturated to +-(2^31 - 1):
 *   u = min(|x|, clip)                      <= clip = 2^19
 *   E = i-exp(u)  (the softmax's)           <= one;  (b - rem)^2 + c < 2^32
 *   n = u * E                               <= clip * one < 2^32   (u32, checked by the host wrapper)
 *   corr = round(n / (E + one))             <= 2^18
 *   g = max(x, 0) - corr                    in [-2^18, 2^31 - 1]
 * The exp argument is never positive, so exp stays in (0, 1] and the sigmoid needs no overflow
 * guard; the division is a true u32 division (exact in WGSL) rounded half up from its remainder.
 * No float anywhere.
 *
 * Two faces: isiluWgsl(), a helper the INT8 GEMM epilogue calls (an FFN's first GEMM fused), and
 * siluI8Shader(), a standalone element-wise kernel: x [rows, cols] array<i32> -> y [rows,
 * ceil(cols / 4)] packed int8 words, padding lanes zero. Constants live in a storage struct, so
 * one pipeline serves every layer.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { range } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';

/**
 * The SiluI8 struct and `isilu(acc, rq, s) -> i32` (int8 value in [-128, 127]); `isilu_fixed`
 * returns the fixed-point SiLU before the output rescale. rq = (m, e) rescales acc to fixed point:
 * per channel from a requant array, or vec2(s.in_m, s.in_e) for one per tensor.
 * The module must also include dyadicWgsl() (once).
 */
export function isiluWgsl(): string {
  return wgsl`
// Layout of packSiluI8Constants (src/reference/silu-i8.ts).
struct SiluI8 {
  in_m: u32,
  in_e: u32,
  clip: u32,
  ln2: u32,
  poly_b: u32,
  poly_c: u32,
  shift: u32,
  one: u32,
  out_m: u32,
  out_e: u32,
}

// round(p / 2^k), ties up, for any k (the softmax's shr_round): shifts of 32 or more are not
// defined in WGSL, and (y >> 1) + (y & 1) rounds without the carry p + 2^(k-1) could overflow.
fn isilu_shr_round(p: u32, k: u32) -> u32 {
  if (k == 0u) { return p; }
  if (k > 32u) { return 0u; }
  let y = p >> (k - 1u);
  return (y >> 1u) + (y & 1u);
}

// The softmax's i-exp of -u (u in units of 2^-15, u <= clip): exp(-u) in units of 1 / s.one.
fn isilu_exp(u: u32, s: SiluI8) -> u32 {
  let z = u / s.ln2;
  let rem = u - z * s.ln2;
  let w = s.poly_b - rem;
  return isilu_shr_round(w * w + s.poly_c, s.shift + z);
}

fn isilu_fixed(acc: i32, rq: vec2<u32>, s: SiluI8) -> i32 {
  // +-(2^31 - 1), not -2^31: |x| must stay an i32.
  let x = dyadic_scale(acc, rq.x, rq.y, -2147483647i, 2147483647i);
  let u = min(u32(abs(x)), s.clip);
  let e = isilu_exp(u, s);
  let d = e + s.one;
  let n = u * e;
  let q = n / d;
  let corr = q + select(0u, 1u, 2u * (n - q * d) >= d);
  return max(x, 0i) - i32(corr);
}

fn isilu(acc: i32, rq: vec2<u32>, s: SiluI8) -> i32 {
  return dyadic_scale(isilu_fixed(acc, rq, s), s.out_m, s.out_e, -128i, 127i);
}
`;
}

export interface SiluI8ShaderOptions {
  /** Input rescale per column from a requant array (per-channel weight scales), or s.in_m/in_e. */
  perChannel: boolean;
}

export const SILU_WORKGROUP = 64;

/** Uniform layout (u32 words), shared with the host wrapper. */
export const SILU_PARAM_FIELDS = ['rows', 'cols', 'words', 'groupsX'] as const;

/**
 * One thread per output word (4 columns), the dispatch folded into 2-D (groupsX per row of
 * workgroups) to stay under the per-dimension workgroup limit.
 * Bindings: params, x, [requant], silu, y.
 */
export function siluI8Shader(o: SiluI8ShaderOptions): string {
  const lanes = range(4).map(
    (l) => `    if (col0 + ${l}u < params.cols) {
      w = w | ((u32(isilu(x[inBase + ${l}u], ${o.perChannel ? `requant[col0 + ${l}u]` : 'vec2<u32>(s.in_m, s.in_e)'}, s)) & 0xffu) << ${8 * l}u);
    }`,
  );
  return wgsl`
struct Params {
${SILU_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<i32>;
#if ${o.perChannel}
@group(0) @binding(2) var<storage, read> requant: array<vec2<u32>>;
#endif
@group(0) @binding(${o.perChannel ? 3 : 2}) var<storage, read> silu: SiluI8;
@group(0) @binding(${o.perChannel ? 4 : 3}) var<storage, read_write> y: array<u32>;
${dyadicWgsl()}
${isiluWgsl()}

@compute @workgroup_size(${SILU_WORKGROUP}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let index = (wid.y * params.groupsX + wid.x) * ${SILU_WORKGROUP}u + lid.x;
  if (index >= params.rows * params.words) { return; }
  let row = index / params.words;
  let col0 = (index % params.words) * 4u;
  let inBase = row * params.cols + col0;
  let s = silu;
  var w = 0u;
${lanes.join('\n')}
  y[index] = w;
}
`;
}
