/**
 * Generation benchmark: prefill (time to the first token) and per-token latency of greedy
 * generation, this project's INT8 (int8 KV cache) and FP32 (no cache) language models against
 * transformers.js (webgpu and wasm) on the ONNX twin, in headless Chromium, same prompt token ids;
 * and INT8's per-token latency against the cache length, split by GPU timestamps into attention
 * and the rest. Writes bench/results/generate.json and bench/results/generate.md.
 *
 *   npx tsx bench/generate.ts            default: prompts 16/128, batch 1/8, 32 new tokens, sweep 16..512
 *   npx tsx bench/generate.ts --quick    smoke test: prompt 16, batch 1, 8 new tokens, sweep 16/64
 *   options: --reps N (3)  --warmup N (1)  --prompts 16,128  --batches 1,8  --new-tokens 32
 *            --runtimes int8,fp32,tjs-webgpu,tjs-wasm  --sweep-lengths 16,32,...  --sweep-steps N (8)
 *            --sweep-replays N (3)  --sweep-batches 1  --fp32-sweep-max L (512)  --no-sweep
 *            --fp32-new-tokens N (8: our FP32 has no cache)  --budget-s S (45: timed seconds per cell and
 *            runtime; slower runtimes get fewer repetitions, at least one)
 *            --shared DIR (default ../shared)  --adapter hardware
 *
 * Models: ../shared's multi30k-gpt2-tiny (128 positions; the ONNX twin in its onnx/ folder is what
 * transformers.js runs) and a GPT-2 of the same sizes with 1024 positions and seeded random weights
 * (bench/generate-artifacts.ts), for what does not fit 128 positions: prompt 128 + 32 new tokens
 * and the cache-length sweep. It has no ONNX twin, so peers run on the shared model only.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { DEFAULT_LM_CALIBRATION } from '../src/calibrate/default-lm-calibration.js';
import { requestGpu } from '../src/gpu/device.js';
import { parseDecoderConfig } from '../src/model/config.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { folderSource } from '../src/model/sources-node.js';
import { launchChromium } from '../test/browser/chromium.js';
import { summarize } from './compare-stats.js';
import {
  ensureInt8Decoder,
  ensureRandomGpt2,
  longDocuments,
  RANDOM_GPT2_NAME,
  RANDOM_GPT2_SEED,
  RANDOM_GPT2_SIZES,
} from './generate-artifacts.js';
import type { GenModelUrls, LoadInfo, RunResult, SweepRequest } from './generate-page.js';
import {
  exactPrompts,
  GEN_RUNTIMES,
  type GenCell,
  type GenModel,
  type GenRuntimeId,
  planCells,
  powersOfTwo,
  stepTimings,
} from './generate-plan.js';
import { type CellResult, type GenerateResults, renderGenerateReport } from './generate-report.js';
import type { SweepResult } from './generate-sweep.js';
import { firstLine, machineFacts, openBenchPage, startBenchServer, urlOfPath as urlUnder } from './page-harness.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cacheDir = `${root}bench/.cache`;
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const numbers = (name: string, fallback: number[]) => opt(name)?.split(',').map(Number) ?? fallback;
const quick = flag('quick');
const reps = Number(opt('reps') ?? (quick ? 1 : 3));
const warmup = Number(opt('warmup') ?? 1);
const promptLens = numbers('prompts', quick ? [16] : [16, 128]);
const batches = numbers('batches', quick ? [1] : [1, 8]);
const newTokens = Number(opt('new-tokens') ?? (quick ? 8 : 32));
const runtimes = (opt('runtimes') ?? 'int8,fp32,tjs-webgpu,tjs-wasm').split(',') as GenRuntimeId[];
const sweep = !flag('no-sweep');
const sweepLengths = numbers('sweep-lengths', quick ? [16, 64] : powersOfTwo(16, 512));
const sweepSteps = Number(opt('sweep-steps') ?? (quick ? 3 : 8));
const sweepReplays = Number(opt('sweep-replays') ?? (quick ? 1 : 3));
const sweepBatches = numbers('sweep-batches', [1]);
const fp32SweepMax = Number(opt('fp32-sweep-max') ?? 512);
/** Our FP32 model reruns the whole sequence per token: fewer new tokens keep its cells in the time budget. */
const fp32NewTokens = Number(opt('fp32-new-tokens') ?? (quick ? 4 : 8));
/** Seconds of timed repetitions per (cell, runtime), from the warm-up's duration; at least one repetition. */
const budgetS = Number(opt('budget-s') ?? 45);
const tokensFor = (cell: GenCell, r: GenRuntimeId) =>
  r === 'fp32' ? Math.min(fp32NewTokens, cell.newTokens) : cell.newTokens;
const adapterKind = opt('adapter') === 'hardware' ? 'hardware' : 'swiftshader';
const shared = resolve(opt('shared') ?? fileURLToPath(new URL('../../shared', import.meta.url)));
const sharedModel = `${shared}/models/multi30k-gpt2-tiny`;
const hasShared = existsSync(`${sharedModel}/onnx/model.onnx`);
/** The shipped float16 copy: its tokenizer files are the shared model's. */
const builtInFolder = `${root}models/multi30k-gpt2-tiny`;
const SHARED_NAME = 'multi30k-gpt2-tiny';
const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

for (const r of runtimes)
  if (!(r in GEN_RUNTIMES)) throw new Error(`unknown runtime ${r} (known: ${Object.keys(GEN_RUNTIMES).join(', ')})`);

const urlOfPath = (path: string) => urlUnder(root, path);

async function main(): Promise<void> {
  const started = Date.now();
  const loadavgStart = os.loadavg();
  const tokenizerConfig = parseDecoderConfig(JSON.parse(readFileSync(`${builtInFolder}/config.json`, 'utf8')));
  const tokenizer = await loadDecoderTokenizer(folderSource(builtInFolder), tokenizerConfig);
  const lines = hasShared
    ? readFileSync(`${shared}/data/multi30k/test_2016_flickr.en`, 'utf8').split('\n').filter(Boolean)
    : [...DEFAULT_LM_CALIBRATION];
  if (!hasShared) log(`no ${sharedModel}/onnx: only the random 1024-position GPT-2 runs (ours only)`);
  const stream = tokenizer.encode(lines.join(' '));

  // Models and the INT8 file of the random one (converted on the Node adapter, cached).
  const randomFolder = ensureRandomGpt2(cacheDir, builtInFolder, log);
  const calibLines = hasShared
    ? readFileSync(`${shared}/data/multi30k/train.en`, 'utf8').split('\n').slice(0, 2000)
    : [...DEFAULT_LM_CALIBRATION];
  const gpu = await requestGpu();
  const randomI8t = await ensureInt8Decoder(
    gpu,
    RANDOM_GPT2_NAME,
    randomFolder,
    longDocuments(calibLines, 4, 700),
    cacheDir,
    log,
  );
  gpu.destroy();
  const models: (GenModel & { urls: GenModelUrls; source: string })[] = [];
  if (hasShared)
    models.push({
      name: SHARED_NAME,
      positions: 128,
      peers: true,
      source:
        '../shared/models/multi30k-gpt2-tiny (trained; INT8: the built-in models/multi30k-gpt2-tiny.i8t; FP32 and transformers.js: its float32 weights and ONNX twin)',
      urls: {
        name: SHARED_NAME,
        folder: `${urlOfPath(sharedModel)}/`,
        i8t: urlOfPath(`${root}models/multi30k-gpt2-tiny.i8t`),
      },
    });
  models.push({
    name: RANDOM_GPT2_NAME,
    positions: RANDOM_GPT2_SIZES.n_positions,
    peers: false,
    fallback: hasShared,
    source: `multi30k-gpt2-tiny's sizes (4 x 256, 4 heads, vocab 8000) with 1024 positions and seeded random weights (seed ${RANDOM_GPT2_SEED}, bench/generate-artifacts.ts), INT8 calibrated on 4 documents of 700 Multi30k words; no ONNX twin`,
    urls: { name: RANDOM_GPT2_NAME, folder: `${urlOfPath(randomFolder)}/`, i8t: urlOfPath(randomI8t) },
  });
  const { cells: plan, unfit } = planCells(models, { prompts: promptLens, batches, newTokens, runtimes });
  // Where the shared model cannot hold a prompt, the random one runs it (without peers).
  const cells: CellResult[] = plan.map((c) => ({ ...c, results: {} }));
  const prompts = new Map<GenCell, { ids: number[][]; texts: string[] }>(
    plan.map((c, i) => [cells[i], exactPrompts(stream, c.promptLen, c.batch, tokenizer)]),
  );

  const { server, base } = await startBenchServer(root, shared, 'bench/generate.html');
  const browser = await launchChromium(adapterKind);
  const loads: GenerateResults['loads'] = [];
  const sweeps: (SweepResult & { model: string })[] = [];
  let browserAdapter = '';
  const snapshot = (complete: boolean): GenerateResults => ({
    benchmark: 'generate',
    version: 1,
    date: new Date(started).toISOString(),
    mode: quick ? 'quick' : 'default',
    options: {
      reps,
      warmup,
      newTokens,
      prompts: promptLens,
      batches,
      runtimes,
      sweepLengths: sweep ? sweepLengths : [],
      sweepSteps,
      sweepReplays,
      sweepBatches,
      fp32SweepMax,
      fp32NewTokens,
      budgetS,
      adapter: adapterKind,
    },
    machine: machineFacts(browser, loadavgStart, browserAdapter),
    durationS: (Date.now() - started) / 1000,
    runtimeNames: Object.fromEntries(runtimes.map((r) => [r, GEN_RUNTIMES[r]])),
    models: models.map(({ urls: _u, ...m }) => m),
    loads,
    cells,
    unfit,
    sweeps,
    complete,
  });
  const partial =
    quick ||
    ['prompts', 'batches', 'runtimes', 'new-tokens', 'reps', 'fp32-new-tokens'].some((o) => opt(o) !== undefined);
  mkdirSync(`${root}bench/results`, { recursive: true });
  const out = `${root}bench/results/${partial ? 'generate-partial' : 'generate'}.json`;
  const save = (complete: boolean) => writeFileSync(out, JSON.stringify(snapshot(complete), null, 2));

  try {
    const pages = new Map<GenRuntimeId, Page>();
    for (const r of runtimes)
      pages.set(r, await openBenchPage(browser, `${base}/bench/generate.html`, r, '__genWarmImports', log));
    const loaded = new Set<string>();
    const keyOf = (model: string, r: GenRuntimeId) => `${model}/${r}`;
    for (const m of models)
      for (const r of runtimes) {
        if (!m.peers && (r === 'tjs-webgpu' || r === 'tjs-wasm')) continue;
        if (!plan.some((c) => c.model === m.name && c.runtimes.includes(r))) continue;
        const key = keyOf(m.name, r);
        try {
          const info: LoadInfo = await pages.get(r)!.evaluate((spec) => window.__genLoad(spec), {
            key,
            runtime: r,
            model: m.urls,
            wasmPath: '/node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/',
          });
          if (r === 'int8') browserAdapter = info.adapter;
          loads.push({ model: m.name, runtime: r, loadMs: info.loadMs, facts: info.facts, adapter: info.adapter });
          loaded.add(key);
          log(`${m.name} ${r}: loaded in ${info.loadMs.toFixed(0)} ms`);
        } catch (e) {
          loads.push({ model: m.name, runtime: r, error: firstLine(e) });
          log(`${m.name} ${r}: load failed: ${firstLine(e)}`);
        }
      }

    // Cell by cell (a cell's first run sizes each runtime's cache); within a cell, repetitions
    // take the runtimes in turn, each repetition starting one runtime later, so load changes on
    // the machine fall on all of them alike.
    for (const cell of cells) {
      const p = prompts.get(cell)!;
      const mine = cell.runtimes.filter((r) => loaded.has(keyOf(cell.model, r)));
      for (const r of cell.runtimes) if (!mine.includes(r)) cell.results[r] = { runs: [], error: 'model did not load' };
      const label = `${cell.model} prompt ${cell.promptLen} batch ${cell.batch}`;
      const runOnce = async (r: GenRuntimeId, tokens: number): Promise<RunResult> =>
        pages.get(r)!.evaluate((req) => window.__genRun(req), {
          key: keyOf(cell.model, r),
          ids: p.ids,
          texts: p.texts,
          newTokens: tokens,
        });
      const failed = new Set<GenRuntimeId>();
      const repsOf = new Map<GenRuntimeId, number>();
      for (const r of mine) {
        const tokens = tokensFor(cell, r);
        cell.results[r] = { runs: [], newTokens: tokens };
        try {
          let lastS = 0;
          for (let i = 0; i < warmup; i++) {
            const t0 = performance.now();
            await runOnce(r, tokens);
            lastS = (performance.now() - t0) / 1000;
          }
          // Slow runtimes get fewer repetitions: at least one, within the budget per cell.
          repsOf.set(r, Math.max(1, Math.min(reps, lastS > 0 ? Math.floor(budgetS / lastS) : reps)));
        } catch (e) {
          failed.add(r);
          cell.results[r]!.error = firstLine(e);
          log(`${label} ${r}: ${firstLine(e)}`);
        }
      }
      for (let rep = 0; rep < reps; rep++) {
        const order = mine
          .map((_, i) => mine[(i + rep) % mine.length])
          .filter((r) => !failed.has(r) && rep < (repsOf.get(r) ?? 0));
        for (const r of order) {
          const result = cell.results[r]!;
          const tokens = tokensFor(cell, r);
          try {
            const run = await runOnce(r, tokens);
            const { prefillMs, stepMs } = stepTimings(run.events, cell.batch, tokens);
            result.runs.push({ prefillMs, stepMs, totalMs: run.totalMs });
            result.tokens = run.tokens;
            if (run.memory) result.memory = run.memory;
            log(
              `${label} ${r} rep ${rep + 1}/${repsOf.get(r)}: prefill ${prefillMs.toFixed(0)} ms, ${stepMs.length ? summarize(stepMs).medianMs.toFixed(1) : '–'} ms/token (${tokens} new tokens)`,
            );
          } catch (e) {
            failed.add(r);
            result.error = firstLine(e);
            log(`${label} ${r}: ${firstLine(e)}`);
          }
        }
      }
      save(false);
    }

    if (sweep) {
      const random = models.find((m) => m.name === RANDOM_GPT2_NAME)!;
      for (const batch of sweepBatches)
        for (const r of ['int8', 'fp32'] as const) {
          if (!runtimes.includes(r)) continue;
          const lengths = r === 'fp32' ? sweepLengths.filter((l) => l <= fp32SweepMax) : sweepLengths;
          if (!lengths.length) continue;
          const req: SweepRequest = {
            runtime: r,
            model: random.urls,
            batch,
            stream: stream.slice(0, Math.max(...lengths) + 1),
            // INT8 steps from the prompt to the first length (its replay must be a step).
            promptLen: Math.max(1, lengths[0] - 1),
            lengths,
            steps: r === 'int8' ? sweepSteps : Math.max(1, Math.min(sweepSteps, 2)),
            replays: sweepReplays,
            padId: tokenizerConfig.eosTokenId,
          };
          log(`sweep: ${r} batch ${batch}, cache lengths ${lengths.join(', ')}`);
          try {
            sweeps.push({ model: random.name, ...(await pages.get(r)!.evaluate((q) => window.__genSweep(q), req)) });
          } catch (e) {
            sweeps.push({
              model: random.name,
              runtime: r,
              batch,
              promptLen: lengths[0],
              points: [],
              error: firstLine(e),
            });
            log(`sweep ${r} batch ${batch}: ${firstLine(e)}`);
          }
          save(false);
        }
    }
    for (const page of pages.values()) await page.close();
  } finally {
    await browser.close().catch(() => undefined);
    await server.close();
  }

  const results = snapshot(true);
  save(true);
  log(`written ${out} (${results.durationS.toFixed(0)} s)`);
  if (!partial) {
    const md = `${root}bench/results/generate.md`;
    writeFileSync(md, `${renderGenerateReport(results)}\n`);
    log(`written ${md}`);
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
