/**
 * The generation loop over a DecoderSession, independent of what runs the model: prefill, then one
 * step per token, each sequence choosing its next token (src/generate/sampler.ts), streaming its
 * text (src/generate/text-stream.ts) and finishing on its own.
 */
import { Random } from '../util/random.js';
import type { DecoderSession, TokenCandidates } from './decoder-session.js';
import {
  checkGenerationOptions,
  type GenerationOptions,
  type ResolvedGenerationOptions,
  type TokenEvent,
} from './options.js';
import { candidatesToRequest, chooseToken, isGreedy } from './sampler.js';
import { TextStream } from './text-stream.js';

export interface GenerationCodec {
  /** Text of token ids (special tokens kept: EOS is never passed when it ends a sequence). */
  decode(ids: readonly number[]): string;
  /** The end-of-text token; also what finished sequences are stepped with. */
  eosTokenId: number;
}

/** Why a sequence ended: its EOS token, a stop string, or maxNewTokens. */
export type FinishReason = 'eos' | 'stop' | 'length';

export interface GenerationResult {
  /** The generated text (no prompt, no EOS, cut before a stop string): its events' pieces joined. */
  text: string;
  /** Every generated token, one per event: the EOS that ended it, a stop string's tokens included. */
  tokens: number[];
  finishReason: FinishReason;
}

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The generation was aborted.', 'AbortError');
}

function checkPrompts(session: DecoderSession, prompts: readonly (readonly number[])[]): void {
  if (!Array.isArray(prompts) || prompts.length === 0) {
    throw new RangeError('generate: no prompts (one array of token ids per sequence)');
  }
  if (prompts.length > session.batch) {
    throw new RangeError(`generate: ${prompts.length} prompts for a session of batch ${session.batch}`);
  }
  prompts.forEach((p, i) => {
    if (!Array.isArray(p) || p.length === 0) throw new RangeError(`generate: prompt ${i} has no tokens`);
    for (let j = 0; j < p.length; j++) {
      const id = p[j];
      if (!Number.isInteger(id) || id < 0 || id >= session.vocab) {
        throw new RangeError(`generate: prompt ${i} token ${j} = ${id} is outside the vocabulary of ${session.vocab}`);
      }
    }
  });
}

/**
 * Generates from `prompts` (token ids, one prompt per sequence, at most session.batch): an async
 * generator of one event per generated token (per step, sequences in order; finished ones yield
 * nothing more), returning each sequence's result.
 *
 * Checked before anything runs (thrown by this call, not by the first `next()`): the options, the
 * prompts, the EOS id, and the capacity. All sequences share the cache length (the longest prompt,
 * left-padded), and the last token is chosen but never fed, so longest prompt + maxNewTokens - 1
 * must fit session.capacity; beyond it is an error rather than a silent 'length'.
 *
 * The session is reset first and left as the last step left it; it must not be used by anything
 * else until the generator ends. The signal is checked before the prefill and each step (a step
 * in flight completes first).
 */
export function generateTokens(
  session: DecoderSession,
  prompts: readonly (readonly number[])[],
  options: GenerationOptions | undefined,
  codec: GenerationCodec,
): AsyncGenerator<TokenEvent, GenerationResult[], undefined> {
  const opts = checkGenerationOptions(options);
  checkPrompts(session, prompts);
  const { vocab, capacity } = session;
  const eos = codec?.eosTokenId;
  if (!Number.isInteger(eos) || eos < 0 || eos >= vocab) {
    throw new RangeError(`generate: eosTokenId = ${eos} is outside the vocabulary of ${vocab}`);
  }
  const longest = Math.max(...prompts.map((p) => p.length));
  if (longest + opts.maxNewTokens - 1 > capacity) {
    throw new RangeError(
      `generate: maxNewTokens = ${opts.maxNewTokens} after a prompt of ${longest} tokens needs ` +
        `${longest + opts.maxNewTokens - 1} cache positions, the session holds ${capacity} ` +
        `(at most ${capacity - longest + 1} new tokens${longest > capacity ? '; the prompt alone is too long' : ''})`,
    );
  }
  return run(session, prompts, opts, codec);
}

async function* run(
  session: DecoderSession,
  prompts: readonly (readonly number[])[],
  opts: ResolvedGenerationOptions,
  codec: GenerationCodec,
): AsyncGenerator<TokenEvent, GenerationResult[], undefined> {
  const { vocab } = session;
  const eos = codec.eosTokenId;
  const n = prompts.length;
  const signal = opts.signal;
  const k = candidatesToRequest(opts, vocab);
  const decode = (ids: readonly number[]) => codec.decode(ids);

  // Everything fed to the session per sequence: what a re-prefill must reproduce.
  const fed = prompts.map((p) => [...p]);
  const seen = prompts.map((p) => new Set(p));
  const rngs = isGreedy(opts) ? [] : prompts.map((_, i) => new Random((opts.seed + i) >>> 0));
  const streams = prompts.map(() => new TextStream(decode, opts.stop));
  const tokens: number[][] = prompts.map(() => []);
  const finish: (GenerationResult['finishReason'] | undefined)[] = new Array(n).fill(undefined);

  const check = (c: TokenCandidates[], what: string) => {
    if (!Array.isArray(c) || c.length !== n) {
      throw new Error(`generate: the session's ${what} returned ${c?.length} candidate lists for ${n} sequences`);
    }
  };

  if (signal?.aborted) throw abortError(signal);
  session.reset();
  let candidates = await session.prefill(prompts, k);
  check(candidates, 'prefill');

  for (;;) {
    const chosen: number[] = new Array(n).fill(eos);
    const undecided: number[] = [];
    for (let i = 0; i < n; i++) {
      if (finish[i] !== undefined) continue;
      const c = chooseToken(candidates[i], opts, { vocab, seen: seen[i], rng: rngs[i] });
      if (c === 'need-more') undecided.push(i);
      else chosen[i] = c;
    }
    if (undecided.length > 0) {
      // The contract has no re-read of the last logits: rebuild the same cache state from every
      // token fed so far (prefill + steps == one pass, bit for bit) with the whole vocabulary.
      if (signal?.aborted) throw abortError(signal);
      session.reset();
      const full = await session.prefill(fed, vocab);
      check(full, 'prefill (whole vocabulary)');
      for (const i of undecided) {
        const c = chooseToken(full[i], opts, { vocab, seen: seen[i], rng: rngs[i] });
        if (c === 'need-more') throw new Error(`generate: sequence ${i} undecided over the whole vocabulary`);
        chosen[i] = c;
      }
    }

    for (let i = 0; i < n; i++) {
      if (finish[i] !== undefined) continue;
      const token = chosen[i];
      const stream = streams[i];
      tokens[i].push(token);
      seen[i].add(token);
      let text: string;
      if (opts.stopAtEos && token === eos) {
        text = stream.flush();
        finish[i] = stream.stopped ? 'stop' : 'eos';
      } else {
        text = stream.push(token);
        if (stream.stopped) finish[i] = 'stop';
        else if (tokens[i].length >= opts.maxNewTokens) {
          text += stream.flush();
          finish[i] = stream.stopped ? 'stop' : 'length';
        }
      }
      const event: TokenEvent = { sequence: i, token, text };
      opts.onToken?.(event);
      yield event;
    }

    if (finish.every((f) => f !== undefined)) break;
    if (signal?.aborted) throw abortError(signal);
    const next = chosen.map((t, i) => (finish[i] !== undefined ? eos : t));
    for (let i = 0; i < n; i++) fed[i].push(next[i]);
    candidates = await session.step(next, k);
    check(candidates, 'step');
  }

  return prompts.map((_, i) => ({
    text: streams[i].text,
    tokens: tokens[i],
    finishReason: finish[i]!,
  }));
}

/** generateTokens run to the end: each sequence's result (onToken still sees every event). */
export async function generateAll(
  session: DecoderSession,
  prompts: readonly (readonly number[])[],
  options: GenerationOptions | undefined,
  codec: GenerationCodec,
): Promise<GenerationResult[]> {
  const it = generateTokens(session, prompts, options, codec);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}
