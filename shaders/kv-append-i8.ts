/**
 * KV cache append (int8): copies a run's K and V heads out of the fused q|k|v GEMM output
 * ([tokens, qkvRow] words, tokens = [batch, queries]) into one layer's caches at positions
 * past .. past + queries - 1, exactly as src/reference/kv-append-i8.ts specifies:
 *   K cache [batch, heads, capacity, headDim / 4] words: a word copy per (token, head, word);
 *   V cache [batch, heads, headDim, ceil(capacity / 4)] words (V transposed, packed along positions).
 *
 * One thread per K word, then one per touched V word: a V word holds 4 positions, and when past is
 * not a multiple of 4 its first word mixes cached positions with new ones, so the thread that owns
 * the word reads it, replaces the new lanes, and writes it back whole (WGSL has no byte stores, and
 * one owner per word means no race). Lanes outside past .. past + queries - 1 keep their bytes.
 * Everything is a u32 copy or lane move; there is no arithmetic to bound beyond the u32 indices
 * the host checks.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export const KV_APPEND_WORKGROUP = 64;

/** Uniform layout (u32 words), shared with the host wrapper. */
export const KV_APPEND_PARAM_FIELDS = [
  'heads',
  'headWords',
  'headDim',
  'queries',
  'past',
  'capacity',
  'capWords',
  'qkvRow',
  'kSrc',
  'vSrc',
  'kOffset',
  'vOffset',
  'kThreads',
  'vThreads',
  'vWords',
  'gridX',
] as const;

export type KvAppendParamField = (typeof KV_APPEND_PARAM_FIELDS)[number];

export function kvAppendShader(): string {
  return wgsl`
struct Params {
${KV_APPEND_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
// [batch * queries, qkvRow] words: K of head h at words kSrc + h headWords, V at vSrc + h headWords.
@group(0) @binding(1) var<storage, read> qkv: array<u32>;
@group(0) @binding(2) var<storage, read_write> kCache: array<u32>;
@group(0) @binding(3) var<storage, read_write> vCache: array<u32>;

@compute @workgroup_size(${KV_APPEND_WORKGROUP}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * params.gridX + wid.x) * ${KV_APPEND_WORKGROUP}u + lid;
  if (t < params.kThreads) {
    let w = t % params.headWords;
    let r = t / params.headWords;
    let i = r % params.queries;
    let bh = r / params.queries;
    let h = bh % params.heads;
    let b = bh / params.heads;
    let src = (b * params.queries + i) * params.qkvRow + params.kSrc + h * params.headWords + w;
    kCache[params.kOffset + (bh * params.capacity + params.past + i) * params.headWords + w] = qkv[src];
    return;
  }
  let u = t - params.kThreads;
  if (u >= params.vThreads) { return; }
  // Word (past / 4 + wv) of row d of head (b, h) of V^T.
  let wv = u % params.vWords;
  let r = u / params.vWords;
  let d = r % params.headDim;
  let bh = r / params.headDim;
  let h = bh % params.heads;
  let b = bh / params.heads;
  let word = params.past / 4u + wv;
  let addr = params.vOffset + (bh * params.headDim + d) * params.capWords + word;
  var out = vCache[addr];
  let lane = (d % 4u) * 8u;
  for (var l = 0u; l < 4u; l = l + 1u) {
    let pos = 4u * word + l;
    if (pos >= params.past && pos < params.past + params.queries) {
      let src = (b * params.queries + pos - params.past) * params.qkvRow + params.vSrc + h * params.headWords + d / 4u;
      let byte = (qkv[src] >> lane) & 0xffu;
      out = (out & ~(0xffu << (8u * l))) | (byte << (8u * l));
    }
  }
  vCache[addr] = out;
}
`;
}
