/**
 * Translation's search over a TranslatorSession (src/generate/translator-session.ts), whatever runs
 * the model: greedy decoding, or Hugging Face's beam search (transformers 4.46 generate() with
 * num_beams > 1), with opus-mt's generation rules: the pad id is never generated (its
 * generation_config's bad_words_ids [[pad]]), eos ends a sequence, and at maxNewTokens the last
 * token is forced_eos_token_id when the config names one (ForcedEOSTokenLogitsProcessor).
 *
 * Greedy reads each sequence's two best tokens (the second stands in when the first is the pad);
 * finished sequences of a batch are fed the pad id (as generate() does) and yield nothing more.
 *
 * Beam search reads whole logit rows. Integer rows (the integer model's, on the program's common
 * logit scale) get the integer log-softmax of src/reference/log-softmax-i32.ts, so beam scores are
 * exact integer sums and the whole search is integer: nothing of it is float (the normalised score
 * returned is the one float, computed for the caller). Float rows get a float64 log-softmax.
 * Per source and step, as transformers' _beam_search and BeamSearchScorer.process:
 * - log-probabilities of every running beam's row over the whole vocabulary, then the pad id
 *   banned (after the normalisation, as the logits processors run after log_softmax); at the
 *   first step only beam 0 (the beams are copies, transformers scores the others -1e9);
 * - the best 2 numBeams of beam sum + log-probability over (beam, token), in the order sum
 *   descending, lower beam, lower token id (torch.topk leaves ties unspecified; this order is
 *   ours);
 * - in that order: an eos candidate ranked among the first numBeams becomes a finished
 *   hypothesis (BeamHypotheses, see beam-search.ts: score = sum / generated_len^lengthPenalty with
 *   the eos counted in generated_len), one ranked lower is dropped; the others become the running
 *   beams until numBeams are found;
 * - the source is done when numBeams hypotheses are kept and (earlyStopping true) at once,
 *   (false) the worst kept scores >= the step's best sum / generated_len^lengthPenalty, ('never')
 *   the same at the longest length when lengthPenalty > 0. A done source's beams are fed the pad
 *   id and not reordered;
 * - at the last step with forcedEosTokenId every running beam's only candidate is that token with
 *   log-probability 0; after it (or at maxNewTokens without it), sources not done add their
 *   running beams as hypotheses of length maxNewTokens.
 * Each source's result is its best hypothesis (the latest added among equal scores, as
 * finalize()'s stable sort and pop give); its tokens end with eos when an eos finished it, and its
 * finishReason is 'length' when maxNewTokens ended it, a forced eos included. session.reorder()
 * is called only when some sequence changes parent.
 * Departures from transformers: (1) candidate ties are ordered as above; (2) transformers runs in
 * float32, this search in exact integers (integer rows) or float64 (float rows), so near-ties may
 * fall the other way; (3) transformers' -1e9 copies of the first step can enter the candidate
 * window (vocabularies of fewer than 2 numBeams tokens) or, with maxNewTokens 1 and a forced eos,
 * become hypotheses, never the best one: here they are left out, and the vocabulary must hold
 * numBeams tokens besides the pad and eos (transformers raises otherwise too).
 */
import { checkSignalOption, showOptionValue } from '../core/option-values.js';
import {
  type BeamCandidate,
  BeamHypotheses,
  type EarlyStopping,
  LogProbs,
  rankCandidates,
  ScoreOrder,
} from './beam-search.js';
import type { TokenCandidates } from './decoder-session.js';
import type { NextTokens, TranslatorSession } from './translator-session.js';

/** The generation rules of the model's config (MarianConfig's fields of the same names). */
export interface TranslateRules {
  /** The decoder's first input: the session's start() feeds it. */
  decoderStartTokenId: number;
  eosTokenId: number;
  /** Never generated; fed to finished sequences. */
  padTokenId: number;
  /** Forced as the last token at maxNewTokens (absent: none). */
  forcedEosTokenId?: number;
}

/** One generated token of one source (greedy decoding). */
export interface TranslateTokenEvent {
  source: number;
  token: number;
}

export interface TranslateOptions {
  /** Beams per source; 1 (default): greedy decoding. An integer in [1, 64]. */
  numBeams?: number;
  /** Beam scores are sum_logprobs / length^lengthPenalty; default 1. Finite; no effect with 1 beam. */
  lengthPenalty?: number;
  /**
   * Beam search's stop per source, as transformers' early_stopping: true, as soon as numBeams
   * hypotheses are finished; false (default), when the best running beam ending now could not beat
   * them; 'never', when no running beam could ever beat them.
   */
  earlyStopping?: EarlyStopping;
  /** Tokens generated per source at most, the eos included; default: the session's capacity. */
  maxNewTokens?: number;
  /** Checked before each model step: aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Greedy decoding only: every generated token, per step, sources in order. */
  onToken?: (event: TranslateTokenEvent) => void;
}

export interface ResolvedTranslateOptions {
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  /** undefined: the session's capacity. */
  maxNewTokens: number | undefined;
  signal: AbortSignal | undefined;
  onToken: ((event: TranslateTokenEvent) => void) | undefined;
}

/** One source's translation, in token ids. */
export interface TranslatedTokens {
  /** The generated ids after decoder_start_token_id, ending with eos when an eos finished it. */
  tokens: number[];
  /** 'eos', or 'length' when maxNewTokens ended it (a forced last token included). */
  finishReason: 'eos' | 'length';
  /** Beam search: the hypothesis' sum of log-probabilities / length^lengthPenalty (natural-log units). */
  score?: number;
}

export const MAX_BEAMS = 64;

const KNOWN_KEYS = ['numBeams', 'lengthPenalty', 'earlyStopping', 'maxNewTokens', 'signal', 'onToken'] as const;

/**
 * Validates the options (TypeError for a wrong type, RangeError for a value out of range, each
 * naming the option; unknown keys refused by name) and fills in the defaults.
 */
export function checkTranslateOptions(options: TranslateOptions | undefined = {}): ResolvedTranslateOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(`translate: options must be an object, got ${showOptionValue(options)}`);
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => o[k] !== undefined && !(KNOWN_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new TypeError(
      `translate: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} ` +
        `(known: ${KNOWN_KEYS.join(', ')})`,
    );
  const number = (name: string): number | undefined => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || Number.isNaN(v))
      throw new TypeError(`translate: ${name} = ${showOptionValue(v)} must be a number`);
    return v;
  };

  const numBeams = number('numBeams') ?? 1;
  if (!Number.isInteger(numBeams) || numBeams < 1 || numBeams > MAX_BEAMS)
    throw new RangeError(`translate: numBeams = ${numBeams} must be an integer in [1, ${MAX_BEAMS}]`);

  const lengthPenalty = number('lengthPenalty') ?? 1;
  if (!Number.isFinite(lengthPenalty))
    throw new RangeError(`translate: lengthPenalty = ${lengthPenalty} must be a finite number`);

  const earlyStopping = o.earlyStopping ?? false;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== 'never')
    throw new TypeError(`translate: earlyStopping = ${showOptionValue(earlyStopping)} must be true, false or "never"`);

  const maxNewTokens = number('maxNewTokens');
  if (maxNewTokens !== undefined && (!Number.isInteger(maxNewTokens) || maxNewTokens < 1))
    throw new RangeError(`translate: maxNewTokens = ${maxNewTokens} must be an integer >= 1`);

  const onToken = o.onToken;
  if (onToken !== undefined && typeof onToken !== 'function')
    throw new TypeError(`translate: onToken = ${showOptionValue(onToken)} must be a function`);
  if (onToken !== undefined && numBeams > 1)
    throw new RangeError(
      `translate: onToken streams greedy decoding only; with numBeams = ${numBeams} the output is known at the end`,
    );

  const signal = checkSignalOption(o.signal, 'translate');

  return {
    numBeams,
    lengthPenalty,
    earlyStopping: earlyStopping as EarlyStopping,
    maxNewTokens,
    signal,
    onToken: onToken as ((event: TranslateTokenEvent) => void) | undefined,
  };
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The translation was aborted.', 'AbortError');
}

function checkRules(rules: TranslateRules, vocab: number, numBeams: number): void {
  if (rules === null || typeof rules !== 'object') throw new TypeError('translate: rules must be an object');
  const ids: [string, unknown][] = [
    ['decoderStartTokenId', rules.decoderStartTokenId],
    ['eosTokenId', rules.eosTokenId],
    ['padTokenId', rules.padTokenId],
  ];
  if (rules.forcedEosTokenId !== undefined) ids.push(['forcedEosTokenId', rules.forcedEosTokenId]);
  for (const [name, id] of ids) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocab)
      throw new RangeError(`translate: ${name} = ${showOptionValue(id)} is outside the vocabulary of ${vocab}`);
  }
  // Every step must be able to fill numBeams running beams from beam 0 alone (the first step).
  const others = vocab - (rules.eosTokenId === rules.padTokenId ? 1 : 2);
  if (others < numBeams)
    throw new RangeError(
      `translate: numBeams = ${numBeams} needs as many tokens besides the pad and eos; the vocabulary has ${others}`,
    );
}

function checkSources(sources: readonly (readonly number[])[], vocab: number): void {
  if (!Array.isArray(sources) || sources.length === 0)
    throw new RangeError('translate: no sources (one array of token ids per source)');
  sources.forEach((s, i) => {
    if (!Array.isArray(s) || s.length === 0) throw new RangeError(`translate: source ${i} has no tokens`);
    s.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new RangeError(
          `translate: source ${i} token ${t} = ${showOptionValue(id)} is outside the vocabulary of ${vocab}`,
        );
    });
  });
}

/**
 * Translates `sources` (token ids, each ending with eos, as the session takes them): greedy with
 * numBeams 1, beam search above. Resolves with one result per source, in order.
 *
 * Checked before anything runs (thrown by this call): the options, the rules, the sources, and
 * that maxNewTokens fits the session (decoder_start_token_id and maxNewTokens - 1 fed tokens:
 * maxNewTokens <= capacity). The session is started anew and left as the last step left it; the
 * signal is checked before the start and each step (a step in flight completes first).
 */
export function translateTokens(
  session: TranslatorSession,
  sources: readonly (readonly number[])[],
  rules: TranslateRules,
  options?: TranslateOptions,
): Promise<TranslatedTokens[]> {
  const opts = prepare(session, sources, rules, options);
  return opts.numBeams === 1 ? greedy(session, sources, rules, opts) : beamSearch(session, sources, rules, opts);
}

/**
 * Beam search with any numBeams, 1 included (what translateTokens runs from 2 beams): with one
 * beam it equals greedy decoding, as transformers' beam search does (a test checks it). Checked
 * like translateTokens; onToken is refused (the output is known at the end).
 */
export function beamSearchTokens(
  session: TranslatorSession,
  sources: readonly (readonly number[])[],
  rules: TranslateRules,
  options?: TranslateOptions,
): Promise<TranslatedTokens[]> {
  if (options?.onToken !== undefined)
    throw new RangeError('translate: onToken streams greedy decoding only, not beam search');
  return beamSearch(session, sources, rules, prepare(session, sources, rules, options));
}

function prepare(
  session: TranslatorSession,
  sources: readonly (readonly number[])[],
  rules: TranslateRules,
  options: TranslateOptions | undefined,
): Resolved {
  const opts = checkTranslateOptions(options);
  const { vocab, capacity } = session;
  checkRules(rules, vocab, opts.numBeams);
  checkSources(sources, vocab);
  const maxNewTokens = opts.maxNewTokens ?? capacity;
  if (maxNewTokens > capacity)
    throw new RangeError(
      `translate: maxNewTokens = ${maxNewTokens} needs ${maxNewTokens} target positions ` +
        `(decoder_start_token_id and ${maxNewTokens - 1} generated tokens fed back), the session holds ${capacity}`,
    );
  return { ...opts, maxNewTokens };
}

type Resolved = ResolvedTranslateOptions & { maxNewTokens: number };

function checkNext(next: NextTokens, sequences: number, vocab: number, what: string): void {
  if (next?.kind === 'candidates') {
    if (!Array.isArray(next.candidates) || next.candidates.length !== sequences)
      throw new Error(
        `translate: the session's ${what} returned ${next.candidates?.length} candidate lists for ${sequences} sequences`,
      );
  } else if (next?.kind === 'logits') {
    if (next.logits?.length !== sequences * vocab)
      throw new Error(
        `translate: the session's ${what} returned ${next.logits?.length} logits for ${sequences} x ${vocab}`,
      );
  } else throw new Error(`translate: the session's ${what} returned neither candidates nor logits`);
}

/** The best token of sequence i that is not the pad (ties: the lowest id). */
function bestNonPad(next: NextTokens, i: number, vocab: number, pad: number): number {
  if (next.kind === 'candidates') {
    const c: TokenCandidates = next.candidates[i];
    for (let r = 0; r < c.ids.length; r++) if (c.ids[r] !== pad) return c.ids[r];
    throw new Error(`translate: sequence ${i}'s candidates hold nothing but the pad id`);
  }
  const row = next.logits.subarray(i * vocab, (i + 1) * vocab);
  let best = -1;
  for (let v = 0; v < vocab; v++) if (v !== pad && (best < 0 || row[v] > row[best])) best = v;
  return best;
}

async function greedy(
  session: TranslatorSession,
  sources: readonly (readonly number[])[],
  rules: TranslateRules,
  opts: Resolved,
): Promise<TranslatedTokens[]> {
  const { vocab } = session;
  const n = sources.length;
  const { maxNewTokens, signal } = opts;
  const pad = rules.padTokenId;
  const tokens: number[][] = sources.map(() => []);
  const finish: (TranslatedTokens['finishReason'] | undefined)[] = new Array(n).fill(undefined);
  const k = Math.min(2, vocab);

  if (signal?.aborted) throw abortError(signal);
  let next = await session.start(sources, 1, k);
  checkNext(next, n, vocab, 'start');
  for (let step = 0; ; step++) {
    const last = step === maxNewTokens - 1;
    for (let i = 0; i < n; i++) {
      if (finish[i] !== undefined) continue;
      const forced = last && rules.forcedEosTokenId !== undefined;
      const token = forced ? rules.forcedEosTokenId! : bestNonPad(next, i, vocab, pad);
      tokens[i].push(token);
      if (!forced && token === rules.eosTokenId) finish[i] = 'eos';
      else if (last) finish[i] = 'length';
      opts.onToken?.({ source: i, token });
    }
    if (finish.every((f) => f !== undefined)) break;
    if (signal?.aborted) throw abortError(signal);
    const fed = tokens.map((t, i) => (finish[i] !== undefined ? pad : t[t.length - 1]));
    next = await session.step(fed, k);
    checkNext(next, n, vocab, 'step');
  }
  return tokens.map((t, i) => ({ tokens: t, finishReason: finish[i]! }));
}

interface Beam {
  tokens: number[];
  sum: number;
}

async function beamSearch(
  session: TranslatorSession,
  sources: readonly (readonly number[])[],
  rules: TranslateRules,
  opts: Resolved,
): Promise<TranslatedTokens[]> {
  const { vocab } = session;
  const { numBeams: nb, maxNewTokens, signal } = opts;
  const S = sources.length;
  const sequences = S * nb;
  const { eosTokenId: eos, padTokenId: pad, forcedEosTokenId: forcedToken } = rules;
  const logProbs = new LogProbs();
  let order: ScoreOrder | undefined;
  let hyps: BeamHypotheses[] = [];
  const done: boolean[] = new Array(S).fill(false);
  const beams: Beam[][] = sources.map(() => Array.from({ length: nb }, () => ({ tokens: [], sum: 0 })));
  // Per source, the beam each running beam continues (its parent within the source).
  const beamParents: number[][] = sources.map(() => []);

  if (signal?.aborted) throw abortError(signal);
  let next = await session.start(sources, nb, 'logits');
  for (let step = 0; ; step++) {
    checkNext(next, sequences, vocab, step === 0 ? 'start' : 'step');
    if (next.kind !== 'logits') throw new Error("translate: beam search asked for 'logits' and got candidates");
    logProbs.accept(next.logits, next.scale);
    if (order === undefined) {
      order = new ScoreOrder(opts.lengthPenalty, logProbs.integerSums);
      hyps = sources.map(() => new BeamHypotheses(nb, order!, opts.earlyStopping, maxNewTokens));
    }
    const last = step === maxNewTokens - 1;
    const generatedLen = step + 1;
    const logits = next.logits;
    for (let s = 0; s < S; s++) {
      if (done[s]) continue;
      // The first step's beams are copies of beam 0 (transformers scores the others -1e9).
      const live = step === 0 ? 1 : nb;
      let ranked: BeamCandidate[];
      if (last && forcedToken !== undefined) {
        ranked = beams[s].slice(0, live).map((b, beam) => ({ beam, token: forcedToken, sum: b.sum }));
        ranked.sort((a, b) => b.sum - a.sum || a.beam - b.beam);
      } else {
        const rows = beams[s].slice(0, live).map((b, beam) => {
          const seq = s * nb + beam;
          return { beam, sum: b.sum, logProbs: logProbs.row(logits.subarray(seq * vocab, (seq + 1) * vocab)) };
        });
        ranked = rankCandidates(rows, pad, 2 * nb);
      }
      const running: Beam[] = [];
      const parents: number[] = [];
      for (let rank = 0; rank < ranked.length && running.length < nb; rank++) {
        const c = ranked[rank];
        const parent = beams[s][c.beam];
        if (c.token === eos) {
          if (rank >= nb) continue;
          hyps[s].add({
            tokens: parent.tokens.slice(),
            score: { sum: c.sum, len: generatedLen },
            eos: true,
            forced: last && forcedToken !== undefined,
          });
        } else {
          running.push({ tokens: [...parent.tokens, c.token], sum: c.sum });
          parents.push(c.beam);
        }
      }
      done[s] = hyps[s].isDone(ranked[0].sum, generatedLen);
      if (running.length < nb && !last && !done[s])
        throw new Error(`translate: source ${s} step ${step} filled ${running.length} of ${nb} beams`);
      beams[s] = running;
      beamParents[s] = parents;
    }
    if (last || done.every(Boolean)) break;

    if (signal?.aborted) throw abortError(signal);
    const parentsAll = new Array<number>(sequences);
    const fed = new Array<number>(sequences);
    let moves = false;
    for (let s = 0; s < S; s++) {
      for (let b = 0; b < nb; b++) {
        const i = s * nb + b;
        if (done[s]) {
          parentsAll[i] = i;
          fed[i] = pad;
        } else {
          parentsAll[i] = s * nb + beamParents[s][b];
          fed[i] = beams[s][b].tokens[step];
        }
        if (parentsAll[i] !== i) moves = true;
      }
    }
    if (moves) session.reorder(parentsAll);
    next = await session.step(fed, 'logits');
  }

  return sources.map((_, s) => {
    if (!done[s]) {
      for (const b of beams[s]) {
        const forced = forcedToken !== undefined;
        hyps[s].add({ tokens: b.tokens, score: { sum: b.sum, len: b.tokens.length }, eos: false, forced });
      }
    }
    const h = hyps[s].best();
    return {
      tokens: h.eos ? [...h.tokens, eos] : h.tokens,
      finishReason: h.eos && !h.forced ? 'eos' : 'length',
      score: order!.value(h.score) * logProbs.unit,
    };
  });
}
