/**
 * Acquiring a GPUDevice in a browser (navigator.gpu) or in Node (Dawn's `webgpu` binding), with the
 * adapter's real limits and the features this runtime cares about.
 */
import type { AdapterSummary, GpuFeatureReport, GpuLimitsReport, GpuRuntime, SubgroupMatrixConfigInfo } from './adapter.js';
import { Gpu } from './gpu.js';

/** Thrown when WebGPU cannot give us what the integer kernels need. The message says what is missing. */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

export interface RequestGpuOptions {
  powerPreference?: GPUPowerPreference;
  /** A GPU object to use instead of navigator.gpu / the Node binding (tests, embedding apps). */
  gpu?: GPU;
}

const LIMIT_NAMES: (keyof GpuLimitsReport)[] = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
];

/** Features requested when the adapter has them; none is required except the WGSL packed dot product. */
const OPTIONAL_FEATURES = [
  'timestamp-query',
  'subgroups',
  'shader-f16',
  'chromium-experimental-subgroup-matrix',
] as const;

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';
}

async function locateGpu(options: RequestGpuOptions): Promise<{ gpu: GPU; runtime: GpuRuntime }> {
  if (options.gpu) return { gpu: options.gpu, runtime: isNode() ? 'node' : 'browser' };
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, runtime: isNode() ? 'node' : 'browser' };
  if (isNode()) {
    const { nodeGpu } = await import('./node-webgpu.js');
    return { gpu: await nodeGpu(), runtime: 'node' };
  }
  const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
  throw new GpuUnavailableError(
    secure === false
      ? 'WebGPU is not available: this page is not a secure context (serve it over https or from http://127.0.0.1).'
      : 'WebGPU is not available in this browser (navigator.gpu is undefined). Use a browser with WebGPU enabled.',
  );
}

function summarizeAdapter(info: GPUAdapterInfo): AdapterSummary {
  const vendor = info.vendor ?? '';
  const architecture = info.architecture ?? '';
  const description = info.description ?? '';
  const text = `${vendor} ${architecture} ${description} ${info.device ?? ''}`.toLowerCase();
  return {
    vendor,
    architecture,
    device: info.device ?? '',
    description,
    isSoftware: text.includes('swiftshader') || text.includes('llvmpipe') || text.includes('lavapipe'),
  };
}

function subgroupMatrixConfigs(info: GPUAdapterInfo): SubgroupMatrixConfigInfo[] {
  const configs = (info as unknown as { subgroupMatrixConfigs?: Iterable<Record<string, unknown>> })
    .subgroupMatrixConfigs;
  if (!configs) return [];
  return [...configs].map((c) => ({
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
    M: Number(c.M),
    N: Number(c.N),
    K: Number(c.K),
  }));
}

/**
 * Returns a device with the adapter's full limits. Throws GpuUnavailableError when there is no adapter
 * or the WGSL packed 4x8 integer dot product is missing.
 */
export async function requestGpu(options: RequestGpuOptions = {}): Promise<Gpu> {
  const { gpu, runtime } = await locateGpu(options);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new GpuUnavailableError(
      runtime === 'node'
        ? 'No WebGPU adapter: Dawn found no Vulkan driver. Install a GPU driver, or Debian\'s chromium package for SwiftShader (run `npm run setup`).'
        : 'No WebGPU adapter: the browser exposes navigator.gpu but returned no adapter (GPU blocklisted or WebGPU disabled).',
    );
  }
  const languageFeatures = gpu.wgslLanguageFeatures as ReadonlySet<string> | undefined;
  const packed = !!languageFeatures?.has('packed_4x8_integer_dot_product');
  if (!packed) {
    throw new GpuUnavailableError(
      'This WebGPU implementation lacks the WGSL language feature packed_4x8_integer_dot_product (dot4I8Packed), which the INT8 kernels need. Update the browser or Dawn.',
    );
  }
  const available = new Set<string>([...adapter.features]);
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => available.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'int8-transformer' });

  const info = adapter.info;
  const features: GpuFeatureReport = {
    packed4x8IntegerDotProduct: packed,
    subgroups: device.features.has('subgroups'),
    timestampQuery: device.features.has('timestamp-query'),
    shaderF16: device.features.has('shader-f16'),
    subgroupMatrix: device.features.has('chromium-experimental-subgroup-matrix'),
    subgroupMatrixConfigs: subgroupMatrixConfigs(info),
  };
  const limits = {} as GpuLimitsReport;
  for (const name of LIMIT_NAMES) limits[name] = device.limits[name];
  return new Gpu(device, runtime, summarizeAdapter(info), features, limits);
}
