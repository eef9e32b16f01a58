/**
 * GEMM throughput in Node (Dawn) and in headless Chromium: INT8 (dot4I8Packed and unpack) and f32,
 * side by side in one run, on 128x768x768, 128x3072x768 and 128x768x3072 (M x N x K).
 * Writes bench/results/gemm.json and prints a table with the int8/f32 ratios.
 *
 *   npm run bench:gemm [-- --repeats 7 --warmup 2 --no-browser --adapter hardware]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { launchChromium, pipePageLogs } from '../test/browser/chromium.js';
import { DEFAULT_SHAPES, type GemmBenchOptions, type GemmBenchRow, runGemmBench } from './gemm-core.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

const options: GemmBenchOptions = {
  shapes: DEFAULT_SHAPES,
  kinds: ['int8-dot4', 'int8-unpack', 'f32'],
  warmup: value('warmup', 2),
  repeats: value('repeats', 5),
};

interface Run {
  runtime: 'node' | 'browser';
  device: string;
  rows: GemmBenchRow[];
}

async function nodeRun(): Promise<Run> {
  const gpu = await requestGpu();
  const device = formatDeviceReport(gpu);
  const rows = await runGemmBench(gpu, { ...options, onProgress: (m) => process.stderr.write(`node: ${m}\n`) });
  gpu.destroy();
  return { runtime: 'node', device, rows };
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
    '| runtime | M x N x K | int8 dot4 GOPS | int8 unpack GOPS | f32 GOPS | dot4 / f32 | unpack / f32 | timing |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const run of runs) {
    for (const [M, N, K] of options.shapes) {
      const pick = (kind: string) => run.rows.find((r) => r.M === M && r.N === N && r.K === K && r.kind === kind);
      const dot4 = pick('int8-dot4');
      const unpack = pick('int8-unpack');
      const f32 = pick('f32');
      if (!dot4 || !unpack || !f32) continue;
      lines.push(
        `| ${run.runtime} | ${M}x${N}x${K} | ${dot4.gops.toFixed(2)} | ${unpack.gops.toFixed(2)} | ${f32.gops.toFixed(2)} | ${(dot4.gops / f32.gops).toFixed(2)}x | ${(unpack.gops / f32.gops).toFixed(2)}x | ${f32.timing} |`,
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
