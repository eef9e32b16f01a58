/**
 * Attention glue: the fused Q|K|V projection [tokens, 3H] (token = b * seq + s, head h at columns
 * h * d .. h * d + d - 1 of each third) -> per-head GEMM operands
 *   q, k: [batch, heads, seq, dPad]   (rows padded with zeros to dPad = ceil(d / 4) * 4)
 *   vT:   [batch, heads, d, seqPad]   (V transposed, so that P . V is the GEMM's A . B^T)
 * The GEMMs read vec4 words, and heads do not start on word boundaries when d % 4 != 0 (hidden 200
 * with 8 heads), so the split also pads. Padding is rewritten with zeros every time because the
 * buffers are reused for other sequence lengths.
 * q is multiplied by qScale (1/sqrt(d)) on the way, as DistilBERT does before its Q.K^T, so that
 * the scores GEMM needs no scaled variant (each GEMM variant costs seconds of compile time on
 * software adapters); BERT scales the product instead, which differs by an ulp or so.
 * One thread per output element: q and k share indices, vT follows them in the same dispatch.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export const SPLIT_HEADS_F32_WORKGROUP = 64;

/** Uniform layout (u32 words). */
export const SPLIT_HEADS_F32_PARAM_FIELDS = [
  'batch',
  'seq',
  'heads',
  'd',
  'dPad',
  'seqPad',
  'qkCount',
  'vCount',
  'gridX',
  'qScale',
  'pad1',
  'pad2',
] as const;

export function splitHeadsF32Shader(): string {
  return wgsl`
struct Params { batch: u32, seq: u32, heads: u32, d: u32, dPad: u32, seqPad: u32, qkCount: u32, vCount: u32, gridX: u32, qScale: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;
@group(0) @binding(4) var<storage, read_write> vT: array<f32>;

@compute @workgroup_size(${SPLIT_HEADS_F32_WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * params.gridX + wid.x) * ${SPLIT_HEADS_F32_WORKGROUP}u + lid;
  let H = params.heads * params.d;
  if (i < params.qkCount) {
    // i = ((b * heads + h) * seq + s) * dPad + j
    let j = i % params.dPad;
    let row = i / params.dPad;
    let s = row % params.seq;
    let bh = row / params.seq;
    let h = bh % params.heads;
    let b = bh / params.heads;
    var qv = 0.0f;
    var kv = 0.0f;
    if (j < params.d) {
      let src = (b * params.seq + s) * 3u * H + h * params.d + j;
      qv = qkv[src] * bitcast<f32>(params.qScale);
      kv = qkv[src + H];
    }
    q[i] = qv;
    k[i] = kv;
  } else if (i - params.qkCount < params.vCount) {
    // i - qkCount = ((b * heads + h) * d + j) * seqPad + s
    let o = i - params.qkCount;
    let s = o % params.seqPad;
    let row = o / params.seqPad;
    let j = row % params.d;
    let bh = row / params.d;
    let h = bh % params.heads;
    let b = bh / params.heads;
    var v = 0.0f;
    if (s < params.seq) { v = qkv[(b * params.seq + s) * 3u * H + 2u * H + h * params.d + j]; }
    vT[o] = v;
  }
}
`;
}
