/**
 * What `model.translate()` takes and gives (src/translation-model.ts), apart from the search that
 * produces it (src/generate/translate.ts).
 */
import type { TranslateOptions } from './translate.js';

export interface TranslationOptions extends Omit<TranslateOptions, 'maxNewTokens' | 'onToken'> {
  /**
   * Tokens generated per sentence at most (the eos included). By default
   * min(generation_config max_length - 1, 2 x the longest source's tokens + 10), which a
   * translation of normal length never reaches.
   */
  maxNewTokens?: number;
}

export interface TranslationResult {
  text: string;
  /** The generated ids after decoder_start_token_id (ending with eos when finished). */
  tokens: number[];
  /** 'eos', or 'length' when maxNewTokens cut it (its last token then forced_eos_token_id). */
  finishReason: 'eos' | 'length';
  /** Beam search: the hypothesis' length-normalised log-probability. */
  score?: number;
}
