/**
 * Requantize: int32 [rows, cols] -> int8 (or uint8) [rows, ceil(cols / 4)] packed words,
 *   out = dyadic(x, m, e) saturated to [-128, 127] (or [0, 255]),
 * with one (m, e) per column or per tensor (src/reference/requantize.ts).
 *
 * One thread per output word: it reads the four int32 of its lanes (16 contiguous bytes, and
 * neighbouring threads read neighbouring bytes) and writes one whole word, padding lanes zero.
 *
 * Bounds: the dyadic rescale forms |x| * m < 2^62 exactly in two u32 (shaders/dyadic.ts), so every
 * int32 x, m < 2^31 and e <= 63 is exact; lanes are saturated before packing. Indices: the host
 * keeps rows * ceil(cols / 4) * 4 + 64 <= 2^32 (checkElementwiseShape), so no index wraps.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { unroll } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';
import { int8LanesWgsl, wordGridEntry } from './int8-lanes.js';

export interface RequantizeShaderOptions {
  output: 'i8' | 'u8';
  /** One (m, e) per column, or one for the tensor. */
  perChannel: boolean;
}

/** Uniform layout (u32 words). */
export const REQUANTIZE_PARAM_FIELDS = ['rows', 'cols', 'cols4', 'words'] as const;

export function requantizeShader(o: RequantizeShaderOptions): string {
  const [lo, hi] = o.output === 'u8' ? ['0i', '255i'] : ['-128i', '127i'];
  return wgsl`
struct Params { rows: u32, cols: u32, cols4: u32, words: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<i32>;
// (multiplier, shift) per column, or one for the tensor.
@group(0) @binding(2) var<storage, read> requant: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
${dyadicWgsl()}
${int8LanesWgsl()}
${wordGridEntry()}
  if (index >= params.words) { return; }
  let row = index / params.cols4;
  let col0 = (index - row * params.cols4) * 4u;
  let base = row * params.cols;
#if ${!o.perChannel}
  let rq = requant[0];
#endif
  var lanes = vec4<i32>(0i);
${unroll(
  4,
  (l) => `  if (col0 + ${l}u < params.cols) {
    let rq_${l} = ${o.perChannel ? `requant[col0 + ${l}u]` : 'rq'};
    lanes[${l}] = dyadic_scale(x[base + col0 + ${l}u], rq_${l}.x, rq_${l}.y, ${lo}, ${hi});
  }`,
)}
  y[index] = pack_lanes(lanes);
}
`;
}
