/**
 * One description of a model: a list of ops over named tensors, built once per architecture from
 * shared blocks (src/graph/blocks.ts). Three interpreters read it: the float interpreter (GPU, and
 * its CPU reference), the planner that turns it into an integer program (src/plan/), and through
 * that program the integer interpreters (CPU specification and GPU). Nothing else knows what a
 * layer looks like.
 *
 * Shapes are symbolic: 'batch' sequences of 'query' new positions attending to 'key' positions
 * (key = past + query with a cache, key = query without); an encoder-decoder's decoder attends
 * to its encoder's 'source' positions. Token tensors are [batch, query, width] (the encoder of an
 * encoder-decoder: [batch, source, width]); a tensor of one row per sequence is [batch, width].
 * Widths are numbers. Tied weights are not an op: the importer gives both parameter names the
 * same tensor (GPT-2's lm_head is its word embeddings).
 */

export type Dim = number | 'batch' | 'query' | 'key' | 'source';
export type Shape = readonly Dim[];

/** Elementwise nonlinearities a feed-forward or a head may use. */
export type ActivationFn = 'gelu' | 'gelu_tanh' | 'silu' | 'relu' | 'tanh';

export interface TensorSpec {
  id: string;
  shape: Shape;
}

/**
 * (word[id] + tokenType[type]) + position[pos], each a table row (parameter names, [rows, width]).
 * `scale` multiplies the word row (Marian's sqrt(d_model)); `position: 'sinusoidal'` is the fixed
 * table transformers builds for Marian instead of a learned one.
 */
export interface EmbedOp {
  kind: 'embed';
  out: string;
  word: string;
  position: string | 'sinusoidal';
  tokenType?: string;
  scale?: number;
}

/** y = x W^T + b over every row of x ('all'), or over the first token of each sequence ('first'). */
export interface LinearOp {
  kind: 'linear';
  input: string;
  out: string;
  /** Parameter name prefix: `${param}.weight` [out, in], `${param}.bias` [out]. */
  param: string;
  rows: 'all' | 'first';
}

/**
 * Multi-head scaled dot-product attention: per head h of size d, softmax(q_h k_h^T / sqrt(d) over
 * the keys the mask allows) v_h, heads concatenated. Keys are masked where the batch's attention
 * mask is 0 and, when causal, beyond the query's own position.
 */
export interface AttentionOp {
  kind: 'attention';
  q: string;
  k: string;
  v: string;
  out: string;
  heads: number;
  causal: boolean;
  /** Decoders: keys and values of earlier positions are kept between runs. */
  cache?: boolean;
}

export interface AddOp {
  kind: 'add';
  a: string;
  b: string;
  out: string;
}

export interface LayerNormOp {
  kind: 'layerNorm';
  input: string;
  out: string;
  /** `${param}.gamma`, `${param}.beta`. */
  param: string;
  eps: number;
}

export interface ActivationOp {
  kind: 'activation';
  input: string;
  out: string;
  fn: ActivationFn;
}

/** One vector per sequence: the mean over real tokens, or the first token. */
export interface PoolOp {
  kind: 'pool';
  input: string;
  out: string;
  mode: 'mean' | 'first';
}

export type GraphOp = EmbedOp | LinearOp | AttentionOp | AddOp | LayerNormOp | ActivationOp | PoolOp;

export type ModelKind = 'encoder' | 'decoder' | 'encoder-decoder';

export type OutputKind = 'logits' | 'pooled' | 'token-logits' | 'lm-logits';

export interface ModelGraph {
  kind: ModelKind;
  tensors: TensorSpec[];
  ops: GraphOp[];
  /**
   * What a forward returns: logits [batch, labels] (classifiers), pooled vectors [batch, hidden],
   * per-token logits [batch, query, labels] (token classifiers), or next-token logits
   * [batch, query, vocab] (language models).
   */
  output: { tensor: string; kind: OutputKind };
}

/** The tensors an op reads. */
export function opInputs(op: GraphOp): string[] {
  switch (op.kind) {
    case 'embed':
      return [];
    case 'attention':
      return [op.q, op.k, op.v];
    case 'add':
      return [op.a, op.b];
    default:
      return [op.input];
  }
}

/** The ops that read each tensor, in order. */
export function consumers(graph: ModelGraph): Map<string, GraphOp[]> {
  const out = new Map<string, GraphOp[]>();
  for (const op of graph.ops) {
    for (const t of opInputs(op)) {
      const list = out.get(t) ?? [];
      list.push(op);
      out.set(t, list);
    }
  }
  return out;
}

export function tensorSpec(graph: ModelGraph, id: string): TensorSpec {
  const t = graph.tensors.find((x) => x.id === id);
  if (!t) throw new Error(`graph: no tensor "${id}"`);
  return t;
}

/** The numeric width (last dimension) of a tensor. */
export function widthOf(spec: TensorSpec): number {
  const w = spec.shape[spec.shape.length - 1];
  if (typeof w !== 'number') throw new Error(`graph: tensor "${spec.id}" has a symbolic last dimension`);
  return w;
}
