/**
 * Elementwise f32 sum y = a + b over a flat array: the free-standing residual adds of pre-LN
 * stacks (GPT-2: h1 = x + attn(LN(x)) is read by the next LayerNorm and by the next residual, so
 * it cannot live inside a LayerNorm's residual input). Padded rows map padding to padding
 * (0 + 0 = 0). One IEEE f32 addition per value: the result is exact-rounded, bit for bit the
 * reference's Math.fround(a + b).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** Uniform layout (u32 words). */
export const ADD_F32_PARAM_FIELDS = ['count', 'gridX', 'pad0', 'pad1'] as const;

export const ADD_F32_WORKGROUP = 64;

export function addF32Shader(): string {
  return wgsl`
struct Params { count: u32, gridX: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${ADD_F32_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * params.gridX + wid.x) * ${ADD_F32_WORKGROUP}u + lid;
  if (i < params.count) {
    y[i] = a[i] + b[i];
  }
}
`;
}
