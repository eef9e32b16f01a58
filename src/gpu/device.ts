/**
 * Acquiring a GPUDevice in a browser (navigator.gpu) or in Node (Dawn's `webgpu` binding), with the
 * adapter's real limits and the features this runtime cares about.
 */
import type {
  AdapterSummary,
  GpuFeatureReport,
  GpuLimitsReport,
  GpuRuntime,
  SubgroupMatrixConfigInfo,
} from './adapter.js';
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
      : "WebGPU is not available in this browser (navigator.gpu is undefined). Use a browser with WebGPU enabled, or run integer models on the CPU: loadModel(source, { device: 'cpu' }).",
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
        ? "No WebGPU adapter: Dawn found no Vulkan driver. Install a GPU driver, or Debian's chromium package for SwiftShader (run `npm run setup`); integer models also run without one: loadModel(source, { device: 'cpu' }), or --device cpu."
        : "No WebGPU adapter: the browser exposes navigator.gpu but returned no adapter (GPU blocklisted or WebGPU disabled); integer models also run without one: loadModel(source, { device: 'cpu' }).",
    );
  }
  const languageFeatures = gpu.wgslLanguageFeatures as ReadonlySet<string> | undefined;
  const packed = !!languageFeatures?.has('packed_4x8_integer_dot_product');
  if (!packed) {
    throw new GpuUnavailableError(
      "This WebGPU implementation lacks the WGSL language feature packed_4x8_integer_dot_product (dot4I8Packed), which the INT8 kernels need. Update the browser or Dawn, or run on the CPU: loadModel(source, { device: 'cpu' }).",
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
  const result = new Gpu(device, runtime, summarizeAdapter(info), features, limits);
  instances.set(result, gpu);
  return result;
}

/**
 * The GPU object each device came from, alive as long as its Gpu: Dawn in Node tears its instance
 * down once the object is collected, and a device whose instance is gone aborts or hangs the process.
 */
const instances = new WeakMap<Gpu, GPU>();

/** A device held for one model: `release()` once the model no longer needs it (idempotent). */
export interface GpuLease {
  readonly gpu: Gpu;
  release(): void;
}

interface SharedDevice {
  gpu: Promise<Gpu>;
  holders: number;
  timer?: ReturnType<typeof setTimeout>;
}

let shared: SharedDevice | undefined;

/**
 * How long the shared device outlives its last holder. A device's pipelines die with it, and every
 * new device compiles the model's kernels again (seconds on SwiftShader) with native allocations that
 * Dawn's compile threads leave fragmented: 100 load/dispose cycles grew RSS by hundreds of MB with a
 * device per load, and by 7 MB with one device kept (bench/load-cycles.ts). A short grace lets a
 * reload (the demo switching models, a loop of tests) find the device and its pipelines still there.
 * The timer is unref'd in Node, so it never keeps a process alive.
 */
let sharedLingerMs = 2000;

/** Sets the shared device's grace period after its last release (0: released at once); returns the previous one. */
export function setSharedGpuLinger(ms: number): number {
  if (!(ms >= 0)) throw new RangeError(`setSharedGpuLinger: ${ms} is not a duration in milliseconds`);
  const previous = sharedLingerMs;
  sharedLingerMs = ms;
  return previous;
}

/**
 * A lease on the device shared by every model loaded without a `gpu` of its own: requested on first
 * use, released (after the grace period above) when the last lease is. A lost shared device is never
 * handed out again: the next acquire requests a new one, which is how the models on it recover.
 */
export async function acquireSharedGpu(): Promise<GpuLease> {
  let entry = shared;
  if (!entry) {
    const e: SharedDevice = { gpu: requestGpu(), holders: 0 };
    shared = entry = e;
    e.gpu.then(
      (gpu) => gpu.device.lost.then(() => forget(e)),
      () => forget(e),
    );
  }
  entry.holders++;
  clearTimeout(entry.timer);
  entry.timer = undefined;
  let gpu: Gpu;
  try {
    gpu = await entry.gpu;
  } catch (e) {
    entry.holders--;
    throw e;
  }
  // Lost before its notification reached forget(): let this lease go and take a new device.
  if (await gpu.lostNow()) {
    forget(entry);
    release(entry);
    return acquireSharedGpu();
  }
  let released = false;
  const e = entry;
  return {
    gpu,
    release: () => {
      if (released) return;
      released = true;
      release(e);
    },
  };
}

function forget(entry: SharedDevice): void {
  if (shared === entry) shared = undefined;
}

function release(entry: SharedDevice): void {
  if (--entry.holders > 0) return;
  const drop = () => {
    if (entry.holders > 0) return;
    forget(entry);
    entry.gpu.then(
      (gpu) => gpu.destroy(),
      () => {},
    );
  };
  if (shared !== entry || sharedLingerMs === 0) {
    drop();
    return;
  }
  entry.timer = setTimeout(drop, sharedLingerMs);
  (entry.timer as { unref?: () => void }).unref?.();
}

/** A device of its own, destroyed on release: LoadOptions.shareDevice false. */
export async function acquireOwnGpu(): Promise<GpuLease> {
  const gpu = await requestGpu();
  return { gpu, release: () => gpu.destroy() };
}

/** One GPU buffer a model will create, by the name of what it holds. */
export interface BufferNeed {
  name: string;
  bytes: number;
}

/** What a model will allocate: every weight buffer, and its largest activation at the longest input. */
export interface DeviceNeeds {
  weights: BufferNeed[];
  /** Batch 1 at the model's full length: a model that cannot hold this cannot run its own longest input. */
  largestActivation: BufferNeed;
}

export interface FitOptions {
  /** Compare the total with the memory a software adapter draws from (default true). */
  memoryGuard?: boolean;
  /** Free bytes of the memory that guard compares with; found from the runtime when absent (tests pass it). */
  freeMemory?: number;
}

/** Thrown before any allocation when a model cannot fit the device. */
export class GpuLimitError extends RangeError {
  override name = 'GpuLimitError';
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${bytes} bytes`;
}

/**
 * Refuses, before anything is allocated, a model with a buffer larger than the device can create
 * or bind (the runtimes bind every storage buffer whole, so the smaller of maxBufferSize and
 * maxStorageBufferBindingSize is the bound), naming the tensor and the limit.
 *
 * Then a soft guard on the total. WebGPU tells nothing of a device's memory size, so it is applied
 * only where a signal exists: a software adapter (SwiftShader, llvmpipe) allocates from host memory,
 * whose free bytes Node reports (os.freemem) and browsers approximate (navigator.deviceMemory, GiB,
 * coarse and capped). A hardware adapter gets only the per-buffer limits. `memoryGuard: false`
 * skips the guard (the estimate is a floor, the signal approximate).
 */
export async function checkDeviceFits(
  gpu: Gpu,
  needs: DeviceNeeds,
  what: string,
  options: FitOptions = {},
): Promise<void> {
  const { maxBufferSize, maxStorageBufferBindingSize } = gpu.limits;
  const bindingBound = maxStorageBufferBindingSize < maxBufferSize;
  const limit = bindingBound ? maxStorageBufferBindingSize : maxBufferSize;
  const limitName = bindingBound ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
  const all = [...needs.weights, needs.largestActivation];
  const worst = all.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  if (worst.bytes > limit) {
    const kind = worst === needs.largestActivation ? 'activation' : 'tensor';
    throw new GpuLimitError(
      `${what}: ${kind} "${worst.name}" needs ${worst.bytes} bytes (${formatBytes(worst.bytes)}) in one GPU buffer, above this device's ${limitName} of ${limit} bytes (${formatBytes(limit)}); ${describeAdapter(gpu)} cannot run this model. Use a device with larger limits, or a smaller model.`,
    );
  }
  if (options.memoryGuard === false || !gpu.adapter.isSoftware) return;
  const free = options.freeMemory ?? (await softwareDeviceMemory(gpu));
  if (free === undefined) return;
  const total = needs.weights.reduce((t, w) => t + w.bytes, 0) + needs.largestActivation.bytes;
  if (total > free) {
    throw new GpuLimitError(
      `${what}: needs at least ${formatBytes(total)} of device memory (weights and its largest activation), and this software adapter (${describeAdapter(gpu)}) allocates from host memory with ${formatBytes(free)} free. Free memory, or pass memoryGuard: false to try anyway.`,
    );
  }
}

function describeAdapter(gpu: Gpu): string {
  const a = gpu.adapter;
  return [a.vendor, a.architecture, a.description].filter((s) => s).join(' ') || 'this adapter';
}

async function softwareDeviceMemory(gpu: Gpu): Promise<number | undefined> {
  if (gpu.runtime === 'node' && isNode()) {
    const { hostFreeMemory } = await import('./node-webgpu.js');
    return hostFreeMemory();
  }
  const gib = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  return typeof gib === 'number' && gib > 0 ? gib * 2 ** 30 : undefined;
}
