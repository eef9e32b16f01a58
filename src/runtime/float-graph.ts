/**
 * The float model graph on WebGPU in float32: the accuracy reference of the integer model, the
 * source of calibration ranges and the float speed baseline. Its specification is the CPU
 * interpreter (src/cpu/float-graph.ts); what it computes, kernel for kernel, is what the
 * hand-written float encoder computed before the graph existed, so that calibrations (and the
 * built-in model converted from them) do not move.
 *
 * Ops become launches by pattern over the graph, each pattern one kernel sequence:
 *   - the q, k, v linears of one input, read only by an attention -> one GEMM over the
 *     concatenated weights into [tokens, 3H], then the head split (q scaled by 1/sqrt(d), k, v^T
 *     per head), a batched Q.K^T GEMM, the masked softmax, and a batched P.V GEMM straight into
 *     the context's columns;
 *   - an add read only by a LayerNorm -> the LayerNorm kernel's residual input (x + residual);
 *     any other add (pre-LN residual streams, read by a LayerNorm and the next add) -> the
 *     elementwise add kernel;
 *   - a linear read only by a GELU (erf or tanh) -> a GEMM with the GELU in its epilogue, unless
 *     the linear's output is captured: then a plain GEMM and the elementwise GELU (the way to read
 *     the GELU's input);
 *   - causal attention -> the causal softmax variant; an attention's `cache` flag is no obstacle:
 *     a forward runs whole sequences and keeps no keys (the pass a cached decoder reproduces);
 *   - a linear over first tokens -> a GEMM whose A rows are a sequence apart (aRow);
 *   - mean pooling -> the mean-pool kernel; other linears, LayerNorms, GELU / tanh / ReLU / SiLU ->
 *     their kernel. Anything else (first-token pooling) is refused at creation, by name;
 *   - an encoder-decoder (Marian): the source sentences run at the target batch's length (the
 *     caller pads both to one length, marianBatches' sameLength), so every token tensor has
 *     batch * seq rows; the encoder's embedding reads the source ids and positions, attentions
 *     over source keys mask with the source mask; cross-attention's q linear (over the decoder)
 *     and k, v linears (over the encoder output) write the columns of one [tokens, 3H] buffer
 *     that the usual head split reads. Sinusoidal position tables (transformers' Marian table,
 *     sinusoidalRow) are built at creation for `maxPositions` rows, and a word table scaled by
 *     sqrt(d_model) is uploaded as its float32 products (what transformers multiplies).
 * A language model's head is a linear over every position: logits [batch * seq, vocab]. A weight
 * shared by two parameter names (GPT-2's LM head is its word embeddings) is uploaded once when
 * both uses need the same layout.
 *
 * Programs are separate from run data. At creation weights are uploaded, every pipeline variant a
 * length can pick (GEMM tiles, softmax workgroups) is compiled, and every launch gets a Dispatch
 * bound once to activation buffers sized for a capacity (batch, seq). A forward only writes the
 * token ids and each launch's uniform and grid; a larger (batch, seq) grows the capacity (at least
 * doubling) and rebinds once. Activation buffers are shared by tensors of one layout whose lives do
 * not overlap; tensors of different row strides never share, so row padding stays zero (the GEMMs
 * read whole vec4 words, padding included).
 *
 * Layouts: token tensors [batch * seq, width] with rows padded to a multiple of 4 (the graph's
 * output and the fused [tokens, 3H] projection unpadded), token = b * seq + s; captures come back
 * unpadded, keyed by tensor id. Captured sums of a fused add are formed on the CPU from the
 * captured terms with one f32 addition, which is what the LayerNorm kernel computes before
 * normalizing.
 */
import { checkEmbeddingIds, checkTokenBatch } from '../core/token-batch.js';
import type { TokenBatch } from '../core/types.js';
import { captureSet, checkFloatParams, isTokenTensor, sinusoidalRow } from '../cpu/float-graph.js';
import type { Gpu } from '../gpu/gpu.js';
import { type GpuMemory, profilingTimer, sumSizes } from '../gpu/profile.js';
import {
  type BoundProgram,
  Dispatch,
  encodePrograms,
  type KernelTime,
  type ProgramInfo,
  readKernelTimes,
} from '../gpu/program.js';
import { type Params, param } from '../graph/architectures.js';
import {
  type AttentionOp,
  consumers,
  type GraphOp,
  type LinearOp,
  type ModelGraph,
  tensorSpec,
  widthOf,
} from '../graph/types.js';
import { addF32Bindings, addF32Program } from '../kernels/add-f32.js';
import { type EmbeddingF32Shape, embeddingF32Bindings, embeddingF32Program } from '../kernels/embedding-f32.js';
import { type ActivationF32, geluF32Bindings, geluF32Program } from '../kernels/gelu-f32.js';
import {
  type GemmF32Options,
  gemmF32Bindings,
  gemmF32Kernel,
  gemmF32RunData,
  gemmF32Variant,
} from '../kernels/gemm-f32.js';
import type { GemmShape } from '../kernels/gemm-shape.js';
import {
  type LayerNormF32Options,
  type LayerNormF32Shape,
  layerNormF32Bindings,
  layerNormF32Program,
} from '../kernels/layernorm-f32.js';
import { type MeanPoolF32Shape, meanPoolF32Bindings, meanPoolF32Program } from '../kernels/mean-pool-f32.js';
import { type SoftmaxF32Shape, softmaxF32Bindings, softmaxF32Program } from '../kernels/softmax-f32.js';
import {
  type SplitHeadsF32Shape,
  splitHeadsF32Bindings,
  splitHeadsF32Program,
  splitHeadsF32Sizes,
} from '../kernels/split-heads-f32.js';
import { padRowsF32, wordsPerRow } from '../quant/pack.js';
import { type Capacity, type CreationCounts, compileVariants, creationCounts, grownCapacity } from './capacity.js';

const MAP_READ = 0x01;
const COPY_DST = 0x08;

export interface FloatGraphForwardOptions {
  /** Tensor ids to read back, or every tensor of the graph (`true`). */
  capture?: readonly string[] | boolean;
  /** Time every launch with GPU timestamps (needs 'timestamp-query'; not with `capture`). */
  profile?: boolean;
  /** Pooled models: the mean over real tokens (the graph's) or the first token ('cls'). */
  pooling?: 'mean' | 'cls';
  /** An encoder-decoder's source sentences: same batch size and seqLen as the target batch. */
  source?: TokenBatch;
}

export interface FloatGraphForwardResult {
  /** [batch, labels] (classifier logits) or [batch * seq, vocab] (language-model logits). */
  logits?: Float32Array;
  /** [batch, hidden], when the graph's output is pooled vectors. */
  pooled?: Float32Array;
  /** The captured tensors, unpadded row-major, by tensor id. */
  captures?: Map<string, Float32Array>;
  /** With `profile`: GPU time of every launch, in order. */
  kernels?: KernelTime[];
}

/** A buffer of the GPU program: a graph tensor, or a fused projection holding several. */
interface Phys {
  id: string;
  perToken: boolean;
  /** Floats between row starts. */
  stride: number;
}

/** Where a graph tensor's values are: columns of a buffer, or the f32 sum of two tensors. */
type Source = { phys: string; column: number; width: number } | { sum: [string, string] };

/** Which capture mode a launch belongs to: fused GELU (its input not captured) or not. */
interface LaunchMode {
  tensor: string;
  captured: boolean;
}

interface Launch {
  reads: string[];
  writes: string[];
  info: (batch: number, seq: number) => ProgramInfo;
  bindings: (c: Capacity) => GPUBuffer[];
  mode?: LaunchMode;
  dispatch?: Dispatch;
}

interface Activations {
  slots: GPUBuffer[];
  inputs: {
    inputIds: GPUBuffer;
    positionIds: GPUBuffer;
    tokenTypeIds?: GPUBuffer;
    mask: GPUBuffer;
    sourceIds?: GPUBuffer;
    sourcePositionIds?: GPUBuffer;
    sourceMask?: GPUBuffer;
  };
  scratch: Record<'q' | 'k' | 'vT' | 'scores' | 'probs' | 'zeroBias', GPUBuffer> | undefined;
  staging: GPUBuffer;
}

const pad4 = (n: number) => wordsPerRow(n) * 4;

function sole<T>(list: T[] | undefined): T | undefined {
  return list?.length === 1 ? list[0] : undefined;
}

function unsupported(op: GraphOp, why: string): Error {
  return new RangeError(
    `float graph on the GPU: op ${op.kind} "${op.out}" ${why}; the GPU float path cannot run it yet (the CPU interpreter can)`,
  );
}

export class FloatGraphGpu {
  private readonly owned: GPUBuffer[] = [];
  private readonly phys = new Map<string, Phys>();
  private readonly sources = new Map<string, Source>();
  private readonly launches: Launch[] = [];
  private readonly slotOf = new Map<string, number>();
  private slotLayouts: Phys[] = [];
  private readonly weights = new Map<string, GPUBuffer>();
  /** Uploaded weights by their data, so that tied parameters share one buffer. */
  private readonly weightsByData = new Map<Float32Array, GPUBuffer>();
  private readonly scaledWords = new Map<Float32Array, Map<number, GPUBuffer>>();
  private readonly readers: Map<string, GraphOp[]>;
  private readonly producer = new Map<string, GraphOp>();
  /** Linears fused into their GELU reader, by output id. */
  private readonly geluFused = new Set<string>();
  /** Adds fused into their LayerNorm reader. */
  private readonly fusedAdds = new Map<string, GraphOp & { kind: 'add' }>();
  /** Adds of their own launch (not fused into a LayerNorm). */
  private readonly freeAdds = new Set<GraphOp>();
  /** The attention that consumes each fused projection, by its q linear. */
  private readonly projections = new Map<LinearOp, AttentionOp>();
  private readonly projected = new Set<GraphOp>();
  /** Cross-attentions, by their q linear and by their k linear (the two GEMMs into one q|k|v buffer). */
  private readonly crossByQuery = new Map<LinearOp, AttentionOp>();
  private readonly crossByKey = new Map<LinearOp, AttentionOp>();
  /** The target's embedding (the only one of an encoder or decoder). */
  private readonly embed: GraphOp & { kind: 'embed' };
  /** An encoder-decoder's source embedding. */
  private readonly sourceEmbed: (GraphOp & { kind: 'embed' }) | undefined;
  private readonly maxPositions: number;
  private attentionShape = { heads: 1, headDim: 4 };
  private activations: Activations | undefined;
  private capacity: Capacity | undefined;
  private disposed = false;

  private constructor(
    readonly gpu: Gpu,
    readonly graph: ModelGraph,
    private readonly params: Params,
    maxPositions?: number,
  ) {
    this.readers = consumers(graph);
    for (const op of graph.ops) this.producer.set(op.out, op);
    const embeds = graph.ops.filter((o): o is GraphOp & { kind: 'embed' } => o.kind === 'embed');
    const sourceEmbeds = embeds.filter((o) => this.isSource(o.out));
    const targetEmbeds = embeds.filter((o) => !this.isSource(o.out));
    if (targetEmbeds.length !== 1 || sourceEmbeds.length > 1)
      throw new RangeError(
        `float graph on the GPU: ${targetEmbeds.length} embed ops over the queries and ${sourceEmbeds.length} over the source; one of each at most is supported`,
      );
    this.embed = targetEmbeds[0];
    this.sourceEmbed = sourceEmbeds[0];
    const tables = embeds.map((e) => {
      if (e.position !== 'sinusoidal') return param(params, e.position).shape[0];
      if (maxPositions === undefined)
        throw unsupported(e, 'uses sinusoidal positions, whose table needs the maxPositions option');
      return maxPositions;
    });
    this.maxPositions = Math.min(...tables);
  }

  private isSource(id: string): boolean {
    return tensorSpec(this.graph, id).shape.includes('source');
  }

  static async create(
    gpu: Gpu,
    graph: ModelGraph,
    params: Params,
    options: { capacity?: Capacity; maxPositions?: number } = {},
  ): Promise<FloatGraphGpu> {
    checkFloatParams(graph, params);
    const m = options.maxPositions;
    if (m !== undefined && !(Number.isInteger(m) && m >= 1))
      throw new RangeError(`float graph on the GPU: maxPositions ${m} must be a positive integer`);
    const runtime = new FloatGraphGpu(gpu, graph, params, m);
    try {
      runtime.build();
      runtime.assignSlots();
      const c = options.capacity ?? { batch: 1, seq: Math.min(runtime.maxPositions, 64) };
      await runtime.ensureCapacity(c.batch, c.seq);
      await runtime.compileVariants();
    } catch (e) {
      runtime.dispose();
      throw e;
    }
    return runtime;
  }

  // ---- building the launches --------------------------------------------------------------------

  private width(id: string): number {
    return widthOf(tensorSpec(this.graph, id));
  }

  private definePhys(id: string, perToken: boolean, stride: number): Phys {
    const p = { id, perToken, stride };
    this.phys.set(id, p);
    return p;
  }

  /** A graph tensor stored whole in its own buffer (rows padded unless it is the graph's output). */
  private tensorPhys(id: string): Phys {
    const w = this.width(id);
    const p = this.definePhys(
      id,
      isTokenTensor(tensorSpec(this.graph, id)),
      id === this.graph.output.tensor ? w : pad4(w),
    );
    this.sources.set(id, { phys: id, column: 0, width: w });
    return p;
  }

  private physOf(id: string): Phys {
    const p = this.phys.get(id);
    if (!p)
      throw new Error(
        `float graph on the GPU: tensor "${id}" has no buffer (read before it is written, or fused away)`,
      );
    return p;
  }

  /** The buffer a GEMM reads as A: rows padded to whole vec4 words. */
  private gemmInput(op: GraphOp, id: string): Phys {
    const p = this.physOf(id);
    if (p.stride !== pad4(this.width(id)))
      throw unsupported(op, `reads "${id}", whose rows are not padded to vec4 words`);
    return p;
  }

  private weightBuffer(name: string, make: () => Float32Array): GPUBuffer {
    let b = this.weights.get(name);
    if (!b) {
      const data = make();
      b = this.weightsByData.get(data);
      if (!b) {
        b = this.gpu.storage(`float-graph.${name}`, data);
        this.owned.push(b);
        this.weightsByData.set(data, b);
      }
      this.weights.set(name, b);
    }
    return b;
  }

  private buffer(id: string): GPUBuffer {
    return this.activations!.slots[this.slotOf.get(id)!];
  }

  /** Rows of a tensor in a run of (batch, seq). */
  private rows(p: Phys, batch: number, seq: number): number {
    return p.perToken ? batch * seq : batch;
  }

  private build(): void {
    this.findPatterns();
    if (!this.graph.ops.some((o) => o.out === this.graph.output.tensor))
      throw new Error(`float graph on the GPU: no op writes the output "${this.graph.output.tensor}"`);
    for (const op of this.graph.ops) {
      const cross = op.kind === 'linear' ? (this.crossByQuery.get(op) ?? this.crossByKey.get(op)) : undefined;
      if (cross && op.kind === 'linear') {
        this.buildCrossProjection(op, cross, this.crossByQuery.has(op) ? 'q' : 'kv');
        continue;
      }
      if (this.projected.has(op) && !this.projections.has(op as LinearOp)) continue;
      switch (op.kind) {
        case 'embed':
          this.buildEmbed(op);
          break;
        case 'layerNorm':
          this.buildLayerNorm(op);
          break;
        case 'add':
          // Fused into its LayerNorm: captured as the f32 sum of its terms.
          if (this.freeAdds.has(op)) this.buildAdd(op);
          else this.sources.set(op.out, { sum: [op.a, op.b] });
          break;
        case 'linear':
          if (this.projections.has(op)) this.buildProjection(op, this.projections.get(op)!);
          else this.buildLinear(op);
          break;
        case 'activation':
          this.buildActivation(op);
          break;
        case 'attention':
          this.buildAttention(op);
          break;
        case 'pool':
          this.buildPool(op);
          break;
      }
    }
  }

  /** Decides the fusions (and refuses what no pattern covers) before any launch is built. */
  private findPatterns(): void {
    for (const op of this.graph.ops) {
      if (op.kind === 'add') {
        const reader = sole(this.readers.get(op.out));
        if (reader?.kind === 'layerNorm' && op.out !== this.graph.output.tensor) this.fusedAdds.set(reader.out, op);
        else this.freeAdds.add(op);
      } else if (op.kind === 'linear') {
        const reader = sole(this.readers.get(op.out));
        if (
          reader?.kind === 'activation' &&
          (reader.fn === 'gelu' || reader.fn === 'gelu_tanh') &&
          op.rows === 'all' &&
          op.out !== this.graph.output.tensor
        )
          this.geluFused.add(op.out);
      } else if (op.kind === 'attention' && this.isCross(op)) {
        this.findCross(op);
      } else if (op.kind === 'attention') {
        const linears = [op.q, op.k, op.v].map((id) => this.producer.get(id));
        const [q] = linears;
        const fusable =
          new Set([op.q, op.k, op.v]).size === 3 &&
          linears.every(
            (l) =>
              l?.kind === 'linear' &&
              l.rows === 'all' &&
              q?.kind === 'linear' &&
              l.input === q.input &&
              sole(this.readers.get(l.out)) === op,
          ) &&
          this.width(op.q) === this.width(op.v);
        if (!fusable)
          throw unsupported(
            op,
            'does not read q, k, v linears of one input of equal widths that only it reads (the fused q|k|v projection)',
          );
        // The fused GEMM runs where the first of the three linears is.
        const first = this.graph.ops.find((o) => linears.includes(o)) as LinearOp;
        this.projections.set(first, op);
        for (const l of linears) this.projected.add(l!);
        const headDim = this.width(op.q) / op.heads;
        this.attentionShape = {
          heads: Math.max(this.attentionShape.heads, op.heads),
          headDim: Math.max(this.attentionShape.headDim, headDim),
        };
      } else if (op.kind === 'activation') {
        if (op.fn !== 'gelu' && op.fn !== 'gelu_tanh' && op.fn !== 'tanh' && op.fn !== 'relu' && op.fn !== 'silu')
          throw unsupported(op, `applies ${op.fn}`);
      } else if (op.kind === 'pool' && op.mode !== 'mean') {
        throw unsupported(op, `pools the ${op.mode} token`);
      }
    }
  }

  /** Queries over the decoder's positions, keys and values over the encoder's. */
  private isCross(op: AttentionOp): boolean {
    return !this.isSource(op.q) && this.isSource(op.k);
  }

  /**
   * Cross-attention: q a linear of the decoder's positions, k and v linears of one source tensor
   * (the encoder output), each read only by the attention, all of one width.
   */
  private findCross(op: AttentionOp): void {
    const [q, k, v] = [op.q, op.k, op.v].map((id) => this.producer.get(id));
    const ok =
      q?.kind === 'linear' &&
      k?.kind === 'linear' &&
      v?.kind === 'linear' &&
      [q, k, v].every((l) => l.rows === 'all' && sole(this.readers.get(l.out)) === op) &&
      k.input === v.input &&
      this.isSource(v.input) &&
      !op.causal &&
      this.width(op.q) === this.width(op.v) &&
      this.graph.ops.indexOf(k) < this.graph.ops.indexOf(v);
    if (!ok)
      throw unsupported(
        op,
        'is a cross-attention without a q linear of the queries and k, v linears of one source tensor of equal widths (in that order) that only it reads',
      );
    this.crossByQuery.set(q, op);
    this.crossByKey.set(k, op);
    for (const l of [q, k, v]) this.projected.add(l);
    this.attentionShape = {
      heads: Math.max(this.attentionShape.heads, op.heads),
      headDim: Math.max(this.attentionShape.headDim, this.width(op.q) / op.heads),
    };
  }

  /** The q|k|v buffer of a cross-attention, defined by its q linear's GEMM. */
  private crossPhys(op: AttentionOp): Phys {
    const id = `${op.q}|${op.k}|${op.v}`;
    const existing = this.phys.get(id);
    if (existing) return existing;
    const H = this.width(op.q);
    const p = this.definePhys(id, true, 3 * H);
    [op.q, op.k, op.v].forEach((t, i) => this.sources.set(t, { phys: id, column: i * H, width: H }));
    return p;
  }

  /** Cross-attention's q GEMM (columns [0, H)) or k|v GEMM over the source (columns [H, 3H)). */
  private buildCrossProjection(linear: LinearOp, op: AttentionOp, part: 'q' | 'kv'): void {
    const out = this.crossPhys(op);
    const H = this.width(op.q);
    const K = this.width(linear.input);
    const parts = (part === 'q' ? [op.q] : [op.k, op.v]).map((id) => this.producer.get(id) as LinearOp);
    const N = parts.length * H;
    const key = `${out.id}.${part}`;
    const weight = this.weightBuffer(`${key}.weight`, () => {
      const w = new Float32Array(N * K);
      parts.forEach((p, i) => w.set(param(this.params, `${p.param}.weight`).data, i * H * K));
      return padRowsF32(w, N, K);
    });
    const bias = this.weightBuffer(`${key}.bias`, () => {
      const b = new Float32Array(N);
      parts.forEach((p, i) => b.set(param(this.params, `${p.param}.bias`).data, i * H));
      return b;
    });
    const launch = this.gemmLaunch(linear, linear.input, out, weight, bias, N, K, false);
    const info = launch.info;
    const column = part === 'q' ? 0 : H;
    launch.info = (b, s) => {
      const i = info(b, s);
      return column === 0 ? i : this.withCOffset(linear, out, N, K, b, s, column);
    };
    this.launches.push(launch);
  }

  /** A plain bias GEMM program writing C from column `column` of rows `out.stride` apart. */
  private withCOffset(op: GraphOp, out: Phys, N: number, K: number, b: number, s: number, column: number): ProgramInfo {
    const a = this.gemmInput(op, (op as LinearOp).input);
    const options: GemmF32Options = { bias: true };
    const sh: GemmShape = { M: this.rows(a, b, s), N, K, cRow: out.stride, cOffset: column };
    const tile = gemmF32Variant(options, sh, this.gpu.adapter.isSoftware);
    const run = gemmF32RunData(options, sh, tile);
    return { ...gemmF32Kernel(options, tile), ...run, name: run.label! };
  }

  /** Sinusoidal or learned position rows, and the word table (scaled, when the op scales it) as uploaded. */
  private embedTables(op: GraphOp & { kind: 'embed' }, H: number): { word: GPUBuffer; position: GPUBuffer } {
    const word = param(this.params, op.word);
    const scale = op.scale;
    const wordBuffer =
      scale === undefined
        ? this.weightBuffer(op.word, () => word.data)
        : this.scaledWord(word.data, scale, () => {
            const w = new Float32Array(word.data.length);
            for (let i = 0; i < w.length; i++) w[i] = Math.fround(word.data[i] * Math.fround(scale));
            return w;
          });
    let position: GPUBuffer;
    if (op.position === 'sinusoidal') {
      const key = `sinusoidal.${this.maxPositions}x${H}`;
      position = this.weightBuffer(key, () => {
        const t = new Float32Array(this.maxPositions * H);
        for (let p = 0; p < this.maxPositions; p++) t.set(sinusoidalRow(p, H), p * H);
        return t;
      });
    } else {
      const table = param(this.params, op.position);
      position = this.weightBuffer(op.position, () => table.data);
    }
    return { word: wordBuffer, position };
  }

  /** One upload of a scaled word table per (table, scale): Marian's encoder and decoder share it. */
  private scaledWord(data: Float32Array, scale: number, make: () => Float32Array): GPUBuffer {
    const byScale = this.scaledWords.get(data) ?? new Map<number, GPUBuffer>();
    this.scaledWords.set(data, byScale);
    let b = byScale.get(scale);
    if (!b) {
      b = this.gpu.storage(`float-graph.word*${scale}`, make());
      this.owned.push(b);
      byScale.set(scale, b);
    }
    return b;
  }

  private buildEmbed(op: GraphOp & { kind: 'embed' }): void {
    const out = this.tensorPhys(op.out);
    const H = this.width(op.out);
    const word = param(this.params, op.word);
    const positions = op.position === 'sinusoidal' ? this.maxPositions : param(this.params, op.position).shape[0];
    const tokenType = op.tokenType ? param(this.params, op.tokenType) : undefined;
    const source = op === this.sourceEmbed;
    const shape = (batch: number, seq: number): EmbeddingF32Shape => ({
      tokens: batch * seq,
      H,
      stride: out.stride,
      vocab: word.shape[0],
      positions,
      types: tokenType ? tokenType.shape[0] : 0,
    });
    const tables = {
      ...this.embedTables(op, H),
      tokenType: tokenType ? this.weightBuffer(op.tokenType!, () => tokenType.data) : undefined,
    };
    this.launches.push({
      reads: [],
      writes: [op.out],
      info: (b, s) => embeddingF32Program(shape(b, s)),
      bindings: (c) => {
        const i = this.activations!.inputs;
        return embeddingF32Bindings(shape(c.batch, c.seq), {
          inputIds: source ? i.sourceIds! : i.inputIds,
          positionIds: source ? i.sourcePositionIds! : i.positionIds,
          tokenTypeIds: tokenType ? i.tokenTypeIds : undefined,
          ...tables,
          out: this.buffer(op.out),
        });
      },
    });
  }

  private buildLayerNorm(op: GraphOp & { kind: 'layerNorm' }): void {
    const add = this.fusedAdds.get(op.out);
    const [x, residual] = add ? [add.a, add.b] : [op.input, undefined];
    const out = this.tensorPhys(op.out);
    const H = this.width(op.out);
    const input = this.physOf(x);
    for (const id of [x, residual]) {
      if (id !== undefined && this.physOf(id).stride !== out.stride)
        throw unsupported(op, `reads "${id}", whose row stride differs from its output's`);
    }
    const options: LayerNormF32Options = { eps: op.eps, ...(residual ? { residual: true } : {}) };
    const shape = (b: number, s: number): LayerNormF32Shape => ({
      rows: this.rows(input, b, s),
      H,
      stride: out.stride,
    });
    const gamma = param(this.params, `${op.param}.gamma`);
    const beta = param(this.params, `${op.param}.beta`);
    const g = this.weightBuffer(`${op.param}.gamma`, () => gamma.data);
    const bt = this.weightBuffer(`${op.param}.beta`, () => beta.data);
    this.launches.push({
      reads: residual ? [x, residual] : [x],
      writes: [op.out],
      info: (b, s) => layerNormF32Program(options, shape(b, s)),
      bindings: (c) =>
        layerNormF32Bindings(options, shape(c.batch, c.seq), {
          x: this.buffer(x),
          residual: residual ? this.buffer(residual) : undefined,
          gamma: g,
          beta: bt,
          y: this.buffer(op.out),
        }),
    });
  }

  /** A GEMM launch: C = act(A . W^T + bias) over `rows` rows of A (first tokens: a sequence apart). */
  private gemmLaunch(
    op: GraphOp,
    input: string,
    out: Phys,
    weight: GPUBuffer,
    bias: GPUBuffer,
    N: number,
    K: number,
    first: boolean,
    activation?: 'gelu' | 'gelu_tanh',
    mode?: LaunchMode,
  ): Launch {
    const a = this.gemmInput(op, input);
    const options: GemmF32Options = { bias: true, ...(activation ? { activation } : {}) };
    const software = this.gpu.adapter.isSoftware;
    const shape = (b: number, s: number): GemmShape => ({
      M: first ? b : this.rows(a, b, s),
      N,
      K,
      cRow: out.stride,
      ...(first ? { aRow: (s * a.stride) / 4 } : {}),
    });
    return {
      reads: [input],
      writes: [out.id],
      mode,
      info: (b, s) => {
        const sh = shape(b, s);
        const tile = gemmF32Variant(options, sh, software);
        const run = gemmF32RunData(options, sh, tile);
        return { ...gemmF32Kernel(options, tile), ...run, name: run.label! };
      },
      bindings: () => gemmF32Bindings(options, { a: this.buffer(input), b: weight, bias, c: this.buffer(out.id) }),
    };
  }

  private linearWeights(op: LinearOp): { weight: GPUBuffer; bias: GPUBuffer; N: number; K: number } {
    const w = param(this.params, `${op.param}.weight`);
    const b = param(this.params, `${op.param}.bias`);
    const [N, K] = w.shape;
    return {
      weight: this.weightBuffer(`${op.param}.weight`, () => padRowsF32(w.data, N, K)),
      bias: this.weightBuffer(`${op.param}.bias`, () => b.data),
      N,
      K,
    };
  }

  private buildLinear(op: LinearOp): void {
    const out = this.tensorPhys(op.out);
    const first = op.rows === 'first';
    if (first && out.perToken) throw unsupported(op, 'takes first tokens into a token tensor');
    const { weight, bias, N, K } = this.linearWeights(op);
    if (this.geluFused.has(op.out)) {
      // Two ways, chosen per forward: GELU in the epilogue, or (the linear's output captured) a
      // plain GEMM followed by the elementwise GELU (see buildActivation).
      const gelu = sole(this.readers.get(op.out)) as GraphOp & { kind: 'activation' };
      const geluOut = this.tensorPhys(gelu.out);
      const fn = gelu.fn as 'gelu' | 'gelu_tanh';
      this.launches.push(
        this.gemmLaunch(op, op.input, geluOut, weight, bias, N, K, false, fn, { tensor: op.out, captured: false }),
      );
      this.launches.push(
        this.gemmLaunch(op, op.input, out, weight, bias, N, K, false, undefined, { tensor: op.out, captured: true }),
      );
      return;
    }
    this.launches.push(this.gemmLaunch(op, op.input, out, weight, bias, N, K, first));
  }

  /** q, k, v linears of one input: one GEMM over their concatenated weights into [tokens, 3H]. */
  private buildProjection(first: LinearOp, attention: AttentionOp): void {
    const parts = [attention.q, attention.k, attention.v].map((id) => this.producer.get(id) as LinearOp);
    const H = this.width(attention.q);
    const K = this.width(first.input);
    const id = `${attention.q}|${attention.k}|${attention.v}`;
    const out = this.definePhys(id, true, 3 * H);
    parts.forEach((p, i) => this.sources.set(p.out, { phys: id, column: i * H, width: H }));
    const weight = this.weightBuffer(`${id}.weight`, () => {
      const w = new Float32Array(3 * H * K);
      parts.forEach((p, i) => w.set(param(this.params, `${p.param}.weight`).data, i * H * K));
      return padRowsF32(w, 3 * H, K);
    });
    const bias = this.weightBuffer(`${id}.bias`, () => {
      const b = new Float32Array(3 * H);
      parts.forEach((p, i) => b.set(param(this.params, `${p.param}.bias`).data, i * H));
      return b;
    });
    this.launches.push(this.gemmLaunch(first, first.input, out, weight, bias, 3 * H, K, false));
  }

  private buildActivation(op: GraphOp & { kind: 'activation' }): void {
    const fused = this.geluFused.has(op.input);
    const input = this.physOf(op.input);
    // A fused GELU's output buffer exists already (its GEMM writes it).
    const out = fused ? this.physOf(op.out) : this.tensorPhys(op.out);
    if (input.stride !== out.stride)
      throw unsupported(op, `reads "${op.input}", whose row stride differs from its output's`);
    const fn = op.fn as ActivationF32;
    // Row padding included: act(0) = 0 keeps it zero.
    const count = (b: number, s: number) => this.rows(input, b, s) * input.stride;
    this.launches.push({
      reads: [op.input],
      writes: [op.out],
      mode: fused ? { tensor: op.input, captured: true } : undefined,
      info: (b, s) => geluF32Program(count(b, s), fn),
      bindings: (c) => geluF32Bindings(count(c.batch, c.seq), { x: this.buffer(op.input), y: this.buffer(op.out) }),
    });
  }

  private buildAttention(op: AttentionOp): void {
    const H = this.width(op.q);
    const heads = op.heads;
    const d = H / heads;
    const qkv = `${op.q}|${op.k}|${op.v}`;
    const out = this.tensorPhys(op.out);
    const scratch = () => this.activations!.scratch!;
    const split = (b: number, s: number): SplitHeadsF32Shape => ({
      batch: b,
      seq: s,
      heads,
      headDim: d,
      qScale: 1 / Math.sqrt(d),
    });
    const softmax = (b: number, s: number): SoftmaxF32Shape => ({
      batch: b,
      heads,
      queries: s,
      seq: s,
      probStride: pad4(s),
      ...(op.causal ? { causal: true } : {}),
    });
    // The bias-free products use the bias pipeline with zeros (x + 0 = x): one GEMM pipeline fewer to compile.
    const gemm = (shape: (b: number, s: number) => GemmShape) => (b: number, s: number) => {
      const options: GemmF32Options = { bias: true };
      const sh = shape(b, s);
      const tile = gemmF32Variant(options, sh, this.gpu.adapter.isSoftware);
      const run = gemmF32RunData(options, sh, tile);
      return { ...gemmF32Kernel(options, tile), ...run, name: run.label! };
    };
    const scores = gemm((b, s) => ({ M: s, N: s, K: d, batchOuter: b, batchInner: heads }));
    const context = gemm((b, s) => ({
      M: s,
      N: d,
      K: s,
      batchOuter: b,
      batchInner: heads,
      cRow: out.stride,
      cInner: d,
      cOuter: s * out.stride,
    }));
    this.launches.push(
      {
        reads: [qkv],
        writes: [],
        info: (b, s) => splitHeadsF32Program(split(b, s)),
        bindings: (c) =>
          splitHeadsF32Bindings(split(c.batch, c.seq), {
            qkv: this.buffer(qkv),
            q: scratch().q,
            k: scratch().k,
            vT: scratch().vT,
          }),
      },
      {
        reads: [],
        writes: [],
        info: scores,
        bindings: () =>
          gemmF32Bindings(
            { bias: true },
            { a: scratch().q, b: scratch().k, bias: scratch().zeroBias, c: scratch().scores },
          ),
      },
      {
        reads: [],
        writes: [],
        info: (b, s) => softmaxF32Program(softmax(b, s)),
        bindings: (c) =>
          softmaxF32Bindings(softmax(c.batch, c.seq), {
            scores: scratch().scores,
            mask: this.isSource(op.k) ? this.activations!.inputs.sourceMask! : this.activations!.inputs.mask,
            probs: scratch().probs,
          }),
      },
      {
        reads: [],
        writes: [op.out],
        info: context,
        bindings: () =>
          gemmF32Bindings(
            { bias: true },
            { a: scratch().probs, b: scratch().vT, bias: scratch().zeroBias, c: this.buffer(op.out) },
          ),
      },
    );
  }

  /** A free-standing add: both terms and the sum in one row layout, padding included (0 + 0 = 0). */
  private buildAdd(op: GraphOp & { kind: 'add' }): void {
    const out = this.tensorPhys(op.out);
    for (const id of [op.a, op.b]) {
      const p = this.physOf(id);
      if (p.stride !== out.stride || p.perToken !== out.perToken)
        throw unsupported(op, `reads "${id}", whose row layout differs from its output's`);
    }
    const count = (b: number, s: number) => this.rows(out, b, s) * out.stride;
    this.launches.push({
      reads: [op.a, op.b],
      writes: [op.out],
      info: (b, s) => addF32Program(count(b, s)),
      bindings: (c) =>
        addF32Bindings(count(c.batch, c.seq), { a: this.buffer(op.a), b: this.buffer(op.b), y: this.buffer(op.out) }),
    });
  }

  private buildPool(op: GraphOp & { kind: 'pool' }): void {
    const input = this.physOf(op.input);
    const H = this.width(op.input);
    // The kernel writes [batch, H] unpadded.
    const out = this.definePhys(op.out, false, H);
    this.sources.set(op.out, { phys: op.out, column: 0, width: H });
    const shape = (b: number, s: number): MeanPoolF32Shape => ({ batch: b, seq: s, H, stride: input.stride });
    this.launches.push({
      reads: [op.input],
      writes: [out.id],
      info: (b, s) => meanPoolF32Program(shape(b, s)),
      bindings: (c) =>
        meanPoolF32Bindings(shape(c.batch, c.seq), {
          x: this.buffer(op.input),
          mask: this.activations!.inputs.mask,
          out: this.buffer(op.out),
        }),
    });
  }

  /**
   * One slot per live buffer, in launch order (both capture modes counted, so either can run),
   * shared only between buffers of one layout: a slot never sees another row stride, so the
   * padding columns that nothing writes stay zero.
   */
  private assignSlots(): void {
    const lastRead = new Map<string, number>();
    this.launches.forEach((l, i) => {
      for (const id of l.reads) lastRead.set(id, i);
    });
    const free = new Map<string, number[]>();
    const layoutKey = (p: Phys) => `${p.perToken ? 'tokens' : 'sequences'}:${p.stride}`;
    this.launches.forEach((l, i) => {
      for (const id of l.writes) {
        if (this.slotOf.has(id)) continue;
        const p = this.physOf(id);
        const list = free.get(layoutKey(p)) ?? [];
        let slot = list.pop();
        if (slot === undefined) {
          slot = this.slotLayouts.length;
          this.slotLayouts.push(p);
        }
        free.set(layoutKey(p), list);
        this.slotOf.set(id, slot);
      }
      for (const id of new Set(l.reads)) {
        // The output stays where it is until read back.
        if (lastRead.get(id) !== i || id === this.graph.output.tensor) continue;
        const p = this.physOf(id);
        const list = free.get(layoutKey(p)) ?? [];
        list.push(this.slotOf.get(id)!);
        free.set(layoutKey(p), list);
      }
    });
  }

  // ---- capacity -----------------------------------------------------------------------------------

  private async ensureCapacity(batch: number, seq: number): Promise<void> {
    const c = this.capacity;
    if (c && batch <= c.batch && seq <= c.seq) return;
    const next = grownCapacity(c, batch, seq, this.maxPositions);
    this.releaseActivations();
    const gpu = this.gpu;
    const made: GPUBuffer[] = [];
    const make = (label: string, floats: number) => {
      const b = gpu.storage(`float-graph.${label}`, Math.max(1, floats) * 4);
      made.push(b);
      return b;
    };
    try {
      const T = next.batch * next.seq;
      const slots = this.slotLayouts.map((p, i) =>
        make(`activation.${i}`, this.rows(p, next.batch, next.seq) * p.stride),
      );
      const inputs = {
        inputIds: make('input_ids', T),
        positionIds: make('position_ids', T),
        tokenTypeIds: this.embed.tokenType ? make('token_type_ids', T) : undefined,
        mask: make('mask', T),
        ...(this.sourceEmbed
          ? {
              sourceIds: make('source_ids', T),
              sourcePositionIds: make('source_position_ids', T),
              sourceMask: make('source_mask', T),
            }
          : {}),
      };
      let scratch: Activations['scratch'];
      if (this.projections.size > 0) {
        const { heads, headDim } = this.attentionShape;
        const z = splitHeadsF32Sizes({ batch: next.batch, seq: next.seq, heads, headDim });
        scratch = {
          q: make('q', z.qk),
          k: make('k', z.qk),
          vT: make('vT', z.v),
          scores: make('scores', next.batch * heads * next.seq * next.seq),
          probs: make('probs', next.batch * heads * next.seq * z.seqPad),
          zeroBias: make('zero_bias', Math.max(next.seq, headDim)),
        };
      }
      const out = this.physOf(this.graph.output.tensor);
      const staging = gpu.device.createBuffer({
        label: 'float-graph.readback',
        size: Math.max(4, this.rows(out, next.batch, next.seq) * out.stride * 4),
        usage: MAP_READ | COPY_DST,
      });
      made.push(staging);
      this.activations = { slots, inputs, scratch, staging };
      this.capacity = next;
      for (const l of this.launches)
        l.dispatch = await Dispatch.create(gpu, l.info(next.batch, next.seq), l.bindings(next));
    } catch (e) {
      for (const l of this.launches) l.dispatch?.destroy();
      made.forEach((b) => b.destroy());
      this.activations = undefined;
      this.capacity = undefined;
      throw e;
    }
  }

  private releaseActivations(): void {
    for (const l of this.launches) {
      l.dispatch?.destroy();
      l.dispatch = undefined;
    }
    const a = this.activations;
    if (!a) return;
    for (const b of [...a.slots, ...Object.values(a.inputs), ...Object.values(a.scratch ?? {}), a.staging])
      b?.destroy();
    this.activations = undefined;
    this.capacity = undefined;
  }

  /**
   * Compiles every pipeline variant a forward can pick (GEMM tiles by rows, softmax workgroups by
   * keys), so that no length waits for a compile.
   */
  private async compileVariants(): Promise<void> {
    await compileVariants(
      this.gpu,
      this.launches.map((l) => l.info),
      this.maxPositions,
    );
  }

  // ---- running --------------------------------------------------------------------------------------

  /** Pipelines and bind groups created on this runtime's device so far. */
  creationCounts(): CreationCounts {
    return creationCounts(this.gpu);
  }

  /** The capacity the activation buffers are bound at. */
  get boundCapacity(): Capacity | undefined {
    return this.capacity && { ...this.capacity };
  }

  private checkBatch(batch: TokenBatch, source: TokenBatch | undefined): void {
    const check = (x: TokenBatch, embed: GraphOp & { kind: 'embed' }, what: string) => {
      checkTokenBatch(x);
      const { batch: B, seqLen: S } = x;
      const word = param(this.params, embed.word);
      checkEmbeddingIds(x.inputIds, word.shape[0], 'token');
      checkEmbeddingIds(x.positionIds, this.maxPositions, 'position');
      if (embed.tokenType)
        checkEmbeddingIds(x.tokenTypeIds, param(this.params, embed.tokenType).shape[0], 'token type');
      for (let b = 0; b < B; b++) {
        if (!x.attentionMask.subarray(b * S, (b + 1) * S).some((m) => m !== 0))
          throw new RangeError(`float model: ${what} ${b} of the batch has no real token`);
      }
    };
    check(batch, this.embed, 'sequence');
    if (!this.sourceEmbed) {
      if (source) throw new RangeError('float model: a source batch was given to a model without an encoder');
      return;
    }
    if (!source) throw new RangeError('float model: an encoder-decoder needs the source batch (options.source)');
    check(source, this.sourceEmbed, 'source sentence');
    if (source.batch !== batch.batch || source.seqLen !== batch.seqLen)
      throw new RangeError(
        `float model: source batch ${source.batch} x ${source.seqLen} and target batch ${batch.batch} x ${batch.seqLen} must have one shape (pad both to one length)`,
      );
  }

  async forward(batch: TokenBatch, options: FloatGraphForwardOptions = {}): Promise<FloatGraphForwardResult> {
    if (this.disposed) throw new Error('float model: used after dispose()');
    this.gpu.assertAlive();
    this.checkBatch(batch, options.source);
    const wanted = captureSet(this.graph, options.capture);
    if (wanted.size > 0 && options.profile) throw new Error('float model: profile and capture cannot be combined');
    if (options.pooling !== undefined && options.pooling !== 'mean' && options.pooling !== 'cls')
      throw new RangeError(`float model: pooling ${JSON.stringify(options.pooling)} is not 'mean' or 'cls'`);
    const cls = options.pooling === 'cls' && this.graph.output.kind === 'pooled';
    const { batch: B, seqLen: S } = batch;
    await this.ensureCapacity(B, S);
    const a = this.activations!;
    const gpu = this.gpu;

    const active = this.launches.filter((l) => !l.mode || wanted.has(l.mode.tensor) === l.mode.captured);
    // Buffers to read back: those holding a wanted tensor or a term of a wanted sum.
    const out = this.physOf(this.graph.output.tensor);
    const needed = new Set<string>();
    const need = (id: string) => {
      const src = this.sources.get(id)!;
      if ('sum' in src) src.sum.forEach(need);
      // The output is read back anyway.
      else if (src.phys !== out.id) needed.add(src.phys);
    };
    wanted.forEach(need);
    for (const l of active) {
      const info = l.info(B, S);
      await l.dispatch!.prepare(info, info);
    }
    gpu.write(a.inputs.inputIds, batch.inputIds);
    gpu.write(a.inputs.positionIds, batch.positionIds);
    if (a.inputs.tokenTypeIds) gpu.write(a.inputs.tokenTypeIds, batch.tokenTypeIds);
    gpu.write(a.inputs.mask, batch.attentionMask);
    if (options.source) {
      gpu.write(a.inputs.sourceIds!, options.source.inputIds);
      gpu.write(a.inputs.sourcePositionIds!, options.source.positionIds);
      gpu.write(a.inputs.sourceMask!, options.source.attentionMask);
    }

    const outputFloats = this.rows(out, B, S) * out.stride;
    const copies: { phys: Phys; offset: number; floats: number }[] = [{ phys: out, offset: 0, floats: outputFloats }];
    let floats = outputFloats;
    const copiesAfter = active.map((l) =>
      l.writes
        .filter((id) => needed.has(id))
        .map((id) => {
          const p = this.physOf(id);
          const c = { phys: p, offset: floats, floats: this.rows(p, B, S) * p.stride };
          floats += c.floats;
          copies.push(c);
          return c;
        }),
    );
    const capturing = copies.length > 1;
    // The result buffer is persistent; captures get a one-off buffer sized for this forward.
    const staging = capturing
      ? gpu.device.createBuffer({ label: 'float-graph.captures', size: floats * 4, usage: MAP_READ | COPY_DST })
      : a.staging;
    const programs: BoundProgram[] = active.map((l) => l.dispatch!);
    const timer = options.profile ? profilingTimer(gpu, programs.length) : undefined;
    try {
      gpu.assertAlive();
      const encoder = gpu.device.createCommandEncoder({ label: 'float-graph.forward' });
      if (!capturing) {
        encodePrograms(encoder, programs, 'float-graph', timer);
      } else {
        let pass: GPUComputePassEncoder | undefined;
        active.forEach((l, i) => {
          pass ??= encoder.beginComputePass({ label: 'float-graph' });
          l.dispatch!.encode(pass);
          if (copiesAfter[i].length === 0) return;
          pass.end();
          pass = undefined;
          for (const c of copiesAfter[i])
            encoder.copyBufferToBuffer(this.buffer(c.phys.id), 0, staging, c.offset * 4, c.floats * 4);
        });
        pass?.end();
      }
      const pool = cls ? this.graph.ops.find((o) => o.kind === 'pool') : undefined;
      if (pool) {
        // CLS pooling: the first token's row of each sequence, copied as the output.
        const hidden = this.physOf(pool.input);
        const H = this.width(pool.input);
        for (let b = 0; b < B; b++)
          encoder.copyBufferToBuffer(
            this.buffer(hidden.id),
            b * S * hidden.stride * 4,
            staging,
            b * out.stride * 4,
            H * 4,
          );
      } else {
        encoder.copyBufferToBuffer(this.buffer(out.id), 0, staging, 0, outputFloats * 4);
      }
      gpu.device.queue.submit([encoder.finish()]);
      await gpu.wait(() => staging.mapAsync(MAP_READ, 0, floats * 4));
      const all = new Float32Array(staging.getMappedRange(0, floats * 4).slice(0));
      staging.unmap();

      const result: FloatGraphForwardResult = {};
      const output = unpad(all.subarray(0, outputFloats), this.rows(out, B, S), out.stride, 0, this.width(out.id));
      if (this.graph.output.kind === 'pooled') result.pooled = output;
      else result.logits = output;
      if (wanted.size > 0) result.captures = this.collect(wanted, copies, all, B, S);
      if (timer) result.kernels = await readKernelTimes(timer, programs);
      return result;
    } finally {
      if (capturing) staging.destroy();
      timer?.destroy();
    }
  }

  private collect(
    wanted: Set<string>,
    copies: { phys: Phys; offset: number; floats: number }[],
    all: Float32Array,
    B: number,
    S: number,
  ): Map<string, Float32Array> {
    const raw = new Map(copies.map((c) => [c.phys.id, all.subarray(c.offset, c.offset + c.floats)]));
    const values = new Map<string, Float32Array>();
    const value = (id: string): Float32Array => {
      let v = values.get(id);
      if (v) return v;
      const src = this.sources.get(id)!;
      if ('sum' in src) {
        const [x, y] = src.sum.map(value);
        v = new Float32Array(x.length);
        for (let i = 0; i < v.length; i++) v[i] = x[i] + y[i];
      } else {
        const p = this.physOf(src.phys);
        v = unpad(raw.get(p.id)!, this.rows(p, B, S), p.stride, src.column, src.width);
      }
      values.set(id, v);
      return v;
    };
    const captures = new Map<string, Float32Array>();
    for (const id of this.graph.tensors.map((t) => t.id)) if (wanted.has(id)) captures.set(id, value(id));
    return captures;
  }

  /** GPU bytes held: weights for the model's life, activations for the capacity reached. */
  memory(): GpuMemory {
    if (this.disposed) return { weightBytes: 0, activationBytes: 0 };
    const a = this.activations;
    const act = a ? [...a.slots, ...Object.values(a.inputs), ...Object.values(a.scratch ?? {}), a.staging] : [];
    return { weightBytes: sumSizes(this.owned), activationBytes: sumSizes(act) };
  }

  /** Releases every GPU buffer this runtime created (the Gpu itself stays). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseActivations();
    this.owned.forEach((b) => b.destroy());
  }
}

/** Columns [column, column + width) of `rows` rows `stride` apart, as a new array. */
function unpad(raw: Float32Array, rows: number, stride: number, column: number, width: number): Float32Array {
  const out = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) out.set(raw.subarray(r * stride + column, r * stride + column + width), r * width);
  return out;
}
