/**
 * The float translator sessions (TranslatorSession of src/generate/translator-session.ts):
 * FloatTranslatorGpu (float32 on the GPU) and its float64 CPU twin FloatTranslatorCpu (incremental:
 * FloatGraphIncremental, checked against the whole pass in test/float-incremental.test.ts).
 *
 * On a small random Marian written in memory (and on ../shared's multi30k-marian-en-de when
 * present): a greedy loop over the session (k = 2 candidates, pad banned, stop at eos, eos forced
 * at the limit) gives greedyTranslateCpu's float64 ids, a difference allowed only where the float64
 * logits of the two tokens are a near tie (within NEAR_TIE, which float32 rounding explains);
 * 'logits' rows equal runFloatGraphCpu's last-position rows within LOGIT_TOLERANCE; after
 * reorder() every sequence continues its parent's prefix; bad input is refused by name.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarianConfig, MarianModel } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { type FloatTranslatorBase, FloatTranslatorCpu, floatCandidates } from '../src/cpu/float-translator.js';
import type { NextTokens, TranslatorSession } from '../src/generate/translator-session.js';
import type { ModelGraph } from '../src/graph/types.js';
import { loadMarianModel } from '../src/model/load.js';
import { greedyTranslateCpu, loadMarianTokenizer, marianBatches, marianGraph } from '../src/model/marian.js';
import { folderSource } from '../src/model/sources-node.js';
import { FloatTranslatorGpu } from '../src/runtime/float-translator.js';
import { Random } from '../src/util/random.js';
import { maxAbs, maxAbsDiff } from './cases/float-compare.js';
import { EOS, PAD, randomMarianFiles as randomMarian, V } from './cases/random-marian.js';
import { testGpu } from './gpu.js';

// Both sessions are TranslatorSessions (checked by tsc; the classes restate the types structurally).
const _contract: (s: FloatTranslatorGpu | FloatTranslatorCpu) => TranslatorSession = (s) => s;
void _contract;

/**
 * GPU float32 vs float64 logits. Measured: random model ~1e-6, multi30k-marian-en-de ~1e-5 (the
 * bound marian-import.test.ts asserts against onnxruntime is 1e-4).
 */
const LOGIT_TOLERANCE = 1e-4;
/** Two tokens whose float64 logits differ by less may swap in float32: twice the logit tolerance. */
const NEAR_TIE = 2 * LOGIT_TOLERANCE;

// ---- a small random Marian ----------------------------------------------------------------------

/**
 * The random Marian of test/cases/random-marian.ts (encoder 2 layers x 2 heads of 8, decoder 3 x 4
 * of 4; vocab 37, 40 positions; seed 5 gives varied greedy lengths) with a wider embedding and the
 * eos and pad biases raised, so that some translations end early with eos and the banned pad is
 * often the best token (exercising both paths of the greedy loop); pad's bias moves no greedy choice.
 */
function randomMarianFiles(seed: number) {
  return randomMarian(seed, { embeddingStd: 1, logitsBiasStd: 0.1, logitsBiasAdd: { [EOS]: 3, [PAD]: 10 } });
}

// ---- helpers ------------------------------------------------------------------------------------

function candidatesOf(next: NextTokens) {
  if (next.kind !== 'candidates') throw new Error(`expected candidates, got ${next.kind}`);
  return next.candidates;
}

function logitsOf(next: NextTokens): Float32Array {
  if (next.kind !== 'logits' || !(next.logits instanceof Float32Array)) throw new Error('expected float logits');
  expect(next.scale).toBe(1);
  return next.logits;
}

/**
 * Greedy over a session as generate() would run it: 2 candidates per sequence (enough with one
 * token banned), the pad id banned, eos ends a sequence (finished ones are fed eos until all end),
 * the last of `maxNewTokens` forced to forced_eos_token_id.
 */
async function greedyOverSession(
  session: TranslatorSession,
  config: MarianConfig,
  sources: number[][],
  maxNewTokens: number,
): Promise<{ ids: number[][]; bans: number }> {
  const out: number[][] = sources.map(() => []);
  let bans = 0;
  const done = sources.map(() => false);
  let next = await session.start(sources, 1, 2);
  for (let t = 0; t < maxNewTokens; t++) {
    const candidates = candidatesOf(next);
    const chosen = candidates.map((c, i) => {
      if (done[i]) return config.eosTokenId;
      if (t === maxNewTokens - 1 && config.forcedEosTokenId !== undefined) return config.forcedEosTokenId;
      if (c.ids[0] === config.padTokenId) bans++;
      const pick = c.ids[0] === config.padTokenId ? c.ids[1] : c.ids[0];
      // The pad id is banned; with two candidates the second is then the best of the rest.
      expect(pick).not.toBe(config.padTokenId);
      return pick;
    });
    chosen.forEach((id, i) => {
      if (done[i]) return;
      out[i].push(id);
      if (id === config.eosTokenId) done[i] = true;
    });
    if (done.every(Boolean) || t === maxNewTokens - 1) break;
    next = await session.step(chosen, 2);
  }
  return { ids: out, bans };
}

/** The float64 last-position logits of each (source, prefix) pair. */
function cpuLastRows(model: MarianModel, graph: ModelGraph, sources: number[][], prefixes: number[][]): Float64Array[] {
  const { source, target } = marianBatches(model.config, sources, prefixes);
  const all = runFloatGraphCpu(graph, model.params, target, { source }).logits!;
  const vocab = model.config.vocabSize;
  return prefixes.map((p, b) => {
    const at = (b * target.seqLen + p.length - 1) * vocab;
    return Float64Array.from(all.subarray(at, at + vocab));
  });
}

/**
 * Session greedy ids vs float64 greedy ids: equal, or first different at a position where the
 * float64 logits of the two tokens are within NEAR_TIE. Returns a line describing any difference.
 */
function compareGreedy(
  model: MarianModel,
  graph: ModelGraph,
  source: number[],
  got: number[],
  want: number[],
  what: string,
): string | undefined {
  if (got.length === want.length && got.every((id, t) => id === want[t])) return undefined;
  let d = 0;
  while (d < got.length && d < want.length && got[d] === want[d]) d++;
  expect(d).toBeLessThan(Math.min(got.length, want.length));
  const prefix = [model.config.decoderStartTokenId, ...want.slice(0, d)];
  const [row] = cpuLastRows(model, graph, [source], [prefix]);
  const gap = Math.abs(row[want[d]] - row[got[d]]);
  const line = `${what}: differs at token ${d} (${got[d]} vs float64's ${want[d]}), float64 logit gap ${gap.toExponential(2)}`;
  expect(gap, line).toBeLessThan(NEAR_TIE);
  return line;
}

// ---- tests --------------------------------------------------------------------------------------

describe('floatCandidates', () => {
  const row = Float32Array.from([0.5, 2, -1, 2, 0.5, 3, Number.NEGATIVE_INFINITY]);
  it('orders by logit descending, ties to the lowest id; restBelow bounds the rest', () => {
    const c = floatCandidates(row, 3);
    expect(Array.from(c.ids)).toEqual([5, 1, 3]);
    expect(Array.from(c.logits)).toEqual([3, 2, 2]);
    expect(c.restBelow).toBe(2);
    const c4 = floatCandidates(row, 4);
    expect(Array.from(c4.ids)).toEqual([5, 1, 3, 0]);
    expect(c4.restBelow).toBe(0.5);
    const whole = floatCandidates(row, 100);
    expect(Array.from(whole.ids)).toEqual([5, 1, 3, 0, 4, 2, 6]);
    expect(whole.restBelow).toBe(Number.NEGATIVE_INFINITY);
  });

  it('the insertion path (small k) and the sorting path (large k) agree on a wide row with many ties', () => {
    const rng = new Random(3);
    const wide = Float32Array.from({ length: 500 }, () => rng.int(-20, 20) / 4);
    const sorted = floatCandidates(wide, 500);
    for (const k of [1, 2, 7, 32, 33, 100]) {
      const c = floatCandidates(wide, k);
      expect(Array.from(c.ids)).toEqual(Array.from(sorted.ids.subarray(0, k)));
      expect(c.restBelow).toBe(sorted.logits[k - 1]);
    }
  });

  it('refuses NaN, naming the token', () => {
    expect(() => floatCandidates(Float32Array.from([1, Number.NaN]), 1, 'row 3')).toThrow(
      /row 3: the logit of token 1 is NaN/,
    );
  });
});

describe('float translator sessions on a random Marian (d_model 16, 2 + 3 layers, vocab 37)', () => {
  let model: MarianModel;
  let graph: ModelGraph;
  const sessions: Record<'gpu' | 'cpu', FloatTranslatorBase> = {} as never;
  const report: string[] = [];
  const CAPACITY = 14;
  const SOURCES = [
    [5, 9, 14, 3, 22, 7, 11, EOS],
    [17, 2, EOS],
    [8, 8, 21, 33, 4, EOS],
    [30, 1, 1, 12, 6, 25, 19, 9, 10, 13, 27, 3, 2, 26, EOS],
  ];

  beforeAll(async () => {
    model = await loadMarianModel(randomMarianFiles(5));
    graph = marianGraph(model.config);
    sessions.gpu = await FloatTranslatorGpu.create(await testGpu(), model, graph, {
      capacity: CAPACITY,
      sequences: 8,
      sourceLength: 16,
    });
    sessions.cpu = new FloatTranslatorCpu(model, graph, CAPACITY);
  });
  afterAll(() => {
    sessions.gpu?.dispose();
    if (report.length) console.log(`float translator, random Marian:\n${report.join('\n')}`);
  });

  for (const kind of ['gpu', 'cpu'] as const) {
    it(`${kind}: greedy over the session (k = 2) gives greedyTranslateCpu's float64 ids`, async () => {
      const session = sessions[kind];
      const { ids: got, bans } = await greedyOverSession(session, model.config, SOURCES, CAPACITY);
      expect(bans).toBeGreaterThan(0);
      expect(session.sources).toBe(SOURCES.length);
      expect(session.beams).toBe(1);
      SOURCES.forEach((src, i) => {
        const want = greedyTranslateCpu(model, src, { maxNewTokens: CAPACITY, graph });
        const line = compareGreedy(model, graph, src, got[i], want, `${kind} source ${i}`);
        if (line) report.push(`  ${line}`);
        else report.push(`  ${kind} source ${i}: ${want.length} tokens equal`);
      });
      // A run reaches the limit with its eos forced, and one stops early: both paths taken.
      expect(got.some((ids) => ids.length === CAPACITY)).toBe(true);
      expect(got.some((ids) => ids.length < CAPACITY)).toBe(true);
    });

    it(`${kind}: 'logits' rows equal runFloatGraphCpu's last-position rows; k candidates are their order`, async () => {
      const session = sessions[kind];
      const steps = [
        [4, 19, 7, 30],
        [11, 3, 3, 28],
      ];
      let prefixes = SOURCES.map(() => [PAD]);
      let worst = 0;
      let rows = logitsOf(await session.start(SOURCES, 1, 'logits'));
      for (let s = 0; ; s++) {
        const want = cpuLastRows(model, graph, SOURCES, prefixes);
        expect(rows.length).toBe(SOURCES.length * V);
        want.forEach((w, i) => {
          expect(maxAbs(w)).toBeGreaterThan(0.5);
          worst = Math.max(worst, maxAbsDiff(rows.subarray(i * V, (i + 1) * V), w));
        });
        if (s === steps.length) break;
        prefixes = prefixes.map((p, i) => [...p, steps[s][i]]);
        rows = logitsOf(await session.step(steps[s], 'logits'));
        expect(session.length).toBe(s + 2);
      }
      report.push(`  ${kind} 'logits' vs float64: max |diff| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(LOGIT_TOLERANCE);

      // The same state asked for candidates: the rows' order, restBelow bounding the rest.
      const whole = logitsOf(await session.start(SOURCES, 1, 'logits'));
      const top = candidatesOf(await session.start(SOURCES, 1, 3));
      const all = candidatesOf(await session.start(SOURCES, 1, V + 5));
      top.forEach((c, i) => {
        const row = whole.subarray(i * V, (i + 1) * V);
        const order = Array.from({ length: V }, (_, t) => t).sort((x, y) => row[y] - row[x] || x - y);
        expect(Array.from(c.ids)).toEqual(order.slice(0, 3));
        expect(Array.from(c.logits)).toEqual(order.slice(0, 3).map((t) => row[t]));
        expect(c.restBelow).toBe(row[order[2]]);
        expect(Array.from(all[i].ids)).toEqual(order);
        expect(all[i].restBelow).toBe(Number.NEGATIVE_INFINITY);
      });
    });

    it(`${kind}: beams: sequences of one source start alike; after reorder each continues its parent`, async () => {
      const session = sessions[kind];
      const beams = 2;
      const sources = SOURCES.slice(0, 3);
      const first = logitsOf(await session.start(sources, beams, 'logits'));
      expect(session.sources).toBe(3);
      expect(session.beams).toBe(beams);
      const rowOf = (x: Float32Array, i: number) => x.subarray(i * V, (i + 1) * V);
      // The beams of one source hold the same prefix: the same row, bit for bit.
      for (let s = 0; s < sources.length; s++) expect(rowOf(first, 2 * s + 1)).toEqual(rowOf(first, 2 * s));
      // Each beam takes another token; then every sequence continues beam 1 of its source.
      const own = [4, 19, 7, 30, 11, 3];
      await session.step(own, 'logits');
      session.reorder([1, 1, 3, 3, 5, 5]);
      const next = [13, 13, 2, 2, 25, 25];
      const rows = logitsOf(await session.step(next, 'logits'));
      const parentPrefixes = [0, 1, 2, 3, 4, 5].map((i) => [PAD, own[2 * Math.floor(i / 2) + 1], next[i]]);
      const ownPrefixes = [0, 1, 2, 3, 4, 5].map((i) => [PAD, own[i], next[i]]);
      const perSequence = [0, 1, 2, 3, 4, 5].map((i) => sources[Math.floor(i / 2)]);
      const want = cpuLastRows(model, graph, perSequence, parentPrefixes);
      const notWant = cpuLastRows(model, graph, perSequence, ownPrefixes);
      for (let i = 0; i < 6; i++) {
        expect(maxAbsDiff(rowOf(rows, i), want[i])).toBeLessThan(LOGIT_TOLERANCE);
        // Sequence 0, 2, 4's own prefix would give other logits: the reorder is what made them equal.
        if (i % 2 === 0) expect(maxAbsDiff(rowOf(rows, i), notWant[i])).toBeGreaterThan(1e-2);
      }
      for (let s = 0; s < 3; s++) expect(rowOf(rows, 2 * s)).toEqual(rowOf(rows, 2 * s + 1));

      // A later step of one beam does not touch its sibling that had the same parent (copies, not aliases).
      session.reorder([0, 0, 2, 3, 4, 4]);
      const after = logitsOf(await session.step([5, 6, 7, 8, 9, 10], 'logits'));
      const prefixesAfter = [
        [PAD, own[1], next[0], 5],
        [PAD, own[1], next[0], 6],
        [PAD, own[3], next[2], 7],
        [PAD, own[3], next[3], 8],
        [PAD, own[5], next[4], 9],
        [PAD, own[5], next[4], 10],
      ];
      const wantAfter = cpuLastRows(model, graph, perSequence, prefixesAfter);
      for (let i = 0; i < 6; i++) expect(maxAbsDiff(rowOf(after, i), wantAfter[i])).toBeLessThan(LOGIT_TOLERANCE);
    });

    it(`${kind}: refuses bad sources, tokens, parents and overflow, naming the problem`, async () => {
      const session = sessions[kind];
      // A second session of capacity 3 (the GPU one over the same runtime, so never disposed here).
      const small =
        kind === 'cpu'
          ? new FloatTranslatorCpu(model, graph, 3)
          : new FloatTranslatorGpu((session as FloatTranslatorGpu).runtime, model.config, 3);
      await expect(small.step([1], 2)).rejects.toThrow(/start\(\) a translation first/);
      expect(() => small.reorder([0])).toThrow(/start\(\) a translation first/);
      expect(small.length).toBe(0);
      const ok = [5, EOS];
      await expect(session.start([], 1, 2)).rejects.toThrow(/no sources/);
      await expect(session.start([ok, []], 1, 2)).rejects.toThrow(/source 1 is empty/);
      await expect(session.start([ok, ok, [3, V, EOS]], 1, 2)).rejects.toThrow(
        /source 2 has id 37 at index 1, outside the vocabulary of 37/,
      );
      await expect(session.start([[-1, EOS]], 1, 2)).rejects.toThrow(/source 0 has id -1 at index 0/);
      await expect(session.start([[1.5, EOS]], 1, 2)).rejects.toThrow(/source 0 has id 1.5/);
      const long = [...Array.from({ length: 40 }, () => 3), EOS];
      await expect(session.start([ok, long], 1, 2)).rejects.toThrow(
        /source 1 has 41 tokens, more than the model's 40 positions/,
      );
      await expect(session.start([ok, [5, 6]], 1, 2)).rejects.toThrow(/source 1 does not end with eos \(id 0\)/);
      await expect(session.start([ok], 0, 2)).rejects.toThrow(/beams 0 must be a positive integer/);
      await expect(session.start([ok], 1, 0)).rejects.toThrow(/next tokens 0 must be 'logits' or a positive integer/);
      await expect(session.start([ok], 1, 'all' as never)).rejects.toThrow(/next tokens "all"/);

      await session.start([ok, [7, 8, EOS]], 2, 2);
      await expect(session.step([1, 2, 3], 2)).rejects.toThrow(/3 tokens for 4 sequences \(2 sources x 2 beams\)/);
      await expect(session.step([1, 2, 3, V], 2)).rejects.toThrow(/token 37 of sequence 3 is outside the vocabulary/);
      expect(() => session.reorder([0, 1, 2])).toThrow(/3 parents for 4 sequences/);
      expect(() => session.reorder([0, 2, 2, 3])).toThrow(
        /sequence 1 \(source 0\) cannot continue sequence 2 of source 1/,
      );
      expect(() => session.reorder([0, 1, 4, 3])).toThrow(/parent 4 of sequence 2 is not a sequence/);
      await expect(session.start([[5, 6]], 1, 2)).rejects.toThrow(/does not end with eos/);
      // Refused calls changed nothing.
      expect(session.length).toBe(1);
      expect(session.beams).toBe(2);
      expect(session.sources).toBe(2);

      await small.start([ok], 1, 1);
      await small.step([4], 1);
      await small.step([4], 1);
      expect(small.length).toBe(3);
      await expect(small.step([4], 1)).rejects.toThrow(/hold 3 target tokens \(the capacity\), all used/);
      // Starting again discards the full translation.
      await small.start([ok], 1, 1);
      expect(small.length).toBe(1);
      expect(() => new FloatTranslatorCpu(model, graph, 41)).toThrow(/capacity 41 must be an integer in \[1, 40\]/);
      await expect(FloatTranslatorGpu.create(await testGpu(), model, graph, { capacity: 0 })).rejects.toThrow(
        /capacity 0 must be an integer/,
      );
    });
  }
});

// ---- the shared model ---------------------------------------------------------------------------

const SHARED = new URL('../../shared/', import.meta.url);
const sharedPath = (p: string) => fileURLToPath(new URL(p, SHARED));
const MODEL = sharedPath('models/multi30k-marian-en-de');
const TEST_EN = sharedPath('data/multi30k/test_2016_flickr.en');

describe.skipIf(!existsSync(`${MODEL}/model.safetensors`) || !existsSync(TEST_EN))(
  'FloatTranslatorGpu on multi30k-marian-en-de (../shared)',
  () => {
    let model: MarianModel;
    let graph: ModelGraph;
    let session: FloatTranslatorGpu;
    let sources: number[][];
    const report: string[] = [];
    const MAX_NEW = 60;

    beforeAll(async () => {
      const files = folderSource(MODEL);
      model = await loadMarianModel(files);
      graph = marianGraph(model.config);
      const tokenizer = await loadMarianTokenizer(files, model.config);
      const en = readFileSync(TEST_EN, 'utf8')
        .split('\n')
        .filter((l) => l.trim().length > 0);
      // One sentence: the GPU session reruns the whole graph per token on a software adapter (slow).
      sources = en.slice(0, 1).map((t) => tokenizer.encodeSource(t.trim()));
      session = await FloatTranslatorGpu.create(await testGpu(), model, graph, {
        capacity: MAX_NEW,
        sequences: 1,
        sourceLength: 32,
      });
    });
    afterAll(() => {
      session?.dispose();
      if (report.length) console.log(`float translator, multi30k-marian-en-de:\n${report.join('\n')}`);
    });

    it("greedy over the GPU session gives greedyTranslateCpu's float64 ids (the first test sentence)", async () => {
      const { ids: got } = await greedyOverSession(session, model.config, sources, MAX_NEW);
      sources.forEach((src, i) => {
        const want = greedyTranslateCpu(model, src, { maxNewTokens: MAX_NEW, graph });
        expect(want.at(-1)).toBe(model.config.eosTokenId);
        const line = compareGreedy(model, graph, src, got[i], want, `sentence ${i}`);
        report.push(`  ${line ?? `sentence ${i}: ${want.length} tokens equal`}`);
      });
    });

    it("'logits' rows equal runFloatGraphCpu's (start and two steps)", async () => {
      const steps = [
        [12, 40, 7],
        [100, 5, 9],
      ];
      let prefixes = sources.map(() => [model.config.decoderStartTokenId]);
      let rows = logitsOf(await session.start(sources, 1, 'logits'));
      const W = model.config.vocabSize;
      let worst = 0;
      let largest = 0;
      for (let s = 0; ; s++) {
        cpuLastRows(model, graph, sources, prefixes).forEach((w, i) => {
          largest = Math.max(largest, maxAbs(w));
          worst = Math.max(worst, maxAbsDiff(rows.subarray(i * W, (i + 1) * W), w));
        });
        if (s === steps.length) break;
        const tokens = steps[s].slice(0, sources.length);
        prefixes = prefixes.map((p, i) => [...p, tokens[i]]);
        rows = logitsOf(await session.step(tokens, 'logits'));
      }
      report.push(`  'logits' vs float64: max |diff| ${worst.toExponential(2)} (logits up to ${largest.toFixed(2)})`);
      expect(largest).toBeGreaterThan(5);
      expect(worst).toBeLessThan(LOGIT_TOLERANCE);
    });
  },
);

describe.skipIf(!existsSync(`${MODEL}/model.safetensors`) || !existsSync(TEST_EN))(
  'FloatTranslatorCpu (incremental) on multi30k-marian-en-de (../shared)',
  () => {
    let model: MarianModel;
    let graph: ModelGraph;
    let session: FloatTranslatorCpu;
    let sources: number[][];
    const report: string[] = [];
    const MAX_NEW = 60;

    beforeAll(async () => {
      const files = folderSource(MODEL);
      model = await loadMarianModel(files);
      graph = marianGraph(model.config);
      const tokenizer = await loadMarianTokenizer(files, model.config);
      const en = readFileSync(TEST_EN, 'utf8')
        .split('\n')
        .filter((l) => l.trim().length > 0);
      sources = en.slice(0, 3).map((t) => tokenizer.encodeSource(t.trim()));
      session = new FloatTranslatorCpu(model, graph, MAX_NEW);
    });
    afterAll(() => {
      session?.dispose();
      if (report.length) console.log(`incremental float64 translator, multi30k-marian-en-de:\n${report.join('\n')}`);
    });

    it("greedy over the session gives greedyTranslateCpu's float64 ids (3 test sentences, one batch)", async () => {
      const { ids: got } = await greedyOverSession(session, model.config, sources, MAX_NEW);
      sources.forEach((src, i) => {
        const want = greedyTranslateCpu(model, src, { maxNewTokens: MAX_NEW, graph });
        expect(want.at(-1)).toBe(model.config.eosTokenId);
        const line = compareGreedy(model, graph, src, got[i], want, `sentence ${i}`);
        report.push(`  ${line ?? `sentence ${i}: ${want.length} tokens equal`}`);
      });
    });

    it("'logits' rows are runFloatGraphCpu's last-position rows rounded to float32 (start and two steps)", async () => {
      const steps = [
        [12, 40, 7],
        [100, 5, 9],
      ];
      let prefixes = sources.map(() => [model.config.decoderStartTokenId]);
      let rows = logitsOf(await session.start(sources, 1, 'logits'));
      const W = model.config.vocabSize;
      let worst = 0;
      let largest = 0;
      for (let s = 0; ; s++) {
        cpuLastRows(model, graph, sources, prefixes).forEach((w, i) => {
          largest = Math.max(largest, maxAbs(w));
          worst = Math.max(worst, maxAbsDiff(rows.subarray(i * W, (i + 1) * W), Float32Array.from(w)));
        });
        if (s === steps.length) break;
        prefixes = prefixes.map((p, i) => [...p, steps[s][i]]);
        rows = logitsOf(await session.step(steps[s], 'logits'));
      }
      report.push(`  'logits' vs float64 rounded to float32: max |diff| ${worst.toExponential(2)}`);
      expect(largest).toBeGreaterThan(5);
      // The incremental run is the whole pass's float64 arithmetic (test/float-incremental.test.ts).
      expect(worst).toBeLessThanOrEqual(1e-9 * largest);
    });
  },
);
