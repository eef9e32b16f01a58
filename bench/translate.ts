/**
 * Translation benchmark: sentences per second and time per generated token of greedy and beam-4
 * translation, batch 1 and 8, this project's INT8 (int8 self-attention cache, cross-attention K|V
 * kept per source) and FP32 (no cache) translation models against transformers.js (webgpu and
 * wasm) on the ONNX twin, in headless Chromium, same source token ids and same new-token limit; and
 * the GPU memory of our weights, self-attention cache and cross-attention K|V. Writes
 * bench/results/translate.json and bench/results/translate.md.
 *
 *   npx tsx bench/translate.ts            default: greedy and beam 4, batch 1 and 8
 *   npx tsx bench/translate.ts --quick    smoke test: greedy and beam 4 at batch 1, one repetition
 *   options: --reps N (3)  --warmup N (1)  --beams 1,4  --batches 1,8  --runtimes int8,fp32,tjs-webgpu,tjs-wasm
 *            --budget-s S (45: timed seconds per cell and runtime; slower runtimes get fewer repetitions,
 *            at least one, and skip the warm-up of a cell after a run longer than S)  --fp32-max-sequences N (8: our FP32 runs cells of at most N = batch x beams
 *            sequences)  --shared DIR (default ../shared)  --adapter hardware
 *
 * Model: ../shared/models/multi30k-marian-en-de (FP32: its float32 weights; transformers.js: its
 * onnx/ twin; INT8: converted from it, cached under bench/.cache). Sentences: the first 8
 * different lines of test_2016_flickr.en; batch 1 translates the first of them.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { parseMarianConfig } from '../src/model/config.js';
import { loadMarianTokenizer } from '../src/model/marian.js';
import { folderSource } from '../src/model/sources-node.js';
import { maxLengthOf } from '../src/translation-model.js';
import { launchChromium } from '../test/browser/chromium.js';
import { firstLine, machineFacts, openBenchPage, startBenchServer, urlOfPath } from './page-harness.js';
import { ensureInt8Translator, TRANSLATOR_CALIBRATION_LINES } from './translate-artifacts.js';
import type { TrLoadInfo, TrRunRequest, TrRunResult } from './translate-page.js';
import {
  cellFigures,
  newTokenLimit,
  pickSentences,
  planTranslateCells,
  TR_RUNTIMES,
  type TrRuntimeId,
  translatedTokens,
} from './translate-plan.js';
import { renderTranslateReport, type TranslateResults, type TrCellResult } from './translate-report.js';

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
const beams = numbers('beams', [1, 4]);
const batches = numbers('batches', quick ? [1] : [1, 8]);
const runtimes = (opt('runtimes') ?? 'int8,fp32,tjs-webgpu,tjs-wasm').split(',') as TrRuntimeId[];
const budgetS = Number(opt('budget-s') ?? 45);
const fp32MaxSequences = Number(opt('fp32-max-sequences') ?? 8);
const adapterKind = opt('adapter') === 'hardware' ? 'hardware' : 'swiftshader';
const shared = resolve(opt('shared') ?? fileURLToPath(new URL('../../shared', import.meta.url)));
const MODEL_NAME = 'multi30k-marian-en-de';
const folder = `${shared}/models/${MODEL_NAME}`;
const SENTENCES = 8;
const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

for (const r of runtimes)
  if (!(r in TR_RUNTIMES)) throw new Error(`unknown runtime ${r} (known: ${Object.keys(TR_RUNTIMES).join(', ')})`);

async function main(): Promise<void> {
  if (!existsSync(`${folder}/onnx/decoder_model_merged.onnx`))
    throw new Error(`${folder}/onnx: the ONNX twin is missing (the benchmark needs ../shared)`);
  const started = Date.now();
  const loadavgStart = os.loadavg();
  const config = parseMarianConfig(JSON.parse(readFileSync(`${folder}/config.json`, 'utf8')));
  const generation = JSON.parse(readFileSync(`${folder}/generation_config.json`, 'utf8'));
  const maxLength = Math.min(maxLengthOf(generation) ?? config.maxPositions, config.maxPositions);
  const tokenizer = await loadMarianTokenizer(folderSource(folder), config);
  const data = `${shared}/data/multi30k`;
  const sentences = pickSentences(readFileSync(`${data}/test_2016_flickr.en`, 'utf8').split('\n'), SENTENCES);
  const sourceIds = sentences.map((s) => tokenizer.encodeSource(s));
  const batchOf = (batch: number) => {
    if (batch > SENTENCES) throw new RangeError(`batch ${batch}: the benchmark has ${SENTENCES} sentences`);
    return { texts: sentences.slice(0, batch), ids: sourceIds.slice(0, batch) };
  };

  const calibration = readFileSync(`${data}/val.en`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, TRANSLATOR_CALIBRATION_LINES);
  // Only INT8 needs the conversion (minutes on the CPU the first time).
  const i8t = runtimes.includes('int8')
    ? await ensureInt8Translator(MODEL_NAME, folder, calibration, cacheDir, log)
    : `${cacheDir}/int8/${MODEL_NAME}.i8t`;

  const { cells: plan, skipped } = planTranslateCells({
    beams,
    batches,
    runtimes,
    fp32MaxSequences,
    maxNewTokens: (batch) =>
      newTokenLimit(
        batchOf(batch).ids.map((s) => s.length),
        maxLength,
      ),
  });
  const cells: TrCellResult[] = plan.map((c) => ({ ...c, results: {} }));

  const { server, base } = await startBenchServer(root, shared, 'bench/translate.html');
  const browser = await launchChromium(adapterKind);
  const loads: TranslateResults['loads'] = [];
  let browserAdapter = '';
  const snapshot = (complete: boolean): TranslateResults => ({
    benchmark: 'translate',
    version: 1,
    date: new Date(started).toISOString(),
    mode: quick ? 'quick' : 'default',
    options: { reps, warmup, beams, batches, runtimes, budgetS, fp32MaxSequences, adapter: adapterKind },
    machine: machineFacts(browser, loadavgStart, browserAdapter),
    durationS: (Date.now() - started) / 1000,
    runtimeNames: Object.fromEntries(runtimes.map((r) => [r, TR_RUNTIMES[r]])),
    model: {
      name: MODEL_NAME,
      source: `../shared/models/${MODEL_NAME} (INT8: converted from it with ${calibration.length} val.en lines, 'max' ranges, cached in bench/.cache; FP32: its float32 weights; transformers.js: its onnx/ twin)`,
      config: {
        encoderLayers: config.encoderLayers,
        decoderLayers: config.decoderLayers,
        hiddenSize: config.hiddenSize,
        heads: config.decoderHeads,
        vocabSize: config.vocabSize,
      },
    },
    sentences: sentences.map((text, i) => ({ text, sourceTokens: sourceIds[i].length })),
    loads,
    cells,
    skipped,
    complete,
  });
  const partial =
    quick || ['beams', 'batches', 'runtimes', 'reps', 'fp32-max-sequences'].some((o) => opt(o) !== undefined);
  mkdirSync(`${root}bench/results`, { recursive: true });
  const out = `${root}bench/results/${partial ? 'translate-partial' : 'translate'}.json`;
  const save = (complete: boolean) => writeFileSync(out, JSON.stringify(snapshot(complete), null, 2));

  try {
    const pages = new Map<TrRuntimeId, Page>();
    const loaded = new Set<TrRuntimeId>();
    for (const r of runtimes) {
      const page = await openBenchPage(browser, `${base}/bench/translate.html`, r, '__trWarmImports', log);
      pages.set(r, page);
      try {
        const info: TrLoadInfo = await page.evaluate((spec) => window.__trLoad(spec), {
          runtime: r,
          folder: `${urlOfPath(root, folder)}/`,
          i8t: urlOfPath(root, i8t),
          wasmPath: '/node_modules/@huggingface/transformers/node_modules/onnxruntime-web/dist/',
        });
        if (r === 'int8' || (r === 'fp32' && !browserAdapter)) browserAdapter = info.adapter;
        loads.push({
          runtime: r,
          loadMs: info.loadMs,
          facts: info.facts,
          adapter: info.adapter,
          fileBytes: info.fileBytes,
        });
        loaded.add(r);
        log(`${r}: loaded in ${info.loadMs.toFixed(0)} ms`);
      } catch (e) {
        loads.push({ runtime: r, error: firstLine(e) });
        log(`${r}: load failed: ${firstLine(e)}`);
      }
    }

    const lastRunS = new Map<TrRuntimeId, number>();
    // Cell by cell; within a cell, repetitions take the runtimes in turn, each repetition starting
    // one runtime later, so load changes on the machine fall on all of them alike.
    for (const cell of cells) {
      const { texts, ids } = batchOf(cell.batch);
      const mine = cell.runtimes.filter((r) => loaded.has(r));
      for (const r of cell.runtimes) if (!mine.includes(r)) cell.results[r] = { runs: [], error: 'model did not load' };
      const label = `${cell.beams === 1 ? 'greedy' : `beam ${cell.beams}`} batch ${cell.batch}`;
      const req: TrRunRequest = {
        texts,
        ids,
        numBeams: cell.beams,
        maxNewTokens: cell.maxNewTokens,
        padId: config.padTokenId,
      };
      const runOnce = (r: TrRuntimeId): Promise<TrRunResult> => pages.get(r)!.evaluate((q) => window.__trRun(q), req);
      const failed = new Set<TrRuntimeId>();
      const repsOf = new Map<TrRuntimeId, number>();
      for (const r of mine) {
        // A runtime whose last run took longer than the budget skips the warm-up: its earlier cells
        // compiled its pipelines, and what a first run adds is small against minutes of steps.
        const skipWarmup = (lastRunS.get(r) ?? 0) > budgetS;
        cell.results[r] = { runs: [], warmupRuns: skipWarmup ? 0 : warmup };
        try {
          let lastS = skipWarmup ? lastRunS.get(r)! : 0;
          for (let i = 0; i < (skipWarmup ? 0 : warmup); i++) {
            const t0 = performance.now();
            await runOnce(r);
            lastS = (performance.now() - t0) / 1000;
            lastRunS.set(r, lastS);
          }
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
          try {
            const run = await runOnce(r);
            lastRunS.set(r, run.totalMs / 1000);
            const tokens = run.rows.map((row) => translatedTokens(row, config.eosTokenId, config.decoderStartTokenId));
            const count = tokens.reduce((a, t) => a + t.length, 0);
            result.runs.push({ totalMs: run.totalMs, tokens: count });
            result.tokens = tokens;
            if (run.memory) result.memory = run.memory;
            log(
              `${label} ${r} rep ${rep + 1}/${repsOf.get(r)}: ${run.totalMs.toFixed(0)} ms, ${count} tokens, ${(run.totalMs / count).toFixed(1)} ms/token`,
            );
          } catch (e) {
            failed.add(r);
            result.error = firstLine(e);
            log(`${label} ${r}: ${firstLine(e)}`);
          }
        }
      }
      const f = cellFigures(cell.results.int8?.runs, cell.batch);
      if (f) log(`${label}: INT8 ${f.sentencesPerS.toFixed(2)} sentences/s`);
      save(false);
    }
    for (const page of pages.values()) await page.close();
  } finally {
    await browser.close().catch(() => undefined);
    await server.close();
  }

  const results = snapshot(true);
  save(true);
  log(`written ${out} (${results.durationS.toFixed(0)} s)`);
  const md = out.replace(/\.json$/, '.md');
  writeFileSync(md, `${renderTranslateReport(results)}\n`);
  log(`written ${md}`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
