/**
 * The integer program on the CPU: each op is the composition of its kernels' references, in the
 * layouts the GPU uses. This is the specification of the whole integer model: the GPU interpreter
 * (src/runtime/int-program.ts) must give the same output bit for bit.
 */

import { decoderPromptBatch, marianBatches } from '../core/token-batch.js';
import { checkBeamParents } from '../core/translation.js';
import type { MarianConfig, TokenBatch } from '../core/types.js';
import {
  type IntAttentionOp,
  type IntGemmOp,
  type IntOp,
  type IntProgram,
  intTensor,
  intWidth,
} from '../plan/int-program.js';
import type { Dyadic } from '../reference/dyadic.js';
import { embeddingI8Ref } from '../reference/embedding-i8.js';
import { igeluRef } from '../reference/gelu-i8.js';
import { type GemmI8RefInput, gemmI8Ref } from '../reference/gemm-i8.js';
import { kvAppendRef } from '../reference/kv-append-i8.js';
import { layerNormI8Ref, layerNormWideRef } from '../reference/layernorm-i8.js';
import { lookupI8Ref } from '../reference/lookup-i8.js';
import { poolI8Ref } from '../reference/pool-i8.js';
import { requantizeRef } from '../reference/requantize.js';
import { residualAddRef } from '../reference/residual-add.js';
import { isiluRef } from '../reference/silu-i8.js';
import { type SoftmaxI8Constants, softmaxI8Ref } from '../reference/softmax-i8.js';
import { logitCandidates, topKRef } from '../reference/topk-i32.js';
import { transposeHeadsI8Ref } from '../reference/transpose-heads-i8.js';

export type IntValues = Int8Array | Uint8Array | Int32Array;

/**
 * The kernels the interpreter spends its time in, swappable: the references (the default, the
 * specification) or src/cpu/fast-kernels.ts, which compute the same integers faster.
 */
export interface IntKernels {
  /** `constantB`: b is a weight that never changes (a fast set may keep a prepared copy of it). */
  gemm: (input: GemmI8RefInput, constantB?: boolean) => Int32Array;
  requantize: typeof requantizeRef;
  igelu: typeof igeluRef;
  layerNorm: typeof layerNormI8Ref;
  /** Optional: a LayerNorm writing the wide stream (layerNormWideRef where absent). */
  layerNormWide?: typeof layerNormWideRef;
  /** Optional: where absent, the references compose these ops. */
  embedding?: typeof embeddingI8Ref;
  residual?: typeof residualAddRef;
  softmax?: typeof softmaxI8Ref;
  /** Attention without a KV cache, the composition in CpuIntInterpreter.attention. */
  attention?: (input: AttentionInput) => Int8Array;
}

/**
 * One attention op without a cache: head h of block b reads Q rows b Sq.. (channels qc + h D ..),
 * K and V rows b Sk.. of their tensors; keys are present where mask[b Sk + j] is nonzero (and
 * j <= i for causal query i); the output is the context [B Sq, heads D], requantized by `context`.
 */
export interface AttentionInput {
  q: IntValues;
  k: IntValues;
  v: IntValues;
  widths: [number, number, number];
  channels: [number, number, number];
  B: number;
  heads: number;
  D: number;
  Sq: number;
  Sk: number;
  mask: ArrayLike<number>;
  causal: boolean;
  softmax: SoftmaxI8Constants;
  context: Dyadic;
}

export const REFERENCE_KERNELS: IntKernels = {
  gemm: gemmI8Ref,
  requantize: requantizeRef,
  igelu: igeluRef,
  layerNorm: layerNormI8Ref,
};

export interface IntProgramResult {
  /** The output tensor's integers: logits [batch, labels] or pooled sums and counts [batch, hidden + 1]. */
  output: Int32Array;
  /** Every tensor's integers, unpacked row-major [rows, width] (with `keep`). */
  values?: Map<string, IntValues>;
}

/** Rows b * seq of a token tensor: the first token of each sequence. */
function firstRows(x: IntValues, batch: number, seq: number, width: number): Int8Array {
  const out = new Int8Array(batch * width);
  for (let b = 0; b < batch; b++) out.set(x.subarray(b * seq * width, b * seq * width + width), b * width);
  return out;
}

/** [seq, D] slice of head h of sequence b out of a [batch * seq, width] tensor, from channel `c0`. */
function headSlice(x: IntValues, b: number, h: number, seq: number, width: number, c0: number, D: number): Int8Array {
  const out = new Int8Array(seq * D);
  const from = c0 + h * D;
  for (let s = 0; s < seq; s++)
    out.set(x.subarray((b * seq + s) * width + from, (b * seq + s) * width + from + D), s * D);
  return out;
}

/**
 * The KV cache of a decoder program (the specification of the GPU's): per cache slot (layer), K as
 * [batch, heads, capacity, headDim] and V transposed, [batch, heads, headDim, capacity], int8 at
 * the layer's planned K / V scales (src/reference/kv-append-i8.ts); `mask` [batch, capacity] marks
 * the written positions. Every sequence of the batch has the same `past`.
 */
export interface IntKvCache {
  batch: number;
  capacity: number;
  past: number;
  heads: number;
  headDim: number;
  layers: { k: Int8Array; v: Int8Array }[];
  mask: Int32Array;
}

function cachedAttentions(program: IntProgram): IntAttentionOp[] {
  return program.ops.filter((o): o is IntAttentionOp => o.kind === 'attention' && o.cache !== undefined);
}

/** An empty cache for `batch` sequences of up to `capacity` tokens each (prompt and generated). */
export function createKvCache(program: IntProgram, batch: number, capacity: number): IntKvCache {
  const attentions = cachedAttentions(program);
  if (attentions.length === 0) throw new Error('KV cache: the program has no cached attention (not a decoder)');
  if (!Number.isInteger(batch) || batch < 1)
    throw new RangeError(`KV cache: batch = ${batch} must be a positive integer`);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > program.maxPositions) {
    throw new RangeError(
      `KV cache: capacity = ${capacity} tokens must be an integer in [1, ${program.maxPositions}] (the model's positions)`,
    );
  }
  const { heads, headDim } = attentions[0];
  const size = batch * heads * capacity * headDim;
  const layers = attentions.map(() => ({ k: new Int8Array(size), v: new Int8Array(size) }));
  return { batch, capacity, past: 0, heads, headDim, layers, mask: new Int32Array(batch * capacity) };
}

class CpuIntInterpreter {
  readonly values = new Map<string, IntValues>();

  constructor(
    readonly program: IntProgram,
    readonly batch: TokenBatch,
    readonly pooling?: 'mean' | 'cls',
    /** Incremental decoding: this run's tokens follow `cache.past` cached ones. */
    readonly cache?: IntKvCache,
    /** An encoder-decoder's source sentences: what its 'source' tensors run over. */
    readonly source?: TokenBatch,
    readonly kernels: IntKernels = REFERENCE_KERNELS,
  ) {}

  /** The batch a tensor's rows belong to: the source for an encoder-decoder's encoder, else the target. */
  batchOf(id: string): TokenBatch {
    if (!intTensor(this.program, id).shape.includes('source')) return this.batch;
    if (!this.source)
      throw new Error(`integer program: tensor "${id}" runs over the source batch, which was not given`);
    return this.source;
  }

  get(id: string): IntValues {
    const v = this.values.get(id);
    if (!v) throw new Error(`integer program: tensor "${id}" is read before it is written`);
    return v;
  }

  width(id: string): number {
    return intWidth(intTensor(this.program, id));
  }

  run(op: IntOp): void {
    const { batch: B, seqLen: S } = this.batch;
    switch (op.kind) {
      case 'embed': {
        const batch = this.batchOf(op.out);
        const ids = {
          token: batch.inputIds,
          position: batch.positionIds,
          tokenType: op.tables.tokenType ? batch.tokenTypeIds : undefined,
        };
        return void this.values.set(op.out, (this.kernels.embedding ?? embeddingI8Ref)(op.tables, ids, op.constants));
      }
      case 'layernorm': {
        const x = this.get(op.input) as Int32Array;
        const rows = x.length / this.width(op.input);
        const out = intTensor(this.program, op.out);
        if (out.dtype === 'wide')
          return void this.values.set(
            op.out,
            (this.kernels.layerNormWide ?? layerNormWideRef)(x, rows, op.constants, out.bound),
          );
        return void this.values.set(op.out, this.kernels.layerNorm(x, rows, op.constants));
      }
      case 'residual':
        return void this.values.set(
          op.out,
          (this.kernels.residual ?? residualAddRef)(this.get(op.a), this.get(op.b), op.constants, op.multipliers),
        );
      case 'lookup':
        return void this.values.set(op.out, lookupI8Ref(this.get(op.input) as Int8Array, op.table));
      case 'requantize': {
        const x = this.get(op.input) as Int32Array;
        const cols = this.width(op.out);
        return void this.values.set(op.out, this.kernels.requantize(x, x.length / cols, cols, [op.requant]));
      }
      case 'gemm':
        return void this.values.set(op.out, this.gemm(op));
      case 'attention':
        return void this.values.set(op.out, this.attention(op));
      case 'pool': {
        const hidden = this.width(op.input);
        return void this.values.set(
          op.out,
          poolI8Ref(
            this.get(op.input) as Int8Array,
            this.batch.attentionMask,
            { batch: B, seq: S, hidden },
            this.pooling ?? op.mode,
          ),
        );
      }
    }
  }

  private gemm(op: IntGemmOp): IntValues {
    const { batch: B, seqLen: S } = this.batch;
    const x = this.get(op.input);
    const a = op.rows === 'first' ? firstRows(x, B, S, op.K) : (x as Int8Array);
    const rows = op.rows === 'first' ? B : a.length / op.K;
    const acc = this.kernels.gemm({ a, b: op.weight, bias: op.bias, M: rows, N: op.N, K: op.K }, true);
    if (op.epilogue === 'i32') return acc;
    if (op.epilogue === 'gelu-i8') return this.kernels.igelu(acc, rows, op.N, op.gelu!, op.requant);
    if (op.epilogue === 'silu-i8') return isiluRef(acc, rows, op.N, op.silu!, op.requant);
    return this.kernels.requantize(acc, rows, op.N, op.requant!);
  }

  private attention(op: IntAttentionOp): Int8Array {
    if (op.cache && this.cache) return this.cachedAttention(op, this.cache);
    // Queries over their batch's positions, keys over theirs (cross-attention: the source's, under its mask).
    const queries = this.batchOf(op.q.tensor);
    const keys = this.batchOf(op.k.tensor);
    // Beams: the target sequences of one source (beams of them, consecutive) attend to its keys as
    // one block of beams x seqLen query rows, so K and V exist once per source.
    const beams = queries.batch / keys.batch;
    if (!Number.isInteger(beams) || (beams > 1 && op.causal))
      throw new RangeError(`integer program: ${keys.batch} source sentences for ${queries.batch} targets`);
    const B = keys.batch;
    const [Sq, Sk] = [queries.seqLen * beams, keys.seqLen];
    if (op.causal && Sq !== Sk)
      throw new RangeError(`integer program: causal attention ${op.out} over ${Sk} keys for ${Sq} queries`);
    const { heads, headDim: D } = op;
    const H = heads * D;
    const q = this.get(op.q.tensor);
    const k = this.get(op.k.tensor);
    const v = this.get(op.v.tensor);
    const [qw, kw, vw] = [op.q, op.k, op.v].map((s) => this.width(s.tensor));
    if (this.kernels.attention) {
      const channels: [number, number, number] = [op.q.channel, op.k.channel, op.v.channel];
      return this.kernels.attention({
        ...{ q, k, v, widths: [qw, kw, vw], channels, B, heads, D, Sq, Sk },
        ...{ mask: keys.attentionMask, causal: op.causal, softmax: op.softmax, context: op.context },
      });
    }
    const scores = new Int32Array(B * heads * Sq * Sk);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const acc = this.kernels.gemm({
          a: headSlice(q, b, h, Sq, qw, op.q.channel, D),
          b: headSlice(k, b, h, Sk, kw, op.k.channel, D),
          M: Sq,
          N: Sk,
          K: D,
        });
        scores.set(acc, (b * heads + h) * Sq * Sk);
      }
    }
    const probs = (this.kernels.softmax ?? softmaxI8Ref)(
      { scores, mask: keys.attentionMask, batch: B, heads, seq: Sk, queries: Sq, causal: op.causal },
      op.softmax,
    );
    const vt = transposeHeadsI8Ref(v as Int8Array, B, Sk, vw, heads, D, op.v.channel);
    const context = new Int8Array(B * Sq * H);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const p = probs.subarray((b * heads + h) * Sq * Sk, (b * heads + h + 1) * Sq * Sk);
        const vth = vt.subarray((b * heads + h) * D * Sk, (b * heads + h + 1) * D * Sk);
        const ctx = this.kernels.requantize(this.kernels.gemm({ a: p, b: vth, M: Sq, N: D, K: Sk }), Sq, D, [
          op.context,
        ]);
        for (let s = 0; s < Sq; s++) context.set(ctx.subarray(s * D, (s + 1) * D), (b * Sq + s) * H + h * D);
      }
    }
    return context;
  }

  /**
   * Appends this run's K and V to the layer's cache slot, then attends the S new queries over the
   * past + S cached keys (query i sees keys j <= past + i that the mask marks written).
   */
  private cachedAttention(op: IntAttentionOp, cache: IntKvCache): Int8Array {
    const { batch: B, seqLen: S } = this.batch;
    const { heads, headDim: D } = op;
    const H = heads * D;
    const { past, capacity: C } = cache;
    const slot = cache.layers[op.cache!.layer];
    const qkv = this.get(op.q.tensor) as Int8Array;
    const qw = this.width(op.q.tensor);
    const appended = kvAppendRef(qkv, slot.k, slot.v, {
      batch: B,
      heads,
      headDim: D,
      queries: S,
      past,
      capacity: C,
      qkvCols: qw,
      kCol: op.k.channel,
      vCol: op.v.channel,
    });
    slot.k = appended.k;
    slot.v = appended.v;
    const keys = past + S;
    const scores = new Int32Array(B * heads * S * keys);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const bh = b * heads + h;
        const k = slot.k.subarray(bh * C * D, (bh * C + keys) * D);
        scores.set(
          this.kernels.gemm({ a: headSlice(qkv, b, h, S, qw, op.q.channel, D), b: k, M: S, N: keys, K: D }),
          bh * S * keys,
        );
      }
    }
    const probs = (this.kernels.softmax ?? softmaxI8Ref)(
      { scores, mask: cache.mask, batch: B, heads, seq: keys, queries: S, past, causal: true, maskRow: C },
      op.softmax,
    );
    const context = new Int8Array(B * S * H);
    const vt = new Int8Array(D * keys);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const bh = b * heads + h;
        for (let d = 0; d < D; d++) vt.set(slot.v.subarray((bh * D + d) * C, (bh * D + d) * C + keys), d * keys);
        const p = probs.subarray(bh * S * keys, (bh + 1) * S * keys);
        const ctx = this.kernels.requantize(this.kernels.gemm({ a: p, b: vt, M: S, N: D, K: keys }), S, D, [
          op.context,
        ]);
        for (let s = 0; s < S; s++) context.set(ctx.subarray(s * D, (s + 1) * D), (b * S + s) * H + h * D);
      }
    }
    return context;
  }
}

export interface IntProgramCpuOptions {
  /** Return every tensor's integers. */
  keep?: boolean;
  /** Embedding models: override the program's pooling ('mean' over real tokens, or the first token). */
  pooling?: 'mean' | 'cls';
  /** Encoder-decoders: the source sentences (same batch size; the target batch is the decoder's inputs). */
  source?: TokenBatch;
  /** The kernels to compose (REFERENCE_KERNELS by default); the output is the same integers either way. */
  kernels?: IntKernels;
  /**
   * Called with each op's output as it is written; what it returns (same type and length) replaces
   * it for the ops after. For measurements that put other values in one tensor (bench/error-attribution.ts).
   */
  replace?: (id: string, values: IntValues) => IntValues | undefined;
}

/**
 * Incremental decoding on the CPU: `prefill` runs whole prompts into an empty cache, each `step`
 * one new token per sequence against everything cached. Prompts of different lengths come
 * left-padded (decoderPromptBatch in src/core/token-batch.ts): padding sits under mask 0 in the cache and is never attended
 * to, and each sequence numbers its own positions from its first real token. Logits are the
 * program's int32 output rows for the run's tokens, bit for bit those of the same positions in a
 * whole-sequence runIntProgramCpu of the same (padded) tokens.
 */
export class IntDecoderCpu {
  readonly cache: IntKvCache;
  /** Each sequence's next position id. */
  private readonly nextPosition: Int32Array;

  constructor(
    readonly program: IntProgram,
    batch: number,
    /** Tokens per sequence the cache holds (prompt and generated). */
    capacity: number,
    /** The kernels to compose (REFERENCE_KERNELS by default); the logits are the same integers either way. */
    readonly kernels: IntKernels = REFERENCE_KERNELS,
  ) {
    if (program.output.kind !== 'lm-logits')
      throw new Error(`IntDecoderCpu: the program's output is ${program.output.kind}, not LM logits`);
    this.cache = createKvCache(program, batch, capacity);
    this.nextPosition = new Int32Array(batch);
  }

  get past(): number {
    return this.cache.past;
  }

  /** Empties the cache for the next prefill. */
  reset(): void {
    this.cache.past = 0;
    this.cache.mask.fill(0);
    this.nextPosition.fill(0);
  }

  /** [batch * seqLen, vocab] logits of the prompt's positions. */
  prefill(batch: TokenBatch): Int32Array {
    if (this.cache.past !== 0)
      throw new Error(
        `IntDecoderCpu.prefill: the cache already holds ${this.cache.past} tokens per sequence; prefill starts a generation`,
      );
    checkLeftPadded(batch, 'IntDecoderCpu.prefill');
    const { batch: B, seqLen: S } = batch;
    const logits = this.run(batch.inputIds, batch.positionIds, batch.attentionMask, B, S);
    for (let b = 0; b < B; b++) this.nextPosition[b] = batch.positionIds[b * S + S - 1] + 1;
    return logits;
  }

  /** One token per sequence: [batch, vocab] logits of the new position. */
  step(tokens: ArrayLike<number>): Int32Array {
    if (this.cache.past === 0) throw new Error('IntDecoderCpu.step: prefill a prompt first');
    const B = tokens.length;
    const positions = this.nextPosition.slice(0, B);
    const logits = this.run(Int32Array.from(tokens), positions, new Int32Array(B).fill(1), B, 1);
    for (let b = 0; b < B; b++) this.nextPosition[b]++;
    return logits;
  }

  private run(ids: Int32Array, positionIds: Int32Array, mask: Int32Array, B: number, S: number): Int32Array {
    const cache = this.cache;
    if (B !== cache.batch) throw new RangeError(`IntDecoderCpu: ${B} sequences for a cache of ${cache.batch}`);
    if (cache.past + S > cache.capacity)
      throw new RangeError(
        `IntDecoderCpu: ${cache.past} cached + ${S} new tokens exceed the cache capacity of ${cache.capacity} tokens per sequence`,
      );
    const batch: TokenBatch = {
      batch: B,
      seqLen: S,
      inputIds: ids,
      attentionMask: mask,
      tokenTypeIds: new Int32Array(B * S),
      positionIds,
    };
    for (let b = 0; b < B; b++) cache.mask.set(mask.subarray(b * S, (b + 1) * S), b * cache.capacity + cache.past);
    const interpreter = new CpuIntInterpreter(this.program, batch, undefined, cache, undefined, this.kernels);
    for (const op of this.program.ops) interpreter.run(op);
    cache.past += S;
    return interpreter.get(this.program.output.tensor) as Int32Array;
  }
}

/**
 * Incremental translation on the CPU: `encode` runs the encoder and the cross-attention K|V GEMMs
 * (every op writing a tensor over source rows) once per batch of sources; `start` feeds each
 * sequence's decoder_start_token_id at position 0, each `step` one new token per sequence, the
 * decoder's self-attention reading its KV cache and cross-attention the kept encoder tensors.
 * Logits are bit for bit those of the same positions in a whole-sequence runIntProgramCpu.
 */
export class IntTranslatorCpu {
  readonly cache: IntKvCache;
  private memory?: { source: TokenBatch; values: Map<string, IntValues> };
  private readonly sourceOps: Set<IntOp>;

  constructor(
    readonly program: IntProgram,
    batch: number,
    /** Target tokens per sequence the cache holds (the start token and the generated ones). */
    capacity: number,
    readonly kernels: IntKernels = REFERENCE_KERNELS,
  ) {
    if (program.kind !== 'encoder-decoder' || program.output.kind !== 'lm-logits')
      throw new Error(
        `IntTranslatorCpu: the program is a ${program.kind} with ${program.output.kind}, not an encoder-decoder`,
      );
    this.cache = createKvCache(program, batch, capacity);
    const overSource = (id: string) => intTensor(program, id).shape.includes('source');
    this.sourceOps = new Set(program.ops.filter((o) => overSource(o.out)));
  }

  get past(): number {
    return this.cache.past;
  }

  /** Sequences per source (beam search): the cache's batch over the sources encoded. */
  get beams(): number {
    return this.memory ? this.cache.batch / this.memory.source.batch : 1;
  }

  /**
   * Runs the encoder over `source` and empties the cache. The cache's sequences are the sources'
   * beams: batch / sources per source, consecutive, all reading their source's encoder output.
   */
  encode(source: TokenBatch): void {
    if (this.cache.batch % source.batch !== 0)
      throw new RangeError(
        `IntTranslatorCpu: ${source.batch} sources do not divide a cache of ${this.cache.batch} sequences into beams`,
      );
    const interpreter = new CpuIntInterpreter(this.program, source, undefined, undefined, source, this.kernels);
    for (const op of this.program.ops) if (this.sourceOps.has(op)) interpreter.run(op);
    this.memory = { source, values: interpreter.values };
    this.cache.past = 0;
    this.cache.mask.fill(0);
  }

  /** Beam search: sequence i continues sequence parents[i] (of the same source) from here on. */
  reorder(parents: readonly number[]): void {
    reorderKvCache(this.cache, parents, this.beams);
  }

  /** The decoder's first position: [batch, vocab] logits after `startId`. */
  start(startId: number): Int32Array {
    if (this.cache.past !== 0)
      throw new Error('IntTranslatorCpu.start: the cache is not empty; encode a new source first');
    return this.run(new Int32Array(this.cache.batch).fill(startId));
  }

  /** One token per sequence: [batch, vocab] logits of the new position. */
  step(tokens: ArrayLike<number>): Int32Array {
    if (this.cache.past === 0) throw new Error('IntTranslatorCpu.step: start the decoder first');
    if (tokens.length !== this.cache.batch)
      throw new RangeError(`IntTranslatorCpu: ${tokens.length} tokens for a cache of ${this.cache.batch}`);
    return this.run(Int32Array.from(tokens));
  }

  private run(ids: Int32Array): Int32Array {
    const memory = this.memory;
    if (!memory) throw new Error('IntTranslatorCpu: encode a source first');
    const cache = this.cache;
    const B = cache.batch;
    if (cache.past + 1 > cache.capacity)
      throw new RangeError(`IntTranslatorCpu: the cache holds ${cache.capacity} target tokens per sequence, all used`);
    const batch: TokenBatch = {
      batch: B,
      seqLen: 1,
      inputIds: ids,
      attentionMask: new Int32Array(B).fill(1),
      tokenTypeIds: new Int32Array(B),
      positionIds: new Int32Array(B).fill(cache.past),
    };
    for (let b = 0; b < B; b++) cache.mask[b * cache.capacity + cache.past] = 1;
    const interpreter = new CpuIntInterpreter(this.program, batch, undefined, cache, memory.source, this.kernels);
    for (const [id, v] of memory.values) interpreter.values.set(id, v);
    for (const op of this.program.ops) if (!this.sourceOps.has(op)) interpreter.run(op);
    cache.past += 1;
    return interpreter.get(this.program.output.tensor) as Int32Array;
  }
}

/**
 * Beam search's cache reordering (the specification of GpuKvCache.reorder): sequence i's cached K,
 * V and mask become those of sequence parents[i], which must belong to the same group of `beams`
 * consecutive sequences (one source's). Sequences that keep their own cache do not move.
 */
export function reorderKvCache(cache: IntKvCache, parents: readonly number[], beams = cache.batch): void {
  checkBeamParents(parents, cache.batch, beams);
  const moved = parents.map((p, i) => [i, p] as const).filter(([i, p]) => i !== p);
  if (moved.length === 0) return;
  const C = cache.capacity;
  const block = cache.heads * C * cache.headDim;
  for (const layer of cache.layers) {
    for (const key of ['k', 'v'] as const) {
      const from = layer[key].slice();
      for (const [i, p] of moved) layer[key].set(from.subarray(p * block, (p + 1) * block), i * block);
    }
  }
  const mask = cache.mask.slice();
  for (const [i, p] of moved) cache.mask.set(mask.subarray(p * C, (p + 1) * C), i * C);
}

/**
 * A prompt batch for incremental decoding: each row's mask is 0s (padding) then 1s, with a real
 * last token, so that every sequence's next token follows the same cache position.
 */
export function checkLeftPadded(batch: TokenBatch, what: string): void {
  const { batch: B, seqLen: S, attentionMask: mask } = batch;
  for (let b = 0; b < B; b++) {
    const row = mask.subarray(b * S, (b + 1) * S);
    const first = row.findIndex((m) => m !== 0);
    if (first < 0 || row.subarray(first).some((m) => m !== 1))
      throw new RangeError(
        `${what}: sequence ${b} is not left-padded (its mask must be 0s then 1s, ending with a real token)`,
      );
  }
}

/**
 * Greedy next tokens: for each listed row of [rows, vocab] LM logits, the argmax on the program's
 * common logit scale (ties to the lowest id): the specification of the GPU's top-k with k = 1.
 */
export function greedyTokens(program: IntProgram, logits: Int32Array, rows: number[]): number[] {
  const rescale = program.output.rescale;
  if (!rescale) throw new Error('greedyTokens: the program has no common logit scale (not an LM)');
  const vocab = rescale.requant.length;
  return rows.map(
    (r) =>
      topKRef({ logits: logits.subarray(r * vocab, (r + 1) * vocab), batch: 1, vocab, k: 1, requant: rescale.requant })
        .argmax[0],
  );
}

export function runIntProgramCpu(
  program: IntProgram,
  batch: TokenBatch,
  options: IntProgramCpuOptions = {},
): IntProgramResult {
  const usesSource = program.tensors.some((t) => t.shape.includes('source'));
  if (usesSource && !options.source)
    throw new RangeError('integer program: an encoder-decoder needs the source batch (options.source)');
  if (!usesSource && options.source)
    throw new RangeError(
      'integer program: a source batch was given to a program without an encoder over source positions',
    );
  if (options.source && options.source.batch !== batch.batch)
    throw new RangeError(
      `integer program: ${options.source.batch} source sentences for ${batch.batch} target sequences`,
    );
  const interpreter = new CpuIntInterpreter(
    program,
    batch,
    options.pooling,
    undefined,
    options.source,
    options.kernels,
  );
  for (const op of program.ops) {
    interpreter.run(op);
    const replaced = options.replace?.(op.out, interpreter.get(op.out));
    if (replaced) {
      const before = interpreter.get(op.out);
      if (replaced.constructor !== before.constructor || replaced.length !== before.length)
        throw new RangeError(
          `integer program: the values replacing "${op.out}" are ${replaced.length} ${replaced.constructor.name}, not ${before.length} ${before.constructor.name}`,
        );
      interpreter.values.set(op.out, replaced);
    }
  }
  const output = interpreter.get(program.output.tensor);
  if (!(output instanceof Int32Array)) throw new Error(`integer program: output ${program.output.tensor} is not int32`);
  return { output, values: options.keep ? interpreter.values : undefined };
}

/**
 * The CPU decoder as text generation sees it (the DecoderSession of src/generate/decoder-session.ts):
 * the specification the GPU's IntDecoderGpu must equal candidate for candidate.
 */
export class IntDecoderCpuSession {
  readonly decoder: IntDecoderCpu;

  constructor(
    readonly program: IntProgram,
    batch: number,
    capacity: number,
    private readonly padId = 0,
    kernels: IntKernels = REFERENCE_KERNELS,
  ) {
    this.decoder = new IntDecoderCpu(program, batch, capacity, kernels);
  }

  get batch(): number {
    return this.decoder.cache.batch;
  }

  get capacity(): number {
    return this.decoder.cache.capacity;
  }

  get vocab(): number {
    return this.program.output.rescale!.requant.length;
  }

  get length(): number {
    return this.decoder.past;
  }

  async prefill(prompts: readonly (readonly number[])[], k: number) {
    const batch = decoderPromptBatch(prompts, this.padId);
    const logits = this.decoder.prefill(batch);
    const S = batch.seqLen;
    return this.candidates(logits, (b) => b * S + S - 1, k);
  }

  async step(tokens: readonly number[], k: number) {
    return this.candidates(this.decoder.step(tokens), (b) => b, k);
  }

  reset(): void {
    this.decoder.reset();
  }

  private candidates(logits: Int32Array, row: (b: number) => number, k: number) {
    const V = this.vocab;
    return Array.from({ length: this.batch }, (_, b) =>
      logitCandidates(logits.subarray(row(b) * V, (row(b) + 1) * V), this.program.output.rescale!, k),
    );
  }
}

/**
 * Greedy translation by an encoder-decoder program on the CPU (IntTranslatorCpu: the encoder once,
 * then one token per step on the KV cache): the integer twin of greedyTranslateCpu
 * (src/model/marian.ts), with the same rules: the next token is the argmax on the program's
 * common logit scale (ties to the lowest id) with the pad id banned, eos stops, and at
 * `maxNewTokens` the last token is forced_eos_token_id when the config names one.
 */
export function greedyTranslateIntCpu(
  program: IntProgram,
  config: MarianConfig,
  source: readonly number[],
  options: { maxNewTokens: number },
): number[] {
  const rescale = program.output.rescale;
  if (program.kind !== 'encoder-decoder' || !rescale)
    throw new Error(
      `greedyTranslateIntCpu: the program is a ${program.kind} without LM logits, not an encoder-decoder`,
    );
  const V = rescale.requant.length;
  if (V !== config.vocabSize)
    throw new RangeError(`greedyTranslateIntCpu: the program's ${V} logits for a vocabulary of ${config.vocabSize}`);
  const out: number[] = [];
  const { source: s } = marianBatches(config, [source], [[config.decoderStartTokenId]]);
  const translator = new IntTranslatorCpu(program, 1, Math.min(options.maxNewTokens, program.maxPositions));
  translator.encode(s);
  let logits = translator.start(config.decoderStartTokenId);
  for (let step = 0; step < options.maxNewTokens; step++) {
    let next: number;
    if (step === options.maxNewTokens - 1 && config.forcedEosTokenId !== undefined) next = config.forcedEosTokenId;
    else {
      // The best two: the pad id is banned, so the second stands in when it is first.
      const { ids } = logitCandidates(logits, rescale, 2);
      next = ids[0] === config.padTokenId ? ids[1] : ids[0];
    }
    out.push(next);
    if (next === config.eosTokenId || step === options.maxNewTokens - 1) break;
    logits = translator.step([next]);
  }
  return out;
}
