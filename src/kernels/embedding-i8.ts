/**
 * Host side of the int8 embedding (shaders/embedding-i8.ts): shape and constant validation, the
 * proof that no rescaled table value can reach the int32 overflow guard, id validation before
 * upload, and the dispatch.
 */

import { optionsKey } from '../../shaders/codegen.js';
import {
  EMBEDDING_I8_PARAM_FIELDS,
  type EmbeddingI8ShaderOptions,
  embeddingI8Shader,
} from '../../shaders/embedding-i8.js';
import { checkElementwiseShape, wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import { checkEmbeddingIds } from '../core/token-batch.js';
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
import { checkDyadic } from '../reference/dyadic.js';
import { EMBEDDING_TERM_MAX, type EmbeddingConstants, embeddingTermBound } from '../reference/embedding-i8.js';
import { signedRange } from '../reference/residual-add.js';

export type EmbeddingI8Options = EmbeddingI8ShaderOptions;
export type { EmbeddingConstants };
export { checkEmbeddingIds };

export interface EmbeddingI8Shape {
  /** Tokens n (all sequences of a batch, flattened). */
  tokens: number;
  hidden: number;
  /** Rows of the word, position and token-type tables. */
  vocab: number;
  positions: number;
  /** Required with options.tokenTypes. */
  types?: number;
}

/** Proves that no table value rescales beyond the guard 2^29; refuses the plan otherwise. */
export function checkEmbeddingConstants(options: EmbeddingI8Options, c: EmbeddingConstants): void {
  signedRange(c.bits, 'embedding');
  if (options.tokenTypes !== !!c.tokenType) {
    throw new RangeError(
      `embedding: ${options.tokenTypes ? 'a token-type multiplier is required' : 'no token-type table, but a token-type multiplier was given'}`,
    );
  }
  const terms: [string, typeof c.word][] = [
    ['word', c.word],
    ['position', c.position],
  ];
  if (c.tokenType) terms.push(['tokenType', c.tokenType]);
  for (const [name, d] of terms) {
    checkDyadic(d, `embedding ${name} multiplier`);
    const t = embeddingTermBound(d);
    if (t > EMBEDDING_TERM_MAX) {
      throw new RangeError(
        `embedding: the ${name} table (int8, |x| <= 128) times ${d.m} / 2^${d.e} can reach ${t}, over the int32-safe term bound 2^29; plan a larger output scale`,
      );
    }
  }
}

function tableShapes(options: EmbeddingI8Options, shape: EmbeddingI8Shape): [string, number][] {
  const tables: [string, number][] = [
    ['vocab', shape.vocab],
    ['positions', shape.positions],
  ];
  if (options.tokenTypes) tables.push(['types', shape.types ?? NaN]);
  else if (shape.types !== undefined)
    throw new RangeError('embedding: shape.types given for a model without token types');
  return tables;
}

/** What to compile: one pipeline with and one without token types (multipliers and sizes are uniforms). */
export function embeddingI8Kernel(options: EmbeddingI8Options): KernelProgram {
  const shaderOptions: EmbeddingI8ShaderOptions = { tokenTypes: !!options.tokenTypes };
  return cachedKernel(optionsKey('embedding-i8', shaderOptions), () => ({
    name: `embedding-i8[${shaderOptions.tokenTypes ? 'word+pos+type' : 'word+pos'}]`,
    code: embeddingI8Shader(shaderOptions),
  }));
}

/** One run: validates the shape and tables, proves the terms' bounds, and gives the uniform and the grid. */
export function embeddingI8RunData(
  options: EmbeddingI8Options,
  shape: EmbeddingI8Shape,
  c: EmbeddingConstants,
): RunData {
  const { tokens, hidden } = shape;
  checkElementwiseShape('embedding output', tokens, hidden);
  for (const [name, rows] of tableShapes(options, shape))
    checkElementwiseShape(`embedding table (${name})`, rows, hidden);
  checkEmbeddingConstants(options, c);
  const [lo, hi] = signedRange(c.bits, 'embedding');
  const hidden4 = wordsPerRow(hidden);
  const values: Record<(typeof EMBEDDING_I8_PARAM_FIELDS)[number], number> = {
    tokens,
    hidden,
    hidden4,
    words: tokens * hidden4,
    vocab: shape.vocab,
    positions: shape.positions,
    types: shape.types ?? 0,
    pad0: 0,
    mw: c.word.m,
    ew: c.word.e,
    mp: c.position.m,
    ep: c.position.e,
    mt: c.tokenType?.m ?? 0,
    et: c.tokenType?.e ?? 0,
    lo: lo >>> 0,
    hi,
  };
  return {
    label: `embedding-i8[${options.tokenTypes ? 'word+pos+type' : 'word+pos'}->i${c.bits}] ${tokens}x${hidden}`,
    workgroups: wordGridWorkgroups(tokens * hidden4),
    params: new Uint32Array(EMBEDDING_I8_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function embeddingI8Program(
  options: EmbeddingI8Options,
  shape: EmbeddingI8Shape,
  c: EmbeddingConstants,
): ProgramInfo {
  const run = embeddingI8RunData(options, shape, c);
  return { ...embeddingI8Kernel(options), ...run, name: run.label! };
}

/** Validates ids against their table and uploads them as array<u32>. */
export function embeddingIdsBuffer(gpu: Gpu, ids: ArrayLike<number>, rows: number, what = 'token'): GPUBuffer {
  checkEmbeddingIds(ids, rows, what);
  return gpu.storage(`${what} ids`, Uint32Array.from(ids));
}

export interface EmbeddingI8Buffers {
  /** Packed int8 tables, [rows, ceil(hidden / 4)] words each. */
  word: GPUBuffer;
  position: GPUBuffer;
  tokenType?: GPUBuffer;
  /** array<u32> [tokens] each, from embeddingIdsBuffer. */
  tokenIds: GPUBuffer;
  positionIds: GPUBuffer;
  tokenTypeIds?: GPUBuffer;
  /** int32 [tokens, hidden]. */
  output: GPUBuffer;
}

/**
 * The buffers in binding order, checked against the options and to hold `shape` (the largest a
 * Dispatch will run: its token count and tables).
 */
export function embeddingI8Bindings(
  options: EmbeddingI8Options,
  shape: EmbeddingI8Shape,
  buffers: EmbeddingI8Buffers,
): GPUBuffer[] {
  if (options.tokenTypes !== !!buffers.tokenType || options.tokenTypes !== !!buffers.tokenTypeIds) {
    throw new RangeError('embedding: options.tokenTypes and the token-type table / id buffers disagree');
  }
  const row = wordsPerRow(shape.hidden) * 4;
  checkBufferBytes(
    'embedding',
    [
      ['word table', buffers.word, shape.vocab * row],
      ['position table', buffers.position, shape.positions * row],
      ['token-type table', buffers.tokenType, (shape.types ?? 0) * row],
      ['token ids', buffers.tokenIds, shape.tokens * 4],
      ['position ids', buffers.positionIds, shape.tokens * 4],
      ['token-type ids', buffers.tokenTypeIds, shape.tokens * 4],
      ['output', buffers.output, shape.tokens * shape.hidden * 4],
    ],
    { skipAbsent: true },
  );
  const list = [buffers.word, buffers.position];
  if (buffers.tokenType) list.push(buffers.tokenType);
  list.push(buffers.tokenIds, buffers.positionIds);
  if (buffers.tokenTypeIds) list.push(buffers.tokenTypeIds);
  list.push(buffers.output);
  return list;
}

export async function bindEmbeddingI8(
  gpu: Gpu,
  options: EmbeddingI8Options,
  shape: EmbeddingI8Shape,
  constants: EmbeddingConstants,
  buffers: EmbeddingI8Buffers,
): Promise<BoundProgram> {
  const info = embeddingI8Program(options, shape, constants);
  return bindProgram(gpu, info, embeddingI8Bindings(options, shape, buffers));
}
