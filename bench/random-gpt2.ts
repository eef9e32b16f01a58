/**
 * Random GPT2LMHeadModel checkpoints (for tests and benchmarks): config.json and model.safetensors with a tied
 * head, and, when the vocabulary has room for it (256 byte symbols, some merges, end-of-text), a
 * byte-level BPE tokenizer.json in GPT-2's layout with its tokenizer_config.json and a
 * generation_config.json: a folder `convert`, `eval --task lm` and the .i8t reader take as they
 * take a hub checkpoint.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TensorToWrite, writeSafetensors } from '../src/model/safetensors-write.js';
import { Random } from '../src/util/random.js';

export interface Gpt2Sizes {
  n_embd: number;
  n_head: number;
  n_layer: number;
  n_positions: number;
  vocab_size: number;
}

/** Merges of a toy byte-level BPE, in order: each joins two symbols that exist before it. */
const MERGES = [
  'Ġ t',
  'h e',
  'Ġt he',
  'Ġ a',
  'i n',
  'o n',
  'e r',
  'Ġ s',
  'a n',
  'r e',
  'Ġ w',
  'Ġ d',
  'o g',
  'Ġd og',
  'Ġ m',
  'a t',
];

/** GPT-2's printable stand-ins for the 256 bytes: printable Latin-1 bytes are themselves, the rest 256 + n in byte order. */
function byteSymbols(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

/** The smallest vocabulary with a tokenizer: the bytes, one merge, end-of-text. */
export const MIN_TOKENIZER_VOCAB = 258;

/** tokenizer.json of a byte-level BPE with `vocab` ids: bytes, then merges, `<|endoftext|>` last (GPT-2's order). */
export function byteLevelTokenizerJson(vocab: number): string {
  const merges = vocab - 257;
  if (merges < 1 || merges > MERGES.length)
    throw new RangeError(`byteLevelTokenizerJson: vocab ${vocab}; ${MIN_TOKENIZER_VOCAB}..${257 + MERGES.length}`);
  const symbols = [...byteSymbols(), ...MERGES.slice(0, merges).map((m) => m.replace(' ', ''))];
  const eot = vocab - 1;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      {
        id: eot,
        content: '<|endoftext|>',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      },
    ],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(symbols.map((s, i) => [s, i])),
      merges: MERGES.slice(0, merges),
    },
  });
}

/** The safetensors bytes of a random GPT2LMHeadModel (tied head): seeded, so a seed and sizes give the same bytes. */
export function randomGpt2Weights(seed: number, sizes: Gpt2Sizes): Uint8Array {
  const rng = new Random(seed);
  const H = sizes.n_embd;
  const I = 4 * H;
  const list: TensorToWrite[] = [];
  const make = (name: string, shape: number[], std: number, mean = 0) => {
    const data = rng.float32Array(
      shape.reduce((a, b) => a * b, 1),
      std,
    );
    if (mean) data.forEach((v, i) => (data[i] = v + mean));
    list.push({ name, dtype: 'F32', shape, data });
  };
  make('transformer.wte.weight', [sizes.vocab_size, H], 0.5);
  make('transformer.wpe.weight', [sizes.n_positions, H], 0.3);
  for (let i = 0; i < sizes.n_layer; i++) {
    const p = `transformer.h.${i}`;
    make(`${p}.ln_1.weight`, [H], 0.2, 1);
    make(`${p}.ln_1.bias`, [H], 0.1);
    make(`${p}.attn.c_attn.weight`, [H, 3 * H], 0.3);
    make(`${p}.attn.c_attn.bias`, [3 * H], 0.1);
    make(`${p}.attn.c_proj.weight`, [H, H], 0.2);
    make(`${p}.attn.c_proj.bias`, [H], 0.1);
    make(`${p}.ln_2.weight`, [H], 0.2, 1);
    make(`${p}.ln_2.bias`, [H], 0.1);
    make(`${p}.mlp.c_fc.weight`, [H, I], 0.2);
    make(`${p}.mlp.c_fc.bias`, [I], 0.1);
    make(`${p}.mlp.c_proj.weight`, [I, H], 0.1);
    make(`${p}.mlp.c_proj.bias`, [H], 0.1);
  }
  make('transformer.ln_f.weight', [H], 0.2, 1);
  make('transformer.ln_f.bias', [H], 0.1);
  return writeSafetensors(list, { format: 'pt' });
}

/**
 * The files of a random GPT-2 (weights drawn from `seed`): config.json and model.safetensors always;
 * tokenizer.json, tokenizer_config.json and generation_config.json when vocab_size >= MIN_TOKENIZER_VOCAB.
 * End-of-text (bos = eos) is the last id, as GPT-2's 50256.
 */
export function randomGpt2Files(seed: number, sizes: Gpt2Sizes): Record<string, string | Uint8Array> {
  const eot = sizes.vocab_size - 1;
  const config = {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: 'gelu_new',
    n_inner: null,
    layer_norm_epsilon: 1e-5,
    bos_token_id: eot,
    eos_token_id: eot,
    scale_attn_weights: true,
    ...sizes,
  };
  const files: Record<string, string | Uint8Array> = {
    'config.json': JSON.stringify(config),
    'model.safetensors': randomGpt2Weights(seed, sizes),
  };
  if (sizes.vocab_size >= MIN_TOKENIZER_VOCAB) {
    files['tokenizer.json'] = byteLevelTokenizerJson(sizes.vocab_size);
    files['tokenizer_config.json'] = JSON.stringify({
      add_bos_token: false,
      add_prefix_space: false,
      bos_token: '<|endoftext|>',
      eos_token: '<|endoftext|>',
      unk_token: '<|endoftext|>',
      model_max_length: sizes.n_positions,
      tokenizer_class: 'GPT2Tokenizer',
    });
    files['generation_config.json'] = JSON.stringify({ bos_token_id: eot, eos_token_id: eot, max_new_tokens: 7 });
  }
  return files;
}

/** randomGpt2Files written into `dir` (created); returns `dir`. */
export function writeRandomGpt2Folder(dir: string, seed: number, sizes: Gpt2Sizes): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(randomGpt2Files(seed, sizes))) writeFileSync(join(dir, name), data);
  return dir;
}
