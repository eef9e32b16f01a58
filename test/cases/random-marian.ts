/**
 * A random small MarianMTModel, written in memory as save_pretrained writes it (config.json,
 * model.safetensors), for the tests of the integer encoder-decoder (test/int-marian-encdec.test.ts)
 * and of its .i8t files and conversion (test/int-translator-file.test.ts). With `tokenizer`, also a
 * toy character BPE tokenizer.json over the same 37 ids (</s> 0, <unk> 1, letters, '.', a few
 * merges, <pad> 36), tokenizer_config.json and generation_config.json: a folder `convert` takes.
 */
import { type TensorToWrite, writeSafetensors } from '../../src/model/safetensors-write.js';
import { type ModelFiles, memorySource } from '../../src/model/sources.js';
import { Random } from '../../src/util/random.js';

export const V = 37;
export const PAD = 36;
export const EOS = 0;

/** Head sizes multiples of 4 (the packed int8 attention): encoder 2 x 8, decoder 4 x 4; depths differ. */
export const CONFIG = {
  architectures: ['MarianMTModel'],
  model_type: 'marian',
  activation_function: 'swish',
  d_model: 16,
  encoder_layers: 2,
  decoder_layers: 3,
  encoder_attention_heads: 2,
  decoder_attention_heads: 4,
  encoder_ffn_dim: 24,
  decoder_ffn_dim: 32,
  vocab_size: V,
  decoder_vocab_size: V,
  max_position_embeddings: 40,
  scale_embedding: true,
  share_encoder_decoder_embeddings: true,
  pad_token_id: PAD,
  decoder_start_token_id: PAD,
  eos_token_id: EOS,
  forced_eos_token_id: EOS,
  is_encoder_decoder: true,
};

/** opus-mt's generation_config.json, sized for this model. */
export const GENERATION = {
  bad_words_ids: [[PAD]],
  decoder_start_token_id: PAD,
  eos_token_id: EOS,
  forced_eos_token_id: EOS,
  max_length: 40,
  num_beams: 4,
  pad_token_id: PAD,
};

/** Merges of the toy BPE, in order, ids 29.. (each joins two symbols that exist before it). */
const MERGES = ['t h', 'th e', 'a n', 'i n', 'o n', 'e r', 'a t'];

function tokenizerJson(): string {
  const vocab: Record<string, number> = { '</s>': EOS, '<unk>': 1 };
  [...'abcdefghijklmnopqrstuvwxyz'].forEach((c, i) => (vocab[c] = 2 + i));
  vocab['.'] = 28;
  MERGES.forEach((m, i) => (vocab[m.replace(' ', '')] = 29 + i));
  vocab['<pad>'] = PAD;
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(EOS, '</s>'), special(1, '<unk>'), special(PAD, '<pad>')],
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES,
    },
  });
}

export interface RandomMarianOptions {
  /** Add tokenizer.json, tokenizer_config.json and generation_config.json. */
  tokenizer?: boolean;
  /** The source's description (default 'random-marian'). */
  describe?: string;
  /** Standard deviation of the shared embedding (default 0.3). */
  embeddingStd?: number;
  /** Standard deviation of final_logits_bias (default 0.5), and amounts added to some ids' bias. */
  logitsBiasStd?: number;
  logitsBiasAdd?: Record<number, number>;
}

export function randomMarianFiles(seed: number, options: RandomMarianOptions = {}): ModelFiles {
  const rng = new Random(seed);
  const H = CONFIG.d_model;
  const tensors: TensorToWrite[] = [];
  const make = (name: string, shape: number[], std: number, mean = 0) => {
    const data = rng.float32Array(
      shape.reduce((a, b) => a * b, 1),
      std,
    );
    if (mean) data.forEach((v, i) => (data[i] = v + mean));
    tensors.push({ name, dtype: 'F32', shape, data });
  };
  const linear = (name: string, outF: number, inF: number, std: number) => {
    make(`${name}.weight`, [outF, inF], std);
    make(`${name}.bias`, [outF], 0.1);
  };
  const norm = (name: string) => {
    make(`${name}.weight`, [H], 0.2, 1);
    make(`${name}.bias`, [H], 0.1);
  };
  const attention = (name: string) => {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${name}.${p}`, H, H, 0.3);
  };
  make('model.shared.weight', [V, H], options.embeddingStd ?? 0.3);
  for (const stack of ['encoder', 'decoder'] as const) {
    const I = CONFIG[`${stack}_ffn_dim`];
    for (let i = 0; i < CONFIG[`${stack}_layers`]; i++) {
      const p = `model.${stack}.layers.${i}`;
      attention(`${p}.self_attn`);
      norm(`${p}.self_attn_layer_norm`);
      if (stack === 'decoder') {
        attention(`${p}.encoder_attn`);
        norm(`${p}.encoder_attn_layer_norm`);
      }
      linear(`${p}.fc1`, I, H, 0.4);
      linear(`${p}.fc2`, H, I, 0.25);
      norm(`${p}.final_layer_norm`);
    }
  }
  make('final_logits_bias', [1, V], options.logitsBiasStd ?? 0.5);
  const bias = tensors[tensors.length - 1].data;
  for (const [id, add] of Object.entries(options.logitsBiasAdd ?? {})) bias[Number(id)] += add;
  const files: Record<string, string | Uint8Array> = {
    'config.json': JSON.stringify(CONFIG),
    'model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
  if (options.tokenizer) {
    files['tokenizer.json'] = tokenizerJson();
    files['tokenizer_config.json'] = JSON.stringify({
      eos_token: '</s>',
      pad_token: '<pad>',
      unk_token: '<unk>',
      model_max_length: CONFIG.max_position_embeddings,
      tokenizer_class: 'PreTrainedTokenizerFast',
    });
    files['generation_config.json'] = JSON.stringify(GENERATION);
  }
  return memorySource(files, options.describe ?? 'random-marian');
}
