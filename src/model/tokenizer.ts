/**
 * Tokenization through @huggingface/tokenizers (the checkpoint's own tokenizer.json), plus what
 * that library leaves to its caller: truncation, batching, padding, and the position ids each
 * family expects. Special tokens come from the tokenizer's post-processor, read once as a template,
 * so truncation can shorten the text segments and still emit exactly the special tokens the
 * post-processor would have placed.
 */

import { Tokenizer } from '@huggingface/tokenizers';
import type { EncoderConfig, TokenBatch } from '../core/types.js';
import { type ModelFiles, readJson } from './sources.js';

export type EncoderInput = string | [string, string];

export interface EncodeOptions {
  /** Longest sequence in tokens, special tokens included; default: all positions the model has. */
  maxLength?: number;
  /** What to do with a longer input: cut it (default; pairs lose tokens from the longer text) or throw. */
  overlong?: 'truncate' | 'error';
  /** Position of inputs[0] in the caller's whole list, so that errors name the caller's position. */
  firstIndex?: number;
  /** Told of every input that was cut to maxLength (with overlong 'truncate'). */
  onTruncated?: (truncation: Truncation) => void;
}

/** An input cut to fit. */
export interface Truncation {
  /** Its position in the caller's list. */
  index: number;
  /**
   * Its length in tokens, special tokens included. A lower bound for texts far longer than
   * maxLength: those are tokenized only up to a cut that already gives more than can be kept.
   */
  tokens: number;
  /** What it was cut to. */
  maxLength: number;
}

export interface EncoderTokenizer {
  /** The library's tokenizer, for decoding or inspection. */
  readonly tokenizer: Tokenizer;
  /** The id used for padding (equal to config.padTokenId). */
  readonly padTokenId: number;
  /** The longest maxLength the model's position table allows. */
  readonly maxLength: number;
  /** Where a single text's tokens start in its encoding (the special tokens before them), and how many special tokens it gets in all. */
  readonly single: { textStart: number; specialTokens: number };
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
  checkTokenizerJson(json, where);
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json as object, tokConfig as object);
  } catch (e) {
    throw new Error(`${where}: cannot be loaded (${(e as Error).message})`);
  }
  return createEncoderTokenizer(tokenizer, tokConfig as Record<string, unknown>, config, where);
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const shown = (v: unknown) => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
};

/**
 * The parts of tokenizer.json the tokenizer library reads without checking them: a wrong type there
 * fails inside it with a bare TypeError ("Cannot read properties of null (reading 'content')",
 * "text is not iterable"), and an empty or mistyped vocabulary loads and maps every word to nothing.
 * Found by the fuzz suite (bench/fuzz.ts).
 */
function checkTokenizerJson(json: unknown, where: string): void {
  const fail = (path: string, problem: string): never => {
    throw new Error(`${where}: ${path} ${problem}`);
  };
  if (!isObject(json)) fail('the file', `is ${shown(json)}, not a JSON object`);
  const j = json as Record<string, unknown>;
  if (j.added_tokens !== undefined && j.added_tokens !== null) {
    if (!Array.isArray(j.added_tokens)) fail('added_tokens', `is ${shown(j.added_tokens)}, expected a list`);
    (j.added_tokens as unknown[]).forEach((t, i) => {
      if (!isObject(t) || !Number.isSafeInteger(t.id) || (t.id as number) < 0 || typeof t.content !== 'string') {
        fail(`added_tokens[${i}]`, `is ${shown(t)}, expected {"id": <integer >= 0>, "content": <string>, ...}`);
      }
    });
  }
  if (!isObject(j.model)) fail('model', `is ${shown(j.model)}, expected an object holding the vocabulary`);
  const model = j.model as Record<string, unknown>;
  const { type, vocab } = model;
  if (type === 'WordPiece' || type === 'BPE') {
    if (!isObject(vocab))
      fail('model.vocab', `is ${shown(vocab)}, expected an object of token: id (a ${type} vocabulary)`);
    if (Object.keys(vocab as object).length === 0) fail('model.vocab', 'is empty');
    if (
      type === 'BPE' &&
      !(
        Array.isArray(model.merges) &&
        model.merges.every(
          (m) => typeof m === 'string' || (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string')),
        )
      )
    ) {
      fail('model.merges', `is ${shown(model.merges)}, expected a list of merges ("a b" or ["a", "b"]) (a BPE model)`);
    }
  } else if (type === 'Unigram') {
    if (
      !Array.isArray(vocab) ||
      !vocab.every((e) => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number')
    ) {
      fail('model.vocab', `is ${shown(vocab)}, expected a list of [token, score] pairs (a Unigram model)`);
    }
    if ((vocab as unknown[]).length === 0) fail('model.vocab', 'is empty');
  }
  const post = j.post_processor;
  if (isObject(post) && (post.type === 'BertProcessing' || post.type === 'RobertaProcessing')) {
    for (const k of ['sep', 'cls']) {
      const v = post[k];
      if (!(Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isSafeInteger(v[1])))
        fail(`post_processor.${k}`, `is ${shown(v)}, expected a [token, id] pair (${post.type})`);
    }
  }
}

export function createEncoderTokenizer(
  tokenizer: Tokenizer,
  tokConfig: Record<string, unknown>,
  config: EncoderConfig,
  where = 'tokenizer',
): EncoderTokenizer {
  const idOf = tokenIdLookup(tokenizer);
  checkVocabulary(tokenizer, config, where, idOf);
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
    const first = options.firstIndex ?? 0;
    const rows = inputs.map((input, i) => {
      const texts = typeof input === 'string' ? [input] : input;
      const template = texts.length === 1 ? single : pair;
      const specials = template.filter((t) => 'id' in t).length;
      // No segment can keep more tokens than this, whatever truncation does to the other one.
      const budget = Math.max(1, maxLength - specials);
      const segments = texts.map((text, j) =>
        contentIds(tokenizer, text, first + i, texts.length > 1 ? j : -1, budget),
      );
      const total = specials + segments.reduce((n, s) => n + s.length, 0);
      if (total > maxLength) {
        if (options.overlong === 'error') {
          const cut = segments.some((s) => partlyCounted.has(s));
          throw new RangeError(
            `input ${first + i} has ${cut ? 'more than ' : ''}${total} tokens (special tokens included), more than maxLength ${maxLength}`,
          );
        }
        if (maxLength - specials < segments.length) {
          throw new Error(`maxLength ${maxLength} leaves no room for text after ${specials} special tokens`);
        }
        truncateLongestFirst(segments, maxLength - specials);
        options.onTruncated?.({ index: first + i, tokens: total, maxLength });
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

  return {
    tokenizer,
    padTokenId,
    maxLength: positionLimit,
    single: {
      textStart: single.findIndex((t) => 'segment' in t),
      specialTokens: single.filter((t) => 'id' in t).length,
    },
    encodeBatch,
  };
}

/**
 * Characters per token assumed when cutting a long text before tokenizing it: more than real
 * tokens span. Where a text falls short (giant words, which WordPiece turns into one [UNK] each)
 * the cut widens, 4x at a time, up to MAX_CHARS_PER_TOKEN: beyond that only the text's first
 * budget x 1024 characters count, so a 10-million-character word costs under a second, not 14.
 */
const CHARS_PER_TOKEN = 16;
const MAX_CHARS_PER_TOKEN = 1024;
/** How far past the cut to look for whitespace, so that the cut does not split a word. */
const WORD_SEARCH = 1024;

/**
 * Token ids of one text without special tokens. Truncation keeps at most `budget` tokens of any
 * one segment, and longest-first ends the same for any length above the budget, so a text is
 * tokenized only up to a cut (at whitespace) that gives more than `budget` tokens: the same first
 * tokens as the whole text, whose tokenization takes tens of seconds at 10 million characters.
 * A text that gives no tokens (empty, whitespace, NUL, zero-width characters, a lone surrogate)
 * is an empty segment: the input becomes its special tokens alone, what the tokenizer gives for
 * '', as in transformers. `part` >= 0 names the half of a pair in errors.
 */
function contentIds(tokenizer: Tokenizer, text: string, input: number, part: number, budget: number): number[] {
  if (typeof text !== 'string') {
    throw new TypeError(
      `${part < 0 ? `input ${input}` : `input ${input} (text ${part + 1} of the pair)`} is not a string`,
    );
  }
  const encode = (t: string) => tokenizer.encode(t, { add_special_tokens: false }).ids;
  for (let chars = budget * CHARS_PER_TOKEN; ; chars *= 4) {
    if (chars >= text.length) return encode(text);
    const end = cutPoint(text, chars);
    const ids = encode(text.slice(0, end));
    if (end < text.length) partlyCounted.add(ids);
    if (ids.length > budget || chars >= budget * MAX_CHARS_PER_TOKEN) return ids;
  }
}

/** Segments tokenized only up to a cut: their length is a lower bound of the text's. */
const partlyCounted = new WeakSet<number[]>();

/** Where to cut `text` near `at`: before the next whitespace if close, never inside a surrogate pair. */
function cutPoint(text: string, at: number): number {
  const end = Math.min(text.length, at + WORD_SEARCH);
  for (let i = at; i < end; i++) if (/\s/.test(text[i])) return i;
  const c = text.charCodeAt(at - 1);
  return c >= 0xd800 && c <= 0xdbff ? at + 1 : at;
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

function checkVocabulary(
  tokenizer: Tokenizer,
  config: EncoderConfig,
  where: string,
  idOf: (token: string) => number | undefined,
): void {
  let maxId = (tokenizer.model?.vocab.length ?? 0) - 1;
  for (const id of tokenizer.get_added_tokens_decoder().keys()) maxId = Math.max(maxId, id);
  if (maxId >= config.vocabSize) {
    throw new Error(`${where}: token id ${maxId} is outside the model's vocabulary of ${config.vocabSize}`);
  }
  // Ids the library would hand out unchecked (a string, a negative number), and the unknown token:
  // without an id for it, a word outside the vocabulary would silently become id 0.
  for (const [token, id] of tokenizer.model?.tokens_to_ids ?? []) {
    if (!Number.isSafeInteger(id) || id < 0)
      throw new Error(
        `${where}: token ${JSON.stringify(token)} has the id ${JSON.stringify(id)}, not an integer in 0..${config.vocabSize - 1}`,
      );
  }
  const unk = tokenizer.model?.unk_token;
  if (typeof unk === 'string' && idOf(unk) === undefined)
    throw new Error(
      `${where}: the unknown token ${JSON.stringify(unk)} is not in the vocabulary (words outside it would have no id)`,
    );
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
    throw new Error(
      `${where}: pad token "${content}" has id ${id} but config.json says pad_token_id ${config.padTokenId}`,
    );
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
  const markers = [
    ['\uE000a0', '\uE000a1'],
    ['\uE000b0', '\uE000b1'],
  ];
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
    throw new Error(
      `${where}: post-processor ${processor.config?.type ?? ''} is not supported (cannot place the text)`,
    );
  }
  return template;
}
