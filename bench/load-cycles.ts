/**
 * Native memory over loadModel() / dispose() cycles of the built-in model in Node (Dawn on
 * SwiftShader here): RSS and process.memoryUsage() external / arrayBuffers after each cycle, taken
 * after a forced GC and a short idle so that finalizers and Dawn's deferred frees have run. Each
 * cycle loads, classifies one text and disposes.
 *
 *   node --expose-gc --import tsx bench/load-cycles.ts [--cycles 100] [--mode default|own-device|caller-gpu]
 *
 * Modes: `default` is loadModel() as a user calls it; `own-device` forces a device per model
 * (loadModel's `shareDevice: false`), the behaviour before devices were shared; `caller-gpu` passes one
 * Gpu made by the caller to every load. Results go to bench/results/load-cycles.json (one entry per
 * mode; a run replaces its mode's entry).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadModel, requestGpu } from '../src/index.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const cycles = Number(arg('cycles', '100'));
const mode = arg('mode', 'default') as 'default' | 'own-device' | 'caller-gpu';
if (!['default', 'own-device', 'caller-gpu'].includes(mode)) throw new Error(`unknown --mode ${mode}`);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (see the header)');

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function settle(): Promise<{ rss: number; external: number; arrayBuffers: number; heapUsed: number }> {
  // Two GC passes around an idle: FinalizationRegistry callbacks (webgpu's buffer tracking) run
  // between them, and Dawn frees destroyed objects on its next tick.
  gc!();
  await sleep(50);
  gc!();
  const m = process.memoryUsage();
  return { rss: m.rss / MB, external: m.external / MB, arrayBuffers: m.arrayBuffers / MB, heapUsed: m.heapUsed / MB };
}

const callerGpu = mode === 'caller-gpu' ? await requestGpu() : undefined;
const samples: { cycle: number; rss: number; external: number; arrayBuffers: number; heapUsed: number; ms: number }[] =
  [];
const start = await settle();
console.log(`mode ${mode}, ${cycles} cycles; before: rss ${start.rss.toFixed(1)} MB`);
for (let cycle = 1; cycle <= cycles; cycle++) {
  const t = performance.now();
  const model = await loadModel(
    'default',
    callerGpu ? { gpu: callerGpu } : mode === 'own-device' ? { shareDevice: false } : {},
  );
  const [p] = await model.classify('a gorgeous , witty , seductive movie .');
  if (p.label !== 'POSITIVE') throw new Error(`cycle ${cycle}: got ${p.label}`);
  model.dispose();
  const ms = performance.now() - t;
  const m = await settle();
  samples.push({ cycle, ...m, ms });
  if (cycle === 1 || cycle % 10 === 0) {
    console.log(
      `cycle ${cycle}: rss ${m.rss.toFixed(1)} MB, external ${m.external.toFixed(1)} MB, arrayBuffers ${m.arrayBuffers.toFixed(1)} MB, heap ${m.heapUsed.toFixed(1)} MB (${ms.toFixed(0)} ms)`,
    );
  }
}
callerGpu?.destroy();

const at = (c: number) => samples[Math.min(c, samples.length) - 1];
const ref = at(10);
const last = at(cycles);
const summary = {
  mode,
  cycles,
  before: start,
  rssCycle10: ref.rss,
  rssLast: last.rss,
  rssGrowthAfter10: last.rss - ref.rss,
  rssGrowthPerCycleAfter10: (last.rss - ref.rss) / Math.max(1, cycles - 10),
  externalGrowthAfter10: last.external - ref.external,
  arrayBuffersGrowthAfter10: last.arrayBuffers - ref.arrayBuffers,
  medianCycleMs: [...samples.map((s) => s.ms)].sort((a, b) => a - b)[Math.floor(samples.length / 2)],
};
console.log(JSON.stringify(summary, null, 2));

const out = fileURLToPath(new URL('results/load-cycles.json', import.meta.url));
const results: Record<string, unknown> = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
results[mode] = {
  date: new Date().toISOString(),
  node: process.version,
  summary,
  samples: samples.map((s) => ({
    ...s,
    rss: +s.rss.toFixed(1),
    external: +s.external.toFixed(2),
    arrayBuffers: +s.arrayBuffers.toFixed(2),
    heapUsed: +s.heapUsed.toFixed(1),
    ms: Math.round(s.ms),
  })),
};
writeFileSync(out, `${JSON.stringify(results, null, 1)}\n`);
console.log(`wrote ${out}`);
