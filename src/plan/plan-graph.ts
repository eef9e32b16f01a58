/**
 * Scale propagation over a model graph: float ops in, integer ops out. Every tensor gets an integer
 * type, a real scale and a proven bound; every op the integer constants of its kernel, each derived
 * by that kernel's own planning function (which refuses constants whose int32 intermediates could
 * overflow). The planner fuses where the kernels do:
 *   - q, k, v linears of one input feeding an attention  -> one GEMM over the concatenated weights;
 *   - a linear whose only reader is a GELU              -> one GEMM with the i-GELU epilogue;
 *   - a linear whose only reader is a SiLU (swish)      -> one GEMM with the i-SiLU epilogue;
 *   - a linear over first tokens, then tanh / ReLU      -> GEMM (int8 out) + 256-entry table;
 *   - the model's output linear                          -> GEMM with int32 output (the logits).
 * Residual adds write the wide stream (RESIDUAL_BITS); LayerNorm reads it and writes int8 (or, for
 * the residual readers of a smoothed LayerNorm, the wide stream itself).
 *
 * Outlier channels (outlierPlan): when per-channel statistics show a LayerNorm output with a few
 * channels far above the rest, its int8 output holds those channels divided by factors s_c and the
 * GEMMs reading it get weight columns multiplied by s_c (SmoothQuant's migration, folded into the
 * LayerNorm's per-channel constants). Its residual readers read a second LayerNorm of the same
 * input written straight into the wide stream (the kernel's wide output): the int8 output's step,
 * set by the smoothed range, was too coarse for the residual path. A residual
 * branch (attention output, FFN output) with outlier channels requantizes them to int8 at integer
 * multiples m_c of the other channels' scale, and the residual add reads it as int8 times
 * per-channel integer multipliers m_c, all channels on that one scale (rescaledBranch). Without outlier
 * channels the program is what it was before.
 */

import type { Tensor } from '../core/types.js';
import type { Params } from '../graph/architectures.js';
import { param } from '../graph/architectures.js';
import { sinusoidalRow } from '../graph/sinusoidal.js';
import { consumers, type GraphOp, type LinearOp, type ModelGraph, tensorSpec, widthOf } from '../graph/types.js';
import { checkAccumulatorBound } from '../kernels/gemm-i8.js';
import { quantizeBias, quantizeLinearWeight, quantizeTensorPerTensor } from '../quant/weights.js';
import { type Dyadic, toDyadic } from '../reference/dyadic.js';
import { planEmbedding } from '../reference/embedding-i8.js';
import { deriveGeluI8Constants, geluInputRescale } from '../reference/gelu-i8.js';
import { deriveLayerNormI8, type LayerNormI8Constants } from '../reference/layernorm-i8.js';
import { planResidualAdd, planResidualStream, type ResidualOperand } from '../reference/residual-add.js';
import { deriveSiluI8Constants, siluInputRescale } from '../reference/silu-i8.js';
import { deriveSoftmaxI8Constants } from '../reference/softmax-i8.js';
import { logitAccumulatorBound, planLogitRescale } from '../reference/topk-i32.js';
import {
  INT_PROGRAM_VERSION,
  type IntGemmOp,
  type IntOp,
  type IntProgram,
  type IntTensor,
  type OutlierSmoothing,
} from './int-program.js';
import { outlierChannels } from './outliers.js';

/** Width of the residual stream between the residual adds and LayerNorm (I-BERT keeps ~22 bits). */
export const RESIDUAL_BITS = 22;

/** Probabilities are uint8 at this scale (see the i-softmax kernel). */
export const PROBABILITY_SCALE = 2 ** -8;

/** Calibrated max |x| (real units) per tensor id. */
export type ActivationRanges = Map<string, number>;

/** An int8 tensor's scale from its calibrated real range. */
export function int8Scale(range: number, what: string): number {
  if (!(range > 0) || !Number.isFinite(range))
    throw new RangeError(`plan: calibrated range of ${what} is ${range}; it must be positive and finite`);
  return range / 127;
}

/** 256-entry int8 -> int8 table of an activation, rounding to nearest. */
export function activationTable(kind: 'tanh' | 'relu', inputScale: number, outputScale: number): Int8Array {
  const table = new Int8Array(256);
  for (let q = -128; q <= 127; q++) {
    const x = q * inputScale;
    const y = kind === 'tanh' ? Math.tanh(x) : Math.max(0, x);
    table[q + 128] = Math.max(-128, Math.min(127, Math.round(y / outputScale)));
  }
  return table;
}

/** GPT-2's tanh GELU runs on the same erf i-GELU (its measured error vs gelu_new: GELU_NEW_MAX_ERROR_STEPS). */
function isGelu(op: GraphOp | undefined): boolean {
  return op?.kind === 'activation' && (op.fn === 'gelu' || op.fn === 'gelu_tanh');
}

/** Activations fused into the GEMM before them as its epilogue. */
function isFusedActivation(op: GraphOp | undefined): boolean {
  return isGelu(op) || (op?.kind === 'activation' && op.fn === 'silu');
}

/**
 * The tensors whose calibrated range the planner reads: every op output except those whose scale
 * follows from others (a linear fused into GELU, a table activation's output, the model's output).
 */
export function calibratedTensors(graph: ModelGraph): string[] {
  const readers = consumers(graph);
  const out: string[] = [];
  for (const op of graph.ops) {
    if (op.out === graph.output.tensor) continue;
    if (op.kind === 'linear' && isFusedActivation(sole(readers.get(op.out)))) continue;
    if (op.kind === 'activation' && !isFusedActivation(op)) continue;
    out.push(op.out);
  }
  return out;
}

function sole<T>(list: T[] | undefined): T | undefined {
  return list?.length === 1 ? list[0] : undefined;
}

/** Per-channel calibration statistics of a [rows, width] tensor (RangeStats.channels). */
export interface ChannelStatistics {
  maxAbs: ArrayLike<number>;
  sumSquares: ArrayLike<number>;
  rows: number;
}

export interface PlanOptions {
  /** Longest key sequence the softmax constants must handle (the model's positions). */
  maxKeys: number;
  /**
   * Per-channel statistics by tensor id (RangeObserver: each RangeStats' channels). With them a
   * LayerNorm output with outlier channels is smoothed (module header); without, one scale per tensor.
   */
  channels?: ReadonlyMap<string, ChannelStatistics>;
  /**
   * 'off': ignore outlier channels even with statistics. For measurements of the parts:
   * 'layernorm' smooths LayerNorm outputs (GEMM inputs and the wide LayerNorm for residual
   * readers) but leaves residual branches at one int8 scale; 'gemm-inputs' smooths the GEMM inputs
   * only, residual readers getting a plain per-tensor int8 copy of the LayerNorm output. Default
   * 'auto': everything.
   */
  outliers?: 'auto' | 'off' | 'layernorm' | 'gemm-inputs';
}

/** A wide LayerNorm output (residual readers of a smoothed LayerNorm) spans this many times its calibrated max. */
export const WIDE_NORM_HEADROOM = 2;

/** Bits of int8 resolution a residual branch's other channels must gain for its outliers to get their own scale. */
export const BRANCH_MIN_BITS = 2;

/** Migration strengths tried: s_c = (max_c / max of the other channels)^alpha; 0 is no smoothing. */
export const SMOOTHING_ALPHAS = [0, 0.25, 0.5, 0.75, 1];

export interface OutlierPlan {
  /** Outlier channels, largest first, and the factor (per channel, 1 elsewhere) each is divided by. */
  channels: number[];
  factors: Float64Array;
  alpha: number;
  /** Real range of the smoothed int8 output: the largest channel max after division. */
  range: number;
  /** The estimate minimised, relative to alpha = 0 (no smoothing). */
  relativeError: number;
}

/**
 * Expected squared error that int8 rounding adds to the outputs of the GEMMs reading an input
 * whose channel c is divided by f_c (weight column c multiplied by it): the activation's step
 * (range / 127, uniform rounding noise) through every weight, plus each output row's weight step
 * (per-row scale max |W_rc f_c| / 127) through the input's mean squares.
 */
export function smoothingError(
  weights: readonly Tensor[],
  factors: ArrayLike<number>,
  meanSquares: ArrayLike<number>,
  range: number,
): number {
  const K = factors.length;
  const dx2 = (range / 127) ** 2 / 12;
  let xs = 0;
  for (let c = 0; c < K; c++) xs += meanSquares[c] / factors[c] ** 2;
  let err = 0;
  for (const w of weights) {
    const [N, inF] = w.shape;
    if (inF !== K) throw new RangeError(`plan: a ${N}x${inF} weight reads a ${K}-channel input`);
    for (let r = 0; r < N; r++) {
      let sq = 0;
      let max = 0;
      for (let c = 0; c < K; c++) {
        const v = Math.abs(w.data[r * K + c] * factors[c]);
        sq += v * v;
        if (v > max) max = v;
      }
      err += sq * dx2 + ((max / 127) ** 2 / 12) * xs;
    }
  }
  return err;
}

/** A weight with column c multiplied by factors[c] (in float64, rounded once to float32). */
function scaleColumns(w: Tensor, factors: ArrayLike<number>): Tensor {
  const [N, K] = w.shape;
  const data = new Float32Array(N * K);
  for (let r = 0; r < N; r++) for (let c = 0; c < K; c++) data[r * K + c] = w.data[r * K + c] * factors[c];
  return { shape: w.shape, data };
}

class Planner {
  readonly tensors = new Map<string, IntTensor>();
  readonly ops: IntOp[] = [];
  private readonly readers: Map<string, GraphOp[]>;
  /** Float ops already emitted as part of a fusion. */
  private readonly done = new Set<GraphOp>();
  /** Smoothed LayerNorm outputs: their base scale and per-channel divisors. */
  private readonly smoothing = new Map<string, { base: number; factors: Float64Array }>();
  /** What residual readers of a smoothed LayerNorm output read instead: its wide LayerNorm (or int8 copy). */
  private readonly wideCopy = new Map<string, string>();
  /** Rescaled residual branches: int8 at m_c x scale per channel, read by the residual add as q_c m_c at `scale`. */
  private readonly multiplied = new Map<string, { scale: number; multipliers: Int32Array }>();
  /** Int8 copies of wide tensors that GEMMs read (requantize ops), by the wide tensor's id. */
  private readonly int8Copies = new Map<string, string>();
  /** Decoders: cache slots handed to attention ops in order. */
  private cacheLayers = 0;

  constructor(
    readonly graph: ModelGraph,
    readonly params: Params,
    readonly ranges: ActivationRanges,
    readonly options: PlanOptions,
  ) {
    this.readers = consumers(graph);
  }

  range(id: string): number {
    const r = this.ranges.get(id);
    if (r === undefined) throw new Error(`plan: no calibrated range for activation "${id}"`);
    return r;
  }

  scaleOf(id: string): number {
    const s = this.tensor(id).scale;
    if (typeof s !== 'number') throw new Error(`plan: tensor "${id}" has per-channel scales where one is needed`);
    return s;
  }

  tensor(id: string): IntTensor {
    const t = this.tensors.get(id);
    if (!t) throw new Error(`plan: tensor "${id}" is read before it is planned`);
    return t;
  }

  define(
    id: string,
    dtype: IntTensor['dtype'],
    scale: number | Float64Array,
    bound: number,
    width?: number,
    like = id,
  ): void {
    const spec = tensorSpec(this.graph, like);
    const shape = width === undefined ? spec.shape : [...spec.shape.slice(0, -1), width];
    this.tensors.set(id, { id, dtype, shape, scale, bound });
  }

  /** The scale a GEMM reads its input at, and the factors to fold into its weight columns if smoothed. */
  gemmInput(id: string): { scale: number; factors?: Float64Array } {
    const s = this.smoothing.get(id);
    if (s) return { scale: s.base, factors: s.factors };
    if (this.tensor(id).dtype === 'wide') return { scale: this.scaleOf(this.int8Copy(id)) };
    return { scale: this.scaleOf(id) };
  }

  /** The int8 copy of a wide tensor a GEMM reads, requantized once at its calibrated range. */
  private int8Copy(id: string): string {
    const known = this.int8Copies.get(id);
    if (known) return known;
    const copy = `${id}.i8`;
    const scale = int8Scale(this.range(id), id);
    const requant = toDyadic(this.scaleOf(id) / scale, `${copy} requant`);
    this.ops.push({ kind: 'requantize', input: id, out: copy, requant });
    this.define(copy, 'i8', scale, 127, undefined, id);
    this.int8Copies.set(id, copy);
    return copy;
  }

  producer(id: string): GraphOp | undefined {
    return this.graph.ops.find((op) => op.out === id);
  }

  /** `perChannel(c)` multiplies gamma_c and beta_c (smoothing folded into the constants). */
  norm(
    paramName: string,
    eps: number,
    inputScale: number,
    outputScale: number,
    perChannel?: (c: number) => number,
  ): LayerNormI8Constants {
    const gamma = param(this.params, `${paramName}.gamma`).data;
    const beta = param(this.params, `${paramName}.beta`).data;
    return deriveLayerNormI8({
      gamma: perChannel ? Float64Array.from(gamma, (g, c) => g * perChannel(c)) : gamma,
      beta: perChannel ? Float64Array.from(beta, (b, c) => b * perChannel(c)) : beta,
      eps,
      inputScale,
      outputScale,
      inputMaxAbs: 2 ** (RESIDUAL_BITS - 1),
    });
  }

  /** Quantized weights, bias and (with an output scale) per-channel requantization of linears sharing an input. */
  gemm(
    name: string,
    linears: LinearOp[],
    inputScale: number,
    outputScales: (number | undefined)[],
    inputFactors?: Float64Array,
  ): Omit<IntGemmOp, 'out' | 'epilogue'> {
    const parts = linears.map((l) => {
      const w = param(this.params, `${l.param}.weight`);
      const q = quantizeLinearWeight(inputFactors ? scaleColumns(w, inputFactors) : w);
      checkAccumulatorBound(q.inFeatures, 2 ** 30, false, l.param);
      const bias = quantizeBias(param(this.params, `${l.param}.bias`), inputScale, q.scale, `${l.param} bias`);
      return { q, bias };
    });
    const K = parts[0].q.inFeatures;
    if (parts.some((p) => p.q.inFeatures !== K))
      throw new Error(`plan: ${name} fuses linears of different input widths`);
    const N = parts.reduce((n, p) => n + p.q.outFeatures, 0);
    const weight = new Int8Array(N * K);
    const bias = new Int32Array(N);
    const weightScale = new Float64Array(N);
    const requant: Dyadic[] = [];
    let row = 0;
    parts.forEach((p, i) => {
      weight.set(p.q.weight, row * K);
      bias.set(p.bias, row);
      weightScale.set(p.q.scale, row);
      const out = outputScales[i];
      if (out !== undefined) {
        for (let c = 0; c < p.q.outFeatures; c++)
          requant.push(toDyadic((inputScale * p.q.scale[c]) / out, `${linears[i].param} requant[${c}]`));
      }
      row += p.q.outFeatures;
    });
    const input = this.int8Copies.get(linears[0].input) ?? linears[0].input;
    return {
      kind: 'gemm',
      name,
      input,
      rows: linears[0].rows,
      N,
      K,
      weight,
      bias,
      weightScale,
      requant: requant.length ? requant : undefined,
    };
  }

  run(): IntProgram {
    for (const op of this.graph.ops) {
      if (this.done.has(op)) continue;
      this.plan(op);
    }
    const out = this.tensor(this.graph.output.tensor);
    const scale = out.scale instanceof Float64Array ? out.scale : Float64Array.of(out.scale);
    const output: IntProgram['output'] = { tensor: out.id, kind: this.graph.output.kind, scale };
    if (output.kind === 'lm-logits') {
      const head = this.ops.find((o): o is IntGemmOp => o.kind === 'gemm' && o.out === out.id);
      if (!head) throw new Error(`plan: the LM logits ${out.id} are not a GEMM's output`);
      let biasMax = 0;
      for (const b of head.bias) biasMax = Math.max(biasMax, Math.abs(b));
      const {
        scale: common,
        requant,
        maxAbs,
      } = planLogitRescale({
        inputScale: this.scaleOf(head.input),
        weightScales: head.weightScale,
        accMaxAbs: logitAccumulatorBound(head.K, biasMax),
      });
      output.rescale = { scale: common, requant, maxAbs };
    }
    return {
      version: INT_PROGRAM_VERSION,
      kind: this.graph.kind,
      tensors: [...this.tensors.values()],
      ops: this.ops,
      output,
      maxPositions: this.options.maxKeys,
    };
  }

  private plan(op: GraphOp): void {
    switch (op.kind) {
      case 'embed':
        this.embed(op);
        return;
      case 'layerNorm': {
        const input = this.tensor(op.input);
        if (input.dtype !== 'wide')
          throw new Error(
            `plan: LayerNorm ${op.out} reads ${input.dtype} ${op.input}; the integer LayerNorm reads the wide stream`,
          );
        const outliers = this.outlierPlan(op);
        if (outliers) {
          this.smoothedLayerNorm(op, outliers);
          return;
        }
        const scale = int8Scale(this.range(op.out), op.out);
        this.ops.push({
          kind: 'layernorm',
          input: op.input,
          out: op.out,
          constants: this.norm(op.param, op.eps, this.scaleOf(op.input), scale),
        });
        this.define(op.out, 'i8', scale, 127);
        return;
      }
      case 'add': {
        if (this.wideCopy.has(op.a) || this.wideCopy.has(op.b)) {
          this.reconstructedAdd(op);
          return;
        }
        const [a, b] = [this.tensor(op.a), this.tensor(op.b)];
        if (a.dtype === 'i8' && b.dtype === 'wide') {
          this.streamAdd(op.out, op.b, op.a);
          return;
        }
        if (a.dtype !== 'i8' || b.dtype !== 'i8')
          throw new Error(
            `plan: residual add ${op.out} of ${a.dtype} and ${b.dtype}; only int8 + int8 into the wide stream is implemented`,
          );
        const constants = planResidualAdd({
          a: { scale: this.scaleOf(op.a), maxAbs: 128 },
          b: { scale: this.scaleOf(op.b), maxAbs: 128 },
          bits: RESIDUAL_BITS,
          range: this.range(op.out),
        });
        this.ops.push({ kind: 'residual', a: op.a, b: op.b, out: op.out, constants });
        this.define(op.out, 'wide', constants.scale, 2 ** (RESIDUAL_BITS - 1));
        return;
      }
      case 'attention':
        this.attention(op);
        return;
      case 'linear':
        this.linear(op);
        return;
      case 'activation':
        throw new Error(
          `plan: activation ${op.fn} of ${op.input} has no integer kernel on its own (only i-GELU and i-SiLU fused into a GEMM, and tanh / ReLU after a head's dense)`,
        );
      case 'pool': {
        this.ops.push({ kind: 'pool', input: op.input, out: op.out, mode: op.mode === 'first' ? 'cls' : 'mean' });
        // [batch, hidden + 1]: the sums (or first token) and the count of real tokens (see pool-i8).
        this.define(
          op.out,
          'i32',
          this.scaleOf(op.input),
          128 * this.options.maxKeys,
          widthOf(tensorSpec(this.graph, op.input)) + 1,
        );
        return;
      }
    }
  }

  /**
   * Pre-LN residual: the wide stream (bounded by 2^(bits-1) whatever the data) plus an int8 branch
   * into a new wide stream at the sum's own scale, planned and proven by planResidualStream.
   * The stream is operand a (an 'i32' operand with its declared bound), the branch operand b.
   */
  private streamAdd(out: string, stream: string, branch: string): void {
    const [step] = planResidualStream({
      bits: RESIDUAL_BITS,
      inputScale: this.scaleOf(stream),
      adds: [{ name: out, operand: { scale: this.scaleOf(branch) }, range: this.range(out) }],
    });
    const { name: _name, bounds, termA: _a, termB: _b, rangeSteps: _r, ...constants } = step;
    this.ops.push({
      kind: 'residual',
      a: stream,
      b: branch,
      out,
      constants,
      operands: { a: 'i32', b: 'i8' },
      bounds: { a: bounds.a },
    });
    this.define(out, 'wide', constants.scale, 2 ** (RESIDUAL_BITS - 1));
  }

  /**
   * Whether to smooth this LayerNorm's output, and how: only with per-channel statistics showing
   * outlier channels (outlierChannels), only when every reader is a linear or a residual add, and
   * only when some alpha > 0 lowers the estimated GEMM output error (smoothingError) below no
   * smoothing. Otherwise undefined: the LayerNorm is planned as it always was.
   */
  outlierPlan(op: GraphOp & { kind: 'layerNorm' }): OutlierPlan | undefined {
    if (this.options.outliers === 'off') return undefined;
    const st = this.options.channels?.get(op.out);
    if (!st || st.rows === 0) return undefined;
    const channels = outlierChannels(st.maxAbs);
    if (channels.length === 0) return undefined;
    const readers = this.readers.get(op.out) ?? [];
    const linears = readers.filter((r): r is LinearOp => r.kind === 'linear');
    if (linears.length === 0 || readers.some((r) => r.kind !== 'linear' && r.kind !== 'add')) return undefined;
    const H = st.maxAbs.length;
    const isOutlier = new Set(channels);
    let rest = 0;
    for (let c = 0; c < H; c++) if (!isOutlier.has(c)) rest = Math.max(rest, st.maxAbs[c]);
    const meanSquares = Float64Array.from(st.sumSquares, (v) => v / st.rows);
    const weights = linears.map((l) => param(this.params, `${l.param}.weight`));
    let best: (OutlierPlan & { error: number }) | undefined;
    let plain = 0;
    for (const alpha of SMOOTHING_ALPHAS) {
      const factors = new Float64Array(H).fill(1);
      for (const c of channels) factors[c] = (st.maxAbs[c] / rest) ** alpha;
      let range = 0;
      for (let c = 0; c < H; c++) range = Math.max(range, st.maxAbs[c] / factors[c]);
      // No smoothing is the plan without statistics, at the calibration method's range.
      if (alpha === 0) range = this.range(op.out);
      const error = smoothingError(weights, factors, meanSquares, range);
      if (alpha === 0) plain = error;
      if (!best || error < best.error) best = { channels, factors, alpha, range, error, relativeError: 0 };
    }
    if (!best || best.alpha === 0) return undefined;
    const { error, ...plan } = best;
    return { ...plan, relativeError: error / plain };
  }

  private smoothedLayerNorm(op: GraphOp & { kind: 'layerNorm' }, plan: OutlierPlan): void {
    const { channels, factors, alpha, relativeError } = plan;
    const inputScale = this.scaleOf(op.input);
    const base = int8Scale(plan.range, op.out);
    const note = (part: OutlierSmoothing['part']): OutlierSmoothing => ({
      part,
      channels,
      factors: channels.map((c) => factors[c]),
      alpha,
      relativeError,
    });
    this.ops.push({
      kind: 'layernorm',
      input: op.input,
      out: op.out,
      constants: this.norm(op.param, op.eps, inputScale, base, (c) => 1 / factors[c]),
      outliers: note('smoothed'),
    });
    this.define(
      op.out,
      'i8',
      Float64Array.from(factors, (f) => f * base),
      127,
    );
    this.smoothing.set(op.out, { base, factors });
    if (!(this.readers.get(op.out) ?? []).some((r) => r.kind === 'add')) return;
    if (this.options.outliers === 'gemm-inputs') {
      const copy = `${op.out}.residual`;
      const scale = int8Scale(this.range(op.out), op.out);
      this.ops.push({
        kind: 'layernorm',
        input: op.input,
        out: copy,
        constants: this.norm(op.param, op.eps, inputScale, scale),
      });
      this.define(copy, 'i8', scale, 127, undefined, op.out);
      this.wideCopy.set(op.out, copy);
      return;
    }
    // Residual readers get the LayerNorm again, written straight into the wide stream: the int8
    // output's step is set by the smoothed channels' range, far coarser than what the stream
    // carries, and the residual path passes its rounding on to every later layer (measured with
    // bench/error-attribution.ts: most of the logit error of sst2-distilbert-outlier). Over twice
    // the calibrated max: an outlier beyond it would saturate, and one of the stream's 21 bits costs
    // nothing measurable.
    const st = this.options.channels!.get(op.out)!;
    let max = 0;
    for (let c = 0; c < st.maxAbs.length; c++) max = Math.max(max, st.maxAbs[c]);
    const wide = `${op.out}.wide`;
    const bound = 2 ** (RESIDUAL_BITS - 1);
    const scale = (WIDE_NORM_HEADROOM * max) / bound;
    this.ops.push({
      kind: 'layernorm',
      input: op.input,
      out: wide,
      constants: this.norm(op.param, op.eps, inputScale, scale),
    });
    this.define(wide, 'wide', scale, bound, undefined, op.out);
    this.wideCopy.set(op.out, wide);
  }

  /**
   * A residual branch (a linear read only by a residual add) whose output has outlier channels:
   * the int8 scale of the other channels (their max / 127) and, per outlier channel, an integer
   * multiple m_c <= 127 of it covering that channel's max.
   */
  branchPlan(op: LinearOp): { channels: number[]; fine: number; multiples: Int8Array } | undefined {
    const st = this.options.channels?.get(op.out);
    if (!st || st.rows === 0) return undefined;
    const channels = outlierChannels(st.maxAbs);
    if (channels.length === 0) return undefined;
    const isOutlier = new Set(channels);
    let rest = 0;
    for (let c = 0; c < st.maxAbs.length; c++) if (!isOutlier.has(c)) rest = Math.max(rest, st.maxAbs[c]);
    // Only where the other channels gain at least BRANCH_MIN_BITS: a model with milder channels keeps its program.
    if (!(st.maxAbs[channels[0]] >= 2 ** BRANCH_MIN_BITS * rest)) return undefined;
    const fine = int8Scale(rest, op.out);
    const multiples = new Int8Array(st.maxAbs.length).fill(1);
    for (const c of channels) multiples[c] = Math.min(127, Math.ceil(st.maxAbs[c] / rest));
    return { channels, fine, multiples };
  }

  /**
   * The branch GEMM requantizes channel c to int8 at m_c x fine (per-channel requantization); the
   * residual add reads it as an 'i8m' operand, q_c m_c at the one scale `fine` (|q_c m_c| <= 128 x
   * 127): the other channels keep int8 resolution of their own range, the outliers theirs, and
   * nothing but the branch's int8 output is stored or read.
   */
  private rescaledBranch(
    op: LinearOp,
    inScale: number,
    factors: Float64Array | undefined,
    plan: { channels: number[]; fine: number; multiples: Int8Array },
  ): void {
    const { fine, multiples } = plan;
    const g = this.gemm(op.param, [op], inScale, [undefined], factors);
    const requant = Array.from(g.weightScale, (sw, c) =>
      toDyadic((inScale * sw) / (fine * multiples[c]), `${op.param} requant[${c}]`),
    );
    this.ops.push({ ...g, out: op.out, epilogue: 'i8', requant });
    this.define(
      op.out,
      'i8',
      Float64Array.from(multiples, (m) => m * fine),
      127,
    );
    this.multiplied.set(op.out, { scale: fine, multipliers: Int32Array.from(multiples) });
  }

  /** A residual add reading a smoothed LayerNorm output: it reads the wide LayerNorm instead. */
  private reconstructedAdd(op: GraphOp & { kind: 'add' }): void {
    const [a, b] = [op.a, op.b].map((id) => this.tensor(this.wideCopy.get(id) ?? id));
    for (const t of [a, b]) {
      if (t.dtype === 'u8')
        throw new Error(`plan: residual add ${op.out} reads ${t.dtype} ${t.id}; it adds int8 and int32 operands`);
    }
    const kind = (t: IntTensor): ResidualOperand =>
      this.multiplied.has(t.id) ? 'i8m' : t.dtype === 'i8' ? 'i8' : 'i32';
    const scale = (t: IntTensor) => this.multiplied.get(t.id)?.scale ?? this.scaleOf(t.id);
    // What the term proof uses: 128 for int8, 128 max m_c for a rescaled branch, an int32 operand's declared bound.
    const bound = (t: IntTensor) => {
      const m = this.multiplied.get(t.id);
      return m ? 128 * Math.max(...m.multipliers) : t.dtype === 'i8' ? 128 : t.bound;
    };
    const constants = planResidualAdd({
      a: { scale: scale(a), maxAbs: bound(a) },
      b: { scale: scale(b), maxAbs: bound(b) },
      bits: RESIDUAL_BITS,
      range: this.range(op.out),
    });
    const kinds = { a: kind(a), b: kind(b) };
    const bounds: { a?: number; b?: number } = {};
    const multipliers: { a?: Int32Array; b?: Int32Array } = {};
    for (const [side, t] of [
      ['a', a],
      ['b', b],
    ] as const) {
      if (kinds[side] !== 'i8') bounds[side] = bound(t);
      const m = this.multiplied.get(t.id);
      if (m) multipliers[side] = m.multipliers;
    }
    const plain = kinds.a === 'i8' && kinds.b === 'i8';
    this.ops.push({
      kind: 'residual',
      a: a.id,
      b: b.id,
      out: op.out,
      constants,
      ...(plain ? {} : { operands: kinds, bounds }),
      ...(multipliers.a || multipliers.b ? { multipliers } : {}),
    });
    this.define(op.out, 'wide', constants.scale, 2 ** (RESIDUAL_BITS - 1));
  }

  private embed(op: GraphOp & { kind: 'embed' }): void {
    const hidden = widthOf(tensorSpec(this.graph, op.out));
    const word = quantizeTensorPerTensor(param(this.params, op.word));
    // Marian's table is computed, not stored: the rows of every position a program may see (maxKeys).
    const position = quantizeTensorPerTensor(
      op.position === 'sinusoidal' ? sinusoidalTable(this.options.maxKeys, hidden) : param(this.params, op.position),
    );
    // Marian's sqrt(d_model) multiplies the word rows: the int8 table stays, its real scale carries the factor.
    const wordScale = word.scale * (op.scale ?? 1);
    const tokenType = op.tokenType ? quantizeTensorPerTensor(param(this.params, op.tokenType)) : undefined;
    const { scale, ...constants } = planEmbedding({
      wordScale,
      positionScale: position.scale,
      tokenTypeScale: tokenType?.scale,
      bits: RESIDUAL_BITS,
      range: this.range(op.out),
    });
    this.ops.push({
      kind: 'embed',
      out: op.out,
      tables: { word: word.values, position: position.values, tokenType: tokenType?.values, hidden },
      constants,
      tableScales: { word: wordScale, position: position.scale, tokenType: tokenType?.scale },
    });
    this.define(op.out, 'wide', scale, 2 ** (RESIDUAL_BITS - 1));
  }

  private attention(op: GraphOp & { kind: 'attention' }): void {
    const projections = [op.q, op.k, op.v].map((id) => this.producer(id));
    if (!projections.every((p): p is LinearOp => p?.kind === 'linear' && p.rows === 'all')) {
      throw new Error(`plan: attention ${op.out} needs q, k, v each projected by a linear over all rows`);
    }
    const [pq, pk, pv] = projections;
    if (pk.input !== pv.input) throw new Error(`plan: attention ${op.out} has k and v projected from different inputs`);
    const cross = pq.input !== pk.input;
    if (cross && (op.causal || op.cache))
      throw new Error(`plan: cross-attention ${op.out} over another stream cannot be causal or cached`);
    if (cross && this.graph.kind !== 'encoder-decoder')
      throw new Error(`plan: attention ${op.out} reads two streams outside an encoder-decoder`);
    if ((op.causal || op.cache) && this.graph.kind === 'encoder')
      throw new Error(`plan: causal attention ${op.out} has no integer planner in an encoder`);
    const scales = [op.q, op.k, op.v].map((id) => int8Scale(this.range(id), id));
    const prefix = op.out.slice(0, op.out.lastIndexOf('.'));
    const H = widthOf(tensorSpec(this.graph, op.q));
    // Self-attention: one GEMM over q|k|v. Cross-attention (an encoder-decoder's decoder): q from
    // the decoder's stream, k|v fused over the encoder's output (rows = source positions).
    const groups: { name: string; linears: LinearOp[]; scales: number[] }[] = cross
      ? [
          { name: `${prefix}.cross_q`, linears: [pq], scales: [scales[0]] },
          { name: `${prefix}.cross_kv`, linears: [pk, pv], scales: [scales[1], scales[2]] },
        ]
      : [{ name: `${prefix}.qkv`, linears: [pq, pk, pv], scales }];
    for (const group of groups) {
      const { scale: inScale, factors } = this.gemmInput(group.linears[0].input);
      const g = this.gemm(group.name, group.linears, inScale, group.scales, factors);
      group.linears.forEach((p) => this.done.add(p));
      this.ops.push({ ...g, out: group.name, epilogue: 'i8' });
      const perChannel = new Float64Array(g.N);
      group.scales.forEach((s, i) => perChannel.fill(s, i * H, (i + 1) * H));
      const rowsLike = tensorSpec(this.graph, group.linears[0].out).shape;
      this.tensors.set(group.name, {
        id: group.name,
        dtype: 'i8',
        shape: [...rowsLike.slice(0, -1), g.N],
        scale: perChannel,
        bound: 128,
      });
    }
    const D = H / op.heads;
    if (!Number.isInteger(D) || D % 4 !== 0) {
      throw new RangeError(
        `plan: head size ${D} (hidden ${H} / ${op.heads} heads) is not a multiple of 4; the packed int8 attention needs whole words per head`,
      );
    }
    const [sq, sk, sv] = scales;
    const softmax = deriveSoftmaxI8Constants((sq * sk) / Math.sqrt(D), this.options.maxKeys);
    const contextScale = int8Scale(this.range(op.out), op.out);
    const context = toDyadic((PROBABILITY_SCALE * sv) / contextScale, `${op.out} requant`);
    const slices = cross
      ? {
          q: { tensor: groups[0].name, channel: 0 },
          k: { tensor: groups[1].name, channel: 0 },
          v: { tensor: groups[1].name, channel: H },
        }
      : {
          q: { tensor: groups[0].name, channel: 0 },
          k: { tensor: groups[0].name, channel: H },
          v: { tensor: groups[0].name, channel: 2 * H },
        };
    this.ops.push({
      kind: 'attention',
      ...slices,
      out: op.out,
      heads: op.heads,
      headDim: D,
      causal: op.causal,
      softmax,
      context,
      ...(op.cache ? { cache: { layer: this.cacheLayers++ } } : {}),
    });
    this.define(op.out, 'i8', contextScale, 127);
  }

  private linear(op: LinearOp): void {
    const next = sole(this.readers.get(op.out));
    // q, k and v are planned (fused) by the attention that reads them.
    if (next?.kind === 'attention') return;
    const { scale: inScale, factors } = this.gemmInput(op.input);
    if (op.out === this.graph.output.tensor) {
      const g = this.gemm(op.param, [op], inScale, [undefined], factors);
      this.ops.push({ ...g, out: op.out, epilogue: 'i32' });
      this.define(
        op.out,
        'i32',
        g.weightScale.map((sw) => sw * inScale),
        2 ** 31 - 1,
      );
      return;
    }
    if (next?.kind === 'activation' && isGelu(next)) {
      const g = this.gemm(op.param, [op], inScale, [undefined], factors);
      const geluScale = int8Scale(this.range(next.out), next.out);
      const meanWeightScale = g.weightScale.reduce((a, b) => a + b, 0) / g.N;
      const gelu = deriveGeluI8Constants(inScale * meanWeightScale, geluScale);
      const requant = Array.from(g.weightScale, (sw) => geluInputRescale(inScale * sw));
      this.ops.push({ ...g, out: next.out, epilogue: 'gelu-i8', requant, gelu });
      this.done.add(next);
      this.define(next.out, 'i8', geluScale, 127);
      return;
    }
    if (next?.kind === 'activation' && next.fn === 'silu') {
      const g = this.gemm(op.param, [op], inScale, [undefined], factors);
      const siluScale = int8Scale(this.range(next.out), next.out);
      // Per-tensor input rescale for the struct; the per-channel requant is what the kernel uses.
      const meanWeightScale = g.weightScale.reduce((a, b) => a + b, 0) / g.N;
      const silu = deriveSiluI8Constants(inScale * meanWeightScale, siluScale);
      const requant = Array.from(g.weightScale, (sw) => siluInputRescale(inScale * sw));
      this.ops.push({ ...g, out: next.out, epilogue: 'silu-i8', requant, silu });
      this.done.add(next);
      this.define(next.out, 'i8', siluScale, 127);
      return;
    }
    if (next?.kind === 'add' && op.rows === 'all' && (this.options.outliers ?? 'auto') === 'auto') {
      const branch = this.branchPlan(op);
      if (branch) {
        this.rescaledBranch(op, inScale, factors, branch);
        return;
      }
    }
    const outScale = int8Scale(this.range(op.out), op.out);
    const g = this.gemm(op.param, [op], inScale, [outScale], factors);
    this.ops.push({ ...g, out: op.out, epilogue: 'i8' });
    this.define(op.out, 'i8', outScale, 127);
    if (next?.kind === 'activation' && (next.fn === 'tanh' || next.fn === 'relu') && op.rows === 'first') {
      const outputScale = next.fn === 'tanh' ? 1 / 127 : outScale;
      this.ops.push({
        kind: 'lookup',
        input: op.out,
        out: next.out,
        table: activationTable(next.fn, outScale, outputScale),
      });
      this.done.add(next);
      this.define(next.out, 'i8', outputScale, 127);
    }
  }
}

/** Rows 0..positions-1 of the sinusoidal table, as the float interpreters compute them (float32). */
function sinusoidalTable(positions: number, hidden: number): Tensor {
  const data = new Float32Array(positions * hidden);
  for (let p = 0; p < positions; p++) data.set(sinusoidalRow(p, hidden), p * hidden);
  return { shape: [positions, hidden], data };
}

/** Plans a graph with float parameters and calibrated ranges into an integer program. */
export function planGraph(
  graph: ModelGraph,
  params: Params,
  ranges: ActivationRanges,
  options: PlanOptions,
): IntProgram {
  const encoder = graph.kind === 'encoder' && graph.output.kind !== 'lm-logits';
  const decoder = graph.kind !== 'encoder' && graph.output.kind === 'lm-logits';
  if (!encoder && !decoder) {
    throw new Error(
      `plan: a ${graph.kind} with ${graph.output.kind} has no integer planner yet (encoders, language models, encoder-decoders with LM logits)`,
    );
  }
  return new Planner(graph, params, ranges, options).run();
}
