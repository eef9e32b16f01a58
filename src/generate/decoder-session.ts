/**
 * What text generation needs from a decoder, whatever runs it (the integer program on the CPU or
 * the GPU with its int8 KV cache, or the float model): prompts in, then one token per sequence per
 * step, each answered with the next-token candidates of every sequence.
 */

/** One sequence's next-token candidates: the best `ids` first (ties: lowest id first), with their logits. */
export interface TokenCandidates {
  ids: Int32Array;
  /** Logits of `ids` (natural-log units, on one scale for the whole vocabulary). */
  logits: Float32Array;
  /**
   * Every token not in `ids` has a logit <= this (the last candidate's, or -Infinity when `ids`
   * holds the whole vocabulary): what a caller needs to prove that a choice made among the
   * candidates is the one it would make over the whole vocabulary.
   */
  restBelow: number;
}

export interface DecoderSession {
  /** Sequences per run. */
  readonly batch: number;
  /** Tokens per sequence the cache holds, prompt and generated. */
  readonly capacity: number;
  readonly vocab: number;
  /** Tokens per sequence in the cache so far (the longest prompt plus the steps taken). */
  readonly length: number;
  /**
   * Starts a generation: the prompts (one per sequence, >= 1 token each, any lengths: shorter ones
   * are left-padded and never attended to) fill an empty cache. Returns each sequence's `k`
   * best next tokens (k >= vocab: the whole vocabulary, sorted).
   */
  prefill(prompts: readonly (readonly number[])[], k: number): Promise<TokenCandidates[]>;
  /** One token per sequence appended to the cache; the candidates for the token after it. */
  step(tokens: readonly number[], k: number): Promise<TokenCandidates[]>;
  /** Empties the cache for the next prefill (keeps buffers). */
  reset(): void;
}
