/**
 * What translation needs from an encoder-decoder, whatever runs it (the integer program on the CPU
 * or on the GPU with its int8 caches, or the float model): sources encoded once, then one target
 * token per sequence per step. Sequences are grouped by source, `beams` per source: sequence i
 * belongs to source floor(i / beams), and the beams of one source share its encoder output (the
 * cross-attention K and V are computed once per source, never per beam).
 */
import type { TokenCandidates } from './decoder-session.js';

/** What a run reads back: each sequence's `k` best next tokens, or whole logit rows. */
export type NextTokenRequest = number | 'logits';

export type NextTokens =
  | { kind: 'candidates'; candidates: TokenCandidates[] }
  | {
      kind: 'logits';
      /**
       * [sequences, vocab] logits on one scale for the whole vocabulary: integers for the integer
       * model (the LM head's accumulators rescaled onto the program's common logit scale), floats
       * for the float model.
       */
      logits: Int32Array | Float32Array;
      /** Natural-log units per unit of `logits` (1 for float logits). */
      scale: number;
    };

export interface TranslatorSession {
  readonly vocab: number;
  /** Target tokens per sequence the cache holds (decoder_start_token_id and the generated ones). */
  readonly capacity: number;
  /** Sources of the current translation, and sequences per source. */
  readonly sources: number;
  readonly beams: number;
  /** Target tokens per sequence run so far (0 before start()). */
  readonly length: number;
  /**
   * Encodes `sources` (token ids, each ending with eos), then runs decoder_start_token_id as the
   * first target token of `beams` sequences per source. Returns every sequence's next tokens.
   * Starting again discards the previous translation.
   */
  start(sources: readonly (readonly number[])[], beams: number, want: NextTokenRequest): Promise<NextTokens>;
  /** One token per sequence (sources x beams of them) appended; the next tokens after it. */
  step(tokens: readonly number[], want: NextTokenRequest): Promise<NextTokens>;
  /**
   * Beam search: from now on sequence i continues what sequence parents[i] has cached so far.
   * parents[i] must be a sequence of the same source. Only the sequences whose parent is another
   * move; the source's encoder output is untouched.
   */
  reorder(parents: readonly number[]): void;
  /** Frees the device resources. */
  dispose(): void;
}
