/**
 * Command line:
 *   int8-transformer                          classify example sentences with the built-in model
 *   int8-transformer device                   the WebGPU device report
 *   int8-transformer convert <hf-folder> [--calib <tsv>] [--method max|mse|percentile-P] [--calib-limit N] [--outliers auto|off] [--report] -o <model.i8t>
 *                                            a GPT-2 folder (GPT2LMHeadModel): --calib <text file, one document per line>,
 *                                            else 64 built-in English sentences; --method max by default; a Marian folder
 *                                            (MarianMTModel): --calib <text file of source-language sentences>, no GPU needed
 *   int8-transformer classify [--model <model.i8t | hf-folder>] [--fp32] [--device auto|webgpu|cpu] "text" ...   (the built-in model, or its float twin with --fp32, by default;
 *                                            --device cpu: the same integer program on the CPU, no GPU needed)
 *   int8-transformer tag --model <model.i8t | hf-folder> [--fp32] [--aggregation simple|none] "text" ...
 *                                            token classification (NER): per text its entities, one line each
 *                                            (type, score, words, character span); --aggregation none: every token
 *   int8-transformer generate [--model <gpt2-folder | model.i8t>] "prompt" [--max-new-tokens N] [--fp32]
 *                             [--temperature T --top-k K --top-p P --seed S] [--repetition-penalty R] [--stop TEXT]
 *                                            streams a continuation (greedy unless --temperature; the built-in
 *                                            GPT-2, multi30k-gpt2-tiny, by default)
 *   int8-transformer translate --model <marian-folder | model.i8t> "text" ... [--beams K] [--max-new-tokens N] [--fp32] [--calib <text file>]
 *                                            translates (int8 unless --fp32, which needs a folder; a folder is
 *                                            converted on the way): one greedy text streams, else one line per text
 *   int8-transformer float16 <hf-folder> -o <folder>   a copy with float16 weights (the built-in model's float twin)
 *   int8-transformer inspect <model.i8t>      the plan: every tensor's type, scale, bound and constants
 *   int8-transformer eval --model <model.i8t | hf-folder> --data <glue.tsv> [--reference <hf-folder>] [--limit N] [--batch N] [--json]
 *   int8-transformer eval --task lm --data <text file, one document per line> [--model <gpt2-folder | model.i8t>]
 *                         [--reference <gpt2-folder>] [--limit N] [--batch N] [--calib <text file>] [--json]
 *                                            perplexity, INT8 and FP32: {task, n, tokens, fp32Perplexity, int8Perplexity,
 *                                            msPerToken}; an .i8t file has no float weights, so fp32Perplexity is null
 *                                            unless --reference names its folder (default model: ../shared's multi30k-gpt2-tiny)
 *   int8-transformer eval --task translation --source <file> --target <file> [--model <marian-folder | model.i8t>]
 *                         [--reference <marian-folder>] [--beams K] [--limit N] [--batch N] [--backend gpu|cpu]
 *                         [--calib <text file>] [--json]
 *                                            corpus BLEU (sacrebleu's defaults), INT8 and FP32: {task, n, fp32Bleu,
 *                                            int8Bleu, agreement, msPerSentence, ...}; line i of --source goes with
 *                                            line i of --target; new tokens per batch min(max_length - 1, 2 x longest
 *                                            source + 10), --batch 1 by default; --backend cpu runs the CPU interpreters
 *                                            (integer specification, float64); fp32Bleu is null for an .i8t without
 *                                            --reference (default model: ../shared's multi30k-marian-en-de)
 * Progress goes to stderr; results to stdout. Errors are one line, "int8-transformer: <message>",
 * exit code 1 (2 for a usage error); --verbose adds the stack. `--` ends the options (for a text
 * that starts with "-"); --name=value works as --name value.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtInModelUrl, type LoadProgress, loadModel } from '../api.js';
import { DEFAULT_CALIBRATION } from '../calibrate/default-calibration.js';
import type { RangeMethod, RangeObserver } from '../calibrate/range-observer.js';
import { calibrationReport, formatCalibrationReport } from '../calibrate/report.js';
import { convertModel } from '../convert.js';
import { type GlueInput, parseGlueTsv } from '../data/glue.js';
import { evaluate, formatEvaluation } from '../evaluate.js';
import { formatLmEvaluation } from '../evaluate-lm.js';
import { formatTranslationEvaluation } from '../evaluate-mt.js';
import { readAnyIntFile, writeIntModelFile } from '../format/int-model-file.js';
import { GpuUnavailableError, requestGpu } from '../gpu/device.js';
import type { Gpu } from '../gpu/gpu.js';
import { formatDeviceReport } from '../gpu/report.js';
import { describeConfig } from '../model/config.js';
import { isDecoderCheckpoint, isMarianCheckpoint } from '../model/load.js';
import { folderSource } from '../model/sources-node.js';
import { dumpProgram } from '../plan/dump-program.js';
import type { TextModel } from '../session.js';
import type { EntityGroup, TokenEntity } from '../tag.js';
import { writeFloat16Folder } from './float16.js';
import { GENERATE_FLAGS, generateCommand } from './generate.js';
import { type CommandArgs, convertLanguageModel, evalLanguageModel } from './lm.js';
import { TerminalProgress } from './progress.js';
import {
  convertTranslationModel,
  EVAL_TRANSLATION_FLAGS,
  evalTranslation,
  TRANSLATE_FLAGS,
  translateCommand,
} from './translate.js';

export const SHARED_CALIBRATION = fileURLToPath(
  new URL('../../../shared/data/glue/sst2/train_calib1000.tsv', import.meta.url),
);

const EXAMPLES = [
  'a gorgeous , witty , seductive movie .',
  'the plot is nothing but boilerplate clichés from start to finish .',
  'it is not a bad film , but it is not a good one either .',
];

class UsageError extends Error {}

type GetGpu = () => Promise<Gpu>;

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/** Options that take a value; the others are switches. */
const VALUED = new Set([
  'model',
  'data',
  'calib',
  'method',
  'limit',
  'batch',
  'o',
  'output',
  'reference',
  'calib-limit',
  'outliers',
  'task',
  'max-new-tokens',
  'temperature',
  'top-k',
  'top-p',
  'seed',
  'repetition-penalty',
  'stop',
  'source',
  'target',
  'beams',
  'backend',
  'device',
]);
/** The options each command accepts (--verbose and --help go with any). */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  '': [],
  device: [],
  convert: ['calib', 'method', 'calib-limit', 'o', 'output', 'outliers', 'report'],
  classify: ['model', 'fp32', 'calib', 'method', 'calib-limit', 'batch', 'device'],
  tag: ['model', 'fp32', 'calib', 'method', 'calib-limit', 'batch', 'aggregation', 'device'],
  eval: [
    'model',
    'data',
    'reference',
    'limit',
    'batch',
    'json',
    'calib',
    'method',
    'calib-limit',
    'task',
    ...EVAL_TRANSLATION_FLAGS,
  ],
  inspect: [],
  float16: ['o', 'output'],
  generate: GENERATE_FLAGS,
  translate: TRANSLATE_FLAGS,
};
const COMMON_FLAGS = ['verbose', 'help', 'h'];

function optionName(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}

function parseArgs(command: string, argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const allowed = COMMAND_FLAGS[command] ?? [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    // "-5" is a text, not an option.
    if (!a.startsWith('-') || a.length === 1 || !Number.isNaN(Number(a))) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(0, eq < 0 ? undefined : eq).replace(/^--?/, '');
    if (!allowed.includes(name) && !COMMON_FLAGS.includes(name)) {
      const accepted = allowed.map(optionName).join(', ');
      throw new UsageError(
        `unknown option ${optionName(name)} for ${command ? `"${command}"` : 'the default command'}${accepted ? ` (it takes ${accepted})` : ' (it takes none)'}; see --help`,
      );
    }
    if (VALUED.has(name)) {
      if (eq >= 0) flags.set(name, a.slice(eq + 1));
      else if (i + 1 < argv.length) flags.set(name, argv[++i]);
      else throw new UsageError(`${a} needs a value`);
    } else {
      if (eq >= 0) throw new UsageError(`${optionName(name)} takes no value`);
      flags.set(name, true);
    }
  }
  return { positional, flags };
}

/** Commands that take no positional arguments refuse them, rather than ignore a misplaced word. */
function noPositional(args: Args, usage: string): void {
  if (args.positional.length) throw new UsageError(`unexpected argument "${args.positional[0]}"; usage: ${usage}`);
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

/** A bar on a terminal, whole lines on a pipe (progress.ts). */
const terminal = new TerminalProgress();

function progress(stage: string, done: number, total: number): void {
  terminal.count(stage, done, total);
}

function readTsv(path: string, limit?: number): GlueInput[] {
  if (!existsSync(path)) throw new UsageError(`no such file: ${path}`);
  const rows = parseGlueTsv(readFileSync(path, 'utf8'), path).rows;
  return rows.slice(0, limit ?? rows.length).map((r) => r.input);
}

function calibrationTexts(args: Args): GlueInput[] {
  const path = flag(args, 'calib') ?? (existsSync(SHARED_CALIBRATION) ? SHARED_CALIBRATION : undefined);
  if (!path) {
    process.stderr.write(
      `calibrating on the ${DEFAULT_CALIBRATION.length} built-in English sentences; pass --calib <tsv> to use text from the model's own domain\n`,
    );
    return DEFAULT_CALIBRATION.slice(0, intFlag(args, 'calib-limit'));
  }
  return readTsv(path, intFlag(args, 'calib-limit'));
}

function method(args: Args): RangeMethod | undefined {
  const m = flag(args, 'method');
  if (m === undefined) return undefined;
  if (m === 'max' || m === 'mse' || /^percentile-\d+(\.\d+)?$/.test(m)) return m as RangeMethod;
  throw new UsageError(`--method must be max, mse or percentile-P (e.g. percentile-99.99), got ${m}`);
}

function isFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

function loadProgress(p: LoadProgress): void {
  terminal.load(p);
}

/** An .i8t file, or a Hugging Face folder converted on the fly. */
async function loadInt8(gpu: GetGpu, path: string, args: Args): Promise<TextModel> {
  if (!existsSync(path)) throw new UsageError(`no such model: ${path}`);
  const device = deviceFlag(args);
  const calibration = isFolder(path) ? calibrationTexts(args) : undefined;
  const calibrationMethod = method(args);
  const options = { calibration, calibrationMethod, onProgress: loadProgress };
  // 'cpu' and 'auto' must not request a device first: without WebGPU that request is the failure.
  if (device !== 'webgpu') return loadModel(path, { ...options, device });
  return loadModel(path, { ...options, gpu: await gpu() });
}

/** --device: where an integer model runs ('webgpu' by default; 'cpu' needs no GPU). */
function deviceFlag(args: Args): 'auto' | 'webgpu' | 'cpu' {
  const device = flag(args, 'device') ?? 'webgpu';
  if (device !== 'auto' && device !== 'webgpu' && device !== 'cpu')
    throw new UsageError(`--device must be auto, webgpu or cpu, got ${device}`);
  if (device !== 'webgpu' && args.flags.has('fp32'))
    throw new UsageError(`--fp32 runs the float model on WebGPU; --device ${device} runs integer models only`);
  return device;
}

async function cmdConvert(gpu: GetGpu, args: Args): Promise<void> {
  const [folder] = args.positional;
  const out = flag(args, 'o') ?? flag(args, 'output');
  if (!folder || !out)
    throw new UsageError(
      'usage: convert <hf-folder> [--calib <tsv>] [--method max|mse|percentile-P] [--outliers auto|off] [--report] -o <model.i8t>',
    );
  if (!isFolder(folder)) throw new UsageError(`not a folder: ${folder}`);
  const outliers = flag(args, 'outliers');
  if (outliers !== undefined && outliers !== 'auto' && outliers !== 'off')
    throw new UsageError(`--outliers must be auto or off, got ${outliers}`);
  let observer: RangeObserver | undefined;
  const onCalibrated = (o: RangeObserver) => {
    observer = o;
  };
  const file = (await isMarianCheckpoint(folderSource(folder)))
    ? await convertTranslationModel(folder, commandArgs(args), { onProgress: progress, note, onCalibrated })
    : (await isDecoderCheckpoint(folderSource(folder)))
      ? await convertLanguageModel(await gpu(), folder, commandArgs(args), { onProgress: progress, note, onCalibrated })
      : await convertModel(await gpu(), folderSource(folder), {
          calibration: calibrationTexts(args),
          method: method(args),
          outliers: outliers as 'auto' | 'off' | undefined,
          onProgress: progress,
          onCalibrated,
        });
  if (args.flags.has('report') && observer) {
    terminal.endLine();
    console.log(formatCalibrationReport(calibrationReport(observer)));
    const chosen = file.program.ops.flatMap((o) =>
      o.kind === 'layernorm' && o.outliers?.part === 'smoothed'
        ? [
            `  ${o.out}: channels ${o.outliers.channels.join(', ')} divided by ${o.outliers.factors.map((f) => f.toPrecision(3)).join(', ')} (alpha ${o.outliers.alpha})`,
          ]
        : [],
    );
    console.log(
      chosen.length
        ? `smoothed (inspect shows every op):\n${chosen.join('\n')}`
        : 'no LayerNorm output smoothed: one int8 scale per tensor',
    );
  }
  const bytes = await writeIntModelFile(file);
  writeFileSync(out, bytes);
  const safetensors = `${folder}/model.safetensors`;
  const ratio = existsSync(safetensors)
    ? ` (${(bytes.length / statSync(safetensors).size).toFixed(3)}x model.safetensors)`
    : '';
  console.log(`wrote ${out}: ${(bytes.length / 1e6).toFixed(2)} MB${ratio}`);
}

function printPredictions(
  model: TextModel,
  texts: string[],
  preds: Awaited<ReturnType<TextModel['classify']>>,
  ms: number,
): void {
  preds.forEach((p, i) => console.log(`${model.kind}  ${p.label.padEnd(10)} ${p.score.toFixed(3)}  ${texts[i]}`));
  const where = model.device === 'cpu' ? ' (CPU)' : '';
  console.log(`${model.kind}${where}: ${(ms / texts.length).toFixed(1)} ms per sentence`);
}

async function cmdClassify(gpu: GetGpu, args: Args, texts: string[]): Promise<void> {
  const path = flag(args, 'model') ?? fileURLToPath(builtInModelUrl(args.flags.has('fp32') ? 'fp32' : 'int8'));
  if (texts.length === 0)
    throw new UsageError(
      'usage: classify [--model <model.i8t | hf-folder>] [--fp32] [--device auto|webgpu|cpu] "text" ...',
    );
  const batchSize = intFlag(args, 'batch');
  deviceFlag(args); // checked before any loading
  if (args.flags.has('fp32') && !existsSync(path)) throw new UsageError(`no such model: ${path}`);
  const model: TextModel = args.flags.has('fp32')
    ? await loadModel(path, { gpu: await gpu(), precision: 'fp32' })
    : await loadInt8(gpu, path, args);
  try {
    const t0 = performance.now();
    const preds = await model.classify(texts, batchSize === undefined ? undefined : { batchSize });
    printPredictions(model, texts, preds, performance.now() - t0);
    noteTruncated(preds.filter((p) => p.truncated).length, texts.length);
  } finally {
    model.dispose();
  }
}

const TAG_USAGE =
  'usage: tag --model <model.i8t | hf-folder> [--fp32] [--aggregation simple|none] [--device auto|webgpu|cpu] "text" ...';

async function cmdTag(gpu: GetGpu, args: Args, texts: string[]): Promise<void> {
  const path = flag(args, 'model');
  if (!path || texts.length === 0) throw new UsageError(TAG_USAGE);
  const aggregation = flag(args, 'aggregation') ?? 'simple';
  if (aggregation !== 'simple' && aggregation !== 'none')
    throw new UsageError(`--aggregation must be simple or none, got ${aggregation}`);
  const batchSize = intFlag(args, 'batch');
  deviceFlag(args); // checked before any loading
  if (!existsSync(path)) throw new UsageError(`no such model: ${path}`);
  const model: TextModel = args.flags.has('fp32')
    ? await loadModel(path, { gpu: await gpu(), precision: 'fp32' })
    : await loadInt8(gpu, path, args);
  try {
    if (!model.capabilities.includes('tag'))
      throw new Error(
        `${model.config.architecture} is not a token classifier (it can ${model.capabilities.join(', ')}); tag needs a *ForTokenClassification folder or its .i8t`,
      );
    const results: (EntityGroup | TokenEntity)[][] = await model.tag(texts, {
      aggregation,
      ...(batchSize === undefined ? {} : { batchSize }),
    });
    results.forEach((entities, i) => {
      console.log(texts[i]);
      for (const e of entities) {
        const label = 'entity_group' in e ? e.entity_group : e.entity;
        console.log(`  ${model.kind}  ${label.padEnd(8)} ${e.score.toFixed(3)}  ${e.word}  [${e.start}, ${e.end})`);
      }
      if (entities.length === 0) console.log('  (no entities)');
    });
  } finally {
    model.dispose();
  }
}

/** A command's arguments as src/cli/lm.ts reads them, with this parser's checks and usage error. */
function commandArgs(args: Args): CommandArgs {
  return {
    positional: args.positional,
    flag: (name) => flag(args, name),
    intFlag: (name) => intFlag(args, name),
    has: (name) => args.flags.has(name),
    method: () => method(args),
    usage: (message) => {
      throw new UsageError(message);
    },
  };
}

function note(line: string): void {
  terminal.note(line);
}

/** Long input is cut to the model's positions (RunOptions.truncation), and said so. */
function noteTruncated(truncated: number, total: number): void {
  if (truncated > 0)
    note(`${truncated} of ${total} texts were longer than the model's positions and were truncated to fit`);
}

async function cmdEval(gpu: GetGpu, args: Args): Promise<void> {
  // Another --task is refused by lm.ts.
  const task = flag(args, 'task');
  const onlyTranslation = EVAL_TRANSLATION_FLAGS.find((f) => args.flags.has(f));
  if (task !== 'translation' && onlyTranslation)
    throw new UsageError(`--${onlyTranslation} is for eval --task translation`);
  if (task === 'translation') {
    const report = await evalTranslation(gpu, commandArgs(args), { onProgress: progress, note });
    console.log(args.flags.has('json') ? JSON.stringify(report) : formatTranslationEvaluation(report));
    return;
  }
  if (args.flags.has('task')) {
    const report = await evalLanguageModel(gpu, commandArgs(args), { onProgress: progress, note });
    console.log(args.flags.has('json') ? JSON.stringify(report) : formatLmEvaluation(report));
    return;
  }
  const path = flag(args, 'model');
  const data = flag(args, 'data');
  if (!path || !data)
    throw new UsageError(
      'usage: eval --model <model.i8t | hf-folder> --data <glue.tsv> [--reference <hf-folder>] [--limit N] [--json]',
    );
  noPositional(args, 'eval --model <model.i8t | hf-folder> --data <glue.tsv>');
  if (!existsSync(path)) throw new UsageError(`no such model: ${path}`);
  if (!existsSync(data)) throw new UsageError(`no such file: ${data}`);
  const reference = flag(args, 'reference') ?? (isFolder(path) ? path : undefined);
  if (reference !== undefined && !isFolder(reference))
    throw new UsageError(`--reference must be a Hugging Face model folder: ${reference}`);
  const glue = parseGlueTsv(readFileSync(data, 'utf8'), data);
  const limited = glue.rows.slice(0, intFlag(args, 'limit') ?? glue.rows.length);
  const batchSize = intFlag(args, 'batch') ?? 16;
  const int8 = await loadInt8(gpu, path, args);
  const fp32 = reference
    ? await loadModel(reference, { gpu: await gpu(), precision: 'fp32' }).catch((e) => {
        int8.dispose();
        throw e;
      })
    : undefined;
  try {
    const result = await evaluate(int8, fp32, limited, {
      batchSize,
      onProgress: (done, total) => terminal.count('evaluating', done, total, 'sentences'),
    });
    const report = { model: path, task: glue.task, ...result };
    noteTruncated(result.truncated, result.n);
    console.log(args.flags.has('json') ? JSON.stringify(report) : formatEvaluation(report));
  } finally {
    int8.dispose();
    fp32?.dispose();
  }
}

async function cmdDefault(getGpu: GetGpu): Promise<void> {
  const gpu = await getGpu();
  console.log(`${formatDeviceReport(gpu).split('\n').slice(0, 4).join('\n')}\n`);
  const model = await loadModel('default', { gpu });
  try {
    console.log(`built-in model: ${describeConfig(model.config)}, integer-only on WebGPU\n`);
    const t0 = performance.now();
    const preds = await model.classify(EXAMPLES);
    printPredictions(model, EXAMPLES, preds, performance.now() - t0);
  } finally {
    model.dispose();
  }
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === 'help' || first === '--help' || first === '-h') {
    // The doc comment above, found by its first line: in the built dist/ it is no longer first, and
    // its lines start with "*" instead of " *".
    const doc = readFileSync(fileURLToPath(import.meta.url), 'utf8').match(/\/\*\*\n ?\* Command line:[\s\S]*?\*\//)!;
    console.log(doc[0].replace(/^\/\*\*\n|\*\/$/g, '').replace(/^ ?\* ?/gm, ''));
    return 0;
  }
  // Options before any command ("--verbose", or a typo) belong to the default command.
  const command = first === undefined || first.startsWith('-') ? '' : first;
  if (!(command in COMMAND_FLAGS)) {
    throw new UsageError(
      `unknown command "${command}"; commands: convert, classify, tag, generate, translate, eval, float16, inspect, device (see --help)`,
    );
  }
  const args = parseArgs(command, command ? rest : argv);
  if (args.flags.has('help') || args.flags.has('h')) return main(['--help']);
  if (command === 'float16') {
    // No GPU needed: a file-to-file rewrite.
    const [folder, ...extra] = args.positional;
    const out = flag(args, 'o') ?? flag(args, 'output');
    if (!folder || !out || extra.length) throw new UsageError('usage: float16 <hf-folder> -o <folder>');
    if (!isFolder(folder)) throw new UsageError(`not a folder: ${folder}`);
    const { bytesIn, bytesOut } = writeFloat16Folder(folder, out);
    console.log(
      `wrote ${out}/model.safetensors: ${(bytesOut / 1e6).toFixed(2)} MB (from ${(bytesIn / 1e6).toFixed(2)} MB)`,
    );
    return 0;
  }
  if (command === '' || command === 'device') noPositional(args, command || 'int8-transformer [command] (see --help)');
  if (command === 'inspect') {
    const [path, ...extra] = args.positional;
    if (!path || extra.length) throw new UsageError('usage: inspect <model.i8t>');
    if (!existsSync(path)) throw new UsageError(`no such file: ${path}`);
  }
  if (command === 'convert' && args.positional.length > 1)
    throw new UsageError(`unexpected argument "${args.positional[1]}"; usage: convert <hf-folder> -o <model.i8t>`);
  // The device is requested only once the arguments have been checked: a usage error costs no
  // adapter start (and none of Dawn's start-up warnings).
  let device: Gpu | undefined;
  const gpu: GetGpu = async () => (device ??= await requestGpu());
  try {
    switch (command) {
      case '':
        await cmdDefault(gpu);
        break;
      case 'device':
        console.log(formatDeviceReport(await gpu()));
        break;
      case 'convert':
        await cmdConvert(gpu, args);
        break;
      case 'classify':
        await cmdClassify(gpu, args, args.positional);
        break;
      case 'tag':
        await cmdTag(gpu, args, args.positional);
        break;
      case 'eval':
        await cmdEval(gpu, args);
        break;
      case 'generate':
        await generateCommand(gpu, commandArgs(args), {
          onLoad: loadProgress,
          write: (text) => process.stdout.write(text),
          note,
        });
        break;
      case 'translate':
        await translateCommand(gpu, commandArgs(args), {
          onLoad: loadProgress,
          write: (text) => process.stdout.write(text),
          note,
        });
        break;
      case 'inspect': {
        const [path] = args.positional;
        const file = await readAnyIntFile(new Uint8Array(readFileSync(path)), path);
        const c = file.config;
        const title =
          c.task === 'translation'
            ? `${c.architecture}: ${c.encoderLayers} + ${c.decoderLayers} layers, hidden ${c.hiddenSize}, ${c.encoderHeads} / ${c.decoderHeads} heads, FFN ${c.encoderFfnSize} / ${c.decoderFfnSize}`
            : `${c.architecture}: ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads, FFN ${c.intermediateSize}`;
        console.log(dumpProgram(file.program, title));
        console.log(`provenance: ${JSON.stringify(file.provenance)}`);
        break;
      }
    }
  } finally {
    device?.destroy();
  }
  return 0;
}

/** One line: multi-line messages are joined, and an error without a message says what it is. */
function errorLine(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.name : typeof e;
  const text = message.trim() ? message : `${name} (no message)`;
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  return e instanceof GpuUnavailableError ? `WebGPU unavailable: ${line}` : line;
}

/** Runs the command line in process.argv and exits (bin.ts calls it). */
export function run(): void {
  const verbose = process.argv.slice(2).includes('--verbose');
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      terminal.endLine();
      console.error(`int8-transformer: ${errorLine(e)}`);
      if (verbose && e instanceof Error && e.stack) console.error(e.stack);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
