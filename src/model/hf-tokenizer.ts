/**
 * What every tokenizer loader of a Hugging Face folder shares: tokenizer.json (and
 * tokenizer_config.json when present) through @huggingface/tokenizers, with errors naming the file,
 * and the check that no token id falls outside the model's vocabulary.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { type ModelFiles, readJson } from './sources.js';

export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  tokConfig: Record<string, unknown>;
  /** Where errors point: the folder's tokenizer.json. */
  where: string;
}

/** `missing` says what the file is for when it is absent (read by readJson's message). */
export async function loadTokenizerJson(files: ModelFiles, missing: string): Promise<LoadedTokenizer> {
  const json = await readJson(files, 'tokenizer.json', missing);
  const tokConfig = (await files.has('tokenizer_config.json'))
    ? ((await readJson(files, 'tokenizer_config.json', 'tokenizer options')) as Record<string, unknown>)
    : {};
  const where = `${files.describe}: tokenizer.json`;
  try {
    return { tokenizer: new Tokenizer(json as object, tokConfig), tokConfig, where };
  } catch (e) {
    throw new Error(`${where}: cannot be loaded (${(e as Error).message})`);
  }
}

/** Refuses a tokenizer with an id (model vocabulary or added token) at or beyond `vocabSize`. */
export function checkTokenizerVocab(tokenizer: Tokenizer, vocabSize: number, where: string): void {
  let maxId = (tokenizer.model?.vocab.length ?? 0) - 1;
  for (const id of tokenizer.get_added_tokens_decoder().keys()) maxId = Math.max(maxId, id);
  if (maxId >= vocabSize)
    throw new Error(`${where}: token id ${maxId} is outside the model's vocabulary of ${vocabSize}`);
}
