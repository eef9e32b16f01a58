/**
 * Translation's view of the integer encoder-decoder on the GPU (the TranslatorSession of
 * src/generate/translator-session.ts): start() encodes the sources once (encoder and the
 * cross-attention K|V, kept int8 on the GPU and shared by each source's beams) and runs
 * decoder_start_token_id; each step runs one token per sequence against the int8 self-attention
 * cache. A run reads back each sequence's top-k (GPU top-k), or whole logit rows for beam search.
 * Must equal IntTranslatorCpuSession (src/cpu/int-translator-session.ts) bit for bit.
 */
import { marianBatch } from '../core/token-batch.js';
import { checkTranslatorStart, type TranslatorTokens } from '../core/translation.js';
import type { NextTokenRequest, NextTokens, TranslatorSession } from '../generate/translator-session.js';
import type { Gpu } from '../gpu/gpu.js';
import type { GpuMemory } from '../gpu/profile.js';
import type { IntProgram } from '../plan/int-program.js';
import { fromTopK, logitCandidates, rescaledLogitRows, TOPK_MAX_K } from '../reference/topk-i32.js';
import { type DecodeOutput, IntProgramGpu, type IntProgramGpuOptions } from './int-program.js';

export class IntTranslatorGpu implements TranslatorSession {
  private started = { sources: 0, beams: 1 };

  private constructor(
    readonly runtime: IntProgramGpu,
    readonly tokens: TranslatorTokens,
  ) {}

  /**
   * `sequences`: sources x beams the cache is first sized for (start() resizes it when a
   * translation needs another count); `capacity`: target tokens per sequence.
   */
  static async create(
    gpu: Gpu,
    program: IntProgram,
    tokens: TranslatorTokens,
    size: { sequences: number; capacity: number },
    options: Omit<IntProgramGpuOptions, 'kvCache'> = {},
  ): Promise<IntTranslatorGpu> {
    if (program.kind !== 'encoder-decoder' || !program.output.rescale)
      throw new Error(`translator: the program is a ${program.kind}, not an encoder-decoder with LM logits`);
    const runtime = await IntProgramGpu.create(gpu, program, {
      ...options,
      kvCache: { batch: size.sequences, capacity: size.capacity },
    });
    return new IntTranslatorGpu(runtime, tokens);
  }

  get gpu(): Gpu {
    return this.runtime.gpu;
  }

  get program(): IntProgram {
    return this.runtime.program;
  }

  get vocab(): number {
    return this.program.output.rescale!.requant.length;
  }

  get capacity(): number {
    return this.runtime.kvCacheSize!.capacity;
  }

  get sources(): number {
    return this.started.sources;
  }

  get beams(): number {
    return this.started.beams;
  }

  get length(): number {
    return this.runtime.cached;
  }

  async start(sources: readonly (readonly number[])[], beams: number, want: NextTokenRequest): Promise<NextTokens> {
    checkTranslatorStart(sources, beams, this.vocab, this.program.maxPositions);
    const read = this.readK(want);
    const sequences = sources.length * beams;
    const size = this.runtime.kvCacheSize!;
    if (size.batch !== sequences) await this.runtime.resizeKvCache({ batch: sequences, capacity: size.capacity });
    this.started = { sources: 0, beams: 1 };
    this.runtime.resetCache();
    await this.runtime.encode(
      marianBatch(sources, this.tokens.padTokenId, this.program.maxPositions, undefined, 'source'),
    );
    this.started = { sources: sources.length, beams };
    const out = await this.runtime.decode(
      {
        ids: new Int32Array(sequences).fill(this.tokens.decoderStartTokenId),
        positions: new Int32Array(sequences),
        mask: new Int32Array(sequences).fill(1),
        seq: 1,
      },
      read,
    );
    return this.answer(out, want);
  }

  async step(tokens: readonly number[], want: NextTokenRequest): Promise<NextTokens> {
    if (this.started.sources === 0 || this.length === 0) throw new Error('translator: start() a translation first');
    const sequences = this.started.sources * this.started.beams;
    if (!Array.isArray(tokens) || tokens.length !== sequences)
      throw new RangeError(`translator: ${tokens?.length} tokens for ${sequences} sequences`);
    const V = this.vocab;
    tokens.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new RangeError(`translator: token ${i} = ${id} is outside the vocabulary of ${V}`);
    });
    if (this.length >= this.capacity)
      throw new RangeError(`translator: the KV cache is full (${this.capacity} target tokens per sequence)`);
    const read = this.readK(want);
    const out = await this.runtime.decode(
      {
        ids: tokens,
        positions: new Int32Array(sequences).fill(this.length),
        mask: new Int32Array(sequences).fill(1),
        seq: 1,
      },
      read,
    );
    return this.answer(out, want);
  }

  reorder(parents: readonly number[]): void {
    if (this.started.sources === 0) throw new Error('translator: start() a translation first');
    this.runtime.reorderCache(parents);
  }

  memory(): GpuMemory {
    return this.runtime.memory();
  }

  dispose(): void {
    this.runtime.dispose();
  }

  private readK(want: NextTokenRequest): number | 'all' {
    if (want === 'logits') return 'all';
    if (!Number.isInteger(want) || want < 1) throw new RangeError(`translator: k = ${want} must be a positive integer`);
    return want <= Math.min(TOPK_MAX_K, this.vocab) ? want : 'all';
  }

  private answer(out: DecodeOutput, want: NextTokenRequest): NextTokens {
    const rescale = this.program.output.rescale!;
    const rows = this.started.sources * this.started.beams;
    const V = this.vocab;
    if (out.kind === 'logits') {
      if (want === 'logits')
        return { kind: 'logits', logits: rescaledLogitRows(rescale, out.logits, rows), scale: rescale.scale };
      return {
        kind: 'candidates',
        candidates: Array.from({ length: rows }, (_, b) =>
          logitCandidates(out.logits.subarray(b * V, (b + 1) * V), rescale, want),
        ),
      };
    }
    return {
      kind: 'candidates',
      candidates: Array.from({ length: rows }, (_, b) =>
        fromTopK(
          out.ids.subarray(b * out.k, (b + 1) * out.k),
          out.values.subarray(b * out.k, (b + 1) * out.k),
          rescale.scale,
          out.k >= V,
        ),
      ),
    };
  }
}
