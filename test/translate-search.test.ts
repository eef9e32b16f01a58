/**
 * Translation's search (src/generate/translate.ts, src/generate/beam-search.ts) over sessions
 * whose logit rows are a deterministic function of (source, target prefix): a mock that checks the
 * session contract (reorders within a source, tokens in the vocabulary, capacity), and the integer
 * program of a random small Marian on the CPU (IntTranslatorCpu). Greedy: the pad ban, eos, the
 * forced eos at the limit, batches whose sources finish at different steps, and the tokens of
 * greedyTranslateIntCpu. Beam search: hand-computed cases, a literal transcription of transformers
 * 4.46's _beam_search / BeamSearchScorer / BeamHypotheses run on the same rows (every option, both
 * kinds of rows, batches), one beam == greedy, determinism of the integer path, integer == float
 * on well-separated rows, and refusals.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrateMarianCpu, type MarianPair } from '../src/calibrate/calibrate-marian.js';
import { marianBatches } from '../src/core/token-batch.js';
import type { MarianConfig } from '../src/core/types.js';
import { greedyTranslateIntCpu, IntTranslatorCpu } from '../src/cpu/int-program.js';
import { BeamHypotheses, beamTopK, logSoftmaxF64, rankCandidates, ScoreOrder } from '../src/generate/beam-search.js';
import type { TokenCandidates } from '../src/generate/decoder-session.js';
import {
  beamSearchTokens,
  checkTranslateOptions,
  type TranslateOptions,
  type TranslateRules,
  translateTokens,
} from '../src/generate/translate.js';
import type { NextTokenRequest, NextTokens, TranslatorSession } from '../src/generate/translator-session.js';
import { loadMarianModel } from '../src/model/load.js';
import { marianGraph } from '../src/model/marian.js';
import type { IntProgram } from '../src/plan/int-program.js';
import { planGraph } from '../src/plan/plan-graph.js';
import { deriveLogSoftmaxI32Constants, logSoftmaxI32 } from '../src/reference/log-softmax-i32.js';
import { rescaleLogit } from '../src/reference/topk-i32.js';
import { Random } from '../src/util/random.js';
import { EOS, V as MARIAN_V, PAD, randomMarianFiles } from './cases/random-marian.js';

/** Logit rows as a function of the source index and the target prefix (decoder start first). */
type RowFn = (source: number, prefix: readonly number[]) => Int32Array | Float32Array;

interface MockOptions {
  vocab: number;
  capacity: number;
  decoderStart: number;
  rows: RowFn;
  /** Natural-log units per unit of an Int32Array row (float rows: 1). */
  scale?: number;
  /** Answer 'logits' whatever is asked. */
  alwaysLogits?: boolean;
  /** Called at every step() (to abort mid-way, or change the scale). */
  onStep?: (session: MockSession) => void;
}

/** A TranslatorSession that keeps each sequence's prefix and asks `rows` for its logits. */
class MockSession implements TranslatorSession {
  readonly vocab: number;
  readonly capacity: number;
  scale: number;
  private srcs: (readonly number[])[] = [];
  private nb = 1;
  prefixes: number[][] = [];
  /** Of the last translation: the tokens of each step() and the parents of each reorder(). */
  fed: number[][] = [];
  reorders: number[][] = [];
  starts = 0;

  constructor(private readonly o: MockOptions) {
    this.vocab = o.vocab;
    this.capacity = o.capacity;
    this.scale = o.scale ?? 1;
  }

  get sources() {
    return this.srcs.length;
  }
  get beams() {
    return this.nb;
  }
  get length() {
    return this.prefixes[0]?.length ?? 0;
  }

  async start(sources: readonly (readonly number[])[], beams: number, want: NextTokenRequest): Promise<NextTokens> {
    this.starts++;
    this.fed = [];
    this.reorders = [];
    this.srcs = sources.map((s) => [...s]);
    this.nb = beams;
    this.prefixes = Array.from({ length: sources.length * beams }, () => [this.o.decoderStart]);
    return this.answer(want);
  }

  async step(tokens: readonly number[], want: NextTokenRequest): Promise<NextTokens> {
    if (tokens.length !== this.prefixes.length)
      throw new Error(`mock: ${tokens.length} tokens for ${this.prefixes.length}`);
    if (this.length + 1 > this.capacity) throw new Error('mock: capacity exceeded');
    tokens.forEach((t) => {
      if (!Number.isInteger(t) || t < 0 || t >= this.vocab) throw new Error(`mock: token ${t}`);
    });
    this.fed.push([...tokens]);
    tokens.forEach((t, i) => this.prefixes[i].push(t));
    this.o.onStep?.(this);
    return this.answer(want);
  }

  reorder(parents: readonly number[]): void {
    if (parents.length !== this.prefixes.length) throw new Error('mock: parents length');
    parents.forEach((p, i) => {
      if (Math.floor(p / this.nb) !== Math.floor(i / this.nb))
        throw new Error(`mock: parent ${p} of ${i} crosses sources`);
    });
    this.reorders.push([...parents]);
    this.prefixes = parents.map((p) => [...this.prefixes[p]]);
  }

  dispose(): void {}

  private row(i: number): Int32Array | Float32Array {
    return this.o.rows(Math.floor(i / this.nb), this.prefixes[i]);
  }

  private answer(want: NextTokenRequest): NextTokens {
    const n = this.prefixes.length;
    const V = this.vocab;
    if (want === 'logits' || this.o.alwaysLogits) {
      const first = this.row(0);
      const logits = first instanceof Int32Array ? new Int32Array(n * V) : new Float32Array(n * V);
      for (let i = 0; i < n; i++) logits.set(i === 0 ? first : this.row(i), i * V);
      return { kind: 'logits', logits, scale: first instanceof Int32Array ? this.scale : 1 };
    }
    const candidates: TokenCandidates[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.row(i);
      const order = Array.from({ length: V }, (_, c) => c).sort((a, b) => r[b] - r[a] || a - b);
      const ids = Int32Array.from(order.slice(0, want));
      const unit = r instanceof Int32Array ? this.scale : 1;
      const logits = Float32Array.from(ids, (c) => r[c] * unit);
      candidates.push({ ids, logits, restBelow: want >= V ? -Infinity : logits[logits.length - 1] });
    }
    return { kind: 'candidates', candidates };
  }
}

function hash(values: readonly number[]): number {
  let h = 2166136261;
  for (const v of values) h = Math.imul(h ^ (v + 0x9e3779b9), 16777619) >>> 0;
  return h;
}

/**
 * Random rows of a prefix: integers at scale s (or float32 nats), eos pushed up with the prefix's
 * length so that hypotheses finish at various steps.
 */
function randomRows(vocab: number, eos: number, kind: 'int' | 'float', s = 1e-2, seed = 0, spread = 3): RowFn {
  return (source, prefix) => {
    const rng = new Random(hash([seed, source, ...prefix]));
    const nats = Array.from({ length: vocab }, () => rng.normal(spread));
    nats[eos] += 0.7 * (prefix.length - 1) - 1;
    return kind === 'int' ? Int32Array.from(nats, (x) => Math.round(x / s)) : Float32Array.from(nats);
  };
}

/** Rows from a table of probabilities per prefix (natural log of each; 0 => -Infinity). */
function tableRows(
  vocab: number,
  table: Record<string, Record<number, number>>,
  fallback: Record<number, number>,
): RowFn {
  return (_source, prefix) => {
    const p = table[prefix.slice(1).join(',')] ?? fallback;
    return Float32Array.from({ length: vocab }, (_, c) => Math.log(p[c] ?? 0));
  };
}

const RULES: TranslateRules = { decoderStartTokenId: 5, eosTokenId: 0, padTokenId: 5 };

// ---------------------------------------------------------------------------------------------
// A literal transcription of transformers 4.46 (generation/utils.py _beam_search,
// generation/beam_search.py BeamSearchScorer.process / finalize, BeamHypotheses.add / is_done) for
// one source, on rows of a RowFn. Log-probabilities: the integer log-softmax for integer rows,
// float64 for float rows; NoBadWords sets the pad to -inf and ForcedEOS forces the last token
// after log_softmax, as the logits processors do. torch.topk's tie order is unspecified: ties go
// to the lower beam, then the lower token.
// ---------------------------------------------------------------------------------------------
interface HfOptions {
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  maxNewTokens: number;
}

function hfBeamSearch(rows: RowFn, source: number, rules: TranslateRules, o: HfOptions, vocab: number, scale: number) {
  const n = o.numBeams;
  const maxLength = o.maxNewTokens + 1;
  const decoderPromptLen = 1;
  const logSoftmax = (r: Int32Array | Float32Array): number[] =>
    Array.from(r instanceof Int32Array ? logSoftmaxI32(r, deriveLogSoftmaxI32Constants(scale)) : logSoftmaxF64(r));
  const first = rows(source, [rules.decoderStartTokenId]);
  const unit = first instanceof Int32Array ? scale : 1;

  // BeamHypotheses
  const beams: { score: number; hyp: number[] }[] = [];
  let worstScore = 1e9;
  const add = (hyp: number[], sumLogprobs: number, generatedLen: number) => {
    const score = sumLogprobs / generatedLen ** o.lengthPenalty;
    if (beams.length < n || score > worstScore) {
      beams.push({ score, hyp });
      if (beams.length > n) {
        const sorted = beams.map((b, idx) => [b.score, idx]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        beams.splice(sorted[0][1], 1);
        worstScore = sorted[1][0];
      } else worstScore = Math.min(score, worstScore);
    }
  };
  const isDone = (bestSumLogprobs: number, curLen: number) => {
    if (beams.length < n) return false;
    if (o.earlyStopping === true) return true;
    if (o.earlyStopping === false)
      return worstScore >= bestSumLogprobs / (curLen - decoderPromptLen) ** o.lengthPenalty;
    const len = o.lengthPenalty > 0 ? maxLength - decoderPromptLen : curLen - decoderPromptLen;
    return worstScore >= bestSumLogprobs / len ** o.lengthPenalty;
  };

  let inputIds: number[][] = Array.from({ length: n }, () => [rules.decoderStartTokenId]);
  let beamScores = Array.from({ length: n }, (_, b) => (b === 0 ? 0 : -1e9 / unit));
  let done = false;
  let curLen = 1;
  for (;;) {
    const scores: { score: number; beam: number; token: number }[] = [];
    for (let b = 0; b < n; b++) {
      let lp = logSoftmax(rows(source, inputIds[b]));
      lp[rules.padTokenId] = -Infinity;
      if (rules.forcedEosTokenId !== undefined && curLen === maxLength - 1) {
        lp = lp.map(() => -Infinity);
        lp[rules.forcedEosTokenId] = 0;
      }
      for (let v = 0; v < vocab; v++) scores.push({ score: beamScores[b] + lp[v], beam: b, token: v });
    }
    scores.sort((x, y) => y.score - x.score || x.beam - y.beam || x.token - y.token);
    const top = scores.slice(0, 2 * n);
    // process()
    const cur = inputIds[0].length + 1;
    const nextScores: number[] = [];
    const nextTokens: number[] = [];
    const nextIndices: number[] = [];
    for (let rank = 0; rank < top.length; rank++) {
      const c = top[rank];
      if (c.token === rules.eosTokenId) {
        if (rank >= n) continue;
        add(inputIds[c.beam].slice(), c.score, cur - decoderPromptLen);
      } else {
        nextScores.push(c.score);
        nextTokens.push(c.token);
        nextIndices.push(c.beam);
      }
      if (nextScores.length === n) break;
    }
    if (nextScores.length < n) throw new Error('hf: beams not filled');
    done = done || isDone(top[0].score, cur);
    inputIds = nextIndices.map((b, j) => [...inputIds[b], nextTokens[j]]);
    beamScores = nextScores;
    curLen++;
    if (done || curLen >= maxLength) break;
  }
  // finalize()
  if (!done) for (let b = 0; b < n; b++) add(inputIds[b], beamScores[b], inputIds[b].length - decoderPromptLen);
  let best = 0;
  for (let i = 1; i < beams.length; i++) if (beams[i].score >= beams[best].score) best = i;
  const hyp = beams[best].hyp;
  const tokens = hyp.slice(1);
  if (hyp.length < maxLength) tokens.push(rules.eosTokenId);
  return { tokens, score: beams[best].score * unit };
}

/** greedyTranslateIntCpu's loop on a RowFn: argmax (ties low id), pad banned, forced eos last. */
function referenceGreedy(rows: RowFn, source: number, rules: TranslateRules, maxNewTokens: number): number[] {
  const out: number[] = [];
  for (let step = 0; step < maxNewTokens; step++) {
    const r = rows(source, [rules.decoderStartTokenId, ...out]);
    let next: number;
    if (step === maxNewTokens - 1 && rules.forcedEosTokenId !== undefined) next = rules.forcedEosTokenId;
    else {
      next = -1;
      for (let v = 0; v < r.length; v++) if (v !== rules.padTokenId && (next < 0 || r[v] > r[next])) next = v;
    }
    out.push(next);
    if (next === rules.eosTokenId) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('checkTranslateOptions', () => {
  it('fills the defaults', () => {
    expect(checkTranslateOptions()).toEqual({
      numBeams: 1,
      lengthPenalty: 1,
      earlyStopping: false,
      maxNewTokens: undefined,
      signal: undefined,
      onToken: undefined,
    });
    expect(checkTranslateOptions({ numBeams: 4, earlyStopping: 'never', lengthPenalty: -0.5 })).toMatchObject({
      numBeams: 4,
      earlyStopping: 'never',
      lengthPenalty: -0.5,
    });
  });
  it('refuses bad values by name', () => {
    const bad: [TranslateOptions, RegExp][] = [
      [{ numBeams: 0 }, /numBeams = 0 must be an integer in \[1, 64\]/],
      [{ numBeams: 65 }, /numBeams = 65/],
      [{ numBeams: 2.5 }, /numBeams = 2.5/],
      [{ numBeams: '2' as unknown as number }, /numBeams = "2" must be a number/],
      [{ lengthPenalty: Infinity }, /lengthPenalty = Infinity must be a finite number/],
      [{ lengthPenalty: Number.NaN }, /lengthPenalty = NaN must be a number/],
      [{ earlyStopping: 'yes' as unknown as boolean }, /earlyStopping = "yes" must be true, false or "never"/],
      [{ maxNewTokens: 0 }, /maxNewTokens = 0 must be an integer >= 1/],
      [{ maxNewTokens: 1.5 }, /maxNewTokens = 1.5/],
      [{ onToken: 3 as unknown as () => void }, /onToken = 3 must be a function/],
      [{ numBeams: 2, onToken: () => {} }, /onToken streams greedy decoding only; with numBeams = 2/],
      [{ signal: {} as AbortSignal }, /signal = an object must be an AbortSignal/],
      [{ beams: 2 } as unknown as TranslateOptions, /unknown option "beams"/],
    ];
    for (const [o, re] of bad) expect(() => checkTranslateOptions(o), JSON.stringify(o)).toThrow(re);
    expect(() => checkTranslateOptions(null as unknown as TranslateOptions)).toThrow(TypeError);
    expect(() => checkTranslateOptions({ numBeams: 0 })).toThrow(RangeError);
  });
});

describe('translateTokens refuses bad calls before running anything', () => {
  const session = () => new MockSession({ vocab: 6, capacity: 8, decoderStart: 5, rows: randomRows(6, 0, 'float') });
  it('rules, sources and capacity', () => {
    const s = session();
    expect(() => translateTokens(s, [[1, 0]], { ...RULES, eosTokenId: 6 })).toThrow(
      /eosTokenId = 6 is outside the vocabulary of 6/,
    );
    expect(() => translateTokens(s, [[1, 0]], { ...RULES, forcedEosTokenId: -1 })).toThrow(/forcedEosTokenId = -1/);
    expect(() => translateTokens(s, [[1, 0]], { ...RULES, padTokenId: undefined as unknown as number })).toThrow(
      /padTokenId = undefined/,
    );
    expect(() => translateTokens(s, [], RULES)).toThrow(/no sources/);
    expect(() => translateTokens(s, [[1], []], RULES)).toThrow(/source 1 has no tokens/);
    expect(() => translateTokens(s, [[1, 9]], RULES)).toThrow(/source 0 token 1 = 9 is outside the vocabulary of 6/);
    expect(() => translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 9 })).toThrow(
      /maxNewTokens = 9 needs 9 target positions .* the session holds 8/,
    );
    // 6 tokens, pad and eos aside: 4 beams at most.
    expect(() => translateTokens(s, [[1, 0]], RULES, { numBeams: 5 })).toThrow(/numBeams = 5 needs as many tokens/);
    expect(s.starts).toBe(0);
  });
});

describe('greedy translation', () => {
  it('never generates the pad (the second candidate stands in), even when the pad leads every row', async () => {
    const rows: RowFn = (source, prefix) => {
      const r = randomRows(6, 0, 'float')(source, prefix) as Float32Array;
      r[5] = 100;
      return r;
    };
    const s = new MockSession({ vocab: 6, capacity: 12, decoderStart: 5, rows });
    const [out] = await translateTokens(s, [[1, 2, 0]], RULES, { maxNewTokens: 12 });
    expect(out.tokens).not.toContain(5);
    expect(out.tokens).toEqual(referenceGreedy(rows, 0, RULES, 12));
  });

  it('stops at eos (kept as the last token) and streams every token; the same when the session answers whole rows', async () => {
    const rows = tableRows(
      6,
      { '': { 2: 0.6, 0: 0.1, 3: 0.3 }, '2': { 3: 0.7, 0: 0.3 }, '2,3': { 0: 0.9, 1: 0.1 } },
      { 1: 1 },
    );
    for (const alwaysLogits of [false, true]) {
      const s = new MockSession({ vocab: 6, capacity: 10, decoderStart: 5, rows, alwaysLogits });
      const events: [number, number][] = [];
      const [out] = await translateTokens(s, [[4, 0]], RULES, {
        maxNewTokens: 10,
        onToken: (e) => events.push([e.source, e.token]),
      });
      expect(out).toEqual({ tokens: [2, 3, 0], finishReason: 'eos' });
      expect(events).toEqual([
        [0, 2],
        [0, 3],
        [0, 0],
      ]);
      // start + 2 steps: the eos is never fed back.
      expect(s.fed).toEqual([[2], [3]]);
    }
  });

  it('forces forcedEosTokenId as the last token at maxNewTokens (finishReason length); without it the limit just cuts', async () => {
    const rows = tableRows(6, {}, { 1: 0.5, 2: 0.3, 0: 0.2 });
    const s = new MockSession({ vocab: 6, capacity: 4, decoderStart: 5, rows });
    const forced = await translateTokens(s, [[1, 0]], { ...RULES, forcedEosTokenId: 0 }, { maxNewTokens: 4 });
    expect(forced).toEqual([{ tokens: [1, 1, 1, 0], finishReason: 'length' }]);
    expect(s.fed).toHaveLength(3);
    const cut = await translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 4 });
    expect(cut).toEqual([{ tokens: [1, 1, 1, 1], finishReason: 'length' }]);
    // A forced token other than eos, and a single token.
    expect(await translateTokens(s, [[1, 0]], { ...RULES, forcedEosTokenId: 3 }, { maxNewTokens: 1 })).toEqual([
      { tokens: [3], finishReason: 'length' },
    ]);
    // maxNewTokens defaults to the capacity.
    expect((await translateTokens(s, [[1, 0]], RULES))[0].tokens).toHaveLength(4);
  });

  it('batches sources that finish at different steps: each as alone, finished ones fed the pad and silent', async () => {
    const rows = randomRows(9, 0, 'int', 1e-2, 7);
    const rules = { decoderStartTokenId: 8, eosTokenId: 0, padTokenId: 8, forcedEosTokenId: 0 };
    const sources = [
      [1, 0],
      [2, 3, 0],
      [4, 0],
      [5, 6, 7, 0],
      [3, 0],
    ];
    const s = new MockSession({ vocab: 9, capacity: 9, decoderStart: 8, rows, scale: 1e-2 });
    const events: { source: number; token: number }[] = [];
    const outs = await translateTokens(s, sources, rules, { maxNewTokens: 9, onToken: (e) => events.push(e) });
    const lengths = new Set(outs.map((o) => o.tokens.length));
    expect(lengths.size).toBeGreaterThan(2);
    outs.forEach((o, i) => {
      expect(o.tokens).toEqual(referenceGreedy(rows, i, rules, 9));
      expect(events.filter((e) => e.source === i).map((e) => e.token)).toEqual(o.tokens);
      // After its last token, the sequence is fed the pad.
      for (let step = o.tokens.length - 1; step < s.fed.length; step++) expect(s.fed[step][i]).toBe(8);
    });
    for (const [i, src] of sources.entries()) {
      const alone = new MockSession({
        vocab: 9,
        capacity: 9,
        decoderStart: 8,
        rows: (_, p) => rows(i, p),
        scale: 1e-2,
      });
      expect((await translateTokens(alone, [src], rules, { maxNewTokens: 9 }))[0]).toEqual(outs[i]);
    }
    // Events come per step, sources in order.
    expect(events.slice(0, sources.length).map((e) => e.source)).toEqual([0, 1, 2, 3, 4]);
  });

  it("equals greedyTranslateIntCpu's rule on many random integer rows", async () => {
    for (let seed = 0; seed < 40; seed++) {
      const rows = randomRows(7, 0, 'int', 1e-3, seed, 1);
      const rules = {
        decoderStartTokenId: 6,
        eosTokenId: 0,
        padTokenId: 6,
        forcedEosTokenId: seed % 2 ? 0 : undefined,
      };
      const s = new MockSession({ vocab: 7, capacity: 6, decoderStart: 6, rows, scale: 1e-3 });
      const outs = await translateTokens(
        s,
        [
          [1, 0],
          [2, 0],
        ],
        rules,
        { maxNewTokens: 6 },
      );
      outs.forEach((o, i) => expect(o.tokens).toEqual(referenceGreedy(rows, i, rules, 6)));
    }
  });

  it("rejects with the signal's reason before the start and between steps", async () => {
    const rows = randomRows(6, 0, 'float', 1, 3, 0.1);
    const pre = new AbortController();
    pre.abort(new Error('stop now'));
    const s = new MockSession({ vocab: 6, capacity: 8, decoderStart: 5, rows });
    await expect(translateTokens(s, [[1, 0]], RULES, { signal: pre.signal })).rejects.toThrow('stop now');
    expect(s.starts).toBe(0);
    const mid = new AbortController();
    const calls: number[] = [];
    const p = translateTokens(s, [[1, 0]], RULES, {
      maxNewTokens: 8,
      signal: mid.signal,
      onToken: (e) => {
        calls.push(e.token);
        if (calls.length === 2) mid.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toHaveLength(2);
    expect(s.fed).toHaveLength(1);
  });

  it('refuses a session answering the wrong number of rows', async () => {
    const s = new MockSession({ vocab: 6, capacity: 8, decoderStart: 5, rows: randomRows(6, 0, 'float') });
    s.start = async () => ({ kind: 'candidates', candidates: [] });
    await expect(translateTokens(s, [[1, 0]], RULES)).rejects.toThrow(/returned 0 candidate lists for 1 sequences/);
  });
});

describe('beam search pieces', () => {
  it('ScoreOrder compares integer sums exactly for integer penalties, in float64 otherwise', () => {
    // -p1 / 3^2 and -p2 / 5^2 with 25 p1 - 9 p2 = 1: 1/225 apart, one float64 value near 3e14.
    const a = { sum: -2700000000000004, len: 3 };
    const b = { sum: -7500000000000011, len: 5 };
    expect(a.sum / a.len ** 2).toBe(b.sum / b.len ** 2);
    expect(new ScoreOrder(2, false).compare(a, b)).toBe(0);
    expect(new ScoreOrder(2, true).compare(a, b)).toBe(-1);
    expect(new ScoreOrder(2, true).compare(b, a)).toBe(1);
    expect(new ScoreOrder(1, true).compare({ sum: -6, len: 3 }, { sum: -4, len: 2 })).toBe(0);
    expect(new ScoreOrder(2, true).compare({ sum: -8, len: 2 }, { sum: -18, len: 3 })).toBe(0);
    expect(new ScoreOrder(-1, true).compare({ sum: -3, len: 2 }, { sum: -2, len: 3 })).toBe(0);
    expect(new ScoreOrder(0, true).compare({ sum: -3, len: 2 }, { sum: -2, len: 9 })).toBe(-1);
    expect(new ScoreOrder(0.5, true).compare({ sum: -4, len: 4 }, { sum: -3, len: 2 })).toBe(1);
  });

  it('BeamHypotheses keeps the numBeams best (the earliest of equal worsts leaves), best() takes the latest of equal bests', () => {
    const h = new BeamHypotheses(2, new ScoreOrder(1, true), false, 10);
    const hyp = (id: number, sum: number, len: number) => ({
      tokens: [id],
      score: { sum, len },
      eos: true,
      forced: false,
    });
    h.add(hyp(1, -6, 3)); // -2
    h.add(hyp(2, -4, 2)); // -2
    expect(h.kept.map((x) => x.tokens[0])).toEqual([1, 2]);
    h.add(hyp(3, -4, 2)); // -2: not better than the worst, refused
    expect(h.kept.map((x) => x.tokens[0])).toEqual([1, 2]);
    expect(h.best().tokens).toEqual([2]);
    h.add(hyp(4, -3, 3)); // -1 enters, the earliest -2 (1) leaves
    expect(h.kept.map((x) => x.tokens[0])).toEqual([2, 4]);
    expect(h.best().tokens).toEqual([4]);
    // is_done (false): worst -2 >= best sum / len ?
    expect(h.isDone(-8, 4)).toBe(true);
    expect(h.isDone(-7, 4)).toBe(false);
    expect(new BeamHypotheses(3, new ScoreOrder(1, true), true, 10).isDone(0, 1)).toBe(false);
    const never = new BeamHypotheses(1, new ScoreOrder(1, true), 'never', 10);
    never.add(hyp(5, -10, 5)); // -2
    expect(never.isDone(-20, 2)).toBe(true); // -20 / 10 = -2
    expect(never.isDone(-19, 12)).toBe(false);
  });

  it('ranks (sum desc, beam, token) over the top 2 numBeams of each beam, pad excluded', () => {
    const lp = [-1, -0.5, -0.5, -3, -0.1];
    expect(beamTopK(0, 0, lp, 4, 3).map((c) => c.token)).toEqual([1, 2, 0]);
    const ranked = rankCandidates(
      [
        { beam: 0, sum: -1, logProbs: lp },
        { beam: 1, sum: -0.5, logProbs: lp },
      ],
      4,
      4,
    );
    // beam 1: -1, -1, -1.5 (token 0); beam 0: -1.5 (token 1): the lower beam first among equals.
    expect(ranked.map((c) => [c.beam, c.token])).toEqual([
      [1, 1],
      [1, 2],
      [0, 1],
      [0, 2],
    ]);
    expect(beamTopK(0, 0, [-Infinity, -Infinity, -1], 9, 2).map((c) => c.token)).toEqual([2, 0]);
  });
});

describe('beam search', () => {
  // A prefix where greedy goes wrong: 1 (0.5) leads, but 2 (0.4) then eos (0.9) is the best sentence.
  const trap = tableRows(
    6,
    {
      '': { 1: 0.5, 2: 0.4, 3: 0.09, 0: 0.01 },
      '1': { 3: 0.4, 0: 0.3, 1: 0.2, 2: 0.1 },
      '2': { 0: 0.9, 1: 0.1 / 3, 2: 0.1 / 3, 3: 0.1 / 3 },
      '1,3': { 0: 0.9, 1: 0.1 },
    },
    { 0: 0.25, 1: 0.25, 2: 0.25, 3: 0.25 },
  );

  it('finds the better sentence greedy misses (hand-computed), with its normalised score', async () => {
    const s = new MockSession({ vocab: 6, capacity: 4, decoderStart: 5, rows: trap });
    expect((await translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 4 }))[0].tokens).toEqual([1, 3, 0]);
    for (const earlyStopping of [false, true, 'never'] as const) {
      const [out] = await translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 4, numBeams: 2, earlyStopping });
      expect(out.tokens).toEqual([2, 0]);
      expect(out.finishReason).toBe('eos');
      expect(out.score).toBeCloseTo((Math.log(0.4) + Math.log(0.9)) / 2, 6);
    }
  });

  it('early stopping true stops at numBeams finished hypotheses; false goes on and finds a better one (hand-computed)', async () => {
    const rows = tableRows(
      6,
      { '': { 1: 0.6, 0: 0.3, 2: 0.1 }, '1': { 0: 0.5, 3: 0.5 }, '2': { 0: 1 }, '1,3': { 0: 1 } },
      { 0: 1 },
    );
    const s = new MockSession({ vocab: 6, capacity: 5, decoderStart: 5, rows });
    // Step 1: [eos] -1.20 finishes (rank 1 < 2 beams). Step 2: [1, eos] -1.20 / 2 finishes: 2 kept.
    const early = (await translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 5, numBeams: 2, earlyStopping: true }))[0];
    expect(early.tokens).toEqual([1, 0]);
    expect(early.score).toBeCloseTo(Math.log(0.3) / 2, 6);
    expect(s.fed).toHaveLength(1);
    // false: the worst kept (-1.20) is below the step's best sum / 2 (-0.60): go on; [1, 3, eos] scores -0.40.
    for (const earlyStopping of [false, 'never'] as const) {
      const late = (await translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 5, numBeams: 2, earlyStopping }))[0];
      expect(late.tokens).toEqual([1, 3, 0]);
      expect(late.score).toBeCloseTo(Math.log(0.3) / 3, 6);
    }
  });

  it('drops an eos ranked below numBeams, as transformers does', async () => {
    // eos is the 3rd candidate of the first step with 2 beams: never a hypothesis, though [eos] alone
    // would score -1.05 against the -2.3 / 2 of what follows.
    const rows = tableRows(6, { '': { 1: 0.4, 2: 0.3, 0: 0.3 } }, { 3: 0.1, 4: 0.9 });
    const s = new MockSession({ vocab: 6, capacity: 2, decoderStart: 5, rows });
    const [out] = await translateTokens(s, [[1, 0]], RULES, { maxNewTokens: 2, numBeams: 2 });
    expect(out.tokens).toEqual([1, 4]);
    expect(out.finishReason).toBe('length');
  });

  it('the length penalty decides between a short and a long sentence (hand-computed)', async () => {
    // Two beams, early stopping: [1, eos] finishes at step 2 with sum -1, [2, 3, eos] at step 3 with
    // sum -2, and the search stops. Scores -1 / 2^p against -2 / 3^p.
    const w = Math.exp(-2) / (0.4 * 0.6);
    const rows = tableRows(
      7,
      {
        '': { 1: 0.6, 2: 0.4 },
        '1': { 0: Math.exp(-1) / 0.6, 3: 1 - Math.exp(-1) / 0.6 },
        '2': { 3: 0.6, 4: 0.4 },
        '2,3': { 0: w, 4: 1 - w },
        '1,3': { 0: 0.01, 4: 0.99 },
      },
      { 4: 1 },
    );
    const s = new MockSession({ vocab: 7, capacity: 5, decoderStart: 6, rows });
    const rules = { decoderStartTokenId: 6, eosTokenId: 0, padTokenId: 6 };
    const run = async (lengthPenalty: number) =>
      (
        await translateTokens(s, [[1, 0]], rules, { maxNewTokens: 5, numBeams: 2, lengthPenalty, earlyStopping: true })
      )[0];
    for (const [p, tokens, score] of [
      [0, [1, 0], -1],
      [1, [1, 0], -0.5],
      [2, [2, 3, 0], -2 / 9],
    ] as const) {
      const out = await run(p);
      expect(out.tokens, `lengthPenalty ${p}`).toEqual(tokens);
      expect(out.score).toBeCloseTo(score, 6);
      expect(s.fed).toHaveLength(2);
    }
  });

  it('forces the last token at maxNewTokens: eos hypotheses of full length (finishReason length), or a forced non-eos token', async () => {
    const rows = randomRows(6, 0, 'int', 1e-2, 11, 0.5);
    const withEos = { ...RULES, forcedEosTokenId: 0 };
    const s = new MockSession({ vocab: 6, capacity: 3, decoderStart: 5, rows, scale: 1e-2 });
    for (const [rules, numBeams] of [
      [withEos, 2],
      [{ ...RULES, forcedEosTokenId: 3 }, 3],
    ] as const) {
      const [out] = await translateTokens(s, [[1, 0]], rules, { maxNewTokens: 3, numBeams });
      const ref = hfBeamSearch(
        rows,
        0,
        rules,
        { numBeams, lengthPenalty: 1, earlyStopping: false, maxNewTokens: 3 },
        6,
        1e-2,
      );
      expect(out.tokens).toEqual(ref.tokens);
      expect(out.score).toBeCloseTo(ref.score, 9);
      if (out.tokens.length === 3) {
        expect(out.finishReason).toBe('length');
        expect(out.tokens[2]).toBe(rules.forcedEosTokenId);
      }
    }
  });

  it('equals the transcription of transformers 4.46 over random rows, every option, integer and float, batched', async () => {
    let cases = 0;
    let finishedEarly = 0;
    for (let seed = 0; seed < 96; seed++) {
      const rng = new Random(1000 + seed);
      const vocab = rng.int(5, 11);
      const kind = seed % 2 ? 'int' : 'float';
      const scale = [1e-2, 3e-3, 0.05][seed % 3];
      const numBeams = rng.int(2, Math.min(6, vocab - 2));
      const lengthPenalty = [1, 0.6, 2, 0, -1, 1.3][seed % 6];
      const earlyStopping = ([false, true, 'never'] as const)[Math.floor(seed / 6) % 3];
      const maxNewTokens = rng.int(1, 7);
      const forced = ([undefined, 0, 2] as const)[Math.floor(seed / 18) % 3];
      const rules = { decoderStartTokenId: vocab - 1, eosTokenId: 0, padTokenId: vocab - 1, forcedEosTokenId: forced };
      const rows = randomRows(vocab, 0, kind, scale, seed, rng.int(1, 4));
      const sources = Array.from({ length: rng.int(1, 3) }, (_, i) => [i + 1, 0]);
      const s = new MockSession({ vocab, capacity: maxNewTokens, decoderStart: vocab - 1, rows, scale });
      const options = { numBeams, lengthPenalty, earlyStopping, maxNewTokens };
      const outs = await translateTokens(s, sources, rules, options);
      outs.forEach((o, i) => {
        const ref = hfBeamSearch(rows, i, rules, options, vocab, scale);
        const what = `seed ${seed} source ${i} ${JSON.stringify({ ...options, kind, forced })}`;
        expect(o.tokens, what).toEqual(ref.tokens);
        expect(o.score! - ref.score, what).toBeCloseTo(0, 9);
        const cut = forced !== undefined && o.tokens.length === maxNewTokens;
        expect(o.finishReason, what).toBe(o.tokens.at(-1) === 0 && !cut ? 'eos' : 'length');
        if (o.tokens.length < maxNewTokens) finishedEarly++;
        cases++;
      });
      // Reorders stay within sources (the mock refuses others), and each has a parent per sequence.
      for (const r of s.reorders) expect(r).toHaveLength(sources.length * numBeams);
    }
    expect(cases).toBeGreaterThan(150);
    expect(finishedEarly).toBeGreaterThan(20);
  });

  it('with one beam it is greedy decoding (early stopping true or false)', async () => {
    for (let seed = 0; seed < 30; seed++) {
      const rows = randomRows(8, 0, seed % 2 ? 'int' : 'float', 1e-2, seed);
      const rules = {
        decoderStartTokenId: 7,
        eosTokenId: 0,
        padTokenId: 7,
        forcedEosTokenId: seed % 3 ? 0 : undefined,
      };
      const s = new MockSession({ vocab: 8, capacity: 7, decoderStart: 7, rows, scale: 1e-2 });
      const sources = [
        [1, 0],
        [2, 0],
        [3, 0],
      ];
      const greedy = await translateTokens(s, sources, rules, { maxNewTokens: 7 });
      const beam = await beamSearchTokens(s, sources, rules, {
        maxNewTokens: 7,
        numBeams: 1,
        earlyStopping: seed % 2 === 0,
        lengthPenalty: [1, 0.5, 2][seed % 3],
      });
      expect(beam.map((b) => b.tokens)).toEqual(greedy.map((g) => g.tokens));
      expect(beam.map((b) => b.finishReason)).toEqual(greedy.map((g) => g.finishReason));
    }
  });

  it('reorders within sources only, feeds finished sources the pad, and never reorders them', async () => {
    const rows = randomRows(9, 0, 'int', 1e-2, 5);
    const rules = { decoderStartTokenId: 8, eosTokenId: 0, padTokenId: 8 };
    const s = new MockSession({ vocab: 9, capacity: 8, decoderStart: 8, rows, scale: 1e-2 });
    await translateTokens(
      s,
      [
        [1, 0],
        [2, 0],
        [3, 0],
      ],
      rules,
      { maxNewTokens: 8, numBeams: 3, earlyStopping: true },
    );
    expect(s.reorders.length).toBeGreaterThan(0);
    for (const parents of s.reorders) parents.forEach((p, i) => expect(Math.floor(p / 3)).toBe(Math.floor(i / 3)));
    // Once a source's beams are fed the pad, they stay unreordered and padded.
    for (let src = 0; src < 3; src++) {
      const firstPad = s.fed.findIndex((f) => f[src * 3] === 8);
      if (firstPad < 0) continue;
      for (let step = firstPad; step < s.fed.length; step++) {
        for (let b = 0; b < 3; b++) expect(s.fed[step][src * 3 + b]).toBe(8);
      }
    }
  });

  it('the integer path is exact and deterministic: identical integer rows give identical results', async () => {
    const run = async () => {
      const rows = randomRows(40, 0, 'int', 2e-3, 99, 2);
      const s = new MockSession({ vocab: 40, capacity: 10, decoderStart: 39, rows, scale: 2e-3 });
      return translateTokens(
        s,
        [
          [1, 0],
          [2, 0],
        ],
        { decoderStartTokenId: 39, eosTokenId: 0, padTokenId: 39 },
        {
          maxNewTokens: 10,
          numBeams: 4,
        },
      );
    };
    const a = await run();
    expect(await run()).toEqual(a);
    for (const r of a) expect(Number.isFinite(r.score)).toBe(true);
  });

  it('integer and float log-softmax choose the same beams on well-separated rows', async () => {
    // Logits whole multiples of 1/8 nat: exact at scale 2^-7 and in float32.
    const s7 = 2 ** -7;
    let compared = 0;
    for (let seed = 0; seed < 24; seed++) {
      const base = randomRows(12, 0, 'float', 1, seed, 2);
      const quantized = (source: number, prefix: readonly number[]) =>
        Float32Array.from(base(source, prefix), (x) => Math.round(x * 8) / 8);
      const intRows: RowFn = (source, prefix) => Int32Array.from(quantized(source, prefix), (x) => x / s7);
      const rules = { decoderStartTokenId: 11, eosTokenId: 0, padTokenId: 11, forcedEosTokenId: 0 };
      const options = { maxNewTokens: 6, numBeams: 3 };
      const f = await translateTokens(
        new MockSession({ vocab: 12, capacity: 6, decoderStart: 11, rows: quantized }),
        [[1, 0]],
        rules,
        options,
      );
      const i = await translateTokens(
        new MockSession({ vocab: 12, capacity: 6, decoderStart: 11, rows: intRows, scale: s7 }),
        [[1, 0]],
        rules,
        options,
      );
      expect(i[0].tokens).toEqual(f[0].tokens);
      // Scores differ by the integer log-softmax's rounding: at most (s/2 + 1e-7) per token.
      expect(Math.abs(i[0].score! - f[0].score!)).toBeLessThanOrEqual(s7 / 2 + 1e-6);
      compared++;
    }
    expect(compared).toBe(24);
  });

  it('refuses a session whose logit scale or kind changes between steps, or that answers candidates', async () => {
    const rows = randomRows(6, 0, 'int', 1e-2, 1);
    const s = new MockSession({
      vocab: 6,
      capacity: 6,
      decoderStart: 5,
      rows,
      scale: 1e-2,
      onStep: (m) => {
        m.scale = 2e-2;
      },
    });
    await expect(translateTokens(s, [[1, 0]], RULES, { numBeams: 2, maxNewTokens: 6 })).rejects.toThrow(
      /int logits at scale 0.02 after int logits at scale 0.01/,
    );
    const c = new MockSession({ vocab: 6, capacity: 6, decoderStart: 5, rows });
    c.start = async () => ({
      kind: 'candidates',
      candidates: [
        { ids: new Int32Array(1), logits: new Float32Array(1), restBelow: 0 },
        { ids: new Int32Array(1), logits: new Float32Array(1), restBelow: 0 },
      ],
    });
    await expect(translateTokens(c, [[1, 0]], RULES, { numBeams: 2 })).rejects.toThrow(
      /asked for 'logits' and got candidates/,
    );
  });

  it('aborts between steps', async () => {
    const controller = new AbortController();
    const rows = randomRows(6, 0, 'int', 1e-2, 2, 0.1);
    const s = new MockSession({
      vocab: 6,
      capacity: 8,
      decoderStart: 5,
      rows,
      scale: 1e-2,
      onStep: () => controller.abort(new RangeError('enough')),
    });
    await expect(
      translateTokens(s, [[1, 0]], RULES, { numBeams: 2, maxNewTokens: 8, signal: controller.signal }),
    ).rejects.toThrow('enough');
    expect(s.fed).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// The integer program of a random small Marian (test/cases/random-marian.ts) on the CPU.
// ---------------------------------------------------------------------------------------------

/**
 * A TranslatorSession over IntTranslatorCpu (encode / start / step), its logits rescaled onto the
 * program's common scale. Beam reorders are replayed: the next step re-encodes and feeds each
 * sequence its new prefix (the incremental cache is bit for bit the whole-prefix pass).
 */
class ReplaySession implements TranslatorSession {
  private translator: IntTranslatorCpu | undefined;
  private srcs: (readonly number[])[] = [];
  private nb = 1;
  private prefixes: number[][] = [];
  private stale = false;
  readonly vocab: number;

  constructor(
    private readonly program: IntProgram,
    private readonly config: MarianConfig,
    readonly capacity: number,
  ) {
    this.vocab = program.output.rescale!.requant.length;
  }
  get sources() {
    return this.srcs.length;
  }
  get beams() {
    return this.nb;
  }
  get length() {
    return this.prefixes[0]?.length ?? 0;
  }

  async start(sources: readonly (readonly number[])[], beams: number, want: NextTokenRequest): Promise<NextTokens> {
    this.srcs = sources.map((s) => [...s]);
    this.nb = beams;
    this.prefixes = Array.from({ length: sources.length * beams }, () => [this.config.decoderStartTokenId]);
    return this.answer(this.restart(), want);
  }

  async step(tokens: readonly number[], want: NextTokenRequest): Promise<NextTokens> {
    tokens.forEach((t, i) => this.prefixes[i].push(t));
    if (!this.stale) return this.answer(this.translator!.step(tokens), want);
    let logits = this.restart();
    for (let p = 1; p < this.length; p++) logits = this.translator!.step(this.prefixes.map((x) => x[p]));
    this.stale = false;
    return this.answer(logits, want);
  }

  reorder(parents: readonly number[]): void {
    this.prefixes = parents.map((p) => [...this.prefixes[p]]);
    this.stale = true;
  }

  dispose(): void {}

  private restart(): Int32Array {
    const perSequence = this.srcs.flatMap((s) => Array.from({ length: this.nb }, () => s));
    const { source } = marianBatches(
      this.config,
      perSequence,
      perSequence.map(() => [this.config.decoderStartTokenId]),
    );
    this.translator = new IntTranslatorCpu(this.program, perSequence.length, this.capacity);
    this.translator.encode(source);
    return this.translator.start(this.config.decoderStartTokenId);
  }

  private answer(acc: Int32Array, want: NextTokenRequest): NextTokens {
    const rescale = this.program.output.rescale!;
    const V = this.vocab;
    const logits = Int32Array.from(acc, (a, i) => rescaleLogit(a, rescale.requant[i % V]));
    if (want === 'logits') return { kind: 'logits', logits, scale: rescale.scale };
    const candidates: TokenCandidates[] = [];
    for (let r = 0; r < this.prefixes.length; r++) {
      const row = logits.subarray(r * V, (r + 1) * V);
      const ids = Int32Array.from(
        Array.from({ length: V }, (_, c) => c)
          .sort((a, b) => row[b] - row[a] || a - b)
          .slice(0, want),
      );
      const l = Float32Array.from(ids, (c) => row[c] * rescale.scale);
      candidates.push({ ids, logits: l, restBelow: l[l.length - 1] });
    }
    return { kind: 'candidates', candidates };
  }
}

describe('on the integer program of a random Marian (CPU, vocab 37)', () => {
  let program: IntProgram;
  let config: MarianConfig;
  const sources = [
    [5, 9, 14, 3, 22, 7, EOS],
    [17, 2, EOS],
    [8, 8, 21, 33, 4, EOS],
  ];

  beforeAll(async () => {
    const model = await loadMarianModel(randomMarianFiles(5));
    config = model.config;
    const graph = marianGraph(config);
    const rng = new Random(31);
    const words = (k: number) => Array.from({ length: k }, () => rng.int(1, MARIAN_V - 2));
    const pairs: MarianPair[] = Array.from({ length: 16 }, () => ({
      source: [...words(rng.int(2, 12)), EOS],
      target: [PAD, ...words(rng.int(2, 12))],
    }));
    const observer = calibrateMarianCpu(model, pairs, { batchSize: 4, graph });
    program = planGraph(graph, model.params, observer.ranges('max'), { maxKeys: config.maxPositions });
  });

  it('greedy equals greedyTranslateIntCpu token for token (one source at a time and batched)', async () => {
    const session = new ReplaySession(program, config, 12);
    const batched = await translateTokens(session, sources, config, { maxNewTokens: 12 });
    for (const [i, src] of sources.entries()) {
      const want = greedyTranslateIntCpu(program, config, src, { maxNewTokens: 12 });
      expect((await translateTokens(session, [src], config, { maxNewTokens: 12 }))[0].tokens).toEqual(want);
      expect(batched[i].tokens).toEqual(want);
      expect(want).not.toContain(PAD);
    }
  });

  it('beam search equals the transcription of transformers on the integer rows (4 beams, batched)', async () => {
    const session = new ReplaySession(program, config, 8);
    const scale = program.output.rescale!.scale;
    // The transcription's rows: each prefix run alone from the start, on a cache of one sequence.
    const cache = new Map<string, Int32Array>();
    const rowsSync: RowFn = (source, prefix) => {
      const key = `${source}:${prefix.join(',')}`;
      let r = cache.get(key);
      if (!r) {
        const t = new IntTranslatorCpu(program, 1, 8);
        t.encode(marianBatches(config, [sources[source]], [[config.decoderStartTokenId]]).source);
        let acc = t.start(config.decoderStartTokenId);
        for (let p = 1; p < prefix.length; p++) acc = t.step([prefix[p]]);
        const rescale = program.output.rescale!;
        r = Int32Array.from(acc, (a, c) => rescaleLogit(a, rescale.requant[c]));
        cache.set(key, r);
      }
      return r;
    };
    for (const earlyStopping of [false, true] as const) {
      const options = { numBeams: 4, maxNewTokens: 8, earlyStopping, lengthPenalty: 1 };
      const outs = await translateTokens(session, sources, config, options);
      outs.forEach((o, i) => {
        const ref = hfBeamSearch(rowsSync, i, config, options, MARIAN_V, scale);
        expect(o.tokens).toEqual(ref.tokens);
        expect(o.score! - ref.score).toBeCloseTo(0, 9);
        expect(o.tokens).not.toContain(PAD);
      });
    }
  });
});
