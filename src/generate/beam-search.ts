/**
 * The pieces of beam search that do not touch a session (src/generate/translate.ts drives them):
 * log-probabilities of a logit row, the ranking of (beam, token) candidates, and Hugging Face's
 * finished-hypotheses heap (transformers 4.46, BeamHypotheses), with its scores compared exactly
 * when they are integers.
 *
 * Scores. A hypothesis' score is sum_logprobs / generated_len^lengthPenalty, generated_len counting
 * every generated token up to and including its eos (transformers 4.46 passes
 * generated_len = cur_len - decoder_prompt_len, cur_len being the length with the new token: the
 * decoder_start_token_id is the prompt and is not counted). With integer log-probabilities
 * (src/reference/log-softmax-i32.ts) the sums are exact integers on the logit scale, and scores
 * compare exactly for integer length penalties in [-8, 8] (1, the default, included): by
 * cross-multiplying the sums with powers of the lengths, in BigInt. Other penalties and float
 * log-probabilities compare sum / len^lengthPenalty in float64, as Hugging Face does (in float32).
 */
import {
  deriveLogSoftmaxI32Constants,
  type LogSoftmaxI32Constants,
  logSoftmaxI32,
} from '../reference/log-softmax-i32.js';

/** A beam's or a hypothesis' sum of log-probabilities and its generated length. */
export interface BeamScore {
  /** Sum of log-probabilities: an integer on the logit scale (exact rows), or natural-log units. */
  sum: number;
  /** Tokens generated (the eos included for a finished hypothesis). */
  len: number;
}

/** How scores compare: exactly (integer sums, integer length penalty) or in float64. */
export class ScoreOrder {
  private readonly exact: boolean;

  constructor(
    readonly lengthPenalty: number,
    /** Whether sums are exact integers (integer log-probabilities). */
    integerSums: boolean,
  ) {
    this.exact = integerSums && Number.isInteger(lengthPenalty) && Math.abs(lengthPenalty) <= 8;
  }

  /** sum / len^lengthPenalty in the sums' units (what Hugging Face calls the score). */
  value(s: BeamScore): number {
    return s.sum / s.len ** this.lengthPenalty;
  }

  /** Sign of score(a) - score(b). */
  compare(a: BeamScore, b: BeamScore): number {
    if (!this.exact) {
      const x = this.value(a);
      const y = this.value(b);
      return x > y ? 1 : x < y ? -1 : 0;
    }
    const p = this.lengthPenalty;
    if (p === 0 || a.len === b.len) return Math.sign(a.sum - b.sum);
    // a.sum / a.len^p vs b.sum / b.len^p, lengths > 0: multiply both sides by a.len^p b.len^p
    // (p > 0), or compare a.sum a.len^-p with b.sum b.len^-p (p < 0).
    const k = BigInt(Math.abs(p));
    const la = BigInt(a.len) ** k;
    const lb = BigInt(b.len) ** k;
    const x = p > 0 ? BigInt(a.sum) * lb : BigInt(a.sum) * la;
    const y = p > 0 ? BigInt(b.sum) * la : BigInt(b.sum) * lb;
    return x > y ? 1 : x < y ? -1 : 0;
  }
}

/** A finished hypothesis: its generated tokens (without the eos that finished it, if any). */
export interface Hypothesis {
  tokens: number[];
  score: BeamScore;
  /** Ended by eos (appended to the output), rather than cut at maxNewTokens. */
  eos: boolean;
  /** Its last token was forced at maxNewTokens (forced_eos_token_id). */
  forced: boolean;
}

export type EarlyStopping = boolean | 'never';

/**
 * The numBeams best finished hypotheses of one source (transformers' BeamHypotheses): a hypothesis
 * joins while fewer than numBeams are kept or when it beats the worst, which then leaves (the
 * earliest added among equally bad ones).
 */
export class BeamHypotheses {
  /** In the order added (ties are broken by it, as Hugging Face's list is). */
  readonly kept: Hypothesis[] = [];

  constructor(
    readonly numBeams: number,
    readonly order: ScoreOrder,
    readonly earlyStopping: EarlyStopping,
    /** Generated tokens at most (max_length - decoder prompt length): 'never' reads it. */
    readonly maxNewTokens: number,
  ) {}

  /** The lowest score kept (the earliest among ties); undefined while empty. */
  private worstIndex(): number {
    let w = 0;
    for (let i = 1; i < this.kept.length; i++)
      if (this.order.compare(this.kept[i].score, this.kept[w].score) < 0) w = i;
    return w;
  }

  get worst(): BeamScore | undefined {
    return this.kept.length > 0 ? this.kept[this.worstIndex()].score : undefined;
  }

  add(h: Hypothesis): void {
    if (this.kept.length >= this.numBeams && this.order.compare(h.score, this.worst!) <= 0) return;
    this.kept.push(h);
    if (this.kept.length > this.numBeams) this.kept.splice(this.worstIndex(), 1);
  }

  /**
   * Whether no running beam can still beat the kept hypotheses: Hugging Face's is_done, given the
   * best candidate sum of the step and the generated length with the step's token.
   */
  isDone(bestSum: number, generatedLen: number): boolean {
    if (this.kept.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    // false: the heuristic, the best sum as if it ended now; 'never' with a positive penalty: as
    // if it ended at the longest length (the best score it could reach, log-probabilities <= 0).
    const len = this.earlyStopping === 'never' && this.order.lengthPenalty > 0 ? this.maxNewTokens : generatedLen;
    return this.order.compare(this.worst!, { sum: bestSum, len }) >= 0;
  }

  /** The best hypothesis (the latest added among equal scores, as Hugging Face's stable sort and pop give). */
  best(): Hypothesis {
    if (this.kept.length === 0) throw new Error('beam search: no hypothesis kept');
    let b = 0;
    for (let i = 1; i < this.kept.length; i++)
      if (this.order.compare(this.kept[i].score, this.kept[b].score) >= 0) b = i;
    return this.kept[b];
  }
}

/** One (beam, token) continuation and its sum of log-probabilities. */
export interface BeamCandidate {
  beam: number;
  token: number;
  sum: number;
}

/** Candidate order: sum descending, then the lower beam, then the lower token id. */
export function candidateOrder(a: BeamCandidate, b: BeamCandidate): number {
  return b.sum - a.sum || a.beam - b.beam || a.token - b.token;
}

/**
 * The `k` best continuations of one beam, sum = beamSum + logProbs[token] over every token but
 * `banned`, best first (ties: lower token id). -Infinity sums take part (ranked last).
 */
export function beamTopK(
  beam: number,
  beamSum: number,
  logProbs: ArrayLike<number>,
  banned: number,
  k: number,
): BeamCandidate[] {
  const top: BeamCandidate[] = [];
  for (let token = 0; token < logProbs.length; token++) {
    if (token === banned) continue;
    const sum = beamSum + logProbs[token];
    // Tokens come in increasing id: one equal to the last kept ranks after it.
    if (top.length === k && !(sum > top[k - 1].sum)) continue;
    let i = top.length === k ? k - 1 : top.length;
    while (i > 0 && sum > top[i - 1].sum) i--;
    top.splice(i, 0, { beam, token, sum });
    if (top.length > k) top.pop();
  }
  return top;
}

/**
 * The ranked candidates of one source's step: the best `window` over the listed beams (Hugging
 * Face's top 2 numBeams of beam score + log-probability), in candidateOrder.
 */
export function rankCandidates(
  beams: readonly { beam: number; sum: number; logProbs: ArrayLike<number> }[],
  banned: number,
  window: number,
): BeamCandidate[] {
  const all: BeamCandidate[] = [];
  for (const b of beams) all.push(...beamTopK(b.beam, b.sum, b.logProbs, banned, window));
  all.sort(candidateOrder);
  return all.slice(0, window);
}

/**
 * Log-probabilities of logit rows, integer or float, on one scale for a whole search: integer rows
 * (Int32Array) go through the integer log-softmax, so sums stay exact integers on the logit scale;
 * float rows through a float64 log-softmax of logits times the scale, in natural-log units.
 */
export class LogProbs {
  private integer: LogSoftmaxI32Constants | undefined;
  private kind: 'int' | 'float' | undefined;
  private scale = 0;

  /** Natural-log units per unit of the sums (the logit scale for integer rows, 1 for float rows). */
  get unit(): number {
    return this.kind === 'int' ? this.scale : 1;
  }

  get integerSums(): boolean {
    return this.kind === 'int';
  }

  /** Checks that every step reads rows of the same kind and scale (sums of two scales mean nothing). */
  accept(logits: Int32Array | Float32Array, scale: number): void {
    const kind = logits instanceof Int32Array ? 'int' : logits instanceof Float32Array ? 'float' : undefined;
    if (kind === undefined) throw new TypeError('beam search: logits must be an Int32Array or a Float32Array');
    if (!(scale > 0) || !Number.isFinite(scale))
      throw new RangeError(`beam search: logit scale ${scale} is not a positive finite number`);
    if (this.kind === undefined) {
      this.kind = kind;
      this.scale = scale;
      if (kind === 'int') this.integer = deriveLogSoftmaxI32Constants(scale);
      return;
    }
    if (kind !== this.kind || scale !== this.scale)
      throw new Error(
        `beam search: the session returned ${kind} logits at scale ${scale} after ${this.kind} logits at scale ${this.scale}`,
      );
  }

  /** One row's log-probabilities (integers on the scale, or natural-log units). */
  row(logits: Int32Array | Float32Array): Float64Array {
    if (this.kind === 'int') return logSoftmaxI32(logits, this.integer!);
    return logSoftmaxF64(logits, this.scale);
  }
}

/** float64 log-softmax of logits times `scale`; -Infinity logits get -Infinity, NaN or +Infinity are refused. */
export function logSoftmaxF64(logits: ArrayLike<number>, scale = 1): Float64Array {
  const n = logits.length;
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    const x = logits[j];
    if (Number.isNaN(x) || x === Infinity) throw new RangeError(`log-softmax: logit ${j} is ${x}`);
    if (x > max) max = x;
  }
  if (max === -Infinity) throw new RangeError('log-softmax: every logit is -Infinity (or the row is empty)');
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp((logits[j] - max) * scale);
  const lse = Math.log(sum);
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = (logits[j] - max) * scale - lse;
  return out;
}
