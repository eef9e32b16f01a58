/**
 * The peer benchmark's pure parts, without a browser: the grid and its compute budget, timing
 * statistics, ratios, token batches of exact length, and the report renderers on a fixture.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { estimateGop, type ModelShape, planGrid } from '../bench/compare-grid.js';
import { type CellResult, type CompareResults, ratiosFor } from '../bench/compare-results.js';
import { percentile, summarize } from '../bench/compare-stats.js';
import { fillBatch } from '../bench/compare-tokens.js';
import { RUNTIME_COLORS } from '../bench/report-common.js';
import { renderHtml } from '../bench/report-html.js';
import { renderMarkdown } from '../bench/report-markdown.js';
import { logTicks } from '../bench/report-svg.js';
import { loadEncoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';
import { loadTokenizer } from '../src/model/tokenizer.js';

const BASE: ModelShape = { layers: 12, hidden: 768, intermediate: 3072, maxPositions: 512, labels: 2 };
const TINY: ModelShape = { layers: 2, hidden: 128, intermediate: 512, maxPositions: 512, labels: 2 };

describe('grid and budget', () => {
  it('counts 2 operations per multiply-add of the projections, FFN and attention', () => {
    // BERT-base, one sequence of 128: 85M weights in the layers (x 2 x 128) plus 4 S^2 H L.
    const layerWeights = 12 * (4 * 768 * 768 + 2 * 768 * 3072);
    expect(estimateGop(BASE, 128, 1)).toBeCloseTo((2 * 128 * layerWeights + 4 * 12 * 128 * 128 * 768) / 1e9, 9);
    expect(estimateGop(BASE, 512, 8)).toBeGreaterThan(700);
  });

  it('skips cells over the budget on a software adapter, with the reason; --full and GPUs run them', () => {
    const models = [
      { name: 'tiny', shape: TINY },
      { name: 'base', shape: BASE },
    ];
    const soft = planGrid(models, { full: false, quick: false, budgetGop: 6, softwareAdapter: true });
    expect(soft).toHaveLength(16);
    const big = soft.find((c) => c.model === 'base' && c.seqLen === 512 && c.batch === 8)!;
    expect(big.skipped).toMatch(/exceeds the 6 GOP budget/);
    expect(soft.find((c) => c.model === 'tiny' && c.seqLen === 16 && c.batch === 1)!.skipped).toBeUndefined();
    expect(
      planGrid(models, { full: true, quick: false, budgetGop: 6, softwareAdapter: true }).filter((c) => c.skipped),
    ).toEqual([]);
    expect(
      planGrid(models, { full: false, quick: false, budgetGop: 6, softwareAdapter: false }).filter((c) => c.skipped),
    ).toEqual([]);
    const quick = planGrid(models, { full: false, quick: true, budgetGop: 6, softwareAdapter: true });
    expect(quick.map((c) => [c.model, c.seqLen, c.batch])).toEqual([['tiny', 16, 1]]);
  });

  it('skips sequence lengths beyond the model positions whatever the adapter', () => {
    const short = [{ name: 's', shape: { ...TINY, maxPositions: 128 } }];
    const cells = planGrid(short, { full: true, quick: false, budgetGop: 6, softwareAdapter: false });
    expect(cells.filter((c) => c.skipped).map((c) => c.seqLen)).toEqual([512, 512]);
  });
});

describe('statistics and ratios', () => {
  it('median, min and nearest-rank p90 are values of real runs', () => {
    expect(summarize([5, 1, 4, 2, 3])).toEqual({ medianMs: 3, minMs: 1, p90Ms: 5 });
    expect(percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 90)).toBe(90);
    expect(summarize([4, 2])).toEqual({ medianMs: 3, minMs: 2, p90Ms: 4 });
  });

  it('ratios are peer median over INT8 median of the same cell', () => {
    const cell: CellResult = {
      model: 'm',
      seqLen: 16,
      batch: 1,
      estimatedGop: 1,
      results: {
        int8: { runsMs: [], medianMs: 10, logits: [] },
        fp32: { runsMs: [], medianMs: 15, logits: [] },
        'ort-wasm': { runsMs: [], medianMs: 5, logits: [] },
        'ort-webgpu': { runsMs: [], logits: [], error: 'x' },
      },
    };
    expect(ratiosFor(cell)).toEqual({ fp32: 1.5, 'ort-wasm': 0.5 });
  });
});

const shared = fileURLToPath(new URL('../../shared/models/sst2-bert-tiny', import.meta.url));
describe.skipIf(!existsSync(shared))('token batches', () => {
  it('fill exactly seqLen tokens per row from real sentences, [CLS] first and [SEP] last', async () => {
    const files = folderSource(shared);
    const tokenizer = await loadTokenizer(files, (await loadEncoderModel(files)).config);
    const sentences = ['a gorgeous , witty , seductive movie .', 'the worst film of the year .', 'it is fine .'];
    for (const [seq, batch] of [
      [16, 1],
      [64, 3],
    ]) {
      const b = fillBatch(tokenizer, sentences, seq, batch);
      expect(b.inputIds).toHaveLength(seq * batch);
      for (let r = 0; r < batch; r++) {
        expect(b.inputIds[r * seq]).toBe(101);
        expect(b.inputIds[r * seq + seq - 1]).toBe(102);
        expect(b.inputIds.slice(r * seq, (r + 1) * seq)).not.toContain(0);
      }
    }
  });
});

function fixture(): CompareResults {
  const result = (medianMs: number, extra = {}) => ({
    runsMs: [medianMs],
    medianMs,
    minMs: medianMs,
    p90Ms: medianMs,
    logits: [0.5, -0.5],
    ...extra,
  });
  const ran: CellResult = {
    model: 'tiny',
    seqLen: 16,
    batch: 1,
    estimatedGop: 0.01,
    results: {
      int8: result(10, {
        maxAbsLogitDiffVsFp32: 0.02,
        kernels: [
          { name: 'gemm-i8[unpack] 16x384x128', ms: 3 },
          { name: 'softmax-i8 16', ms: 1 },
        ],
      }),
      fp32: result(20, { maxAbsLogitDiffVsFp32: 0 }),
      'ort-wasm': result(5, { maxAbsLogitDiffVsFp32: 1e-6 }),
      'ort-wasm-int8': result(4, {
        maxAbsLogitDiffVsFp32: 0.03,
        kernels: [
          { name: 'MatMulInteger', ms: 2 },
          { name: 'softmax-i8 16', ms: 1 },
        ],
      }),
    },
  };
  ran.ratios = ratiosFor(ran);
  return {
    benchmark: 'compare',
    version: 1,
    date: '2026-11-24T10:00:00.000Z',
    mode: 'default',
    options: {
      runs: 5,
      warmup: 1,
      budgetGop: 6,
      calibrationSentences: 32,
      runtimes: ['int8', 'fp32', 'ort-wasm', 'ort-wasm-int8'],
      profile: true,
      adapter: 'swiftshader',
    },
    machine: {
      cpu: 'Test CPU',
      cores: 2,
      memoryBytes: 8e9,
      os: 'Linux',
      node: 'v22',
      chromium: '156',
      loadavgStart: [0.5, 0.4, 0.3],
      loadavgEnd: [1, 0.9, 0.8],
      nodeAdapter: '',
      browserAdapter: 'runtime  browser\nadapter  google / swiftshader',
    },
    durationS: 600,
    runtimeNames: {},
    models: [
      {
        name: 'tiny',
        source: 'test',
        architecture: 'BertForSequenceClassification',
        shape: TINY,
        heads: 2,
        tokenTypes: true,
        files: { safetensorsBytes: 17.5e6, onnxBytes: 6e4, i8tBytes: 4.7e6, int8OnnxBytes: 16.4e6 },
      },
    ],
    loads: [
      {
        model: 'tiny',
        runtime: 'int8',
        loadMs: 1000,
        firstRunMs: 30,
        firstRunCell: { seqLen: 16, batch: 1 },
        memory: { gpuWeightBytes: 4e6, gpuActivationBytes: 1e5, modelFileBytes: 4.7e6 },
      },
      {
        model: 'tiny',
        runtime: 'ort-wasm',
        loadMs: 500,
        firstRunMs: 7.5,
        firstRunCell: { seqLen: 16, batch: 1 },
        memory: { modelFileBytes: 17.6e6, jsHeapAfterLoadBytes: 3e7 },
      },
      { model: 'tiny', runtime: 'fp32', error: 'boom' },
      { model: 'tiny', runtime: 'ort-wasm-int8', loadMs: 800, firstRunMs: 12, firstRunCell: { seqLen: 16, batch: 1 } },
    ],
    complete: true,
    cells: [
      ran,
      {
        model: 'tiny',
        seqLen: 512,
        batch: 8,
        estimatedGop: 5.4,
        skipped: 'estimated 5.4 GOP per forward exceeds the 3 GOP budget',
        results: {},
      },
    ],
  };
}

describe('report renderers', () => {
  it('markdown: latencies, ratios, agreement, memory, kernels, skipped cells and errors', () => {
    const md = renderMarkdown(fixture());
    expect(md).toContain('| tiny | 16 | 1 | 0.01 | 10.0 | 20.0 | 5.00 | 4.00 |');
    expect(md).toContain('| tiny | 16 | 1 | 2.00x | 0.50x | 0.40x |');
    expect(md).toContain('| tiny | 512 | 8 | 5.4 | estimated 5.4 GOP per forward exceeds the 3 GOP budget |');
    expect(md).toContain('| tiny | 2.0e-2 | 1.0e-6 | 3.0e-2 |');
    expect(md).toContain('| tiny | INT8 (ours) | 4.0 MB | 100 kB | 4.7 MB |');
    expect(md).toMatch(/gemm-i8 75%, softmax-i8 25%/);
    expect(md).toContain('- tiny, FP32 (ours): boom');
    expect(md).toContain('0.50 / 0.40 / 0.30');
  });

  it('markdown: every runtime with its dtype, twin sizes, load and first run against the steady median', () => {
    const md = renderMarkdown(fixture());
    expect(md).toMatch(/\| ORT wasm fp32 \| fp32 \|/);
    expect(md).toMatch(/\| ORT wasm int8 \| int8-dynamic \|/);
    expect(md).toMatch(/\| INT8 \(ours\) \| int8 static \(integer-only\) \|/);
    expect(md).toContain('| tiny | 17.6 MB | 16.4 MB | 4.7 MB |');
    // Every runtime that loaded has a load time and a first run; the ratio is first / steady of the same cell.
    expect(md).toContain(
      '| tiny | INT8 (ours) | int8 static (integer-only) | 1.0 s | 30.0 | seq 16 batch 1 | 10.0 | 3.00x |',
    );
    expect(md).toContain('| tiny | ORT wasm fp32 | fp32 | 0.5 s | 7.50 | seq 16 batch 1 | 5.00 | 1.50x |');
    expect(md).toContain('| tiny | ORT wasm int8 | int8-dynamic | 0.8 s | 12.0 | seq 16 batch 1 | 4.00 | 3.00x |');
    expect(md).toContain('| tiny | FP32 (ours) | fp32 | error | – |');
  });

  it('HTML: a runtime keeps its colour in every chart, a kernel family across breakdowns', () => {
    const r = fixture();
    const html = renderHtml(r, renderMarkdown(r));
    // The latency plot and the load plot draw ORT wasm int8 in its fixed colour.
    const latency = html.slice(html.indexOf('Latency per runtime'), html.indexOf('Load and first inference'));
    const load = html.slice(html.indexOf('Load and first inference'), html.indexOf('<h2>Memory'));
    for (const part of [latency, load]) expect(part).toContain(`fill="${RUNTIME_COLORS['ort-wasm-int8']}"`);
    // A second model whose breakdown lists the same families in another order: same colours.
    const second = structuredClone(r.cells[0]);
    second.model = 'tiny2';
    second.results.int8!.kernels = [
      { name: 'softmax-i8 16', ms: 5 },
      { name: 'gemm-i8[unpack] 16x384x128', ms: 1 },
    ];
    r.cells.push(second);
    r.models.push({ ...r.models[0], name: 'tiny2' });
    const two = renderHtml(r, renderMarkdown(r));
    const colorOf = (chart: string, family: string) =>
      chart.match(new RegExp(`fill="(#[0-9a-f]+)"><title>${family}:`))?.[1];
    const charts = two.split('GPU time per kernel family').slice(1);
    expect(charts).toHaveLength(2);
    for (const family of ['gemm-i8', 'softmax-i8']) {
      expect(colorOf(charts[0], family)).toBeDefined();
      expect(colorOf(charts[0], family)).toBe(colorOf(charts[1], family));
    }
    expect(colorOf(charts[0], 'gemm-i8')).not.toBe(colorOf(charts[0], 'softmax-i8'));
  });

  it('HTML: nothing wider than a 390 px phone outside a scroll box', () => {
    const html = renderHtml(fixture(), renderMarkdown(fixture()));
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    // Every table sits in a horizontally scrolling box; every plot scales down to the page width.
    expect(html.match(/<table>/g)!.length).toBe(html.match(/<div class="table-scroll"><table>/g)!.length);
    expect(html).toMatch(/\.table-scroll \{ overflow-x: auto;/);
    expect(html).toMatch(/svg \{[^}]*max-width: 100%; height: auto;/);
    for (const svg of html.match(/<svg [^>]*>/g)!) expect(svg).toMatch(/viewBox="0 0 \d+ \d+"/);
  });

  it('HTML: one offline page with inline SVG plots and the tables', () => {
    const html = renderHtml(fixture(), renderMarkdown(fixture()));
    expect(html.match(/<svg /g)!.length).toBeGreaterThanOrEqual(3);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    expect(html).toContain('<td>2.00x</td>');
  });

  it('log axes get 1-2-5 ticks', () => {
    expect(logTicks(3, 120)).toEqual([5, 10, 20, 50, 100]);
  });
});
