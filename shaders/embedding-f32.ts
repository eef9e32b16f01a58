/**
 * f32 embedding sum, the input of the embedding LayerNorm: for each token,
 *   out = (word[inputId] + tokenType[typeId]) + position[positionId]
 * in transformers' order of additions (BERT and RoBERTa add the token types first; DistilBERT,
 * which has none, word + position). Tables are row-major [rows, H]; out rows are `stride` apart
 * (the vec4 padding of GEMM operands) and only their first H values are written.
 * Ids are validated on the host; the clamps only keep a bad id from reading out of bounds.
 * One workgroup per token, threads striding over the hidden dimension.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export interface EmbeddingF32ShaderOptions {
  tokenTypes: boolean;
  workgroupSize: number;
}

/** Uniform layout (u32 words). */
export const EMBEDDING_F32_PARAM_FIELDS = [
  'tokens',
  'H',
  'stride',
  'gridX',
  'vocab',
  'positions',
  'types',
  'pad0',
] as const;

export function embeddingF32Shader(o: EmbeddingF32ShaderOptions): string {
  const WG = o.workgroupSize;
  return wgsl`
struct Params { tokens: u32, H: u32, stride: u32, gridX: u32, vocab: u32, positions: u32, types: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> inputIds: array<i32>;
@group(0) @binding(2) var<storage, read> positionIds: array<i32>;
@group(0) @binding(3) var<storage, read> word: array<f32>;
@group(0) @binding(4) var<storage, read> position: array<f32>;
#if ${o.tokenTypes}
@group(0) @binding(5) var<storage, read> tokenTypeIds: array<i32>;
@group(0) @binding(6) var<storage, read> tokenType: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
#endif

fn row_of(id: i32, count: u32) -> u32 {
  return min(u32(max(id, 0)), count - 1u);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let token = wid.y * params.gridX + wid.x;
  if (token >= params.tokens) { return; }
  let w = row_of(inputIds[token], params.vocab) * params.H;
  let p = row_of(positionIds[token], params.positions) * params.H;
#if ${o.tokenTypes}
  let t = row_of(tokenTypeIds[token], params.types) * params.H;
#endif
  let dst = token * params.stride;
  for (var c = lid; c < params.H; c = c + ${WG}u) {
#if ${o.tokenTypes}
    out[dst + c] = (word[w + c] + tokenType[t + c]) + position[p + c];
#else
    out[dst + c] = word[w + c] + position[p + c];
#endif
  }
}
`;
}
