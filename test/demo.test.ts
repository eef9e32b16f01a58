/**
 * The demo page (demo/, `npm start`) in headless Chromium on SwiftShader, served by Vite on
 * 127.0.0.1 like `npm start` serves it: the built-in model loads, typed reviews get the labels and
 * scores the library gives in Node (computed here, with loadModel), the kernel chart shows the kernel
 * families Node's profile of the same models has, the memory figures hold at least the activations of
 * the texts classified, and the page says what is wrong (no WebGPU, no adapter, a bad model folder)
 * instead of hanging. The generation panel loads the built-in GPT-2 on first use and streams INT8 and
 * FP32 continuations side by side; INT8's is the text the library gives in Node. The translation
 * panel does the same with the built-in Marian model, greedy and with 4 beams.
 */

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, formatMs } from '../demo/charts.js';
import type { DecoderConfig, EncoderConfig, MarianConfig } from '../src/core/types.js';
import { builtInModelUrl, type GenerationOptions, loadModel, type TextModel } from '../src/index.js';
import type { EncoderTokenizer } from '../src/model/tokenizer.js';
import { launchChromium, pipePageLogs } from './browser/chromium.js';
import { testGpu } from './gpu.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const floatTwin = `${root}models/sst2-bert-tiny`;
// Clear-cut reviews: the label each must get (in Node as in the page).
const REVIEWS = [
  { text: 'a gorgeous , witty , seductive movie .', label: 'POSITIVE' },
  { text: 'the worst film of the year , dull and lifeless .', label: 'NEGATIVE' },
];

/** The built-in model in Node, INT8 and FP32, as the library gives it outside the page. */
let nodeModels: Promise<{ int8: TextModel; fp32: TextModel }> | undefined;
function inNode(): Promise<{ int8: TextModel; fp32: TextModel }> {
  nodeModels ??= (async () => {
    const gpu = await testGpu();
    return { int8: await loadModel('default', { gpu }), fp32: await loadModel('default', { gpu, precision: 'fp32' }) };
  })();
  return nodeModels;
}

/** The built-in language model in Node, INT8: the text the page's INT8 column must show. */
let nodeGenerator: Promise<TextModel> | undefined;
function generatorInNode(): Promise<TextModel> {
  nodeGenerator ??= (async () => loadModel(builtInModelUrl('int8', 'generate'), { gpu: await testGpu() }))();
  return nodeGenerator;
}

/** The built-in translation model in Node, INT8: the German the page's INT8 column must show. */
let nodeTranslator: Promise<TextModel> | undefined;
function translatorInNode(): Promise<TextModel> {
  nodeTranslator ??= (async () => loadModel(builtInModelUrl('int8', 'translate'), { gpu: await testGpu() }))();
  return nodeTranslator;
}

let server: ViteDevServer;
let browser: Browser;
let scratch: string;

beforeAll(async () => {
  // As `npm start` does (vite demo --host 127.0.0.1): demo/ is the root, model files come from
  // ../models through Vite's /@fs/ (allowed: inside the workspace).
  server = await createServer({
    root: `${root}demo`,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null, fs: { allow: [root] } },
  });
  await server.listen();
  browser = await launchChromium();
  scratch = mkdtempSync(join(tmpdir(), 'demo-test-'));
});

afterAll(async () => {
  if (nodeModels) for (const m of Object.values(await nodeModels)) m.dispose();
  (await nodeGenerator)?.dispose();
  (await nodeTranslator)?.dispose();
  await browser?.close();
  await server?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function pageUrl(): string {
  const address = server.httpServer!.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://127.0.0.1:${port}/`;
}

let readyPage: Promise<Page> | undefined;

/**
 * The demo with its models loaded, opened once and shared by the tests that need it: loading
 * compiles every kernel on SwiftShader, which is most of this file's time.
 */
function loadedDemo(): Promise<Page> {
  readyPage ??= (async () => {
    const t0 = performance.now();
    // Records what the progress bar and status line showed while loading, for the first test.
    const page = await openDemo(() => {
      const log: { value: number; status: string }[] = [];
      (window as unknown as { __loadLog: typeof log }).__loadLog = log;
      document.addEventListener('DOMContentLoaded', () => {
        const progress = document.getElementById('progress') as HTMLProgressElement;
        const status = document.getElementById('status')!;
        const record = () => log.push({ value: progress.value, status: status.textContent ?? '' });
        new MutationObserver(record).observe(progress, { attributes: true });
        new MutationObserver(record).observe(status, { childList: true, characterData: true, subtree: true });
      });
    });
    // Generous: the machine running the tests may be busy with benchmarks as well.
    await page.waitForSelector('body[data-state="ready"]', { timeout: 150_000 });
    await waitForPredictions(page, await page.inputValue('#text'), 0, 90_000);
    console.log(
      `demo: models loaded and the first text classified after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return page;
  })();
  return readyPage;
}

/** Every URL each page requested, from before it loads (to tell what loads lazily). */
const requested = new WeakMap<Page, string[]>();

async function openDemo(init?: () => void): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  pipePageLogs(page, 'demo');
  const urls: string[] = [];
  requested.set(page, urls);
  page.on('request', (r) => urls.push(r.url()));
  if (init) await page.addInitScript(init);
  await page.goto(pageUrl());
  return page;
}

/** Waits until both panels show a result for exactly `text` (the page records what it classified). */
async function waitForPredictions(page: Page, text: string, afterRuns = 0, timeout = 60_000): Promise<void> {
  await page.waitForFunction(
    ([t, n]) =>
      Number(document.body.dataset.runs) > n &&
      !('busy' in document.body.dataset) &&
      ['pred-int8', 'pred-fp32'].every((id) => document.getElementById(id)?.dataset.text === t),
    [text, afterRuns] as const,
    { timeout, polling: 100 },
  );
}

/** Types `text` and asks for a classification by the button or by Ctrl+Enter in the text box. */
async function classify(page: Page, text: string, how: 'button' | 'keyboard'): Promise<void> {
  const runs = Number(await page.getAttribute('body', 'data-runs'));
  await page.fill('#text', text);
  if (how === 'keyboard') await page.press('#text', 'Control+Enter');
  else await page.click('#run');
  await waitForPredictions(page, text, runs);
}

async function panel(page: Page, id: string): Promise<{ label?: string; score: number; latencyMs: number }> {
  return page.$eval(`#${id}`, (e) => {
    const d = (e as HTMLElement).dataset;
    return { label: d.label, score: Number(d.score), latencyMs: Number(d.latencyMs) };
  });
}

interface GenerationColumn {
  state?: string;
  text?: string;
  error?: string;
  finishReason?: string;
  tokens: number;
  tokensPerSecond: number;
  kvCacheBytes?: number;
  kvBytesPerToken?: number;
  weightBytes: number;
  shown: { output: string; speed: string; kv: string; weights: string; error: string; errorVisible: boolean };
}

async function generationColumn(page: Page, precision: 'int8' | 'fp32'): Promise<GenerationColumn> {
  const raw = await page.$eval(`#gen-${precision}`, (e) => {
    const text = (name: string) => e.querySelector(`[data-field="${name}"]`)?.textContent ?? '';
    const error = e.querySelector<HTMLElement>('[data-field="error"]');
    return {
      data: { ...(e as HTMLElement).dataset },
      shown: {
        output: text('output'),
        speed: text('speed'),
        kv: text('kv'),
        weights: text('weights'),
        error: text('error'),
        errorVisible: !!error && !error.hidden,
      },
    };
  });
  const d = raw.data;
  const optional = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    state: d.state,
    text: d.text,
    error: d.error,
    finishReason: d.finishReason,
    tokens: Number(d.tokens ?? 0),
    tokensPerSecond: Number(d.tokensPerSecond ?? Number.NaN),
    kvCacheBytes: optional(d.kvCacheBytes),
    kvBytesPerToken: optional(d.kvBytesPerToken),
    weightBytes: Number(d.weightBytes ?? Number.NaN),
    shown: raw.shown,
  };
}

/** Fills the panel's boxes (empty string: an empty box), presses Generate and waits for the attempt to end. */
async function generateInPage(
  page: Page,
  boxes: { prompt: string; max: string; temperature?: string; topK?: string; seed?: string },
  timeout = 240_000,
  whileRunning?: () => Promise<void>,
): Promise<void> {
  await page.fill('#gen-prompt', boxes.prompt);
  await page.fill('#gen-max-tokens', boxes.max);
  await page.fill('#gen-temperature', boxes.temperature ?? '');
  await page.fill('#gen-top-k', boxes.topK ?? '');
  await page.fill('#gen-seed', boxes.seed ?? '');
  const runs = Number((await page.getAttribute('#generate-section', 'data-runs')) ?? 0);
  await page.click('#generate');
  await whileRunning?.();
  await page.waitForFunction((n) => Number(document.getElementById('generate-section')?.dataset.runs ?? 0) > n, runs, {
    timeout,
    polling: 100,
  });
}

const GEN_PROMPT = 'a man in a blue shirt';

interface TranslationColumn {
  state?: string;
  text?: string;
  error?: string;
  finishReason?: string;
  beams?: string;
  tokens: number;
  ms: number;
  tokensPerSecond: number;
  kvCacheBytes?: number;
  kvBytesPerToken?: number;
  crossKvBytes?: number;
  weightBytes: number;
  shown: {
    output: string;
    speed: string;
    kv: string;
    cross: string;
    weights: string;
    error: string;
    errorVisible: boolean;
  };
}

async function translationColumn(page: Page, precision: 'int8' | 'fp32'): Promise<TranslationColumn> {
  const raw = await page.$eval(`#tr-${precision}`, (e) => {
    const text = (name: string) => e.querySelector(`[data-field="${name}"]`)?.textContent ?? '';
    const error = e.querySelector<HTMLElement>('[data-field="error"]');
    return {
      data: { ...(e as HTMLElement).dataset },
      shown: {
        output: text('output'),
        speed: text('speed'),
        kv: text('kv'),
        cross: text('cross'),
        weights: text('weights'),
        error: text('error'),
        errorVisible: !!error && !error.hidden,
      },
    };
  });
  const d = raw.data;
  const optional = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return {
    state: d.state,
    text: d.text,
    error: d.error,
    finishReason: d.finishReason,
    beams: d.beams,
    tokens: Number(d.tokens ?? 0),
    ms: Number(d.ms ?? Number.NaN),
    tokensPerSecond: Number(d.tokensPerSecond ?? Number.NaN),
    kvCacheBytes: optional(d.kvCacheBytes),
    kvBytesPerToken: optional(d.kvBytesPerToken),
    crossKvBytes: optional(d.crossKvBytes),
    weightBytes: Number(d.weightBytes ?? Number.NaN),
    shown: raw.shown,
  };
}

/** Sets the panel's beams and token cap (empty string: an empty box), presses Translate and waits for the attempt to end. */
async function translateInPage(page: Page, boxes: { beams: '1' | '4'; max: string }, timeout = 300_000): Promise<void> {
  await page.selectOption('#tr-beams', boxes.beams);
  await page.fill('#tr-max-tokens', boxes.max);
  const runs = Number((await page.getAttribute('#translate-section', 'data-runs')) ?? 0);
  await page.click('#translate');
  await page.waitForFunction((n) => Number(document.getElementById('translate-section')?.dataset.runs ?? 0) > n, runs, {
    timeout,
    polling: 100,
  });
}

describe('demo page', () => {
  it('classifies typed reviews with INT8 and FP32, with kernel times and memory', { timeout: 300_000 }, async () => {
    const page = await loadedDemo();
    const t0 = performance.now();
    expect(await page.isVisible('#message')).toBe(false);

    // The load was shown: a progress bar that moved forward through both precisions, then a model line.
    const loadLog = await page.evaluate(
      () => (window as unknown as { __loadLog: { value: number; status: string }[] }).__loadLog,
    );
    const values = loadLog.map((l) => l.value);
    expect(Math.max(...values)).toBeGreaterThan(0.9);
    expect(values.filter((v) => v > 0).every((v, i, a) => i === 0 || v >= a[i - 1] - 1e-9)).toBe(true);
    expect(loadLog.some((l) => l.status.startsWith('INT8: '))).toBe(true);
    expect(loadLog.some((l) => l.status.startsWith('FP32: '))).toBe(true);
    expect(await page.textContent('#status')).toMatch(
      /BertForSequenceClassification, 2 layers x 128, labels NEGATIVE \/ POSITIVE/,
    );

    // Every control has a name a screen reader can say.
    const unnamed = await page.$$eval('button, textarea, input', (els) =>
      els
        .filter(
          (e) => !(e.getAttribute('aria-label') || (e as HTMLInputElement).labels?.length || e.textContent?.trim()),
        )
        .map((e) => e.outerHTML),
    );
    expect(unnamed).toEqual([]);

    const node = await inNode();
    for (const [i, review] of REVIEWS.entries()) {
      // Keyboard for one, button for the other: both must work.
      await classify(page, review.text, i === 0 ? 'keyboard' : 'button');
      console.log(`demo: "${review.text}" classified after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const a = await panel(page, 'pred-int8');
      const b = await panel(page, 'pred-fp32');
      const [n8] = await node.int8.classify(review.text);
      const [n32] = await node.fp32.classify(review.text);
      expect([n8.label, n32.label]).toEqual([review.label, review.label]);
      expect([a.label, b.label]).toEqual([n8.label, n32.label]);
      // The integer model is bit-exact on every WebGPU device, so its score is Node's to the last bit;
      // the float one may round differently in another WebGPU implementation.
      expect(a.score).toBe(n8.score);
      expect(Math.abs(b.score - n32.score)).toBeLessThan(1e-5);
      // Shown, not judged: timings belong to benchmarks.
      for (const id of ['pred-int8', 'pred-fp32']) {
        const { latencyMs } = await panel(page, id);
        expect(await page.textContent(`#${id} [data-field="latency"]`)).toBe(`latency ${formatMs(latencyMs)}`);
      }
      expect(await page.textContent('#pred-int8 [data-field="score"]')).toBe(`score ${(100 * n8.score).toFixed(1)}%`);
    }

    // Kernel chart: per-family bars for both precisions, INT8 with its integer GEMM, FP32 with its float one.
    const chart = await page.$$eval('#kernels .chart', (charts) =>
      charts.map((c) => ({
        precision: (c as HTMLElement).dataset.precision,
        totalMs: Number((c as HTMLElement).dataset.totalMs),
        families: Array.from(c.querySelectorAll<HTMLElement>('dt[data-family]')).map((d) => ({
          family: d.dataset.family!,
          ms: Number(d.dataset.ms),
        })),
        note: c.querySelector('.note')?.textContent ?? '',
      })),
    );
    expect(chart.map((c) => c.precision)).toEqual(['int8', 'fp32']);
    const lastText = REVIEWS.at(-1)!.text;
    for (const c of chart) {
      expect(c.note).toBe(''); // SwiftShader in Chromium offers 'timestamp-query'
      // Every kernel family the model dispatches (as Node's profile of the same model lists them), and the bars add up to the total.
      const profile = await node[c.precision as 'int8' | 'fp32'].profile(lastText);
      expect(c.families.map((f) => f.family).sort()).toEqual(profile.families.map((f) => f.family).sort());
      const sum = c.families.reduce((t, f) => t + f.ms, 0);
      expect(Math.abs(sum - c.totalMs)).toBeLessThan(1e-6 * Math.max(1, c.totalMs));
    }
    expect(chart[0].families.map((f) => f.family)).toContain('gemm-i8');
    expect(chart[1].families.some((f) => f.family.startsWith('gemm-f32'))).toBe(true);

    // Memory: integer weights are int8 (plus int32 biases and constants), so well under a third of float32.
    const memory = await page.$$eval('#memory dt[data-bytes]', (dts) =>
      Object.fromEntries(
        dts.map((d) => [
          `${(d as HTMLElement).dataset.precision} ${(d as HTMLElement).dataset.part}`,
          Number((d as HTMLElement).dataset.bytes),
        ]),
      ),
    );
    expect(Object.keys(memory).sort()).toEqual([
      'fp32 activations',
      'fp32 weights',
      'int8 activations',
      'int8 weights',
    ]);
    expect(memory['int8 weights']).toBeGreaterThan(1e6); // bert-tiny: 4.4M parameters
    expect(memory['int8 weights']).toBeLessThan(memory['fp32 weights'] / 3);
    expect(memory['fp32 weights']).toBeGreaterThan(4 * 4e6);
    // Activations are sized for the largest run so far: at least the attention scores (4 bytes each) of the last review.
    const { seqLen } = (node.int8.tokenizer as EncoderTokenizer).encodeBatch([lastText]);
    const scores = (node.int8.config as EncoderConfig).numHeads * seqLen * seqLen * 4;
    expect(memory['int8 activations']).toBeGreaterThanOrEqual(scores);
    expect(memory['fp32 activations']).toBeGreaterThanOrEqual(scores);
    expect(await page.textContent('#memory .note')).toMatch(/INT8 \/ FP32: weights 0\.\d+x/);

    mkdirSync(`${root}test-results`, { recursive: true });
    await page.screenshot({ path: `${root}test-results/demo.png`, fullPage: true });
  });

  it('says so when the browser has no WebGPU, and when there is no adapter', { timeout: 30_000 }, async () => {
    const noGpu = await openDemo(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    await noGpu.waitForSelector('body[data-state="error"]', { timeout: 10_000 });
    expect(await noGpu.isVisible('#message')).toBe(true);
    expect(await noGpu.textContent('#message')).toMatch(/WebGPU is not available in this browser/);
    expect(await noGpu.isDisabled('#run')).toBe(true);
    await noGpu.close();

    const noAdapter = await openDemo(() => {
      navigator.gpu.requestAdapter = async () => null;
    });
    await noAdapter.waitForSelector('body[data-state="error"]', { timeout: 10_000 });
    expect(await noAdapter.textContent('#message')).toMatch(/WebGPU is not usable here\.\s*\S/);
    await noAdapter.close();
  });

  it('shows the library error for a bad model folder and keeps the built-in model', { timeout: 300_000 }, async () => {
    const config = JSON.parse(readFileSync(`${floatTwin}/config.json`, 'utf8'));
    const folder = (name: string, files: Record<string, string | Buffer>) => {
      const dir = join(scratch, name);
      mkdirSync(dir, { recursive: true });
      for (const [f, data] of Object.entries(files)) writeFileSync(join(dir, f), data);
      copyFileSync(`${floatTwin}/tokenizer.json`, join(dir, 'tokenizer.json'));
      return dir;
    };
    const safetensors = readFileSync(`${floatTwin}/model.safetensors`);
    const cases = [
      {
        dir: folder('broken-config', { 'config.json': '{ "architectures": [', 'model.safetensors': safetensors }),
        expect: /config\.json/,
      },
      {
        dir: folder('unknown-architecture', {
          // GPT-2 loads now (as a language model): an architecture the library has no spec for.
          'config.json': JSON.stringify({ ...config, architectures: ['T5ForConditionalGeneration'], model_type: 't5' }),
          'model.safetensors': safetensors,
        }),
        expect: /T5ForConditionalGeneration is not supported/,
      },
      {
        dir: folder('damaged-safetensors', {
          'config.json': JSON.stringify(config),
          'model.safetensors': safetensors.subarray(0, 4096),
        }),
        expect: /safetensors/i,
      },
    ];

    const page = await loadedDemo();
    for (const c of cases) {
      const loads = Number(await page.getAttribute('body', 'data-loads'));
      await page.setInputFiles('#folder-input', c.dir);
      // The attempt ends, the error shows, the built-in model stays loaded and every control comes back.
      await page.waitForFunction((n) => Number(document.body.dataset.loads) > n, loads, {
        timeout: 30_000,
        polling: 100,
      });
      expect(await page.isVisible('#message')).toBe(true);
      expect(await page.getAttribute('body', 'data-state')).toBe('ready');
      const message = (await page.textContent('#message')) ?? '';
      expect(message).toMatch(/Could not load your model/);
      expect(message).toMatch(c.expect);
      expect(await page.textContent('#model-name')).toMatch(/built-in/);
      for (const id of ['#run', '#pick-folder', '#pick-files']) expect(await page.isEnabled(id)).toBe(true);
      console.log(`bad folder ${c.dir.split('/').pop()}: ${message.replace(/\s+/g, ' ')}`);
    }
    // Still classifies afterwards.
    await classify(page, REVIEWS[1].text, 'button');
    expect((await panel(page, 'pred-int8')).label).toBe('NEGATIVE');
  });

  it('loads a dropped .i8t file as INT8 alone, then goes back to the built-in model', {
    timeout: 300_000,
  }, async () => {
    const page = await loadedDemo();
    const loads = Number(await page.getAttribute('body', 'data-loads'));
    // A real drop, as far as a page can make one: a DataTransfer with a File, dispatched on the zone.
    await page.evaluate(async (url) => {
      const bytes = await (await fetch(url)).arrayBuffer();
      const data = new DataTransfer();
      data.items.add(new File([bytes], 'my-model.i8t'));
      const zone = document.getElementById('drop-zone')!;
      for (const type of ['dragenter', 'dragover', 'drop'])
        zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
    }, `/@fs${root}models/sst2-bert-tiny.i8t`);
    await page.waitForFunction((n) => Number(document.body.dataset.loads) > n, loads, {
      timeout: 30_000,
      polling: 100,
    });
    expect(await page.isVisible('#message')).toBe(false);
    expect(await page.textContent('#model-name')).toMatch(/my-model\.i8t/);
    await classify(page, REVIEWS[0].text, 'button');
    expect((await panel(page, 'pred-int8')).label).toBe('POSITIVE');
    expect(await page.textContent('#pred-fp32')).toMatch(/not available[\s\S]*only the integer model/);
    expect(await page.$$eval('#kernels .chart', (c) => c.map((e) => (e as HTMLElement).dataset.precision))).toEqual([
      'int8',
    ]);

    await page.click('#builtin');
    await page.waitForFunction((n) => Number(document.body.dataset.loads) > n + 1, loads, {
      timeout: 60_000,
      polling: 100,
    });
    expect(await page.textContent('#model-name')).toMatch(/built-in/);
    await classify(page, REVIEWS[1].text, 'keyboard');
    expect([(await panel(page, 'pred-int8')).label, (await panel(page, 'pred-fp32')).label]).toEqual([
      'NEGATIVE',
      'NEGATIVE',
    ]);
  });
  it('generates with INT8 and FP32 side by side, loading them on first use, INT8 as in Node', {
    timeout: 400_000,
  }, async () => {
    const page = await loadedDemo();
    const t0 = performance.now();
    // Lazy: the classifier is in use, and nothing of the language models has been fetched yet.
    const fetched = () => requested.get(page)!.filter((url) => url.includes('multi30k'));
    expect(requested.get(page)!.some((url) => url.includes('sst2-bert-tiny'))).toBe(true);
    expect(fetched()).toEqual([]);
    expect(await page.inputValue('#gen-prompt')).toBe(GEN_PROMPT);
    expect(await page.inputValue('#gen-max-tokens')).toBe('20');
    for (const p of ['int8', 'fp32'] as const) expect((await generationColumn(page, p)).state).toBe('idle');

    // Counts the pieces each column appends, to tell streaming from text set once at the end.
    await page.evaluate(() => {
      const appended: Record<string, number> = { int8: 0, fp32: 0 };
      (window as unknown as { __appended: typeof appended }).__appended = appended;
      for (const p of ['int8', 'fp32']) {
        new MutationObserver((records) => {
          for (const r of records) appended[p] += r.addedNodes.length;
        }).observe(document.querySelector(`#gen-${p} [data-field="output"]`)!, { childList: true });
      }
    });

    const greedy: GenerationOptions = { maxNewTokens: 6 };
    await generateInPage(page, { prompt: GEN_PROMPT, max: '6' });
    console.log(
      `demo: generation models loaded and 6 tokens generated after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(fetched().some((url) => url.endsWith('multi30k-gpt2-tiny.i8t'))).toBe(true);
    expect(fetched().some((url) => url.includes('multi30k-gpt2-tiny/model.safetensors'))).toBe(true);
    expect(await page.isVisible('#gen-message')).toBe(false);

    const node = await generatorInNode();
    const expected = await node.generate(GEN_PROMPT, greedy);
    const int8 = await generationColumn(page, 'int8');
    const fp32 = await generationColumn(page, 'fp32');
    console.log(`demo: INT8 "${int8.shown.output}" | FP32 "${fp32.shown.output}"`);
    for (const c of [int8, fp32]) {
      expect(c.state).toBe('done');
      expect(c.shown.errorVisible).toBe(false);
      expect(c.shown.output.trim()).not.toBe('');
      expect(c.shown.output).toBe(c.text);
      // Shown, not judged: a rate over the tokens after the first, as text and as a number.
      expect(c.tokensPerSecond).toBeGreaterThan(0);
      expect(c.shown.speed).toContain(`${c.tokensPerSecond.toFixed(1)} tokens/s`);
      expect(c.shown.weights).toContain(`weights ${formatBytes(c.weightBytes)}`);
    }
    // Greedy integer decoding is the same on every WebGPU device: Node's text and token count.
    expect(int8.text).toBe(expected.text);
    expect(int8.tokens).toBe(expected.tokens.length);
    expect(int8.finishReason).toBe(expected.finishReason);
    const appended = await page.evaluate(
      () => (window as unknown as { __appended: Record<string, number> }).__appended,
    );
    expect(appended.int8).toBeGreaterThanOrEqual(2);
    expect(appended.fp32).toBeGreaterThanOrEqual(2);

    // INT8 caches K and V as one byte per value, all layers; the page shows the model's own figures.
    const config = node.config as DecoderConfig;
    const m = node.memory();
    expect(int8.kvBytesPerToken).toBe(2 * config.numLayers * config.hiddenSize);
    expect(int8.kvBytesPerToken).toBe(m.kvBytesPerToken);
    expect(int8.kvCacheBytes).toBe(m.kvCacheBytes);
    expect(int8.shown.kv).toContain(`${formatBytes(int8.kvBytesPerToken!)} per token`);
    expect(int8.shown.kv).toContain(`${formatBytes(int8.kvCacheBytes!)} allocated`);
    // FP32 reruns the sequence: no cache to show, and it says so; its weights are float32.
    expect(fp32.kvCacheBytes).toBeUndefined();
    expect(fp32.shown.kv).toMatch(/^no KV cache \(recomputes the whole sequence/);
    expect(fp32.weightBytes).toBeGreaterThan(2 * int8.weightBytes);

    // Sampling options reach the model: seeded draws repeat, so INT8 is Node's text again.
    await generateInPage(page, { prompt: GEN_PROMPT, max: '6', temperature: '0.8', topK: '20', seed: '7' });
    const sampled = await node.generate(GEN_PROMPT, { maxNewTokens: 6, temperature: 0.8, topK: 20, seed: 7 });
    const int8Sampled = await generationColumn(page, 'int8');
    expect(int8Sampled.state).toBe('done');
    expect(int8Sampled.text).toBe(sampled.text);
    expect((await generationColumn(page, 'fp32')).state).toBe('done');

    mkdirSync(`${root}test-results`, { recursive: true });
    await page.screenshot({ path: `${root}test-results/demo-generate.png`, fullPage: true });
  });

  it('shows generation errors in the columns, and Stop ends a generation', { timeout: 300_000 }, async () => {
    const page = await loadedDemo(); // the language models are loaded by the previous test (or here)

    // The library's message, in both columns, never a blank.
    await generateInPage(page, { prompt: '', max: '6' });
    for (const p of ['int8', 'fp32'] as const) {
      const c = await generationColumn(page, p);
      expect(c.state).toBe('error');
      expect(c.shown.errorVisible).toBe(true);
      expect(c.shown.error).toMatch(/prompt 0 is empty/);
    }
    await generateInPage(page, { prompt: GEN_PROMPT, max: '6', topK: '5' });
    for (const p of ['int8', 'fp32'] as const)
      expect((await generationColumn(page, p)).shown.error).toMatch(/topK = 5 has no effect with greedy decoding/);
    await generateInPage(page, { prompt: GEN_PROMPT, max: '0' });
    expect((await generationColumn(page, 'int8')).shown.error).toMatch(/maxNewTokens = 0 must be an integer >= 1/);

    // Stop: FP32 (no cache) is far from 60 tokens when its first one arrives.
    const max = 60;
    await generateInPage(page, { prompt: GEN_PROMPT, max: String(max) }, 120_000, async () => {
      await page.waitForFunction(() => Number(document.getElementById('gen-fp32')?.dataset.tokens ?? 0) >= 1, null, {
        timeout: 60_000,
        polling: 50,
      });
      expect(await page.isEnabled('#gen-stop')).toBe(true);
      await page.click('#gen-stop');
    });
    const fp32 = await generationColumn(page, 'fp32');
    expect(fp32.state).toBe('stopped');
    expect(fp32.tokens).toBeGreaterThanOrEqual(1);
    expect(fp32.tokens).toBeLessThan(max);
    expect(fp32.shown.errorVisible).toBe(false);
    expect(fp32.shown.speed).toMatch(/^stopped/);
    expect(['stopped', 'done']).toContain((await generationColumn(page, 'int8')).state);
    expect(await page.isEnabled('#generate')).toBe(true);
    expect(await page.isDisabled('#gen-stop')).toBe(true);
  });
  it('translates with INT8 and FP32 side by side, loading them on first use, INT8 as in Node', {
    timeout: 600_000,
  }, async () => {
    const page = await loadedDemo();
    const t0 = performance.now();
    // Only what goes wrong from here on: earlier tests load bad folders on purpose.
    const errors: string[] = [];
    const onConsole = (m: { type(): string; text(): string }) => {
      if (m.type() === 'error') errors.push(m.text());
    };
    const onPageError = (e: Error) => errors.push(e.message);
    page.on('console', onConsole);
    page.on('pageerror', onPageError);
    try {
      // Lazy: nothing of the translation models has been fetched yet.
      const fetched = () => requested.get(page)!.filter((url) => url.includes('multi30k-marian'));
      expect(fetched()).toEqual([]);
      for (const p of ['int8', 'fp32'] as const) expect((await translationColumn(page, p)).state).toBe('idle');

      // The example picker fills the text box.
      const examples = await page.$$eval('#tr-example option', (options) =>
        options.map((o) => (o as HTMLOptionElement).value).filter((v) => v !== ''),
      );
      expect(examples.length).toBeGreaterThanOrEqual(3);
      expect(await page.inputValue('#tr-text')).toBe(examples[0]);
      const sentence = examples[1];
      await page.selectOption('#tr-example', sentence);
      expect(await page.inputValue('#tr-text')).toBe(sentence);

      // Counts the pieces each column appends, to tell streaming from text set once at the end.
      await page.evaluate(() => {
        const appended: Record<string, number> = { int8: 0, fp32: 0 };
        (window as unknown as { __trAppended: typeof appended }).__trAppended = appended;
        for (const p of ['int8', 'fp32']) {
          new MutationObserver((records) => {
            for (const r of records) appended[p] += r.addedNodes.length;
          }).observe(document.querySelector(`#tr-${p} [data-field="output"]`)!, { childList: true });
        }
      });

      await translateInPage(page, { beams: '1', max: '6' });
      console.log(
        `demo: translation models loaded and one sentence translated after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
      expect(fetched().some((url) => url.endsWith('multi30k-marian-en-de.i8t'))).toBe(true);
      expect(fetched().some((url) => url.includes('multi30k-marian-en-de/model.safetensors'))).toBe(true);
      expect(await page.isVisible('#tr-message')).toBe(false);

      const node = await translatorInNode();
      const expected = await node.translate(sentence, { maxNewTokens: 6 });
      const int8 = await translationColumn(page, 'int8');
      const fp32 = await translationColumn(page, 'fp32');
      console.log(
        `demo: "${sentence}" -> INT8 "${int8.shown.output}" (${int8.shown.speed}) | FP32 "${fp32.shown.output}" (${fp32.shown.speed})`,
      );
      for (const c of [int8, fp32]) {
        expect(c.state).toBe('done');
        expect(c.shown.errorVisible).toBe(false);
        expect(c.shown.output.trim()).not.toBe('');
        expect(c.shown.output).toBe(c.text);
        expect(c.tokens).toBeGreaterThanOrEqual(1);
        expect(c.tokens).toBeLessThanOrEqual(6);
        // Shown, not judged: the sentence's time and its rate, as text and as numbers.
        expect(c.ms).toBeGreaterThan(0);
        expect(c.shown.speed).toContain(`${formatMs(c.ms)} for the sentence`);
        expect(c.shown.speed).toContain(`${c.tokensPerSecond.toFixed(1)} tokens/s`);
        expect(c.shown.weights).toContain(`weights ${formatBytes(c.weightBytes)}`);
      }
      // Greedy integer decoding is the same on every WebGPU device: Node's German and tokens.
      expect(int8.text).toBe(expected.text);
      expect(int8.tokens).toBe(expected.tokens.length);
      expect(int8.finishReason).toBe(expected.finishReason);
      const appended = await page.evaluate(
        () => (window as unknown as { __trAppended: Record<string, number> }).__trAppended,
      );
      expect(appended.int8).toBeGreaterThanOrEqual(2);
      expect(appended.fp32).toBeGreaterThanOrEqual(2);

      // INT8 caches the decoder's K and V as one byte per value, every decoder layer, and keeps the
      // sentence's cross-attention K and V; the page shows the model's own figures.
      const config = node.config as MarianConfig;
      expect(int8.kvBytesPerToken).toBe(2 * config.decoderLayers * config.hiddenSize);
      expect(int8.kvBytesPerToken).toBe(node.memory().kvBytesPerToken);
      expect(int8.shown.kv).toContain(`${formatBytes(int8.kvBytesPerToken!)} per token`);
      expect(int8.shown.kv).toContain(`${formatBytes(int8.kvCacheBytes!)} allocated`);
      expect(int8.crossKvBytes).toBeGreaterThan(0);
      expect(int8.shown.cross).toContain(`${formatBytes(int8.crossKvBytes!)} allocated`);
      // FP32 reruns everything: no cache to show, and it says so; its weights are float32.
      expect(fp32.kvCacheBytes).toBeUndefined();
      expect(fp32.shown.kv).toMatch(/^no KV cache \(reruns the encoder and decoder/);
      expect(fp32.weightBytes).toBeGreaterThan(2 * int8.weightBytes);

      // Beam search: the text comes at the end; INT8's search is integer, so it is Node's again.
      await translateInPage(page, { beams: '4', max: '6' });
      const beam = await node.translate(sentence, { maxNewTokens: 6, numBeams: 4 });
      const int8Beam = await translationColumn(page, 'int8');
      const fp32Beam = await translationColumn(page, 'fp32');
      console.log(`demo: 4 beams: INT8 "${int8Beam.text}" | FP32 "${fp32Beam.text}"`);
      for (const c of [int8Beam, fp32Beam]) {
        expect(c.state).toBe('done');
        expect(c.beams).toBe('4');
        expect(c.shown.output.trim()).not.toBe('');
        expect(c.shown.speed).toContain('best of 4 beams');
      }
      expect(int8Beam.text).toBe(beam.text);
      mkdirSync(`${root}test-results`, { recursive: true });
      await page.locator('#translate-section').screenshot({ path: `${root}test-results/demo-translate.png` });

      // The library's message, in both columns, never a blank; the controls come back.
      await translateInPage(page, { beams: '1', max: '0' });
      for (const p of ['int8', 'fp32'] as const) {
        const c = await translationColumn(page, p);
        expect(c.state).toBe('error');
        expect(c.shown.errorVisible).toBe(true);
        expect(c.shown.error).toMatch(/maxNewTokens = 0 must be an integer/);
      }
      expect(await page.isEnabled('#translate')).toBe(true);
      expect(await page.isDisabled('#tr-stop')).toBe(true);

      expect(errors).toEqual([]);
    } finally {
      page.off('console', onConsole);
      page.off('pageerror', onPageError);
    }
  });
});
