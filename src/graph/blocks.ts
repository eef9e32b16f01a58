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
  layer: { norm: NormPlacement; activation: ActivationFn; causal: boolean };
  /** A LayerNorm after the last layer (pre-LN stacks). */
  finalNorm: boolean;
  head:
    | { kind: 'classification'; labels: number; dense?: { activation: 'tanh' | 'relu' } }
    | { kind: 'pool'; mode: 'mean' | 'first' };
}

const TOKENS = (width: number): Dim[] => ['batch', 'query', width];

export class GraphBuilder {
  readonly tensors: TensorSpec[] = [];
  readonly ops: GraphOp[] = [];

  tensor(id: string, shape: Dim[]): string {
    if (this.tensors.some((t) => t.id === id)) throw new Error(`graph: tensor "${id}" defined twice`);
    this.tensors.push({ id, shape });
    return id;
  }

  op(op: GraphOp): void {
    this.ops.push(op);
  }

  linear(id: string, input: string, param: string, width: number, rows: 'all' | 'first' = 'all'): string {
    const out = this.tensor(id, rows === 'all' ? TOKENS(width) : ['batch', width]);
    this.op({ kind: 'linear', input, out, param, rows });
    return out;
  }

  layerNorm(id: string, input: string, param: string, eps: number, width: number): string {
    const out = this.tensor(id, TOKENS(width));
    this.op({ kind: 'layerNorm', input, out, param, eps });
    return out;
  }

  add(id: string, a: string, b: string, width: number): string {
    const out = this.tensor(id, TOKENS(width));
    this.op({ kind: 'add', a, b, out });
    return out;
  }
}

/** Token embeddings, then (post-LN stacks) their LayerNorm: `embeddings.sum`, `embeddings.norm`. */
export function embeddingsBlock(g: GraphBuilder, spec: ArchitectureSpec): string {
  const e = spec.embeddings;
  const sum = g.tensor('embeddings.sum', TOKENS(spec.hidden));
  g.op({
    kind: 'embed',
    out: sum,
    word: 'embeddings.word',
    position: e.positions === 'learned' ? 'embeddings.position' : 'sinusoidal',
    tokenType: e.tokenTypes ? 'embeddings.token_type' : undefined,
    scale: e.scale,
  });
  return e.norm ? g.layerNorm('embeddings.norm', sum, 'embeddings.norm', spec.eps, spec.hidden) : sum;
}

/** q, k, v projections, attention, output projection: returns the projection's output. */
export function selfAttentionBlock(g: GraphBuilder, p: string, x: string, spec: ArchitectureSpec): string {
  const H = spec.hidden;
  const q = g.linear(`${p}.query`, x, `${p}.query`, H);
  const k = g.linear(`${p}.key`, x, `${p}.key`, H);
  const v = g.linear(`${p}.value`, x, `${p}.value`, H);
  const context = g.tensor(`${p}.context`, TOKENS(H));
  g.op({ kind: 'attention', q, k, v, out: context, heads: spec.heads, causal: spec.layer.causal });
  return g.linear(`${p}.attention_output`, context, `${p}.attention_output`, H);
}

/** Up-projection, nonlinearity, down-projection. */
export function feedForwardBlock(g: GraphBuilder, p: string, x: string, spec: ArchitectureSpec): string {
  const up = g.linear(`${p}.intermediate`, x, `${p}.intermediate`, spec.intermediate);
  const fn = spec.layer.activation;
  const act = g.tensor(`${p}.${fn.startsWith('gelu') ? 'gelu' : fn}`, TOKENS(spec.intermediate));
  g.op({ kind: 'activation', input: up, out: act, fn });
  return g.linear(`${p}.output`, act, `${p}.output`, spec.hidden);
}

/**
 * A Transformer layer. Post-LN (BERT): h1 = LN(x + attn(x)), h = LN(h1 + ffn(h1)).
 * Pre-LN (GPT-2): h1 = x + attn(LN(x)), h = h1 + ffn(LN(h1)).
 */
export function transformerLayer(g: GraphBuilder, i: number, x: string, spec: ArchitectureSpec): string {
  const p = `layer.${i}`;
  const H = spec.hidden;
  if (spec.layer.norm === 'post') {
    const attn = selfAttentionBlock(g, p, x, spec);
    const r1 = g.add(`${p}.attention_residual`, attn, x, H);
    const h1 = g.layerNorm(`${p}.attention_norm`, r1, `${p}.attention_norm`, spec.eps, H);
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

/** Classification (first token, optional dense + tanh/ReLU, projection) or pooling. */
export function headBlock(g: GraphBuilder, x: string, spec: ArchitectureSpec): { tensor: string; kind: 'logits' | 'pooled' } {
  const head = spec.head;
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

export function buildGraph(spec: ArchitectureSpec): ModelGraph {
  if (spec.hidden % spec.heads !== 0) throw new RangeError(`graph: hidden ${spec.hidden} is not a multiple of ${spec.heads} heads`);
  const g = new GraphBuilder();
  let x = embeddingsBlock(g, spec);
  for (let i = 0; i < spec.layers; i++) x = transformerLayer(g, i, x, spec);
  if (spec.finalNorm) x = g.layerNorm('final_norm', x, 'final_norm', spec.eps, spec.hidden);
  const output = headBlock(g, x, spec);
  return { kind: spec.kind, tensors: g.tensors, ops: g.ops, output };
}
