/** Host side of the elementwise f32 add (shaders/add-f32.ts): pre-LN residual sums. */

import { ADD_F32_PARAM_FIELDS, ADD_F32_WORKGROUP, addF32Shader } from '../../shaders/add-f32.js';
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
import { linearGrid } from './gelu-f32.js';

/** What to compile: one pipeline for every count. */
export function addF32Kernel(): KernelProgram {
  return cachedKernel('add-f32', () => ({ name: 'add-f32', code: addF32Shader() }));
}

/** One run over `count` contiguous f32 values (a padded [rows, stride] tensor is rows * stride values). */
export function addF32RunData(count: number): RunData {
  if (!Number.isInteger(count) || count < 1 || count + ADD_F32_WORKGROUP >= 2 ** 32)
    throw new RangeError(`add-f32: count = ${count} must be a positive integer below 2^32 - 64`);
  const grid = linearGrid(count, ADD_F32_WORKGROUP);
  const values: Record<(typeof ADD_F32_PARAM_FIELDS)[number], number> = { count, gridX: grid.gridX, pad0: 0, pad1: 0 };
  return {
    label: `add-f32 ${count}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(ADD_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function addF32Program(count: number): ProgramInfo {
  const run = addF32RunData(count);
  return { ...addF32Kernel(), ...run, name: run.label! };
}

export interface AddF32Buffers {
  a: GPUBuffer;
  b: GPUBuffer;
  y: GPUBuffer;
}

/** The buffers in binding order, checked to hold `count` values (the largest a Dispatch will run). */
export function addF32Bindings(count: number, buffers: AddF32Buffers): GPUBuffer[] {
  checkBufferBytes('add-f32', [
    ['a', buffers.a, count * 4],
    ['b', buffers.b, count * 4],
    ['y', buffers.y, count * 4],
  ]);
  return [buffers.a, buffers.b, buffers.y];
}

export async function bindAddF32(gpu: Gpu, count: number, buffers: AddF32Buffers): Promise<BoundProgram> {
  const list = addF32Bindings(count, buffers);
  return bindProgram(gpu, addF32Program(count), list);
}
