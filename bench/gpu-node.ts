/**
 * The benchmark for a lent GPU: Node with Dawn (npm `webgpu`) on whatever Vulkan driver the loader
 * finds, no browser, so that it travels to a machine without Chromium (tools/gpu-run.sh bundles it
 * with node and dawn.node). Our INT8 against our FP32 on the random BERT-base (drawn from its seed
 * here: no files) and the built-in model, at sequence 16/128/512 and batch 1/8: wall time of one
 * forward (inputs written to logits read back) and GPU time (every dispatch timed with timestamp
 * queries, summed) where the adapter offers 'timestamp-query'; load and first-inference time; INT8
 * GEMM GOPS per inner-product strategy against f32. No kernel had run on a hardware GPU before this
 * bench, so at the smallest cell each INT8 output is also compared with the CPU interpreter, bit
 * for bit. Writes <out>/gpu-node-<adapter>.json and .md. Run from the repository root.
 *
 *   npx tsx bench/gpu-node.ts [--quick] [--adapter hardware|software|any] [--out DIR] [--name SLUG]
 *     --quick           a 2-layer random BERT instead of BERT-base, seq 16, batch 1, 2 runs, one GEMM size
 *     --adapter         software: SwiftShader only (VK_DRIVER_FILES); hardware: refuse a software
 *                       adapter; any (default): what Dawn picks (discrete > integrated > CPU)
 *     --seqs 16,128,512  --batches 1,8  --runs N  --warmup N  --profile-runs N  --calib N (sentences)
 *     --models sst2-bert-tiny,random-bert-base  --runtimes int8,fp32 (int8: the adapter's preferred
 *     strategy; int8-dot4, int8-unpack force one)  --no-gemm
 *     --check-gop N (CPU interpreter check of every cell up to N GOP, default 1; the first always)  --no-check
 *     --dawn-flag F (repeatable; added to disable-dawn-features=timestamp_quantization, without which
 *     Dawn rounds every timestamp to 65.536 us), e.g. enable-dawn-features=allow_unsafe_apis
 *     --polling gentle|busy (Dawn's promise polling; busy by default on hardware, where the 1 ms
 *     gentle poll would floor every wall time)  --gpu-name TEXT (e.g. nvidia-smi's name, recorded)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CALIBRATION } from '../src/calibrate/default-calibration.js';
import { convertModel } from '../src/convert.js';
import type { EncoderConfig, EncoderModel, TokenBatch } from '../src/core/types.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { type IntModelFile, readIntModelFile } from '../src/format/int-model-file.js';
import { requestGpu } from '../src/gpu/device.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { configureVulkanDrivers, setGentlePolling, swiftShaderIcd } from '../src/gpu/node-webgpu.js';
import { kernelFamilies } from '../src/gpu/profile.js';
import type { KernelTime } from '../src/gpu/program.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { type GemmI8Strategy, preferredStrategy } from '../src/kernels/gemm-i8.js';
import { loadEncoderModel } from '../src/model/load.js';
import { type ModelFiles, memorySource } from '../src/model/sources.js';
import { folderSource } from '../src/model/sources-node.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { RANDOM_SEED } from './compare-artifacts.js';
import { fillBatch } from './compare-tokens.js';
import { type GemmBenchRow, type GemmKind, median, runGemmBench } from './gemm-core.js';
import { tokenBatch } from './peers/ours.js';
import { BERT_BASE, type BertShape, hfBertConfig, randomBertModel } from './random-bert.js';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
};
const numbers = (name: string, fallback: number[]) => {
  const v = opt(name);
  if (v === undefined) return fallback;
  const list = v.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(`--${name} ${v}: not a list of positive integers`);
  return list;
};
const count = (name: string, fallback: number) => numbers(name, [fallback])[0];

const quick = flag('quick');
const adapterWanted = opt('adapter') ?? 'any';
if (!['hardware', 'software', 'any'].includes(adapterWanted))
  throw new Error(`--adapter ${adapterWanted}: use hardware, software or any`);
const seqs = numbers('seqs', quick ? [16] : [16, 128, 512]);
const batches = numbers('batches', quick ? [1] : [1, 8]);
const runs = count('runs', quick ? 2 : 10);
const warmup = count('warmup', quick ? 1 : 3);
const profileRuns = count('profile-runs', quick ? 1 : 3);
const calibSentences = count('calib', quick ? 8 : 32);
/** The CPU interpreter checks the first cell of each model, and every cell costing at most this (GOP). */
const checkGop = flag('no-check') ? 0 : Number(opt('check-gop') ?? 1);
const outDir = resolve(opt('out') ?? 'bench/results');
const modelsDir = resolve('models');
const RANDOM_NAME = quick ? 'random-bert-mini' : 'random-bert-base';
const modelNames = (opt('models') ?? `sst2-bert-tiny,${RANDOM_NAME}`).split(',');
const runtimeNames = (opt('runtimes') ?? 'int8,fp32').split(',');
for (const r of runtimeNames)
  if (!['int8', 'int8-dot4', 'int8-unpack', 'fp32'].includes(r))
    throw new Error(`--runtimes: unknown runtime ${r} (known: int8, int8-dot4, int8-unpack, fp32)`);

/** Quick mode's random model: BERT-base's vocabulary and positions, two small layers. */
const BERT_MINI: BertShape = { ...BERT_BASE, layers: 2, hidden: 256, heads: 4, intermediate: 1024 };

const GEMM_SHAPES: [number, number, number][] = quick
  ? [[16, 256, 256]]
  : [
      [128, 768, 768],
      [128, 3072, 768],
      [128, 768, 3072],
      [4096, 768, 768],
      [4096, 3072, 768],
      [4096, 768, 3072],
    ];
const GEMM_KINDS: GemmKind[] = ['int8-dot4', 'int8-unpack', 'f32'];

/** Flags of Dawn's binding (npm `webgpu`'s create). */
const dawnFlags = ['disable-dawn-features=timestamp_quantization'];
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--dawn-flag') continue;
  const f = args[i + 1];
  if (!f || f.startsWith('--')) throw new Error('--dawn-flag needs a value');
  dawnFlags.push(f);
}

const log = (m: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);

interface Stats {
  median: number;
  min: number;
  runs: number[];
}

interface Cell {
  model: string;
  runtime: string;
  strategy?: GemmI8Strategy;
  seq: number;
  batch: number;
  wallMs: Stats;
  /** Sum of every dispatch's timestamps, per profiled forward. */
  gpuMs?: Stats;
  dispatches?: number;
  /** The three kernel families with the most GPU time, of the median profiled forward. */
  topFamilies?: { family: string; ms: number; dispatches: number }[];
}

interface Load {
  model: string;
  runtime: string;
  strategy?: GemmI8Strategy;
  /** Weights uploaded and every pipeline compiled. */
  loadMs: number;
  /** The first forward at the first cell: its activations allocated, nothing warm. */
  firstInferenceMs: number;
}

interface Check {
  model: string;
  runtime: string;
  seq: number;
  batch: number;
  values: number;
  mismatches: number;
  bitExact: boolean;
}

interface BenchModel {
  name: string;
  description: string;
  config: EncoderConfig;
  tokenizerFiles: ModelFiles;
  intFile: () => Promise<IntModelFile>;
  floatModel: () => Promise<EncoderModel>;
}

/** Integer operations of one encoder forward (projections, FFN, attention), for the check budget. */
function cpuGop(c: EncoderConfig, seq: number, batch: number): number {
  const T = seq * batch;
  const H = c.hiddenSize;
  return (2 * T * c.numLayers * (4 * H * H + 2 * H * c.intermediateSize) + 4 * T * seq * H * c.numLayers) / 1e9;
}

function stats(values: number[]): Stats {
  return { median: median(values), min: Math.min(...values), runs: values };
}

const builtInFolder = () => folderSource(`${modelsDir}/sst2-bert-tiny`);

/** The tokenizer files of the built-in model (bert-base-uncased's vocabulary), for the random BERTs. */
async function tokenizerFilesOf(config: EncoderConfig): Promise<Record<string, string>> {
  const folder = builtInFolder();
  const files: Record<string, string> = { 'config.json': JSON.stringify(hfBertConfig(config)) };
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'])
    if (await folder.has(name)) files[name] = new TextDecoder().decode(await folder.read(name));
  return files;
}

async function randomModel(gpu: Gpu, name: string, shape: BertShape): Promise<BenchModel> {
  const t0 = performance.now();
  const model = randomBertModel(shape, RANDOM_SEED);
  const files = memorySource(await tokenizerFilesOf(model.config), name);
  log(`${name}: weights drawn from seed ${RANDOM_SEED} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  let converted: Promise<IntModelFile> | undefined;
  return {
    name,
    description: `random BERT ${shape.layers} x ${shape.hidden} (heads ${shape.heads}, FFN ${shape.intermediate}), seed ${RANDOM_SEED}`,
    config: model.config,
    tokenizerFiles: files,
    floatModel: async () => model,
    intFile: () => {
      converted ??= (async () => {
        const c0 = performance.now();
        const calibration = DEFAULT_CALIBRATION.slice(0, calibSentences);
        const file = await convertModel(gpu, files, { calibration, batchSize: 8, model, name });
        log(
          `${name}: converted to INT8 on ${calibration.length} sentences in ${((performance.now() - c0) / 1000).toFixed(1)} s`,
        );
        return file;
      })();
      return converted;
    },
  };
}

async function builtInModel(): Promise<BenchModel> {
  const folder = builtInFolder();
  const model = await loadEncoderModel(folder);
  const { readFile } = await import('node:fs/promises');
  const path = `${modelsDir}/sst2-bert-tiny.i8t`;
  return {
    name: 'sst2-bert-tiny',
    description: `the built-in model (${model.config.numLayers} x ${model.config.hiddenSize}): models/sst2-bert-tiny.i8t and its float folder`,
    config: model.config,
    tokenizerFiles: folder,
    floatModel: async () => model,
    intFile: async () => readIntModelFile(new Uint8Array(await readFile(path)), path),
  };
}

interface Runner {
  strategy?: GemmI8Strategy;
  forward(batch: TokenBatch, profile: boolean): Promise<{ output: ArrayLike<number>; kernels?: KernelTime[] }>;
  dispose(): void;
}

async function loadRunner(gpu: Gpu, model: BenchModel, runtime: string): Promise<Runner> {
  if (runtime === 'fp32') {
    const m = await model.floatModel();
    const encoder = await FloatGraphGpu.create(gpu, modelGraph(m), encoderParams(m.weights));
    return {
      forward: async (b, profile) => {
        const r = await encoder.forward(b, { profile });
        return { output: r.logits ?? new Float32Array(), kernels: r.kernels };
      },
      dispose: () => encoder.dispose(),
    };
  }
  const strategy: GemmI8Strategy =
    runtime === 'int8-dot4' ? 'dot4' : runtime === 'int8-unpack' ? 'unpack' : preferredStrategy(gpu);
  const file = await model.intFile();
  const encoder = await IntProgramGpu.create(gpu, file.program, { strategy });
  return {
    strategy,
    forward: (b, profile) => encoder.forward(b, { profile }),
    dispose: () => encoder.dispose(),
  };
}

async function benchModel(gpu: Gpu, model: BenchModel, cells: Cell[], loads: Load[], checks: Check[]): Promise<void> {
  const tokenizer = await loadTokenizer(model.tokenizerFiles, model.config);
  const sentences = [...DEFAULT_CALIBRATION];
  const shapes = seqs
    .filter((s) => s <= model.config.maxPositions)
    .flatMap((seq) => batches.map((batch) => ({ seq, batch })));
  const inputs = new Map(
    shapes.map(({ seq, batch }) => [
      `${seq}x${batch}`,
      tokenBatch(fillBatch(tokenizer, sentences, seq, batch), model.config),
    ]),
  );
  const timed = gpu.features.timestampQuery;
  for (const runtime of runtimeNames) {
    // Converted (the random models) before the clock starts: loading is what is timed.
    if (runtime !== 'fp32') await model.intFile();
    const t0 = performance.now();
    const runner = await loadRunner(gpu, model, runtime);
    const loadMs = performance.now() - t0;
    try {
      for (const [i, { seq, batch }] of shapes.entries()) {
        const input = inputs.get(`${seq}x${batch}`)!;
        const w0 = performance.now();
        const first = await runner.forward(input, false);
        if (i === 0)
          loads.push({
            model: model.name,
            runtime,
            strategy: runner.strategy,
            loadMs,
            firstInferenceMs: performance.now() - w0,
          });
        if (runner.strategy && checkGop > 0 && (i === 0 || cpuGop(model.config, seq, batch) <= checkGop)) {
          const c0 = performance.now();
          const expected = runIntProgramCpu((await model.intFile()).program, input).output;
          let mismatches = Math.abs(first.output.length - expected.length);
          for (let k = 0; k < expected.length; k++) if (expected[k] !== first.output[k]) mismatches++;
          checks.push({
            model: model.name,
            runtime,
            seq,
            batch,
            values: expected.length,
            mismatches,
            bitExact: !mismatches,
          });
          log(
            `${model.name} ${runtime} seq ${seq} batch ${batch}: ${mismatches} of ${expected.length} output integers differ from the CPU interpreter (${((performance.now() - c0) / 1000).toFixed(1)} s)`,
          );
        }
        for (let k = 1; k < warmup; k++) await runner.forward(input, false);
        const wall: number[] = [];
        for (let k = 0; k < runs; k++) {
          const s = performance.now();
          await runner.forward(input, false);
          wall.push(performance.now() - s);
        }
        const cell: Cell = { model: model.name, runtime, strategy: runner.strategy, seq, batch, wallMs: stats(wall) };
        if (timed) {
          const profiles: KernelTime[][] = [];
          for (let k = 0; k < profileRuns; k++) profiles.push((await runner.forward(input, true)).kernels ?? []);
          const sums = profiles.map((p) => p.reduce((t, d) => t + d.ms, 0));
          cell.gpuMs = stats(sums);
          const mid = profiles[sums.indexOf([...sums].sort((a, b) => a - b)[sums.length >> 1])];
          cell.dispatches = mid.length;
          cell.topFamilies = kernelFamilies(mid).slice(0, 3);
        }
        cells.push(cell);
        log(
          `${model.name} ${runtime} seq ${seq} batch ${batch}: wall ${cell.wallMs.median.toFixed(2)} ms` +
            (cell.gpuMs ? `, GPU ${cell.gpuMs.median.toFixed(3)} ms in ${cell.dispatches} dispatches` : ''),
        );
      }
    } finally {
      runner.dispose();
    }
  }
}

const fmt = (v: number | undefined, digits = 2) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function slug(text: string): string {
  return (
    text
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'unknown'
  );
}

interface Results {
  bench: 'gpu-node';
  date: string;
  mode: 'quick' | 'full';
  node: string;
  gpuName?: string;
  adapter: Gpu['adapter'];
  adapterFeatures: string[];
  features: Gpu['features'];
  limits: Gpu['limits'];
  preferredStrategy: GemmI8Strategy;
  polling: 'gentle' | 'busy';
  dawnFlags: string[];
  options: Record<string, unknown>;
  models: { name: string; description: string }[];
  loads: Load[];
  checks: Check[];
  cells: Cell[];
  gemm: GemmBenchRow[];
}

function markdown(r: Results): string {
  const a = r.adapter;
  const lines: string[] = [];
  lines.push(`# GPU benchmark (Node + Dawn): ${r.gpuName ?? (a.description || a.vendor || 'unknown adapter')}`);
  lines.push('');
  lines.push(
    `${r.date}, ${r.mode} run, node ${r.node}, bench/gpu-node.ts. Wall: one forward from writing the inputs to the logits read back, median of ${r.options.runs} after ${r.options.warmup} warm-up; GPU: every dispatch timed with timestamp queries and summed, median of ${r.options.profileRuns}. Dawn's polling: ${r.polling}; Dawn's flags: ${r.dawnFlags.join(' ')}.`,
  );
  lines.push('');
  lines.push('| adapter | |');
  lines.push('|---|---|');
  if (r.gpuName) lines.push(`| GPU (nvidia-smi) | ${r.gpuName} |`);
  lines.push(`| vendor / architecture | ${a.vendor || '-'} / ${a.architecture || '-'} |`);
  lines.push(`| device / description | ${a.device || '-'} / ${a.description || '-'} |`);
  lines.push(`| software emulation | ${a.isSoftware ? 'yes' : 'no'} |`);
  lines.push(`| adapter features | ${r.adapterFeatures.join(', ') || '-'} |`);
  const configs = r.features.subgroupMatrixConfigs.map(
    (c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`,
  );
  lines.push(`| subgroup-matrix configs | ${configs.join(', ') || 'none'} |`);
  lines.push(`| INT8 strategy chosen | ${r.preferredStrategy} |`);
  lines.push('');
  lines.push('## Models');
  for (const m of r.models) lines.push(`- ${m.name}: ${m.description}`);
  lines.push('');
  lines.push('## INT8 against FP32');
  const int8s = [...new Set(r.cells.filter((c) => c.runtime !== 'fp32').map((c) => c.runtime))];
  lines.push('');
  for (const int8 of int8s) {
    lines.push(
      `| model | seq | batch | ${int8} wall ms | fp32 wall ms | fp32/${int8} wall | ${int8} GPU ms | fp32 GPU ms | fp32/${int8} GPU | dispatches ${int8} / fp32 |`,
    );
    lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of r.cells.filter((x) => x.runtime === int8)) {
      const f = r.cells.find(
        (x) => x.runtime === 'fp32' && x.model === c.model && x.seq === c.seq && x.batch === c.batch,
      );
      const ratio = (x?: number, y?: number) =>
        x !== undefined && y !== undefined && y > 0 ? `${(x / y).toFixed(2)}x` : '-';
      lines.push(
        `| ${c.model} | ${c.seq} | ${c.batch} | ${fmt(c.wallMs.median)} | ${fmt(f?.wallMs.median)} | ${ratio(f?.wallMs.median, c.wallMs.median)} | ${fmt(c.gpuMs?.median, 3)} | ${fmt(f?.gpuMs?.median, 3)} | ${ratio(f?.gpuMs?.median, c.gpuMs?.median)} | ${c.dispatches ?? '-'} / ${f?.dispatches ?? '-'} |`,
      );
    }
    lines.push('');
  }
  if (r.cells.some((c) => c.topFamilies)) {
    lines.push('Kernel families with the most GPU time (median profiled forward):');
    lines.push('');
    lines.push('| model | runtime | seq | batch | families (ms, dispatches) |');
    lines.push('|---|---|---:|---:|---|');
    for (const c of r.cells)
      if (c.topFamilies)
        lines.push(
          `| ${c.model} | ${c.runtime} | ${c.seq} | ${c.batch} | ${c.topFamilies.map((f) => `${f.family} ${fmt(f.ms, 3)} (${f.dispatches})`).join(', ')} |`,
        );
    lines.push('');
  }
  lines.push('## Load and first inference');
  lines.push('');
  lines.push(
    'Load: weights uploaded and pipelines compiled; one device serves every model, so a later model reuses the pipelines an earlier one compiled.',
  );
  lines.push('');
  lines.push('| model | runtime | load ms | first inference ms |');
  lines.push('|---|---|---:|---:|');
  for (const l of r.loads)
    lines.push(
      `| ${l.model} | ${l.runtime}${l.strategy ? ` (${l.strategy})` : ''} | ${fmt(l.loadMs, 0)} | ${fmt(l.firstInferenceMs, 1)} |`,
    );
  lines.push('');
  if (r.checks.length) {
    lines.push('## INT8 on this adapter against the CPU interpreter');
    lines.push('');
    lines.push('| model | runtime | seq | batch | values | differing | bit-exact |');
    lines.push('|---|---|---:|---:|---:|---:|---|');
    for (const c of r.checks)
      lines.push(
        `| ${c.model} | ${c.runtime} | ${c.seq} | ${c.batch} | ${c.values} | ${c.mismatches} | ${c.bitExact ? 'yes' : 'NO'} |`,
      );
    lines.push('');
  }
  if (r.gemm.length) {
    lines.push('## GEMM (M x N x K)');
    lines.push('');
    lines.push('| M | N | K | kind | timing | median ms | GOPS |');
    lines.push('|---:|---:|---:|---|---|---:|---:|');
    for (const g of r.gemm)
      lines.push(
        `| ${g.M} | ${g.N} | ${g.K} | ${g.kind} | ${g.timing} | ${fmt(g.medianMs, 4)} | ${fmt(g.gops, g.gops >= 10 ? 0 : 3)} |`,
      );
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Held for the whole run: Gpu keeps the device but not this object, and once it is collected Dawn's
 * instance goes with it (seen here: the process aborted with a std::system_error or a futex error,
 * or hung).
 */
let dawn: GPU | undefined;

/**
 * Dawn's GPU object made here rather than by requestGpu, which passes no flags: timestamps must not
 * be quantized, or a GPU's microsecond dispatches read as 0 or 65.5 us.
 */
async function dawnGpu(): Promise<GPU> {
  configureVulkanDrivers();
  const { create, globals } = await import('webgpu');
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  dawn = create(dawnFlags);
  return dawn;
}

async function main(): Promise<void> {
  if (adapterWanted === 'software') {
    // The loader then sees SwiftShader alone, whatever GPU drivers the machine has.
    const icd = swiftShaderIcd();
    if (!icd)
      throw new Error("--adapter software: no SwiftShader ICD found (install Debian's chromium: npm run setup)");
    process.env.VK_DRIVER_FILES = icd;
    // The Vulkan loader warns on every start when this is unset on headless machines.
    process.env.XDG_RUNTIME_DIR ??= '/tmp';
  }
  const gpu = await requestGpu({ gpu: await dawnGpu() });
  if (adapterWanted === 'hardware' && gpu.adapter.isSoftware)
    throw new Error(
      `--adapter hardware: Dawn gave a software adapter (${gpu.adapter.description || gpu.adapter.vendor}); is the GPU's Vulkan ICD in VK_DRIVER_FILES?`,
    );
  const polling = (opt('polling') ?? (gpu.adapter.isSoftware ? 'gentle' : 'busy')) as 'gentle' | 'busy';
  if (polling !== 'gentle' && polling !== 'busy') throw new Error(`--polling ${polling}: use gentle or busy`);
  setGentlePolling(polling === 'gentle');
  log(`adapter:\n${formatDeviceReport(gpu)}`);

  const cells: Cell[] = [];
  const loads: Load[] = [];
  const checks: Check[] = [];
  const models: BenchModel[] = [];
  const gemm: GemmBenchRow[] = [];
  const results = (): Results => ({
    bench: 'gpu-node',
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    node: process.version,
    gpuName: opt('gpu-name'),
    adapter: gpu.adapter,
    adapterFeatures: [...gpu.device.features].sort(),
    features: gpu.features,
    limits: gpu.limits,
    preferredStrategy: preferredStrategy(gpu),
    polling,
    dawnFlags,
    options: {
      seqs,
      batches,
      runs,
      warmup,
      profileRuns,
      calibSentences,
      runtimes: runtimeNames,
      adapter: adapterWanted,
    },
    models: models.map((m) => ({ name: m.name, description: m.description })),
    loads,
    checks,
    cells,
    gemm,
  });
  const a = gpu.adapter;
  const software = a.isSoftware && /swiftshader/i.test(`${a.vendor} ${a.description}`);
  const stem = `gpu-node-${opt('name') ?? slug(opt('gpu-name') ?? (software ? 'swiftshader' : a.description || `${a.vendor}-${a.architecture}`))}`;
  // Written after every step, so that a run stopped at its time limit still leaves what it measured.
  const write = () => {
    const r = results();
    mkdirSync(outDir, { recursive: true });
    writeFileSync(`${outDir}/${stem}.json`, `${JSON.stringify(r, null, 2)}\n`);
    writeFileSync(`${outDir}/${stem}.md`, markdown(r));
  };
  // GEMM after the first model: the small built-in model first checks the kernels on this adapter,
  // and BERT-base's conversion, the longest step, comes last.
  const steps: (string | 'gemm')[] = [...modelNames];
  if (!flag('no-gemm')) steps.splice(Math.min(1, steps.length), 0, 'gemm');
  for (const name of steps) {
    if (name === 'gemm') {
      const rows = await runGemmBench(gpu, {
        shapes: GEMM_SHAPES,
        kinds: GEMM_KINDS,
        warmup,
        repeats: runs,
        onProgress: (m) => log(`gemm ${m}`),
      });
      gemm.push(...rows);
      write();
      continue;
    }
    let model: BenchModel;
    if (name === 'random-bert-base') model = await randomModel(gpu, name, BERT_BASE);
    else if (name === 'random-bert-mini') model = await randomModel(gpu, name, BERT_MINI);
    else if (name === 'sst2-bert-tiny') model = await builtInModel();
    else throw new Error(`--models: unknown model ${name} (known: random-bert-base, random-bert-mini, sst2-bert-tiny)`);
    models.push(model);
    await benchModel(gpu, model, cells, loads, checks);
    write();
  }
  log(`wrote ${outDir}/${stem}.json and .md`);
  gpu.destroy();
  if (checks.some((c) => !c.bitExact)) {
    console.error('INT8 on this adapter differs from the CPU interpreter (see the checks table)');
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
