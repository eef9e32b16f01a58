/**
 * Version 1 model files stored an EncoderPlan: named fields per layer instead of a program. This
 * adapter reads one as the integer program the planner would make of the same encoder, so v1 files
 * run on the same interpreters and give exactly the logits they gave before. Legacy only: new
 * files store the program itself (src/format/).
 */
import type { EncoderConfig } from '../core/types.js';
import { encoderGraph } from '../graph/architectures.js';
import { tensorSpec } from '../graph/types.js';
import type { Dyadic } from '../reference/dyadic.js';
import type { EmbeddingConstants, EmbeddingTables } from '../reference/embedding-i8.js';
import type { GeluI8Constants } from '../reference/gelu-i8.js';
import type { LayerNormI8Constants } from '../reference/layernorm-i8.js';
import type { ResidualAddPlan } from '../reference/residual-add.js';
import type { SoftmaxI8Constants } from '../reference/softmax-i8.js';
import {
  INT_PROGRAM_VERSION,
  type IntDtype,
  type IntGemmOp,
  type IntOp,
  type IntProgram,
  type IntTensor,
} from './int-program.js';
import { RESIDUAL_BITS } from './plan-graph.js';

const WIDE_BOUND = 2 ** (RESIDUAL_BITS - 1);

export const PLAN_VERSION = 1;

/** Version 1: a linear layer's integers and scales. */
export interface PlannedLinear {
  inFeatures: number;
  outFeatures: number;
  /** [out, in] int8, row-major (unpacked). */
  weight: Int8Array;
  /** int32 at s_in * s_w[c]. */
  bias: Int32Array;
  weightScale: Float64Array;
  inputScale: number;
  /** Per output channel: s_in s_w[c] / s_out (absent when the GEMM feeds i-GELU or returns int32). */
  requant?: Dyadic[];
  outputScale?: number;
}

/** Version 1: one post-LN BERT layer, field by field. */
export interface PlannedLayer {
  query: PlannedLinear;
  key: PlannedLinear;
  value: PlannedLinear;
  softmax: SoftmaxI8Constants;
  context: Dyadic;
  contextScale: number;
  attentionOutput: PlannedLinear;
  attentionResidual: ResidualAddPlan;
  attentionNorm: LayerNormI8Constants;
  attentionNormScale: number;
  intermediate: PlannedLinear;
  gelu: GeluI8Constants;
  geluScale: number;
  output: PlannedLinear;
  outputResidual: ResidualAddPlan;
  outputNorm: LayerNormI8Constants;
  outputNormScale: number;
}

export interface PlannedHead {
  dense?: PlannedLinear;
  activation?: { kind: 'tanh' | 'relu'; table: Int8Array; outputScale: number };
  output: PlannedLinear;
  logitScale: Float64Array;
}

export interface EmbeddingPlan {
  tables: EmbeddingTables;
  constants: EmbeddingConstants;
  tableScales: { word: number; position: number; tokenType?: number };
  scale: number;
}

/** Version 1 files: the integer encoder as named fields. */
export interface EncoderPlan {
  version: number;
  embeddings: EmbeddingPlan;
  embeddingNorm: LayerNormI8Constants;
  embeddingNormScale: number;
  layers: PlannedLayer[];
  head?: PlannedHead;
  hiddenScale: number;
}

export function programFromV1(plan: EncoderPlan, config: EncoderConfig): IntProgram {
  const graph = encoderGraph(config, plan.head?.activation ? { activation: plan.head.activation.kind } : null);
  const tensors: IntTensor[] = [];
  const ops: IntOp[] = [];
  const define = (
    id: string,
    dtype: IntDtype,
    scale: number | Float64Array,
    bound: number,
    shape = tensorSpec(graph, id).shape,
  ) => tensors.push({ id, dtype, shape, scale, bound });
  const gemm = (
    name: string,
    input: string,
    out: string,
    parts: PlannedLinear[],
    epilogue: IntGemmOp['epilogue'],
    rows: 'all' | 'first' = 'all',
  ): IntGemmOp => {
    const K = parts[0].inFeatures;
    const N = parts.reduce((n, p) => n + p.outFeatures, 0);
    const weight = new Int8Array(N * K);
    const bias = new Int32Array(N);
    const weightScale = new Float64Array(N);
    const requant = [];
    let row = 0;
    for (const p of parts) {
      weight.set(p.weight, row * K);
      bias.set(p.bias, row);
      weightScale.set(p.weightScale, row);
      requant.push(...(p.requant ?? []));
      row += p.outFeatures;
    }
    const op: IntGemmOp = {
      kind: 'gemm',
      name,
      input,
      out,
      rows,
      N,
      K,
      weight,
      bias,
      weightScale,
      epilogue,
      requant: requant.length ? requant : undefined,
    };
    ops.push(op);
    return op;
  };

  const e = plan.embeddings;
  ops.push({
    kind: 'embed',
    out: 'embeddings.sum',
    tables: e.tables,
    constants: e.constants,
    tableScales: e.tableScales,
  });
  define('embeddings.sum', 'wide', e.scale, WIDE_BOUND);
  ops.push({ kind: 'layernorm', input: 'embeddings.sum', out: 'embeddings.norm', constants: plan.embeddingNorm });
  define('embeddings.norm', 'i8', plan.embeddingNormScale, 127);
  let h = 'embeddings.norm';
  const H = config.hiddenSize;
  const D = H / config.numHeads;
  plan.layers.forEach((l, i) => {
    const p = (name: string) => `layer.${i}.${name}`;
    const qkv = gemm(p('qkv'), h, p('qkv'), [l.query, l.key, l.value], 'i8');
    const perChannel = new Float64Array(3 * H);
    [l.query, l.key, l.value].forEach((x, j) => perChannel.fill(x.outputScale!, j * H, (j + 1) * H));
    define(qkv.out, 'i8', perChannel, 128, ['batch', 'query', 3 * H]);
    ops.push({
      kind: 'attention',
      q: { tensor: qkv.out, channel: 0 },
      k: { tensor: qkv.out, channel: H },
      v: { tensor: qkv.out, channel: 2 * H },
      out: p('context'),
      heads: config.numHeads,
      headDim: D,
      causal: false,
      softmax: l.softmax,
      context: l.context,
    });
    define(p('context'), 'i8', l.contextScale, 127);
    gemm(p('attention_output'), p('context'), p('attention_output'), [l.attentionOutput], 'i8');
    define(p('attention_output'), 'i8', l.attentionOutput.outputScale!, 127);
    ops.push({
      kind: 'residual',
      a: p('attention_output'),
      b: h,
      out: p('attention_residual'),
      constants: l.attentionResidual,
    });
    define(p('attention_residual'), 'wide', l.attentionResidual.scale, WIDE_BOUND);
    ops.push({
      kind: 'layernorm',
      input: p('attention_residual'),
      out: p('attention_norm'),
      constants: l.attentionNorm,
    });
    define(p('attention_norm'), 'i8', l.attentionNormScale, 127);
    const ffn = gemm(p('intermediate'), p('attention_norm'), p('gelu'), [l.intermediate], 'gelu-i8');
    ffn.gelu = l.gelu;
    define(p('gelu'), 'i8', l.geluScale, 127);
    gemm(p('output'), p('gelu'), p('output'), [l.output], 'i8');
    define(p('output'), 'i8', l.output.outputScale!, 127);
    ops.push({
      kind: 'residual',
      a: p('output'),
      b: p('attention_norm'),
      out: p('output_residual'),
      constants: l.outputResidual,
    });
    define(p('output_residual'), 'wide', l.outputResidual.scale, WIDE_BOUND);
    ops.push({ kind: 'layernorm', input: p('output_residual'), out: p('output_norm'), constants: l.outputNorm });
    define(p('output_norm'), 'i8', l.outputNormScale, 127);
    h = p('output_norm');
  });
  if (!plan.head) {
    ops.push({ kind: 'pool', input: h, out: 'pooled', mode: 'mean' });
    define('pooled', 'i32', plan.hiddenScale, 128 * config.maxPositions, ['batch', H + 1]);
    return {
      version: INT_PROGRAM_VERSION,
      kind: 'encoder',
      tensors,
      ops,
      output: { tensor: 'pooled', kind: 'pooled', scale: Float64Array.of(plan.hiddenScale) },
      maxPositions: config.maxPositions,
    };
  }
  let x = h;
  let rows: 'all' | 'first' = 'first';
  const { dense, activation, output } = plan.head;
  if (dense && activation) {
    gemm('head.dense', h, 'head.dense_pre', [dense], 'i8', 'first');
    define('head.dense_pre', 'i8', dense.outputScale!, 127);
    ops.push({ kind: 'lookup', input: 'head.dense_pre', out: 'head.dense', table: activation.table });
    define('head.dense', 'i8', activation.outputScale, 127);
    x = 'head.dense';
    rows = 'all';
  }
  gemm('head.output', x, 'logits', [output], 'i32', rows);
  define('logits', 'i32', plan.head.logitScale, 2 ** 31 - 1);
  return {
    version: INT_PROGRAM_VERSION,
    kind: 'encoder',
    tensors,
    ops,
    output: { tensor: 'logits', kind: 'logits', scale: plan.head.logitScale },
    maxPositions: config.maxPositions,
  };
}
