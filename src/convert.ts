/**
 * Conversion of a Hugging Face checkpoint into an integer model: load, calibrate the float model
 * on text, plan scales, and package everything as an IntModelFile (encoders), an IntDecoderFile
 * (GPT-2 language models) or an IntTranslatorFile (Marian translation models; convertCheckpoint
 * takes any). Works in Node and browsers.
 */

import { calibrate } from './calibrate/calibrate.js';
import { calibrateDecoder } from './calibrate/calibrate-decoder.js';
import { calibrateMarianCpu, type MarianPair } from './calibrate/calibrate-marian.js';
import { DEFAULT_LM_CALIBRATION } from './calibrate/default-lm-calibration.js';
import { DEFAULT_MT_CALIBRATION } from './calibrate/default-mt-calibration.js';
import type { RangeMethod, RangeObserver } from './calibrate/range-observer.js';
import { calibrationReport, calibrationSummary } from './calibrate/report.js';
import type { DecoderModel, EncoderModel, MarianModel } from './core/types.js';
import type { GlueInput } from './data/glue.js';
import { calibrationDocuments } from './evaluate-lm.js';
import type { AnyIntFile, IntDecoderFile, IntModelFile, IntTranslatorFile } from './format/int-model-file.js';
import type { Gpu } from './gpu/gpu.js';
import { encoderParams, modelGraph } from './graph/architectures.js';
import { decoderGraph } from './model/decoder.js';
import { loadDecoderTokenizer } from './model/decoder-tokenizer.js';
import {
  isDecoderCheckpoint,
  isMarianCheckpoint,
  loadDecoderModel,
  loadEncoderModel,
  loadMarianModel,
} from './model/load.js';
import { greedyTranslateCpu, loadMarianTokenizer, type MarianTokenizer, marianGraph } from './model/marian.js';
import { type ModelFiles, readJson, readRequired } from './model/sources.js';
import { loadTokenizer } from './model/tokenizer.js';
import type { IntProgram } from './plan/int-program.js';
import { planGraph } from './plan/plan-graph.js';
import { validateProgram } from './plan/validate-program.js';

export interface ConvertOptions {
  /** Calibration text (sentences or pairs). */
  calibration: GlueInput[];
  /** Activation range rule; percentile-99.99 by default (see docs/accuracy.md). */
  method?: RangeMethod;
  batchSize?: number;
  /** 'off': plan one int8 scale per tensor even where calibration finds outlier channels. */
  outliers?: 'auto' | 'off';
  /** The calibration statistics, once gathered (for `convert --report`). */
  onCalibrated?: (observer: RangeObserver) => void;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Reuse an already loaded float model. */
  model?: EncoderModel;
  /** The model's name in the file's provenance; by default the folder's name or the Hub repo id. */
  name?: string;
}

/** An encoder checkpoint (BERT, DistilBERT, RoBERTa); a language model is refused, naming convertCheckpoint. */
export async function convertModel(gpu: Gpu, source: ModelFiles, options: ConvertOptions): Promise<IntModelFile> {
  options.onProgress?.('loading', 0, 1);
  const files = hashingSource(source);
  if (!options.model && (await isDecoderCheckpoint(files)))
    throw new Error(
      `${files.describe} is a language model (decoder); convert it with convertCheckpoint or convertDecoderModel`,
    );
  if (!options.model && (await isMarianCheckpoint(files)))
    throw new Error(
      `${files.describe} is a translation model (encoder-decoder); convert it with convertCheckpoint or convertTranslatorModel`,
    );
  const model = options.model ?? (await loadEncoderModel(files));
  const tokenizer = await loadTokenizer(files, model.config);
  const observer = await calibrate(gpu, model, tokenizer, options.calibration, {
    batchSize: options.batchSize,
    onProgress: (done, total) => options.onProgress?.('calibrating', done, total),
  });
  options.onCalibrated?.(observer);
  return planModel(files, model, observer, options.method ?? 'percentile-99.99', options.calibration.length, {
    name: options.name,
    calibration: options.calibration,
    batchSize: options.batchSize,
    outliers: options.outliers,
  });
}

export interface DecoderConvertOptions {
  /** Calibration documents (one text each; blank ones skipped); default DEFAULT_LM_CALIBRATION. */
  calibration?: readonly string[];
  /** Activation range rule; 'max' by default (docs/accuracy.md, GPT-2 language modelling). */
  method?: RangeMethod;
  /** Documents per calibration forward (default 8). */
  batchSize?: number;
  onCalibrated?: (observer: RangeObserver) => void;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Reuse an already loaded float model. */
  model?: DecoderModel;
  name?: string;
}

/**
 * A decoder-only language model (GPT2LMHeadModel): calibrated on whole documents (end-of-text +
 * text + end-of-text, cut to the model's positions) through the float GPU interpreter, planned with
 * one int8 scale per tensor (outlier-channel smoothing is not planned for decoders), and packaged
 * with its tokenizer and generation_config.json.
 */
export async function convertDecoderModel(
  gpu: Gpu,
  source: ModelFiles,
  options: DecoderConvertOptions = {},
): Promise<IntDecoderFile> {
  options.onProgress?.('loading', 0, 1);
  const files = hashingSource(source);
  const model = options.model ?? (await loadDecoderModel(files));
  const tokenizer = await loadDecoderTokenizer(files, model.config);
  const texts = options.calibration ?? DEFAULT_LM_CALIBRATION;
  const documents = calibrationDocuments(tokenizer, texts, model.config.maxPositions);
  if (documents.length === 0) throw new Error('decoder calibration: the calibration text has no non-blank line');
  const observer = await calibrateDecoder(gpu, model, documents, {
    batchSize: options.batchSize,
    onProgress: (done, total) => options.onProgress?.('calibrating', done, total),
  });
  options.onCalibrated?.(observer);
  return planDecoderModel(files, model, observer, options.method ?? 'max', documents.length, {
    name: options.name,
    calibration: texts,
    batchSize: options.batchSize,
  });
}

/** The second half of a decoder's conversion (one calibration, several range methods). */
export async function planDecoderModel(
  files: ModelFiles,
  model: DecoderModel,
  observer: RangeObserver,
  method: RangeMethod,
  texts: number,
  details: Omit<ProvenanceDetails, 'outliers'> = {},
): Promise<IntDecoderFile> {
  const program = planGraph(decoderGraph(model.config), model.params, observer.ranges(method), {
    maxKeys: model.config.maxPositions,
  });
  validateProgram(program, 'converted program');
  // Checked against the config as generation and scoring will load it (ids of bos / eos, vocabulary).
  await loadDecoderTokenizer(files, model.config);
  const { tokenizerJson, tokenizerConfig } = await tokenizerFiles(files);
  const generation = await generationSettings(files);
  const file: IntDecoderFile = {
    kind: 'decoder',
    config: model.config,
    program,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: await provenance(files, method, texts, { ...details, outliers: 'off' }, observer, program),
  };
  if (generation !== undefined) file.generation = generation;
  return file;
}

/** generation_config.json as a model file stores it, when the folder has one. */
export async function generationSettings(files: ModelFiles): Promise<Record<string, unknown> | undefined> {
  if (!(await files.has('generation_config.json'))) return undefined;
  const generation = await readJson(files, 'generation_config.json', 'generation settings');
  if (generation === null || typeof generation !== 'object' || Array.isArray(generation))
    throw new Error(`${files.describe}: generation_config.json is not a JSON object`);
  return generation as Record<string, unknown>;
}

export interface TranslatorConvertOptions {
  /**
   * Calibration sentences in the SOURCE language (blank ones skipped); default
   * DEFAULT_MT_CALIBRATION (English). The decoder's side is the float model's own translations.
   */
  calibration?: readonly string[];
  /** Activation range rule; 'max' by default, as for language models (docs/accuracy.md). */
  method?: RangeMethod;
  /** Sentence pairs per calibration forward (default 8). */
  batchSize?: number;
  /** Cap on each calibration translation's new tokens (default 64; each sentence gets min(2n + 10, cap)). */
  maxNewTokens?: number;
  /** 'off': one int8 scale per tensor even where calibration finds outlier channels. */
  outliers?: 'auto' | 'off';
  onCalibrated?: (observer: RangeObserver) => void;
  /** Stages 'loading', 'translating' (sentences), 'calibrating' (pairs). */
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Reuse an already loaded float model. */
  model?: MarianModel;
  name?: string;
}

/** Default cap on the new tokens of a calibration translation. */
export const TRANSLATOR_CALIBRATION_MAX_NEW_TOKENS = 64;

/**
 * Calibration pairs from source-language text alone: each sentence (cut to the model's positions,
 * ending with eos) with the float64 model's greedy translation as the decoder's inputs,
 * decoder_start_token_id followed by every generated token but the last (the last is never fed
 * back), which is what the decoder sees when it translates. At most min(2n + 10, maxNewTokens)
 * new tokens for a source of n tokens, and never more than the model's positions.
 */
export function translatorCalibrationPairs(
  model: MarianModel,
  tokenizer: MarianTokenizer,
  texts: readonly string[],
  options: { maxNewTokens?: number; onProgress?: (done: number, total: number) => void } = {},
): MarianPair[] {
  const cap = options.maxNewTokens ?? TRANSLATOR_CALIBRATION_MAX_NEW_TOKENS;
  if (!Number.isInteger(cap) || cap < 1)
    throw new RangeError(`translator calibration: maxNewTokens = ${cap} must be a positive integer`);
  const { config } = model;
  const graph = marianGraph(config);
  const sentences = texts.filter((t) => t.trim().length > 0);
  const pairs: MarianPair[] = [];
  sentences.forEach((text, i) => {
    let source = tokenizer.encodeSource(text);
    if (source.length > config.maxPositions) source = [...source.slice(0, config.maxPositions - 1), config.eosTokenId];
    const maxNewTokens = Math.min(2 * source.length + 10, cap, config.maxPositions);
    const out = greedyTranslateCpu(model, source, { maxNewTokens, graph });
    pairs.push({ source, target: [config.decoderStartTokenId, ...out.slice(0, -1)] });
    options.onProgress?.(i + 1, sentences.length);
  });
  return pairs;
}

/**
 * A translation model (MarianMTModel) from source-language text: the float64 CPU interpreter
 * translates the calibration sentences greedily, the pairs (sentence, its translation) are
 * teacher-forced through it to observe every tensor (calibrateMarianCpu), then the program is
 * planned (outlier channels smoothed where calibration finds them, as for encoders) and packaged
 * with the tokenizer and generation_config.json. CPU only: it needs no GPU.
 */
export async function convertTranslatorModel(
  source: ModelFiles,
  options: TranslatorConvertOptions = {},
): Promise<IntTranslatorFile> {
  options.onProgress?.('loading', 0, 1);
  const files = hashingSource(source);
  const model = options.model ?? (await loadMarianModel(files));
  const tokenizer = await loadMarianTokenizer(files, model.config);
  const texts = options.calibration ?? DEFAULT_MT_CALIBRATION;
  const pairs = translatorCalibrationPairs(model, tokenizer, texts, {
    maxNewTokens: options.maxNewTokens,
    onProgress: (done, total) => options.onProgress?.('translating', done, total),
  });
  if (pairs.length === 0) throw new Error('translator calibration: the calibration text has no non-blank line');
  const observer = calibrateMarianCpu(model, pairs, {
    batchSize: options.batchSize,
    onProgress: (done, total) => options.onProgress?.('calibrating', done, total),
  });
  options.onCalibrated?.(observer);
  return planTranslatorModel(files, model, observer, options.method ?? 'max', pairs.length, {
    name: options.name,
    calibration: texts,
    batchSize: options.batchSize,
    outliers: options.outliers,
    maxNewTokens: options.maxNewTokens ?? TRANSLATOR_CALIBRATION_MAX_NEW_TOKENS,
  });
}

/** The second half of a translation model's conversion (one calibration, several range methods). */
export async function planTranslatorModel(
  files: ModelFiles,
  model: MarianModel,
  observer: RangeObserver,
  method: RangeMethod,
  texts: number,
  details: ProvenanceDetails & { maxNewTokens?: number } = {},
): Promise<IntTranslatorFile> {
  const { maxNewTokens, ...rest } = details;
  const program = planGraph(marianGraph(model.config), model.params, observer.ranges(method), {
    maxKeys: model.config.maxPositions,
    channels: observer.channelStats(),
    outliers: rest.outliers,
  });
  validateProgram(program, 'converted program');
  // Checked against the config as translation will load it (vocabulary, eos and pad ids).
  await loadMarianTokenizer(files, model.config);
  const { tokenizerJson, tokenizerConfig } = await tokenizerFiles(files);
  const generation = await generationSettings(files);
  const record = await provenance(files, method, texts, rest, observer, program);
  // How the decoder's calibration inputs were made: a reader can tell these pairs from references.
  (record.calibration as Record<string, unknown>).targets = {
    from: 'float64 greedy translations',
    maxNewTokens: maxNewTokens ?? TRANSLATOR_CALIBRATION_MAX_NEW_TOKENS,
  };
  const file: IntTranslatorFile = {
    kind: 'encoder-decoder',
    config: model.config,
    program,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: record,
  };
  if (generation !== undefined) file.generation = generation;
  return file;
}

/** Options of convertCheckpoint: each kind's own, for whichever the folder holds. */
export interface CheckpointConvertOptions {
  /** Encoders: sentences or pairs (required for an encoder folder). */
  encoder?: ConvertOptions;
  /** Language models (all optional). */
  decoder?: DecoderConvertOptions;
  /** Translation models (all optional). */
  translator?: TranslatorConvertOptions;
}

/**
 * Whichever kind of checkpoint `source` holds (config.json's architecture), converted. A
 * translation model's conversion runs on the CPU and does not touch `gpu`.
 */
export async function convertCheckpoint(
  gpu: Gpu,
  source: ModelFiles,
  options: CheckpointConvertOptions,
): Promise<AnyIntFile> {
  if (await isMarianCheckpoint(source)) return convertTranslatorModel(source, options.translator);
  if (await isDecoderCheckpoint(source)) return convertDecoderModel(gpu, source, options.decoder);
  if (!options.encoder) throw new Error(`${source.describe} is an encoder: its conversion needs calibration sentences`);
  return convertModel(gpu, source, options.encoder);
}

/** What the provenance records besides the method and the number of texts. */
export interface ProvenanceDetails {
  name?: string;
  /** The calibration texts themselves: only their SHA-256 is recorded. */
  calibration?: readonly GlueInput[];
  batchSize?: number;
  /** Outlier-channel smoothing (plan-graph.ts PlanOptions.outliers): 'auto' (default) from the per-channel statistics, or 'off'. */
  outliers?: 'auto' | 'off' | 'layernorm' | 'gemm-inputs';
}

/** The second half of conversion: one calibration can be planned with several range methods. */
export async function planModel(
  files: ModelFiles,
  model: EncoderModel,
  observer: RangeObserver,
  method: RangeMethod,
  texts: number,
  details: ProvenanceDetails = {},
): Promise<IntModelFile> {
  const program = planGraph(modelGraph(model), encoderParams(model.weights), observer.ranges(method), {
    maxKeys: model.config.maxPositions,
    channels: observer.channelStats(),
    outliers: details.outliers,
  });
  validateProgram(program, 'converted program');
  const { tokenizerJson, tokenizerConfig } = await tokenizerFiles(files);
  return {
    kind: program.kind,
    config: model.config,
    program,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: await provenance(files, method, texts, details, observer, program),
  };
}

/** tokenizer.json (minified) and tokenizer_config.json as a model file stores them. */
async function tokenizerFiles(files: ModelFiles): Promise<{ tokenizerJson: string; tokenizerConfig?: string }> {
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  // Minified: the pretty-printed original costs ~10% more even compressed.
  const tokenizerJson = JSON.stringify(
    JSON.parse(decode(await readRequired(files, 'tokenizer.json', 'the tokenizer'))),
  );
  const tokenizerConfig = (await files.has('tokenizer_config.json'))
    ? decode(await files.read('tokenizer_config.json'))
    : undefined;
  return { tokenizerJson, tokenizerConfig };
}

/**
 * Where a file came from without where it was on anyone's disk: files are shared, and an absolute
 * path says who made it and how their machine is laid out. The model's name, the SHA-256 of the
 * files it was made from (which identify the checkpoint exactly) and the calibration settings.
 */
async function provenance(
  files: ModelFiles,
  method: RangeMethod,
  texts: number,
  details: ProvenanceDetails,
  observer: RangeObserver,
  program: IntProgram,
): Promise<Record<string, unknown>> {
  const sha256: Record<string, string> = {};
  for (const name of HASHED_FILES) {
    const digest = await fileDigest(files, name);
    if (digest) sha256[name] = digest;
  }
  const calibration: Record<string, unknown> = { method, texts };
  if (details.calibration)
    calibration.sha256 = await sha256Hex(new TextEncoder().encode(JSON.stringify(details.calibration)));
  if (details.batchSize !== undefined) calibration.batchSize = details.batchSize;
  // Only when there is something to say: files of models without outlier channels stay as they were.
  const summary = calibrationSummary(calibrationReport(observer));
  const smoothed = program.ops.flatMap((o) =>
    o.kind === 'layernorm' && o.outliers?.part === 'smoothed'
      ? [{ tensor: o.out, channels: o.outliers.channels, alpha: o.outliers.alpha }]
      : [],
  );
  if (summary.withOutliers.length > 0)
    calibration.outliers = { ...summary, smoothed, mode: details.outliers ?? 'auto' };
  return {
    model: { name: details.name ?? modelName(files.describe) ?? null, sha256 },
    calibration,
    converter: 'int8-transformer',
  };
}

const HASHED_FILES = ['config.json', 'model.safetensors', 'tokenizer.json'];

/** Digests taken as files pass through a source, so that hashing the weights does not read (or download) them twice. */
const digests = new WeakMap<ModelFiles, Map<string, Promise<string>>>();

/** `files`, recording the SHA-256 of every hashed file read through it. */
export function hashingSource(files: ModelFiles): ModelFiles {
  if (digests.has(files)) return files;
  const seen = new Map<string, Promise<string>>();
  const wrapped: ModelFiles = {
    describe: files.describe,
    has: (name) => files.has(name),
    async read(name) {
      const bytes = await files.read(name);
      if (HASHED_FILES.includes(name) && !seen.has(name)) {
        const digest = sha256Hex(bytes);
        // Awaited when the provenance is written; until then a failure must not be "unhandled".
        digest.catch(() => {});
        seen.set(name, digest);
      }
      return bytes;
    },
  };
  digests.set(wrapped, seen);
  return wrapped;
}

async function fileDigest(files: ModelFiles, name: string): Promise<string | undefined> {
  const recorded = digests.get(files)?.get(name);
  if (recorded) return recorded;
  if (!(await files.has(name))) return undefined;
  return sha256Hex(await files.read(name));
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A model's name from its source's description: the last folder of a path ("folder /a/b/name"), the
 * repo id of a Hugging Face Hub URL (https://huggingface.co/org/name/resolve/main/), else the last
 * part of a URL's path. Nothing for other sources (a file selection, in-memory files).
 */
export function modelName(describe: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]+:\/\//i.test(describe)) {
    try {
      const url = new URL(describe);
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (/(^|\.)huggingface\.co$/.test(url.hostname) && parts[2] === 'resolve') return `${parts[0]}/${parts[1]}`;
      return parts.at(-1);
    } catch {
      return undefined;
    }
  }
  const folder = /^folder (.+)$/.exec(describe)?.[1];
  if (!folder) return undefined;
  return folder
    .split(/[\\/]+/)
    .filter(Boolean)
    .at(-1);
}
