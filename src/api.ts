/**
 * The front door: `loadModel(source, options)` turns whatever the user has (nothing, an integer
 * model file, a Hugging Face folder by path, URL or dropped File objects) into a ready TextModel,
 * converting float checkpoints to integers on the fly. Same code in browsers and Node.
 */
import { DEFAULT_CALIBRATION } from './calibrate/default-calibration.js';
import type { RangeMethod } from './calibrate/range-observer.js';
import {
  convertDecoderModel,
  convertModel,
  convertTranslatorModel,
  generationSettings,
  hashingSource,
} from './convert.js';
import { checkTexts, describeValue } from './core/text-inputs.js';
import type { EncoderModel } from './core/types.js';
import type { GlueInput } from './data/glue.js';
import { checkDeviceOption, type DeviceOption, loadModelOnCpu, resolveDevice } from './device-choice.js';
import {
  type AnyIntFile,
  type IntDecoderFile,
  type IntTranslatorFile,
  isDecoderFile,
  isTranslatorFile,
  readAnyIntFile,
  writeIntModelFile,
} from './format/int-model-file.js';
import { acquireOwnGpu, acquireSharedGpu, checkDeviceFits, type FitOptions, type GpuLease } from './gpu/device.js';
import type { Gpu } from './gpu/gpu.js';
import { modelGraph } from './graph/architectures.js';
import { Fp32LanguageModel, Int8LanguageModel } from './language-model.js';
import { convertedKey, convertedStore, filesIdentity } from './model/cache.js';
import type { CachingFetch } from './model/cache-browser.js';
import { describeConfig } from './model/config.js';
import { decoderGraph } from './model/decoder.js';
import { loadDecoderTokenizer } from './model/decoder-tokenizer.js';
import { DEFAULT_HUB_HOST, parseHubId, resolveHubModel } from './model/hub.js';
import {
  isDecoderCheckpoint,
  isMarianCheckpoint,
  loadDecoderModel,
  loadEncoderModel,
  loadMarianModel,
} from './model/load.js';
import { loadMarianTokenizer, marianGraph } from './model/marian.js';
import {
  type Fetch,
  fileListSource,
  getFile,
  type ModelFiles,
  type ResolvedSource,
  readResponse,
  urlSource,
} from './model/sources.js';
import { Fp32Model, floatGraphNeeds, floatModelNeeds, Int8Model, intProgramNeeds, type TextModel } from './session.js';
import { Fp32TranslationModel, Int8TranslationModel, maxLengthOf } from './translation-model.js';

/**
 * - `'default'`: the built-in SST-2 sentiment classifier (BERT, 2 layers x 128) shipped in models/;
 * - a string or URL: an `.i8t` integer model file, or else a Hugging Face model folder (in Node a
 *   path or a file: URL; in browsers a URL, relative ones against the page or the worker's script);
 * - a hub model id, 'org/name' or 'org/name@revision': the repo's files on the hub (see hubHost),
 *   its `model.i8t` when it has one; in Node an existing path of that name is the path instead;
 * - bytes: the contents of an `.i8t` file;
 * - File objects (a drop or an `<input type=file webkitdirectory>`): one `.i8t` file, or the files
 *   of a Hugging Face folder (config.json, model.safetensors, tokenizer.json, ...);
 * - any ModelFiles (see urlSource, fileListSource, memorySource).
 */
export type ModelSource = 'default' | string | URL | Uint8Array | ArrayBuffer | Iterable<File> | ModelFiles;

export type Precision = 'int8' | 'fp32';

export interface LoadProgress {
  /** 'cache': a file or the converted model was found in the loading cache (see LoadOptions.cache). */
  stage: 'download' | 'cache' | 'convert' | 'compile' | 'ready';
  /** Progress within the stage, 0..1 (0 while a download's size is unknown). */
  fraction: number;
  message: string;
  /** Seconds since this stage began; events repeat at least every second while a stage lasts. */
  elapsedSeconds?: number;
  /** Downloads: this file's average speed so far. */
  bytesPerSecond?: number;
  /** Calibration: the seconds it should still take, at its pace so far. */
  etaSeconds?: number;
}

export interface LoadOptions {
  /** 'int8' (default): integer-only; 'fp32': the float reference on the same GPU. */
  precision?: Precision;
  /**
   * 'webgpu' (default): the GPU. 'cpu': the integer interpreter on the CPU, with the GPU's logits
   * bit for bit (integer model files and the built-in model; encoders so far). 'auto': WebGPU when
   * an adapter answers, else the CPU. The model's `device` says which it runs on.
   */
  device?: DeviceOption;
  /**
   * The device to run on, shared with whatever else the caller runs on it; the caller destroys it.
   * The model cannot replace it after a device loss (calls then fail, saying so). Without it the
   * model holds a lease on a device of the library's (see shareDevice) and recovers from a loss.
   */
  gpu?: Gpu;
  /**
   * true (default): models loaded without `gpu` share one device, released (after a 2 s grace,
   * which lets a reload reuse its compiled kernels) once the last of them is disposed. false: this
   * model requests a device of its own, destroyed by dispose().
   */
  shareDevice?: boolean;
  /**
   * true (default): after a device loss, the model's next call requests a new device, rebuilds the
   * model from the program or weights it keeps in memory, then runs (a call in flight at the loss
   * rejects with GpuDeviceLostError). false: calls after a loss reject with GpuDeviceLostError saying
   * so, and the model must be loaded again.
   */
  recover?: boolean;
  /**
   * Before allocating, a model larger than the device's buffer limits is always refused; on a
   * software adapter (whose device memory is host memory) one larger than the free host memory is
   * refused too, unless this is false.
   */
  memoryGuard?: boolean;
  onProgress?: (progress: LoadProgress) => void;
  /** Text to calibrate activation ranges when converting a float folder to int8 (128 English review sentences by default). */
  calibration?: readonly GlueInput[];
  /** Activation range rule for that conversion: 'percentile-99.99' by default, or 'max'. */
  calibrationMethod?: RangeMethod;
  fetch?: Fetch;
  /**
   * true (default): a float checkpoint converted to int8 is kept, keyed by its source (URL, folder
   * path and file dates, or the content of dropped files), the converter's version and the
   * calibration options, so that loading it again skips download and calibration; in browsers every
   * downloaded model file is kept too (Cache API). Node keeps converted models in
   * INT8_TRANSFORMER_CACHE, else int8-transformer/ under the user's cache directory. false: neither
   * read nor written. clearCache() empties it.
   */
  cache?: boolean;
  /**
   * Where hub model ids ('org/name') are fetched from: https://huggingface.co by default (in Node
   * the environment's INT8_TRANSFORMER_HUB, else HF_ENDPOINT, when set), or a mirror.
   */
  hubHost?: string;
}

const BUILT_IN = {
  classify: { int8: 'sst2-bert-tiny.i8t', fp32: 'sst2-bert-tiny/' },
  generate: { int8: 'multi30k-gpt2-tiny.i8t', fp32: 'multi30k-gpt2-tiny/' },
  translate: { int8: 'multi30k-marian-en-de.i8t', fp32: 'multi30k-marian-en-de/' },
} as const;

/**
 * Where the built-in models live: models/ beside src/ (and beside dist/ in the package). Built by a
 * call, not a literal, so bundlers leave the multi-megabyte files alone instead of inlining them.
 */
export function builtInModelUrl(precision: Precision = 'int8', task: keyof typeof BUILT_IN = 'classify'): URL {
  return new URL(modelsPath(BUILT_IN[task][precision]), import.meta.url);
}

function modelsPath(name: string): string {
  return ['..', 'models', name].join('/');
}

export async function loadModel(source: ModelSource = 'default', options: LoadOptions = {}): Promise<TextModel> {
  const precision = options.precision ?? 'int8';
  if (precision !== 'int8' && precision !== 'fp32')
    throw new Error(`unknown precision "${String(precision)}"; use 'int8' or 'fp32'`);
  // Checked before any download or device request: a bad calibration list would otherwise fail
  // deep inside calibration, after the weights were fetched.
  if (options.calibration !== undefined) {
    if (!Array.isArray(options.calibration))
      throw new TypeError(
        `loadModel: calibration is ${describeValue(options.calibration)}; expected a list of strings and [string, string] pairs`,
      );
    checkTexts(options.calibration, 'loadModel: calibration');
  }
  if (options.cache !== undefined && typeof options.cache !== 'boolean')
    throw new TypeError(`loadModel: cache is ${describeValue(options.cache)}; expected true or false`);
  if (options.gpu !== undefined && options.shareDevice !== undefined)
    throw new TypeError("loadModel: shareDevice applies to the library's devices; with a gpu given, leave it out");
  if ((await resolveDevice(checkDeviceOption(options.device), !!options.gpu)) === 'cpu') {
    const cpu = await loadModelOnCpu(
      () =>
        resolveSource(
          source === 'default' ? builtInModelUrl(precision) : source,
          options,
          options.onProgress ?? (() => {}),
        ),
      precision,
    );
    options.onProgress?.({ stage: 'ready', fraction: 1, message: `${describeConfig(cpu.config)}, int8 on the CPU` });
    return cpu;
  }
  const useCache = options.cache ?? true;
  const progress = everySecond(options.onProgress);
  const report = progress.report;
  const acquire: (() => Promise<GpuLease>) | undefined = options.gpu
    ? undefined
    : options.shareDevice === false
      ? acquireOwnGpu
      : acquireSharedGpu;
  let lease: GpuLease;
  try {
    lease = acquire ? await acquire() : { gpu: options.gpu!, release: () => {} };
  } catch (e) {
    progress.stop();
    throw e;
  }
  const gpu = lease.gpu;
  const fit = { memoryGuard: options.memoryGuard };
  try {
    const downloads = useCache && !isNode ? await browserDownloads(options, report) : undefined;
    const resolved = await resolveSource(
      source === 'default' ? builtInModelUrl(precision) : source,
      downloads ? { ...options, fetch: downloads.fetch } : options,
      report,
    );
    const cached =
      resolved.kind === 'folder' && precision === 'int8' && useCache && resolved.identity
        ? await convertedCache(resolved.identity, options, report)
        : undefined;
    let model:
      | Int8Model
      | Fp32Model
      | Int8LanguageModel
      | Fp32LanguageModel
      | Int8TranslationModel
      | Fp32TranslationModel;
    if (resolved.kind === 'int8-file') {
      if (precision === 'fp32')
        throw new Error(
          `${resolved.what} is an integer model file: it holds no float weights; load its Hugging Face folder with precision 'fp32'`,
        );
      report({ stage: 'compile', fraction: 0, message: 'compiling kernels' });
      model = await modelFromIntFile(gpu, await readAnyIntFile(resolved.bytes, resolved.what), resolved.what, fit);
    } else if (cached?.hit) {
      report({ stage: 'compile', fraction: 0, message: 'compiling kernels' });
      model = await modelFromIntFile(gpu, cached.hit, resolved.name ?? resolved.files.describe, fit);
    } else {
      // Every download first (reported as it comes), then conversion and compiling. A conversion
      // records the files' SHA-256 in its provenance, taken as they pass.
      const remembered = rememberSmallFiles(resolved.files);
      const files = precision === 'int8' ? hashingSource(remembered) : remembered;
      const save = cached?.save ?? (async () => {});
      if (await isMarianCheckpoint(files)) {
        model = await loadTranslationModel(gpu, files, precision, options, report, resolved.name, fit, save);
      } else if (await isDecoderCheckpoint(files)) {
        model = await loadLanguageModel(gpu, files, precision, options, report, resolved.name, fit, save);
      } else {
        const weights = await loadEncoderModel(files);
        for (const name of TOKENIZER_FILES) if (await files.has(name)) await files.read(name);
        if (precision === 'fp32') {
          report({ stage: 'compile', fraction: 0, message: 'uploading float weights and compiling kernels' });
          model = await Fp32Model.fromFiles(gpu, files, weights, fit);
        } else {
          model = await convertFolder(gpu, files, weights, options, report, resolved.name, fit, save);
        }
      }
    }
    // Stored responses are complete before 'ready', so a page closed right after loads from the cache next time.
    await downloads?.settled();
    report({
      stage: 'ready',
      fraction: 1,
      message: `${describeConfig(model.config)}, ${precision}`,
    });
    return acquire
      ? model.holdGpu({ lease, reacquire: acquire, recover: options.recover })
      : model.holdGpu({ lease, recover: options.recover });
  } catch (e) {
    lease.release();
    throw e;
  } finally {
    progress.stop();
  }
}

/**
 * Progress passed on, and the last event repeated (with its elapsed time and what is left updated)
 * whenever a second passes without one: a long GPU wait, a slow download. Synchronous work (parsing
 * weights, planning) holds the event loop and cannot be interrupted by the timer.
 */
function everySecond(onProgress: ((p: LoadProgress) => void) | undefined): {
  report: (p: LoadProgress) => void;
  stop: () => void;
} {
  if (!onProgress) return { report: () => {}, stop: () => {} };
  let last: LoadProgress | undefined;
  let lastAt = 0;
  let stageStart = 0;
  const seconds = (ms: number) => Math.round(ms / 100) / 10;
  const report = (p: LoadProgress) => {
    const now = Date.now();
    if (p.stage !== last?.stage) stageStart = now;
    last = p;
    lastAt = now;
    onProgress({ ...p, elapsedSeconds: seconds(now - stageStart) });
  };
  const timer = setInterval(() => {
    const now = Date.now();
    if (!last || last.stage === 'ready' || now - lastAt < 1000) return;
    const eta =
      last.etaSeconds === undefined ? {} : { etaSeconds: Math.max(0, last.etaSeconds - seconds(now - lastAt)) };
    last = { ...last, ...eta };
    lastAt = now;
    onProgress({ ...last, elapsedSeconds: seconds(now - stageStart) });
  }, 250);
  // In Node a pending load keeps the process alive anyway; the timer alone must not.
  (timer as { unref?: () => void }).unref?.();
  return { report, stop: () => clearInterval(timer) };
}

/** Browsers: fetches through the Cache API, each file found there reported as a 'cache' event. */
async function browserDownloads(
  options: LoadOptions,
  report: (p: LoadProgress) => void,
): Promise<CachingFetch | undefined> {
  const { cachingFetch } = await import('./model/cache-browser.js');
  const fetchImpl = options.fetch ?? ((url: string, init?: RequestInit) => fetch(url, init));
  return cachingFetch(fetchImpl, (url) => {
    const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? url);
    report({ stage: 'cache', fraction: 1, message: `${name}: from the browser's cache` });
  });
}

interface ConvertedCache {
  /** The converted model stored by an earlier load, checked as it is read. */
  hit?: AnyIntFile;
  /** Stores what this load converts; never fails the load (a full disk says so in a progress event). */
  save: (file: AnyIntFile) => Promise<void>;
}

/** The loading cache's entry for this checkpoint and calibration; undefined where there is no store. */
async function convertedCache(
  identity: () => Promise<string>,
  options: LoadOptions,
  report: (p: LoadProgress) => void,
): Promise<ConvertedCache | undefined> {
  const store = await convertedStore();
  if (!store) return undefined;
  const key = await convertedKey({
    source: await identity(),
    calibration: options.calibration,
    method: options.calibrationMethod,
  });
  const save = async (file: AnyIntFile) => {
    try {
      await store.put(key, await writeIntModelFile(file));
    } catch (e) {
      report({
        stage: 'convert',
        fraction: 1,
        message: `converted model not cached: ${store.where}: ${(e as Error).message}`,
      });
    }
  };
  const bytes = await store.get(key).catch(() => undefined);
  if (!bytes) return { save };
  try {
    const hit = await readAnyIntFile(bytes, `converted model in ${store.where}`);
    report({ stage: 'cache', fraction: 1, message: `converted model from ${store.where}` });
    return { hit, save };
  } catch {
    // A damaged entry (a disk error, a file edited by hand) is converted again and replaced.
    await store.delete(key).catch(() => {});
    return { save };
  }
}

/** An integer model file of any kind on the device. */
async function modelFromIntFile(
  gpu: Gpu,
  file: AnyIntFile,
  what: string,
  fit: FitOptions,
): Promise<Int8Model | Int8LanguageModel | Int8TranslationModel> {
  return isTranslatorFile(file)
    ? translationModelFromFile(gpu, file, what, fit)
    : isDecoderFile(file)
      ? languageModelFromFile(gpu, file, what, fit)
      : Int8Model.fromFile(gpu, file, fit);
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/** A conversion's progress as load progress: its calibration steps, in the 'convert' stage. */
function calibrationProgress(report: (p: LoadProgress) => void) {
  // Made as the conversion starts: the first batch's time counts, and the stage shows at once
  // (calibration says nothing until its first batch is done, 14 s on SwiftShader for the float kernels).
  const start = Date.now();
  report({ stage: 'convert', fraction: 0, message: 'calibrating activation ranges' });
  return (step: string, done: number, total: number) => {
    if (step !== 'calibrating') return;
    const now = Date.now();
    // The pace of the texts done so far: batches are alike, so it holds for the rest.
    const etaSeconds =
      done > 0 && total > done ? Math.round(((now - start) / done) * (total - done)) / 1000 : undefined;
    report({
      stage: 'convert',
      fraction: total ? done / total : 0,
      message: `calibrating activation ranges: ${done} of ${total} texts${etaSeconds === undefined ? '' : `, about ${Math.ceil(etaSeconds)} s left`}`,
      ...(etaSeconds === undefined ? {} : { etaSeconds }),
    });
  };
}

/** An integer language model file on the device (refused before allocating if it cannot fit). */
async function languageModelFromFile(
  gpu: Gpu,
  file: IntDecoderFile,
  what: string,
  fit: FitOptions,
): Promise<Int8LanguageModel> {
  const c = file.config;
  await checkDeviceFits(
    gpu,
    intProgramNeeds(file.program),
    `integer language model (${c.architecture}, ${c.numLayers} x ${c.hiddenSize})`,
    fit,
  );
  return Int8LanguageModel.fromFile(gpu, file, what);
}

/**
 * A GPT-2 folder: the float model as it is (precision 'fp32'), or calibrated on English text (the
 * `calibration` option's strings, else built-in sentences) and planned into an integer one.
 */
async function loadLanguageModel(
  gpu: Gpu,
  files: ModelFiles,
  precision: Precision,
  options: LoadOptions,
  report: (p: LoadProgress) => void,
  name: string | undefined,
  fit: FitOptions,
  save: (file: AnyIntFile) => Promise<void>,
): Promise<Int8LanguageModel | Fp32LanguageModel> {
  const calibration = options.calibration?.map((t, i) => {
    if (typeof t !== 'string')
      throw new TypeError(`loadModel: calibration[${i}] is a text pair; a language model calibrates on single texts`);
    return t;
  });
  const weights = await loadDecoderModel(files);
  const c = weights.config;
  const graph = decoderGraph(c);
  await checkDeviceFits(
    gpu,
    floatGraphNeeds(graph, weights.params, c.maxPositions),
    `float language model (${c.architecture}, ${c.numLayers} x ${c.hiddenSize})`,
    fit,
  );
  if (precision === 'fp32') {
    report({ stage: 'compile', fraction: 0, message: 'uploading float weights and compiling kernels' });
    return Fp32LanguageModel.create(gpu, weights, await loadDecoderTokenizer(files, c));
  }
  const file = await convertDecoderModel(gpu, files, {
    model: weights,
    name,
    calibration,
    method: options.calibrationMethod,
    onProgress: calibrationProgress(report),
  });
  report({ stage: 'compile', fraction: 0, message: 'compiling kernels' });
  const saved = save(file);
  const model = await languageModelFromFile(gpu, file, name ?? files.describe, fit);
  await saved;
  return model;
}

/** An integer translation file on the device (refused before allocating if it cannot fit). */
async function translationModelFromFile(
  gpu: Gpu,
  file: IntTranslatorFile,
  what: string,
  fit: FitOptions,
): Promise<Int8TranslationModel> {
  await checkDeviceFits(
    gpu,
    intProgramNeeds(file.program),
    `integer translation model (${describeConfig(file.config)})`,
    fit,
  );
  return Int8TranslationModel.fromFile(gpu, file, what);
}

/**
 * A Marian folder: the float model, or converted to integers on the way (calibrated on
 * `calibration`'s source-language texts, else built-in English sentences).
 */
async function loadTranslationModel(
  gpu: Gpu,
  files: ModelFiles,
  precision: Precision,
  options: LoadOptions,
  report: (p: LoadProgress) => void,
  name: string | undefined,
  fit: FitOptions,
  save: (file: AnyIntFile) => Promise<void>,
): Promise<Int8TranslationModel | Fp32TranslationModel> {
  const calibration = options.calibration?.map((t, i) => {
    if (typeof t !== 'string')
      throw new TypeError(
        `loadModel: calibration[${i}] is a text pair; a translation model calibrates on source texts`,
      );
    return t;
  });
  const weights = await loadMarianModel(files);
  const c = weights.config;
  await checkDeviceFits(
    gpu,
    floatGraphNeeds(marianGraph(c), weights.params, c.maxPositions),
    `float translation model (${describeConfig(c)})`,
    fit,
  );
  if (precision === 'fp32') {
    report({ stage: 'compile', fraction: 0, message: 'uploading float weights and compiling kernels' });
    return Fp32TranslationModel.create(
      gpu,
      weights,
      await loadMarianTokenizer(files, c),
      maxLengthOf(await generationSettings(files)),
    );
  }
  const file = await convertTranslatorModel(files, {
    model: weights,
    name,
    calibration,
    method: options.calibrationMethod,
    onProgress: calibrationProgress(report),
  });
  report({ stage: 'compile', fraction: 0, message: 'compiling kernels' });
  const saved = save(file);
  const model = await translationModelFromFile(gpu, file, name ?? files.describe, fit);
  await saved;
  return model;
}

/**
 * Reads of everything but weights files are kept for the duration of a load: the tokenizer is read
 * once to run and once to pack into the integer model, and over HTTP each read is a download.
 * Weights are not kept: they are parsed once, and a second copy would double peak memory.
 */
function rememberSmallFiles(files: ModelFiles): ModelFiles {
  const has = new Map<string, Promise<boolean>>();
  const reads = new Map<string, Promise<Uint8Array>>();
  const once = <T>(cache: Map<string, Promise<T>>, name: string, get: () => Promise<T>): Promise<T> => {
    let p = cache.get(name);
    if (!p) {
      p = get();
      cache.set(name, p);
    }
    return p;
  };
  return {
    describe: files.describe,
    has: (name) => once(has, name, () => files.has(name)),
    read: (name) => (name.endsWith('.safetensors') ? files.read(name) : once(reads, name, () => files.read(name))),
  };
}

/** A float checkpoint calibrated and planned into an integer model, then compiled. */
async function convertFolder(
  gpu: Gpu,
  files: ModelFiles,
  weights: EncoderModel,
  options: LoadOptions,
  report: (p: LoadProgress) => void,
  name: string | undefined,
  fit: FitOptions,
  save: (file: AnyIntFile) => Promise<void>,
): Promise<Int8Model> {
  // Calibration runs the float model on the device first: it has to fit too.
  const c = weights.config;
  await checkDeviceFits(
    gpu,
    floatModelNeeds(weights, modelGraph(weights)),
    `float model (${c.architecture}, ${c.numLayers} x ${c.hiddenSize}) to calibrate`,
    fit,
  );
  const file = await convertModel(gpu, files, {
    model: weights,
    name,
    calibration: [...(options.calibration ?? DEFAULT_CALIBRATION)],
    method: options.calibrationMethod,
    onProgress: calibrationProgress(report),
  });
  report({ stage: 'compile', fraction: 0, message: 'compiling kernels' });
  const saved = save(file);
  const model = await Int8Model.fromFile(gpu, file, fit);
  await saved;
  return model;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function resolveSource(
  source: Exclude<ModelSource, 'default'>,
  options: LoadOptions,
  report: (p: LoadProgress) => void,
): Promise<ResolvedSource> {
  const started = new Map<string, number>();
  const onProgress = (name: string, loaded: number, total: number | undefined) => {
    const now = Date.now();
    if (loaded === 0 || !started.has(name)) started.set(name, now);
    const seconds = (now - started.get(name)!) / 1000;
    const bytesPerSecond = seconds > 0 ? Math.round(loaded / seconds) : undefined;
    report({
      stage: 'download',
      fraction: total ? loaded / total : 0,
      message: `${name}: ${mb(loaded)}${total ? ` of ${mb(total)}` : ''} MB${bytesPerSecond === undefined ? '' : `, ${mb(bytesPerSecond)} MB/s`}`,
      ...(bytesPerSecond === undefined ? {} : { bytesPerSecond }),
    });
  };
  if (source instanceof Uint8Array) return { kind: 'int8-file', bytes: source, what: 'integer model bytes' };
  if (source instanceof ArrayBuffer)
    return { kind: 'int8-file', bytes: new Uint8Array(source), what: 'integer model bytes' };
  if (typeof source === 'string' || source instanceof URL) return resolveLocation(source, options, onProgress);
  if (isModelFiles(source)) return { kind: 'folder', files: source };
  if (source && typeof (source as Iterable<File>)[Symbol.iterator] === 'function') {
    const files = [...(source as Iterable<File>)];
    if (files.length === 0) throw new Error('no files given: select an .i8t file or a Hugging Face model folder');
    if (files.length === 1 && files[0].name.endsWith('.i8t'))
      return { kind: 'int8-file', bytes: new Uint8Array(await files[0].arrayBuffer()), what: files[0].name };
    return {
      kind: 'folder',
      files: fileListSource(files),
      name: selectedFolderName(files),
      identity: () => filesIdentity(files),
    };
  }
  throw new TypeError(
    `cannot load a model from ${Object.prototype.toString.call(source)}; pass 'default', a path or URL, .i8t bytes, File objects or a ModelFiles source`,
  );
}

/** The folder a selection came from (`<input webkitdirectory>` and drops give relative paths), if one. */
function selectedFolderName(files: File[]): string | undefined {
  const folders = new Set(
    files.map((f) => (f as File & { webkitRelativePath?: string }).webkitRelativePath?.split('/')[0] || ''),
  );
  const [only] = folders;
  return folders.size === 1 && only ? only : undefined;
}

function isModelFiles(v: unknown): v is ModelFiles {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as ModelFiles).read === 'function' &&
    typeof (v as ModelFiles).has === 'function'
  );
}

async function resolveLocation(
  location: string | URL,
  options: LoadOptions,
  onProgress: (name: string, loaded: number, total: number | undefined) => void,
): Promise<ResolvedSource> {
  // "C:\\models" is a path, not a URL with scheme "c".
  const hasScheme = (s: string) => /^[a-z][a-z0-9+.-]+:/i.test(s);
  const hubId = typeof location === 'string' ? parseHubId(location) : undefined;
  const localPath = async (path: string) => (await import('./model/sources-node.js')).pathExists(path);
  if (hubId && !(isNode && (await localPath(location as string)))) {
    const env = isNode ? process.env.INT8_TRANSFORMER_HUB || process.env.HF_ENDPOINT : undefined;
    return resolveHubModel(hubId, {
      host: options.hubHost ?? env ?? DEFAULT_HUB_HOST,
      fetch: options.fetch,
      onProgress,
      precision: options.precision ?? 'int8',
      note: isNode ? `and no local file or folder is named ${location}` : undefined,
    });
  }
  if (isNode && (location instanceof URL ? location.protocol === 'file:' : !hasScheme(location))) {
    const { resolveNodePath } = await import('./model/sources-node.js');
    return resolveNodePath(location);
  }
  // A page resolves against its base; a worker (no document) against its script's location.
  const base =
    typeof document !== 'undefined' ? document.baseURI : (globalThis as { location?: { href: string } }).location?.href;
  let url: URL;
  try {
    url = new URL(location, base);
  } catch {
    throw new Error(
      `cannot load "${String(location)}": not a URL${base ? ` relative to ${base}` : ' (and no page or worker location to resolve it against)'}; pass an absolute URL`,
    );
  }
  if (url.pathname.endsWith('.i8t')) {
    const res = await getFile(url.href, options.fetch);
    if (res.headers.get('content-type')?.includes('text/html')) {
      // Dev servers answer a missing file with their index page, which would fail later as "bad magic".
      await res.body?.cancel();
      throw new Error(
        `${url.href}: the server sent an HTML page, not an integer model file. Is the path right? (A bundler that pre-bundles int8-transformer moves it away from its models/ folder: exclude it from pre-bundling, e.g. Vite's optimizeDeps.exclude, or pass the model's URL.)`,
      );
    }
    const name = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
    return { kind: 'int8-file', bytes: await readResponse(res, name, onProgress), what: url.href };
  }
  return {
    kind: 'folder',
    files: urlSource(url.href, { fetch: options.fetch, onProgress }),
    identity: async () => `url ${url.href}`,
  };
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
