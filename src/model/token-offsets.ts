/**
 * Character spans of tokens in the text they came from. @huggingface/tokenizers (the JavaScript
 * library) gives ids and token strings but no offsets, so each token is found again in the text:
 * the text is normalized one character at a time (lower-casing, accent stripping: what the
 * tokenizer's normalizer does), remembering which original character each normalized one came
 * from, and each token's text (its vocabulary string without the word-piece prefix, or its
 * decoding for byte-level BPE) is matched in order from where the previous token ended. A token
 * that cannot be matched ([UNK], a piece of a multi-byte character) covers the next run of word
 * characters, or the next single other character.
 */
import type { Tokenizer } from '@huggingface/tokenizers';

/** [start, end) in UTF-16 units of `text`, one per id (ids without special tokens, in order). */
export function tokenOffsets(tokenizer: Tokenizer, text: string, ids: readonly number[]): [number, number][] {
  const { norm, from, to } = normalizeWithOrigins(tokenizer, text);
  const model = tokenizer.model;
  const config = (model?.config ?? {}) as { type?: string; continuing_subword_prefix?: string };
  const wordPiece = config.type === 'WordPiece';
  const prefix = wordPiece ? (config.continuing_subword_prefix ?? '##') : '';
  const out: [number, number][] = [];
  let at = 0;
  for (const id of ids) {
    while (at < norm.length && /\s/u.test(norm[at])) at++;
    let piece: string;
    if (wordPiece) {
      piece = tokenizer.id_to_token(id) ?? '';
      if (prefix && piece.startsWith(prefix)) piece = piece.slice(prefix.length);
    } else {
      piece = tokenizer.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    }
    piece = piece.trim().replace(/^\u2581+/u, '');
    const unknown = id === model?.unk_token_id || piece === '' || piece.includes('\uFFFD');
    const found = unknown ? -1 : norm.indexOf(piece, at);
    let start: number;
    let end: number;
    // Only characters that give no token (controls, combining marks) may lie between two tokens.
    if (found >= 0 && !/[\p{L}\p{N}\p{P}\p{S}]/u.test(norm.slice(at, found))) {
      start = found;
      end = found + piece.length;
    } else {
      start = Math.min(at, norm.length);
      end = start;
      if (end < norm.length && /[\p{L}\p{N}\p{M}]/u.test(norm[end])) {
        while (end < norm.length && /[\p{L}\p{N}\p{M}]/u.test(norm[end])) end++;
      } else if (end < norm.length) {
        end++;
      }
    }
    at = end;
    out.push(start < end ? [from[start], to[end - 1]] : [from[start] ?? text.length, from[start] ?? text.length]);
  }
  return out;
}

/**
 * The text as the tokenizer's normalizer makes it, with each normalized unit's original span. When
 * the normalizer does something to the whole text that it does not do to characters one at a time
 * (a prefix, a merge), the text is only lower-cased and stripped of accents: tokens of encoders
 * (BERT, DistilBERT, RoBERTa) match that.
 */
function normalizeWithOrigins(tokenizer: Tokenizer, text: string): { norm: string; from: number[]; to: number[] } {
  const normalizer = tokenizer.normalizer;
  const plain = (c: string) => c.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '');
  const per = (c: string) => (normalizer ? normalizer.normalize(c) : c);
  const chars = Array.from(text);
  const whole = normalizer ? normalizer.normalize(text) : text;
  const f = whole === chars.map(per).join('') ? per : plain;
  let norm = '';
  const from: number[] = [];
  const to: number[] = [];
  let i = 0;
  for (const c of chars) {
    const n = f(c);
    norm += n;
    for (let k = 0; k < n.length; k++) {
      from.push(i);
      to.push(i + c.length);
    }
    i += c.length;
  }
  return { norm, from, to };
}
