/**
 * GEMM throughput in Node (Dawn) and in headless Chromium: INT8 (dot4I8Packed, unpack, and the
 * subgroup-matrix kernel where the device's strategy has one) and f32, side by side in one run, on
 * 128x768x768, 128x3072x768 and 128x768x3072 (M x N x K). Writes bench/results/gemm.json and prints
 * a table with the int8/f32 ratios, the GEMM strategy the device gets (src/kernels/gemm-strategy.ts)
 * and, from the measured dot4 / unpack ratio, the strategy it gets once that ratio is recorded.
 *
 *   npm run bench:gemm [-- --repeats 7 --warmup 2 --no-browser --adapter hardware
 *                          --kinds int8-dot4,int8-unpack,int8-matrix,f32]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { gemmStrategyOf, recordDot4Measurement } from '../src/kernels/gemm-strategy.js';
import { launchChromium, pipePageLogs } from '../test/browser/chromium.js';
import { DEFAULT_SHAPES, type GemmBenchOptions, type GemmBenchRow, type GemmKind, runGemmBench } from './gemm-core.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

const KINDS: GemmKind[] = ['int8-dot4', 'int8-unpack', 'int8-matrix', 'f32'];
const kindsArg = args.includes('--kinds') ? args[args.indexOf('--kinds') + 1].split(',') : KINDS;
for (const k of kindsArg) {
  if (!KINDS.includes(k as GemmKind)) throw new Error(`--kinds: unknown kind '${k}' (kinds: ${KINDS.join(', ')})`);
}

const options: GemmBenchOptions = {
  shapes: DEFAULT_SHAPES,
  kinds: kindsArg as GemmKind[],
  warmup: value('warmup', 2),
  repeats: value('repeats', 5),
};

interface Run {
  runtime: 'node' | 'browser';
  device: string;
  rows: GemmBenchRow[];
  /** The device's GEMM strategy as chosen from its facts, and after recording the measured dot4 / unpack ratio. */
  strategy?: { chosen: string[]; measured?: string[] };
}

async function nodeRun(): Promise<Run> {
  const gpu = await requestGpu();
  const device = formatDeviceReport(gpu);
  const chosen = gemmStrategyOf(gpu).reasons;
  const rows = await runGemmBench(gpu, { ...options, onProgress: (m) => process.stderr.write(`node: ${m}\n`) });
  const [M, N, K] = options.shapes[0];
  const pick = (kind: GemmKind) => rows.find((r) => r.M === M && r.N === N && r.K === K && r.kind === kind);
  const dot4 = pick('int8-dot4');
  const unpack = pick('int8-unpack');
  let measured: string[] | undefined;
  if (dot4 && unpack) {
    recordDot4Measurement(gpu, dot4.gops / unpack.gops);
    measured = gemmStrategyOf(gpu).reasons;
  }
  gpu.destroy();
  return { runtime: 'node', device, rows, strategy: { chosen, measured } };
}

async function browserRun(): Promise<Run> {
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
  });
  await server.listen();
  const browser = await launchChromium(
    flag('adapter') && args[args.indexOf('--adapter') + 1] === 'hardware' ? 'hardware' : 'swiftshader',
  );
  try {
    const address = server.httpServer!.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const page = await browser.newPage();
    pipePageLogs(page, 'bench');
    const query = encodeURIComponent(JSON.stringify(options));
    await page.goto(`http://127.0.0.1:${port}/bench/gemm.html?options=${query}`);
    await page.waitForFunction(() => window.__bench?.done, null, { timeout: 1_800_000, polling: 1000 });
    const result = await page.evaluate(() => window.__bench);
    if (result.error) throw new Error(`browser benchmark failed: ${result.error}`);
    return { runtime: 'browser', device: result.device ?? '', rows: result.rows ?? [] };
  } finally {
    await browser.close();
    await server.close();
  }
}

function table(runs: Run[]): string {
  const lines = [
    '| runtime | M x N x K | int8 dot4 GOPS | int8 unpack GOPS | int8 matrix GOPS | f32 GOPS | dot4 / f32 | unpack / f32 | matrix / f32 | timing |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const run of runs) {
    for (const [M, N, K] of options.shapes) {
      const pick = (kind: string) => run.rows.find((r) => r.M === M && r.N === N && r.K === K && r.kind === kind);
      const dot4 = pick('int8-dot4');
      const unpack = pick('int8-unpack');
      const matrix = pick('int8-matrix');
      const f32 = pick('f32');
      if (!f32) continue;
      const gops = (r: GemmBenchRow | undefined) => (r ? r.gops.toFixed(2) : '-');
      const ratio = (r: GemmBenchRow | undefined) => (r ? `${(r.gops / f32.gops).toFixed(2)}x` : '-');
      lines.push(
        `| ${run.runtime} | ${M}x${N}x${K} | ${gops(dot4)} | ${gops(unpack)} | ${gops(matrix)} | ${f32.gops.toFixed(2)} | ${ratio(dot4)} | ${ratio(unpack)} | ${ratio(matrix)} | ${f32.timing} |`,
      );
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const runs: Run[] = [await nodeRun()];
  if (!flag('no-browser')) runs.push(await browserRun());
  const result = { benchmark: 'gemm', date: new Date().toISOString(), options, runs };
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  const out = new URL(
    `results/gemm${flag('adapter') ? `-${args[args.indexOf('--adapter') + 1]}` : ''}.json`,
    import.meta.url,
  );
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.log(`${runs[0].device}\n`);
  const strategy = runs[0].strategy;
  if (strategy) {
    console.log(`GEMM strategy (node): ${strategy.chosen.join('; ')}`);
    if (strategy.measured) console.log(`after recording the measured dot4 / unpack: ${strategy.measured.join('; ')}`);
    console.log('');
  }
  console.log(table(runs));
  console.log(
    `\nmedian of ${options.repeats} runs after ${options.warmup} warm-up; GOPS = 2*M*N*K / time. Written: ${fileURLToPath(out)}`,
  );
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
