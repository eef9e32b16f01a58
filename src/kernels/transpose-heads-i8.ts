/** Host side of shaders/transpose-heads-i8.ts (V -> per-head V^T for the P.V GEMM). */

import { wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import { TRANSPOSE_HEADS_PARAM_FIELDS, transposeHeadsI8Shader } from '../../shaders/transpose-heads-i8.js';
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
import { wordsPerRow } from '../quant/pack.js';

export interface TransposeHeadsShape {
  batch: number;
  seq: number;
  heads: number;
  headDim: number;
  /** Words per token row of the source (e.g. 3H/4 for a fused QKV tensor). */
  rowWords: number;
  /** First column of head 0 (e.g. 2H for V in a fused QKV tensor). */
  colOffset: number;
}

export function transposeHeadsOutputWords(s: TransposeHeadsShape): number {
  return s.batch * s.heads * s.headDim * wordsPerRow(s.seq);
}

/** What to compile: one pipeline for every shape. */
export function transposeHeadsI8Kernel(): KernelProgram {
  return cachedKernel('transpose-heads-i8', () => ({ name: 'transpose-heads-i8', code: transposeHeadsI8Shader() }));
}

export function transposeHeadsI8RunData(s: TransposeHeadsShape): RunData {
  for (const [k, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < (k === 'colOffset' ? 0 : 1))
      throw new RangeError(`transpose-heads-i8: ${k} = ${v} is not a valid size`);
  }
  if (s.colOffset + s.heads * s.headDim > s.rowWords * 4) {
    throw new RangeError(
      `transpose-heads-i8: heads end at column ${s.colOffset + s.heads * s.headDim}, beyond the row's ${s.rowWords * 4}`,
    );
  }
  const words = transposeHeadsOutputWords(s);
  if (words + 64 > 2 ** 32 || s.batch * s.seq * s.rowWords > 2 ** 32)
    throw new RangeError('transpose-heads-i8: tensor too large for u32 indexing');
  const values = { ...s, seq4: wordsPerRow(s.seq), words };
  return {
    label: `transpose-heads-i8 ${s.batch}x${s.heads}x${s.headDim}x${s.seq}`,
    workgroups: wordGridWorkgroups(words),
    params: new Uint32Array(TRANSPOSE_HEADS_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function transposeHeadsI8Program(s: TransposeHeadsShape): ProgramInfo {
  const run = transposeHeadsI8RunData(s);
  return { ...transposeHeadsI8Kernel(), ...run, name: run.label! };
}

/** The buffers in binding order, checked to hold `s` (the largest a Dispatch will run). */
export function transposeHeadsI8Bindings(s: TransposeHeadsShape, buffers: { x: GPUBuffer; y: GPUBuffer }): GPUBuffer[] {
  checkBufferBytes('transpose-heads-i8', [
    ['x', buffers.x, s.batch * s.seq * s.rowWords * 4],
    ['y', buffers.y, transposeHeadsOutputWords(s) * 4],
  ]);
  return [buffers.x, buffers.y];
}

export function bindTransposeHeadsI8(
  gpu: Gpu,
  s: TransposeHeadsShape,
  buffers: { x: GPUBuffer; y: GPUBuffer },
): Promise<BoundProgram> {
  const info = transposeHeadsI8Program(s);
  return bindProgram(gpu, info, transposeHeadsI8Bindings(s, buffers));
}
