/**
 * Tokenization through @huggingface/tokenizers (the checkpoint's own tokenizer.json), plus what
 * that library leaves to its caller: truncation, batching, padding, and the position ids each
 * family expects. Special tokens come from the tokenizer's post-processor, read once as a template,
 * so truncation can shorten the text segments and still emit exactly the special tokens the
 * post-processor would have placed.
 */

import { Tokenizer } from '@huggingface/tokenizers';
import type { EncoderConfig, TokenBatch } from './types.js';
import { readJson, type ModelFiles } from './sources.js';

export type EncoderInput = string | [string, string];

export interface EncodeOptions {
  /** Longest sequence in tokens, special tokens included; default: all positions the model has. */
  maxLength?: number;
  /** What to do with a longer input: cut it (default; pairs lose tokens from the longer text) or throw. */
  overlong?: 'truncate' | 'error';
}

export interface EncoderTokenizer {
  /** The library's tokenizer, for decoding or inspection. */
  readonly tokenizer: Tokenizer;
  /** The id used for padding (equal to config.padTokenId). */
  readonly padTokenId: number;
  /** The longest maxLength the model's position table allows. */
  readonly maxLength: number;
  encodeBatch(inputs: EncoderInput[], options?: EncodeOptions): TokenBatch;
}

/** One step of the post-processor's output: a text segment, or a fixed special token. */
type TemplateItem = { segment: 0 | 1; typeId: number } | { id: number; typeId: number };

export async function loadTokenizer(files: ModelFiles, config: EncoderConfig): Promise<EncoderTokenizer> {
  const json = await readJson(files, 'tokenizer.json', 'the tokenizer; vocab.txt-only tokenizers are not supported');
  const tokConfig = (await files.has('tokenizer_config.json'))
    ? await readJson(files, 'tokenizer_config.json', 'tokenizer options')
    : {};
  const where = `${files.describe}: tokenizer.json`;
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, tokConfig as object);
  } catch (e) {
    throw new Error(`${where}: cannot be loaded (${(e as Error).message})`);
  }
  return createEncoderTokenizer(tokenizer, tokConfig as Record<string, unknown>, config, where);
}

export function createEncoderTokenizer(
  tokenizer: Tokenizer,
  tokConfig: Record<string, unknown>,
  config: EncoderConfig,
  where = 'tokenizer',
): EncoderTokenizer {
  const idOf = tokenIdLookup(tokenizer);
  checkVocabulary(tokenizer, config, where);
  const padTokenId = findPadId(tokConfig, idOf, config, where);
  const single = readTemplate(tokenizer, false, idOf, where);
  const pair = readTemplate(tokenizer, true, idOf, where);
  // RoBERTa has one token type and DistilBERT none: their post-processors' type ids mean nothing.
  const typesUsed = config.typeVocabSize >= 2;
  for (const item of [...single, ...pair]) {
    if (typesUsed && item.typeId >= config.typeVocabSize) {
      throw new Error(`${where}: post-processor emits token type ${item.typeId}, model has ${config.typeVocabSize}`);
    }
  }
  const positionLimit = config.maxPositions - config.positionOffset;

  const encodeBatch = (inputs: EncoderInput[], options: EncodeOptions = {}): TokenBatch => {
    const maxLength = options.maxLength ?? positionLimit;
    if (!Number.isSafeInteger(maxLength) || maxLength < 1 || maxLength > positionLimit) {
      throw new Error(`maxLength ${maxLength} must be an integer in 1..${positionLimit} (the model's positions)`);
    }
    if (!Array.isArray(inputs) || inputs.length === 0) throw new Error('encodeBatch: no inputs');
    const rows = inputs.map((input, i) => {
      const texts = typeof input === 'string' ? [input] : input;
      const segments = texts.map((text, j) => contentIds(tokenizer, text, i, texts.length > 1 ? j : -1));
      const template = segments.length === 1 ? single : pair;
      const specials = template.filter((t) => 'id' in t).length;
      const total = specials + segments.reduce((n, s) => n + s.length, 0);
      if (total > maxLength) {
        if (options.overlong === 'error') {
          throw new Error(`input ${i} has ${total} tokens (special tokens included), more than maxLength ${maxLength}`);
        }
        if (maxLength - specials < segments.length) {
          throw new Error(`maxLength ${maxLength} leaves no room for text after ${specials} special tokens`);
        }
        truncateLongestFirst(segments, maxLength - specials);
      }
      return assemble(template, segments, typesUsed);
    });

    const batch = rows.length;
    const seqLen = Math.max(...rows.map((r) => r.ids.length));
    const out: TokenBatch = {
      batch,
      seqLen,
      inputIds: new Int32Array(batch * seqLen).fill(padTokenId),
      attentionMask: new Int32Array(batch * seqLen),
      tokenTypeIds: new Int32Array(batch * seqLen),
      positionIds: new Int32Array(batch * seqLen),
    };
    rows.forEach((row, b) => {
      const at = b * seqLen;
      out.inputIds.set(row.ids, at);
      out.tokenTypeIds.set(row.types, at);
      out.attentionMask.fill(1, at, at + row.ids.length);
    });
    fillPositions(out, config);
    return out;
  };

  return { tokenizer, padTokenId, maxLength: positionLimit, encodeBatch };
}

/** Token ids of one text without special tokens; `part` >= 0 names the half of a pair in errors. */
function contentIds(tokenizer: Tokenizer, text: string, input: number, part: number): number[] {
  const which = part < 0 ? `input ${input}` : `input ${input} (text ${part + 1} of the pair)`;
  if (typeof text !== 'string') throw new Error(`${which} is not a string`);
  if (text.trim() === '') throw new Error(`${which} is empty or whitespace only`);
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  if (ids.length === 0) throw new Error(`${which} produced no tokens`);
  return ids;
}

/**
 * Removes tokens from the end of the longer segment, one at a time (ties: the second), until
 * the segments fit: transformers' "longest_first", the default for pairs.
 */
function truncateLongestFirst(segments: number[][], budget: number): void {
  let total = segments.reduce((n, s) => n + s.length, 0);
  while (total > budget) {
    const longer = segments.length === 2 && segments[1].length >= segments[0].length ? 1 : 0;
    segments[longer].pop();
    total--;
  }
}

function assemble(template: TemplateItem[], segments: number[][], typesUsed: boolean) {
  const ids: number[] = [];
  const types: number[] = [];
  for (const item of template) {
    const part = 'id' in item ? [item.id] : segments[item.segment];
    for (const id of part) {
      ids.push(id);
      types.push(typesUsed ? item.typeId : 0);
    }
  }
  return { ids, types };
}

/**
 * BERT and DistilBERT number every position 0..n-1, padding included. RoBERTa follows
 * create_position_ids_from_input_ids: real tokens count up from padding_idx + 1 and any pad id
 * gets padding_idx.
 */
function fillPositions(out: TokenBatch, config: EncoderConfig): void {
  const { batch, seqLen, inputIds, positionIds } = out;
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let t = 0; t < seqLen; t++) {
      const i = b * seqLen + t;
      if (config.family === 'roberta') {
        const real = inputIds[i] !== config.padTokenId ? 1 : 0;
        count += real;
        positionIds[i] = count * real + config.padTokenId;
      } else {
        positionIds[i] = t;
      }
    }
  }
}

/** Maps a token string to its id the way the library's encode() does: added tokens first. */
function tokenIdLookup(tokenizer: Tokenizer): (token: string) => number | undefined {
  const added = new Map<string, number>();
  for (const [id, token] of tokenizer.get_added_tokens_decoder()) added.set(token.content, id);
  return (token) => added.get(token) ?? tokenizer.token_to_id(token);
}

function checkVocabulary(tokenizer: Tokenizer, config: EncoderConfig, where: string): void {
  let maxId = (tokenizer.model?.vocab.length ?? 0) - 1;
  for (const id of tokenizer.get_added_tokens_decoder().keys()) maxId = Math.max(maxId, id);
  if (maxId >= config.vocabSize) {
    throw new Error(`${where}: token id ${maxId} is outside the model's vocabulary of ${config.vocabSize}`);
  }
}

function findPadId(
  tokConfig: Record<string, unknown>,
  idOf: (token: string) => number | undefined,
  config: EncoderConfig,
  where: string,
): number {
  const pad = tokConfig.pad_token;
  const content = typeof pad === 'string' ? pad : (pad as { content?: unknown } | null | undefined)?.content;
  if (typeof content !== 'string') return config.padTokenId;
  const id = idOf(content);
  // RoBERTa's position ids compare input ids with config.pad_token_id; a mismatch would shift them.
  if (id !== undefined && id !== config.padTokenId) {
    throw new Error(`${where}: pad token "${content}" has id ${id} but config.json says pad_token_id ${config.padTokenId}`);
  }
  return config.padTokenId;
}

/** Runs the post-processor on marker tokens to learn where it puts the text and which specials it adds. */
function readTemplate(
  tokenizer: Tokenizer,
  pair: boolean,
  idOf: (token: string) => number | undefined,
  where: string,
): TemplateItem[] {
  // Private-use characters cannot collide with a real special token.
  const markers = [['\uE000a0', '\uE000a1'], ['\uE000b0', '\uE000b1']];
  const processor = tokenizer.post_processor;
  if (!processor) {
    const plain: TemplateItem[] = [{ segment: 0, typeId: 0 }];
    return pair ? [...plain, { segment: 1, typeId: 1 }] : plain;
  }
  const result = processor(markers[0], pair ? markers[1] : null, true);
  const tokens = result.tokens;
  const types = result.token_type_ids ?? tokens.map(() => 0);
  const template: TemplateItem[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const segment = markers.findIndex((m) => m[0] === tokens[i]);
    if (segment >= 0) {
      if (tokens[i + 1] !== markers[segment][1]) break;
      template.push({ segment: segment as 0 | 1, typeId: types[i] });
      i++;
      continue;
    }
    const id = idOf(tokens[i]);
    if (id === undefined) throw new Error(`${where}: post-processor adds "${tokens[i]}", which has no id`);
    template.push({ id, typeId: types[i] });
  }
  const segments = template.filter((t) => 'segment' in t).length;
  if (segments !== (pair ? 2 : 1) || template.length !== tokens.length - segments) {
    throw new Error(`${where}: post-processor ${processor.config?.type ?? ''} is not supported (cannot place the text)`);
  }
  return template;
}
