/**
 * The shared blocks every architecture is assembled from, and the architectures themselves as data
 * (`ArchitectureSpec`). A block adds ops and tensors to a graph under a name prefix; tensor ids are
 * the names calibration ranges, captures and plan dumps use (e.g. `layer.3.attention_norm`).
 */
import type { ActivationFn, Dim, GraphOp, ModelGraph, ModelKind, TensorSpec } from './types.js';

export type NormPlacement = 'post' | 'pre';

export interface ArchitectureSpec {
  kind: ModelKind;
  hidden: number;
  heads: number;
  intermediate: number;
  layers: number;
  eps: number;
  embeddings: { tokenTypes: boolean; positions: 'learned' | 'sinusoidal'; scale?: number; norm: boolean };
  /** `cache`: keys and values of earlier positions kept between runs (decoders). */
  layer: { norm: NormPlacement; activation: ActivationFn; causal: boolean; cache?: boolean; crossAttention?: boolean };
  /** A LayerNorm after the last layer (pre-LN stacks). */
  finalNorm: boolean;
  head:
    | { kind: 'classification'; labels: number; dense?: { activation: 'tanh' | 'relu' } }
    /** A label's logit at every token (token classification: the classifier without a pool). */
    | { kind: 'token-classification'; labels: number }
    | { kind: 'pool'; mode: 'mean' | 'first' }
    /** Next-token logits over the vocabulary at every position (`lm_head`, tied or not, with a bias). */
    | { kind: 'lm'; vocab: number };
}

const TOKENS = (width: number, positions: Dim = 'query'): Dim[] => ['batch', positions, width];

export class GraphBuilder {
  readonly tensors: TensorSpec[] = [];
  readonly ops: GraphOp[] = [];
  /** Prefix of every name the blocks make ('encoder.' / 'decoder.' in an encoder-decoder). */
  prefix = '';
  /** The positions token tensors run over: 'query', or an encoder-decoder's encoder: 'source'. */
  positions: Dim = 'query';

  name(local: string): string {
    return this.prefix + local;
  }

  tensor(id: string, shape: Dim[]): string {
    if (this.tensors.some((t) => t.id === id)) throw new Error(`graph: tensor "${id}" defined twice`);
    this.tensors.push({ id, shape });
    return id;
  }

  op(op: GraphOp): void {
    this.ops.push(op);
  }

  linear(id: string, input: string, param: string, width: number, rows: 'all' | 'first' = 'all'): string {
    const out = this.tensor(id, rows === 'all' ? TOKENS(width, this.positions) : ['batch', width]);
    this.op({ kind: 'linear', input, out, param, rows });
    return out;
  }

  layerNorm(id: string, input: string, param: string, eps: number, width: number): string {
    const out = this.tensor(id, TOKENS(width, this.positions));
    this.op({ kind: 'layerNorm', input, out, param, eps });
    return out;
  }

  add(id: string, a: string, b: string, width: number): string {
    const out = this.tensor(id, TOKENS(width, this.positions));
    this.op({ kind: 'add', a, b, out });
    return out;
  }
}

/** Token embeddings, then (post-LN stacks) their LayerNorm: `embeddings.sum`, `embeddings.norm`. */
export function embeddingsBlock(g: GraphBuilder, spec: ArchitectureSpec): string {
  const e = spec.embeddings;
  const n = (x: string) => g.name(`embeddings.${x}`);
  const sum = g.tensor(n('sum'), TOKENS(spec.hidden, g.positions));
  g.op({
    kind: 'embed',
    out: sum,
    word: n('word'),
    position: e.positions === 'learned' ? n('position') : 'sinusoidal',
    tokenType: e.tokenTypes ? n('token_type') : undefined,
    scale: e.scale,
  });
  return e.norm ? g.layerNorm(n('norm'), sum, n('norm'), spec.eps, spec.hidden) : sum;
}

/** q, k, v projections, attention, output projection: returns the projection's output. */
export function selfAttentionBlock(g: GraphBuilder, p: string, x: string, spec: ArchitectureSpec): string {
  const H = spec.hidden;
  const q = g.linear(`${p}.query`, x, `${p}.query`, H);
  const k = g.linear(`${p}.key`, x, `${p}.key`, H);
  const v = g.linear(`${p}.value`, x, `${p}.value`, H);
  const context = g.tensor(`${p}.context`, TOKENS(H, g.positions));
  g.op({
    kind: 'attention',
    q,
    k,
    v,
    out: context,
    heads: spec.heads,
    causal: spec.layer.causal,
    cache: spec.layer.cache,
  });
  return g.linear(`${p}.attention_output`, context, `${p}.attention_output`, H);
}

/**
 * Attention of the decoder's positions (queries from `x`) over the encoder's output `memory`
 * (keys and values, [batch, source, hidden]): computed once per source, reused at every step.
 */
export function crossAttentionBlock(
  g: GraphBuilder,
  p: string,
  x: string,
  memory: string,
  spec: ArchitectureSpec,
): string {
  const H = spec.hidden;
  const q = g.linear(`${p}.cross_query`, x, `${p}.cross_query`, H);
  const positions = g.positions;
  g.positions = 'source';
  const k = g.linear(`${p}.cross_key`, memory, `${p}.cross_key`, H);
  const v = g.linear(`${p}.cross_value`, memory, `${p}.cross_value`, H);
  g.positions = positions;
  const context = g.tensor(`${p}.cross_context`, TOKENS(H, g.positions));
  g.op({ kind: 'attention', q, k, v, out: context, heads: spec.heads, causal: false });
  return g.linear(`${p}.cross_output`, context, `${p}.cross_output`, H);
}

/** Up-projection, nonlinearity, down-projection. */
export function feedForwardBlock(g: GraphBuilder, p: string, x: string, spec: ArchitectureSpec): string {
  const up = g.linear(`${p}.intermediate`, x, `${p}.intermediate`, spec.intermediate);
  const fn = spec.layer.activation;
  const act = g.tensor(`${p}.${fn.startsWith('gelu') ? 'gelu' : fn}`, TOKENS(spec.intermediate, g.positions));
  g.op({ kind: 'activation', input: up, out: act, fn });
  return g.linear(`${p}.output`, act, `${p}.output`, spec.hidden);
}

/**
 * A Transformer layer. Post-LN (BERT): h1 = LN(x + attn(x)), h = LN(h1 + ffn(h1)).
 * Pre-LN (GPT-2): h1 = x + attn(LN(x)), h = h1 + ffn(LN(h1)).
 */
export function transformerLayer(
  g: GraphBuilder,
  i: number,
  x: string,
  spec: ArchitectureSpec,
  memory?: string,
): string {
  const p = g.name(`layer.${i}`);
  const H = spec.hidden;
  if (spec.layer.crossAttention && (!memory || spec.layer.norm !== 'post')) {
    throw new Error('graph: cross-attention needs the encoder output and (as in Marian) post-LN layers');
  }
  if (spec.layer.norm === 'post') {
    const attn = selfAttentionBlock(g, p, x, spec);
    const r1 = g.add(`${p}.attention_residual`, attn, x, H);
    let h1 = g.layerNorm(`${p}.attention_norm`, r1, `${p}.attention_norm`, spec.eps, H);
    if (spec.layer.crossAttention && memory) {
      const cross = crossAttentionBlock(g, p, h1, memory, spec);
      const rc = g.add(`${p}.cross_residual`, cross, h1, H);
      h1 = g.layerNorm(`${p}.cross_norm`, rc, `${p}.cross_norm`, spec.eps, H);
    }
    const f = feedForwardBlock(g, p, h1, spec);
    const r2 = g.add(`${p}.output_residual`, f, h1, H);
    return g.layerNorm(`${p}.output_norm`, r2, `${p}.output_norm`, spec.eps, H);
  }
  const n1 = g.layerNorm(`${p}.attention_norm`, x, `${p}.attention_norm`, spec.eps, H);
  const attn = selfAttentionBlock(g, p, n1, spec);
  const r1 = g.add(`${p}.attention_residual`, attn, x, H);
  const n2 = g.layerNorm(`${p}.output_norm`, r1, `${p}.output_norm`, spec.eps, H);
  const f = feedForwardBlock(g, p, n2, spec);
  return g.add(`${p}.output_residual`, f, r1, H);
}

/** Classification (first token, optional dense + tanh/ReLU, projection), per-token classification, pooling, or an LM head. */
export function headBlock(g: GraphBuilder, x: string, spec: ArchitectureSpec): ModelGraph['output'] {
  const head = spec.head;
  if (head.kind === 'lm') {
    return { tensor: g.linear('lm_logits', x, 'lm_head', head.vocab), kind: 'lm-logits' };
  }
  if (head.kind === 'token-classification') {
    return { tensor: g.linear('logits', x, 'head.output', head.labels), kind: 'token-logits' };
  }
  if (head.kind === 'pool') {
    const out = g.tensor('pooled', ['batch', spec.hidden]);
    g.op({ kind: 'pool', input: x, out, mode: head.mode });
    return { tensor: out, kind: 'pooled' };
  }
  let y = x;
  let rows: 'all' | 'first' = 'first';
  if (head.dense) {
    const pre = g.linear('head.dense_pre', x, 'head.dense', spec.hidden, 'first');
    y = g.tensor('head.dense', ['batch', spec.hidden]);
    g.op({ kind: 'activation', input: pre, out: y, fn: head.dense.activation });
    rows = 'all';
  }
  const logits = g.tensor('logits', ['batch', head.labels]);
  g.op({ kind: 'linear', input: y, out: logits, param: 'head.output', rows });
  return { tensor: logits, kind: 'logits' };
}

/** Embeddings, the layers, the final norm (if any): the stack's output tensor. */
function stack(g: GraphBuilder, spec: ArchitectureSpec, memory?: string): string {
  if (spec.hidden % spec.heads !== 0)
    throw new RangeError(`graph: hidden ${spec.hidden} is not a multiple of ${spec.heads} heads`);
  let x = embeddingsBlock(g, spec);
  for (let i = 0; i < spec.layers; i++) x = transformerLayer(g, i, x, spec, memory);
  if (spec.finalNorm) x = g.layerNorm(g.name('final_norm'), x, g.name('final_norm'), spec.eps, spec.hidden);
  return x;
}

/** An encoder (BERT-like) or a decoder-only language model (GPT-2-like). */
export function buildGraph(spec: ArchitectureSpec): ModelGraph {
  if (spec.kind === 'encoder-decoder')
    throw new Error('graph: an encoder-decoder takes two specs (buildEncoderDecoderGraph)');
  const g = new GraphBuilder();
  const x = stack(g, spec);
  const output = headBlock(g, x, spec);
  return { kind: spec.kind, tensors: g.tensors, ops: g.ops, output };
}

/**
 * An encoder-decoder (Marian-like): the encoder stack over 'source' positions under `encoder.`,
 * the decoder stack (causal self-attention with a cache, cross-attention over the encoder's
 * output) under `decoder.`, then the LM head.
 */
export function buildEncoderDecoderGraph(encoder: ArchitectureSpec, decoder: ArchitectureSpec): ModelGraph {
  const g = new GraphBuilder();
  g.prefix = 'encoder.';
  g.positions = 'source';
  const memory = stack(g, encoder);
  g.prefix = 'decoder.';
  g.positions = 'query';
  const x = stack(g, { ...decoder, layer: { ...decoder.layer, crossAttention: true } }, memory);
  g.prefix = '';
  const output = headBlock(g, x, decoder);
  return { kind: 'encoder-decoder', tensors: g.tensors, ops: g.ops, output };
}
