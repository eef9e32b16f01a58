/**
 * The command line's language-model parts (src/cli/main.ts dispatches here):
 *   convert <gpt2-folder> [--calib <text file>] [--calib-limit N] [--method ...] -o <model.i8t>
 *   eval --task lm --data <text file> [--model <gpt2-folder | model.i8t>] [--reference <gpt2-folder>]
 *        [--limit N] [--batch N] [--calib <text file>] [--calib-limit N] [--method ...] [--json]
 * Text files hold one document per line (blank lines skipped). Evaluation prints INT8 and FP32
 * perplexity (src/evaluate-lm.ts); FP32 needs float weights: a folder has them, an .i8t file does not
 * (its fp32Perplexity is null unless --reference names the folder it was converted from).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LM_CALIBRATION } from '../calibrate/default-lm-calibration.js';
import type { RangeMethod, RangeObserver } from '../calibrate/range-observer.js';
import { convertDecoderModel } from '../convert.js';
import type { DecoderConfig, DecoderModel } from '../core/types.js';
import { evaluateLm, floatLogitsGpu, intLogitsGpu, type LmEvaluation, lmDocuments, textLines } from '../evaluate-lm.js';
import { type IntDecoderFile, isDecoderFile, readAnyIntModelFile } from '../format/int-model-file.js';
import type { Gpu } from '../gpu/gpu.js';
import { decoderFileTokenizer } from '../language-model.js';
import { decoderGraph } from '../model/decoder.js';
import { isDecoderCheckpoint, loadDecoderModel } from '../model/load.js';
import { readJson } from '../model/sources.js';
import { folderSource } from '../model/sources-node.js';
import { FloatGraphGpu } from '../runtime/float-graph.js';
import { IntProgramGpu } from '../runtime/int-program.js';

/** The language model `eval --task lm` uses without --model, when ../shared is there. */
export const SHARED_LM = fileURLToPath(new URL('../../../shared/models/multi30k-gpt2-tiny', import.meta.url));

/** What main.ts's parser gives a command: its flags, checked the way main.ts checks them, and its usage error. */
export interface CommandArgs {
  positional: readonly string[];
  flag(name: string): string | undefined;
  /** A positive integer flag (a usage error otherwise). */
  intFlag(name: string): number | undefined;
  has(name: string): boolean;
  method(): RangeMethod | undefined;
  /** Throws main.ts's usage error (exit 2). */
  usage(message: string): never;
}

export interface CommandHooks {
  onProgress: (stage: string, done: number, total: number) => void;
  /** Lines for the user beside the progress (stderr). */
  note: (line: string) => void;
}

const EVAL_USAGE =
  'usage: eval --task lm --data <text file, one document per line> [--model <gpt2-folder | model.i8t>] [--reference <gpt2-folder>] [--limit N] [--batch N] [--calib <text file>] [--json]';

function isFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** The documents of a text file given on the command line (a usage error when there is no such file). */
function readLines(a: CommandArgs, path: string): string[] {
  if (!existsSync(path) || isFolder(path)) a.usage(`no such file: ${path}`);
  return textLines(readFileSync(path, 'utf8'));
}

/** Calibration text: --calib's lines (up to --calib-limit), else the built-in sentences. */
function calibrationText(a: CommandArgs, hooks: CommandHooks): string[] {
  const path = a.flag('calib');
  const limit = a.intFlag('calib-limit');
  if (path === undefined) {
    hooks.note(
      `calibrating on the ${DEFAULT_LM_CALIBRATION.length} built-in English sentences; pass --calib <text file> (one document per line) to use text from the model's own domain`,
    );
    return DEFAULT_LM_CALIBRATION.slice(0, limit);
  }
  const lines = readLines(a, path).slice(0, limit);
  if (lines.length === 0) throw new Error(`${path}: no calibration text (every line is blank)`);
  return lines;
}

/** `convert` of a GPT-2 folder. */
export async function convertLanguageModel(
  gpu: Gpu,
  folder: string,
  a: CommandArgs,
  hooks: CommandHooks & { onCalibrated: (o: RangeObserver) => void },
): Promise<IntDecoderFile> {
  if (a.flag('outliers') === 'auto')
    a.usage(
      '--outliers auto: language models are planned with one int8 scale per tensor (outlier smoothing is for encoders)',
    );
  return convertDecoderModel(gpu, folderSource(folder), {
    calibration: calibrationText(a, hooks),
    method: a.method(),
    onProgress: hooks.onProgress,
    onCalibrated: hooks.onCalibrated,
  });
}

/** What a model folder is: config.json's first architecture, for the messages refusing another kind. */
export async function architectureOf(folder: string): Promise<string> {
  const json = (await readJson(folderSource(folder), 'config.json', 'the model configuration')) as {
    architectures?: unknown;
  } | null;
  const archs = json?.architectures;
  return Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : 'a model without "architectures"';
}

function notLanguageModel(path: string, architecture: string): Error {
  return new Error(
    `${path} is ${architecture}, an encoder; --task lm needs a language model (GPT2LMHeadModel folder or its .i8t)`,
  );
}

function sameConfig(a: DecoderConfig, b: DecoderConfig): boolean {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])] as (keyof DecoderConfig)[];
  return keys.every((k) => a[k] === b[k]);
}

/** `eval --task lm`: one result object (printed by main.ts as JSON or text). */
export async function evalLanguageModel(
  getGpu: () => Promise<Gpu>,
  a: CommandArgs,
  hooks: CommandHooks,
): Promise<LmEvaluation & { model: string }> {
  const task = a.flag('task');
  if (task !== 'lm')
    a.usage(
      `--task must be lm or translation, got ${task} (GLUE tasks are read from the tsv's layout, without --task)`,
    );
  if (a.positional.length) a.usage(`unexpected argument "${a.positional[0]}"; ${EVAL_USAGE}`);
  const data = a.flag('data');
  const path = a.flag('model') ?? (existsSync(SHARED_LM) ? SHARED_LM : undefined);
  if (!data) a.usage(EVAL_USAGE);
  if (!path) a.usage(`--model is needed: there is no built-in language model; ${EVAL_USAGE}`);
  if (!existsSync(path)) a.usage(`no such model: ${path}`);
  const limit = a.intFlag('limit');
  const batchSize = a.intFlag('batch') ?? 16;
  const folder = isFolder(path);
  if (!folder && a.has('calib')) a.usage('--calib: an .i8t file is already calibrated (--calib is for a model folder)');
  const reference = a.flag('reference') ?? (folder ? path : undefined);
  if (reference !== undefined && !isFolder(reference))
    a.usage(`--reference must be a Hugging Face model folder: ${reference}`);
  let lines = readLines(a, data!);
  if (lines.length === 0) throw new Error(`${data}: no document to score (every line is blank; one document per line)`);
  lines = lines.slice(0, limit);

  // The model: a folder is converted here (calibrated on --calib or the built-in sentences).
  let float: DecoderModel | undefined;
  let file: IntDecoderFile;
  if (folder) {
    const files = folderSource(path);
    if (!(await isDecoderCheckpoint(files))) throw notLanguageModel(path, await architectureOf(path));
    float = await loadDecoderModel(files);
    file = await convertDecoderModel(await getGpu(), files, {
      model: float,
      calibration: calibrationText(a, hooks),
      method: a.method(),
      onProgress: hooks.onProgress,
    });
  } else {
    const read = await readAnyIntModelFile(new Uint8Array(readFileSync(path)), path);
    if (!isDecoderFile(read)) throw notLanguageModel(path, read.config.architecture);
    file = read;
  }
  if (reference !== undefined && reference !== path) {
    const files = folderSource(reference);
    if (!(await isDecoderCheckpoint(files))) throw notLanguageModel(reference, await architectureOf(reference));
    float = await loadDecoderModel(files);
    if (!sameConfig(float.config, file.config))
      throw new Error(
        `--reference ${reference}: its config differs from the model's (${path}); pass the folder it was converted from`,
      );
  }
  const tokenizer = await decoderFileTokenizer(file, path);
  const documents = lmDocuments(tokenizer, lines, file.config.maxPositions, data);

  const gpu = await getGpu();
  const vocab = file.config.vocabSize;
  const seq = Math.max(...documents.map((d) => d.length - 1));
  const int8 = await IntProgramGpu.create(gpu, file.program);
  let fp32: FloatGraphGpu | undefined;
  try {
    if (float)
      fp32 = await FloatGraphGpu.create(gpu, decoderGraph(float.config), float.params, {
        capacity: { batch: Math.min(batchSize, documents.length), seq },
      });
    const result = await evaluateLm(intLogitsGpu(int8), fp32 && floatLogitsGpu(fp32), documents, {
      vocab,
      padId: file.config.eosTokenId,
      batchSize,
      onProgress: (done, total) => hooks.onProgress('evaluating', done, total),
    });
    return { ...result, model: path };
  } finally {
    int8.dispose();
    fp32?.dispose();
  }
}
