/** What a model costs on the GPU: dispatch times from timestamp queries, and bytes held in buffers. */
import type { Gpu, GpuTimer } from './gpu.js';

/** A timer for `passes` timed passes, or a clear error on adapters without timestamps. */
export function profilingTimer(gpu: Gpu, passes: number): GpuTimer {
  const timer = gpu.createTimer(Math.max(1, passes));
  if (!timer) {
    throw new Error("profiling needs GPU timestamps, and this adapter does not offer the 'timestamp-query' feature");
  }
  return timer;
}

export interface GpuMemory {
  /** Weights and constants, held for the model's life. */
  weightBytes: number;
  /** Activations and read-back buffers, sized for the largest (batch, sequence) run so far. */
  activationBytes: number;
  /** Decoders: the KV cache (K, V and its mask) for its batch and capacity. */
  kvCacheBytes?: number;
  /** Decoders: K and V bytes per token of one sequence, all layers. */
  kvBytesPerToken?: number;
  /**
   * Encoder-decoders: the cross-attention K and V of the sources (int8, every decoder layer), kept
   * for every step and shared by each source's beams; included in activationBytes.
   */
  crossKvBytes?: number;
  /** Encoder-decoders: cross-attention K and V bytes per source token, all layers. */
  crossKvBytesPerSourceToken?: number;
}

export function sumSizes(buffers: Iterable<GPUBuffer | undefined>): number {
  let n = 0;
  for (const b of buffers) n += b?.size ?? 0;
  return n;
}

export interface KernelFamilyTime {
  family: string;
  ms: number;
  dispatches: number;
}

/** A program name's kernel family: "gemm-i8[dot4,i8] 128x768x768" -> "gemm-i8". */
export function kernelFamily(name: string): string {
  return name.split(/[[\s]/, 1)[0];
}

/** Dispatch times summed per kernel family, largest first. */
export function kernelFamilies(kernels: readonly { name: string; ms: number }[]): KernelFamilyTime[] {
  const byFamily = new Map<string, KernelFamilyTime>();
  for (const k of kernels) {
    const family = kernelFamily(k.name);
    const f = byFamily.get(family) ?? { family, ms: 0, dispatches: 0 };
    f.ms += k.ms;
    f.dispatches++;
    byFamily.set(family, f);
  }
  return [...byFamily.values()].sort((a, b) => b.ms - a.ms);
}
