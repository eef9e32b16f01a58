/**
 * A decoder's tokenizer (GPT-2's byte-level BPE) through @huggingface/tokenizers and the
 * checkpoint's tokenizer.json. GPT-2 semantics: a prompt is encoded without special tokens (its
 * post-processor adds none anyway, and add_bos_token is false); the end-of-text id is the config's
 * eos, which also opens a document when text is scored from its start.
 */
import type { Tokenizer } from '@huggingface/tokenizers';
import type { DecoderConfig } from '../core/types.js';
import { checkTokenizerVocab, loadTokenizerJson } from './hf-tokenizer.js';
import type { ModelFiles } from './sources.js';

export interface DecoderTokenizer {
  /** The library's tokenizer, for inspection. */
  readonly tokenizer: Tokenizer;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  /** Token ids of `text`, no special tokens added. */
  encode(text: string): number[];
  /** Text of `ids`; special tokens are kept unless `skipSpecialTokens`. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

export async function loadDecoderTokenizer(files: ModelFiles, config: DecoderConfig): Promise<DecoderTokenizer> {
  const { tokenizer, tokConfig, where } = await loadTokenizerJson(
    files,
    'the tokenizer; vocab.json + merges.txt alone are not supported',
  );
  return createDecoderTokenizer(tokenizer, tokConfig, config, where);
}

export function createDecoderTokenizer(
  tokenizer: Tokenizer,
  tokConfig: Record<string, unknown>,
  config: DecoderConfig,
  where = 'tokenizer',
): DecoderTokenizer {
  checkTokenizerVocab(tokenizer, config.vocabSize, where);
  // A tokenizer whose end-of-text token is another id than the config's would end generation
  // (and open scored documents) on the wrong token.
  for (const key of ['bos_token', 'eos_token'] as const) {
    const token = tokConfig[key];
    const content = typeof token === 'string' ? token : (token as { content?: unknown } | null | undefined)?.content;
    if (typeof content !== 'string') continue;
    const want = key === 'bos_token' ? config.bosTokenId : config.eosTokenId;
    const id = idOf(tokenizer, content);
    if (id !== want) {
      throw new Error(`${where}: ${key} "${content}" has id ${id} but config.json says ${key}_id ${want}`);
    }
  }
  if (tokConfig.add_bos_token === true) {
    // GPT2Tokenizer's add_bos_token prepends bos in Python only; tokenizer.json cannot say so.
    throw new Error(`${where}: add_bos_token true is not supported (prompts are encoded without special tokens)`);
  }
  return {
    tokenizer,
    bosTokenId: config.bosTokenId,
    eosTokenId: config.eosTokenId,
    encode(text: string): number[] {
      if (typeof text !== 'string') throw new TypeError('encode: the text is not a string');
      return tokenizer.encode(text, { add_special_tokens: false }).ids;
    },
    decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i];
        if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) {
          throw new RangeError(`decode: id ${id} at index ${i} is outside the vocabulary of ${config.vocabSize}`);
        }
      }
      return tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
    },
  };
}

/** A token's id as encode() finds it: added tokens first. */
function idOf(tokenizer: Tokenizer, token: string): number | undefined {
  for (const [id, added] of tokenizer.get_added_tokens_decoder()) if (added.content === token) return id;
  return tokenizer.token_to_id(token);
}
