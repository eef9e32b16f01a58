/** Host side of the masked f32 softmax (shaders/softmax-f32.ts). */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type ProgramInfo, bindProgram } from '../gpu/program.js';
import { SOFTMAX_F32_PARAM_FIELDS, type SoftmaxF32ShaderOptions, softmaxF32Shader } from '../../shaders/softmax-f32.js';
import { optionsKey } from '../../shaders/codegen.js';
import { rowGrid, rowWorkgroupSize } from './layernorm-f32.js';
import type { SoftmaxF32Shape } from '../reference/softmax-f32.js';

export type { SoftmaxF32Shape };

export function softmaxF32Program(shape: SoftmaxF32Shape, options: Partial<SoftmaxF32ShaderOptions> = {}): ProgramInfo {
  const { batch, heads, queries, seq } = shape;
  const scoreStride = shape.scoreStride ?? seq;
  const probStride = shape.probStride ?? seq;
  for (const [k, v] of Object.entries({ batch, heads, queries, seq, scoreStride, probStride })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`softmax-f32: ${k} = ${v} must be a positive integer`);
  }
  if (scoreStride < seq || probStride < seq) throw new RangeError(`softmax-f32: strides (${scoreStride}, ${probStride}) shorter than seq ${seq}`);
  const rows = batch * heads * queries;
  if (rows * Math.max(scoreStride, probStride) >= 2 ** 32) throw new RangeError(`softmax-f32: ${rows} rows exceed u32 indexing`);
  const shaderOptions: SoftmaxF32ShaderOptions = { workgroupSize: options.workgroupSize ?? rowWorkgroupSize(probStride) };
  const grid = rowGrid(rows);
  const values: Record<(typeof SOFTMAX_F32_PARAM_FIELDS)[number], number> = {
    rows, seq, scoreStride, probStride, rowsPerBatch: heads * queries, gridX: grid.gridX, pad0: 0, pad1: 0,
  };
  return {
    name: `softmax-f32 ${batch}x${heads}x${queries}x${seq}`,
    key: optionsKey('softmax-f32', shaderOptions),
    code: softmaxF32Shader(shaderOptions),
    workgroups: grid.workgroups,
    params: new Uint32Array(SOFTMAX_F32_PARAM_FIELDS.map((f) => values[f])),
    workgroupStorageBytes: shaderOptions.workgroupSize * 4,
  };
}

export interface SoftmaxF32Buffers {
  scores: GPUBuffer;
  /** i32 [batch, seq]. */
  mask: GPUBuffer;
  probs: GPUBuffer;
}

export async function bindSoftmaxF32(gpu: Gpu, shape: SoftmaxF32Shape, b: SoftmaxF32Buffers, options?: Partial<SoftmaxF32ShaderOptions>): Promise<BoundProgram> {
  return bindProgram(gpu, softmaxF32Program(shape, options), [b.scores, b.mask, b.probs]);
}
