/**
 * Host side of the integer pooling kernel (shaders/pool-i8.ts): int8 final hidden states and the
 * attention mask -> int32 [batch, hidden + 1] (pooled channels, then the count of tokens pooled),
 * finished on the host by poolToFloat (src/reference/pool-i8.ts). An embedding model reads back
 * batch * (hidden + 1) int32 instead of batch * seq rows of int8.
 *
 * Two faces: poolI8Program(options) is the pipeline (a function of the mode alone, so its key never
 * holds a shape) and poolI8RunData(options, shape) the per-shape uniform and dispatch size;
 * poolI8ProgramInfo joins them for bindProgram.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { WORD_GRID_SIZE, wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import { POOL_I8_PARAM_FIELDS, type PoolI8ShaderOptions, poolI8Shader } from '../../shaders/pool-i8.js';
import { checkBufferBytes } from '../gpu/bindings.js';
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, bindProgram, type ProgramInfo } from '../gpu/program.js';
import { wordsPerRow } from '../quant/pack.js';
import {
  checkPoolMode,
  checkPoolShape,
  type PoolI8Shape,
  type PoolMode,
  poolOutputStride,
} from '../reference/pool-i8.js';

export type { PoolMode };

export interface PoolI8Options {
  mode: PoolMode;
}

export interface PoolI8RunShape extends PoolI8Shape {
  /** Words per row of the hidden states (>= ceil(hidden / 4)); defaults to ceil(hidden / 4). */
  rowWords?: number;
}

/** What identifies and compiles the pipeline: nothing here depends on a shape. */
export interface PoolI8Pipeline {
  name: string;
  key: string;
  code: string;
  workgroupStorageBytes: number;
}

/** What one shape needs at dispatch time. */
export interface PoolI8RunData {
  params: Uint32Array;
  workgroups: [number, number, number];
}

export interface PoolI8Buffers {
  /** int8 packed, batch * seq rows of rowWords words. */
  x: GPUBuffer;
  /** u32 [batch * seq], non-zero = real token. */
  mask: GPUBuffer;
  /** int32 [batch, hidden + 1]. */
  output: GPUBuffer;
}

const U32_LIMIT = 2 ** 32;

function shaderOptions(options: PoolI8Options): PoolI8ShaderOptions {
  checkPoolMode(options?.mode);
  return { mode: options.mode };
}

export function poolI8Program(options: PoolI8Options): PoolI8Pipeline {
  const o = shaderOptions(options);
  return { name: `pool-i8[${o.mode}]`, key: optionsKey('pool-i8', o), code: poolI8Shader(o), workgroupStorageBytes: 0 };
}

/** Validated sizes, with rowWords filled in. */
export function checkPoolI8Shape(shape: PoolI8RunShape): Required<PoolI8RunShape> {
  checkPoolShape(shape);
  const hiddenWords = wordsPerRow(shape.hidden);
  const rowWords = shape.rowWords ?? hiddenWords;
  if (!Number.isInteger(rowWords) || rowWords < hiddenWords) {
    throw new RangeError(`pool-i8: rowWords = ${rowWords} must be an integer >= ceil(hidden / 4) = ${hiddenWords}`);
  }
  const { batch, seq, hidden } = shape;
  // The shader's largest u32 indices: input word, output value, thread (with the last group's surplus).
  if (batch * seq * rowWords > U32_LIMIT)
    throw new RangeError(`pool-i8: ${batch * seq} rows of ${rowWords} words exceed u32 indexing`);
  if (batch * poolOutputStride(hidden) > U32_LIMIT)
    throw new RangeError(`pool-i8: output of ${batch} x ${hidden + 1} values exceeds u32 indexing`);
  if (batch * hiddenWords + WORD_GRID_SIZE > U32_LIMIT)
    throw new RangeError(`pool-i8: ${batch * hiddenWords} threads exceed u32 indexing`);
  return { batch, seq, hidden, rowWords };
}

export function poolI8RunData(options: PoolI8Options, shape: PoolI8RunShape): PoolI8RunData {
  shaderOptions(options);
  const s = checkPoolI8Shape(shape);
  const hiddenWords = wordsPerRow(s.hidden);
  const threads = s.batch * hiddenWords;
  const values: Record<(typeof POOL_I8_PARAM_FIELDS)[number], number> = {
    ...s,
    hiddenWords,
    threads,
    pad0: 0,
    pad1: 0,
  };
  return {
    params: new Uint32Array(POOL_I8_PARAM_FIELDS.map((f) => values[f])),
    workgroups: wordGridWorkgroups(threads),
  };
}

export function poolI8ProgramInfo(options: PoolI8Options, shape: PoolI8RunShape): ProgramInfo {
  const pipeline = poolI8Program(options);
  const run = poolI8RunData(options, shape);
  return { ...pipeline, ...run, name: `${pipeline.name} ${shape.batch}x${shape.seq}x${shape.hidden}` };
}

/** Bytes of each buffer the kernel binds, for allocation and for the checks in bindPoolI8. */
export function poolI8BufferBytes(shape: PoolI8RunShape): { x: number; mask: number; output: number } {
  const s = checkPoolI8Shape(shape);
  return {
    x: s.batch * s.seq * s.rowWords * 4,
    mask: s.batch * s.seq * 4,
    output: s.batch * poolOutputStride(s.hidden) * 4,
  };
}

export function bindPoolI8(
  gpu: Gpu,
  options: PoolI8Options,
  shape: PoolI8RunShape,
  buffers: PoolI8Buffers,
): Promise<BoundProgram> {
  const info = poolI8ProgramInfo(options, shape);
  const need = poolI8BufferBytes(shape);
  checkBufferBytes(
    'pool-i8',
    (['x', 'mask', 'output'] as const).map((what) => [what, buffers[what], need[what]]),
  );
  return bindProgram(gpu, info, [buffers.x, buffers.mask, buffers.output]);
}
