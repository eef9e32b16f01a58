/**
 * Host side of the integer softmax (shaders/softmax-i8.ts): shape and launch validation, the
 * overflow proof of the constants for the row length (softmaxI8Bounds: a plan that could wrap any
 * u32 is refused, never run), the uniform parameters, and the binding.
 */

import { optionsKey } from '../../shaders/codegen.js';
import {
  SOFTMAX_I8_PARAM_FIELDS,
  type SoftmaxI8ParamField,
  type SoftmaxI8ShaderOptions,
  softmaxI8Shader,
} from '../../shaders/softmax-i8.js';
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
import {
  checkSoftmaxI8Rows,
  deriveSoftmaxI8Constants,
  SOFTMAX_I8_DEFAULT_KEYS,
  SOFTMAX_I8_MAX_KEYS,
  type SoftmaxI8Bounds,
  type SoftmaxI8Constants,
  softmaxI8Bounds,
} from '../reference/softmax-i8.js';

export type { SoftmaxI8Bounds, SoftmaxI8Constants };
export { deriveSoftmaxI8Constants, SOFTMAX_I8_DEFAULT_KEYS, SOFTMAX_I8_MAX_KEYS, softmaxI8Bounds };

/**
 * Attention scores [batch, heads, queries, scoreRow] (int32, the first `seq` of each row are the
 * keys) with a key mask [batch, maskRow]; probabilities [batch, heads, queries, outRow] words.
 * Without the optional fields: the encoder's [batch, heads, seq, seq] and [batch, seq].
 */
export interface SoftmaxI8Shape {
  batch: number;
  heads: number;
  /** Keys per row. */
  seq: number;
  /** Query rows per (batch, head): 1 for a decode step; default seq. */
  queries?: number;
  /** With causal: positions cached before this run's first query; query i sees keys j <= past + i. */
  past?: number;
  causal?: boolean;
  /** Values between score rows (the KV cache's capacity); default seq. */
  scoreRow?: number;
  /** Values between mask rows; default seq. */
  maskRow?: number;
  /** Words between output rows (>= ceil(seq / 4); only those are written); default ceil(seq / 4). */
  outRow?: number;
}

/** The shape with every default filled in. */
export function resolveSoftmaxI8Shape(shape: SoftmaxI8Shape): Required<SoftmaxI8Shape> {
  const seq = shape.seq;
  return {
    batch: shape.batch,
    heads: shape.heads,
    seq,
    queries: shape.queries ?? seq,
    past: shape.past ?? 0,
    causal: shape.causal ?? false,
    scoreRow: shape.scoreRow ?? seq,
    maskRow: shape.maskRow ?? seq,
    outRow: shape.outRow ?? wordsPerRow(seq),
  };
}

export type SoftmaxI8Launch = SoftmaxI8ShaderOptions;

/** The workgroup dimension of one dispatch grid axis guaranteed by every adapter. */
const GRID_X = 65535;

/**
 * GPUs: the smallest power-of-two workgroup (32..128) with at most 4 keys per thread. CPU emulation
 * (SwiftShader) pays per barrier and per idle lane, so there the workgroup is as small as possible
 * (from 4) with up to 16 keys per thread: 10-17x faster for short rows (measured at 40 keys).
 * Keys per thread are rounded up to a power of two, so few pipelines serve every length.
 */
export function defaultSoftmaxI8Launch(seq: number, software = false): SoftmaxI8Launch {
  let workgroupSize: number;
  if (software) {
    workgroupSize = 4;
    while (Math.ceil(seq / workgroupSize) > 16) workgroupSize *= 2;
  } else {
    // 256 from 513 keys: rows of GPT-2's 1024 positions keep 4 keys per thread.
    workgroupSize = seq <= 32 ? 32 : seq <= 64 ? 64 : seq <= 512 ? 128 : 256;
  }
  // A power of two: keysPerThread is compiled in, so every sequence length would otherwise need
  // its own pipeline (~0.1-0.3 s to compile on SwiftShader, paid while the user waits for a new length).
  return { workgroupSize, keysPerThread: 2 ** Math.ceil(Math.log2(Math.ceil(seq / workgroupSize))) };
}

function checkShape(shape: SoftmaxI8Shape): Required<SoftmaxI8Shape> {
  for (const k of ['batch', 'heads', 'seq'] as const) {
    if (!Number.isInteger(shape[k]) || shape[k] < 1)
      throw new RangeError(`integer softmax: ${k} = ${shape[k]} must be a positive integer`);
  }
  if (shape.seq > SOFTMAX_I8_MAX_KEYS) {
    throw new RangeError(
      `integer softmax: seq = ${shape.seq} exceeds the supported maximum of ${SOFTMAX_I8_MAX_KEYS} keys`,
    );
  }
  checkSoftmaxI8Rows(shape);
  const s = resolveSoftmaxI8Shape(shape);
  if (!Number.isInteger(s.outRow) || s.outRow < wordsPerRow(s.seq))
    throw new RangeError(`integer softmax: outRow = ${s.outRow} words cannot hold ${s.seq} keys`);
  const rows = s.batch * s.heads * s.queries;
  // Indices row * scoreRow, row * outRow and batch * maskRow are u32 in the shader.
  const U32 = 2 ** 32 - 1;
  if (rows * s.scoreRow > U32)
    throw new RangeError(`integer softmax: ${rows} rows of ${s.scoreRow} scores overflow u32 indices`);
  if (rows * s.outRow > U32)
    throw new RangeError(`integer softmax: ${rows} rows of ${s.outRow} output words overflow u32 indices`);
  if (s.batch * s.maskRow > U32)
    throw new RangeError(`integer softmax: mask of ${s.batch} x ${s.maskRow} overflows u32 indices`);
  return s;
}

function checkLaunchOptions(launch: SoftmaxI8Launch): void {
  const { workgroupSize: wg, keysPerThread: kpt } = launch;
  if (!Number.isInteger(wg) || wg < 4 || wg > 256 || (wg & (wg - 1)) !== 0) {
    throw new RangeError(`integer softmax: workgroupSize = ${wg} must be a power of two in [4, 256]`);
  }
  if (!Number.isInteger(kpt) || kpt < 1 || kpt > 16)
    throw new RangeError(`integer softmax: keysPerThread = ${kpt} must be an integer in [1, 16]`);
}

function checkLaunch(launch: SoftmaxI8Launch, seq: number): void {
  checkLaunchOptions(launch);
  const { workgroupSize: wg, keysPerThread: kpt } = launch;
  if (wg * kpt < seq)
    throw new RangeError(`integer softmax: ${wg} threads x ${kpt} keys cannot hold a row of ${seq} keys`);
}

/** Words of the output: outRow (default ceil(seq / 4)) per row, padding lanes zero. */
export function softmaxI8OutputWords(shape: SoftmaxI8Shape): number {
  const s = resolveSoftmaxI8Shape(shape);
  return s.batch * s.heads * s.queries * s.outRow;
}

export function softmaxI8Params(shape: SoftmaxI8Shape, c: SoftmaxI8Constants): Uint32Array {
  const s = resolveSoftmaxI8Shape(shape);
  const rows = s.batch * s.heads * s.queries;
  const values: Record<SoftmaxI8ParamField, number> = {
    rows,
    seq: s.seq,
    rowsPerBatch: s.heads * s.queries,
    outRow: s.outRow,
    gridX: Math.min(rows, GRID_X),
    rescaleM: c.rescale.m,
    rescaleE: c.rescale.e,
    tMax: c.tMax,
    ln2: c.ln2,
    polyB: c.b,
    polyC: c.c,
    expShift: c.shift,
    scoreRow: s.scoreRow,
    queries: s.queries,
    past: s.past,
    causal: s.causal ? 1 : 0,
    maskRow: s.maskRow,
    outWords: wordsPerRow(s.seq),
    pad0: 0,
    pad1: 0,
  };
  return Uint32Array.from(SOFTMAX_I8_PARAM_FIELDS, (f) => values[f]);
}

/**
 * The variant (launch) a shape needs: defaultSoftmaxI8Launch(seq). Keys per thread are rounded to
 * powers of two, so lengths 1..2048 need at most a handful of variants (causal and decoder runs
 * use the same ones: their differences are uniforms).
 */
export function softmaxI8Variant(shape: Pick<SoftmaxI8Shape, 'seq'>, software = false): SoftmaxI8Launch {
  return defaultSoftmaxI8Launch(shape.seq, software);
}

/** What to compile for one launch: rows of up to workgroupSize * keysPerThread keys, any count. */
export function softmaxI8Kernel(launch: SoftmaxI8Launch): KernelProgram {
  checkLaunchOptions(launch);
  const l: SoftmaxI8Launch = { workgroupSize: launch.workgroupSize, keysPerThread: launch.keysPerThread };
  return cachedKernel(optionsKey('softmax-i8', l), () => ({
    name: `softmax-i8[wg ${l.workgroupSize}x${l.keysPerThread}]`,
    code: softmaxI8Shader(l),
    workgroupStorageBytes: 4 * (2 * l.workgroupSize + l.workgroupSize * l.keysPerThread),
  }));
}

/**
 * One run over [batch, heads, seq, seq] scores on `launch`. Refuses (RangeError) shapes, launches
 * too small for the row, and constants whose integer arithmetic is not proven to stay in u32.
 */
export function softmaxI8RunData(
  shape: SoftmaxI8Shape,
  constants: SoftmaxI8Constants,
  launch: SoftmaxI8Launch,
): RunData {
  const s = checkShape(shape);
  softmaxI8Bounds(constants, s.seq);
  checkLaunch(launch, s.seq);
  const rows = s.batch * s.heads * s.queries;
  const gridX = Math.min(rows, GRID_X);
  const decoder = s.queries !== s.seq || s.causal ? ` q${s.queries}${s.causal ? ` causal past ${s.past}` : ''}` : '';
  return {
    label: `softmax-i8[wg ${launch.workgroupSize}x${launch.keysPerThread}] ${s.batch}x${s.heads}x${s.seq}${decoder}`,
    workgroups: [gridX, Math.ceil(rows / gridX), 1],
    params: softmaxI8Params(s, constants),
  };
}

/**
 * The program for one softmax over [batch, heads, seq, seq] scores. Refuses (RangeError) shapes,
 * launches, and constants whose integer arithmetic is not proven to stay in u32.
 */
export function softmaxI8Program(
  shape: SoftmaxI8Shape,
  constants: SoftmaxI8Constants,
  launch?: SoftmaxI8Launch,
): ProgramInfo {
  const l = launch ?? defaultSoftmaxI8Launch(shape.seq);
  const run = softmaxI8RunData(shape, constants, l);
  return { ...softmaxI8Kernel(l), ...run, name: run.label! };
}

export interface SoftmaxI8Buffers {
  /** [batch, heads, queries, scoreRow] i32. */
  scores: GPUBuffer;
  /** [batch, maskRow] u32, nonzero = key present. */
  mask: GPUBuffer;
  /** [batch, heads, queries, outRow] u32 of packed uint8; the first ceil(seq / 4) of each row written whole. */
  probs: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function softmaxI8Bindings(shape: SoftmaxI8Shape, buffers: SoftmaxI8Buffers): GPUBuffer[] {
  const s = resolveSoftmaxI8Shape(shape);
  const rows = s.batch * s.heads * s.queries;
  checkBufferBytes('integer softmax', [
    ['scores', buffers.scores, rows * s.scoreRow * 4],
    ['mask', buffers.mask, s.batch * s.maskRow * 4],
    ['probs', buffers.probs, softmaxI8OutputWords(s) * 4],
  ]);
  return [buffers.scores, buffers.mask, buffers.probs];
}

export async function bindSoftmaxI8(
  gpu: Gpu,
  shape: SoftmaxI8Shape,
  constants: SoftmaxI8Constants,
  buffers: SoftmaxI8Buffers,
  launch?: SoftmaxI8Launch,
): Promise<BoundProgram> {
  const info = softmaxI8Program(shape, constants, launch);
  return bindProgram(gpu, info, softmaxI8Bindings(shape, buffers));
}
