/**
 * The CPU integer translator as translation sees it (the TranslatorSession of
 * src/generate/translator-session.ts): the specification the GPU's IntTranslatorGpu must equal
 * candidate for candidate and logit for logit. Logit rows are the LM head's accumulators rescaled
 * onto the program's common logit scale, as the GPU's top-k sees them.
 */
import { marianBatch } from '../core/token-batch.js';
import { checkTranslatorStart, type TranslatorTokens } from '../core/translation.js';
import type { TokenCandidates } from '../generate/decoder-session.js';
import type { NextTokenRequest, NextTokens, TranslatorSession } from '../generate/translator-session.js';
import type { IntProgram } from '../plan/int-program.js';
import { logitCandidates, rescaledLogitRows } from '../reference/topk-i32.js';
import { type IntKernels, IntTranslatorCpu, REFERENCE_KERNELS } from './int-program.js';

export class IntTranslatorCpuSession implements TranslatorSession {
  private translator: IntTranslatorCpu | undefined;
  private started = { sources: 0, beams: 1 };

  constructor(
    readonly program: IntProgram,
    readonly tokens: TranslatorTokens,
    /** Target tokens per sequence (decoder_start_token_id and the generated ones). */
    readonly capacity: number,
    /** The kernels to compose (REFERENCE_KERNELS by default); the same integers either way. */
    private readonly kernels: IntKernels = REFERENCE_KERNELS,
  ) {
    if (program.kind !== 'encoder-decoder' || !program.output.rescale)
      throw new Error(`translator: the program is a ${program.kind}, not an encoder-decoder with LM logits`);
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > program.maxPositions)
      throw new RangeError(`translator: capacity = ${capacity} must be an integer in [1, ${program.maxPositions}]`);
  }

  get vocab(): number {
    return this.program.output.rescale!.requant.length;
  }

  get sources(): number {
    return this.started.sources;
  }

  get beams(): number {
    return this.started.beams;
  }

  get length(): number {
    return this.translator?.past ?? 0;
  }

  async start(sources: readonly (readonly number[])[], beams: number, want: NextTokenRequest): Promise<NextTokens> {
    checkTranslatorStart(sources, beams, this.vocab, this.program.maxPositions);
    const sequences = sources.length * beams;
    if (this.translator?.cache.batch !== sequences)
      this.translator = new IntTranslatorCpu(this.program, sequences, this.capacity, this.kernels);
    this.translator.encode(
      marianBatch(sources, this.tokens.padTokenId, this.program.maxPositions, undefined, 'source'),
    );
    this.started = { sources: sources.length, beams };
    return this.answer(this.translator.start(this.tokens.decoderStartTokenId), want);
  }

  async step(tokens: readonly number[], want: NextTokenRequest): Promise<NextTokens> {
    const translator = this.translator;
    if (!translator || translator.past === 0) throw new Error('translator: start() a translation first');
    const V = this.vocab;
    tokens.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new RangeError(`translator: token ${i} = ${id} is outside the vocabulary of ${V}`);
    });
    return this.answer(translator.step(tokens), want);
  }

  reorder(parents: readonly number[]): void {
    if (!this.translator) throw new Error('translator: start() a translation first');
    this.translator.reorder(parents);
  }

  dispose(): void {
    this.translator = undefined;
  }

  private answer(logits: Int32Array, want: NextTokenRequest): NextTokens {
    const rescale = this.program.output.rescale!;
    const rows = this.translator!.cache.batch;
    if (want === 'logits')
      return { kind: 'logits', logits: rescaledLogitRows(rescale, logits, rows), scale: rescale.scale };
    if (!Number.isInteger(want) || want < 1) throw new RangeError(`translator: k = ${want} must be a positive integer`);
    const V = this.vocab;
    const candidates: TokenCandidates[] = [];
    for (let r = 0; r < rows; r++) candidates.push(logitCandidates(logits.subarray(r * V, (r + 1) * V), rescale, want));
    return { kind: 'candidates', candidates };
  }
}
