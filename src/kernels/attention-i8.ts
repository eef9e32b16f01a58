/**
 * Host side of the fused integer attention (shaders/attention-i8.ts): shape checks, the proofs
 * that every intermediate stays in range (the softmax's u32 bounds for the row length, the int32
 * Q.K and P.V accumulators, u32 indices), the launch (keys bucket and query block within WebGPU's
 * default 16 KiB of workgroup memory), the uniform and the bindings.
 */

import {
  ATTENTION_I8_PARAM_FIELDS,
  type AttentionI8ParamField,
  type AttentionI8ShaderOptions,
  type AttentionI8Strategy,
  attentionI8Shader,
  attentionI8WorkgroupBytes,
} from '../../shaders/attention-i8.js';
import { optionsKey } from '../../shaders/codegen.js';
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
import { checkDyadic, type Dyadic } from '../reference/dyadic.js';
import { checkSoftmaxI8Rows, type SoftmaxI8Constants, softmaxI8Bounds } from '../reference/softmax-i8.js';
import { checkAccumulatorBound } from './gemm-i8.js';

export type AttentionI8Launch = AttentionI8ShaderOptions;
export type { AttentionI8Strategy };

/** Longest key row of the fused kernel: the probabilities of a query block must fit workgroup memory. */
export const ATTENTION_I8_MAX_KEYS = 512;
/** WebGPU's default maxComputeWorkgroupStorageSize: every adapter grants it. */
export const ATTENTION_I8_WORKGROUP_BYTES = 16384;
const GRID = 65535;
const U32 = 2 ** 32 - 1;

/**
 * One fused attention run. Offsets and row strides are in u32 words of packed int8. Q rows are
 * [batch, queries], K and V rows [batch, keys], output rows [batch, queries] with head h at words
 * h headDim / 4 ... With kvCache, K and V are a decoder's caches instead (K [batch, heads,
 * capacity, headDim / 4] words, V^T [batch, heads, headDim, ceil(capacity / 4)] words, after
 * kOffset and vOffset words; kRow and vRow are not used).
 */
export interface AttentionI8Shape {
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  keys: number;
  /** Query i sees keys j <= past + i (and the mask). */
  causal?: boolean;
  past?: number;
  qRow: number;
  /** Words between K rows and V rows (token layout; not used with kvCache). */
  kRow?: number;
  vRow?: number;
  outRow: number;
  qOffset?: number;
  kOffset?: number;
  vOffset?: number;
  /** Values between mask rows; default keys. */
  maskRow?: number;
  /** K and V from the KV cache layout (the launch must be a kvCache variant). */
  kvCache?: { capacity: number };
}

type Resolved = Required<Omit<AttentionI8Shape, 'kvCache'>> & Pick<AttentionI8Shape, 'kvCache'>;

function resolve(s: AttentionI8Shape): Resolved {
  const hw = s.headDim / 4;
  const cap = s.kvCache?.capacity;
  return {
    ...s,
    // The cache variant's strides as the shader reads them: a K row is one head's words, a V^T row one dim's keys.
    kRow: cap !== undefined ? hw : (s.kRow as number),
    vRow: cap !== undefined ? Math.ceil(cap / 4) : (s.vRow as number),
    causal: s.causal ?? false,
    past: s.past ?? 0,
    qOffset: s.qOffset ?? 0,
    kOffset: s.kOffset ?? 0,
    vOffset: s.vOffset ?? 0,
    maskRow: s.maskRow ?? s.keys,
  };
}

/**
 * The launch for rows of `keys` keys: keys rounded up to a power of two (>= 4), so that a handful of
 * pipelines serve every length. GPUs: 32 threads per query row. CPU emulation (SwiftShader) pays per
 * barrier and idle lane: 4 threads per row. Query blocks as large as workgroup memory allows (at
 * most 8 rows on GPUs, 16 on CPU emulation, whose workgroups stay small).
 */
export function attentionI8Variant(
  shape: Pick<AttentionI8Shape, 'keys' | 'kvCache'>,
  strategy: AttentionI8Strategy,
  software = false,
): AttentionI8Launch {
  if (!Number.isInteger(shape.keys) || shape.keys < 1 || shape.keys > ATTENTION_I8_MAX_KEYS)
    throw new RangeError(`fused attention: keys = ${shape.keys} must be an integer in [1, ${ATTENTION_I8_MAX_KEYS}]`);
  const keys = Math.max(4, 2 ** Math.ceil(Math.log2(shape.keys)));
  const rowThreads = software ? 4 : 32;
  let queryBlock = software ? 16 : 8;
  while (queryBlock > 1 && attentionI8WorkgroupBytes({ keys, queryBlock, rowThreads }) > ATTENTION_I8_WORKGROUP_BYTES)
    queryBlock /= 2;
  return { strategy, keys, queryBlock, rowThreads, ...(shape.kvCache ? { kvCache: true } : {}) };
}

function checkLaunch(l: AttentionI8Launch): void {
  if (l.strategy !== 'dot4' && l.strategy !== 'unpack')
    throw new RangeError(`fused attention: strategy ${JSON.stringify(l.strategy)} is not 'dot4' or 'unpack'`);
  if (!Number.isInteger(l.keys) || l.keys < 4 || l.keys % 4 !== 0 || l.keys > ATTENTION_I8_MAX_KEYS)
    throw new RangeError(`fused attention: launch keys = ${l.keys} must be a multiple of 4 in [4, 512]`);
  const pow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  if (!pow2(l.rowThreads) || !Number.isInteger(l.queryBlock) || l.queryBlock < 1 || l.queryBlock * l.rowThreads > 256)
    throw new RangeError(
      `fused attention: ${l.queryBlock} queries x ${l.rowThreads} threads (a power of two) must make at most 256 threads`,
    );
  if (l.kvCache !== undefined && l.kvCache !== true)
    throw new RangeError(`fused attention: kvCache = ${String(l.kvCache)} must be true or absent`);
  const bytes = attentionI8WorkgroupBytes(l);
  if (bytes > ATTENTION_I8_WORKGROUP_BYTES)
    throw new RangeError(
      `fused attention: ${l.queryBlock} queries x ${l.keys} keys need ${bytes} bytes of workgroup memory, over ${ATTENTION_I8_WORKGROUP_BYTES}`,
    );
}

/** What to compile for one launch: any shape of up to launch.keys keys. */
export function attentionI8Kernel(launch: AttentionI8Launch): KernelProgram {
  checkLaunch(launch);
  const l: AttentionI8Launch = {
    strategy: launch.strategy,
    keys: launch.keys,
    queryBlock: launch.queryBlock,
    rowThreads: launch.rowThreads,
  };
  if (launch.kvCache) l.kvCache = true;
  return cachedKernel(optionsKey('attention-i8', l), () => ({
    name: `attention-i8[${l.strategy},${l.keys} keys,${l.queryBlock}x${l.rowThreads}${l.kvCache ? ',kv cache' : ''}]`,
    code: attentionI8Shader(l),
    workgroupStorageBytes: attentionI8WorkgroupBytes(l),
  }));
}

function checkShape(shape: AttentionI8Shape): Resolved {
  if (shape.kvCache) {
    const cap = shape.kvCache.capacity;
    if (!Number.isInteger(cap) || cap < 1)
      throw new RangeError(`fused attention: KV cache capacity = ${cap} must be a positive integer`);
    if (shape.keys > cap)
      throw new RangeError(`fused attention: ${shape.keys} keys exceed the KV cache's capacity ${cap}`);
  }
  const s = resolve(shape);
  const fail = (what: string): never => {
    throw new RangeError(`fused attention: ${what}`);
  };
  for (const k of ['batch', 'heads', 'headDim', 'queries', 'keys', 'qRow', 'kRow', 'vRow', 'outRow'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 1) fail(`${k} = ${s[k]} must be a positive integer`);
  }
  for (const k of ['qOffset', 'kOffset', 'vOffset'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 0) fail(`${k} = ${s[k]} must be a non-negative integer`);
  }
  if (s.headDim % 4 !== 0) fail(`headDim = ${s.headDim} must be a multiple of 4 (heads start on whole words)`);
  if (s.keys > ATTENTION_I8_MAX_KEYS) fail(`${s.keys} keys exceed the fused kernel's ${ATTENTION_I8_MAX_KEYS}`);
  checkSoftmaxI8Rows({ seq: s.keys, queries: s.queries, past: s.past, causal: s.causal, maskRow: s.maskRow });
  const hw = s.headDim / 4;
  const span = s.heads * hw;
  if (s.qOffset + span > s.qRow) fail(`Q's heads end at word ${s.qOffset + span}, past its rows of ${s.qRow}`);
  if (!s.kvCache && s.kOffset + span > s.kRow)
    fail(`K's heads end at word ${s.kOffset + span}, past its rows of ${s.kRow}`);
  if (!s.kvCache && s.vOffset + span > s.vRow)
    fail(`V's heads end at word ${s.vOffset + span}, past its rows of ${s.vRow}`);
  if (span > s.outRow) fail(`the output's heads need ${span} words, its rows have ${s.outRow}`);
  if (s.queries > GRID || s.heads > GRID || s.batch > GRID)
    fail(`a grid of ${s.queries} queries x ${s.heads} heads x ${s.batch} batch exceeds ${GRID} per dimension`);
  // Indices of the shader are u32.
  const rowsQ = s.batch * s.queries;
  const rowsK = s.batch * s.keys;
  const kvWords = cacheWords(s);
  const kvEnd = kvWords ? Math.max(s.kOffset + kvWords.k, s.vOffset + kvWords.v) : rowsK * Math.max(s.kRow, s.vRow);
  if (rowsQ * Math.max(s.qRow, s.outRow) > U32 || kvEnd > U32 || s.batch * s.maskRow > U32)
    fail('tensors too large for u32 indices');
  // |Q.K| <= headDim 2^14: in int32 and never -2^31, the shader's mark of an absent key.
  checkAccumulatorBound(s.headDim, 0, false, 'fused attention Q.K^T');
  // P.V: uint8 probabilities times int8 V over the keys.
  checkAccumulatorBound(s.keys, 0, true, 'fused attention P.V');
  return s;
}

/** Words of the K and V^T caches of a kvCache shape (from their offsets on), else undefined. */
function cacheWords(s: Resolved): { k: number; v: number } | undefined {
  const cap = s.kvCache?.capacity;
  if (cap === undefined) return undefined;
  return { k: s.batch * s.heads * cap * (s.headDim / 4), v: s.batch * s.heads * s.headDim * Math.ceil(cap / 4) };
}

export function attentionI8Params(shape: AttentionI8Shape, softmax: SoftmaxI8Constants, context: Dyadic): Uint32Array {
  const s = resolve(shape);
  const values: Record<AttentionI8ParamField, number> = {
    heads: s.heads,
    headWords: s.headDim / 4,
    queries: s.queries,
    keys: s.keys,
    qRow: s.qRow,
    kRow: s.kRow,
    vRow: s.vRow,
    outRow: s.outRow,
    qOffset: s.qOffset,
    kOffset: s.kOffset,
    vOffset: s.vOffset,
    maskRow: s.maskRow,
    causal: s.causal ? 1 : 0,
    past: s.past,
    contextM: context.m,
    contextE: context.e,
    rescaleM: softmax.rescale.m,
    rescaleE: softmax.rescale.e,
    tMax: softmax.tMax,
    ln2: softmax.ln2,
    polyB: softmax.b,
    polyC: softmax.c,
    expShift: softmax.shift,
    capacity: s.kvCache?.capacity ?? 0,
    capWords: s.kvCache ? s.vRow : 0,
    pad0: 0,
    pad1: 0,
  };
  return Uint32Array.from(ATTENTION_I8_PARAM_FIELDS, (f) => values[f]);
}

/**
 * One run on `launch`. Refuses (RangeError) bad shapes, rows longer than the launch holds, softmax
 * constants not proven for the row length, and context multipliers outside the dyadic domain.
 */
export function attentionI8RunData(
  shape: AttentionI8Shape,
  softmax: SoftmaxI8Constants,
  context: Dyadic,
  launch: AttentionI8Launch,
): RunData {
  const s = checkShape(shape);
  checkLaunch(launch);
  if (s.keys > launch.keys)
    throw new RangeError(`fused attention: a launch for ${launch.keys} keys cannot hold rows of ${s.keys}`);
  if (!!s.kvCache !== !!launch.kvCache)
    throw new RangeError(
      `fused attention: a ${s.kvCache ? 'KV cache' : 'token-row'} shape on a ${launch.kvCache ? 'KV cache' : 'token-row'} launch`,
    );
  softmaxI8Bounds(softmax, s.keys);
  checkDyadic(context, 'fused attention: context requantization');
  const blocks = Math.ceil(s.queries / launch.queryBlock);
  const kind = `${s.causal ? ` causal past ${s.past}` : ''}${s.kvCache ? ` cache ${s.kvCache.capacity}` : ''}`;
  return {
    label: `attention-i8[${launch.keys}/${launch.queryBlock}x${launch.rowThreads}] ${s.batch}x${s.heads}x${s.queries}x${s.keys}x${s.headDim}${kind}`,
    workgroups: [blocks, s.heads, s.batch],
    params: attentionI8Params(s, softmax, context),
  };
}

export function attentionI8Program(
  shape: AttentionI8Shape,
  softmax: SoftmaxI8Constants,
  context: Dyadic,
  launch: AttentionI8Launch,
): ProgramInfo {
  const run = attentionI8RunData(shape, softmax, context, launch);
  return { ...attentionI8Kernel(launch), ...run, name: run.label! };
}

export interface AttentionI8Buffers {
  /** Packed int8 rows; q, k and v may be one buffer (a fused QKV tensor). */
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  /** [batch, maskRow] u32, nonzero = key present. */
  mask: GPUBuffer;
  out: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function attentionI8Bindings(shape: AttentionI8Shape, buffers: AttentionI8Buffers): GPUBuffer[] {
  const s = resolve(shape);
  const kv = cacheWords(s);
  checkBufferBytes('fused attention', [
    ['q', buffers.q, s.batch * s.queries * s.qRow * 4],
    ['k', buffers.k, (kv ? s.kOffset + kv.k : s.batch * s.keys * s.kRow) * 4],
    ['v', buffers.v, (kv ? s.vOffset + kv.v : s.batch * s.keys * s.vRow) * 4],
    ['mask', buffers.mask, s.batch * s.maskRow * 4],
    ['out', buffers.out, s.batch * s.queries * s.outRow * 4],
  ]);
  if ([buffers.q, buffers.k, buffers.v, buffers.mask].includes(buffers.out))
    throw new RangeError('fused attention: the output buffer must not be one of the inputs');
  return [buffers.q, buffers.k, buffers.v, buffers.mask, buffers.out];
}

export async function bindAttentionI8(
  gpu: Gpu,
  shape: AttentionI8Shape,
  softmax: SoftmaxI8Constants,
  context: Dyadic,
  buffers: AttentionI8Buffers,
  launch: AttentionI8Launch,
): Promise<BoundProgram> {
  return bindProgram(gpu, attentionI8Program(shape, softmax, context, launch), attentionI8Bindings(shape, buffers));
}
