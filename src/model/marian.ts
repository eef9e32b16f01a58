/**
 * What an encoder-decoder translation model (MarianMTModel) needs beyond its import: its graph
 * (marianSpecs sized by the config), source and target batches, its tokenizer (tokenizer.json
 * through @huggingface/tokenizers) and a float greedy translation on the CPU interpreter.
 *
 * transformers' semantics kept here: source sentences end with `</s>` (MarianTokenizer appends
 * eos, no BOS); the decoder's inputs start with decoder_start_token_id (opus-mt: the pad id) and
 * are the target shifted right; both stacks number positions from 0 (MarianSinusoidalPositional-
 * Embedding counts from past_key_values_length, 0 for a whole sequence), so batches are padded on
 * the right, where a padded source position is masked and a padded target position is never seen
 * by a real one (causal).
 */
import type { Tokenizer } from '@huggingface/tokenizers';
import type { MarianConfig, MarianModel } from '../core/types.js';
import { FloatGraphIncremental } from '../cpu/float-incremental.js';
import { marianSpecs } from '../graph/architectures.js';
import { buildEncoderDecoderGraph } from '../graph/blocks.js';
import type { ActivationFn, ModelGraph } from '../graph/types.js';
import { checkTokenizerVocab, loadTokenizerJson } from './hf-tokenizer.js';
import type { ModelFiles } from './sources.js';

const GRAPH_ACTIVATION: Record<MarianConfig['activation'], ActivationFn> = {
  silu: 'silu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  relu: 'relu',
};

/** The float graph of a Marian config: encoder over 'source' positions, decoder, LM head (+ final_logits_bias). */
export function marianGraph(config: MarianConfig): ModelGraph {
  const { encoder, decoder } = marianSpecs({
    activation: GRAPH_ACTIVATION[config.activation],
    hidden: config.hiddenSize,
    heads: config.decoderHeads,
    layers: config.decoderLayers,
    intermediate: config.decoderFfnSize,
    vocab: config.vocabSize,
    eps: config.layerNormEps,
    encoderLayers: config.encoderLayers,
    encoderHeads: config.encoderHeads,
    encoderIntermediate: config.encoderFfnSize,
    scaleEmbedding: config.scaleEmbedding,
  });
  return buildEncoderDecoderGraph(encoder, decoder);
}

/** The tensor holding the encoder's output (last_hidden_state), [batch * source, hidden]. */
export function encoderOutputId(config: MarianConfig): string {
  return `encoder.layer.${config.encoderLayers - 1}.output_norm`;
}

import { marianBatches } from '../core/token-batch.js';

export { marianBatch, marianBatches } from '../core/token-batch.js';

/** Rows [b * seqLen, b * seqLen + length) of a [batch * seqLen, width] tensor. */
export function sequenceRows(
  x: Float32Array | Float64Array,
  b: number,
  seqLen: number,
  length: number,
  width: number,
): Float32Array | Float64Array {
  return x.subarray(b * seqLen * width, (b * seqLen + length) * width);
}

export interface MarianTokenizer {
  readonly tokenizer: Tokenizer;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  /** Source ids as MarianTokenizer gives them: the text's tokens, then eos. */
  encodeSource(text: string): number[];
  /** Target ids (labels): the text's tokens, then eos. The decoder's inputs are these shifted right. */
  encodeTarget(text: string): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

/**
 * The tokenizer of a Marian folder from tokenizer.json. opus-mt folders hold SentencePiece models
 * (source.spm, target.spm) instead, which @huggingface/tokenizers cannot read: refused by name.
 * The same vocabulary serves both languages (shared embeddings).
 */
export async function loadMarianTokenizer(files: ModelFiles, config: MarianConfig): Promise<MarianTokenizer> {
  if (!(await files.has('tokenizer.json'))) {
    const spm = (await files.has('source.spm'))
      ? ' (the folder has source.spm: convert it to tokenizer.json first)'
      : '';
    throw new Error(`${files.describe}: tokenizer.json not found (the tokenizer)${spm}`);
  }
  const { tokenizer, tokConfig, where } = await loadTokenizerJson(files, 'the tokenizer');
  return createMarianTokenizer(tokenizer, tokConfig, config, where);
}

export function createMarianTokenizer(
  tokenizer: Tokenizer,
  tokConfig: Record<string, unknown>,
  config: MarianConfig,
  where = 'tokenizer',
): MarianTokenizer {
  checkTokenizerVocab(tokenizer, config.vocabSize, where);
  // An end-of-sentence or padding token of another id than the config's would end sources and
  // translations on the wrong token.
  for (const [key, want] of [
    ['eos_token', config.eosTokenId],
    ['pad_token', config.padTokenId],
  ] as const) {
    const token = tokConfig[key];
    const content = typeof token === 'string' ? token : (token as { content?: unknown } | null | undefined)?.content;
    if (typeof content !== 'string') continue;
    const id = idOf(tokenizer, content);
    if (id !== want) {
      throw new Error(`${where}: ${key} "${content}" has id ${id} but config.json says ${key}_id ${want}`);
    }
  }
  const encode = (text: string): number[] => {
    if (typeof text !== 'string') throw new TypeError('encode: the text is not a string');
    // eos appended here rather than by the post-processor, so that the source ends with exactly
    // one eos whatever tokenizer.json's template says.
    return [...tokenizer.encode(text, { add_special_tokens: false }).ids, config.eosTokenId];
  };
  return {
    tokenizer,
    eosTokenId: config.eosTokenId,
    padTokenId: config.padTokenId,
    encodeSource: encode,
    encodeTarget: encode,
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

function idOf(tokenizer: Tokenizer, token: string): number | undefined {
  for (const [id, added] of tokenizer.get_added_tokens_decoder()) if (added.content === token) return id;
  return tokenizer.token_to_id(token);
}

/**
 * Greedy translation in float64 on the CPU, one token per step (FloatGraphIncremental: the encoder
 * once, kept keys and values; its logits are the whole-sequence interpreter's, tested bit for
 * bit in test/float-incremental.test.ts): argmax with the pad id banned (opus-mt's generation_config bad_words_ids), stop at eos;
 * at `maxNewTokens` the last token is forced to forced_eos_token_id when the config names one (as
 * generate() does at max_length). Returns the generated ids after decoder_start_token_id.
 */
export function greedyTranslateCpu(
  model: MarianModel,
  source: readonly number[],
  options: { maxNewTokens: number; graph?: ModelGraph },
): number[] {
  const { config, params } = model;
  const graph = options.graph ?? marianGraph(config);
  const out: number[] = [];
  const V = config.vocabSize;
  if (options.maxNewTokens > config.maxPositions)
    throw new RangeError(
      `greedy translation: maxNewTokens = ${options.maxNewTokens} exceeds the model's ${config.maxPositions} positions`,
    );
  const runner = new FloatGraphIncremental(graph, params);
  runner.start(marianBatches(config, [source], [[config.decoderStartTokenId]]).source);
  let row = runner.step([config.decoderStartTokenId]);
  for (let step = 0; step < options.maxNewTokens; step++) {
    if (step > 0) row = runner.step([out[out.length - 1]]);
    let next: number;
    if (step === options.maxNewTokens - 1 && config.forcedEosTokenId !== undefined) {
      next = config.forcedEosTokenId;
    } else {
      next = -1;
      for (let v = 0; v < V; v++) if (v !== config.padTokenId && (next < 0 || row[v] > row[next])) next = v;
    }
    out.push(next);
    if (next === config.eosTokenId) break;
  }
  return out;
}
