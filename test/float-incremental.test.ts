/**
 * FloatGraphIncremental (src/cpu/float-incremental.ts): the float64 graph one token at a time over
 * kept keys and values must give the whole-sequence pass's numbers (runFloatGraphCpu).
 *
 * On the random Marian of test/cases/random-marian.ts (sources of different lengths, so the
 * cross-attention masks padding; more steps than the cache's first allocation): each step's rows
 * equal the whole pass's rows at that position within RELATIVE (they are expected bit-equal: same
 * functions, same summation order, the whole pass adding only exact zeros for the keys a query may
 * not see). With beams, after random reorders each sequence's rows equal the whole pass over the
 * prefix it inherited. On a random GPT-2-style decoder graph (learned positions, pre-LN) prompts
 * fed token by token give every row of the whole pass. Bad graphs and bad calls are refused by name.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { marianBatch } from '../src/core/token-batch.js';
import type { MarianModel, TokenBatch } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { FloatGraphIncremental } from '../src/cpu/float-incremental.js';
import { gpt2Spec, type Params } from '../src/graph/architectures.js';
import { buildGraph } from '../src/graph/blocks.js';
import { type ModelGraph, tensorSpec, widthOf } from '../src/graph/types.js';
import { loadMarianModel } from '../src/model/load.js';
import { marianBatches, marianGraph } from '../src/model/marian.js';
import { Random } from '../src/util/random.js';
import { EOS, PAD, randomMarianFiles, V } from './cases/random-marian.js';

/**
 * Incremental vs whole pass, relative to the row set's largest logit. The two are the same float64
 * operations in the same order, so any difference is a bug; the bound leaves room for nothing but
 * the sign of a zero.
 */
const RELATIVE = 1e-9;

/** max |a - b| / max |b| over rows, and whether every value was equal. */
function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): { rel: number; equal: boolean } {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = 0;
  let equal = true;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
    if (got[i] !== want[i]) equal = false;
  }
  expect(scale).toBeGreaterThan(0.1);
  return { rel: diff / scale, equal };
}

/** Whole-pass rows at position `at` of each (source, prefix) pair, [pairs, vocab]. */
function wholeRows(model: MarianModel, graph: ModelGraph, sources: number[][], prefixes: number[][], at: number) {
  const { source, target } = marianBatches(model.config, sources, prefixes);
  const all = runFloatGraphCpu(graph, model.params, target, { source }).logits!;
  const vocab = model.config.vocabSize;
  const out = new Float64Array(prefixes.length * vocab);
  prefixes.forEach((_, b) => {
    const from = (b * target.seqLen + at) * vocab;
    out.set(all.subarray(from, from + vocab), b * vocab);
  });
  return out;
}

const randomTokens = (rng: Random, n: number) => Array.from({ length: n }, () => rng.int(0, V - 1));

describe('FloatGraphIncremental on a random Marian (d_model 16, 2 + 3 layers, vocab 37)', () => {
  let model: MarianModel;
  let graph: ModelGraph;
  const SOURCES = [
    [5, 9, 14, 3, 22, 7, 11, EOS],
    [17, 2, EOS],
    [30, 1, 1, 12, 6, 25, 19, 9, 10, 13, 27, 3, 2, 26, EOS],
  ];
  const sourceBatch = (sources: number[][]): TokenBatch => marianBatch(sources, PAD, model.config.maxPositions);

  beforeAll(async () => {
    model = await loadMarianModel(randomMarianFiles(5));
    graph = marianGraph(model.config);
  });

  it("every step's rows are the whole pass's rows at that position (20 steps, past the first cache room)", () => {
    const runner = new FloatGraphIncremental(graph, model.params);
    expect(runner.usesSource).toBe(true);
    runner.start(sourceBatch(SOURCES));
    expect([runner.sources, runner.beams, runner.sequences, runner.length]).toEqual([3, 1, 3, 0]);
    const rng = new Random(11);
    const prefixes = SOURCES.map(() => [PAD]);
    let worst = 0;
    let equalSteps = 0;
    const STEPS = 20;
    for (let t = 0; t < STEPS; t++) {
      const rows = runner.step(prefixes.map((p) => p[t]));
      expect(runner.length).toBe(t + 1);
      const { rel, equal } = relDiff(rows, wholeRows(model, graph, SOURCES, prefixes, t));
      worst = Math.max(worst, rel);
      if (equal) equalSteps++;
      const next = randomTokens(rng, SOURCES.length);
      prefixes.forEach((p, i) => p.push(next[i]));
    }
    console.log(
      `incremental vs whole pass, random Marian: max relative diff ${worst.toExponential(2)}, ${equalSteps}/${STEPS} steps bit-equal`,
    );
    expect(worst).toBeLessThanOrEqual(RELATIVE);
  });

  it('beams: after random reorders each sequence continues its parent (whole pass over the inherited prefix)', () => {
    const runner = new FloatGraphIncremental(graph, model.params);
    const beams = 3;
    runner.start(sourceBatch(SOURCES), beams);
    expect(runner.sequences).toBe(9);
    const perSequence = Array.from({ length: 9 }, (_, i) => SOURCES[Math.floor(i / beams)]);
    let prefixes = perSequence.map(() => [PAD]);
    const rng = new Random(4);
    let worst = 0;
    let moved = 0;
    for (let t = 0; t < 8; t++) {
      const rows = runner.step(prefixes.map((p) => p[t]));
      worst = Math.max(worst, relDiff(rows, wholeRows(model, graph, perSequence, prefixes, t)).rel);
      // The beams of one source that hold one prefix give one row, bit for bit.
      if (t === 0)
        for (let i = 1; i < 9; i++)
          if (i % beams) expect(rows.subarray(i * V, (i + 1) * V)).toEqual(rows.subarray((i - 1) * V, i * V));
      const next = randomTokens(rng, 9);
      prefixes = prefixes.map((p, i) => [...p, next[i]]);
      if (t === 0) continue;
      const parents = prefixes.map((_, i) => Math.floor(i / beams) * beams + rng.int(0, beams - 1));
      moved += parents.filter((p, i) => p !== i).length;
      runner.reorder(parents);
      const inherited = parents.map((p) => prefixes[p].slice(0, t + 1));
      prefixes = inherited.map((p, i) => [...p, next[i]]);
    }
    expect(moved).toBeGreaterThan(10);
    expect(worst).toBeLessThanOrEqual(RELATIVE);
  });

  it("beams share their source's encoding: beams x sources equals one run per source", () => {
    const together = new FloatGraphIncremental(graph, model.params);
    together.start(sourceBatch(SOURCES), 2);
    const tokens = [
      [PAD, PAD, PAD, PAD, PAD, PAD],
      [3, 4, 5, 6, 7, 8],
    ];
    const rows = tokens.map((step) => together.step(step)).at(-1)!;
    SOURCES.forEach((src, s) => {
      const alone = new FloatGraphIncremental(graph, model.params);
      alone.start(sourceBatch([src]), 2);
      const own = tokens.map((step) => alone.step(step.slice(2 * s, 2 * s + 2))).at(-1)!;
      // Padding to the longest source does not change a source's rows.
      expect(relDiff(rows.subarray(2 * s * V, (2 * s + 2) * V), own).rel).toBeLessThanOrEqual(RELATIVE);
    });
  });

  it('a source padded on the left is encoded whole: the rows are still the whole pass over that batch', () => {
    const S = 6;
    const source: TokenBatch = {
      batch: 2,
      seqLen: S,
      inputIds: Int32Array.from([5, 9, 14, EOS, PAD, PAD, PAD, PAD, PAD, 17, 2, EOS]),
      attentionMask: Int32Array.from([1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1]),
      tokenTypeIds: new Int32Array(2 * S),
      positionIds: Int32Array.from([0, 1, 2, 3, 4, 5, 0, 0, 0, 0, 1, 2]),
    };
    const runner = new FloatGraphIncremental(graph, model.params);
    runner.start(source);
    const prefixes = [[PAD], [PAD]];
    for (const next of [
      [4, 19],
      [7, 7],
      [0, 0],
    ]) {
      const rows = runner.step(prefixes.map((p) => p.at(-1)!));
      const target = marianBatch(prefixes, PAD, model.config.maxPositions);
      const all = runFloatGraphCpu(graph, model.params, target, { source }).logits!;
      const t = prefixes[0].length - 1;
      const want = new Float64Array(2 * V);
      for (let b = 0; b < 2; b++) want.set(all.subarray((b * (t + 1) + t) * V, (b * (t + 1) + t + 1) * V), b * V);
      expect(relDiff(rows, want).rel).toBeLessThanOrEqual(RELATIVE);
      prefixes.forEach((p, i) => p.push(next[i]));
    }
  });

  it('refuses bad calls by name, keeping its state', () => {
    const runner = new FloatGraphIncremental(graph, model.params);
    expect(() => runner.step([1])).toThrow(/step: start\(\) first/);
    expect(() => runner.reorder([0])).toThrow(/reorder: start\(\) first/);
    expect(() => runner.start(2)).toThrow(/this graph needs a source batch/);
    expect(() => runner.start(sourceBatch(SOURCES), 0)).toThrow(/beams 0 must be a positive integer/);
    runner.start(sourceBatch(SOURCES.slice(0, 2)), 2);
    runner.step([PAD, PAD, PAD, PAD]);
    expect(() => runner.step([1, 2, 3])).toThrow(/3 tokens for 4 sequences \(2 sources x 2 beams\)/);
    expect(() => runner.step([1, 2, 3, V])).toThrow(/token id 37 at index 3 is outside the table's 37 rows/);
    expect(() => runner.step([1, 2.5, 3, 4])).toThrow(/token id 2.5 at index 1/);
    expect(() => runner.reorder([0, 2, 2, 3])).toThrow(/parents\[1\] = 2 belongs to source 1/);
    expect(() => runner.reorder([0, 1, 4, 3])).toThrow(/parents\[2\] = 4 is not a sequence index/);
    expect(runner.length).toBe(1);
    // The refused calls changed nothing: the next step is the whole pass's.
    const rows = runner.step([4, 5, 6, 7]);
    const perSequence = [0, 0, 1, 1].map((s) => SOURCES[s]);
    const prefixes = [4, 5, 6, 7].map((id) => [PAD, id]);
    expect(relDiff(rows, wholeRows(model, graph, perSequence, prefixes, 1)).rel).toBeLessThanOrEqual(RELATIVE);
  });
});

// ---- decoder-only graphs ------------------------------------------------------------------------

const GPT = { hidden: 12, heads: 3, layers: 2, intermediate: 20, vocab: 29, eps: 1e-5 };
const POSITIONS = 12;

/** Random parameters of every shape the graph names (the tables' rows: vocabulary and positions). */
function randomParams(graph: ModelGraph, seed: number): Params {
  const rng = new Random(seed);
  const params: Params = new Map();
  const put = (name: string, shape: number[], std: number, mean = 0) => {
    if (params.has(name)) return;
    const data = rng.float32Array(
      shape.reduce((a, b) => a * b, 1),
      std,
    );
    if (mean) data.forEach((v, i) => (data[i] = v + mean));
    params.set(name, { shape, data });
  };
  const width = (id: string) => widthOf(tensorSpec(graph, id));
  for (const op of graph.ops) {
    if (op.kind === 'embed') {
      put(op.word, [GPT.vocab, width(op.out)], 0.5);
      if (op.position !== 'sinusoidal') put(op.position, [POSITIONS, width(op.out)], 0.3);
    } else if (op.kind === 'linear') {
      put(`${op.param}.weight`, [width(op.out), width(op.input)], 0.4);
      put(`${op.param}.bias`, [width(op.out)], 0.1);
    } else if (op.kind === 'layerNorm') {
      put(`${op.param}.gamma`, [width(op.out)], 0.2, 1);
      put(`${op.param}.beta`, [width(op.out)], 0.1);
    }
  }
  return params;
}

/** Equal-length prompts as one batch without padding, positions 0..n-1. */
function promptBatch(prompts: number[][]): TokenBatch {
  return marianBatch(prompts, 0, POSITIONS);
}

describe('FloatGraphIncremental on a random GPT-2-style decoder (12 wide, 3 heads, 2 layers)', () => {
  const graph = buildGraph(gpt2Spec(GPT));
  const params = randomParams(graph, 8);

  const W = GPT.vocab;
  /** Row `at` of each sequence of the whole pass over equal-length sequences. */
  const wholeAt = (sequences: number[][], at: number) => {
    const all = runFloatGraphCpu(graph, params, promptBatch(sequences)).logits!;
    const S = sequences[0].length;
    const out = new Float64Array(sequences.length * W);
    sequences.forEach((_, b) => out.set(all.subarray((b * S + at) * W, (b * S + at + 1) * W), b * W));
    return out;
  };

  it('prompts fed token by token give every row of the whole pass', () => {
    const rng = new Random(2);
    const prompts = Array.from({ length: 4 }, () => Array.from({ length: 11 }, () => rng.int(0, W - 1)));
    const runner = new FloatGraphIncremental(graph, params);
    expect(runner.usesSource).toBe(false);
    runner.start(4);
    let worst = 0;
    for (let t = 0; t < 11; t++) {
      const rows = runner.step(prompts.map((p) => p[t]));
      worst = Math.max(worst, relDiff(rows, wholeAt(prompts, t)).rel);
    }
    expect(worst).toBeLessThanOrEqual(RELATIVE);
  });

  it('reorder: each sequence continues its parent (whole pass over the inherited tokens)', () => {
    const rng = new Random(6);
    const runner = new FloatGraphIncremental(graph, params);
    runner.start(2, 2);
    let history = [[3], [3], [9], [9]];
    const reorders: Record<number, number[]> = { 2: [1, 1, 2, 2], 4: [0, 0, 3, 2], 5: [1, 0, 2, 3] };
    let worst = 0;
    for (let t = 0; t < 8; t++) {
      const rows = runner.step(history.map((h) => h[t]));
      const want = wholeAt(history, t);
      worst = Math.max(worst, relDiff(rows, want).rel);
      const parents = reorders[t];
      if (parents) {
        runner.reorder(parents);
        history = parents.map((p) => [...history[p]]);
      }
      history.forEach((h) => h.push(rng.int(0, W - 1)));
    }
    expect(worst).toBeLessThanOrEqual(RELATIVE);
  });

  it('refuses what it cannot run a token at a time, and positions past the table', () => {
    expect(() => new FloatGraphIncremental(graph, params).start(sourceLike(), 1)).toThrow(
      /a source batch was given to a graph without source positions/,
    );
    const runner = new FloatGraphIncremental(graph, params);
    expect(() => runner.start(0)).toThrow(/0 prompts must be a positive integer/);
    runner.start(1);
    for (let t = 0; t < POSITIONS; t++) runner.step([1]);
    expect(() => runner.step([1])).toThrow(/position id 12 at index 0 is outside the table's 12 rows/);
    expect(runner.length).toBe(POSITIONS);

    const notCausal: ModelGraph = {
      ...graph,
      ops: graph.ops.map((op) => (op.kind === 'attention' ? { ...op, causal: false } : op)),
    };
    expect(() => new FloatGraphIncremental(notCausal, params)).toThrow(
      /self-attention ".*" over the target is not causal/,
    );
    const pooled = buildGraph({ ...gpt2Spec(GPT), head: { kind: 'pool', mode: 'mean' } });
    expect(() => new FloatGraphIncremental(pooled, randomParams(pooled, 1))).toThrow(/is pooled, not per-token logits/);
    expect(() => new FloatGraphIncremental(graph, new Map())).toThrow(/no parameter/);
  });
});

function sourceLike(): TokenBatch {
  return marianBatch([[1, 2]], 0, POSITIONS);
}
