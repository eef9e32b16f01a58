/**
 * Text generation's decoding logic (src/generate/), independent of what runs the model: options,
 * the choice of a token from partial candidates (checked against brute force over the whole
 * vocabulary), streaming detokenization with stop strings, and the loop over a DecoderSession.
 *
 * The sessions here are fakes: the logits are a deterministic function of each sequence's own
 * tokens (so batching cannot change them), returned as the k best or the whole vocabulary as
 * asked, with every k recorded.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { DecoderSession, TokenCandidates } from '../src/generate/decoder-session.js';
import { type GenerationCodec, type GenerationResult, generateAll, generateTokens } from '../src/generate/generate.js';
import {
  checkGenerationOptions,
  DEFAULT_MAX_NEW_TOKENS,
  type GenerationOptions,
  type TokenEvent,
} from '../src/generate/options.js';
import { candidatesToRequest, chooseToken, penalize, type SamplingOptions } from '../src/generate/sampler.js';
import { TextStream } from '../src/generate/text-stream.js';
import { parseDecoderConfig } from '../src/model/config.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { folderSource } from '../src/model/sources-node.js';
import { TOPK_MAX_K } from '../src/reference/topk-i32.js';
import { Random } from '../src/util/random.js';

// ---- fakes -----------------------------------------------------------------------------------------

/** The k best of a full logit vector in the session's order (value descending, id ascending). */
function candidatesOf(logits: Float32Array, k: number): TokenCandidates {
  const vocab = logits.length;
  const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const n = Math.min(k, vocab);
  const ids = Int32Array.from(order.slice(0, n));
  const values = Float32Array.from(ids, (id) => logits[id]);
  return { ids, logits: values, restBelow: n >= vocab ? Number.NEGATIVE_INFINITY : values[n - 1] };
}

function hashIds(ids: readonly number[], salt: number): number {
  let h = (2166136261 ^ salt) >>> 0;
  for (const id of ids) h = Math.imul(h ^ (id + 1), 16777619) >>> 0;
  return h;
}

type LogitFn = (seq: readonly number[]) => Float32Array;

/** Logits drawn from a generator seeded by the whole sequence: a different distribution per prefix. */
function randomLogits(vocab: number, salt = 1, std = 2): LogitFn {
  return (seq) => new Random(hashIds(seq, salt)).float32Array(vocab, std);
}

/** Random logits, except that after `promptLength + j` tokens, script[j] leads by 20. */
function scripted(vocab: number, promptLength: number, script: readonly number[]): LogitFn {
  const base = randomLogits(vocab, 7, 1);
  return (seq) => {
    const l = base(seq);
    const next = script[seq.length - promptLength];
    if (next !== undefined) l[next] = 20;
    return l;
  };
}

class FakeSession implements DecoderSession {
  /** Every k asked for, prefill and steps in order. */
  readonly requested: number[] = [];
  /** Tokens fed per sequence (prompts and steps). */
  seqs: number[][] = [];
  prefills = 0;
  steps = 0;
  resets = 0;

  constructor(
    readonly vocab: number,
    readonly logitFn: LogitFn,
    readonly capacity = 64,
    readonly batch = 8,
    /** Answer with the whole vocabulary whatever k is asked: the reference for exactness. */
    private readonly alwaysWhole = false,
  ) {}

  get length(): number {
    return this.seqs.length === 0 ? 0 : Math.max(...this.seqs.map((s) => s.length));
  }

  async prefill(prompts: readonly (readonly number[])[], k: number): Promise<TokenCandidates[]> {
    if (this.seqs.length !== 0) throw new Error('fake: prefill into a cache that was not reset');
    if (prompts.length > this.batch) throw new Error('fake: too many prompts');
    this.seqs = prompts.map((p) => [...p]);
    if (this.length > this.capacity) throw new Error('fake: prompt beyond capacity');
    this.prefills++;
    return this.answer(k);
  }

  async step(tokens: readonly number[], k: number): Promise<TokenCandidates[]> {
    if (tokens.length !== this.seqs.length) throw new Error('fake: one token per sequence');
    if (this.length + 1 > this.capacity) throw new Error('fake: capacity exceeded');
    tokens.forEach((t, i) => this.seqs[i].push(t));
    this.steps++;
    await new Promise((r) => setTimeout(r, 0));
    return this.answer(k);
  }

  reset(): void {
    this.seqs = [];
    this.resets++;
  }

  private answer(k: number): TokenCandidates[] {
    if (!Number.isInteger(k) || k < 1) throw new Error(`fake: k = ${k}`);
    this.requested.push(k);
    return this.seqs.map((s) => candidatesOf(this.logitFn(s), this.alwaysWhole ? this.vocab : k));
  }
}

/** A byte-level vocabulary: some tokens are halves of UTF-8 characters. */
const VOCAB = 100;
const EOS = 0;
const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const TOKEN_BYTES: number[][] = (() => {
  const t: number[][] = [utf8('<|endoftext|>')];
  for (let c = 0; c < 26; c++) t.push([97 + c]); // 1..26: a..z
  t.push(utf8(' ')); // 27
  t.push(utf8('.')); // 28
  t.push([0xc3]); // 29: é is c3 a9
  t.push([0xa9]); // 30
  t.push([0xf0, 0x9f]); // 31: 😀 is f0 9f 98 80
  t.push([0x98, 0x80]); // 32
  t.push(utf8('ST')); // 33
  t.push(utf8('OP')); // 34
  t.push(utf8('\n')); // 35
  t.push(utf8(' the')); // 36
  t.push(utf8(' cat')); // 37
  t.push(utf8('é')); // 38
  t.push(utf8(' ,')); // 39
  while (t.length < VOCAB) t.push(utf8(`<${t.length}>`));
  return t;
})();
const T = { a: 1, b: 2, c: 3, space: 27, dot: 28, e1: 29, e2: 30, smile1: 31, smile2: 32, ST: 33, OP: 34, nl: 35 };
const textDecoder = new TextDecoder('utf-8');
const decodeBytes = (ids: readonly number[]) => textDecoder.decode(Uint8Array.from(ids.flatMap((i) => TOKEN_BYTES[i])));
const CODEC: GenerationCodec = { decode: decodeBytes, eosTokenId: EOS };

/** A decoder that cleans up tokenization spaces as tokenizers.js does by default (" ." -> "."). */
const decodeWithCleanup = (ids: readonly number[]) =>
  decodeBytes(ids).replace(/ \./g, '.').replace(/ ,/g, ',').replace(/ n't/g, "n't").replace(/ 's/g, "'s");

async function collect(
  session: DecoderSession,
  prompts: number[][],
  options: GenerationOptions = {},
  codec: GenerationCodec = CODEC,
): Promise<{ events: TokenEvent[]; results: GenerationResult[] }> {
  const events: TokenEvent[] = [];
  const it = generateTokens(session, prompts, options, codec);
  for (;;) {
    const r = await it.next();
    if (r.done) return { events, results: r.value };
    events.push(r.value);
  }
}

// ---- brute force ------------------------------------------------------------------------------------

/** The distribution a sampled token is drawn from, over the whole vocabulary (a second implementation). */
function referenceDistribution(logits: Float32Array, seen: ReadonlySet<number>, o: SamplingOptions): Float64Array {
  const vocab = logits.length;
  const q = Array.from(logits, (l, id) =>
    o.repetitionPenalty !== 1 && seen.has(id) ? penalize(l, o.repetitionPenalty) : l,
  );
  const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => q[b] - q[a] || a - b);
  const p = new Float64Array(vocab);
  if (o.temperature === 0) {
    p[order[0]] = 1;
    return p;
  }
  const kept = order.slice(0, Math.min(o.topK ?? vocab, vocab));
  const w = kept.map((id) => Math.exp((q[id] - q[kept[0]]) / o.temperature));
  const total = w.reduce((a, b) => a + b, 0);
  let cum = 0;
  let mass = 0;
  const nucleus: number[] = [];
  kept.forEach((id, j) => {
    if (j === 0 || cum / total < o.topP) {
      nucleus.push(id);
      mass += w[j];
    }
    cum += w[j];
  });
  nucleus.forEach((id) => {
    p[id] = w[kept.indexOf(id)] / mass;
  });
  return p;
}

const sampling = (o: Partial<SamplingOptions>): SamplingOptions => ({
  temperature: 0,
  topK: undefined,
  topP: 1,
  repetitionPenalty: 1,
  ...o,
});

// ---- options ----------------------------------------------------------------------------------------

describe('generation options', () => {
  it('fills the defaults', () => {
    const o = checkGenerationOptions(undefined);
    expect(o).toMatchObject({
      maxNewTokens: DEFAULT_MAX_NEW_TOKENS,
      temperature: 0,
      topK: undefined,
      topP: 1,
      seed: 0,
      repetitionPenalty: 1,
      stop: [],
      stopAtEos: true,
    });
    expect(checkGenerationOptions({ temperature: 0.7, topK: 5, topP: 0.9, seed: 3 })).toMatchObject({
      temperature: 0.7,
      topK: 5,
      topP: 0.9,
      seed: 3,
    });
  });

  const bad: [GenerationOptions | unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, RegExp][] =
    [
      [{ maxNewTokens: 0 }, RangeError, /maxNewTokens = 0 must be an integer >= 1/],
      [{ maxNewTokens: 2.5 }, RangeError, /maxNewTokens = 2\.5/],
      [{ maxNewTokens: '5' }, TypeError, /maxNewTokens = "5" must be a number/],
      [{ temperature: -1 }, RangeError, /temperature = -1 must be a finite number >= 0/],
      [{ temperature: Number.POSITIVE_INFINITY }, RangeError, /temperature = Infinity/],
      [{ temperature: Number.NaN }, TypeError, /temperature = NaN must be a number/],
      [{ temperature: 1, topK: 0 }, RangeError, /topK = 0 must be an integer >= 1/],
      [{ temperature: 1, topP: 1.5 }, RangeError, /generate: topP = 1\.5 must be in \(0, 1\]/],
      [{ temperature: 1, topP: 0 }, RangeError, /topP = 0 must be in \(0, 1\]/],
      [{ topK: 5 }, RangeError, /topK = 5 has no effect with greedy decoding/],
      [{ temperature: 0, topP: 0.9 }, RangeError, /topP = 0\.9 has no effect with greedy/],
      [{ seed: -1 }, RangeError, /seed = -1 must be an integer in \[0, 4294967295\]/],
      [{ seed: 2 ** 32 }, RangeError, /seed = 4294967296/],
      [{ repetitionPenalty: 0 }, RangeError, /repetitionPenalty = 0 must be a finite number > 0/],
      [{ stop: 'END' }, TypeError, /stop = "END" must be an array of strings \(wrap a single one/],
      [{ stop: ['a', 3] }, TypeError, /stop\[1\] = 3 must be a string/],
      [{ stop: [''] }, RangeError, /stop\[0\] is empty/],
      [{ stop: ['\uD83D'] }, RangeError, /stop\[0\] .* lone UTF-16 surrogate/],
      [{ stopAtEos: 'yes' }, TypeError, /stopAtEos = "yes" must be a boolean/],
      [{ onToken: 3 }, TypeError, /onToken = 3 must be a function/],
      [{ signal: {} }, TypeError, /signal = an object must be an AbortSignal/],
      [{ max_new_tokens: 5, foo: 1 }, TypeError, /unknown options "max_new_tokens", "foo" \(known: maxNewTokens/],
      [[], TypeError, /options must be an object, got an array/],
      [null, TypeError, /options must be an object, got null/],
    ];
  it.each(bad.map(([o, type, message]) => ({ o, type, message, name: JSON.stringify(o) ?? String(o) })))(
    'refuses $name',
    ({ o, type, message }) => {
      expect(() => checkGenerationOptions(o as GenerationOptions)).toThrow(type);
      expect(() => checkGenerationOptions(o as GenerationOptions)).toThrow(message);
    },
  );

  it('accepts an AbortSignal and treats undefined values as absent', () => {
    const signal = new AbortController().signal;
    expect(checkGenerationOptions({ signal, topK: undefined, maxNewTokens: undefined }).signal).toBe(signal);
  });
});

// ---- the choice of a token --------------------------------------------------------------------------

describe('sampler: candidates to request', () => {
  it('asks for 1 (greedy), TOPK_MAX_K (penalty), K (top-k) or the whole vocabulary', () => {
    const v = 1000;
    expect(candidatesToRequest(sampling({}), v)).toBe(1);
    expect(candidatesToRequest(sampling({ repetitionPenalty: 1.3 }), v)).toBe(TOPK_MAX_K);
    expect(candidatesToRequest(sampling({ temperature: 1, topK: 10 }), v)).toBe(10);
    expect(candidatesToRequest(sampling({ temperature: 1, topK: 10, topP: 0.9 }), v)).toBe(10);
    expect(candidatesToRequest(sampling({ temperature: 1, topK: 10, repetitionPenalty: 1.2 }), v)).toBe(TOPK_MAX_K);
    expect(candidatesToRequest(sampling({ temperature: 1, topK: TOPK_MAX_K + 1 }), v)).toBe(v);
    expect(candidatesToRequest(sampling({ temperature: 1, topP: 0.9 }), v)).toBe(v);
    expect(candidatesToRequest(sampling({ temperature: 1 }), v)).toBe(v);
    expect(candidatesToRequest(sampling({ repetitionPenalty: 2 }), 10)).toBe(10);
  });
});

describe('sampler: choice from partial candidates', () => {
  const seen = (ids: number[]) => new Set(ids);

  it('greedy: argmax, ties to the lowest id', () => {
    const logits = Float32Array.from([1, 5, 3, 5, 2]);
    expect(chooseToken(candidatesOf(logits, 1), sampling({}), { vocab: 5 })).toBe(1);
    expect(chooseToken(candidatesOf(logits, 5), sampling({}), { vocab: 5 })).toBe(1);
  });

  it('a tie with restBelow is accepted only when restBelow is the last candidate (the session orders ties by id)', () => {
    const logits = Float32Array.from([1, 5, 3, 5, 2]);
    const c = candidatesOf(logits, 1); // id 1, restBelow 5: id 3 may tie but has a higher id
    expect(chooseToken(c, sampling({}), { vocab: 5 })).toBe(1);
    expect(chooseToken({ ...c, restBelow: 5.5 }, sampling({}), { vocab: 5 })).toBe('need-more');
  });

  it('need-more when the penalty pushes every candidate below restBelow', () => {
    const logits = Float32Array.from([5, 4, 3, 2, 1]);
    const c = candidatesOf(logits, 2); // ids 0, 1; restBelow 4
    const o = sampling({ repetitionPenalty: 2 });
    // Penalized 2.5 and 2: token 2 (3, not returned) wins over the whole vocabulary.
    expect(chooseToken(c, o, { vocab: 5, seen: seen([0, 1]) })).toBe('need-more');
    expect(chooseToken(candidatesOf(logits, 5), o, { vocab: 5, seen: seen([0, 1]) })).toBe(2);
    // Only token 0 penalized: token 1 (4) still beats everything not returned (<= 4, higher ids).
    expect(chooseToken(c, o, { vocab: 5, seen: seen([0]) })).toBe(1);
  });

  it('need-more when a penalty below 1 could raise an unreturned token above the candidates', () => {
    const logits = Float32Array.from([1, 0.9, 0.8, 0.1]);
    const o = sampling({ repetitionPenalty: 0.5 });
    const c = candidatesOf(logits, 2);
    expect(chooseToken(c, o, { vocab: 4, seen: seen([2]) })).toBe('need-more');
    expect(chooseToken(candidatesOf(logits, 4), o, { vocab: 4, seen: seen([2]) })).toBe(2); // 0.8 / 0.5
    // The penalized token among the candidates: nothing outside is raised.
    expect(chooseToken(c, o, { vocab: 4, seen: seen([1]) })).toBe(1); // 1.8
  });

  it('need-more when the penalty makes a candidate tie with restBelow and an unreturned token may have a lower id', () => {
    // Sorted: 3 (4), 1 (2), 2 (2), 0 (0); the candidates are 3 and 1. Penalty 2 on both: 3 -> 2, 1 -> 1.
    // Token 2 (unreturned, 2) ties with 3 and has the lower id: it is the argmax.
    const logits = Float32Array.from([0, 2, 2, 4]);
    const o = sampling({ repetitionPenalty: 2 });
    const ctx = { vocab: 4, seen: seen([3, 1]) };
    expect(chooseToken(candidatesOf(logits, 2), o, ctx)).toBe('need-more');
    expect(chooseToken(candidatesOf(logits, 4), o, ctx)).toBe(2);
    // Same with top-2 sampling: the set {3, 2} is not among the candidates.
    const s = sampling({ temperature: 1, topK: 2, repetitionPenalty: 2 });
    expect(chooseToken(candidatesOf(logits, 3), s, { ...ctx, rng: new Random(1) })).toBe('need-more');
  });

  it('top-k sampling needs K proven candidates; top-p alone needs the whole vocabulary', () => {
    const logits = new Random(5).float32Array(50);
    const rng = new Random(1);
    const o = sampling({ temperature: 1, topK: 8 });
    expect(chooseToken(candidatesOf(logits, 7), o, { vocab: 50, rng })).toBe('need-more');
    expect(typeof chooseToken(candidatesOf(logits, 8), o, { vocab: 50, rng })).toBe('number');
    const p = sampling({ temperature: 1, topP: 0.5 });
    expect(chooseToken(candidatesOf(logits, 49), p, { vocab: 50, rng })).toBe('need-more');
    expect(typeof chooseToken(candidatesOf(logits, 50), p, { vocab: 50, rng })).toBe('number');
  });

  it('equals the choice over the whole vocabulary whenever it does not answer need-more (random logits)', () => {
    const r = new Random(2024);
    let accepted = 0;
    let needMore = 0;
    for (let trial = 0; trial < 3000; trial++) {
      const vocab = r.int(2, 120);
      // Coarse integer logits half the time: ties, as on the GPU's common integer scale.
      const coarse = r.next() < 0.5;
      const logits = Float32Array.from({ length: vocab }, () => (coarse ? r.int(-4, 4) : r.normal(3)));
      const seenIds = new Set<number>();
      const nSeen = r.int(0, Math.min(vocab, 70));
      for (let i = 0; i < nSeen; i++) seenIds.add(r.int(0, vocab - 1));
      const greedy = r.next() < 0.5;
      const o = sampling({
        temperature: greedy ? 0 : [0.5, 1, 2][r.int(0, 2)],
        topK: greedy || r.next() < 0.2 ? undefined : r.int(1, 70),
        topP: greedy || r.next() < 0.5 ? 1 : [0.3, 0.9][r.int(0, 1)],
        repetitionPenalty: [1, 1, 0.5, 0.8, 1.3, 2, 2, 10][r.int(0, 7)],
      });
      const k = r.next() < 0.5 ? candidatesToRequest(o, vocab) : r.int(1, vocab);
      const seed = r.int(0, 1e9);
      const whole = chooseToken(candidatesOf(logits, vocab), o, { vocab, seen: seenIds, rng: new Random(seed) });
      const partial = chooseToken(candidatesOf(logits, k), o, { vocab, seen: seenIds, rng: new Random(seed) });
      expect(whole).not.toBe('need-more');
      const p = referenceDistribution(logits, seenIds, o);
      expect(p[whole as number], `trial ${trial}: ${whole} outside the support`).toBeGreaterThan(0);
      if (partial === 'need-more') needMore++;
      else {
        accepted++;
        expect(partial, `trial ${trial} (k ${k} of ${vocab})`).toBe(whole);
      }
    }
    // Both branches exercised, so the comparison above can fail.
    expect(accepted).toBeGreaterThan(500);
    expect(needMore).toBeGreaterThan(300);
  });

  it('draws from the distribution after temperature, top-k and top-p', () => {
    const vocab = 30;
    const logits = new Random(9).float32Array(vocab, 1.5);
    for (const o of [
      sampling({ temperature: 0.7 }),
      sampling({ temperature: 1.5, topK: 5 }),
      sampling({ temperature: 1, topP: 0.6 }),
      sampling({ temperature: 1, topK: 6, topP: 0.8, repetitionPenalty: 1.5 }),
    ]) {
      const seenIds = new Set([1, 2, 3, 4, 5]);
      const p = referenceDistribution(logits, seenIds, o);
      const draws = 6000;
      const freq = new Float64Array(vocab);
      const rng = new Random(17);
      const k = candidatesToRequest(o, vocab);
      for (let i = 0; i < draws; i++) {
        const t = chooseToken(candidatesOf(logits, k), o, { vocab, seen: seenIds, rng });
        if (t === 'need-more') throw new Error('unexpected need-more');
        freq[t]++;
      }
      for (let id = 0; id < vocab; id++) {
        if (p[id] === 0) expect(freq[id], `token ${id} outside the support of ${JSON.stringify(o)}`).toBe(0);
        // 4 standard deviations of a binomial proportion.
        const sd = Math.sqrt((p[id] * (1 - p[id])) / draws);
        expect(Math.abs(freq[id] / draws - p[id])).toBeLessThanOrEqual(4 * sd + 1e-9);
      }
    }
  });
});

// ---- streaming text -----------------------------------------------------------------------------------

function streamAll(ids: number[], decode = decodeBytes, stop: string[] = []): { pieces: string[]; stream: TextStream } {
  const stream = new TextStream(decode, stop);
  const pieces: string[] = [];
  for (const id of ids) {
    if (stream.finished) break;
    pieces.push(stream.push(id));
  }
  pieces.push(stream.flush());
  return { pieces, stream };
}

describe('TextStream', () => {
  it('never emits half a character; the pieces join to decode(ids)', () => {
    const ids = [T.c, T.a, 36, T.e1, T.e2, T.space, T.smile1, T.smile2, T.smile1, T.smile2, T.dot];
    const { pieces } = streamAll(ids);
    expect(pieces.join('')).toBe(decodeBytes(ids));
    expect(decodeBytes(ids)).toBe('ca theé 😀😀.');
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    // Streaming, not all at the end: the piece after the first half of 😀 is empty, the second half emits it.
    expect(pieces.some((p) => p.includes('😀') && !p.endsWith('.'))).toBe(true);
  });

  it('joins to decode(ids) for random byte tokens, invalid sequences included, with and without space cleanup', () => {
    const r = new Random(77);
    for (let trial = 0; trial < 400; trial++) {
      const ids = Array.from({ length: r.int(0, 12) }, () => r.int(1, 40));
      for (const decode of [decodeBytes, decodeWithCleanup]) {
        const { pieces } = streamAll(ids, decode);
        expect(pieces.join(''), `ids ${ids}`).toBe(ids.length ? decode(ids) : '');
      }
    }
  });

  it('holds back a space that cleanup may delete', () => {
    const stream = new TextStream(decodeWithCleanup);
    expect(stream.push(T.a)).toBe('a');
    expect(stream.push(T.space)).toBe(''); // emitting it would be wrong: 'a .' cleans up to 'a.'
    expect(stream.push(T.dot)).toBe('.');
    expect(stream.push(T.space)).toBe('');
    expect(stream.push(T.b)).toBe(''); // a space and up to two characters: ' n' may become "n't"
    expect(stream.push(T.c)).toBe('');
    expect(stream.push(T.a)).toBe(' bca');
    expect(stream.flush()).toBe('');
    expect(stream.text).toBe(decodeWithCleanup([T.a, T.space, T.dot, T.space, T.b, T.c, T.a]));
  });

  it('a stop string split across tokens ends the stream; the text before it is final', () => {
    const { pieces, stream } = streamAll([T.a, T.b, T.ST, T.OP, T.c], decodeBytes, ['STOP']);
    expect(stream.stopped).toBe(true);
    expect(stream.tokens).toEqual([T.a, T.b, T.ST, T.OP]);
    expect(pieces.join('')).toBe('ab');
    expect(() => stream.push(T.a)).toThrow(/finished/);
  });

  it('releases a held prefix that did not become a stop string', () => {
    const stream = new TextStream(decodeBytes, ['STOP', 'xyz']);
    expect(stream.push(T.a)).toBe('a');
    expect(stream.push(T.ST)).toBe('');
    expect(stream.push(T.a)).toBe('STa');
    expect(stream.push(24)).toBe(''); // 'x' may start 'xyz'
    expect(stream.flush()).toBe('x');
    expect(stream.stopped).toBe(false);
  });

  it('stops at the earliest of several stop strings, and on a stop string inside one token', () => {
    const a = streamAll([T.a, T.nl, T.b, T.ST, T.OP], decodeBytes, ['STOP', '\n']);
    expect(a.pieces.join('')).toBe('a');
    expect(a.stream.tokens).toEqual([T.a, T.nl]);
    const b = streamAll([T.a, 37, T.b], decodeBytes, ['at']);
    expect(b.pieces.join('')).toBe('a c');
  });

  it('a stop string that starts with a multi-byte character split across tokens', () => {
    const { pieces, stream } = streamAll([T.a, T.e1, T.e2, T.b, T.c], decodeBytes, ['éb']);
    expect(stream.stopped).toBe(true);
    expect(pieces.join('')).toBe('a');
  });
});

// ---- the generation loop --------------------------------------------------------------------------------

/** Greedy over the whole vocabulary, one sequence, by brute force. */
function bruteGreedy(fn: LogitFn, prompt: number[], n: number, penalty = 1, eos = EOS): number[] {
  const seq = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const l = fn(seq);
    const seenIds = new Set(seq);
    let best = 0;
    let bestQ = Number.NEGATIVE_INFINITY;
    l.forEach((v, id) => {
      const q = penalty !== 1 && seenIds.has(id) ? penalize(v, penalty) : v;
      if (q > bestQ) {
        bestQ = q;
        best = id;
      }
    });
    out.push(best);
    seq.push(best);
    if (best === eos) break;
  }
  return out;
}

describe('generateTokens', () => {
  const fn = randomLogits(VOCAB);
  const prompt = [T.a, T.b, T.c];

  it('greedy equals brute force, asking for one candidate per step', async () => {
    const session = new FakeSession(VOCAB, fn);
    const { events, results } = await collect(session, [prompt], { maxNewTokens: 12 });
    const want = bruteGreedy(fn, prompt, 12);
    expect(results[0].tokens).toEqual(want);
    expect(session.requested.every((k) => k === 1)).toBe(true);
    expect(events.map((e) => e.token)).toEqual(want);
    expect(events.map((e) => e.text).join('')).toBe(results[0].text);
    expect(results[0].finishReason).toBe(want.at(-1) === EOS ? 'eos' : 'length');
  });

  it('greedy with a repetition penalty: exact, and re-asks for the whole vocabulary when the candidates cannot tell', async () => {
    // Logits falling with the id; the prompt holds the 70 best tokens, so a penalty of 10 pushes
    // all 64 candidates below the unreturned token 70.
    const falling: LogitFn = (seq) =>
      Float32Array.from({ length: VOCAB }, (_, v) => -1 - v * 0.01 + (seq.length % 3) * 1e-3);
    const longPrompt = Array.from({ length: 70 }, (_, i) => i);
    const session = new FakeSession(VOCAB, falling, 128);
    const { results } = await collect(session, [longPrompt], { maxNewTokens: 3, repetitionPenalty: 10 });
    expect(results[0].tokens).toEqual(bruteGreedy(falling, longPrompt, 3, 10));
    expect(results[0].tokens[0]).toBe(70);
    expect(session.requested[0]).toBe(TOPK_MAX_K);
    expect(session.requested).toContain(VOCAB);
    expect(session.prefills).toBeGreaterThan(1);
    // The re-prefill rebuilt the same cache: the fake's sequence is prompt + fed tokens.
    expect(session.seqs[0]).toEqual([...longPrompt, ...results[0].tokens.slice(0, 2)]);

    // Without the penalty the first choice is token 0.
    const plain = await collect(new FakeSession(VOCAB, falling, 128), [longPrompt], { maxNewTokens: 1 });
    expect(plain.results[0].tokens).toEqual([0]);
  });

  it('a repetition penalty changes a choice it must change', async () => {
    // Step 1 prefers token c, which the prompt holds; it leads token b by less than the penalty takes.
    const f: LogitFn = (seq) => {
      const l = new Float32Array(VOCAB).fill(-5);
      l[T.c] = 4;
      l[T.b] = 3;
      l[seq.length % 2 === 0 ? T.dot : T.e1] = -1;
      return l;
    };
    const without = await collect(new FakeSession(VOCAB, f), [[T.a, T.c]], { maxNewTokens: 1 });
    expect(without.results[0].tokens).toEqual([T.c]);
    const withPenalty = await collect(new FakeSession(VOCAB, f), [[T.a, T.c]], {
      maxNewTokens: 1,
      repetitionPenalty: 1.5,
    });
    expect(withPenalty.results[0].tokens).toEqual([T.b]); // 4 / 1.5 < 3
  });

  it('seeded sampling repeats, and differs across seeds', async () => {
    const o = { temperature: 1, maxNewTokens: 16, stopAtEos: false };
    const run = async (seed: number) =>
      (await collect(new FakeSession(VOCAB, fn), [prompt], { ...o, seed })).results[0].tokens;
    const a = await run(5);
    expect(await run(5)).toEqual(a);
    const others = await Promise.all([6, 7, 8].map(run));
    for (const b of others) expect(b).not.toEqual(a);
  });

  it('sampling from partial candidates equals sampling from the whole vocabulary', async () => {
    for (const o of [
      { temperature: 0.8, topK: 5 },
      { temperature: 1.2, topK: 20, topP: 0.7, repetitionPenalty: 1.3 },
      { temperature: 1, topK: 3, repetitionPenalty: 0.7 },
      { repetitionPenalty: 1.2 },
    ]) {
      for (const seed of [1, 2, 3]) {
        const options = { ...o, seed, maxNewTokens: 20 };
        const partial = new FakeSession(VOCAB, fn);
        const whole = new FakeSession(VOCAB, fn, 64, 8, true);
        const a = await collect(partial, [prompt, [T.b]], options);
        const b = await collect(whole, [prompt, [T.b]], options);
        expect(a.results).toEqual(b.results);
        expect(Math.max(...partial.requested.slice(0, 1))).toBeLessThan(VOCAB);
      }
    }
  });

  it('top-k and top-p keep every sampled token inside their support', async () => {
    for (const o of [
      { temperature: 2, topK: 3 },
      { temperature: 1.5, topP: 0.5 },
    ]) {
      const options = checkGenerationOptions({ ...o, maxNewTokens: 10, stopAtEos: false });
      for (let seed = 0; seed < 30; seed++) {
        const { results } = await collect(new FakeSession(VOCAB, fn), [prompt], {
          ...options,
          seed,
          onToken: undefined,
          signal: undefined,
        });
        const seq = [...prompt];
        for (const t of results[0].tokens) {
          const p = referenceDistribution(fn(seq), new Set(seq), options);
          expect(p[t], `seed ${seed}: token ${t} after ${seq}`).toBeGreaterThan(0);
          seq.push(t);
        }
      }
    }
  });

  it('a stop string split across tokens ends the sequence; its tokens are kept, its text is not', async () => {
    const script = [T.a, T.b, T.ST, T.OP, T.c, T.c];
    const session = new FakeSession(VOCAB, scripted(VOCAB, 1, script));
    const { events, results } = await collect(session, [[T.c]], { stop: ['STOP'], maxNewTokens: 6 });
    expect(results[0]).toEqual({ text: 'ab', tokens: [T.a, T.b, T.ST, T.OP], finishReason: 'stop' });
    expect(events.map((e) => e.text).join('')).toBe('ab');
    expect(events.map((e) => e.text)).toEqual(['a', 'b', '', '']);
  });

  it('EOS ends a sequence (not in the text); with stopAtEos false it is an ordinary token', async () => {
    const script = [T.a, T.b, EOS, T.c, T.c];
    const a = await collect(new FakeSession(VOCAB, scripted(VOCAB, 1, script)), [[T.c]], { maxNewTokens: 5 });
    expect(a.results[0]).toEqual({ text: 'ab', tokens: [T.a, T.b, EOS], finishReason: 'eos' });
    expect(a.events).toHaveLength(3);
    const b = await collect(new FakeSession(VOCAB, scripted(VOCAB, 1, script)), [[T.c]], {
      maxNewTokens: 5,
      stopAtEos: false,
    });
    expect(b.results[0]).toEqual({ text: 'ab<|endoftext|>cc', tokens: script, finishReason: 'length' });
  });

  it('maxNewTokens ends with length; a length beyond the capacity is refused before anything runs', async () => {
    const session = new FakeSession(VOCAB, randomLogits(VOCAB, 3), 10);
    const { results } = await collect(session, [[T.a, T.b, T.c]], { maxNewTokens: 8, stopAtEos: false });
    expect(results[0].tokens).toHaveLength(8);
    expect(results[0].finishReason).toBe('length');
    expect(session.length).toBe(10); // 3 + 7 fed: exactly the capacity

    const fresh = new FakeSession(VOCAB, fn, 10);
    expect(() => generateTokens(fresh, [[T.a], [T.a, T.b, T.c]], { maxNewTokens: 9 }, CODEC)).toThrow(
      /maxNewTokens = 9 after a prompt of 3 tokens needs 11 cache positions, the session holds 10 \(at most 8 new tokens\)/,
    );
    expect(fresh.prefills).toBe(0);
  });

  it('the text keeps multi-byte characters whole; the pieces join to the result', async () => {
    const script = [T.e1, T.e2, T.smile1, T.smile2, T.space, T.e1, T.e2];
    const { events, results } = await collect(new FakeSession(VOCAB, scripted(VOCAB, 1, script)), [[T.a]], {
      maxNewTokens: 7,
    });
    expect(results[0].text).toBe('é😀 é');
    expect(events.map((e) => e.text)).toEqual(['', 'é', '', '😀', '', '', ' é']);
  });

  it('a batch of prompts of different lengths equals each prompt alone (sequence i samples with seed + i)', async () => {
    // EOS favoured, so that some sequences end early and are stepped with EOS after.
    const eosy: LogitFn = (seq) => {
      const l = fn(seq);
      l[EOS] += 2.5;
      return l;
    };
    const prompts = [[T.a], [T.b, T.c, T.a, T.b, T.c], [T.c, T.c], [36, 37, 36]];
    for (const o of [{}, { temperature: 1, topK: 10 }, { temperature: 0.9, seed: 11 }, { repetitionPenalty: 1.4 }]) {
      const options = { ...o, maxNewTokens: 12 };
      const session = new FakeSession(VOCAB, eosy);
      const batch = await collect(session, prompts, options);
      const reasons = new Set(batch.results.map((r) => r.finishReason));
      for (let i = 0; i < prompts.length; i++) {
        const seed = ((o as { seed?: number }).seed ?? 0) + i;
        const alone = await collect(new FakeSession(VOCAB, eosy), [prompts[i]], { ...options, seed });
        expect(batch.results[i], `${JSON.stringify(o)} sequence ${i}`).toEqual(alone.results[0]);
        expect(batch.events.filter((e) => e.sequence === i)).toEqual(alone.events.map((e) => ({ ...e, sequence: i })));
        // A finished sequence is fed EOS after its last token.
        const r = batch.results[i];
        const fed = session.seqs[i].slice(prompts[i].length);
        expect(fed.slice(0, r.tokens.length)).toEqual(r.tokens.slice(0, fed.length));
        expect(fed.slice(r.tokens.length).every((t) => t === EOS)).toBe(true);
      }
      expect(reasons.has('eos')).toBe(true);
    }
  });

  it('onToken sees every event in order', async () => {
    const seen: TokenEvent[] = [];
    const { events } = await collect(new FakeSession(VOCAB, fn), [prompt, [T.a]], {
      maxNewTokens: 5,
      onToken: (e) => seen.push(e),
    });
    expect(seen).toEqual(events);
    expect(events.map((e) => e.sequence).slice(0, 4)).toEqual([0, 1, 0, 1]);
  });

  it('abort stops before the next step and rejects with the reason', async () => {
    const controller = new AbortController();
    const session = new FakeSession(VOCAB, fn);
    const reason = new Error('user pressed stop');
    let count = 0;
    const p = generateAll(
      session,
      [prompt],
      {
        maxNewTokens: 20,
        stopAtEos: false,
        signal: controller.signal,
        onToken: () => {
          if (++count === 3) controller.abort(reason);
        },
      },
      CODEC,
    );
    await expect(p).rejects.toBe(reason);
    expect(count).toBe(3);
    expect(session.steps).toBe(2);
  });

  it('abort without a reason rejects with an AbortError; an aborted signal runs nothing', async () => {
    const controller = new AbortController();
    const session = new FakeSession(VOCAB, fn);
    const it1 = generateTokens(session, [prompt], { signal: controller.signal, stopAtEos: false }, CODEC);
    await it1.next();
    controller.abort();
    await expect(it1.next()).rejects.toMatchObject({ name: 'AbortError' });

    const idle = new FakeSession(VOCAB, fn);
    await expect(generateAll(idle, [prompt], { signal: controller.signal }, CODEC)).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(idle.prefills).toBe(0);
  });

  it('refuses bad prompts, codecs and options before anything runs', () => {
    const session = new FakeSession(VOCAB, fn, 64, 2);
    const go =
      (prompts: number[][], options: GenerationOptions = {}, codec = CODEC) =>
      () =>
        generateTokens(session, prompts, options, codec);
    expect(go([])).toThrow(/no prompts/);
    expect(go([[T.a], []])).toThrow(/prompt 1 has no tokens/);
    expect(go([[T.a, VOCAB]])).toThrow(/prompt 0 token 1 = 100 is outside the vocabulary of 100/);
    expect(go([[1.5]])).toThrow(/prompt 0 token 0 = 1\.5/);
    expect(go([[1], [2], [3]])).toThrow(/3 prompts for a session of batch 2/);
    expect(go([[1]], {}, { decode: decodeBytes, eosTokenId: -1 })).toThrow(/eosTokenId = -1 is outside/);
    expect(go([[1]], { temperature: 1, topP: 1.5 })).toThrow(/topP = 1\.5 must be in \(0, 1\]/);
    expect(session.prefills).toBe(0);
  });
});

// ---- the real tokenizer ---------------------------------------------------------------------------------

const MODEL = fileURLToPath(new URL('../../shared/models/multi30k-gpt2-tiny', import.meta.url));

describe.skipIf(!existsSync(`${MODEL}/tokenizer.json`))('multi30k-gpt2-tiny tokenizer (needs ../shared)', () => {
  it('streams multi-byte text in whole characters, joining to decode(ids)', async () => {
    const config = parseDecoderConfig(JSON.parse(readFileSync(`${MODEL}/config.json`, 'utf8')));
    const tokenizer = await loadDecoderTokenizer(folderSource(MODEL), config);
    const text = 'café – naïve 😀 a man, a dog. “quoted” 日本語';
    const ids = tokenizer.encode(text);
    const decode = (x: readonly number[]) => tokenizer.decode(x);
    expect(decode(ids)).toBe(text);
    // Some tokens hold part of a character: the test exercises the hold-back.
    expect(ids.some((id) => decode([id]).includes('\uFFFD'))).toBe(true);
    const { pieces } = streamAll(ids, decode);
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.filter((p) => p.length > 0).length).toBeGreaterThan(5);

    // Through the loop: a session scripted to continue the prompt with these ids, then EOS.
    const eos = tokenizer.eosTokenId;
    const session = new FakeSession(config.vocabSize, scripted(config.vocabSize, 1, [...ids, eos]), 128);
    const run = await collect(session, [[eos]], { maxNewTokens: ids.length + 5 }, { decode, eosTokenId: eos });
    expect(run.results[0]).toEqual({ text, tokens: [...ids, eos], finishReason: 'eos' });
    for (const e of run.events) expect(e.text).not.toContain('\uFFFD');

    const stopped = streamAll(ids, decode, ['naïve']);
    expect(stopped.pieces.join('')).toBe('café – ');
    expect(stopped.stream.stopped).toBe(true);
  });
});
