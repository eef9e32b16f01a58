/**
 * Peer benchmark: this project's INT8 and FP32 encoders against onnxruntime-web (webgpu and wasm
 * execution providers) and transformers.js, in headless Chromium, on the same weights and the same
 * token ids; the peers in fp32 and on their own int8 path (a dynamic-quantized twin of the ONNX
 * model that the bench makes, bench/onnx-quantize.ts: ORT wasm on it, transformers.js dtype 'q8').
 * Load time and the first forward after loading are recorded for every runtime. Writes
 * bench/results/compare.json, bench/results/report.html and docs/benchmarks.md.
 *
 *   npx tsx bench/compare.ts            default grid; on a software adapter, cells over the budget are skipped
 *   npx tsx bench/compare.ts --quick    smoke test: one small model, seq 16, batch 1, 2 runs; writes
 *                                       bench/results/compare-quick.json, benchmarks-quick.md, report-quick.html
 *   npx tsx bench/compare.ts --full     every cell (a real GPU: add --adapter hardware)
 *   options: --budget-gop N  --runs N  --warmup N  --models a,b  --runtimes int8,fp32,...  --seqs 16,64  --batches 1,8
 *            --calib N (INT8 calibration sentences, 32)  --no-profile  --adapter hardware  --shared DIR (default ../shared;
 *            without it only the bench's own random BERT-base runs, on the built-in sentences)
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { DEFAULT_CALIBRATION } from '../src/calibrate/default-calibration.js';
import { parseGlueTsv } from '../src/data/glue.js';
import { requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { parseConfig } from '../src/model/config.js';
import { folderSource } from '../src/model/sources-node.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { launchChromium, pipePageLogs } from '../test/browser/chromium.js';
import { ensureInt8Model, ensureQuantizedTwin, ensureRandomBertBase, RANDOM_SEED } from './compare-artifacts.js';
import {
  DEFAULT_SOFTWARE_BUDGET_GOP,
  type ModelShape,
  planGrid,
  RANDOM_BERT_BASE,
  SHARED_MODELS,
  shapeOf,
} from './compare-grid.js';
import type { PageCell, PageResult, PageSpec } from './compare-page.js';
import {
  type CellResult,
  type CompareResults,
  type ModelInfo,
  type RuntimeLoad,
  ratiosFor,
} from './compare-results.js';
import { summarize } from './compare-stats.js';
import { fillBatch } from './compare-tokens.js';
import { type BenchBatch, RUNTIME_DTYPES, RUNTIMES, type RuntimeId } from './peers/runtime.js';
import { renderAll } from './report.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const cacheDir = `${root}bench/.cache`;
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('quick');
const full = flag('full');
const mode: CompareResults['mode'] = quick ? 'quick' : full ? 'full' : 'default';
const runs = Number(opt('runs') ?? (quick ? 2 : 5));
const warmup = Number(opt('warmup') ?? 1);
const budgetGop = Number(opt('budget-gop') ?? DEFAULT_SOFTWARE_BUDGET_GOP);
const calibCount = Number(opt('calib') ?? 32);
const adapterKind = opt('adapter') === 'hardware' ? 'hardware' : 'swiftshader';
const runtimes = (
  opt('runtimes') ?? 'int8,fp32,ort-webgpu,ort-wasm,ort-wasm-int8,tjs-webgpu,tjs-wasm,tjs-webgpu-q8,tjs-wasm-q8'
).split(',') as RuntimeId[];
// The shared checkpoints and SST-2 text live in ../shared; a fresh clone without it still runs the
// bench's own BERT-base (tokenizer from the built-in model, text from the built-in sentences).
const shared = resolve(opt('shared') ?? fileURLToPath(new URL('../../shared', import.meta.url)));
const hasShared = existsSync(`${shared}/models`);
const modelNames = (
  opt('models') ?? (hasShared ? [...SHARED_MODELS, RANDOM_BERT_BASE] : [RANDOM_BERT_BASE]).join(',')
).split(',');
const profile = !flag('no-profile');
const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

for (const r of runtimes)
  if (!(r in RUNTIMES)) throw new Error(`unknown runtime ${r} (known: ${Object.keys(RUNTIMES).join(', ')})`);

async function startServer(): Promise<ViteDevServer> {
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    // Pre-bundled at start, so discovering them mid-run cannot trigger a page reload.
    optimizeDeps: { include: ['onnxruntime-web/webgpu', '@huggingface/transformers'], entries: ['bench/compare.html'] },
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      fs: { allow: [root, shared] },
      // Cross-origin isolation gives the wasm runtimes SharedArrayBuffer, hence threads.
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    },
  });
  await server.listen();
  return server;
}

function serverUrl(server: ViteDevServer): string {
  const address = server.httpServer!.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** Files are served by path: the repository from /, ../shared through Vite's /@fs/. */
const urlOfPath = (path: string) => (path.startsWith(root) ? `/${path.slice(root.length)}` : `/@fs${path}`);

/**
 * Vite optimizes dependencies as pages discover them, and a page that imports a module from before
 * an optimization fails (HTTP 504 "Outdated Optimize Dep"). Import every peer once, retrying after
 * a reload, before the first timed page.
 */
async function warmServer(browser: Browser, base: string): Promise<void> {
  const page = await browser.newPage();
  try {
    for (let attempt = 1; ; attempt++) {
      await page.goto(`${base}/bench/compare.html`);
      await page.waitForFunction(() => typeof window.__warmImports === 'function', null, { timeout: 120_000 });
      try {
        await page.evaluate(() => window.__warmImports());
        return;
      } catch (e) {
        if (attempt >= 4) throw e;
        log(`warming the server: ${(e as Error).message.split('\n')[0]}; retrying`);
        await new Promise((r) => setTimeout(r, 3000));
      }
    }
  } finally {
    await page.close();
  }
}

async function runPage(browser: Browser, base: string, spec: PageSpec): Promise<PageResult> {
  const page = await browser.newPage();
  pipePageLogs(page, `${spec.model.name} ${spec.runtime}`);
  page.on('console', (m) => {
    if (m.type() === 'info' && m.text().startsWith('[compare]') && /run \d|warm-up/.test(m.text()))
      process.stderr.write(`\r${m.text().slice(10).padEnd(90)}`);
  });
  try {
    await page.goto(`${base}/bench/compare.html`);
    await page.waitForFunction(() => typeof window.__startCompare === 'function', null, { timeout: 120_000 });
    await page.evaluate((s) => window.__startCompare(s), spec);
    await page.waitForFunction(() => window.__compare?.done, null, { timeout: 3_600_000, polling: 1000 });
    return await page.evaluate(() => window.__compare);
  } catch (e) {
    return { done: true, cells: [], error: `page failed: ${(e as Error).message.split('\n')[0]}` };
  } finally {
    process.stderr.write('\n');
    await page.close();
  }
}

function maxAbsDiff(a: number[], b: number[]): number | undefined {
  if (!a.length || a.length !== b.length) return undefined;
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
}

async function main(): Promise<void> {
  const needShared = modelNames.filter((m) => m !== RANDOM_BERT_BASE);
  if (!hasShared && needShared.length)
    throw new Error(
      `${needShared.join(', ')} need ${shared}/models (pass --shared <dir>, or leave --models out to run the bench's own BERT-base)`,
    );
  if (!hasShared) log(`no ${shared}: running only the bench's own random BERT-base, on the built-in sentences`);
  const started = Date.now();
  const loadavgStart = os.loadavg();
  const gpu = await requestGpu();
  const nodeAdapter = formatDeviceReport(gpu);
  log(
    `Node adapter: ${gpu.adapter.description || gpu.adapter.vendor} (software: ${gpu.adapter.isSoftware}); mode ${mode}`,
  );

  const sentences = hasShared
    ? parseGlueTsv(readFileSync(`${shared}/data/glue/sst2/dev.tsv`, 'utf8')).rows.map((r) => r.input as string)
    : [...DEFAULT_CALIBRATION];
  const calibration = (
    hasShared
      ? parseGlueTsv(readFileSync(`${shared}/data/glue/sst2/train_calib1000.tsv`, 'utf8')).rows.map(
          (r) => r.input as string,
        )
      : [...DEFAULT_CALIBRATION]
  ).slice(0, calibCount);
  const tokenizerFolder = hasShared ? `${shared}/models/sst2-bert-tiny` : `${root}models/sst2-bert-tiny`;

  // Models: folders, shapes, INT8 files.
  const chosen = quick ? modelNames.slice(0, 1) : modelNames;
  const models: (ModelInfo & { folder: string; i8t: string; quantizedFolder: string })[] = [];
  for (const name of chosen) {
    const random = name === RANDOM_BERT_BASE;
    const folder = random ? ensureRandomBertBase(cacheDir, tokenizerFolder, log) : `${shared}/models/${name}`;
    const config = parseConfig(JSON.parse(readFileSync(`${folder}/config.json`, 'utf8')), `${folder}/config.json`);
    const i8t = await ensureInt8Model(gpu, name, folder, calibration, cacheDir, log);
    const quantizedFolder = ensureQuantizedTwin(cacheDir, name, folder, log);
    models.push({
      name,
      folder,
      i8t,
      quantizedFolder,
      source: random
        ? `seeded random weights (seed ${RANDOM_SEED}), written by bench/random-bert.ts`
        : `../shared/models/${name}`,
      architecture: config.architecture,
      shape: shapeOf(config),
      heads: config.numHeads,
      tokenTypes: config.typeVocabSize > 0,
      files: {
        safetensorsBytes: statSync(`${folder}/model.safetensors`).size,
        onnxBytes: statSync(`${folder}/onnx/model.onnx`).size,
        i8tBytes: statSync(i8t).size,
        int8OnnxBytes: statSync(`${quantizedFolder}/onnx/model_quantized.onnx`).size,
      },
    });
  }
  gpu.destroy();

  const grid = planGrid(
    models.map((m) => ({ name: m.name, shape: m.shape as ModelShape })),
    {
      full,
      quick,
      budgetGop,
      seqLengths: opt('seqs')?.split(',').map(Number),
      batchSizes: opt('batches')?.split(',').map(Number),
      softwareAdapter: adapterKind === 'swiftshader' || nodeAdapter.includes('software emulation  yes'),
    },
  );
  for (const c of grid)
    log(
      `${c.model} seq ${c.seqLen} batch ${c.batch}: ${c.estimatedGop.toFixed(2)} GOP${c.skipped ? `, skipped: ${c.skipped}` : ''}`,
    );

  const server = await startServer();
  const browser = await launchChromium(adapterKind);
  const base = serverUrl(server);
  const chromium = browser.version();
  const loads: RuntimeLoad[] = [];
  const cells: CellResult[] = grid.map((c) => ({ ...c, results: {} }));
  let browserAdapter = '';
  const snapshot = (complete: boolean): CompareResults => ({
    benchmark: 'compare',
    version: 1,
    date: new Date(started).toISOString(),
    mode,
    options: { runs, warmup, budgetGop, calibrationSentences: calibCount, runtimes, profile, adapter: adapterKind },
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      memoryBytes: os.totalmem(),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.version,
      chromium,
      loadavgStart,
      loadavgEnd: os.loadavg(),
      nodeAdapter,
      browserAdapter,
    },
    durationS: (Date.now() - started) / 1000,
    runtimeNames: Object.fromEntries(runtimes.map((r) => [r, RUNTIMES[r]])),
    runtimeDtypes: Object.fromEntries(runtimes.map((r) => [r, RUNTIME_DTYPES[r]])),
    models: models.map(({ folder: _f, i8t: _i, quantizedFolder: _q, ...m }) => m),
    loads,
    cells,
    complete,
  });
  mkdirSync(`${root}bench/results`, { recursive: true });
  // Development runs with a chosen subset never replace the published results; the quick run has
  // files of its own, report included.
  const partial = !quick && ['models', 'runtimes', 'seqs', 'batches'].some((o) => opt(o) !== undefined);
  const out = `${root}bench/results/${quick ? 'compare-quick' : partial ? 'compare-partial' : 'compare'}.json`;
  // Written after every model, so an interrupted run still leaves what it measured.
  const save = (complete: boolean) => writeFileSync(out, JSON.stringify(snapshot(complete), null, 2));
  try {
    await warmServer(browser, base);
    for (const model of models) {
      const config = parseConfig(JSON.parse(readFileSync(`${model.folder}/config.json`, 'utf8')));
      const tokenizer = await loadTokenizer(folderSource(model.folder), config);
      const mine = cells.filter((c) => c.model === model.name && !c.skipped);
      if (!mine.length) continue;
      const batches = new Map<CellResult, BenchBatch>(
        mine.map((c) => [c, fillBatch(tokenizer, sentences, c.seqLen, c.batch)]),
      );
      const pageCells: PageCell[] = mine.map((c) => ({ batch: batches.get(c)!, warmup, runs }));
      for (const runtime of runtimes) {
        log(`${model.name}: ${runtime} (${mine.length} cells)`);
        const spec: PageSpec = {
          runtime,
          model: {
            name: model.name,
            folder: `${urlOfPath(model.folder)}/`,
            i8t: urlOfPath(model.i8t),
            quantizedFolder: `${urlOfPath(model.quantizedFolder)}/`,
            quantizedBytes: model.files.int8OnnxBytes,
            tokenTypes: model.tokenTypes,
          },
          cells: pageCells,
          profile,
          wasmPaths: {
            ort: '/node_modules/onnxruntime-web/dist/',
            tjs: '/node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/',
          },
        };
        const result = await runPage(browser, base, spec);
        if (runtime === 'int8' && result.adapter) browserAdapter = result.adapter;
        loads.push({
          model: model.name,
          runtime,
          loadMs: result.loadMs,
          firstRunMs: result.firstRunMs,
          firstRunCell: { seqLen: mine[0].seqLen, batch: mine[0].batch },
          memory: result.memory,
          facts: result.facts,
          adapter: result.adapter,
          error: result.error,
        });
        if (result.error) log(`${model.name} ${runtime}: ${result.error}`);
        mine.forEach((cell, i) => {
          const r = result.cells[i];
          if (!r) {
            cell.results[runtime] = { runsMs: [], logits: [], error: result.error ?? 'not run' };
            return;
          }
          cell.results[runtime] = { ...r, ...(r.runsMs.length ? summarize(r.runsMs) : {}) };
          const s = cell.results[runtime]!;
          log(
            `  seq ${cell.seqLen} batch ${cell.batch}: ${s.medianMs !== undefined ? `median ${s.medianMs.toFixed(1)} ms` : `error: ${r.error}`}`,
          );
        });
      }
      // Logit agreement with our float model, per cell: all runtimes must compute the same model.
      for (const cell of mine) {
        const ref = cell.results.fp32?.logits ?? [];
        for (const r of Object.values(cell.results)) if (r) r.maxAbsLogitDiffVsFp32 = maxAbsDiff(r.logits, ref);
        cell.ratios = ratiosFor(cell);
      }
      save(false);
    }
  } finally {
    await browser.close().catch(() => undefined);
    await server.close();
  }

  const results = snapshot(true);
  save(true);
  log(`written ${out} (${results.durationS.toFixed(0)} s)`);
  // A partial grid (development runs) never replaces the published report; the quick run writes its own.
  if (quick) for (const f of renderAll(results, root, { suffix: '-quick' })) log(`written ${f}`);
  else if (!partial) for (const f of renderAll(results, root)) log(`written ${f}`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
