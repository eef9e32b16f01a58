/** Host side of the elementwise f32 GELU (and heads' tanh / ReLU) of shaders/gelu-f32.ts; the GEMM can also fuse them. */

import {
  type ActivationF32,
  GELU_F32_PARAM_FIELDS,
  GELU_F32_WORKGROUP,
  geluF32Shader,
} from '../../shaders/gelu-f32.js';
import { checkBufferBytes } from '../gpu/bindings.js';
import type { Gpu } from '../gpu/gpu.js';
import {
  type BoundProgram,
  bindProgram,
  cachedKernel,
  type KernelProgram,
  type ProgramInfo,
  type RunData,
} from '../gpu/program.js';

export type { ActivationF32 };

/** Workgroups of `size` threads covering `threads` linear indices, wrapping into y past 65535. */
export function linearGrid(threads: number, size: number): { workgroups: [number, number, number]; gridX: number } {
  const groups = Math.max(1, Math.ceil(threads / size));
  const y = Math.ceil(groups / 65535);
  const gridX = Math.ceil(groups / y);
  return { workgroups: [gridX, y, 1], gridX };
}

/** What to compile: one pipeline per activation, for every count. */
export function geluF32Kernel(activation: ActivationF32 = 'gelu'): KernelProgram {
  if (!['gelu', 'gelu_tanh', 'tanh', 'relu', 'silu'].includes(activation))
    throw new RangeError(`gelu-f32: activation ${String(activation)} is not gelu, gelu_tanh, tanh, relu or silu`);
  return cachedKernel(`gelu-f32:${activation}`, () => ({ name: `${activation}-f32`, code: geluF32Shader(activation) }));
}

/** One run over `count` contiguous f32 values (a padded [rows, stride] tensor is rows * stride values). */
export function geluF32RunData(count: number, activation: ActivationF32 = 'gelu'): RunData {
  if (!Number.isInteger(count) || count < 1 || count + GELU_F32_WORKGROUP >= 2 ** 32)
    throw new RangeError(`gelu-f32: count = ${count} must be a positive integer below 2^32 - 64`);
  const grid = linearGrid(count, GELU_F32_WORKGROUP);
  const values: Record<(typeof GELU_F32_PARAM_FIELDS)[number], number> = { count, gridX: grid.gridX, pad0: 0, pad1: 0 };
  return {
    label: `${activation}-f32 ${count}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(GELU_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

/** GELU over `count` contiguous f32 values (a padded [rows, stride] tensor is rows * stride values). */
export function geluF32Program(count: number, activation: ActivationF32 = 'gelu'): ProgramInfo {
  const run = geluF32RunData(count, activation);
  return { ...geluF32Kernel(activation), ...run, name: run.label! };
}

/** The buffers in binding order, checked to hold `count` values (the largest a Dispatch will run). */
export function geluF32Bindings(count: number, buffers: { x: GPUBuffer; y: GPUBuffer }): GPUBuffer[] {
  checkBufferBytes('gelu-f32', [
    ['x', buffers.x, count * 4],
    ['y', buffers.y, count * 4],
  ]);
  return [buffers.x, buffers.y];
}

export async function bindGeluF32(
  gpu: Gpu,
  count: number,
  buffers: { x: GPUBuffer; y: GPUBuffer },
  activation: ActivationF32 = 'gelu',
): Promise<BoundProgram> {
  const list = geluF32Bindings(count, buffers);
  return bindProgram(gpu, geluF32Program(count, activation), list);
}
