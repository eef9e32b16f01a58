/**
 * A BERT-style WordPiece tokenizer.json over a given vocabulary, for the small random models that
 * tests and benches write as Hugging Face folders: the first five tokens are [PAD], [UNK], [CLS],
 * [SEP], [MASK] (ids 0-4, special), single texts and pairs framed as BERT frames them.
 */
export function wordPieceTokenizerJson(tokens: readonly string[], options: { stripAccents: boolean | null }): string {
  if (tokens.slice(0, 5).join(' ') !== '[PAD] [UNK] [CLS] [SEP] [MASK]')
    throw new Error(`wordPieceTokenizerJson: the vocabulary must start with [PAD] [UNK] [CLS] [SEP] [MASK]`);
  if (new Set(tokens).size !== tokens.length) throw new Error('wordPieceTokenizerJson: repeated tokens');
  const special = (id: number) => ({
    id,
    content: tokens[id],
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tok = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const seq = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [0, 1, 2, 3, 4].map(special),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: options.stripAccents,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0)],
      pair: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0), seq('B', 1), tok('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
    },
  });
}
