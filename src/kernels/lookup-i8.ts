/** Host side of shaders/lookup-i8.ts: int8 [rows, cols] -> int8 through a 256-entry table. */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type ProgramInfo, bindProgram } from '../gpu/program.js';
import { lookupI8Shader } from '../../shaders/lookup-i8.js';
import { checkElementwiseShape, wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import { wordsPerRow } from '../quant/pack.js';

export function lookupI8Program(rows: number, cols: number): ProgramInfo {
  checkElementwiseShape('lookup-i8', rows, cols);
  const cols4 = wordsPerRow(cols);
  const words = rows * cols4;
  return {
    name: `lookup-i8 ${rows}x${cols}`,
    key: 'lookup-i8',
    code: lookupI8Shader(),
    workgroups: wordGridWorkgroups(words),
    params: new Uint32Array([rows, cols, cols4, words]),
  };
}

/** The table as the shader reads it: 256 int32, entries within [-128, 127]. */
export function lookupTableWords(table: Int8Array): Int32Array {
  if (table.length !== 256) throw new RangeError(`lookup-i8: a table needs 256 entries, got ${table.length}`);
  return Int32Array.from(table);
}

export function bindLookupI8(gpu: Gpu, rows: number, cols: number, buffers: { x: GPUBuffer; table: GPUBuffer; y: GPUBuffer }): Promise<BoundProgram> {
  return bindProgram(gpu, lookupI8Program(rows, cols), [buffers.x, buffers.table, buffers.y]);
}
