/**
 * The translation benchmark's pure logic (bench/translate-plan.ts, bench/translate-report.ts):
 * which cells run with which runtimes, the common new-token limit, the sentences, a generated row
 * cut to its translation, the figures of a cell, and the report rendered from a small results
 * document. No timing is measured here.
 */
import { describe, expect, it } from 'vitest';
import {
  cellFigures,
  newTokenLimit,
  pickSentences,
  planTranslateCells,
  sameOutputs,
  TR_RUNTIMES,
  translatedTokens,
} from '../bench/translate-plan.js';
import {
  cutByLimit,
  peerBeamVsGreedy,
  renderTranslateReport,
  type TranslateResults,
} from '../bench/translate-report.js';

const ALL = ['int8', 'fp32', 'tjs-webgpu', 'tjs-wasm'] as const;

describe('planTranslateCells', () => {
  it('runs batch by batch, greedy before beams, and keeps our FP32 to cells of at most N sequences, saying why', () => {
    const { cells, skipped } = planTranslateCells({
      beams: [4, 1],
      batches: [8, 1],
      runtimes: [...ALL],
      maxNewTokens: (batch) => 10 + batch,
      fp32MaxSequences: 8,
    });
    expect(cells.map((c) => `${c.beams}x${c.batch} ${c.maxNewTokens}`)).toEqual([
      '1x1 11',
      '4x1 11',
      '1x8 18',
      '4x8 18',
    ]);
    expect(cells[2].runtimes).toEqual([...ALL]);
    // Batch 8 x 4 beams = 32 sequences: FP32 left out, the others kept.
    expect(cells[3].runtimes).toEqual(['int8', 'tjs-webgpu', 'tjs-wasm']);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ beams: 4, batch: 8, runtime: 'fp32' });
    expect(skipped[0].reason).toMatch(/32 sequences \(batch 8 x 4 beams\) exceed --fp32-max-sequences 8/);
  });

  it('drops a cell no runtime can run, and refuses sizes that are not positive integers', () => {
    const only = planTranslateCells({
      beams: [4],
      batches: [8],
      runtimes: ['fp32'],
      maxNewTokens: () => 5,
      fp32MaxSequences: 4,
    });
    expect(only.cells).toEqual([]);
    expect(only.skipped).toHaveLength(1);
    const base = { beams: [1], batches: [1], runtimes: ['int8' as const], maxNewTokens: () => 5, fp32MaxSequences: 8 };
    expect(() => planTranslateCells({ ...base, beams: [0] })).toThrow(/beam count 0/);
    expect(() => planTranslateCells({ ...base, batches: [2.5] })).toThrow(/batch 2.5/);
  });
});

describe('newTokenLimit, pickSentences', () => {
  it("is translate()'s default: 2 x the longest source + 10, below max_length", () => {
    expect(newTokenLimit([12, 33, 10], 256)).toBe(76);
    expect(newTokenLimit([200], 256)).toBe(255);
    expect(() => newTokenLimit([], 256)).toThrow(/no sources/);
  });

  it('takes different non-blank lines from the top, and says how many it found when there are too few', () => {
    expect(pickSentences(['a', '', ' a ', 'b', 'c', 'd'], 3)).toEqual(['a', 'b', 'c']);
    expect(() => pickSentences(['a', 'a', ''], 2)).toThrow(/only 1 of 2 different sentences/);
  });
});

describe('translatedTokens', () => {
  it('drops the decoder start, keeps the eos, and cuts what a finished row generated after it', () => {
    // transformers.js: [start, ..., eos, more tokens while the batch's longest row went on].
    expect(translatedTokens([7999, 5, 6, 0, 9, 9], 0, 7999)).toEqual([5, 6, 0]);
    // Ours: no start token, ends with its eos.
    expect(translatedTokens([5, 6, 0], 0, 7999)).toEqual([5, 6, 0]);
    // Cut by the limit without an eos: all of it.
    expect(translatedTokens([7999, 5, 6], 0, 7999)).toEqual([5, 6]);
  });
});

describe('figures', () => {
  it('take medians over runs of time per sentence and time per generated token', () => {
    const f = cellFigures(
      [
        { totalMs: 800, tokens: 100 },
        { totalMs: 1600, tokens: 100 },
        { totalMs: 400, tokens: 10 },
      ],
      8,
    );
    // ms/sentence: 100, 200, 50 -> 100; ms/token: 8, 16, 40 -> 16.
    expect(f).toMatchObject({ runs: 3, msPerSentence: 100, sentencesPerS: 10, msPerToken: 16, tokens: 100 });
    expect(cellFigures([], 1)).toBeUndefined();
    expect(cellFigures(undefined, 1)).toBeUndefined();
  });

  it('count sentences with exactly the reference tokens', () => {
    expect(
      sameOutputs(
        [
          [1, 0],
          [2, 3, 0],
        ],
        [
          [1, 0],
          [2, 3, 4, 0],
        ],
      ),
    ).toBe('1/2');
    expect(sameOutputs(undefined, [[1]])).toBe('–');
  });
});

function fixture(): TranslateResults {
  const greedy = [
    [5, 0],
    [6, 7, 0],
  ];
  return {
    benchmark: 'translate',
    version: 1,
    date: '2026-11-29T08:00:00.000Z',
    mode: 'default',
    options: {
      reps: 3,
      warmup: 1,
      beams: [1, 4],
      batches: [2],
      runtimes: [...ALL],
      budgetS: 45,
      fp32MaxSequences: 4,
      adapter: 'swiftshader',
    },
    machine: {
      cpu: 'test CPU',
      cores: 2,
      memoryBytes: 8e9,
      os: 'Linux',
      node: 'v20',
      chromium: '156',
      loadavgStart: [1, 1, 1],
      loadavgEnd: [2, 2, 2],
      browserAdapter: 'adapter  google / swiftshader\nlimits ...',
    },
    durationS: 600,
    runtimeNames: { ...TR_RUNTIMES },
    model: {
      name: 'marian-test',
      source: 'a test model',
      config: { encoderLayers: 3, decoderLayers: 3, hiddenSize: 256, heads: 4, vocabSize: 8000 },
    },
    sentences: [
      { text: 'A dog | runs.', sourceTokens: 5 },
      { text: 'A cat.', sourceTokens: 4 },
    ],
    loads: [
      { runtime: 'int8', loadMs: 100, fileBytes: 13_300_000, facts: {} },
      { runtime: 'fp32', loadMs: 200, fileBytes: 30_400_000, facts: {} },
      { runtime: 'tjs-webgpu', error: 'no adapter' },
      { runtime: 'tjs-wasm', loadMs: 300, fileBytes: 47_900_000, facts: { transformersJs: '4.3.1', wasmThreads: 2 } },
    ],
    cells: [
      {
        beams: 1,
        batch: 2,
        maxNewTokens: 20,
        runtimes: [...ALL],
        results: {
          int8: {
            runs: [
              { totalMs: 200, tokens: 5 },
              { totalMs: 300, tokens: 5 },
            ],
            tokens: [
              [5, 0],
              [6, 8, 0],
            ],
            memory: {
              weightBytes: 10_000_000,
              activationBytes: 2_000_000,
              kvCacheBytes: 400_000,
              kvBytesPerToken: 1536,
              crossKvBytes: 30_000,
              crossKvBytesPerSourceToken: 1536,
            },
          },
          fp32: {
            runs: [{ totalMs: 4000, tokens: 5 }],
            warmupRuns: 0,
            tokens: greedy,
            memory: { weightBytes: 40_000_000, activationBytes: 5_000_000 },
          },
          'tjs-webgpu': { runs: [], error: 'model did not load' },
          'tjs-wasm': { runs: [{ totalMs: 100, tokens: 5 }], tokens: greedy, error: 'a | b' },
        },
      },
      {
        beams: 4,
        batch: 2,
        maxNewTokens: 20,
        runtimes: ['int8', 'tjs-webgpu', 'tjs-wasm'],
        results: {
          int8: {
            runs: [{ totalMs: 1000, tokens: 6 }],
            tokens: [
              [5, 0],
              [6, 9, 9, 0],
            ],
          },
          'tjs-webgpu': { runs: [], error: 'model did not load' },
          'tjs-wasm': { runs: [{ totalMs: 150, tokens: 5 }], tokens: greedy },
        },
      },
    ],
    skipped: [{ beams: 4, batch: 2, runtime: 'fp32', reason: '8 sequences exceed --fp32-max-sequences 4' }],
    complete: false,
  };
}

describe('renderTranslateReport', () => {
  const md = renderTranslateReport(fixture());

  it('states that WebGPU was software (SwiftShader) and that the run did not finish', () => {
    expect(md).toMatch(/\*\*Software WebGPU\.\*\* .* SwiftShader/);
    expect(md).toMatch(/google \/ swiftshader/);
    expect(md).toMatch(/This run did not finish/);
  });

  it('gives each runtime its figures, errors in place of figures, and the output agreement with the reference', () => {
    // INT8 greedy: ms/sentence median(100, 150) = 125, 8 sentences/s, ms/token median(40, 60) = 50; 1 of 2 outputs as FP32.
    expect(md).toContain('| greedy | 2 | INT8 (ours) | 20 | 2 | 125 | 8.00 | 5 | 50.0 | FP32 (ours, no cache): 1/2 |');
    expect(md).toContain('| greedy | 2 | FP32 (ours, no cache) | 20 | 1 (no warm-up) | 2000 | 0.50 | 5 | 800 | – |');
    expect(md).toContain('| greedy | 2 | transformers.js webgpu | 20 | – | error: model did not load |');
    // Without FP32 in a beam cell there is no reference: transformers.js's "beams" are greedy.
    expect(md).toContain('| beam 4 | 2 | INT8 (ours) | 20 | 1 | 500 | 2.00 | 6 | 167 | – |');
    // A sentence's pipe does not break the table.
    expect(md).toContain('| 1 | 5 | A dog / runs. |');
  });

  it('names the translations that ran to the new-token limit', () => {
    const r = fixture();
    r.cells[0].results.int8!.tokens![1] = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(cutByLimit(r).map((x) => [x.cell.beams, x.runtime, x.sentences])).toEqual([[1, 'int8', [2]]]);
    expect(renderTranslateReport(r)).toMatch(/- greedy, batch 2, INT8 \(ours\): sentence 2 \(20 tokens\)/);
    expect(md).not.toMatch(/ran to the new-token limit/);
  });

  it('sums up sentences per second per cell and runtime, telling apart failed and not planned', () => {
    expect(md).toContain(
      '| decoding | batch | INT8 (ours) | FP32 (ours, no cache) | transformers.js webgpu | transformers.js wasm |',
    );
    expect(md).toContain('| greedy | 2 | 8.00 | 0.50 | – | 20.00 |');
    expect(md).toContain('| beam 4 | 2 | 2.00 | not run | – | 13.33 |');
  });

  it('compares INT8 with each runtime per cell', () => {
    // FP32 2000 / INT8 125 ms per sentence; transformers.js wasm 50 / 125.
    expect(md).toContain('| greedy | 2 | 16.00x | – | 0.40x |');
  });

  it('says when transformers.js "beam" outputs are its greedy ones', () => {
    expect(peerBeamVsGreedy(fixture())).toEqual([{ runtime: 'tjs-wasm', batch: 2, beams: 4, same: '2/2' }]);
    expect(md).toMatch(/beam-cell outputs equal its own greedy outputs for transformers.js wasm batch 2: 2\/2/);
  });

  it('reports memory: weights, both caches, and their float32 sizes', () => {
    expect(md).toContain('| greedy | 2 | 10.0 MB | 2.0 MB | 400 kB | 30 kB | 40.0 MB | 5.0 MB |');
    expect(md).toMatch(/INT8 10\.0 MB on the GPU against FP32 40\.0 MB \(0\.25x\)/);
    expect(md).toMatch(/1536 bytes per target token .* in float32 the same cache holds 6144/);
    expect(md).toMatch(/1536 bytes per source token .* in float32 6144/);
  });

  it('keeps every table row as wide as its header (no stray pipe from a sentence, an error or a heading)', () => {
    const tables: string[][] = [];
    let inTable = false;
    for (const line of md.split('\n')) {
      if (line.startsWith('|') && !inTable) tables.push([]);
      inTable = line.startsWith('|');
      if (inTable) tables[tables.length - 1].push(line);
    }
    expect(tables.length).toBeGreaterThanOrEqual(6);
    for (const t of tables) {
      const widths = t.map((l) => l.split('|').length);
      expect(
        widths.every((w) => w === widths[0]),
        t.join('\n'),
      ).toBe(true);
    }
  });

  it('lists what was not measured, with the reasons', () => {
    expect(md).toMatch(/- beam 4, batch 2, FP32 \(ours, no cache\): 8 sequences exceed --fp32-max-sequences 4\./);
    expect(md).toMatch(/- transformers.js webgpu: failed to load: no adapter/);
  });
});
