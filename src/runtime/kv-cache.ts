/**
 * The int8 KV cache of a decoder program on the GPU: per cached attention layer, K as [batch,
 * heads, capacity, headDim] and V transposed ([batch, heads, headDim, capacity]), int8 packed at
 * the layer's planned K / V scales (so an entry written once is never rescaled), plus the key mask
 * [batch, capacity] the softmax reads. Allocated once for its capacity; a step writes only the new
 * positions (the kv-append kernel and one mask row per sequence).
 */
import { checkBeamParents } from '../core/translation.js';
import type { Gpu } from '../gpu/gpu.js';
import { sumSizes } from '../gpu/profile.js';
import type { ProgramInfo } from '../gpu/program.js';
import {
  ATTENTION_I8_MAX_KEYS,
  type AttentionI8Shape,
  attentionI8Bindings,
  attentionI8Kernel,
  attentionI8Params,
  attentionI8Program,
  attentionI8Variant,
} from '../kernels/attention-i8.js';
import {
  type GemmI8Options,
  type GemmI8Strategy,
  type GemmShape,
  gemmI8Bindings,
  gemmI8Kernel,
  gemmI8RunData,
  gemmI8Variant,
} from '../kernels/gemm-i8.js';
import {
  type KvAttentionLayout,
  kvAppendBindings,
  kvAppendProgram,
  kvAttentionShapes,
  kvCacheWords,
} from '../kernels/kv-append-i8.js';
import { defaultSoftmaxI8Launch, softmaxI8Program } from '../kernels/softmax-i8.js';
import type { IntAttentionOp, IntProgram } from '../plan/int-program.js';
import { wordsPerRow } from '../quant/pack.js';

export interface KvCacheSize {
  /** Sequences generated together. */
  batch: number;
  /** Tokens per sequence, prompt and generated (at most the model's positions). */
  capacity: number;
}

export function cachedAttentions(program: IntProgram): IntAttentionOp[] {
  return program.ops.filter((o): o is IntAttentionOp => o.kind === 'attention' && o.cache !== undefined);
}

/** Checks a cache size against the program, naming the field. */
export function checkKvCacheSize(program: IntProgram, size: KvCacheSize): void {
  if (cachedAttentions(program).length === 0)
    throw new Error('KV cache: the program has no cached attention (not a decoder)');
  if (!Number.isInteger(size.batch) || size.batch < 1)
    throw new RangeError(`KV cache: batch = ${size.batch} must be a positive integer`);
  if (!Number.isInteger(size.capacity) || size.capacity < 1 || size.capacity > program.maxPositions)
    throw new RangeError(
      `KV cache: capacity = ${size.capacity} tokens must be an integer in [1, ${program.maxPositions}] (the model's positions)`,
    );
}

export class GpuKvCache {
  readonly layers: { k: GPUBuffer; v: GPUBuffer }[] = [];
  readonly mask: GPUBuffer;
  /** The mask as written, so a step uploads whole rows without reading back. */
  readonly maskHost: Uint32Array<ArrayBuffer>;
  /** Positions written per sequence. */
  past = 0;
  private readonly tokenBytes: number;

  constructor(
    gpu: Gpu,
    program: IntProgram,
    readonly batch: number,
    readonly capacity: number,
  ) {
    checkKvCacheSize(program, { batch, capacity });
    this.tokenBytes = cachedAttentions(program).reduce((n, op) => n + 2 * op.heads * op.headDim, 0);
    const made: GPUBuffer[] = [];
    try {
      for (const op of cachedAttentions(program)) {
        if (op.q.tensor !== op.k.tensor || op.q.tensor !== op.v.tensor)
          throw new Error(`KV cache: attention ${op.out} does not read one fused q|k|v tensor`);
        if (op.headDim % 4)
          throw new Error(`KV cache: attention ${op.out} has heads of ${op.headDim}, not a multiple of 4`);
        const words = kvCacheWords({ batch, heads: op.heads, headDim: op.headDim, capacity });
        const k = gpu.storage(`kv.${op.cache!.layer}.k`, words.k * 4);
        made.push(k);
        const v = gpu.storage(`kv.${op.cache!.layer}.v`, words.v * 4);
        made.push(v);
        this.layers[op.cache!.layer] = { k, v };
      }
      this.maskHost = new Uint32Array(batch * capacity);
      this.mask = gpu.storage('kv.mask', this.maskHost.byteLength);
      made.push(this.mask);
    } catch (e) {
      made.forEach((b) => b.destroy());
      throw e;
    }
  }

  /** Bytes one token of one sequence occupies: an int8 K and V row per layer (the V^T rows round capacity up to words). */
  bytesPerToken(): number {
    return this.tokenBytes;
  }

  /** Bytes of the whole cache with its mask. */
  bytes(): number {
    return sumSizes([...this.layers.flatMap((l) => [l.k, l.v]), this.mask]);
  }

  /** Marks the run's positions past .. past + S - 1 of each sequence with `mask` ([batch, S]) and uploads it. */
  writeMask(queue: GPUQueue, mask: ArrayLike<number>, S: number): void {
    if (this.past + S > this.capacity)
      throw new RangeError(
        `KV cache: ${this.past} cached + ${S} new tokens exceed its capacity of ${this.capacity} tokens per sequence`,
      );
    for (let b = 0; b < this.batch; b++)
      for (let s = 0; s < S; s++) this.maskHost[b * this.capacity + this.past + s] = mask[b * S + s] ? 1 : 0;
    queue.writeBuffer(this.mask, 0, this.maskHost);
  }

  reset(): void {
    this.past = 0;
    this.maskHost.fill(0);
  }

  /**
   * Beam search: sequence i continues sequence parents[i]'s cache (same group of `beams`), as
   * reorderKvCache (src/cpu/int-program.ts) specifies. Only the sequences whose parent is another
   * move: each moved block (one sequence's K, then its V^T, per layer) is copied to a scratch
   * buffer first, so that a block read after another was overwritten still reads the old one.
   */
  reorder(gpu: Gpu, parents: readonly number[], beams: number): void {
    checkBeamParents(parents, this.batch, beams);
    const moved = parents.map((p, i) => [i, p] as const).filter(([i, p]) => i !== p);
    if (moved.length === 0) return;
    // Sized once for the largest buffer before encoding: a scratch replaced mid-encoder would be
    // destroyed under the copies already recorded.
    const scratch = this.scratchFor(gpu, Math.max(...this.layers.flatMap((l) => [l.k.size, l.v.size])));
    const encoder = gpu.device.createCommandEncoder({ label: 'kv.reorder' });
    for (const layer of this.layers) {
      for (const buffer of [layer.k, layer.v]) {
        const block = buffer.size / this.batch;
        for (const [i, p] of moved) encoder.copyBufferToBuffer(buffer, p * block, scratch, i * block, block);
        for (const [i] of moved) encoder.copyBufferToBuffer(scratch, i * block, buffer, i * block, block);
      }
    }
    gpu.device.queue.submit([encoder.finish()]);
    const C = this.capacity;
    const mask = this.maskHost.slice();
    for (const [i, p] of moved) this.maskHost.set(mask.subarray(p * C, (p + 1) * C), i * C);
    gpu.device.queue.writeBuffer(this.mask, 0, this.maskHost);
  }

  private scratch: GPUBuffer | undefined;

  private scratchFor(gpu: Gpu, bytes: number): GPUBuffer {
    if (!this.scratch || this.scratch.size < bytes) {
      this.scratch?.destroy();
      this.scratch = gpu.storage('kv.reorder-scratch', bytes);
    }
    return this.scratch;
  }

  destroy(): void {
    for (const l of this.layers) {
      l.k.destroy();
      l.v.destroy();
    }
    this.mask.destroy();
    this.scratch?.destroy();
  }
}

/** The buffers one cached attention layer's launches read and write (scores and probs: the unfused chain's scratch). */
export interface KvAttentionBuffers {
  qkv: GPUBuffer;
  scores?: GPUBuffer;
  probs?: GPUBuffer;
  contextRequant: GPUBuffer;
  context: GPUBuffer;
}

/** One launch of a cached attention layer: its buffers, and its program for a run of (batch, queries) after `past`. */
export interface KvAttentionLaunch {
  buffers: GPUBuffer[];
  info: (batch: number, queries: number, past: number) => ProgramInfo;
}

/**
 * A cached attention layer's launches: append this run's K and V to the cache, then (fuse) one
 * attention-i8 launch against the caches, or Q.K^T against the K cache, the causal i-softmax over
 * past + queries keys under the cache's mask, and P.V against the V^T cache requantized into the
 * heads' columns of the context; a fused layer whose cache holds more than 512 positions keeps both
 * and each run idles one. The same integers as the CPU interpreter's cachedAttention.
 */
export function kvAttentionLaunches(
  op: IntAttentionOp,
  cache: GpuKvCache,
  buffers: KvAttentionBuffers,
  rows: { qkvWords: number; contextWords: number },
  strategy: GemmI8Strategy,
  software: boolean,
  fuse = false,
): KvAttentionLaunch[] {
  const layer = cache.layers[op.cache!.layer];
  const append: KvAttentionLaunch = {
    buffers: kvAppendBindings(layoutOf(op, cache, rows, cache.batch, 1, cache.capacity - 1), {
      qkv: buffers.qkv,
      kCache: layer.k,
      vCache: layer.v,
    }),
    info: (B, S, past) => kvAppendProgram(layoutOf(op, cache, rows, B, S, past)),
  };
  if (!fuse) return [append, ...kvUnfusedLaunches(op, cache, buffers, rows, strategy, software)];
  const fused = kvFusedLaunch(op, cache, buffers, rows, strategy, software);
  if (kvAlwaysFused(cache)) return [append, fused];
  // Runs over more than 512 keys take the unfused chain, the others the fused kernel: each run
  // leaves one of them at zero workgroups.
  const unfused = kvUnfusedLaunches(op, cache, buffers, rows, strategy, software).map(
    (l): KvAttentionLaunch => ({
      ...l,
      info: (B, S, past) => {
        const p = l.info(B, S, past);
        return past + S <= ATTENTION_I8_MAX_KEYS ? { ...p, workgroups: [0, 0, 0] } : p;
      },
    }),
  );
  return [append, fused, ...unfused];
}

/** Whether every run of a fused cached attention fits the fused kernel (no key row past 512). */
export function kvAlwaysFused(cache: GpuKvCache): boolean {
  return cache.capacity <= ATTENTION_I8_MAX_KEYS;
}

function layoutOf(
  op: IntAttentionOp,
  cache: GpuKvCache,
  rows: { qkvWords: number; contextWords: number },
  B: number,
  S: number,
  past: number,
): KvAttentionLayout {
  return {
    batch: B,
    heads: op.heads,
    headDim: op.headDim,
    queries: S,
    past,
    capacity: cache.capacity,
    qkvRow: rows.qkvWords,
    qOffset: op.q.channel / 4,
    kSrc: op.k.channel / 4,
    vSrc: op.v.channel / 4,
    contextRow: rows.contextWords,
  };
}

/**
 * Q.K^T, the causal i-softmax under the cache's mask and P.V against the caches in one attention-i8
 * dispatch per (batch, head, query block), reading K and V^T where the append wrote them; runs
 * over more than 512 keys get zero workgroups (the unfused chain runs them).
 */
function kvFusedLaunch(
  op: IntAttentionOp,
  cache: GpuKvCache,
  buffers: KvAttentionBuffers,
  rows: { qkvWords: number; contextWords: number },
  strategy: GemmI8Strategy,
  software: boolean,
): KvAttentionLaunch {
  const layer = cache.layers[op.cache!.layer];
  const shape = (B: number, S: number, past: number): AttentionI8Shape => ({
    batch: B,
    heads: op.heads,
    headDim: op.headDim,
    queries: S,
    keys: past + S,
    causal: true,
    past,
    qRow: rows.qkvWords,
    outRow: rows.contextWords,
    qOffset: op.q.channel / 4,
    maskRow: cache.capacity,
    kvCache: { capacity: cache.capacity },
  });
  const full = shape(cache.batch, 1, Math.min(cache.capacity, ATTENTION_I8_MAX_KEYS) - 1);
  return {
    buffers: attentionI8Bindings(full, {
      q: buffers.qkv,
      k: layer.k,
      v: layer.v,
      mask: cache.mask,
      out: buffers.context,
    }),
    info: (B, S, past) => {
      const sh = shape(B, S, past);
      if (sh.keys > ATTENTION_I8_MAX_KEYS) {
        const kernel = attentionI8Kernel(
          attentionI8Variant({ keys: ATTENTION_I8_MAX_KEYS, kvCache: sh.kvCache }, strategy, software),
        );
        const label = `${kernel.name} (idle: ${sh.keys} keys)`;
        return {
          ...kernel,
          name: label,
          label,
          workgroups: [0, 0, 0],
          params: attentionI8Params(sh, op.softmax, op.context),
        };
      }
      return attentionI8Program(sh, op.softmax, op.context, attentionI8Variant(sh, strategy, software));
    },
  };
}

/** Q.K^T against the K cache, the causal i-softmax, and P.V against the V^T cache: three launches through scratch. */
function kvUnfusedLaunches(
  op: IntAttentionOp,
  cache: GpuKvCache,
  buffers: KvAttentionBuffers,
  rows: { qkvWords: number; contextWords: number },
  strategy: GemmI8Strategy,
  software: boolean,
): KvAttentionLaunch[] {
  const layer = cache.layers[op.cache!.layer];
  if (!buffers.scores || !buffers.probs)
    throw new Error('KV attention: the unfused chain needs its scores and probs scratch');
  const { scores, probs } = buffers;
  const shapes = (B: number, S: number, past: number) =>
    kvAttentionShapes(layoutOf(op, cache, rows, B, S, past), cache.capacity);
  const common = { strategy, perChannel: false, bias: false } as const;
  const scoresOptions: GemmI8Options = { ...common, output: 'i32', aUnsigned: false };
  const contextOptions: GemmI8Options = { ...common, output: 'i8', aUnsigned: true };
  const gemm = (options: GemmI8Options, shape: GemmShape): ProgramInfo => {
    const tile = gemmI8Variant(options, shape, software);
    const run = gemmI8RunData(options, shape, tile, 0);
    return { ...gemmI8Kernel(options, tile), ...run, name: run.label ?? 'gemm-i8' };
  };
  return [
    {
      buffers: gemmI8Bindings(scoresOptions, { a: buffers.qkv, b: layer.k, c: scores }),
      info: (B, S, past) => gemm(scoresOptions, shapes(B, S, past).scores),
    },
    {
      buffers: [scores, cache.mask, probs],
      info: (B, S, past) => {
        const shape = shapes(B, S, past).softmax;
        return softmaxI8Program(shape, op.softmax, defaultSoftmaxI8Launch(shape.seq, software));
      },
    },
    {
      buffers: gemmI8Bindings(contextOptions, {
        a: probs,
        b: layer.v,
        requant: buffers.contextRequant,
        c: buffers.context,
      }),
      info: (B, S, past) => gemm(contextOptions, shapes(B, S, past).context),
    },
  ];
}

/**
 * Bytes of the attention scratch a decoder run of up to (batch, queries) needs: int32 scores and
 * uint8 probabilities; none (undefined) when every run is fused (fuse, capacity <= 512).
 */
export function kvScratchBytes(
  program: IntProgram,
  cache: GpuKvCache,
  queries: number,
  fuse = false,
): { scores: number; probs: number } | undefined {
  if (fuse && kvAlwaysFused(cache)) return undefined;
  const heads = Math.max(...cachedAttentions(program).map((o) => o.heads));
  const rows = cache.batch * heads * queries;
  return { scores: rows * cache.capacity * 4, probs: rows * wordsPerRow(cache.capacity) * 4 };
}
