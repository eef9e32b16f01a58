/**
 * The float model graph on the CPU in float64 with plain loops: the specification of what the GPU
 * float interpreter (src/runtime/float-graph.ts) computes, i.e. Hugging Face transformers' forward
 * pass in eval mode, one op of src/graph/types.ts at a time:
 *   embed       (word[id] * scale + tokenType[type]) + position[pos] (the scaled row rounded to
 *               float32, as transformers computes it); `position: 'sinusoidal'` is
 *               Marian's fixed table (sinusoidalRow), looked up by the batch's position ids
 *   linear      y = x W^T + b over every row, or over the first token of each sequence
 *   attention   per head of size d: softmax(q k^T / sqrt(d)) v over the keys the batch's mask
 *               allows (and, when causal, keys j <= query i); a row with no allowed key is 0;
 *               whole sequences, with or without the op's `cache` flag (no keys are kept)
 *   add, layerNorm (biased variance, eps inside the root), activation (exact erf GELU, its tanh
 *               approximation, SiLU, ReLU, tanh), pool (mean over real tokens, or the first token)
 * Every tensor is row-major without padding: [batch * seq, width] for token tensors, [batch, width]
 * for one row per sequence (shape without 'query'). Captures are keyed by tensor id.
 * An encoder-decoder's 'source' tensors run over the `source` batch (its own length and padding
 * mask): the encoder's embedding reads its ids and positions, and an attention whose keys are
 * source tensors (the encoder's self-attention, the decoder's cross-attention) masks the source's
 * padding; its queries are never causal over them.
 * FloatGraphEvaluation holds one evaluation's tensors and runs one op at a time: runFloatGraphCpu
 * runs every op once over whole sequences, src/cpu/float-incremental.ts a new token at a time.
 */
import { checkEmbeddingIds, checkTokenBatch } from '../core/token-batch.js';
import type { TokenBatch } from '../core/types.js';
import { type Params, param } from '../graph/architectures.js';
import { sinusoidalRow } from '../graph/sinusoidal.js';
import { type GraphOp, type ModelGraph, type TensorSpec, tensorSpec, widthOf } from '../graph/types.js';
import { gelu64, geluTanh64 } from '../reference/gelu-f32.js';
import { layerNormF32Ref } from '../reference/layernorm-f32.js';
import { meanPoolF32Ref } from '../reference/mean-pool-f32.js';
import { softmaxF32Ref } from '../reference/softmax-f32.js';

export interface FloatGraphCpuOptions {
  /** Tensor ids to return, or every tensor of the graph (`true`). */
  capture?: boolean | readonly string[];
  /** An encoder-decoder's source sentences (same batch size as the target batch). */
  source?: TokenBatch;
}

export interface FloatGraphCpuResult {
  /** [batch, labels] (classifier logits) or [batch * seq, vocab] (language-model logits). */
  logits?: Float64Array;
  /** [batch, hidden], when the graph's output is pooled vectors. */
  pooled?: Float64Array;
  /** The captured tensors, row-major without padding (see the module header). */
  captures: Map<string, Float64Array>;
}

/** Whether a tensor has one row per token ([batch, query | source, width]) rather than one per sequence. */
export { sinusoidalRow };

export function isTokenTensor(spec: TensorSpec): boolean {
  return spec.shape.includes('query') || spec.shape.includes('source');
}

function silu64(x: number): number {
  return x / (1 + Math.exp(-x));
}

const ACTIVATIONS: Record<string, (x: number) => number> = {
  gelu: gelu64,
  gelu_tanh: geluTanh64,
  silu: silu64,
  relu: (v) => Math.max(v, 0),
  tanh: Math.tanh,
};

function checkShape(name: string, shape: readonly number[], want: readonly number[]): void {
  if (shape.length !== want.length || shape.some((v, i) => v !== want[i])) {
    throw new RangeError(`model: parameter "${name}" has shape [${shape}], the graph needs [${want}]`);
  }
}

/**
 * Refuses parameters the graph cannot run with: missing, or of another shape than the tensors'
 * widths say (rows of embedding tables are free: they are the vocabulary and positions).
 */
export function checkFloatParams(graph: ModelGraph, params: Params): void {
  const width = (id: string) => widthOf(tensorSpec(graph, id));
  for (const op of graph.ops) {
    switch (op.kind) {
      case 'embed': {
        const H = width(op.out);
        const tables = [
          op.word,
          ...(op.position === 'sinusoidal' ? [] : [op.position]),
          ...(op.tokenType ? [op.tokenType] : []),
        ];
        for (const name of tables) {
          const t = param(params, name);
          checkShape(name, t.shape, [t.shape[0], H]);
          if (!(t.shape[0] >= 1)) throw new RangeError(`model: parameter "${name}" has no rows`);
        }
        if (op.scale !== undefined && !Number.isFinite(op.scale))
          throw new RangeError(`graph: embed "${op.out}" has scale ${op.scale}`);
        break;
      }
      case 'linear': {
        const out = width(op.out);
        const inF = width(op.input);
        checkShape(`${op.param}.weight`, param(params, `${op.param}.weight`).shape, [out, inF]);
        checkShape(`${op.param}.bias`, param(params, `${op.param}.bias`).shape, [out]);
        if (op.rows === 'first' && !isTokenTensor(tensorSpec(graph, op.input))) {
          throw new RangeError(
            `graph: linear "${op.out}" takes first tokens of "${op.input}", which has one row per sequence already`,
          );
        }
        break;
      }
      case 'layerNorm': {
        const H = width(op.out);
        checkShape(`${op.param}.gamma`, param(params, `${op.param}.gamma`).shape, [H]);
        checkShape(`${op.param}.beta`, param(params, `${op.param}.beta`).shape, [H]);
        break;
      }
      case 'attention': {
        const [q, k, v] = [op.q, op.k, op.v].map(width);
        if (q !== k || q % op.heads !== 0 || v % op.heads !== 0 || width(op.out) !== v) {
          throw new RangeError(
            `graph: attention "${op.out}" has q, k, v, out widths ${q}, ${k}, ${v}, ${width(op.out)} for ${op.heads} heads`,
          );
        }
        break;
      }
      default:
        break;
    }
  }
}

/** The ids a capture option asks for, checked against the graph. */
export function captureSet(graph: ModelGraph, capture: boolean | readonly string[] | undefined): Set<string> {
  if (!capture) return new Set();
  if (capture === true) return new Set(graph.tensors.map((t) => t.id));
  for (const id of capture) tensorSpec(graph, id);
  return new Set(capture);
}

/** The first row of each sequence of a token tensor. */
function firstRows(x: Float64Array, batch: number, seq: number, width: number): Float64Array {
  const out = new Float64Array(batch * width);
  for (let b = 0; b < batch; b++) out.set(x.subarray(b * seq * width, b * seq * width + width), b * width);
  return out;
}

/**
 * y[rows, out] = x[rows, in] W^T + b, each output accumulated from its bias in input order. Four
 * outputs at a time (four accumulators, one load of x each) over every row before the next four,
 * so their weight rows stay in cache: the same sums as one output at a time, about twice as fast.
 */
function linear64(
  x: ArrayLike<number>,
  rows: number,
  weight: Float32Array,
  bias: Float32Array,
  out: number,
  inF: number,
): Float64Array {
  const y = new Float64Array(rows * out);
  let o = 0;
  for (; o + 4 <= out; o += 4) {
    const w0 = o * inF;
    const w1 = w0 + inF;
    const w2 = w1 + inF;
    const w3 = w2 + inF;
    for (let r = 0; r < rows; r++) {
      const xr = r * inF;
      let a0 = bias[o];
      let a1 = bias[o + 1];
      let a2 = bias[o + 2];
      let a3 = bias[o + 3];
      for (let i = 0; i < inF; i++) {
        const xi = x[xr + i];
        a0 += xi * weight[w0 + i];
        a1 += xi * weight[w1 + i];
        a2 += xi * weight[w2 + i];
        a3 += xi * weight[w3 + i];
      }
      const yr = r * out + o;
      y[yr] = a0;
      y[yr + 1] = a1;
      y[yr + 2] = a2;
      y[yr + 3] = a3;
    }
  }
  for (; o < out; o++) {
    const wo = o * inF;
    for (let r = 0; r < rows; r++) {
      const xr = r * inF;
      let acc = bias[o];
      for (let i = 0; i < inF; i++) acc += x[xr + i] * weight[wo + i];
      y[r * out + o] = acc;
    }
  }
  return y;
}

export function runFloatGraphCpu(
  graph: ModelGraph,
  params: Params,
  batch: TokenBatch,
  options: FloatGraphCpuOptions = {},
): FloatGraphCpuResult {
  checkTokenBatch(batch);
  checkFloatParams(graph, params);
  const keep = captureSet(graph, options.capture);
  const usesSource = graph.tensors.some((t) => t.shape.includes('source'));
  const source = options.source;
  if (usesSource) {
    if (!source) throw new RangeError('float graph: an encoder-decoder needs the source batch (options.source)');
    checkTokenBatch(source);
    if (source.batch !== batch.batch)
      throw new RangeError(`float graph: ${source.batch} source sentences for ${batch.batch} target sequences`);
  } else if (source) {
    throw new RangeError('float graph: a source batch was given to a graph without an encoder over source positions');
  }
  const run = new FloatGraphEvaluation(graph, params, batch, source);
  // An attention with `cache` may keep keys and values between runs; this pass keeps none and runs
  // whole sequences, which is what the incremental runner (src/cpu/float-incremental.ts) reproduces
  // step by step.
  for (const op of graph.ops) run.values.set(op.out, run.run(op));
  const captures = new Map<string, Float64Array>();
  for (const id of keep) captures.set(id, run.get(id));
  const out = run.get(graph.output.tensor);
  return graph.output.kind === 'pooled' ? { pooled: out, captures } : { logits: out, captures };
}

/**
 * One evaluation of graph ops in float64: the tensors computed so far (`values`, row-major as in
 * the module header) and run(op), an op's output from them. Token tensors of the target have
 * batch.batch x batch.seqLen rows, source tensors source.batch x source.seqLen. runFloatGraphCpu
 * runs every op once over whole sequences; the incremental runner runs the source ops once, then
 * the target ops over one new row per sequence, attention excepted (it attends over its own
 * cache). The inputs are the caller's to check (checkTokenBatch, checkFloatParams).
 */
export class FloatGraphEvaluation {
  readonly values = new Map<string, Float64Array>();

  constructor(
    readonly graph: ModelGraph,
    readonly params: Params,
    /** The target (or only) batch; undefined for an evaluation of source tensors alone. */
    readonly batch: TokenBatch | undefined,
    readonly source?: TokenBatch,
  ) {}

  /** The batch a tensor's rows belong to. */
  batchOf(id: string): TokenBatch {
    const isSource = tensorSpec(this.graph, id).shape.includes('source');
    const b = isSource ? this.source : this.batch;
    if (!b) throw new Error(`float graph: tensor "${id}" needs the ${isSource ? 'source' : 'target'} batch, not given`);
    return b;
  }

  /** Rows of a tensor: batch x positions for token tensors, batch for one row per sequence. */
  rowsOf(id: string): number {
    const b = this.batchOf(id);
    return isTokenTensor(tensorSpec(this.graph, id)) ? b.batch * b.seqLen : b.batch;
  }

  get(id: string): Float64Array {
    const v = this.values.get(id);
    if (!v) throw new Error(`graph: tensor "${id}" is read before it is computed`);
    return v;
  }

  width(id: string): number {
    return widthOf(tensorSpec(this.graph, id));
  }

  run(op: GraphOp): Float64Array {
    const { graph, params } = this;
    switch (op.kind) {
      case 'embed':
        return embed(op, graph, params, this.batchOf(op.out));
      case 'linear': {
        const inF = this.width(op.input);
        const out = this.width(op.out);
        let x = this.get(op.input);
        let rows = this.rowsOf(op.input);
        if (op.rows === 'first') {
          const b = this.batchOf(op.input);
          x = firstRows(x, b.batch, b.seqLen, inF);
          rows = b.batch;
        }
        return linear64(
          x,
          rows,
          param(params, `${op.param}.weight`).data,
          param(params, `${op.param}.bias`).data,
          out,
          inF,
        );
      }
      case 'attention':
        return attention(
          this.get(op.q),
          this.get(op.k),
          this.get(op.v),
          this.batchOf(op.q),
          this.batchOf(op.k),
          op.heads,
          op.causal,
          this.width(op.q),
          this.width(op.v),
        );
      case 'add': {
        const a = this.get(op.a);
        const b = this.get(op.b);
        if (a.length !== b.length)
          throw new RangeError(`graph: add "${op.out}" of tensors of ${a.length} and ${b.length} values`);
        return a.map((v, i) => v + b[i]);
      }
      case 'layerNorm':
        return layerNormF32Ref({
          x: this.get(op.input),
          gamma: param(params, `${op.param}.gamma`).data,
          beta: param(params, `${op.param}.beta`).data,
          rows: this.rowsOf(op.input),
          H: this.width(op.input),
          eps: op.eps,
        });
      case 'activation': {
        const fn = ACTIVATIONS[op.fn];
        if (!fn) throw new RangeError(`graph: activation "${op.out}" has an unknown function ${String(op.fn)}`);
        return this.get(op.input).map(fn);
      }
      case 'pool': {
        const x = this.get(op.input);
        const H = this.width(op.input);
        const b = this.batchOf(op.input);
        return op.mode === 'mean'
          ? meanPoolF32Ref(x, b.attentionMask, b.batch, b.seqLen, H)
          : firstRows(x, b.batch, b.seqLen, H);
      }
    }
  }
}

function embed(op: GraphOp & { kind: 'embed' }, graph: ModelGraph, params: Params, batch: TokenBatch): Float64Array {
  const H = widthOf(tensorSpec(graph, op.out));
  const T = batch.batch * batch.seqLen;
  const word = param(params, op.word);
  checkEmbeddingIds(batch.inputIds, word.shape[0], 'token');
  const type = op.tokenType ? param(params, op.tokenType) : undefined;
  if (type) checkEmbeddingIds(batch.tokenTypeIds, type.shape[0], 'token type');
  let positionRow: (pos: number) => ArrayLike<number>;
  if (op.position === 'sinusoidal') {
    checkEmbeddingIds(batch.positionIds, 2 ** 31, 'position');
    const rows = new Map<number, Float32Array>();
    positionRow = (pos) => {
      let row = rows.get(pos);
      if (!row) {
        row = sinusoidalRow(pos, H);
        rows.set(pos, row);
      }
      return row;
    };
  } else {
    const table = param(params, op.position);
    checkEmbeddingIds(batch.positionIds, table.shape[0], 'position');
    positionRow = (pos) => table.data.subarray(pos * H, (pos + 1) * H);
  }
  const scale = op.scale === undefined ? undefined : Math.fround(op.scale);
  const out = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    const w = batch.inputIds[t] * H;
    const p = positionRow(batch.positionIds[t]);
    for (let c = 0; c < H; c++) {
      // transformers multiplies the float32 row by the scale in float32.
      let v = scale === undefined ? word.data[w + c] : Math.fround(word.data[w + c] * scale);
      if (type) v += type.data[batch.tokenTypeIds[t] * H + c];
      out[t * H + c] = v + p[c];
    }
  }
  return out;
}

/**
 * Multi-head attention of queries q [B * Sq, qWidth] over keys k [B * Sk, qWidth] and values
 * v [B * Sk, vWidth] (Sq, Sk: the lengths of the query and key batches, which differ for
 * cross-attention): scores in float64 divided by sqrt(d), softmax over the keys the key batch's
 * mask allows (softmaxF32Ref's arithmetic) and, when causal, keys j <= i; context per head.
 */
function attention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  queries: TokenBatch,
  keys: TokenBatch,
  heads: number,
  causal: boolean,
  qWidth: number,
  vWidth: number,
): Float64Array {
  const B = queries.batch;
  const Sq = queries.seqLen;
  const Sk = keys.seqLen;
  if (causal && keys !== queries)
    throw new RangeError('graph: causal attention over keys of another batch (cross-attention is never causal)');
  const d = qWidth / heads;
  const dv = vWidth / heads;
  const scores = new Float64Array(B * heads * Sq * Sk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Sq; i++) {
        for (let j = 0; j < Sk; j++) {
          let acc = 0;
          for (let e = 0; e < d; e++)
            acc += q[(b * Sq + i) * qWidth + h * d + e] * k[(b * Sk + j) * qWidth + h * d + e];
          scores[((b * heads + h) * Sq + i) * Sk + j] = acc / Math.sqrt(d);
        }
      }
    }
  }
  let probs: Float64Array;
  if (!causal) {
    probs = softmaxF32Ref({ scores, mask: keys.attentionMask, batch: B, heads, queries: Sq, seq: Sk });
  } else {
    // One row at a time with the row's own mask: the padding mask and keys j <= i.
    probs = new Float64Array(scores.length);
    const rowMask = new Int32Array(Sk);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < Sq; i++) {
        for (let j = 0; j < Sk; j++) rowMask[j] = j <= i && keys.attentionMask[b * Sk + j] ? 1 : 0;
        for (let h = 0; h < heads; h++) {
          const r = ((b * heads + h) * Sq + i) * Sk;
          probs.set(
            softmaxF32Ref({
              scores: scores.subarray(r, r + Sk),
              mask: rowMask,
              batch: 1,
              heads: 1,
              queries: 1,
              seq: Sk,
            }),
            r,
          );
        }
      }
    }
  }
  const context = new Float64Array(B * Sq * vWidth);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Sq; i++) {
        for (let e = 0; e < dv; e++) {
          let acc = 0;
          for (let j = 0; j < Sk; j++)
            acc += probs[((b * heads + h) * Sq + i) * Sk + j] * v[(b * Sk + j) * vWidth + h * dv + e];
          context[(b * Sq + i) * vWidth + h * dv + e] = acc;
        }
      }
    }
  }
  return context;
}
