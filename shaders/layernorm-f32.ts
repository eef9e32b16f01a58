/**
 * f32 LayerNorm over rows of H values, optionally of the sum x + residual (the post-LN residual
 * connection of BERT-family encoders, fused so that the sum is never written): two passes as torch
 * does, mean then biased variance of the centered values, y = (v - mean) * inverseSqrt(var + eps)
 * * gamma + beta. Two passes, not E[v^2] - mean^2, because the one-pass form cancels badly when
 * |mean| >> std, which residual streams do have.
 *
 * Rows are `stride` values apart (stride >= H, the vec4 padding of GEMM operands); only the first
 * H values of a row are read or written, so zero padding written once stays zero.
 * One workgroup per row; its threads stride over the row and reduce in workgroup memory.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export interface LayerNormF32ShaderOptions {
  /** Threads per row, a power of two in [1, 256]. */
  workgroupSize: number;
  residual: boolean;
}

/** Uniform layout (u32 words; eps as f32 bits). */
export const LAYERNORM_F32_PARAM_FIELDS = ['rows', 'H', 'stride', 'gridX', 'eps', 'pad0', 'pad1', 'pad2'] as const;

export function layerNormF32Shader(o: LayerNormF32ShaderOptions): string {
  const WG = o.workgroupSize;
  return wgsl`
struct Params { rows: u32, H: u32, stride: u32, gridX: u32, eps: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
#if ${o.residual}
@group(0) @binding(2) var<storage, read> residual: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
#endif

var<workgroup> partial: array<f32, ${WG}>;

fn value(i: u32) -> f32 {
#if ${o.residual}
  return x[i] + residual[i];
#else
  return x[i];
#endif
}

// Tree sum of every thread's v; all threads get the total.
fn row_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var half = ${WG}u / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { partial[lid] = partial[lid] + partial[lid + half]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * params.gridX + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.stride;
  let n = f32(params.H);
  var s = 0.0f;
  for (var c = lid; c < params.H; c = c + ${WG}u) { s = s + value(base + c); }
  let mean = row_sum(lid, s) / n;
  var q = 0.0f;
  for (var c = lid; c < params.H; c = c + ${WG}u) {
    let d = value(base + c) - mean;
    q = q + d * d;
  }
  let inv = inverseSqrt(row_sum(lid, q) / n + bitcast<f32>(params.eps));
  for (var c = lid; c < params.H; c = c + ${WG}u) {
    y[base + c] = (value(base + c) - mean) * inv * gamma[c] + beta[c];
  }
}
`;
}
