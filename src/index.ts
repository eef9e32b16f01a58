/**
 * int8-transformer: integer-only Transformer encoders on WebGPU, in browsers and in Node.
 *
 *   const model = await loadModel();           // the built-in SST-2 classifier, int8
 *   const [p] = await model.classify('a gorgeous , witty , seductive movie .');
 *   console.log(p.label, p.score);
 *   model.dispose();
 */
/// <reference types="@webgpu/types" preserve="true" />
export { loadModel, builtInModelUrl, type ModelSource, type LoadOptions, type LoadProgress, type Precision } from './api.js';
export { requestGpu, GpuUnavailableError, type RequestGpuOptions } from './gpu/device.js';
export { Gpu, GpuDeviceLostError } from './gpu/gpu.js';
export { formatDeviceReport } from './gpu/report.js';
export { Int8Model, Fp32Model, type Prediction, type Profile, type ProfileOptions, type RunOptions, type Texts, type TextModel } from './session.js';
export { kernelFamily, kernelFamilies, type GpuMemory, type KernelFamilyTime } from './gpu/profile.js';
export type { KernelTime } from './gpu/program.js';
export { DEFAULT_CALIBRATION } from './calibrate/default-calibration.js';
export type { RangeMethod } from './calibrate/range-observer.js';
export { convertModel, type ConvertOptions } from './convert.js';
export { readIntModelFile, writeIntModelFile, IntModelFileError, type IntModelFile } from './format/int-model-file.js';
export { urlSource, fileListSource, memorySource, type ModelFiles, type UrlSourceOptions, type DownloadProgress } from './model/sources.js';
export { loadEncoderModel } from './model/load.js';
export { parseGlueTsv, type GlueInput, type GlueRow, type GlueSet } from './data/glue.js';
export { evaluate, type Evaluation } from './evaluate.js';
export { dumpProgram } from './plan/dump-program.js';
export type { IntProgram } from './plan/int-program.js';
export type { ModelGraph } from './graph/types.js';
export type { EncoderConfig, EncoderModel, TokenBatch } from './core/types.js';
