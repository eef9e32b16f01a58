/**
 * The choice of the next token from a session's candidates, in Hugging Face's order of logits
 * processors: repetition penalty, temperature, top-k, top-p, then a seeded draw (greedy: argmax).
 *
 * Sessions return only the k best tokens (k small keeps the GPU readback to a few bytes) with a
 * bound `restBelow` on every other logit. A choice made from them is accepted only when it
 * provably equals the one made over the whole vocabulary; otherwise chooseToken answers
 * 'need-more' and the caller asks again for the whole vocabulary. The proof, for the set the
 * choice depends on (greedy: the best token; top-k: the K best):
 * - The penalty maps a logit l to f(l) = l / p (l > 0) or l p (l <= 0), strictly increasing in l.
 *   An unreturned token has l <= r = restBelow, so after the penalty it is <= r if unpenalized and
 *   <= f(r) if penalized: <= B = r, or max(r, f(r)) when some penalized token is unreturned
 *   (p < 1 raises logits, so f(r) > r is possible).
 * - The set is proven when its last member (in the order value descending, id ascending) is above
 *   B, or equal to B with an id no greater than the last candidate's: an unreturned token reaching
 *   B has l = r exactly (f is strictly increasing), and the session orders ties by id, so its id
 *   exceeds the last candidate's. (Only when restBelow is the last candidate's logit, as the
 *   contract says; a looser bound proves nothing about ids.)
 * - Temperature is monotone and top-p and the draw only read the proven set, so they are exact.
 * Top-p without top-k (or with topK > TOPK_MAX_K) needs every logit: the whole vocabulary.
 */
import { TOPK_MAX_K } from '../reference/topk-i32.js';
import type { Random } from '../util/random.js';
import type { TokenCandidates } from './decoder-session.js';

/** What the choice of a token reads from the options (ResolvedGenerationOptions has them). */
export interface SamplingOptions {
  /** 0: greedy. */
  temperature: number;
  topK: number | undefined;
  /** 1: no top-p limit. */
  topP: number;
  /** 1: none. */
  repetitionPenalty: number;
}

export function isGreedy(options: SamplingOptions): boolean {
  return options.temperature === 0;
}

/** Hugging Face's repetition penalty of one logit. */
export function penalize(logit: number, penalty: number): number {
  return logit > 0 ? logit / penalty : logit * penalty;
}

/**
 * How many candidates to ask the session for, so that most steps are decided without the whole
 * vocabulary: greedy 1; greedy with a penalty TOPK_MAX_K (penalized candidates drop, the rest move
 * up); top-k sampling K, or TOPK_MAX_K with a penalty; anything else the whole vocabulary.
 */
export function candidatesToRequest(options: SamplingOptions, vocab: number): number {
  if (!Number.isInteger(vocab) || vocab < 1) throw new RangeError(`generate: vocab = ${vocab} must be an integer >= 1`);
  const penalty = options.repetitionPenalty !== 1;
  let k: number;
  if (isGreedy(options)) k = penalty ? TOPK_MAX_K : 1;
  else if (options.topK !== undefined && options.topK <= TOPK_MAX_K) k = penalty ? TOPK_MAX_K : options.topK;
  else k = vocab;
  return Math.min(k, vocab);
}

export interface ChooseContext {
  vocab: number;
  /** Token ids already in the sequence (prompt and generated): read only with a penalty != 1. */
  seen?: ReadonlySet<number>;
  /** The sequence's own generator; one draw per sampled token, none for greedy or 'need-more'. */
  rng?: Random;
}

function checkCandidates(c: TokenCandidates, vocab: number): void {
  const n = c.ids.length;
  if (n < 1 || c.logits.length !== n) {
    throw new RangeError(`generate: the session returned ${n} candidate ids with ${c.logits.length} logits`);
  }
  for (let i = 0; i < n; i++) {
    const id = c.ids[i];
    if (id < 0 || id >= vocab)
      throw new RangeError(`generate: candidate id ${id} is outside the vocabulary of ${vocab}`);
    if (Number.isNaN(c.logits[i])) throw new RangeError(`generate: the logit of candidate ${id} is NaN`);
  }
  if (typeof c.restBelow !== 'number' || Number.isNaN(c.restBelow)) {
    throw new RangeError(`generate: the session's restBelow = ${c.restBelow} is not a number`);
  }
}

/**
 * The next token, or 'need-more' when the candidates cannot prove the choice (ask again with the
 * whole vocabulary). Draws from `context.rng` only when it returns a sampled token, so a retry
 * after 'need-more' draws the same number.
 */
export function chooseToken(
  candidates: TokenCandidates,
  options: SamplingOptions,
  context: ChooseContext,
): number | 'need-more' {
  const { vocab, seen } = context;
  checkCandidates(candidates, vocab);
  const { ids, logits, restBelow } = candidates;
  const n = ids.length;
  const penalty = options.repetitionPenalty;
  const usePenalty = penalty !== 1 && seen !== undefined && seen.size > 0;

  const q = new Float64Array(n);
  let penalizedAmong = 0;
  for (let i = 0; i < n; i++) {
    if (usePenalty && seen.has(ids[i])) {
      q[i] = penalize(logits[i], penalty);
      penalizedAmong++;
    } else {
      q[i] = logits[i];
    }
  }
  const order = rankOrder(ids, q);

  const greedy = isGreedy(options);
  const complete = restBelow === Number.NEGATIVE_INFINITY || n >= vocab;
  const keep = greedy ? 1 : Math.min(options.topK ?? vocab, vocab);
  if (!complete) {
    if (keep > n) return 'need-more';
    const penalizedOutside = usePenalty && seen.size > penalizedAmong;
    const bound = penalizedOutside ? Math.max(restBelow, penalize(restBelow, penalty)) : restBelow;
    const last = order[keep - 1];
    const tieSafe = restBelow === logits[n - 1] && ids[last] <= ids[n - 1];
    if (!(q[last] > bound || (q[last] === bound && tieSafe))) return 'need-more';
  }
  if (greedy) return ids[order[0]];

  const kept = Math.min(keep, n);
  const first = q[order[0]];
  if (!(first > Number.NEGATIVE_INFINITY)) return ids[order[0]];
  const t = options.temperature;
  const w = new Float64Array(kept);
  let total = 0;
  for (let j = 0; j < kept; j++) {
    w[j] = Math.exp((q[order[j]] - first) / t);
    total += w[j];
  }
  // Top-p: keep a token while the mass before it is below topP (the first always stays).
  let nucleus = kept;
  if (options.topP < 1) {
    const limit = options.topP * total;
    let before = 0;
    for (let j = 0; j < kept; j++) {
      if (j > 0 && before >= limit) {
        nucleus = j;
        break;
      }
      before += w[j];
    }
  }
  let mass = 0;
  for (let j = 0; j < nucleus; j++) mass += w[j];
  if (!context.rng) throw new Error('generate: sampling needs a random generator');
  const u = context.rng.next() * mass;
  let acc = 0;
  for (let j = 0; j < nucleus; j++) {
    acc += w[j];
    if (u < acc) return ids[order[j]];
  }
  // Rounding can leave u just above the last partial sum.
  for (let j = nucleus - 1; j >= 0; j--) if (w[j] > 0) return ids[order[j]];
  return ids[order[0]];
}

/** Candidate indices in the order value descending, id ascending (the session's order before any penalty). */
function rankOrder(ids: Int32Array, q: Float64Array): Uint32Array {
  const n = ids.length;
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (i > 0 && (q[i] > q[i - 1] || (q[i] === q[i - 1] && ids[i] < ids[i - 1]))) sorted = false;
  }
  // The whole vocabulary comes sorted already unless a penalty moved some: skip the sort then.
  if (!sorted) order.sort((a, b) => q[b] - q[a] || ids[a] - ids[b]);
  return order;
}
