/** Host side of mean pooling over real tokens (shaders/mean-pool-f32.ts). */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type ProgramInfo, bindProgram } from '../gpu/program.js';
import { MEAN_POOL_F32_PARAM_FIELDS, MEAN_POOL_F32_WORKGROUP, meanPoolF32Shader } from '../../shaders/mean-pool-f32.js';
import { linearGrid } from './gelu-f32.js';

export interface MeanPoolF32Shape {
  batch: number;
  seq: number;
  H: number;
  /** Input row stride (>= H); defaults to H. */
  stride?: number;
}

export function meanPoolF32Program(shape: MeanPoolF32Shape): ProgramInfo {
  const stride = shape.stride ?? shape.H;
  for (const [k, v] of Object.entries({ ...shape, stride })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`mean-pool-f32: ${k} = ${v} must be a positive integer`);
  }
  if (stride < shape.H) throw new RangeError(`mean-pool-f32: stride ${stride} < H ${shape.H}`);
  if (shape.batch * shape.seq * stride >= 2 ** 32) throw new RangeError('mean-pool-f32: input exceeds u32 indexing');
  const grid = linearGrid(shape.batch * shape.H, MEAN_POOL_F32_WORKGROUP);
  const values: Record<(typeof MEAN_POOL_F32_PARAM_FIELDS)[number], number> = {
    batch: shape.batch, seq: shape.seq, H: shape.H, stride, gridX: grid.gridX, pad0: 0, pad1: 0, pad2: 0,
  };
  return {
    name: `mean-pool-f32 ${shape.batch}x${shape.seq}x${shape.H}`,
    key: 'mean-pool-f32',
    code: meanPoolF32Shader(),
    workgroups: grid.workgroups,
    params: new Uint32Array(MEAN_POOL_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export async function bindMeanPoolF32(gpu: Gpu, shape: MeanPoolF32Shape, b: { x: GPUBuffer; mask: GPUBuffer; out: GPUBuffer }): Promise<BoundProgram> {
  return bindProgram(gpu, meanPoolF32Program(shape), [b.x, b.mask, b.out]);
}
