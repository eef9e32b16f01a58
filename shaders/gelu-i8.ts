/**
 * Integer GELU (I-BERT's i-GELU), int32 accumulator -> int8. The algorithm, the constants and the
 * bound of every intermediate are specified in src/reference/gelu-i8.ts; in short, with
 * x the accumulator rescaled to fixed point 2^-F (F <= 14) and saturated to +-(2^31 - 1):
 *   xc = min(|x|, clip)          <= clip <= 46340
 *   d * d                        <= clip^2 < 2^31
 *   p = dyadic(d * d, 1, shift)  and  xc * p <= clip * pmax < 2^31   (checked by the host wrapper)
 *   g = max(x, 0) - corr         in [-corr_max, 2^31 - 1]: a difference of two non-negative i32
 * Every rescale is dyadic_scale, so rounding is the project's one rule and no float math is used.
 *
 * Two faces: igeluWgsl(), a helper the INT8 GEMM epilogue calls (FFN1 fused), and geluI8Shader(),
 * a standalone element-wise kernel: x [rows, cols] array<i32> -> y [rows, ceil(cols / 4)] packed
 * int8 words, padding lanes zero. Constants live in a storage struct, not in the code, so one
 * pipeline serves every layer.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { range } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';

/**
 * The GeluI8 struct and `igelu(acc, rq, g) -> i32` (int8 value in [-128, 127]); `igelu_fixed`
 * returns the fixed-point GELU before the output rescale. rq = (m, e) rescales acc to fixed point:
 * per channel from a requant array, or vec2(g.in_m, g.in_e) for one per tensor.
 * The module must also include dyadicWgsl() (once; the GEMM epilogue already does for 'i8').
 */
export function igeluWgsl(): string {
  return wgsl`
// Layout of packGeluI8Constants (src/reference/gelu-i8.ts).
struct GeluI8 {
  in_m: u32,
  in_e: u32,
  clip: u32,
  shift: u32,
  corr_m: u32,
  corr_e: u32,
  out_m: u32,
  out_e: u32,
}

fn igelu_fixed(acc: i32, rq: vec2<u32>, g: GeluI8) -> i32 {
  // +-(2^31 - 1), not -2^31: |x| must stay an i32. Below -clip GELU is 0 whatever x is.
  let x = dyadic_scale(acc, rq.x, rq.y, -2147483647i, 2147483647i);
  let xc = min(u32(abs(x)), g.clip);
  let d = g.clip - xc;
  let p = dyadic_scale(i32(d * d), 1u, g.shift, 0i, 2147483647i);
  let corr = dyadic_scale(i32(xc) * p, g.corr_m, g.corr_e, 0i, 2147483647i);
  return max(x, 0i) - corr;
}

fn igelu(acc: i32, rq: vec2<u32>, g: GeluI8) -> i32 {
  return dyadic_scale(igelu_fixed(acc, rq, g), g.out_m, g.out_e, -128i, 127i);
}
`;
}

export interface GeluI8ShaderOptions {
  /** Input rescale per column from a requant array (per-channel weight scales), or g.in_m/in_e. */
  perChannel: boolean;
}

export const GELU_WORKGROUP = 64;

/** Uniform layout (u32 words), shared with the host wrapper. */
export const GELU_PARAM_FIELDS = ['rows', 'cols', 'words', 'groupsX'] as const;

/**
 * One thread per output word (4 columns). The dispatch is folded into 2-D (groupsX per row of
 * workgroups) so that large tensors stay under the per-dimension workgroup limit.
 * Bindings: params, x, [requant], gelu, y.
 */
export function geluI8Shader(o: GeluI8ShaderOptions): string {
  const lanes = range(4).map(
    (l) => `    if (col0 + ${l}u < params.cols) {
      w = w | ((u32(igelu(x[inBase + ${l}u], ${o.perChannel ? `requant[col0 + ${l}u]` : 'vec2<u32>(g.in_m, g.in_e)'}, g)) & 0xffu) << ${8 * l}u);
    }`,
  );
  return wgsl`
struct Params {
${GELU_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<i32>;
#if ${o.perChannel}
@group(0) @binding(2) var<storage, read> requant: array<vec2<u32>>;
#endif
@group(0) @binding(${o.perChannel ? 3 : 2}) var<storage, read> gelu: GeluI8;
@group(0) @binding(${o.perChannel ? 4 : 3}) var<storage, read_write> y: array<u32>;
${dyadicWgsl()}
${igeluWgsl()}

@compute @workgroup_size(${GELU_WORKGROUP}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let index = (wid.y * params.groupsX + wid.x) * ${GELU_WORKGROUP}u + lid.x;
  if (index >= params.rows * params.words) { return; }
  let row = index / params.words;
  let col0 = (index % params.words) * 4u;
  let inBase = row * params.cols + col0;
  let g = gelu;
  var w = 0u;
${lanes.join('\n')}
  y[index] = w;
}
`;
}
