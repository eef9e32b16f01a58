/**
 * The model description: each family's graph is the blocks the architecture says, in order; the
 * decoder and encoder-decoder blocks (pre-LN, causal self-attention, cross-attention, LM head) are
 * expressed by the same builder; and the float CPU interpreter runs a GPT-2-shaped graph causally
 * (a position's logits do not depend on later tokens).
 */
import { describe, expect, it } from 'vitest';
import type { EncoderConfig, Tensor, TokenBatch } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { encoderGraph, gpt2Spec, marianSpecs, type Params } from '../src/graph/architectures.js';
import { buildEncoderDecoderGraph, buildGraph } from '../src/graph/blocks.js';
import { type GraphOp, type ModelGraph, tensorSpec, widthOf } from '../src/graph/types.js';
import { calibratedTensors } from '../src/plan/plan-graph.js';
import { Random } from '../src/util/random.js';

const bertConfig: EncoderConfig = {
  architecture: 'BertForSequenceClassification',
  family: 'bert',
  task: 'sequence-classification',
  hiddenSize: 32,
  numLayers: 2,
  numHeads: 4,
  intermediateSize: 64,
  vocabSize: 50,
  maxPositions: 16,
  typeVocabSize: 2,
  layerNormEps: 1e-12,
  hiddenAct: 'gelu',
  padTokenId: 0,
  positionOffset: 0,
  labels: ['a', 'b'],
};

const describeOp = (op: GraphOp) =>
  `${op.kind}${op.kind === 'activation' ? `:${op.fn}` : ''}${op.kind === 'attention' ? (op.causal ? ':causal' : ':bidirectional') : ''} -> ${op.out}`;

describe('the graph of each architecture', () => {
  it('BERT: embeddings + LayerNorm, post-LN layers, first-token head with dense + tanh', () => {
    const g = encoderGraph(bertConfig);
    const layer1 = g.ops.map(describeOp).filter((s) => s.includes('layer.1.'));
    expect(layer1).toEqual([
      'linear -> layer.1.query',
      'linear -> layer.1.key',
      'linear -> layer.1.value',
      'attention:bidirectional -> layer.1.context',
      'linear -> layer.1.attention_output',
      'add -> layer.1.attention_residual',
      'layerNorm -> layer.1.attention_norm',
      'linear -> layer.1.intermediate',
      'activation:gelu -> layer.1.gelu',
      'linear -> layer.1.output',
      'add -> layer.1.output_residual',
      'layerNorm -> layer.1.output_norm',
    ]);
    expect(g.ops.slice(0, 2).map(describeOp)).toEqual(['embed -> embeddings.sum', 'layerNorm -> embeddings.norm']);
    expect(g.ops.slice(-3).map(describeOp)).toEqual([
      'linear -> head.dense_pre',
      'activation:tanh -> head.dense',
      'linear -> logits',
    ]);
    expect(g.output).toEqual({ tensor: 'logits', kind: 'logits' });
    // Calibration reads every int8 / wide tensor, not those whose scale follows from others.
    const calibrated = calibratedTensors(g);
    expect(calibrated).toContain('layer.1.gelu');
    expect(calibrated).toContain('head.dense_pre');
    for (const derived of ['layer.1.intermediate', 'head.dense', 'logits']) expect(calibrated).not.toContain(derived);
  });
  it('DistilBERT without token types and with a ReLU head; BertModel with mean pooling', () => {
    const distil = encoderGraph({ ...bertConfig, family: 'distilbert', typeVocabSize: 0 });
    const embed = distil.ops[0];
    expect(embed.kind === 'embed' && embed.tokenType).toBe(undefined);
    expect(distil.ops.some((o) => o.kind === 'activation' && o.fn === 'relu')).toBe(true);
    const pooled = encoderGraph({ ...bertConfig, task: 'embedding', labels: [] });
    expect(pooled.ops.at(-1)).toEqual({ kind: 'pool', input: 'layer.1.output_norm', out: 'pooled', mode: 'mean' });
  });
  it('GPT-2: pre-LN layers with causal cached attention and tanh-GELU, a final norm and an LM head', () => {
    const g = buildGraph(gpt2Spec({ hidden: 16, heads: 2, layers: 2, intermediate: 64, vocab: 30, eps: 1e-5 }));
    expect(g.kind).toBe('decoder');
    expect(g.ops.map(describeOp).filter((s) => s.includes('layer.0.'))).toEqual([
      'layerNorm -> layer.0.attention_norm',
      'linear -> layer.0.query',
      'linear -> layer.0.key',
      'linear -> layer.0.value',
      'attention:causal -> layer.0.context',
      'linear -> layer.0.attention_output',
      'add -> layer.0.attention_residual',
      'layerNorm -> layer.0.output_norm',
      'linear -> layer.0.intermediate',
      'activation:gelu_tanh -> layer.0.gelu',
      'linear -> layer.0.output',
      'add -> layer.0.output_residual',
    ]);
    const attention = g.ops.find((o) => o.kind === 'attention');
    expect(attention?.kind === 'attention' && attention.cache).toBe(true);
    expect(g.ops.slice(-2).map(describeOp)).toEqual(['layerNorm -> final_norm', 'linear -> lm_logits']);
    expect(g.output).toEqual({ tensor: 'lm_logits', kind: 'lm-logits' });
    expect(tensorSpec(g, 'lm_logits').shape).toEqual(['batch', 'query', 30]);
  });
  it('Marian: a scaled sinusoidal SiLU encoder over source positions, a decoder with cross-attention over its output', () => {
    const { encoder, decoder } = marianSpecs({
      hidden: 16,
      heads: 2,
      layers: 2,
      encoderLayers: 3,
      intermediate: 32,
      vocab: 40,
      eps: 1e-5,
    });
    const g = buildEncoderDecoderGraph(encoder, decoder);
    expect(g.kind).toBe('encoder-decoder');
    const embeds = g.ops.filter((o) => o.kind === 'embed');
    expect(embeds.map((e) => e.kind === 'embed' && [e.out, e.position, e.scale])).toEqual([
      ['encoder.embeddings.sum', 'sinusoidal', 4],
      ['decoder.embeddings.sum', 'sinusoidal', 4],
    ]);
    expect(tensorSpec(g, 'encoder.layer.2.output_norm').shape).toEqual(['batch', 'source', 16]);
    const cross = g.ops.filter(
      (o) => o.kind === 'linear' && (o.out.endsWith('cross_key') || o.out.endsWith('cross_value')),
    );
    expect(cross.map((o) => o.kind === 'linear' && o.input)).toEqual(Array(4).fill('encoder.layer.2.output_norm'));
    expect(g.ops.filter((o) => o.kind === 'attention').map(describeOp)).toEqual([
      'attention:bidirectional -> encoder.layer.0.context',
      'attention:bidirectional -> encoder.layer.1.context',
      'attention:bidirectional -> encoder.layer.2.context',
      'attention:causal -> decoder.layer.0.context',
      'attention:bidirectional -> decoder.layer.0.cross_context',
      'attention:causal -> decoder.layer.1.context',
      'attention:bidirectional -> decoder.layer.1.cross_context',
    ]);
    expect(g.ops.filter((o) => o.kind === 'activation').every((o) => o.kind === 'activation' && o.fn === 'silu')).toBe(
      true,
    );
  });
});

/** Random parameters for every name a graph reads (tests only). */
function randomParams(graph: ModelGraph, rows: { vocab: number; positions: number }, seed: number): Params {
  const rng = new Random(seed);
  const params: Params = new Map();
  const make = (name: string, shape: number[], scale: number, offset = 0) => {
    const data = Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => offset + scale * (2 * rng.next() - 1),
    );
    params.set(name, { shape, data } satisfies Tensor);
  };
  for (const op of graph.ops) {
    const w = (id: string) => widthOf(tensorSpec(graph, id));
    if (op.kind === 'embed') {
      make(op.word, [rows.vocab, w(op.out)], 0.5);
      if (op.position !== 'sinusoidal') make(op.position, [rows.positions, w(op.out)], 0.5);
    } else if (op.kind === 'linear') {
      make(`${op.param}.weight`, [w(op.out), w(op.input)], 1 / Math.sqrt(w(op.input)));
      make(`${op.param}.bias`, [w(op.out)], 0.1);
    } else if (op.kind === 'layerNorm') {
      make(`${op.param}.gamma`, [w(op.out)], 0.2, 1);
      make(`${op.param}.beta`, [w(op.out)], 0.1);
    }
  }
  return params;
}

describe('the float interpreter of a decoder graph', () => {
  it("is causal: a position's next-token logits do not depend on later tokens", () => {
    // Whole sequences in one pass (no cache): the pass incremental decoding must later reproduce.
    const spec = gpt2Spec({ hidden: 16, heads: 2, layers: 2, intermediate: 32, vocab: 30, eps: 1e-5 });
    const graph = buildGraph({ ...spec, layer: { ...spec.layer, cache: false } });
    const params = randomParams(graph, { vocab: 30, positions: 12 }, 3);
    const batchOf = (ids: number[]): TokenBatch => ({
      batch: 1,
      seqLen: ids.length,
      inputIds: Int32Array.from(ids),
      attentionMask: new Int32Array(ids.length).fill(1),
      tokenTypeIds: new Int32Array(ids.length),
      positionIds: Int32Array.from(ids, (_, i) => i),
    });
    const a = runFloatGraphCpu(graph, params, batchOf([3, 7, 1, 20, 5, 9])).logits!;
    const b = runFloatGraphCpu(graph, params, batchOf([3, 7, 1, 4, 28, 0])).logits!;
    // Positions 0..2 see the same prefix: identical logits; position 3 sees another token: different.
    expect(Array.from(b.subarray(0, 3 * 30))).toEqual(Array.from(a.subarray(0, 3 * 30)));
    expect(Array.from(b.subarray(3 * 30, 4 * 30))).not.toEqual(Array.from(a.subarray(3 * 30, 4 * 30)));
    expect(a.length).toBe(6 * 30);
  });
});
