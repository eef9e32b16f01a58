/**
 * CPU reference of the int8 embedding (the specification the shader must match bit for bit):
 *
 *   row(table, id) = table[id, :] if id < rows(table), else zeros        (the out-of-range guard)
 *   t_k = clamp(dyadic(row_k[h], m_k, e_k), -2^29, 2^29)                  k = word, position, type
 *   out[i, h] = clamp(t_word + t_position + t_type, -2^(bits-1), 2^(bits-1) - 1)
 *
 * Tables are int8 [rows, hidden], each at its own real scale S_k; m_k / 2^e_k ~ S_k / S with S the
 * common output scale (the input scale of the integer LayerNorm that follows). Models without
 * token-type embeddings (DistilBERT) have no t_type term.
 *
 * Why the sum cannot overflow: each term is at most 2^29 in magnitude, three sum to at most
 * 3 * 2^29 < 2^31. As with the residual add the term clamp is a guard, not arithmetic a plan relies
 * on: the host refuses multipliers with round(128 m_k / 2^e_k) > 2^29, and since every table value
 * is an int8 (|x| <= 128) the guard then never fires, for any data.
 *
 * Out-of-range ids: the host refuses them before upload (checkEmbeddingIds); a shader that is
 * handed one anyway reads no memory outside the table and uses a zero row for that table only.
 *
 * Accuracy against float (w S_w + p S_p + t S_t) / S: three roundings of at most 1/2 step and the
 * multipliers' error, |out - clamp(real / S)| <= 3/2 + sum_k |x_k| |m_k / 2^e_k - S_k / S|.
 */
import { checkDyadic, type Dyadic, dyadicScale, toDyadic } from './dyadic.js';
import { dyadicTermBound, signedRange } from './residual-add.js';

/** Saturation magnitude of each rescaled table value (the overflow guard). */
export const EMBEDDING_TERM_MAX = 2 ** 29;

export interface EmbeddingTables {
  /** int8 [vocab, hidden], row-major. */
  word: Int8Array;
  /** int8 [positions, hidden]. */
  position: Int8Array;
  /** int8 [types, hidden]; absent for models without token types. */
  tokenType?: Int8Array;
  hidden: number;
}

export interface EmbeddingIds {
  token: ArrayLike<number>;
  position: ArrayLike<number>;
  /** Required exactly when the tables have token types. */
  tokenType?: ArrayLike<number>;
}

export interface EmbeddingConstants {
  /** S_word / S. */
  word: Dyadic;
  /** S_position / S. */
  position: Dyadic;
  /** S_type / S; present exactly when the model has token types. */
  tokenType?: Dyadic;
  /** Output width, bits in [2, 31]. */
  bits: number;
}

function tableRows(table: Int8Array, hidden: number, what: string): number {
  if (table.length % hidden !== 0)
    throw new RangeError(
      `embeddingI8Ref: ${what} table has ${table.length} values, not a multiple of hidden = ${hidden}`,
    );
  return table.length / hidden;
}

export function embeddingI8Ref(tables: EmbeddingTables, ids: EmbeddingIds, c: EmbeddingConstants): Int32Array {
  const H = tables.hidden;
  if (!Number.isInteger(H) || H < 1) throw new RangeError(`embeddingI8Ref: hidden = ${H}`);
  const hasTypes = !!tables.tokenType;
  if (hasTypes !== !!ids.tokenType || hasTypes !== !!c.tokenType)
    throw new RangeError('embeddingI8Ref: token-type table, ids and multiplier must be all present or all absent');
  const n = ids.token.length;
  if (ids.position.length !== n || (ids.tokenType && ids.tokenType.length !== n))
    throw new RangeError('embeddingI8Ref: id arrays differ in length');
  const [lo, hi] = signedRange(c.bits, 'embedding');
  const terms: { table: Int8Array; rows: number; ids: ArrayLike<number>; d: Dyadic }[] = [
    { table: tables.word, rows: tableRows(tables.word, H, 'word'), ids: ids.token, d: c.word },
    { table: tables.position, rows: tableRows(tables.position, H, 'position'), ids: ids.position, d: c.position },
  ];
  if (tables.tokenType && ids.tokenType && c.tokenType) {
    terms.push({
      table: tables.tokenType,
      rows: tableRows(tables.tokenType, H, 'token type'),
      ids: ids.tokenType,
      d: c.tokenType,
    });
  }
  terms.forEach((t) => checkDyadic(t.d, 'embedding multiplier'));
  const out = new Int32Array(n * H);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < H; h++) {
      let sum = 0;
      for (const t of terms) {
        const id = t.ids[i];
        const x = id < t.rows ? t.table[id * H + h] : 0;
        sum += dyadicScale(x, t.d.m, t.d.e, -EMBEDDING_TERM_MAX, EMBEDDING_TERM_MAX);
      }
      out[i * H + h] = Math.min(hi, Math.max(lo, sum));
    }
  }
  return out;
}

/** Largest |rescaled table value| a multiplier can produce (int8 values: |x| <= 128). */
export function embeddingTermBound(d: Dyadic): number {
  return dyadicTermBound(128, d);
}

export interface EmbeddingPlanInput {
  /** Real per-tensor scales of the int8 tables. */
  wordScale: number;
  positionScale: number;
  /** Absent for models without token types. */
  tokenTypeScale?: number;
  /** Output width, e.g. 22 (or 16) for the residual stream. */
  bits: number;
  /**
   * Calibrated max |w S_w + p S_p + t S_t| (real units) to map onto the output range. Without it
   * the scale covers the worst case 128 (S_w + S_p + S_t), so the output never saturates.
   */
  range?: number;
}

export interface EmbeddingPlan extends EmbeddingConstants {
  /** The common output scale S. */
  scale: number;
}

/**
 * Planner: the common scale S = range / (2^(bits-1) - 1) and the multipliers S_k / S. Refuses
 * (RangeError) a plan whose terms could reach the overflow guard.
 */
export function planEmbedding(p: EmbeddingPlanInput): EmbeddingPlan {
  const [, hi] = signedRange(p.bits, 'planEmbedding');
  const scales: [keyof EmbeddingConstants & ('word' | 'position' | 'tokenType'), number][] = [
    ['word', p.wordScale],
    ['position', p.positionScale],
  ];
  if (p.tokenTypeScale !== undefined) scales.push(['tokenType', p.tokenTypeScale]);
  for (const [name, s] of scales) {
    if (!(s > 0) || !Number.isFinite(s))
      throw new RangeError(`planEmbedding: ${name} scale ${s} is not a positive finite number`);
  }
  const range = p.range ?? 128 * scales.reduce((sum, [, s]) => sum + s, 0);
  if (!(range > 0) || !Number.isFinite(range))
    throw new RangeError(`planEmbedding: range ${range} is not a positive finite number`);
  const scale = range / hi;
  const plan: EmbeddingPlan = { scale, bits: p.bits, word: { m: 0, e: 0 }, position: { m: 0, e: 0 } };
  for (const [name, s] of scales) {
    const d = toDyadic(s / scale, `embedding ratio S_${name} / S`);
    const t = embeddingTermBound(d);
    if (t > EMBEDDING_TERM_MAX) {
      throw new RangeError(
        `planEmbedding: with range ${range}, the ${name} table rescales to ${t} > 2^29; plan a wider range or fewer bits`,
      );
    }
    plan[name] = d;
  }
  return plan;
}

/** The accuracy bound above, in output steps, for one output element; deltas bound |m_k / 2^e_k - r_k|. */
export function embeddingErrorBound(values: number[], deltas: number[]): number {
  return values.reduce((bound, x, k) => bound + 0.5 + Math.abs(x) * deltas[k], 0);
}
