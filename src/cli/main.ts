/**
 * Command line:
 *   int8-transformer                          classify example sentences with the built-in model
 *   int8-transformer device                   the WebGPU device report
 *   int8-transformer convert <hf-folder> [--calib <tsv>] [--method max|percentile-P] [--calib-limit N] -o <model.i8t>
 *   int8-transformer classify [--model <model.i8t | hf-folder>] [--fp32] "text" ...   (the built-in model, or its float twin with --fp32, by default)
 *   int8-transformer float16 <hf-folder> -o <folder>   a copy with float16 weights (the built-in model's float twin)
 *   int8-transformer inspect <model.i8t>      the plan: every tensor's type, scale, bound and constants
 *   int8-transformer eval --model <model.i8t | hf-folder> --data <glue.tsv> [--reference <hf-folder>] [--limit N] [--batch N] [--json]
 * Progress goes to stderr; results to stdout.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GpuUnavailableError, requestGpu } from '../gpu/device.js';
import type { Gpu } from '../gpu/gpu.js';
import { formatDeviceReport } from '../gpu/report.js';
import { convertModel } from '../convert.js';
import { type GlueInput, parseGlueTsv } from '../data/glue.js';
import { readIntModelFile, writeIntModelFile } from '../format/int-model-file.js';
import { dumpPlan } from '../plan/dump-plan.js';
import { folderSource } from '../model/sources-node.js';
import type { TextModel } from '../session.js';
import { type LoadProgress, builtInModelUrl, loadModel } from '../api.js';
import { DEFAULT_CALIBRATION } from '../calibrate/default-calibration.js';
import type { RangeMethod } from '../calibrate/range-observer.js';
import { evaluate, formatEvaluation } from '../evaluate.js';
import { writeFloat16Folder } from './float16.js';

export const SHARED_CALIBRATION = fileURLToPath(new URL('../../../shared/data/glue/sst2/train_calib1000.tsv', import.meta.url));

const EXAMPLES = [
  'a gorgeous , witty , seductive movie .',
  'the plot is nothing but boilerplate clichés from start to finish .',
  'it is not a bad film , but it is not a good one either .',
];

class UsageError extends Error {}

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const valued = new Set(['model', 'data', 'calib', 'method', 'limit', 'batch', 'o', 'output', 'reference', 'calib-limit']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('-') && a.length > 1 && Number.isNaN(Number(a))) {
      const name = a.replace(/^--?/, '');
      if (valued.has(name)) {
        if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
        flags.set(name, argv[++i]);
      } else flags.set(name, true);
    } else positional.push(a);
  }
  return { positional, flags };
}

function flag(args: Args, name: string): string | undefined {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function intFlag(args: Args, name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
  return n;
}

function progress(stage: string, done: number, total: number): void {
  process.stderr.write(`\r${stage}: ${done}/${total}${done >= total ? '\n' : ''}`);
}

function readTsv(path: string, limit?: number): GlueInput[] {
  if (!existsSync(path)) throw new UsageError(`no such file: ${path}`);
  const rows = parseGlueTsv(readFileSync(path, 'utf8'), path).rows;
  return rows.slice(0, limit ?? rows.length).map((r) => r.input);
}

function calibrationTexts(args: Args): GlueInput[] {
  const path = flag(args, 'calib') ?? (existsSync(SHARED_CALIBRATION) ? SHARED_CALIBRATION : undefined);
  if (!path) {
    process.stderr.write(`calibrating on the ${DEFAULT_CALIBRATION.length} built-in English sentences; pass --calib <tsv> to use text from the model's own domain\n`);
    return DEFAULT_CALIBRATION.slice(0, intFlag(args, 'calib-limit'));
  }
  return readTsv(path, intFlag(args, 'calib-limit'));
}

function method(args: Args): RangeMethod | undefined {
  const m = flag(args, 'method');
  if (m === undefined) return undefined;
  if (m === 'max' || /^percentile-\d+(\.\d+)?$/.test(m)) return m as RangeMethod;
  throw new UsageError(`--method must be max or percentile-P (e.g. percentile-99.99), got ${m}`);
}

function isFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function loadProgress(p: LoadProgress): void {
  process.stderr.write(`\r${p.stage}: ${p.message}${p.stage === 'ready' ? '\n' : ''}`);
}

/** An .i8t file, or a Hugging Face folder converted on the fly. */
async function loadInt8(gpu: Gpu, path: string, args: Args): Promise<TextModel> {
  if (!existsSync(path)) throw new UsageError(`no such model: ${path}`);
  const calibration = isFolder(path) ? calibrationTexts(args) : undefined;
  return loadModel(path, { gpu, calibration, calibrationMethod: method(args), onProgress: loadProgress });
}

async function cmdConvert(gpu: Gpu, args: Args): Promise<void> {
  const [folder] = args.positional;
  const out = flag(args, 'o') ?? flag(args, 'output');
  if (!folder || !out) throw new UsageError('usage: convert <hf-folder> [--calib <tsv>] [--method max|percentile-P] -o <model.i8t>');
  if (!isFolder(folder)) throw new UsageError(`not a folder: ${folder}`);
  const file = await convertModel(gpu, folderSource(folder), { calibration: calibrationTexts(args), method: method(args), onProgress: progress });
  const bytes = await writeIntModelFile(file);
  writeFileSync(out, bytes);
  const safetensors = `${folder}/model.safetensors`;
  const ratio = existsSync(safetensors) ? ` (${(bytes.length / statSync(safetensors).size).toFixed(3)}x model.safetensors)` : '';
  console.log(`wrote ${out}: ${(bytes.length / 1e6).toFixed(2)} MB${ratio}`);
}

function printPredictions(model: TextModel, texts: string[], preds: Awaited<ReturnType<TextModel['classify']>>, ms: number): void {
  preds.forEach((p, i) => console.log(`${model.kind}  ${p.label.padEnd(10)} ${p.score.toFixed(3)}  ${texts[i]}`));
  console.log(`${model.kind}: ${(ms / texts.length).toFixed(1)} ms per sentence`);
}

async function cmdClassify(gpu: Gpu, args: Args, texts: string[]): Promise<void> {
  const path = flag(args, 'model') ?? fileURLToPath(builtInModelUrl(args.flags.has('fp32') ? 'fp32' : 'int8'));
  if (texts.length === 0) throw new UsageError('usage: classify --model <model.i8t | hf-folder> "text" ...');
  const model: TextModel = args.flags.has('fp32') ? await loadModel(path, { gpu, precision: 'fp32' }) : await loadInt8(gpu, path, args);
  try {
    const t0 = performance.now();
    const preds = await model.classify(texts);
    printPredictions(model, texts, preds, performance.now() - t0);
  } finally {
    model.dispose();
  }
}

async function cmdEval(gpu: Gpu, args: Args): Promise<void> {
  const path = flag(args, 'model');
  const data = flag(args, 'data');
  if (!path || !data) throw new UsageError('usage: eval --model <model.i8t | hf-folder> --data <glue.tsv> [--reference <hf-folder>] [--limit N] [--json]');
  const reference = flag(args, 'reference') ?? (isFolder(path) ? path : undefined);
  const rows = parseGlueTsv(readFileSync(data, 'utf8'), data).rows;
  const limited = rows.slice(0, intFlag(args, 'limit') ?? rows.length);
  const int8 = await loadInt8(gpu, path, args);
  const fp32 = reference ? await loadModel(reference, { gpu, precision: 'fp32' }) : undefined;
  try {
    const result = await evaluate(int8, fp32, limited, {
      batchSize: intFlag(args, 'batch') ?? 16,
      onProgress: (done, total) => progress('evaluating', done, total),
    });
    const report = { model: path, task: parseGlueTsv(readFileSync(data, 'utf8'), data).task, ...result };
    console.log(args.flags.has('json') ? JSON.stringify(report) : formatEvaluation(report));
  } finally {
    int8.dispose();
    fp32?.dispose();
  }
}

async function cmdDefault(gpu: Gpu): Promise<void> {
  console.log(`${formatDeviceReport(gpu).split('\n').slice(0, 4).join('\n')}\n`);
  const model = await loadModel('default', { gpu });
  try {
    console.log(`built-in model: ${model.config.architecture} (${model.config.numLayers} x ${model.config.hiddenSize}), integer-only on WebGPU\n`);
    const t0 = performance.now();
    const preds = await model.classify(EXAMPLES);
    printPredictions(model, EXAMPLES, preds, performance.now() - t0);
  } finally {
    model.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const args = parseArgs(rest);
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0].replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, ''));
    return 0;
  }
  if (command === 'float16') {
    // No GPU needed: a file-to-file rewrite.
    const [folder] = args.positional;
    const out = flag(args, 'o') ?? flag(args, 'output');
    if (!folder || !out || !isFolder(folder)) throw new UsageError('usage: float16 <hf-folder> -o <folder>');
    const { bytesIn, bytesOut } = writeFloat16Folder(folder, out);
    console.log(`wrote ${out}/model.safetensors: ${(bytesOut / 1e6).toFixed(2)} MB (from ${(bytesIn / 1e6).toFixed(2)} MB)`);
    return 0;
  }
  const gpu = await requestGpu();
  try {
    switch (command) {
      case undefined:
        await cmdDefault(gpu);
        break;
      case 'device':
        console.log(formatDeviceReport(gpu));
        break;
      case 'convert':
        await cmdConvert(gpu, args);
        break;
      case 'classify':
        await cmdClassify(gpu, args, args.positional);
        break;
      case 'eval':
        await cmdEval(gpu, args);
        break;
      case 'inspect': {
        const [path] = args.positional;
        if (!path || !existsSync(path)) throw new UsageError('usage: inspect <model.i8t>');
        const file = await readIntModelFile(new Uint8Array(readFileSync(path)), path);
        console.log(dumpPlan(file.plan, file.config));
        console.log(`provenance: ${JSON.stringify(file.provenance)}`);
        break;
      }
      default:
        throw new UsageError(`unknown command "${command}"; commands: convert, classify, eval, float16, inspect, device (see --help)`);
    }
  } finally {
    gpu.destroy();
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    if (e instanceof UsageError) console.error(e.message);
    else if (e instanceof GpuUnavailableError) console.error(`WebGPU unavailable: ${e.message}`);
    else console.error(e.stack ?? e.message);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
