/**
 * Load and first-inference times, cold and from the loading cache (issue 14 item 1, issue 15 item 3).
 *
 * Node (Dawn on SwiftShader here): each measurement is a new process, so that nothing compiled or
 * read by an earlier one helps it; the cache directory (INT8_TRANSFORMER_CACHE) is a fresh temporary
 * one. 'cold' loads with an empty cache (what every load cost before the cache: download, convert,
 * compile), 'cached' loads again with what the cold load stored. Each process times loadModel to its
 * resolution, the first classify (a text the warm-up never saw), then the median of 5 more runs of
 * that text ('steady'), and records when each progress stage began, the process's CPU time during the
 * load (on a shared machine the wall time mostly measures the other work; the CPU time is the load's
 * own, nearly all of it SwiftShader compiling pipelines) and the pipelines compiled.
 *
 * Browser (headless Chromium on SwiftShader, the demo served by Vite as `npm start` does): the demo
 * page twice with one persistent profile (Playwright's launchPersistentContext on a temporary
 * userDataDir, the browser closed in between), timing the page to body[data-state=ready] and
 * counting the GET requests for model files; then the latency the page shows for its first
 * classification and for a repeated one.
 *
 *   npx tsx bench/load-times.ts [--models default,<folder>...] [--no-browser] [--no-node]
 *   npx tsx bench/load-times.ts --pipelines
 *
 * --pipelines: which pipelines the built-in classifier compiles at load and what each costs alone:
 * every one recompiled serially on a fresh device, with the process's CPU time around each compile
 * (bench/results/load-pipelines.md).
 *
 * Writes bench/results/load-times.json and .md; the .md also shows the run the previous
 * load-times.json held, so that a change's before and after sit side by side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const TEXT = 'the plot is nothing but boilerplate clichés from start to finish , and the acting is no better .';

interface ChildResult {
  model: string;
  loadMs: number;
  firstMs: number;
  steadyMs: number;
  stages: { stage: string; atMs: number; message: string }[];
  label: string;
  /** User + system CPU time of the process during loadModel (absent in runs before it was recorded). */
  loadCpuMs?: number;
  /** Pipelines compiled during the load (distinct WGSL). */
  pipelines?: number;
}

// ---------------------------------------------------------------------------------------------
// The child: one load, one first inference, steady inferences; JSON on the last stdout line.

if (args[0] === '--child') {
  const { loadModel } = await import('../src/index.js');
  const model = args[1];
  const stages: ChildResult['stages'] = [];
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const m = await loadModel(model === 'default' ? 'default' : model, {
    onProgress: (p) => {
      if (stages.at(-1)?.stage !== p.stage)
        stages.push({ stage: p.stage, atMs: performance.now() - t0, message: p.message });
    },
  });
  const loadMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const loadCpuMs = (cpu.user + cpu.system) / 1000;
  // Bench-only peek: the GPU the model's encoder compiled on.
  const gpu = (m as unknown as { encoder?: { gpu?: { pipelineCompiles?: readonly unknown[] } } }).encoder?.gpu;
  const pipelines = gpu?.pipelineCompiles?.length;
  let t = performance.now();
  const [p] = await m.classify(TEXT);
  const firstMs = performance.now() - t;
  const runs: number[] = [];
  for (let i = 0; i < 5; i++) {
    t = performance.now();
    await m.classify(TEXT);
    runs.push(performance.now() - t);
  }
  runs.sort((a, b) => a - b);
  m.dispose();
  const result: ChildResult = {
    model,
    loadMs,
    firstMs,
    steadyMs: runs[2],
    stages,
    label: p.label,
    loadCpuMs,
    pipelines,
  };
  console.log(JSON.stringify(result));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// --pipelines: each pipeline of the built-in classifier's load, compiled alone.

if (args[0] === '--pipelines') {
  const { readFileSync: read } = await import('node:fs');
  const { requestGpu } = await import('../src/gpu/device.js');
  const { Gpu } = await import('../src/gpu/gpu.js');
  const { readIntModelFile } = await import('../src/format/int-model-file.js');
  const { IntProgramGpu } = await import('../src/runtime/int-program.js');
  const { builtInModelUrl } = await import('../src/api.js');
  const file = await readIntModelFile(new Uint8Array(read(fileURLToPath(builtInModelUrl()))));
  // Bench-only capture of each key's code: Gpu keeps compiled pipelines, not their WGSL.
  const codes = new Map<string, { code: string; label: string }>();
  const original = Gpu.prototype.pipeline;
  Gpu.prototype.pipeline = function (key: string, code: string, label?: string) {
    if (!codes.has(key)) codes.set(key, { code, label: label ?? key });
    return original.call(this, key, code, label);
  };
  const gpu = await requestGpu();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const runtime = await IntProgramGpu.create(gpu, file.program);
  const cpu = process.cpuUsage(cpu0);
  const createMs = performance.now() - t0;
  const compiled = gpu.pipelineCompiles.length;
  runtime.dispose();
  Gpu.prototype.pipeline = original;
  const fresh = await requestGpu();
  const rows: { key: string; cpuMs: number; wallMs: number; chars: number }[] = [];
  for (const [key, { code, label }] of codes) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await fresh.pipeline(key, code, label);
    const c = process.cpuUsage(c0);
    rows.push({ key, cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - w0, chars: code.length });
  }
  rows.sort((a, b) => b.cpuMs - a.cpuMs);
  const family = (key: string) =>
    key.startsWith('gemm-i8') ? (key.includes('"gemv"') ? 'GEMV' : 'GEMM tile') : key.split(/[:[]/)[0];
  const families = new Map<string, { n: number; cpuMs: number }>();
  for (const r of rows) {
    const f = families.get(family(r.key)) ?? { n: 0, cpuMs: 0 };
    families.set(family(r.key), { n: f.n + 1, cpuMs: f.cpuMs + r.cpuMs });
  }
  const total = rows.reduce((n, r) => n + r.cpuMs, 0);
  const lines = [
    '# Pipelines the built-in classifier compiles at load',
    '',
    `${new Date().toISOString()}, SwiftShader, the shared 2-core machine. IntProgramGpu.create on ${basename(fileURLToPath(builtInModelUrl()))}: ${s(createMs)} wall, ${s((cpu.user + cpu.system) / 1000)} CPU, ${codes.size} pipeline keys, ${compiled} compiles (keys of equal WGSL share one). Then each alone on a fresh device, serially: CPU = the process's user + system time around the compile (SwiftShader compiles on Dawn's threads in this process), total ${s(total)}.`,
    '',
    '| family | pipelines | CPU |',
    '|---|---|---|',
    ...[...families].map(([f, v]) => `| ${f} | ${v.n} | ${s(v.cpuMs)} |`),
    '',
    '| CPU ms | wall ms | WGSL chars | key |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${r.cpuMs.toFixed(0)} | ${r.wallMs.toFixed(0)} | ${r.chars} | \`${r.key}\` |`),
    '',
  ];
  writeFileSync(join(root, 'bench/results/load-pipelines.md'), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Node: cold then cached, each in its own process.

function child(model: string, cacheDir: string): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', model], {
    cwd: root,
    env: { ...process.env, INT8_TRANSFORMER_CACHE: cacheDir },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !last.startsWith('{')) throw new Error(`child ${model} failed:\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(last) as ChildResult;
}

interface NodeRow {
  model: string;
  cold: ChildResult;
  cached: ChildResult;
}

function nodeRuns(models: string[]): NodeRow[] {
  const rows: NodeRow[] = [];
  for (const model of models) {
    const cacheDir = mkdtempSync(join(tmpdir(), 'load-times-cache-'));
    try {
      const cold = child(model, cacheDir);
      const cached = child(model, cacheDir);
      console.log(
        `node ${model}: cold load ${s(cold.loadMs)} (CPU ${s(cold.loadCpuMs ?? 0)}, ${cold.pipelines} pipelines), first ${ms(cold.firstMs)}, steady ${ms(cold.steadyMs)}; cached load ${s(cached.loadMs)}, first ${ms(cached.firstMs)}, steady ${ms(cached.steadyMs)}`,
      );
      rows.push({ model, cold, cached });
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Browser: the demo twice with one profile.

interface Visit {
  readyMs: number;
  /** GET requests for model files (.i8t, .safetensors, tokenizer and config JSON) the page made. */
  modelRequests: string[];
  firstLatencyMs: number;
  repeatLatencyMs: number;
  status: string;
}

async function browserVisits(): Promise<Visit[]> {
  const { chromium } = await import('playwright-core');
  const { createServer } = await import('vite');
  const { chromiumArgs, chromiumPath } = await import('../test/browser/chromium.js');
  const server = await createServer({
    root: `${root}demo`,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null, fs: { allow: [root] } },
  });
  await server.listen();
  const address = server.httpServer!.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  const profile = mkdtempSync(join(tmpdir(), 'load-times-profile-'));
  const visits: Visit[] = [];
  try {
    // Vite transforms the page's modules on first request: a visit before the two measured ones
    // would hide that cost, so the first measured visit pays it (as a first visit to a site does).
    for (let i = 0; i < 2; i++) {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath(),
        headless: true,
        args: chromiumArgs('swiftshader'),
        viewport: { width: 1100, height: 900 },
      });
      try {
        const page = context.pages()[0] ?? (await context.newPage());
        const modelRequests: string[] = [];
        page.on('request', (r) => {
          if (r.method() === 'GET' && /\.(i8t|safetensors)$|tokenizer(_config)?\.json$|config\.json$/.test(r.url()))
            modelRequests.push(r.url().replace(url, '/'));
        });
        const t0 = performance.now();
        await page.goto(url);
        await page.waitForSelector('body[data-state="ready"]', { timeout: 600_000 });
        const readyMs = performance.now() - t0;
        const status = (await page.textContent('#status')) ?? '';
        const latency = async (runs: number) => {
          await page.waitForFunction(
            (n) => Number(document.body.dataset.runs) > n && !('busy' in document.body.dataset),
            runs,
            { timeout: 120_000, polling: 50 },
          );
          return Number(await page.getAttribute('#pred-int8', 'data-latency-ms'));
        };
        // The page classifies its example text once ready: the first inference.
        const firstLatencyMs = await latency(0);
        await page.click('#run');
        const repeatLatencyMs = await latency(1);
        visits.push({ readyMs, modelRequests, firstLatencyMs, repeatLatencyMs, status });
        console.log(
          `browser visit ${i + 1}: ready after ${s(readyMs)}, ${modelRequests.length} model file GETs, INT8 first ${ms(firstLatencyMs)}, repeat ${ms(repeatLatencyMs)}`,
        );
      } finally {
        await context.close();
      }
    }
  } finally {
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
  return visits;
}

// ---------------------------------------------------------------------------------------------

function s(v: number): string {
  return `${(v / 1000).toFixed(2)} s`;
}
function ms(v: number): string {
  return `${v.toFixed(0)} ms`;
}

const models = arg('models', `default,${resolve(root, '../shared/models/sst2-bert-tiny')}`).split(',');
const node = args.includes('--no-node') ? [] : nodeRuns(models);
const browser = args.includes('--no-browser') ? [] : await browserVisits();

interface Run {
  when: string;
  node: NodeRow[];
  browser: Visit[];
}

const when = new Date().toISOString();
const out = join(root, 'bench/results');
mkdirSync(out, { recursive: true });
const jsonPath = join(out, 'load-times.json');
const previous: Run | undefined = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : undefined;
writeFileSync(jsonPath, `${JSON.stringify({ when, text: TEXT, node, browser }, null, 2)}\n`);

const name = (m: string) => (m === 'default' ? 'built-in sst2-bert-tiny.i8t' : `folder ${basename(m)} (converted)`);
const stageList = (r: ChildResult) => r.stages.map((x) => `${x.stage} ${s(x.atMs)}`).join(', ');
const cpuOf = (r: ChildResult) => (r.loadCpuMs === undefined ? 'not recorded' : s(r.loadCpuMs));
const pipelinesOf = (r: ChildResult) => (r.pipelines === undefined ? 'not recorded' : String(r.pipelines));

function tables(run: Run, level: string): string[] {
  const lines = [
    '| model | load cold | load cached | load CPU cold | load CPU cached | pipelines | first cold | first cached | steady | stages cold | stages cached |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...run.node.map(
      (r) =>
        `| ${name(r.model)} | ${s(r.cold.loadMs)} | ${s(r.cached.loadMs)} | ${cpuOf(r.cold)} | ${cpuOf(r.cached)} | ${pipelinesOf(r.cached)} | ${ms(r.cold.firstMs)} | ${ms(r.cached.firstMs)} | ${ms(r.cached.steadyMs)} | ${stageList(r.cold)} | ${stageList(r.cached)} |`,
    ),
    '',
  ];
  if (run.browser.length) {
    lines.push(
      `${level} The demo page, twice with one browser profile`,
      '',
      'Headless Chromium (Debian), persistent profile; time from navigation to the page saying ready (INT8 and FP32 built-in models loaded and warmed up), GET requests for model files, the latency the page shows for the INT8 model on its first text and on the same text again.',
      '',
      '| visit | ready after | model file GETs | INT8 first | INT8 repeat |',
      '|---|---|---|---|---|',
      ...run.browser.map(
        (v, i) =>
          `| ${i + 1} | ${s(v.readyMs)} | ${v.modelRequests.length}${v.modelRequests.length ? ` (${v.modelRequests.join(', ')})` : ''} | ${ms(v.firstLatencyMs)} | ${ms(v.repeatLatencyMs)} |`,
      ),
      '',
    );
  }
  return lines;
}

const md = [
  '# Load and first-inference times',
  '',
  `${when}, SwiftShader (software WebGPU), 2-core machine shared with other work. Node: each row a new process; cold = empty cache (INT8_TRANSFORMER_CACHE a fresh directory), cached = a second process on the cache the cold one filled. First = the first classify after load (a text of another length than any warm-up), steady = median of 5 more. Load CPU: the process's user + system CPU time during loadModel (the wall time on a shared machine mostly measures the other work). Pipelines: distinct pipelines compiled by the cached load (what each costs: load-pipelines.md, written by --pipelines). Stage times: when each progress stage began.`,
  '',
  ...tables({ when, node, browser }, '##'),
];
if (previous) md.push(`## Before: the previous run (${previous.when})`, '', ...tables(previous, '###'));
writeFileSync(join(out, 'load-times.md'), `${md.join('\n')}\n`);
console.log(`wrote ${join(out, 'load-times.json')} and .md`);
