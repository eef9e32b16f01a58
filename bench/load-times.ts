/**
 * Load and first-inference times, cold and from the loading cache (issue 14 item 1, issue 15 item 3).
 *
 * Node (Dawn on SwiftShader here): each measurement is a new process, so that nothing compiled or
 * read by an earlier one helps it; the cache directory (INT8_TRANSFORMER_CACHE) is a fresh temporary
 * one. 'cold' loads with an empty cache (what every load cost before the cache: download, convert,
 * compile), 'cached' loads again with what the cold load stored. Each process times loadModel to its
 * resolution, the first classify (a text the warm-up never saw), then the median of 5 more runs of
 * that text ('steady'), and records when each progress stage began.
 *
 * Browser (headless Chromium on SwiftShader, the demo served by Vite as `npm start` does): the demo
 * page twice with one persistent profile (Playwright's launchPersistentContext on a temporary
 * userDataDir, the browser closed in between), timing the page to body[data-state=ready] and
 * counting the GET requests for model files; then the latency the page shows for its first
 * classification and for a repeated one.
 *
 *   npx tsx bench/load-times.ts [--models default,<folder>...] [--no-browser] [--no-node]
 *
 * Writes bench/results/load-times.json and .md.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
}

// ---------------------------------------------------------------------------------------------
// The child: one load, one first inference, steady inferences; JSON on the last stdout line.

if (args[0] === '--child') {
  const { loadModel } = await import('../src/index.js');
  const model = args[1];
  const stages: ChildResult['stages'] = [];
  const t0 = performance.now();
  const m = await loadModel(model === 'default' ? 'default' : model, {
    onProgress: (p) => {
      if (stages.at(-1)?.stage !== p.stage)
        stages.push({ stage: p.stage, atMs: performance.now() - t0, message: p.message });
    },
  });
  const loadMs = performance.now() - t0;
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
  const result: ChildResult = { model, loadMs, firstMs, steadyMs: runs[2], stages, label: p.label };
  console.log(JSON.stringify(result));
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
        `node ${model}: cold load ${s(cold.loadMs)}, first ${ms(cold.firstMs)}, steady ${ms(cold.steadyMs)}; cached load ${s(cached.loadMs)}, first ${ms(cached.firstMs)}, steady ${ms(cached.steadyMs)}`,
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

const when = new Date().toISOString();
const out = join(root, 'bench/results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'load-times.json'), `${JSON.stringify({ when, text: TEXT, node, browser }, null, 2)}\n`);

const name = (m: string) => (m === 'default' ? 'built-in sst2-bert-tiny.i8t' : `folder ${basename(m)} (converted)`);
const stageList = (r: ChildResult) => r.stages.map((x) => `${x.stage} ${s(x.atMs)}`).join(', ');
const md = [
  '# Load and first-inference times',
  '',
  `${when}, SwiftShader (software WebGPU), 2-core machine shared with other work. Node: each row a new process; cold = empty cache (INT8_TRANSFORMER_CACHE a fresh directory), cached = a second process on the cache the cold one filled. First = the first classify after load (a text of another length than any warm-up), steady = median of 5 more. Stage times: when each progress stage began.`,
  '',
  '| model | load cold | load cached | first cold | first cached | steady | stages cold | stages cached |',
  '|---|---|---|---|---|---|---|---|',
  ...node.map(
    (r) =>
      `| ${name(r.model)} | ${s(r.cold.loadMs)} | ${s(r.cached.loadMs)} | ${ms(r.cold.firstMs)} | ${ms(r.cached.firstMs)} | ${ms(r.cached.steadyMs)} | ${stageList(r.cold)} | ${stageList(r.cached)} |`,
  ),
  '',
];
if (browser.length) {
  md.push(
    '## The demo page, twice with one browser profile',
    '',
    'Headless Chromium (Debian), persistent profile; time from navigation to the page saying ready (INT8 and FP32 built-in models loaded and warmed up), GET requests for model files, the latency the page shows for the INT8 model on its first text and on the same text again.',
    '',
    '| visit | ready after | model file GETs | INT8 first | INT8 repeat |',
    '|---|---|---|---|---|',
    ...browser.map(
      (v, i) =>
        `| ${i + 1} | ${s(v.readyMs)} | ${v.modelRequests.length}${v.modelRequests.length ? ` (${v.modelRequests.join(', ')})` : ''} | ${ms(v.firstLatencyMs)} | ${ms(v.repeatLatencyMs)} |`,
    ),
    '',
  );
}
writeFileSync(join(out, 'load-times.md'), `${md.join('\n')}\n`);
console.log(`wrote ${join(out, 'load-times.json')} and .md`);
