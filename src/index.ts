/**
 * int8-transformer: integer-only Transformers (encoders, GPT-2 decoders) on WebGPU, in browsers and in Node.
 *
 *   const model = await loadModel();           // the built-in SST-2 classifier, int8
 *   const [p] = await model.classify('a gorgeous , witty , seductive movie .');
 *   console.log(p.label, p.score);
 *   model.dispose();
 */
/// <reference types="@webgpu/types" preserve="true" />
export {
  builtInModelUrl,
  type LoadOptions,
  type LoadProgress,
  loadModel,
  type ModelSource,
  type Precision,
} from './api.js';
export { DEFAULT_CALIBRATION } from './calibrate/default-calibration.js';
export type { RangeMethod } from './calibrate/range-observer.js';
export { type ConvertOptions, convertModel } from './convert.js';
export type {
  DecoderConfig,
  EncoderConfig,
  EncoderModel,
  MarianConfig,
  ModelConfig,
  TokenBatch,
} from './core/types.js';
export { type GlueInput, type GlueRow, type GlueSet, parseGlueTsv } from './data/glue.js';
export { type Evaluation, evaluate } from './evaluate.js';
export { type IntModelFile, IntModelFileError, readIntModelFile, writeIntModelFile } from './format/int-model-file.js';
export type { FinishReason, GenerationResult } from './generate/generate.js';
export { Generation } from './generate/generation.js';
export type { GenerationOptions, TokenEvent } from './generate/options.js';
export { GpuUnavailableError, type RequestGpuOptions, requestGpu } from './gpu/device.js';
export { Gpu, GpuDeviceLostError } from './gpu/gpu.js';
export { type GpuMemory, type KernelFamilyTime, kernelFamilies, kernelFamily } from './gpu/profile.js';
export type { KernelTime } from './gpu/program.js';
export { formatDeviceReport } from './gpu/report.js';
export type { ModelGraph } from './graph/types.js';
export { Fp32LanguageModel, Int8LanguageModel } from './language-model.js';
export { CONVERTER_VERSION, clearCache } from './model/cache.js';
export { describeConfig } from './model/config.js';
export { loadEncoderModel } from './model/load.js';
export {
  type DownloadProgress,
  fileListSource,
  type ModelFiles,
  memorySource,
  type UrlSourceOptions,
  urlSource,
} from './model/sources.js';
export type { Truncation } from './model/tokenizer.js';
export { dumpProgram } from './plan/dump-program.js';
export type { IntProgram } from './plan/int-program.js';
export {
  type Capability,
  Fp32Model,
  Int8Model,
  type Prediction,
  type Profile,
  type ProfileOptions,
  type RunOptions,
  type TagOptions,
  type TextModel,
  type Texts,
  type ZeroShotRunOptions,
} from './session.js';
export type { Aggregation, EntityGroup, TokenEntity } from './tag.js';
export {
  createWorkerModel,
  serveModelWorker,
  type WorkerModel,
  type WorkerModelOptions,
} from './worker.js';
export type { ZeroShotResult } from './zero-shot.js';
