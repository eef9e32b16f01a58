/**
 * loadModel's `device` option: where a model runs. 'webgpu' is the GPU interpreter; 'cpu' the
 * integer interpreter of src/cpu/ with fast kernels, which gives the GPU's logits bit for bit (both
 * equal the specification, src/cpu/int-program.ts); 'auto' takes WebGPU when an adapter answers and
 * the CPU otherwise. The chosen one is the model's `device`.
 */
import { isDecoderFile, isTranslatorFile, readAnyIntFile } from './format/int-model-file.js';
import { Int8LanguageModel } from './language-model.js';
import type { ResolvedSource } from './model/sources.js';
import { Int8Model, type TextModel } from './session.js';
import { Int8TranslationModel } from './translation-model.js';

export type DeviceOption = 'auto' | 'webgpu' | 'cpu';

const DEVICES: readonly DeviceOption[] = ['auto', 'webgpu', 'cpu'];

export function checkDeviceOption(device: unknown): DeviceOption {
  if (device === undefined) return 'webgpu';
  if (!DEVICES.includes(device as DeviceOption))
    throw new RangeError(`loadModel: device ${JSON.stringify(device)} is not 'auto', 'webgpu' or 'cpu'`);
  return device as DeviceOption;
}

/**
 * Whether WebGPU gives an adapter here (navigator.gpu, or in Node the `webgpu` package): 'auto'
 * asks this and nothing more, so a machine without one never sees a device request fail.
 */
export async function webgpuAdapterAvailable(): Promise<boolean> {
  try {
    const nav = (globalThis as { navigator?: Navigator }).navigator;
    let gpu: GPU | undefined = nav?.gpu;
    if (!gpu && typeof process !== 'undefined' && process.versions?.node && typeof window === 'undefined') {
      const { nodeGpu } = await import('./gpu/node-webgpu.js');
      gpu = await nodeGpu();
    }
    return !!gpu && (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** 'webgpu' or 'cpu' for a load: 'auto' resolved; a caller's `gpu` means WebGPU. */
export async function resolveDevice(device: DeviceOption, hasGpu: boolean): Promise<'webgpu' | 'cpu'> {
  if (device === 'cpu' && hasGpu)
    throw new TypeError(
      "loadModel: device 'cpu' runs without a GPU; leave out the gpu option (or use device 'webgpu')",
    );
  if (device !== 'auto') return device;
  return hasGpu || (await webgpuAdapterAvailable()) ? 'webgpu' : 'cpu';
}

/**
 * A model on the CPU from an integer model file (the built-in model, a path, URL, bytes or a dropped
 * .i8t): encoders, language models and translators. A float folder is refused: converting it
 * calibrates on the GPU.
 */
export async function loadModelOnCpu(
  resolve: () => Promise<ResolvedSource>,
  precision: 'int8' | 'fp32',
): Promise<TextModel> {
  if (precision !== 'int8')
    throw new Error(
      "loadModel: device 'cpu' runs integer models (precision 'int8'); the float model (precision 'fp32') runs on WebGPU",
    );
  const resolved = await resolve();
  if (resolved.kind !== 'int8-file')
    throw new Error(
      `loadModel: device 'cpu' runs integer model files (.i8t); ${resolved.name ?? resolved.files.describe} is a float checkpoint, and converting one calibrates on WebGPU: convert it once (int8-transformer convert, or loadModel with WebGPU) and load the .i8t`,
    );
  const file = await readAnyIntFile(resolved.bytes, resolved.what);
  if (isTranslatorFile(file)) return Int8TranslationModel.onCpu(file, resolved.what);
  if (isDecoderFile(file)) return Int8LanguageModel.onCpu(file, resolved.what);
  return Int8Model.onCpu(file);
}
