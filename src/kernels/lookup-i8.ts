/** Host side of shaders/lookup-i8.ts: int8 [rows, cols] -> int8 through a 256-entry table. */

import { checkElementwiseShape, wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import { lookupI8Shader } from '../../shaders/lookup-i8.js';
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

/** What to compile: one pipeline for every table and size (the table is a buffer). */
export function lookupI8Kernel(): KernelProgram {
  return cachedKernel('lookup-i8', () => ({ name: 'lookup-i8', code: lookupI8Shader() }));
}

export function lookupI8RunData(rows: number, cols: number): RunData {
  checkElementwiseShape('lookup-i8', rows, cols);
  const cols4 = wordsPerRow(cols);
  const words = rows * cols4;
  return {
    label: `lookup-i8 ${rows}x${cols}`,
    workgroups: wordGridWorkgroups(words),
    params: new Uint32Array([rows, cols, cols4, words]),
  };
}

export function lookupI8Program(rows: number, cols: number): ProgramInfo {
  const run = lookupI8RunData(rows, cols);
  return { ...lookupI8Kernel(), ...run, name: run.label! };
}

/** The table as the shader reads it: 256 int32, entries within [-128, 127]. */
export function lookupTableWords(table: Int8Array): Int32Array {
  if (table.length !== 256) throw new RangeError(`lookup-i8: a table needs 256 entries, got ${table.length}`);
  return Int32Array.from(table);
}

export interface LookupI8Buffers {
  /** Packed int8 [rows, ceil(cols / 4)] words. */
  x: GPUBuffer;
  /** lookupTableWords(table). */
  table: GPUBuffer;
  y: GPUBuffer;
}

/** The buffers in binding order, checked to hold rows x cols (the largest a Dispatch will run). */
export function lookupI8Bindings(rows: number, cols: number, buffers: LookupI8Buffers): GPUBuffer[] {
  const words = rows * wordsPerRow(cols) * 4;
  checkBufferBytes('lookup-i8', [
    ['x', buffers.x, words],
    ['table', buffers.table, 256 * 4],
    ['y', buffers.y, words],
  ]);
  return [buffers.x, buffers.table, buffers.y];
}

export function bindLookupI8(gpu: Gpu, rows: number, cols: number, buffers: LookupI8Buffers): Promise<BoundProgram> {
  const info = lookupI8Program(rows, cols);
  return bindProgram(gpu, info, lookupI8Bindings(rows, cols, buffers));
}
