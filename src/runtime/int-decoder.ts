/**
 * Text generation's view of the integer decoder on the GPU (the DecoderSession of
 * src/generate/decoder-session.ts): prompts are left-padded into the int8 KV cache in one prefill,
 * then each step runs one token per sequence against the cache; every run reads back only each
 * sequence's next-token candidates (top-k on the GPU), or the whole logit row when asked for more
 * than the top-k kernel keeps.
 */
import { decoderPromptBatch } from '../core/token-batch.js';
import type { Gpu } from '../gpu/gpu.js';
import type { GpuMemory } from '../gpu/profile.js';
import type { IntProgram } from '../plan/int-program.js';
import { fromTopK, logitCandidates, TOPK_MAX_K } from '../reference/topk-i32.js';
import { type DecodeOutput, IntProgramGpu, type IntProgramGpuOptions } from './int-program.js';
import type { KvCacheSize } from './kv-cache.js';

type Candidates = { ids: Int32Array; logits: Float32Array; restBelow: number };

export class IntDecoderGpu {
  /** Each sequence's next position id. */
  private readonly nextPosition: Int32Array;

  private constructor(
    readonly runtime: IntProgramGpu,
    private readonly padId: number,
  ) {
    this.nextPosition = new Int32Array(runtime.kvCacheSize!.batch);
  }

  /** `padId`: the token under left padding (never attended to; GPT-2 has no pad token, any id does). */
  static async create(
    gpu: Gpu,
    program: IntProgram,
    size: KvCacheSize,
    options: Omit<IntProgramGpuOptions, 'kvCache'> & { padId?: number } = {},
  ): Promise<IntDecoderGpu> {
    const runtime = await IntProgramGpu.create(gpu, program, { ...options, kvCache: size });
    return new IntDecoderGpu(runtime, options.padId ?? 0);
  }

  get gpu(): Gpu {
    return this.runtime.gpu;
  }

  get batch(): number {
    return this.runtime.kvCacheSize!.batch;
  }

  get capacity(): number {
    return this.runtime.kvCacheSize!.capacity;
  }

  get vocab(): number {
    return this.runtime.program.output.rescale!.requant.length;
  }

  get length(): number {
    return this.runtime.cached;
  }

  async prefill(prompts: readonly (readonly number[])[], k: number): Promise<Candidates[]> {
    if (this.length !== 0)
      throw new Error(`prefill: the cache already holds ${this.length} tokens per sequence; reset() first`);
    if (prompts.length !== this.batch)
      throw new RangeError(`prefill: ${prompts.length} prompts for a decoder of batch ${this.batch}`);
    const longest = Math.max(...prompts.map((p) => p.length));
    if (longest > this.capacity)
      throw new RangeError(`prefill: a prompt of ${longest} tokens exceeds the cache capacity of ${this.capacity}`);
    const batch = decoderPromptBatch(prompts, this.padId);
    const S = batch.seqLen;
    const out = await this.runtime.decode(
      { ids: batch.inputIds, positions: batch.positionIds, mask: batch.attentionMask, seq: S },
      this.readK(k),
    );
    for (let b = 0; b < this.batch; b++) this.nextPosition[b] = batch.positionIds[b * S + S - 1] + 1;
    return this.candidates(out, k);
  }

  async step(tokens: readonly number[], k: number): Promise<Candidates[]> {
    if (this.length === 0) throw new Error('step: prefill a prompt first');
    if (tokens.length !== this.batch)
      throw new RangeError(`step: ${tokens.length} tokens for a decoder of batch ${this.batch}`);
    if (this.length >= this.capacity)
      throw new RangeError(
        `step: the KV cache is full (${this.capacity} tokens per sequence); create the decoder with a larger capacity`,
      );
    const out = await this.runtime.decode(
      { ids: tokens, positions: this.nextPosition, mask: new Int32Array(this.batch).fill(1), seq: 1 },
      this.readK(k),
    );
    for (let b = 0; b < this.batch; b++) this.nextPosition[b]++;
    return this.candidates(out, k);
  }

  reset(): void {
    this.runtime.resetCache();
    this.nextPosition.fill(0);
  }

  memory(): GpuMemory {
    return this.runtime.memory();
  }

  dispose(): void {
    this.runtime.dispose();
  }

  private readK(k: number): number | 'all' {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`decoder: k = ${k} must be a positive integer`);
    return k <= Math.min(TOPK_MAX_K, this.vocab) ? k : 'all';
  }

  private candidates(out: DecodeOutput, k: number): Candidates[] {
    const rescale = this.runtime.program.output.rescale!;
    const V = this.vocab;
    return Array.from({ length: this.batch }, (_, b) =>
      out.kind === 'logits'
        ? logitCandidates(out.logits.subarray(b * V, (b + 1) * V), rescale, k)
        : fromTopK(
            out.ids.subarray(b * out.k, (b + 1) * out.k),
            out.values.subarray(b * out.k, (b + 1) * out.k),
            rescale.scale,
            out.k >= V,
          ),
    );
  }
}
