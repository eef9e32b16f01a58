/**
 * f32 softmax over attention scores with the key padding mask: probs[r, t] = exp(s - max) / sum
 * over the real keys t (mask 1), exactly 0 at masked keys. transformers instead adds the f32
 * minimum to masked scores; exp of that minus the row max underflows to 0, so both agree on every
 * row with at least one real key. A row without one (never produced by a tokenizer) gives zeros
 * here rather than transformers' uniform distribution over padding.
 *
 * Rows r = ((b * heads) + h) * queries + i read `seq` scores `scoreStride` apart and write probs
 * `probStride` apart (>= seq, the vec4 padding of the P.V GEMM's operand): the padding columns are
 * written as 0 every time, since the buffer is reused for other sequence lengths.
 * One workgroup per row; threads stride over keys and reduce in workgroup memory.
 *
 * Causal variant (decoders): query i of `queries` new positions, the last of `seq` keys, also
 * masks keys t > i + (seq - queries): its own position and everything before, past included.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export interface SoftmaxF32ShaderOptions {
  /** Threads per row, a power of two in [1, 256]. */
  workgroupSize: number;
  /** Mask keys after the query's own position (absent: the padding mask alone). */
  causal?: boolean;
}

/** Uniform layout (u32 words). */
export const SOFTMAX_F32_PARAM_FIELDS = [
  'rows',
  'seq',
  'scoreStride',
  'probStride',
  'rowsPerBatch',
  'gridX',
  'queries',
  'pad1',
] as const;

export function softmaxF32Shader(o: SoftmaxF32ShaderOptions): string {
  const WG = o.workgroupSize;
  // Whether key t counts: real, and (causal) not after the query's position.
  const allowed = (t: string) => (o.causal ? `(mask[keys + ${t}] != 0 && ${t} <= last)` : `mask[keys + ${t}] != 0`);
  return wgsl`
struct Params { rows: u32, seq: u32, scoreStride: u32, probStride: u32, rowsPerBatch: u32, gridX: u32, queries: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
// [batch, seq]: 1 for real keys, 0 for padding.
@group(0) @binding(2) var<storage, read> mask: array<i32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;

var<workgroup> partial: array<f32, ${WG}>;

// Lowest finite f32: the max over no real keys stays here, and then the sum is 0.
const LOWEST = -3.40282346e38f;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * params.gridX + wid.x;
  if (row >= params.rows) { return; }
  let src = row * params.scoreStride;
  let dst = row * params.probStride;
  let keys = (row / params.rowsPerBatch) * params.seq;
${o.causal ? '  let last = (row % params.queries) + params.seq - params.queries;' : ''}

  var m = LOWEST;
  for (var t = lid; t < params.seq; t = t + ${WG}u) {
    if (${allowed('t')}) { m = max(m, scores[src + t]); }
  }
  partial[lid] = m;
  workgroupBarrier();
  for (var half = ${WG}u / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { partial[lid] = max(partial[lid], partial[lid + half]); }
    workgroupBarrier();
  }
  let rowMax = partial[0];
  workgroupBarrier();

  var s = 0.0f;
  for (var t = lid; t < params.seq; t = t + ${WG}u) {
    if (${allowed('t')}) { s = s + exp(scores[src + t] - rowMax); }
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var half = ${WG}u / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { partial[lid] = partial[lid] + partial[lid + half]; }
    workgroupBarrier();
  }
  let total = partial[0];
  // The row max contributes exp(0) = 1, so total >= 1 whenever a real key exists.
  let inv = select(0.0f, 1.0f / total, total > 0.0f);

  for (var t = lid; t < params.probStride; t = t + ${WG}u) {
    var p = 0.0f;
    if (t < params.seq && ${allowed('t')}) { p = exp(scores[src + t] - rowMax) * inv; }
    probs[dst + t] = p;
  }
}
`;
}
