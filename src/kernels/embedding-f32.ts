/** Host side of the f32 embedding sum (shaders/embedding-f32.ts): id validation, binding. */

import { optionsKey } from '../../shaders/codegen.js';
import {
  EMBEDDING_F32_PARAM_FIELDS,
  type EmbeddingF32ShaderOptions,
  embeddingF32Shader,
} from '../../shaders/embedding-f32.js';
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
import { rowGrid, rowWorkgroupSize } from './layernorm-f32.js';

export interface EmbeddingF32Shape {
  tokens: number;
  H: number;
  /** Output row stride (>= H); defaults to H. */
  stride?: number;
  vocab: number;
  positions: number;
  /** Rows of the token-type table; 0 when the model has none. */
  types: number;
}

/** The variant of a model: token types or not, and the workgroup (options, else rowWorkgroupSize(H)); H is fixed per model. */
export function embeddingF32Variant(
  shape: Pick<EmbeddingF32Shape, 'H' | 'types'>,
  workgroupSize?: number,
): EmbeddingF32ShaderOptions {
  return { tokenTypes: shape.types > 0, workgroupSize: workgroupSize ?? rowWorkgroupSize(shape.H) };
}

export function embeddingF32Kernel(variant: EmbeddingF32ShaderOptions): KernelProgram {
  const wg = variant.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || wg > 256)
    throw new RangeError(`embedding-f32: workgroupSize ${wg} must be an integer in [1, 256]`);
  const shaderOptions: EmbeddingF32ShaderOptions = { tokenTypes: !!variant.tokenTypes, workgroupSize: wg };
  return cachedKernel(optionsKey('embedding-f32', shaderOptions), () => ({
    name: `embedding-f32${shaderOptions.tokenTypes ? '+types' : ''}[wg ${wg}]`,
    code: embeddingF32Shader(shaderOptions),
  }));
}

export function embeddingF32RunData(shape: EmbeddingF32Shape): RunData {
  const stride = shape.stride ?? shape.H;
  for (const [k, v] of Object.entries({
    tokens: shape.tokens,
    H: shape.H,
    stride,
    vocab: shape.vocab,
    positions: shape.positions,
  })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`embedding-f32: ${k} = ${v} must be a positive integer`);
  }
  if (stride < shape.H) throw new RangeError(`embedding-f32: stride ${stride} < H ${shape.H}`);
  if (Math.max(shape.vocab, shape.positions, shape.types, shape.tokens) * Math.max(shape.H, stride) >= 2 ** 32) {
    throw new RangeError('embedding-f32: tables or output exceed u32 indexing');
  }
  const grid = rowGrid(shape.tokens);
  const values: Record<(typeof EMBEDDING_F32_PARAM_FIELDS)[number], number> = {
    tokens: shape.tokens,
    H: shape.H,
    stride,
    gridX: grid.gridX,
    vocab: shape.vocab,
    positions: shape.positions,
    types: shape.types,
    pad0: 0,
  };
  return {
    label: `embedding-f32 ${shape.tokens}x${shape.H}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(EMBEDDING_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function embeddingF32Program(shape: EmbeddingF32Shape, workgroupSize?: number): ProgramInfo {
  const run = embeddingF32RunData(shape);
  return { ...embeddingF32Kernel(embeddingF32Variant(shape, workgroupSize)), ...run, name: run.label! };
}

export interface EmbeddingF32Buffers {
  /** i32 [tokens] each. */
  inputIds: GPUBuffer;
  positionIds: GPUBuffer;
  tokenTypeIds?: GPUBuffer;
  /** f32 tables [rows, H]. */
  word: GPUBuffer;
  position: GPUBuffer;
  tokenType?: GPUBuffer;
  out: GPUBuffer;
}

/** The buffers in binding order, checked against the shape's token types and to hold it (the largest a Dispatch will run). */
export function embeddingF32Bindings(shape: EmbeddingF32Shape, b: EmbeddingF32Buffers): GPUBuffer[] {
  const types = shape.types > 0;
  if (types !== !!b.tokenType || types !== !!b.tokenTypeIds)
    throw new Error('embedding-f32: token-type buffers must be given exactly when shape.types > 0');
  const stride = shape.stride ?? shape.H;
  checkBufferBytes(
    'embedding-f32',
    [
      ['inputIds', b.inputIds, shape.tokens * 4],
      ['positionIds', b.positionIds, shape.tokens * 4],
      ['tokenTypeIds', b.tokenTypeIds, shape.tokens * 4],
      ['word', b.word, shape.vocab * shape.H * 4],
      ['position', b.position, shape.positions * shape.H * 4],
      ['tokenType', b.tokenType, shape.types * shape.H * 4],
      ['out', b.out, ((shape.tokens - 1) * stride + shape.H) * 4],
    ],
    { skipAbsent: true },
  );
  return [b.inputIds, b.positionIds, b.word, b.position, ...(types ? [b.tokenTypeIds!, b.tokenType!] : []), b.out];
}

export async function bindEmbeddingF32(
  gpu: Gpu,
  shape: EmbeddingF32Shape,
  b: EmbeddingF32Buffers,
): Promise<BoundProgram> {
  const list = embeddingF32Bindings(shape, b);
  return bindProgram(gpu, embeddingF32Program(shape), list);
}
