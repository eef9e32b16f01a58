/**
 * Decoding GEMMs (M = 1..8 rows) in Node: the GEMV variant of the INT8 GEMM (shaders/gemv-i8.ts)
 * against the 16x32 tile the picker chose before it, at M = 1, K = 768 with N = 3072 (GPT-2's FFN1)
 * and N = 50257 (its LM head), int32 and requantized int8 outputs. Wall time from submit to done
 * (median of the repeats). Writes bench/results/gemv.json.
 *
 *   npx tsx bench/gemv.ts [--repeats 5] [--warmup 1] [--sweep]   (--sweep: several GEMV shapes)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { requestGpu } from '../src/gpu/device.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { submitPrograms } from '../src/gpu/program.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import {
  bindGemmI8,
  type GemmI8Options,
  type GemmI8Variant,
  gemmI8Variant,
  packRequant,
  preferredStrategy,
} from '../src/kernels/gemm-i8.js';
import { gemmTileFor } from '../src/kernels/gemm-shape.js';
import { packRows, wordsPerRow } from '../src/quant/pack.js';
import { Random } from '../src/util/random.js';

const args = process.argv.slice(2);
const value = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const repeats = value('repeats', 5);
const warmup = value('warmup', 1);

interface Row {
  M: number;
  N: number;
  K: number;
  output: 'i32' | 'i8';
  variant: string;
  ms: number;
}

function variantName(v: GemmI8Variant): string {
  if ('matrix' in v) return `matrix ${v.matrix.config.M}x${v.matrix.config.N}x${v.matrix.config.K}`;
  return 'gemv' in v ? `gemv ${v.gemv.rows}x${4 * v.gemv.columns}/${v.gemv.split}` : `tile ${v.m}x${v.n}`;
}

async function time(
  gpu: Gpu,
  M: number,
  N: number,
  K: number,
  output: 'i32' | 'i8',
  variant: GemmI8Variant,
  rng: Random,
): Promise<number> {
  const options: GemmI8Options = {
    strategy: preferredStrategy(gpu),
    output,
    perChannel: true,
    bias: true,
    aUnsigned: false,
    tile: variant,
  };
  const buffers = {
    a: gpu.storage('a', packRows(rng.int8Array(M * K), M, K)),
    b: gpu.storage('b', packRows(rng.int8Array(N * K), N, K)),
    bias: gpu.storage('bias', rng.int32Array(N, -1000, 1000)),
    requant:
      output === 'i8'
        ? gpu.storage('requant', packRequant(Array.from({ length: N }, () => ({ m: 1 << 30, e: 40 }))))
        : undefined,
    c: gpu.storage('c', M * (output === 'i8' ? wordsPerRow(N) : N) * 4),
  };
  const program = await bindGemmI8(gpu, options, { M, N, K }, buffers, 1000);
  const once = async () => {
    const t0 = performance.now();
    submitPrograms(gpu, [program]);
    await gpu.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  for (let i = 0; i < warmup; i++) await once();
  const runs: number[] = [];
  for (let i = 0; i < repeats; i++) runs.push(await once());
  program.destroy();
  for (const b of Object.values(buffers)) b?.destroy();
  runs.sort((x, y) => x - y);
  return runs[Math.floor(runs.length / 2)];
}

const gpu = await requestGpu();
const device = formatDeviceReport(gpu);
const software = gpu.adapter.isSoftware;
const rng = new Random(5);
const rows: Row[] = [];
const shapes: [number, number, number][] = [
  [1, 3072, 768],
  [1, 50257, 768],
];
for (const [M, N, K] of shapes) {
  for (const output of ['i32', 'i8'] as const) {
    const variants: GemmI8Variant[] = [
      gemmTileFor(M, software),
      gemmI8Variant({ strategy: 'unpack', output, perChannel: true, bias: true, aUnsigned: false }, { M }, software),
    ];
    if (args.includes('--sweep')) {
      for (const [columns, split] of [
        [16, 4],
        [8, 8],
        [4, 16],
        [32, 2],
        [64, 1],
        [16, 1],
      ])
        variants.push({ gemv: { rows: 1, columns, split } });
    }
    for (const v of variants) {
      const ms = await time(gpu, M, N, K, output, v, rng);
      rows.push({ M, N, K, output, variant: variantName(v), ms });
      process.stderr.write(`${M}x${N}x${K} ${output} ${variantName(v)}: ${ms.toFixed(2)} ms\n`);
    }
  }
}
gpu.destroy();
const table = rows.map((r) => `| ${r.M}x${r.N}x${r.K} | ${r.output} | ${r.variant} | ${r.ms.toFixed(2)} |`).join('\n');
console.log(`${device}\n\n| M x N x K | output | variant | ms (median) |\n|---|---|---|---|\n${table}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/gemv.json', import.meta.url),
  `${JSON.stringify({ device, software, repeats, rows }, null, 2)}\n`,
);
