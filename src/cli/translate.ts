/**
 * The command line's translation parts (src/cli/main.ts dispatches here):
 *   translate [--model <marian-folder | model.i8t>] "text" ... [--beams K] [--max-new-tokens N] [--fp32]
 *   eval --task translation --source <file> --target <file> [--model <marian-folder | model.i8t>]
 *        [--reference <marian-folder>] [--beams K] [--limit N] [--batch N] [--backend gpu|cpu] [--json]
 *   convert <marian-folder> [--calib <text file of source sentences>] [--calib-limit N] [--method ...] -o <model.i8t>
 * A folder is converted to int8 on the way (calibrated on --calib's source-language lines, else the
 * built-in English sentences). Evaluation runs the search of src/generate/translate.ts over the
 * sessions of either backend: the GPU interpreters, or the CPU ones (the integer specification and
 * the float64 model), which on a software adapter are the only ones fast enough for a test set.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type LoadProgress, loadModel } from '../api.js';
import { DEFAULT_MT_CALIBRATION } from '../calibrate/default-mt-calibration.js';
import type { RangeObserver } from '../calibrate/range-observer.js';
import { convertTranslatorModel } from '../convert.js';
import type { MarianConfig, MarianModel } from '../core/types.js';
import { FloatTranslatorCpu } from '../cpu/float-translator.js';
import { IntTranslatorCpuSession } from '../cpu/int-translator-session.js';
import {
  evaluateTranslation,
  type SessionFactory,
  type TranslationEvaluation,
  translationLines,
} from '../evaluate-mt.js';
import { type IntTranslatorFile, isTranslatorFile, readAnyIntFile } from '../format/int-model-file.js';
import { checkTranslateOptions, type TranslateOptions } from '../generate/translate.js';
import type { Gpu } from '../gpu/gpu.js';
import { isMarianCheckpoint, loadMarianModel } from '../model/load.js';
import { loadMarianTokenizer, marianGraph } from '../model/marian.js';
import { memorySource } from '../model/sources.js';
import { folderSource } from '../model/sources-node.js';
import { FloatTranslatorGpu } from '../runtime/float-translator.js';
import { IntTranslatorGpu } from '../runtime/int-translator.js';
import { maxLengthOf } from '../translation-model.js';
import { architectureOf, type CommandArgs, type CommandHooks } from './lm.js';

/** The translation model `eval --task translation` uses without --model, when ../shared is there. */
export const SHARED_MT = fileURLToPath(new URL('../../../shared/models/multi30k-marian-en-de', import.meta.url));

/**
 * Where a built-in translation model would be (models/, as the other built-in models): `translate`
 * uses it without --model once one is shipped; until then --model is required.
 */
const BUILT_IN_MT = {
  int8: fileURLToPath(new URL('../../models/multi30k-marian-en-de.i8t', import.meta.url)),
  fp32: fileURLToPath(new URL('../../models/multi30k-marian-en-de', import.meta.url)),
};

export const TRANSLATE_USAGE =
  'usage: translate --model <marian-folder | model.i8t> "text" ... [--beams K] [--max-new-tokens N] [--fp32] [--calib <text file>]';

export const TRANSLATE_FLAGS = ['model', 'beams', 'max-new-tokens', 'fp32', 'calib', 'calib-limit', 'method'] as const;

/** What eval takes for translation on top of its other options. */
export const EVAL_TRANSLATION_FLAGS = ['source', 'target', 'beams', 'backend'] as const;

const EVAL_USAGE =
  'usage: eval --task translation --source <file> --target <file> [--model <marian-folder | model.i8t>] [--reference <marian-folder>] [--beams K] [--limit N] [--batch N] [--backend gpu|cpu] [--calib <text file>] [--json]';

function isFolder(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** A text file's lines as given (line i of a source file goes with line i of its target file). */
function readFileLines(a: CommandArgs, path: string): string[] {
  if (!existsSync(path) || isFolder(path)) a.usage(`no such file: ${path}`);
  return translationLines(readFileSync(path, 'utf8'));
}

/** Calibration sentences (source language): --calib's non-blank lines up to --calib-limit, else the built-in ones. */
function calibrationSentences(a: CommandArgs, note: (line: string) => void): string[] {
  const path = a.flag('calib');
  const limit = a.intFlag('calib-limit');
  if (path === undefined) {
    note(
      `calibrating on the ${DEFAULT_MT_CALIBRATION.length} built-in English sentences; pass --calib <text file> (source-language sentences, one per line) to use text from the model's own domain`,
    );
    return DEFAULT_MT_CALIBRATION.slice(0, limit);
  }
  const lines = readFileLines(a, path)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .slice(0, limit);
  if (lines.length === 0) throw new Error(`${path}: no calibration text (every line is blank)`);
  return lines;
}

/** `convert` of a Marian folder: CPU only (the float64 model translates the calibration text). */
export async function convertTranslationModel(
  folder: string,
  a: CommandArgs,
  hooks: CommandHooks & { onCalibrated: (o: RangeObserver) => void },
): Promise<IntTranslatorFile> {
  const outliers = a.flag('outliers');
  return convertTranslatorModel(folderSource(folder), {
    calibration: calibrationSentences(a, hooks.note),
    method: a.method(),
    outliers: outliers as 'auto' | 'off' | undefined,
    onProgress: hooks.onProgress,
    onCalibrated: hooks.onCalibrated,
  });
}

function notTranslationModel(a: CommandArgs, path: string, architecture: string, command: string): never {
  a.usage(
    `${path} is ${architecture}, not a translation model; ${command} needs a Marian folder (MarianMTModel) or its .i8t`,
  );
}

const FLAG_OF: Record<string, string> = { numBeams: '--beams', maxNewTokens: '--max-new-tokens' };

/** The library's range errors with option names as the command line spells them, as usage errors. */
function checkOptions(a: CommandArgs, options: TranslateOptions): void {
  try {
    checkTranslateOptions(options);
  } catch (e) {
    a.usage((e as Error).message.replace(/\b(numBeams|maxNewTokens)\b/g, (k) => FLAG_OF[k]));
  }
}

/** `translate`: one greedy text streams to stdout as it comes; otherwise one translation per line, in order. */
export async function translateCommand(
  getGpu: () => Promise<Gpu>,
  a: CommandArgs,
  hooks: { onLoad: (p: LoadProgress) => void; write: (text: string) => void; note: (line: string) => void },
): Promise<void> {
  const texts = a.positional;
  if (texts.length === 0) a.usage(TRANSLATE_USAGE);
  const fp32 = a.has('fp32');
  const builtIn = BUILT_IN_MT[fp32 ? 'fp32' : 'int8'];
  const path = a.flag('model') ?? (existsSync(builtIn) ? builtIn : undefined);
  if (path === undefined) a.usage(`--model is required: there is no built-in translation model; ${TRANSLATE_USAGE}`);
  if (!existsSync(path)) a.usage(`no such model: ${path}`);
  const folder = isFolder(path);
  if (fp32 && !folder) a.usage(`--fp32 needs a Hugging Face folder (an .i8t file holds no float weights): ${path}`);
  if (!folder && a.has('calib')) a.usage('--calib: an .i8t file is already calibrated (--calib is for a model folder)');
  if (fp32 && a.has('calib')) a.usage('--calib: --fp32 runs the float weights as they are (nothing to calibrate)');
  // Before anything loads (a conversion takes minutes, compiling kernels seconds): a model of
  // another kind is refused by name.
  let source: string | Uint8Array = path;
  if (folder) {
    if (!(await isMarianCheckpoint(folderSource(path))))
      notTranslationModel(a, path, await architectureOf(path), 'translate');
  } else {
    source = new Uint8Array(readFileSync(path));
    const file = await readAnyIntFile(source, path);
    if (!isTranslatorFile(file)) notTranslationModel(a, path, file.config.architecture, 'translate');
  }
  const numBeams = a.intFlag('beams') ?? 1;
  const maxNewTokens = a.intFlag('max-new-tokens');
  const options: TranslateOptions = { numBeams, ...(maxNewTokens !== undefined ? { maxNewTokens } : {}) };
  checkOptions(a, options);
  const calibration = folder && !fp32 ? calibrationSentences(a, hooks.note) : undefined;
  const model = await loadModel(source, {
    gpu: await getGpu(),
    precision: fp32 ? 'fp32' : 'int8',
    calibration,
    calibrationMethod: a.method(),
    onProgress: hooks.onLoad,
  });
  try {
    const t0 = performance.now();
    let tokens = 0;
    if (texts.length === 1 && numBeams === 1) {
      const translation = model.translate(texts[0], options);
      for await (const piece of translation) hooks.write(piece);
      const result = await translation;
      tokens = result.tokens.length;
      hooks.write('\n');
    } else {
      const results = await model.translate(texts, options);
      for (const r of results) {
        hooks.write(`${r.text}\n`);
        tokens += r.tokens.length;
      }
    }
    const ms = performance.now() - t0;
    hooks.note(
      `${model.kind}: ${texts.length} sentence${texts.length > 1 ? 's' : ''}, ${tokens} tokens, ${numBeams > 1 ? `${numBeams} beams` : 'greedy'}, ${(ms / texts.length).toFixed(1)} ms per sentence`,
    );
  } finally {
    model.dispose();
  }
}

function sameConfig(x: MarianConfig, y: MarianConfig): boolean {
  const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])] as (keyof MarianConfig)[];
  return keys.every((k) => x[k] === y[k]);
}

/** The integer file's tokenizer, rebuilt from the files it stores. */
async function fileTokenizer(file: IntTranslatorFile, what: string) {
  const files: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
  if (file.tokenizer.config !== undefined) files['tokenizer_config.json'] = file.tokenizer.config;
  return loadMarianTokenizer(memorySource(files, what), file.config);
}

/** `eval --task translation`: one report (printed by main.ts as JSON or text). */
export async function evalTranslation(
  getGpu: () => Promise<Gpu>,
  a: CommandArgs,
  hooks: CommandHooks,
): Promise<TranslationEvaluation & { model: string; reference: string | null; backend: 'gpu' | 'cpu' }> {
  if (a.positional.length) a.usage(`unexpected argument "${a.positional[0]}"; ${EVAL_USAGE}`);
  if (a.has('data'))
    a.usage(`--data is for GLUE and --task lm; translation reads --source and --target; ${EVAL_USAGE}`);
  const sourcePath = a.flag('source');
  const targetPath = a.flag('target');
  if (!sourcePath || !targetPath) a.usage(EVAL_USAGE);
  const path = a.flag('model') ?? (existsSync(SHARED_MT) ? SHARED_MT : undefined);
  if (!path) a.usage(`--model is needed: there is no built-in translation model; ${EVAL_USAGE}`);
  if (!existsSync(path)) a.usage(`no such model: ${path}`);
  const backend = a.flag('backend') ?? 'gpu';
  if (backend !== 'gpu' && backend !== 'cpu') a.usage(`--backend must be gpu or cpu, got ${backend}`);
  const numBeams = a.intFlag('beams') ?? 1;
  checkOptions(a, { numBeams });
  const limit = a.intFlag('limit');
  const batchSize = a.intFlag('batch') ?? 1;
  const folder = isFolder(path);
  if (!folder && a.has('calib')) a.usage('--calib: an .i8t file is already calibrated (--calib is for a model folder)');
  const reference = a.flag('reference') ?? (folder ? path : undefined);
  if (reference !== undefined && !isFolder(reference))
    a.usage(`--reference must be a Hugging Face model folder: ${reference}`);
  let sources = readFileLines(a, sourcePath);
  let targets = readFileLines(a, targetPath);
  if (sources.length !== targets.length)
    throw new Error(
      `${sourcePath} has ${sources.length} lines and ${targetPath} ${targets.length}: a source and its reference go on the same line of each`,
    );
  if (sources.length === 0) throw new Error(`${sourcePath}: no sentence to translate (the file is empty)`);
  sources = sources.slice(0, limit);
  targets = targets.slice(0, limit);
  for (const p of [path, reference])
    if (p !== undefined && isFolder(p) && !(await isMarianCheckpoint(folderSource(p))))
      notTranslationModel(a, p, await architectureOf(p), 'eval --task translation');

  // The model: a folder is converted here, on the CPU (calibrated on --calib or the built-in sentences).
  let float: MarianModel | undefined;
  let file: IntTranslatorFile;
  if (folder) {
    const files = folderSource(path);
    float = await loadMarianModel(files);
    file = await convertTranslatorModel(files, {
      model: float,
      calibration: calibrationSentences(a, hooks.note),
      method: a.method(),
      onProgress: hooks.onProgress,
    });
  } else {
    const read = await readAnyIntFile(new Uint8Array(readFileSync(path)), path);
    if (!isTranslatorFile(read)) notTranslationModel(a, path, read.config.architecture, 'eval --task translation');
    file = read;
  }
  if (reference !== undefined && reference !== path) {
    float = await loadMarianModel(folderSource(reference));
    if (!sameConfig(float.config, file.config))
      throw new Error(
        `--reference ${reference}: its config differs from the model's (${path}); pass the folder it was converted from`,
      );
  }
  const config = file.config;
  const tokenizer = await fileTokenizer(file, path);
  const graph = float && marianGraph(float.config);

  let int8: SessionFactory;
  let fp32: SessionFactory | undefined;
  if (backend === 'cpu') {
    int8 = async ({ capacity }) => new IntTranslatorCpuSession(file.program, config, capacity);
    if (float && graph) {
      const model = float;
      fp32 = async ({ capacity }) => new FloatTranslatorCpu(model, graph, capacity);
    }
  } else {
    const gpu = await getGpu();
    int8 = (size) => IntTranslatorGpu.create(gpu, file.program, config, size);
    if (float && graph) {
      const model = float;
      fp32 = (size) => FloatTranslatorGpu.create(gpu, model, graph, size);
    }
  }
  const report = await evaluateTranslation(int8, fp32, tokenizer, config, sources, targets, {
    numBeams,
    batchSize,
    maxLength: maxLengthOf(file.generation),
    what: sourcePath,
    onProgress: (p) => {
      const bleu = (v: number | null | undefined) => (v === undefined || v === null ? '-' : v.toFixed(2));
      hooks.onProgress(
        `translating (BLEU INT8 ${bleu(p.int8Bleu)}, FP32 ${fp32 ? bleu(p.fp32Bleu) : 'n/a'})`,
        p.done,
        p.total,
      );
    },
  });
  return { ...report, backend, model: path, reference: reference ?? null };
}
