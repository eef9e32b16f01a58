/** Host side of the attention head split (shaders/split-heads-f32.ts). */

import {
  SPLIT_HEADS_F32_PARAM_FIELDS,
  SPLIT_HEADS_F32_WORKGROUP,
  splitHeadsF32Shader,
} from '../../shaders/split-heads-f32.js';
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
import { type SplitHeadsF32Shape, splitHeadsF32Sizes } from '../reference/split-heads-f32.js';
import { linearGrid } from './gelu-f32.js';
import { f32Bits } from './layernorm-f32.js';

export type { SplitHeadsF32Shape };
export { splitHeadsF32Sizes };

/** What to compile: one pipeline for every shape (qScale is a uniform). */
export function splitHeadsF32Kernel(): KernelProgram {
  return cachedKernel('split-heads-f32', () => ({ name: 'split-heads-f32', code: splitHeadsF32Shader() }));
}

export function splitHeadsF32RunData(shape: SplitHeadsF32Shape): RunData {
  const qScale = shape.qScale ?? 1;
  if (!Number.isFinite(qScale)) throw new RangeError(`split-heads-f32: qScale = ${qScale} must be finite`);
  for (const [k, v] of Object.entries({
    batch: shape.batch,
    seq: shape.seq,
    heads: shape.heads,
    headDim: shape.headDim,
  })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`split-heads-f32: ${k} = ${v} must be a positive integer`);
  }
  const z = splitHeadsF32Sizes(shape);
  const inputCount = shape.batch * shape.seq * 3 * shape.heads * shape.headDim;
  if (z.qk + z.v + SPLIT_HEADS_F32_WORKGROUP >= 2 ** 32 || inputCount >= 2 ** 32)
    throw new RangeError('split-heads-f32: too many elements for u32 indexing');
  const grid = linearGrid(z.qk + z.v, SPLIT_HEADS_F32_WORKGROUP);
  const values: Record<(typeof SPLIT_HEADS_F32_PARAM_FIELDS)[number], number> = {
    batch: shape.batch,
    seq: shape.seq,
    heads: shape.heads,
    d: shape.headDim,
    dPad: z.dPad,
    seqPad: z.seqPad,
    qkCount: z.qk,
    vCount: z.v,
    gridX: grid.gridX,
    qScale: f32Bits(qScale),
    pad1: 0,
    pad2: 0,
  };
  return {
    label: `split-heads-f32 ${shape.batch}x${shape.seq}x${shape.heads}x${shape.headDim}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(SPLIT_HEADS_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function splitHeadsF32Program(shape: SplitHeadsF32Shape): ProgramInfo {
  const run = splitHeadsF32RunData(shape);
  return { ...splitHeadsF32Kernel(), ...run, name: run.label! };
}

export interface SplitHeadsF32Buffers {
  /** [batch * seq, 3 * heads * headDim]. */
  qkv: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  vT: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function splitHeadsF32Bindings(shape: SplitHeadsF32Shape, b: SplitHeadsF32Buffers): GPUBuffer[] {
  const z = splitHeadsF32Sizes(shape);
  checkBufferBytes('split-heads-f32', [
    ['qkv', b.qkv, shape.batch * shape.seq * 3 * shape.heads * shape.headDim * 4],
    ['q', b.q, z.qk * 4],
    ['k', b.k, z.qk * 4],
    ['vT', b.vT, z.v * 4],
  ]);
  return [b.qkv, b.q, b.k, b.vT];
}

export async function bindSplitHeadsF32(
  gpu: Gpu,
  shape: SplitHeadsF32Shape,
  b: SplitHeadsF32Buffers,
): Promise<BoundProgram> {
  const list = splitHeadsF32Bindings(shape, b);
  return bindProgram(gpu, splitHeadsF32Program(shape), list);
}
