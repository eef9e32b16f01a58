/**
 * Each supported family as data: what its config means in terms of the shared blocks. Adding a
 * family is adding an entry here (and its checkpoint names in src/model/weights.ts).
 */
import type { EncoderConfig, EncoderModel, EncoderWeights, Tensor } from '../core/types.js';
import { type ArchitectureSpec, buildGraph } from './blocks.js';
import type { ActivationFn, ModelGraph } from './types.js';

/** Head activation of each classifier family (BERT pooler: tanh; DistilBERT pre_classifier: ReLU; RoBERTa: tanh). */
const HEAD_ACTIVATION = { bert: 'tanh', distilbert: 'relu', roberta: 'tanh' } as const;

/** A classifier's dense layer before the output projection: the family's, unless the weights say otherwise. */
export type HeadDense = { activation: 'tanh' | 'relu' } | null;

export function familyHeadDense(config: EncoderConfig): HeadDense {
  return { activation: HEAD_ACTIVATION[config.family] };
}

export function encoderSpec(config: EncoderConfig, dense: HeadDense = familyHeadDense(config)): ArchitectureSpec {
  const classify = config.task === 'sequence-classification';
  const tag = config.task === 'token-classification';
  return {
    kind: 'encoder',
    hidden: config.hiddenSize,
    heads: config.numHeads,
    intermediate: config.intermediateSize,
    layers: config.numLayers,
    eps: config.layerNormEps,
    embeddings: { tokenTypes: config.typeVocabSize > 0, positions: 'learned', norm: true },
    layer: { norm: 'post', activation: config.hiddenAct, causal: false },
    finalNorm: false,
    head: classify
      ? { kind: 'classification', labels: config.labels.length, dense: dense ?? undefined }
      : tag
        ? { kind: 'token-classification', labels: config.labels.length }
        : { kind: 'pool', mode: 'mean' },
  };
}

export function encoderGraph(config: EncoderConfig, dense: HeadDense | 'family' = 'family'): ModelGraph {
  return buildGraph(encoderSpec(config, dense === 'family' ? familyHeadDense(config) : dense));
}

/** The graph of a float model: its head as its weights have it. */
export function modelGraph(model: EncoderModel): ModelGraph {
  const head = model.weights.head;
  return encoderGraph(
    model.config,
    head?.dense ? { activation: head.activation ?? HEAD_ACTIVATION[model.config.family] } : null,
  );
}

/** Float parameters by the names the graph uses. */
export type Params = Map<string, Tensor>;

export function encoderParams(weights: EncoderWeights): Params {
  const p: Params = new Map();
  const linear = (name: string, l: { weight: Tensor; bias: Tensor }) => {
    p.set(`${name}.weight`, l.weight);
    p.set(`${name}.bias`, l.bias);
  };
  const norm = (name: string, n: { gamma: Tensor; beta: Tensor }) => {
    p.set(`${name}.gamma`, n.gamma);
    p.set(`${name}.beta`, n.beta);
  };
  p.set('embeddings.word', weights.wordEmbeddings);
  p.set('embeddings.position', weights.positionEmbeddings);
  if (weights.tokenTypeEmbeddings) p.set('embeddings.token_type', weights.tokenTypeEmbeddings);
  norm('embeddings.norm', weights.embeddingNorm);
  weights.layers.forEach((l, i) => {
    const x = `layer.${i}`;
    linear(`${x}.query`, l.query);
    linear(`${x}.key`, l.key);
    linear(`${x}.value`, l.value);
    linear(`${x}.attention_output`, l.attentionOutput);
    norm(`${x}.attention_norm`, l.attentionNorm);
    linear(`${x}.intermediate`, l.intermediate);
    linear(`${x}.output`, l.output);
    norm(`${x}.output_norm`, l.outputNorm);
  });
  if (weights.head?.dense) linear('head.dense', weights.head.dense);
  if (weights.head) linear('head.output', weights.head.output);
  return p;
}

export function param(params: Params, name: string): Tensor {
  const t = params.get(name);
  if (!t) throw new Error(`model: no parameter "${name}"`);
  return t;
}

/** Sizes a decoder-only language model needs (GPT-2's n_embd, n_head, n_layer, n_inner, n_positions, vocab_size). */
export interface DecoderSizes {
  /** The feed-forward nonlinearity (GPT-2's gelu_new is 'gelu_tanh', the default; 'gelu' for configs that say so). */
  activation?: ActivationFn;
  hidden: number;
  heads: number;
  layers: number;
  intermediate: number;
  vocab: number;
  eps: number;
}

/**
 * GPT-2: learned positions, no token types, pre-LN layers with causal self-attention over a cache,
 * the tanh GELU (`gelu_new`), a final LayerNorm, and the LM head tied to the word embeddings.
 */
export function gpt2Spec(s: DecoderSizes): ArchitectureSpec {
  return {
    kind: 'decoder',
    hidden: s.hidden,
    heads: s.heads,
    intermediate: s.intermediate,
    layers: s.layers,
    eps: s.eps,
    embeddings: { tokenTypes: false, positions: 'learned', norm: false },
    layer: { norm: 'pre', activation: s.activation ?? 'gelu_tanh', causal: true, cache: true },
    finalNorm: true,
    head: { kind: 'lm', vocab: s.vocab },
  };
}

/** Marian's sizes: the decoder's are DecoderSizes', the encoder's may differ (MarianConfig sets them apart). */
export interface MarianSizes extends DecoderSizes {
  encoderLayers: number;
  encoderHeads?: number;
  encoderIntermediate?: number;
  /** scale_embedding: word embeddings times sqrt(hidden) (default true, as opus-mt has it). */
  scaleEmbedding?: boolean;
}

/**
 * Marian (opus-mt): sinusoidal positions, embeddings scaled by sqrt(d_model) when scale_embedding,
 * post-LN layers (SiLU for opus-mt's swish), no embedding LayerNorm and no final one; the decoder
 * adds causal self-attention with a cache and cross-attention; the LM head is tied to the shared
 * embeddings (or lm_head.weight), with final_logits_bias as its bias.
 */
export function marianSpecs(s: MarianSizes): {
  encoder: ArchitectureSpec;
  decoder: ArchitectureSpec;
} {
  const common = {
    hidden: s.hidden,
    eps: s.eps,
    embeddings: {
      tokenTypes: false,
      positions: 'sinusoidal' as const,
      scale: (s.scaleEmbedding ?? true) ? Math.sqrt(s.hidden) : undefined,
      norm: false,
    },
    finalNorm: false,
  };
  const activation = s.activation ?? 'silu';
  return {
    encoder: {
      ...common,
      kind: 'encoder-decoder',
      heads: s.encoderHeads ?? s.heads,
      intermediate: s.encoderIntermediate ?? s.intermediate,
      layers: s.encoderLayers,
      layer: { norm: 'post', activation, causal: false },
      head: { kind: 'lm', vocab: s.vocab },
    },
    decoder: {
      ...common,
      kind: 'encoder-decoder',
      heads: s.heads,
      intermediate: s.intermediate,
      layers: s.layers,
      layer: { norm: 'post', activation, causal: true, cache: true },
      head: { kind: 'lm', vocab: s.vocab },
    },
  };
}
