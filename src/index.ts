/**
 * int8-transformer: integer-only Transformer encoders on WebGPU, in browsers and in Node.
 *
 *   const gpu = await requestGpu();
 *   const model = await Int8Model.fromBytes(gpu, bytesOfAnI8tFile);
 *   const [p] = await model.classify(['a gorgeous , witty , seductive movie .']);
 *   console.log(p.label, p.score);
 *   model.dispose();
 */
export { requestGpu, GpuUnavailableError, type RequestGpuOptions } from './gpu/device.js';
export { Gpu, GpuDeviceLostError } from './gpu/gpu.js';
export { formatDeviceReport } from './gpu/report.js';
export { Int8Model, Fp32Model, type Prediction, type TextModel } from './session.js';
export { convertModel, type ConvertOptions } from './convert.js';
export { readIntModelFile, writeIntModelFile, IntModelFileError, type IntModelFile } from './format/int-model-file.js';
export { urlSource, fileListSource, memorySource, type ModelFiles } from './model/sources.js';
export { loadEncoderModel } from './model/load.js';
export { parseGlueTsv, type GlueInput, type GlueRow, type GlueSet } from './data/glue.js';
export { evaluate, type Evaluation } from './evaluate.js';
export { dumpPlan } from './plan/dump-plan.js';
export type { EncoderConfig, EncoderModel, TokenBatch } from './model/types.js';
