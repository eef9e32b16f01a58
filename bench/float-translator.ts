/**
 * Milliseconds per step of a float translator session on greedy translations of the first sentences
 * of a source file, at batch 1 and batch B (one source per sequence, beams 1): FloatTranslatorGpu
 * (float32, no cache, the whole encoder-decoder rerun every step), or with `--session cpu` the
 * incremental float64 FloatTranslatorCpu (no GPU asked for). `--cpu` adds greedyTranslateCpu (the
 * float64 whole pass rerun per token) for scale. Each batch runs once untimed (warm-up), then timed;
 * msPerToken is wall time (start included) per generated token, cpuMsPerToken this process's CPU
 * time per generated token (the figure that a loaded machine distorts less).
 *
 *   npx tsx bench/float-translator.ts [--model DIR] [--text FILE] [--batch B] [--max-new N] [--session gpu|cpu] [--cpu]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FloatTranslatorCpu } from '../src/cpu/float-translator.js';
import { requestGpu } from '../src/gpu/device.js';
import { loadMarianModel } from '../src/model/load.js';
import { greedyTranslateCpu, loadMarianTokenizer, marianGraph } from '../src/model/marian.js';
import { folderSource } from '../src/model/sources-node.js';
import { FloatTranslatorGpu } from '../src/runtime/float-translator.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const shared = fileURLToPath(new URL('../../shared/', import.meta.url));
const modelDir = arg('model', `${shared}models/multi30k-marian-en-de`);
const textFile = arg('text', `${shared}data/multi30k/test_2016_flickr.en`);
const batchSize = Number(arg('batch', '4'));
const maxNew = Number(arg('max-new', '60'));
const sessionKind = arg('session', 'gpu');
if (sessionKind !== 'gpu' && sessionKind !== 'cpu') throw new Error(`--session ${sessionKind}: gpu or cpu`);

const files = folderSource(modelDir);
const model = await loadMarianModel(files);
const { config } = model;
const graph = marianGraph(config);
const tokenizer = await loadMarianTokenizer(files, config);
const lines = readFileSync(textFile, 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l.length > 0);
const gpu = sessionKind === 'gpu' ? await requestGpu() : undefined;
const t0 = performance.now();
const session = gpu
  ? await FloatTranslatorGpu.create(gpu, model, graph, { capacity: maxNew, sequences: batchSize, sourceLength: 32 })
  : new FloatTranslatorCpu(model, graph, maxNew);
const createMs = performance.now() - t0;

/** Greedy as the tests run it (k = 2, pad banned, eos ends, forced eos at the limit); per-call times. */
async function greedy(sources: number[][]) {
  const times: { ms: number; length: number }[] = [];
  // This process's CPU time as well: on a shared machine wall time counts the other processes too.
  const cpu0 = process.cpuUsage();
  const done = sources.map(() => false);
  const out: number[][] = sources.map(() => []);
  let t = performance.now();
  let next = await session.start(sources, 1, 2);
  times.push({ ms: performance.now() - t, length: 1 });
  for (let n = 0; n < maxNew; n++) {
    if (next.kind !== 'candidates') throw new Error('candidates expected');
    const chosen = next.candidates.map((c, i) => {
      if (done[i]) return config.eosTokenId;
      if (n === maxNew - 1 && config.forcedEosTokenId !== undefined) return config.forcedEosTokenId;
      return c.ids[0] === config.padTokenId ? c.ids[1] : c.ids[0];
    });
    chosen.forEach((id, i) => {
      if (!done[i]) out[i].push(id);
      if (id === config.eosTokenId) done[i] = true;
    });
    if (done.every(Boolean) || n === maxNew - 1) break;
    t = performance.now();
    next = await session.step(chosen, 2);
    times.push({ ms: performance.now() - t, length: session.length });
  }
  const cpu = process.cpuUsage(cpu0);
  return { out, times, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const results: Record<string, unknown>[] = [];
for (const batch of [1, batchSize]) {
  const sources = lines.slice(0, batch).map((l) => tokenizer.encodeSource(l));
  await greedy(sources);
  const { out, times, cpuMs } = await greedy(sources);
  const generated = out.reduce((a, o) => a + o.length, 0);
  const steps = times.slice(1);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  results.push({
    batch,
    sourceTokens: sources.map((s) => s.length),
    outputTokens: out.map((o) => o.length),
    startMs: +times[0].ms.toFixed(1),
    steps: steps.length,
    msPerStep: +mean(steps.map((s) => s.ms)).toFixed(1),
    firstStepMs: +(steps[0]?.ms ?? 0).toFixed(1),
    lastStepMs: +(steps.at(-1)?.ms ?? 0).toFixed(1),
    msPerToken: +(times.reduce((a, s) => a + s.ms, 0) / generated).toFixed(1),
    cpuMsPerToken: +(cpuMs / generated).toFixed(1),
  });
}
let cpu: Record<string, unknown> | undefined;
if (args.includes('--cpu')) {
  const source = tokenizer.encodeSource(lines[0]);
  const t = performance.now();
  const ids = greedyTranslateCpu(model, source, { maxNewTokens: maxNew, graph });
  cpu = { tokens: ids.length, msPerToken: +((performance.now() - t) / ids.length).toFixed(1) };
}
session.dispose();
gpu?.destroy();
console.log(
  JSON.stringify(
    {
      model: modelDir,
      session: gpu ? 'FloatTranslatorGpu' : 'FloatTranslatorCpu (incremental float64)',
      adapter: gpu ? (gpu.adapter.isSoftware ? 'software' : 'hardware') : undefined,
      createMs: Math.round(createMs),
      results,
      greedyTranslateCpu: cpu,
    },
    null,
    2,
  ),
);
