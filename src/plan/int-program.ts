/**
 * The integer program: what the planner makes of a model graph, what `.i8t` files (version 2)
 * store, and what both integer interpreters (src/cpu/int-program.ts, the specification, and
 * src/runtime/int-program.ts on the GPU) execute op by op. Every tensor carries its integer type,
 * real scale and proven bound; every op carries the integer constants its kernel needs. Nothing is
 * decided at run time.
 */
import type { ModelKind, OutputKind, Shape } from '../graph/types.js';
import type { Dyadic } from '../reference/dyadic.js';
import type { EmbeddingConstants, EmbeddingTables } from '../reference/embedding-i8.js';
import type { GeluI8Constants } from '../reference/gelu-i8.js';
import type { LayerNormI8Constants } from '../reference/layernorm-i8.js';
import type { ResidualAddPlan, ResidualOperand } from '../reference/residual-add.js';
import type { SiluI8Constants } from '../reference/silu-i8.js';
import type { SoftmaxI8Constants } from '../reference/softmax-i8.js';

export const INT_PROGRAM_VERSION = 2;

/**
 * i8: int8 activations; u8: probabilities; wide: the residual stream (int32 holding
 * RESIDUAL_BITS-bit values); i32: accumulators read back (logits, pooled sums).
 */
export type IntDtype = 'i8' | 'u8' | 'wide' | 'i32';

export interface IntTensor {
  id: string;
  dtype: IntDtype;
  shape: Shape;
  /** Real value = q * scale (per channel when an array: fused Q|K|V, logits). */
  scale: number | Float64Array;
  /** Proven max |q|. */
  bound: number;
}

/** word + position (+ type) table rows, each rescaled to the stream's scale. */
export interface IntEmbedOp {
  kind: 'embed';
  out: string;
  tables: EmbeddingTables;
  constants: EmbeddingConstants;
  /** Real scales of the int8 tables (for dumps and checks). */
  tableScales: { word: number; position: number; tokenType?: number };
}

/**
 * What the planner did about outlier channels of a LayerNorm output (its constants already include
 * it; the field says so in dumps). 'smoothed': channel c of the output holds x_c / factor, and the
 * GEMMs reading it have weight column c multiplied by factor. 'outliers': the output holds only
 * those channels' remainder x_c (1 - 1/factor), added back in the wide stream for residual readers
 * (files converted before CONVERTER_VERSION 2; since then a LayerNorm writing the wide stream itself
 * serves the residual readers, and the planner makes no 'outliers' part).
 */
export interface OutlierSmoothing {
  part: 'smoothed' | 'outliers';
  channels: number[];
  factors: number[];
  /** Migration strength chosen: factor = (channel max / max of the other channels)^alpha. */
  alpha: number;
  /** Estimated GEMM output error from int8 rounding, relative to no smoothing. */
  relativeError: number;
}

/** Integer LayerNorm of the wide stream into int8. */
export interface IntLayerNormOp {
  kind: 'layernorm';
  input: string;
  out: string;
  constants: LayerNormI8Constants;
  outliers?: OutlierSmoothing;
}

/**
 * y = x W^T + b with int32 accumulation over all rows or the first token of each sequence, then an
 * epilogue: per-channel dyadic requantization to int8, i-GELU or i-SiLU (requant into the
 * activation's fixed point), or the int32 accumulator itself.
 */
export interface IntGemmOp {
  kind: 'gemm';
  /** Names the op in dumps and errors (the fused linears' names joined by '|'). */
  name: string;
  input: string;
  out: string;
  rows: 'all' | 'first';
  N: number;
  K: number;
  /** [N, K] int8, row-major. */
  weight: Int8Array;
  /** int32 at s_in * s_w[c]. */
  bias: Int32Array;
  weightScale: Float64Array;
  epilogue: 'i8' | 'gelu-i8' | 'silu-i8' | 'i32';
  /** One per output channel ('i8', 'gelu-i8', 'silu-i8'). */
  requant?: Dyadic[];
  gelu?: GeluI8Constants;
  /** Marian's swish (src/reference/silu-i8.ts). */
  silu?: SiluI8Constants;
}

/** A head-major slice of a token tensor's channels: columns [channel, channel + heads * headDim). */
export interface ChannelSlice {
  tensor: string;
  channel: number;
}

/**
 * scores = q_h . k_h^T (int32), i-softmax over allowed keys (uint8 at 2^-8, the 1/sqrt(d) folded
 * into its constants), context = probs . v_h requantized to int8 by one dyadic.
 */
export interface IntAttentionOp {
  kind: 'attention';
  q: ChannelSlice;
  k: ChannelSlice;
  v: ChannelSlice;
  out: string;
  heads: number;
  headDim: number;
  causal: boolean;
  softmax: SoftmaxI8Constants;
  context: Dyadic;
  /**
   * Decoders: this layer's slot in the KV cache. K and V are int8 at the fused GEMM's planned
   * per-layer scales, so entries written by one run are read unchanged by every later one.
   */
  cache?: { layer: number };
}

/** a, b (int8, or the wide stream itself in pre-LN decoders) rescaled onto the wide stream and added. */
export interface IntResidualOp {
  kind: 'residual';
  a: string;
  b: string;
  out: string;
  constants: ResidualAddPlan;
  /**
   * Operand kinds (absent: both int8). An 'i32' operand is the wide stream, read with its declared
   * bound; an 'i8m' operand is an int8 tensor read as q[r, c] m_c (a residual branch whose outlier
   * channels are at integer multiples m_c of the others' scale).
   */
  operands?: { a: ResidualOperand; b: ResidualOperand };
  /** Declared max |x| of each 'i32' operand (2^(RESIDUAL_BITS-1): the stream's saturation) and of q m_c of each 'i8m' one. */
  bounds?: { a?: number; b?: number };
  /** The column multipliers m_c of each 'i8m' operand. */
  multipliers?: { a?: Int32Array; b?: Int32Array };
}

/** int8 -> int8 by a 256-entry table indexed by q + 128 (tanh, ReLU in heads). */
export interface IntLookupOp {
  kind: 'lookup';
  input: string;
  out: string;
  table: Int8Array;
}

/**
 * The wide stream requantized to int8 by one dyadic: a GEMM's input where no LayerNorm stands
 * between (Marian has no embedding LayerNorm: layer 0's projections read the embedding sum).
 */
export interface IntRequantizeOp {
  kind: 'requantize';
  input: string;
  out: string;
  requant: Dyadic;
}

/** One int32 vector per sequence: the sum over real tokens ('mean', divided at read-back) or the first token. */
export interface IntPoolOp {
  kind: 'pool';
  input: string;
  out: string;
  mode: 'mean' | 'cls';
}

export type IntOp =
  | IntEmbedOp
  | IntLayerNormOp
  | IntGemmOp
  | IntAttentionOp
  | IntResidualOp
  | IntLookupOp
  | IntRequantizeOp
  | IntPoolOp;

export interface IntProgram {
  version: number;
  kind: ModelKind;
  tensors: IntTensor[];
  ops: IntOp[];
  /**
   * The tensor read back; its real value is q * scale[channel] ('pooled' mean: divided by the count).
   * 'token-logits' are [batch, query, labels] int32 accumulators (token classifiers), one row per token.
   * 'lm-logits' ([batch, query, vocab] int32 accumulators at per-channel scales) carry `rescale`:
   * per-channel dyadics onto one common scale (planLogitRescale, proven within int32), so that
   * next-token choice compares integers.
   */
  output: {
    tensor: string;
    kind: OutputKind;
    scale: Float64Array;
    rescale?: { scale: number; requant: Dyadic[]; maxAbs: number };
  };
  /** Positions the embedding table holds (the longest sequence). */
  maxPositions: number;
}

export function intTensor(program: IntProgram, id: string): IntTensor {
  const t = program.tensors.find((x) => x.id === id);
  if (!t) throw new Error(`integer program: no tensor "${id}"`);
  return t;
}

/** The numeric width (last dimension) of a tensor. */
export function intWidth(t: IntTensor): number {
  const w = t.shape[t.shape.length - 1];
  if (typeof w !== 'number') throw new Error(`integer program: tensor "${t.id}" has a symbolic last dimension`);
  return w;
}

/** Token tensors have a row per (sequence, position); the others a row per sequence. */
export function rowsPerSequence(t: IntTensor): 'tokens' | 'one' {
  return t.shape.length === 3 ? 'tokens' : 'one';
}
