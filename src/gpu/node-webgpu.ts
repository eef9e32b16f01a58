/**
 * WebGPU in Node through Dawn's binding (npm `webgpu`). Imported only in Node, lazily, so browser
 * bundles never see it.
 *
 * Vulkan driver choice: a machine with a GPU must use it, so hardware drivers stay visible and
 * SwiftShader (shipped by Debian's chromium package) is only *added* to the loader's list with
 * VK_ADD_DRIVER_FILES. Dawn orders adapters discrete > integrated > CPU, so SwiftShader is picked
 * only when no hardware adapter exists. A user's own VK_ICD_FILENAMES / VK_DRIVER_FILES wins.
 */
import { existsSync } from 'node:fs';
import { freemem } from 'node:os';

export const SWIFTSHADER_ICD_CANDIDATES = [
  '/usr/lib/chromium/vk_swiftshader_icd.json',
  '/usr/lib64/chromium/vk_swiftshader_icd.json',
  '/usr/lib/chromium-browser/vk_swiftshader_icd.json',
];

export function swiftShaderIcd(): string | undefined {
  return SWIFTSHADER_ICD_CANDIDATES.find((p) => existsSync(p));
}

/** Exported for callers that create Dawn's GPU object themselves, with flags (bench/gpu-node.ts). */
export function configureVulkanDrivers(): void {
  const env = process.env;
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES) return;
  const icd = swiftShaderIcd();
  if (!icd) return;
  const extra = env.VK_ADD_DRIVER_FILES ? env.VK_ADD_DRIVER_FILES.split(':') : [];
  if (!extra.includes(icd)) env.VK_ADD_DRIVER_FILES = [...extra, icd].join(':');
  // The Vulkan loader warns on every start when this is unset on headless machines.
  env.XDG_RUNTIME_DIR ??= '/tmp';
}

let cached: GPU | undefined;

/**
 * dawn.node resolves GPU promises by polling with setImmediate, which spins the JS thread at 100%
 * while any promise is pending. On a 2-core machine that halves SwiftShader's speed. While a wait is
 * in progress, route setImmediate through a 1 ms timer so the poll sleeps between ticks.
 *
 * Waits overlap (pipelines compile in parallel, several models share a device), so the patch is
 * counted: the first wait installs it, the last one out restores the original. Restoring per wait
 * left the 1 ms version installed for good whenever two waits finished out of order.
 */
let gentleDepth = 0;
let originalSetImmediate: typeof setImmediate | undefined;
let gentleSetImmediate: typeof setImmediate | undefined;

let gentlePolling = true;

/**
 * Turns the throttle off (or back on) for the waits that start afterwards. On a hardware adapter
 * the 1 ms poll puts a floor of about a millisecond under every wait, which a benchmark on a GPU
 * measures instead of the GPU (bench/gpu-node.ts turns it off there). Returns the previous setting.
 */
export function setGentlePolling(enabled: boolean): boolean {
  const previous = gentlePolling;
  gentlePolling = enabled;
  return previous;
}

export async function withGentlePolling<T>(work: () => Promise<T>): Promise<T> {
  if (!gentlePolling) return work();
  const g = globalThis as unknown as { setImmediate: typeof setImmediate };
  if (gentleDepth++ === 0) {
    originalSetImmediate = g.setImmediate;
    gentleSetImmediate = ((fn: (...args: unknown[]) => void, ...args: unknown[]) =>
      setTimeout(fn, 1, ...args)) as unknown as typeof setImmediate;
    g.setImmediate = gentleSetImmediate;
  }
  try {
    return await work();
  } finally {
    // Someone else's replacement installed meanwhile is left alone.
    if (--gentleDepth === 0 && g.setImmediate === gentleSetImmediate) g.setImmediate = originalSetImmediate!;
  }
}

/** Bytes of host memory free now: a software adapter's (SwiftShader's) device memory is this memory. */
export function hostFreeMemory(): number {
  return freemem();
}

export async function nodeGpu(): Promise<GPU> {
  if (cached) return cached;
  configureVulkanDrivers();
  let mod: { create: (flags: string[]) => GPU; globals: object };
  try {
    const name = 'webgpu';
    mod = await import(/* @vite-ignore */ name);
  } catch (e) {
    // An optional dependency: absent after --omit=optional, or where its install failed.
    const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test((e as Error).message);
    throw new Error(
      missing
        ? 'WebGPU for Node needs the npm package "webgpu" (Dawn\'s binding), which is not installed: run `npm install webgpu`'
        : `WebGPU for Node needs the npm package "webgpu" (Dawn's binding); it is installed but could not be loaded: ${(e as Error).message}`,
    );
  }
  // GPUBufferUsage, GPUMapMode, GPUShaderStage ... as globals, like in a browser.
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  cached = mod.create([]);
  return cached;
}
