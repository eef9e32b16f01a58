/**
 * Mean pooling over real tokens, the sentence embedding of a bare encoder (sentence-transformers'
 * rule): out[b, c] = sum_s mask[b, s] * x[b * seq + s, c] / max(sum_s mask[b, s], 1e-9), the sum
 * taken in token order. Input rows are `stride` apart; the output is [batch, H] unpadded.
 * One thread per output value; adjacent threads read adjacent columns.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export const MEAN_POOL_F32_WORKGROUP = 64;

/** Uniform layout (u32 words). */
export const MEAN_POOL_F32_PARAM_FIELDS = ['batch', 'seq', 'H', 'stride', 'gridX', 'pad0', 'pad1', 'pad2'] as const;

export function meanPoolF32Shader(): string {
  return wgsl`
struct Params { batch: u32, seq: u32, H: u32, stride: u32, gridX: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${MEAN_POOL_F32_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * params.gridX + wid.x) * ${MEAN_POOL_F32_WORKGROUP}u + lid;
  if (i >= params.batch * params.H) { return; }
  let b = i / params.H;
  let c = i % params.H;
  var sum = 0.0f;
  var count = 0.0f;
  for (var s = 0u; s < params.seq; s = s + 1u) {
    if (mask[b * params.seq + s] != 0) {
      sum = sum + x[(b * params.seq + s) * params.stride + c];
      count = count + 1.0f;
    }
  }
  out[i] = sum / max(count, 1e-9f);
}
`;
}
