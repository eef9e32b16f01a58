/**
 * The encoder as this runtime sees it, independent of the checkpoint's naming: a config, float
 * weights in a canonical structure, and tokenized batches. The importer (src/model/load.ts) produces
 * these; the float reference model and the integer planner consume them.
 */

export type EncoderFamily = 'bert' | 'distilbert' | 'roberta';

/** What the model's head does. */
export type EncoderTask = 'sequence-classification' | 'token-classification' | 'embedding';

export interface EncoderConfig {
  /** The Hugging Face architecture name, e.g. BertForSequenceClassification or BertModel. */
  architecture: string;
  family: EncoderFamily;
  task: EncoderTask;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositions: number;
  /** 0 for models without token-type embeddings (DistilBERT). */
  typeVocabSize: number;
  layerNormEps: number;
  /** Only exact-erf GELU ('gelu') is supported; others are refused at import. */
  hiddenAct: 'gelu';
  padTokenId: number;
  /** RoBERTa: position ids start at padTokenId + 1; 0 for BERT/DistilBERT. */
  positionOffset: number;
  /** Classification (of sequences or of tokens): label names by index (length = number of labels). */
  labels: string[];
}

/** A float tensor, row-major. Linear weights are [out, in] as in PyTorch. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface Linear {
  weight: Tensor;
  bias: Tensor;
}

export interface LayerNormWeights {
  gamma: Tensor;
  beta: Tensor;
}

export interface EncoderLayerWeights {
  query: Linear;
  key: Linear;
  value: Linear;
  attentionOutput: Linear;
  attentionNorm: LayerNormWeights;
  intermediate: Linear;
  output: Linear;
  outputNorm: LayerNormWeights;
}

/**
 * The classification head, in order: an optional dense + activation before the output projection.
 * BERT: pooler (first token, dense, tanh) then classifier. DistilBERT: pre_classifier (first token,
 * dense, ReLU) then classifier. RoBERTa: classifier.dense (first token, dense, tanh) then out_proj.
 */
export interface ClassifierHead {
  dense?: Linear;
  activation?: 'tanh' | 'relu';
  output: Linear;
}

export interface EncoderWeights {
  wordEmbeddings: Tensor;
  positionEmbeddings: Tensor;
  tokenTypeEmbeddings?: Tensor;
  embeddingNorm: LayerNormWeights;
  layers: EncoderLayerWeights[];
  /** Present for sequence classification, and for token classification (its `output` alone, on every token). */
  head?: ClassifierHead;
}

export interface EncoderModel {
  config: EncoderConfig;
  weights: EncoderWeights;
}

/** A padded batch: row-major [batch, seqLen]. */
export interface TokenBatch {
  batch: number;
  seqLen: number;
  inputIds: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array;
  tokenTypeIds: Int32Array;
  positionIds: Int32Array;
}

/** Decoder-only language models this runtime imports (GPT-2 and its distillations). */
export type DecoderFamily = 'gpt2';

/**
 * A decoder-only language model's hyper-parameters, independent of the checkpoint's spelling
 * (GPT-2's n_embd, n_layer, ...; src/model/config.ts maps them).
 */
export interface DecoderConfig {
  /** The Hugging Face architecture name, e.g. GPT2LMHeadModel. */
  architecture: string;
  family: DecoderFamily;
  task: 'text-generation';
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** GPT-2's n_inner, or 4 * hiddenSize when the config leaves it null. */
  intermediateSize: number;
  vocabSize: number;
  /** The learned position table's rows (n_positions): the longest sequence, prompt and continuation. */
  maxPositions: number;
  layerNormEps: number;
  /** 'gelu_new' is the tanh approximation GPT-2 uses; 'gelu' the exact erf form. */
  hiddenAct: 'gelu_new' | 'gelu';
  bosTokenId: number;
  eosTokenId: number;
  /** Absent for GPT-2, which has no padding token (batches pad with any id under mask 0). */
  padTokenId?: number;
  /** Whether the LM head is the word embedding matrix (GPT-2's tie_word_embeddings, default true). */
  tiedEmbeddings: boolean;
}

export type ModelConfig = EncoderConfig | DecoderConfig | MarianConfig;

/**
 * A float decoder: its config and its parameters under the graph's names (src/graph/architectures.ts
 * style: `embeddings.word`, `layer.{i}.query.weight`, ..., `final_norm.gamma`, `lm_head.weight`),
 * linear weights [out, in]. A tied LM head is the word embeddings' Tensor itself, not a copy.
 */
export interface DecoderModel {
  config: DecoderConfig;
  params: Map<string, Tensor>;
}

/** Encoder-decoder translation models this runtime imports (MarianMTModel: Helsinki-NLP opus-mt). */
export type EncoderDecoderFamily = 'marian';

/**
 * An encoder-decoder's hyper-parameters, independent of the checkpoint's spelling (MarianConfig's
 * d_model, encoder_layers, decoder_attention_heads, ...; src/model/config.ts maps them). The
 * embeddings are shared by both stacks and the LM head (the only layout opus-mt uses).
 */
export interface MarianConfig {
  /** The Hugging Face architecture name: MarianMTModel. */
  architecture: string;
  family: EncoderDecoderFamily;
  task: 'translation';
  hiddenSize: number;
  encoderLayers: number;
  decoderLayers: number;
  encoderHeads: number;
  decoderHeads: number;
  encoderFfnSize: number;
  decoderFfnSize: number;
  /** Rows of the shared embedding table, the LM head and final_logits_bias. */
  vocabSize: number;
  /** Positions of the static sinusoidal tables (both stacks number from 0). */
  maxPositions: number;
  /** transformers' Marian LayerNorms use nn.LayerNorm's default, 1e-5; no config key sets it. */
  layerNormEps: number;
  /** The feed-forward nonlinearity: opus-mt's "swish" is SiLU. */
  activation: 'silu' | 'gelu' | 'gelu_new' | 'relu';
  /** Word embeddings are multiplied by sqrt(hiddenSize) (scale_embedding). */
  scaleEmbedding: boolean;
  padTokenId: number;
  eosTokenId: number;
  /** The first decoder input (opus-mt: the pad id). */
  decoderStartTokenId: number;
  /** generate() forces it as the last token at max_length, when the config names one. */
  forcedEosTokenId?: number;
  /** Whether the LM head is the shared embedding (tie_word_embeddings, default true) or its own lm_head.weight. */
  tiedEmbeddings: boolean;
}

/**
 * A float encoder-decoder: its config and its parameters under the graph's names
 * (buildEncoderDecoderGraph: `encoder.embeddings.word`, `encoder.layer.{i}.query.weight`,
 * `decoder.layer.{i}.cross_key.weight`, ..., `lm_head.weight`, `lm_head.bias` = final_logits_bias).
 * The shared embedding is one Tensor under both stacks' word names and the LM head, not copies.
 */
export interface MarianModel {
  config: MarianConfig;
  params: Map<string, Tensor>;
}
