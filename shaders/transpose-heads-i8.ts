/**
 * Per-head transpose for the P.V GEMM: V, int8 [batch * seq, rowWords] packed along the hidden
 * axis (head h at columns colOffset + h * headDim), becomes V^T [batch, heads, headDim,
 * ceil(seq / 4)] packed along the sequence, so that the GEMM's K axis (keys) is contiguous.
 * One thread per output word: it gathers the same lane from four consecutive token rows. Lanes
 * past the sequence are zero, so the GEMM's K padding contributes nothing.
 */
import { unroll } from './codegen.js';
import { int8LanesWgsl, wordGridEntry } from './int8-lanes.js';

export const TRANSPOSE_HEADS_PARAM_FIELDS = [
  'batch',
  'seq',
  'heads',
  'headDim',
  'seq4',
  'rowWords',
  'colOffset',
  'words',
] as const;

export function transposeHeadsI8Shader(): string {
  return `
struct Params { batch: u32, seq: u32, heads: u32, headDim: u32, seq4: u32, rowWords: u32, colOffset: u32, words: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
${int8LanesWgsl()}
${wordGridEntry()}
  if (index >= params.words) { return; }
  // index = ((b * heads + h) * headDim + d) * seq4 + w
  let w = index % params.seq4;
  let bhd = index / params.seq4;
  let d = bhd % params.headDim;
  let bh = bhd / params.headDim;
  let h = bh % params.heads;
  let b = bh / params.heads;
  let col = params.colOffset + h * params.headDim + d;
  var lanes = vec4<i32>(0i);
${unroll(
  4,
  (l) => `  {
    let s = w * 4u + ${l}u;
    if (s < params.seq) {
      lanes[${l}] = lane_i8(x[(b * params.seq + s) * params.rowWords + col / 4u], col % 4u);
    }
  }`,
)}
  y[index] = pack_lanes(lanes);
}
`;
}
