/** Host side of mean pooling over real tokens (shaders/mean-pool-f32.ts). */

import { MEAN_POOL_F32_PARAM_FIELDS, MEAN_POOL_F32_WORKGROUP, meanPoolF32Shader } from '../../shaders/mean-pool-f32.js';
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

export interface MeanPoolF32Shape {
  batch: number;
  seq: number;
  H: number;
  /** Input row stride (>= H); defaults to H. */
  stride?: number;
}

/** What to compile: one pipeline for every shape. */
export function meanPoolF32Kernel(): KernelProgram {
  return cachedKernel('mean-pool-f32', () => ({ name: 'mean-pool-f32', code: meanPoolF32Shader() }));
}

export function meanPoolF32RunData(shape: MeanPoolF32Shape): RunData {
  const stride = shape.stride ?? shape.H;
  for (const [k, v] of Object.entries({ ...shape, stride })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`mean-pool-f32: ${k} = ${v} must be a positive integer`);
  }
  if (stride < shape.H) throw new RangeError(`mean-pool-f32: stride ${stride} < H ${shape.H}`);
  if (shape.batch * shape.seq * stride >= 2 ** 32) throw new RangeError('mean-pool-f32: input exceeds u32 indexing');
  const grid = linearGrid(shape.batch * shape.H, MEAN_POOL_F32_WORKGROUP);
  const values: Record<(typeof MEAN_POOL_F32_PARAM_FIELDS)[number], number> = {
    batch: shape.batch,
    seq: shape.seq,
    H: shape.H,
    stride,
    gridX: grid.gridX,
    pad0: 0,
    pad1: 0,
    pad2: 0,
  };
  return {
    label: `mean-pool-f32 ${shape.batch}x${shape.seq}x${shape.H}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(MEAN_POOL_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function meanPoolF32Program(shape: MeanPoolF32Shape): ProgramInfo {
  const run = meanPoolF32RunData(shape);
  return { ...meanPoolF32Kernel(), ...run, name: run.label! };
}

export interface MeanPoolF32Buffers {
  /** [batch * seq, stride] f32. */
  x: GPUBuffer;
  /** i32 [batch, seq]. */
  mask: GPUBuffer;
  /** [batch, H] f32. */
  out: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function meanPoolF32Bindings(shape: MeanPoolF32Shape, b: MeanPoolF32Buffers): GPUBuffer[] {
  const rows = shape.batch * shape.seq;
  checkBufferBytes('mean-pool-f32', [
    ['x', b.x, ((rows - 1) * (shape.stride ?? shape.H) + shape.H) * 4],
    ['mask', b.mask, rows * 4],
    ['out', b.out, shape.batch * shape.H * 4],
  ]);
  return [b.x, b.mask, b.out];
}

export async function bindMeanPoolF32(gpu: Gpu, shape: MeanPoolF32Shape, b: MeanPoolF32Buffers): Promise<BoundProgram> {
  return bindProgram(gpu, meanPoolF32Program(shape), meanPoolF32Bindings(shape, b));
}
