/**
 * Int8 embedding: out[n, hidden] (int32) = sat_bits(sum over tables k of dyadic(table_k[id_k[i], h], m_k, e_k))
 * for the word, position and (optionally) token-type tables; see src/reference/embedding-i8.ts.
 *
 * One thread per (token, word of the hidden dimension): it reads one packed word from each table
 * row and writes four int32. Threads of one token read contiguous words of the same rows.
 *
 * Out-of-range ids: the host refuses them before upload, but the shader does not trust its
 * inputs: an id >= the table's row count reads row min(id, rows - 1), so every read stays inside
 * the table, and the word it read is replaced by zero, so that table contributes nothing to that
 * token. The other tables still contribute.
 *
 * Bounds: each term is saturated by dyadic_scale to [-2^29, 2^29], three sum within +-3 * 2^29 < 2^31;
 * the host refuses multipliers that could reach 2^29 for an int8, so the guard never changes a
 * result. Row indices: rows * ceil(hidden / 4) * 4 < 2^32 is checked per table on the host.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { unroll } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';
import { int8LanesWgsl, wordGridEntry } from './int8-lanes.js';

export interface EmbeddingI8ShaderOptions {
  /** Whether the model has a token-type table (BERT) or not (DistilBERT). */
  tokenTypes: boolean;
}

/** Uniform layout (u32 words; lo and hi are i32 bit patterns). */
export const EMBEDDING_I8_PARAM_FIELDS = [
  'tokens',
  'hidden',
  'hidden4',
  'words',
  'vocab',
  'positions',
  'types',
  'pad0',
  'mw',
  'ew',
  'mp',
  'ep',
  'mt',
  'et',
  'lo',
  'hi',
] as const;

export function embeddingI8Shader(o: EmbeddingI8ShaderOptions): string {
  const t = o.tokenTypes;
  // Bindings in the order the host binds them: tables, ids, output.
  const binding = {
    word: 1,
    position: 2,
    tokenType: 3,
    tokenIds: t ? 4 : 3,
    positionIds: t ? 5 : 4,
    typeIds: 6,
    out: t ? 7 : 5,
  };
  return wgsl`
struct Params {
  tokens: u32, hidden: u32, hidden4: u32, words: u32,
  vocab: u32, positions: u32, types: u32, pad0: u32,
  mw: u32, ew: u32, mp: u32, ep: u32,
  mt: u32, et: u32, lo: i32, hi: i32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(${binding.word}) var<storage, read> word_table: array<u32>;
@group(0) @binding(${binding.position}) var<storage, read> position_table: array<u32>;
#if ${t}
@group(0) @binding(${binding.tokenType}) var<storage, read> type_table: array<u32>;
#endif
@group(0) @binding(${binding.tokenIds}) var<storage, read> token_ids: array<u32>;
@group(0) @binding(${binding.positionIds}) var<storage, read> position_ids: array<u32>;
#if ${t}
@group(0) @binding(${binding.typeIds}) var<storage, read> type_ids: array<u32>;
#endif
@group(0) @binding(${binding.out}) var<storage, read_write> out: array<i32>;
${dyadicWgsl()}
${int8LanesWgsl()}

// The int32-safe term range: three terms sum within +-3 * 2^29.
const TERM_MIN = -536870912i;
const TERM_MAX = 536870912i;

// Row of a table for an id, clamped so that the read stays inside the table (rows >= 1).
fn safe_row(id: u32, rows: u32) -> u32 {
  return min(id, rows - 1u);
}

${wordGridEntry()}
  if (index >= params.words) { return; }
  let token = index / params.hidden4;
  let w = index - token * params.hidden4;
  let tok = token_ids[token];
  let pos = position_ids[token];
  let ww = select(0u, word_table[safe_row(tok, params.vocab) * params.hidden4 + w], tok < params.vocab);
  let pw = select(0u, position_table[safe_row(pos, params.positions) * params.hidden4 + w], pos < params.positions);
#if ${t}
  let typ = type_ids[token];
  let tw = select(0u, type_table[safe_row(typ, params.types) * params.hidden4 + w], typ < params.types);
#endif
  let base = token * params.hidden + w * 4u;
${unroll(
  4,
  (l) => `  if (w * 4u + ${l}u < params.hidden) {
    var sum = dyadic_scale(lane_i8(ww, ${l}u), params.mw, params.ew, TERM_MIN, TERM_MAX)
        + dyadic_scale(lane_i8(pw, ${l}u), params.mp, params.ep, TERM_MIN, TERM_MAX);
${t ? `    sum = sum + dyadic_scale(lane_i8(tw, ${l}u), params.mt, params.et, TERM_MIN, TERM_MAX);` : ''}
    out[base + ${l}u] = clamp(sum, params.lo, params.hi);
  }`,
)}
}
`;
}
