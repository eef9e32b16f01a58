/** Host side of the f32 embedding sum (shaders/embedding-f32.ts): id validation, binding. */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type ProgramInfo, bindProgram } from '../gpu/program.js';
import { EMBEDDING_F32_PARAM_FIELDS, type EmbeddingF32ShaderOptions, embeddingF32Shader } from '../../shaders/embedding-f32.js';
import { optionsKey } from '../../shaders/codegen.js';
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

/** Refuses ids outside their tables (the shader would clamp them silently). */
export function checkEmbeddingIds(what: string, ids: ArrayLike<number>, count: number, tokens: number): void {
  if (ids.length < tokens) throw new RangeError(`embedding-f32: ${ids.length} ${what} for ${tokens} tokens`);
  for (let i = 0; i < tokens; i++) {
    const v = ids[i];
    if (!Number.isInteger(v) || v < 0 || v >= count) throw new RangeError(`embedding-f32: ${what}[${i}] = ${v} is outside [0, ${count})`);
  }
}

export function embeddingF32Program(shape: EmbeddingF32Shape, workgroupSize?: number): ProgramInfo {
  const stride = shape.stride ?? shape.H;
  for (const [k, v] of Object.entries({ tokens: shape.tokens, H: shape.H, stride, vocab: shape.vocab, positions: shape.positions })) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`embedding-f32: ${k} = ${v} must be a positive integer`);
  }
  if (stride < shape.H) throw new RangeError(`embedding-f32: stride ${stride} < H ${shape.H}`);
  if (Math.max(shape.vocab, shape.positions, shape.types, shape.tokens) * Math.max(shape.H, stride) >= 2 ** 32) {
    throw new RangeError('embedding-f32: tables or output exceed u32 indexing');
  }
  const shaderOptions: EmbeddingF32ShaderOptions = { tokenTypes: shape.types > 0, workgroupSize: workgroupSize ?? rowWorkgroupSize(shape.H) };
  const grid = rowGrid(shape.tokens);
  const values: Record<(typeof EMBEDDING_F32_PARAM_FIELDS)[number], number> = {
    tokens: shape.tokens, H: shape.H, stride, gridX: grid.gridX, vocab: shape.vocab, positions: shape.positions, types: shape.types, pad0: 0,
  };
  return {
    name: `embedding-f32 ${shape.tokens}x${shape.H}`,
    key: optionsKey('embedding-f32', shaderOptions),
    code: embeddingF32Shader(shaderOptions),
    workgroups: grid.workgroups,
    params: new Uint32Array(EMBEDDING_F32_PARAM_FIELDS.map((f) => values[f])),
  };
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

export async function bindEmbeddingF32(gpu: Gpu, shape: EmbeddingF32Shape, b: EmbeddingF32Buffers): Promise<BoundProgram> {
  const types = shape.types > 0;
  if (types !== !!b.tokenType || types !== !!b.tokenTypeIds) throw new Error('embedding-f32: token-type buffers must be given exactly when shape.types > 0');
  const list = [b.inputIds, b.positionIds, b.word, b.position, ...(types ? [b.tokenTypeIds!, b.tokenType!] : []), b.out];
  return bindProgram(gpu, embeddingF32Program(shape), list);
}
