/**
 * The integer program on WebGPU. Created once per model: weights and constants uploaded, every
 * pipeline variant compiled, one Dispatch per kernel launch bound to activation buffers sized for a
 * capacity of (batch, sequence length). A forward only writes the token ids, each launch's uniform
 * (its shape) and grid, and submits one command buffer whose only read-back is the output tensor
 * (int32 logits, or pooled sums). A new length within the capacity compiles and binds nothing; a
 * larger one grows the buffers (to at least double) and rebinds once.
 *
 * Activation buffers are shared by tensors whose lifetimes do not overlap (one slot per live
 * tensor, assigned in op order), so the memory held is that of a few layers' tensors, not all.
 * The order of launches and the layouts are those of the CPU interpreter (src/cpu/int-program.ts),
 * which this must equal bit for bit.
 */
import { checkTokenBatch } from '../core/token-batch.js';
import type { TokenBatch } from '../core/types.js';
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
import {
  ATTENTION_I8_MAX_KEYS,
  type AttentionI8Shape,
  attentionI8Kernel,
  attentionI8Params,
  attentionI8Program,
  attentionI8Variant,
} from '../kernels/attention-i8.js';
import { checkEmbeddingIds, embeddingI8Program } from '../kernels/embedding-i8.js';
import { uploadGeluI8Constants } from '../kernels/gelu-i8.js';
import {
  GEMV_MAX_ROWS,
  type GemmI8Options,
  type GemmI8Strategy,
  type GemmShape,
  gemmI8Bindings,
  gemmI8Kernel,
  gemmI8RunData,
  gemmI8VariantFor,
  packRequant,
  preferredStrategy,
} from '../kernels/gemm-i8.js';
import {
  defaultWorkgroupSize,
  type LayerNormI8Options,
  layerNormI8Program,
  layerNormI8Variant,
  packLayerNormChannels,
  residualLayerNormI8Bindings,
} from '../kernels/layernorm-i8.js';
import { lookupI8Program, lookupTableWords } from '../kernels/lookup-i8.js';
import { poolI8Program, poolI8RunData } from '../kernels/pool-i8.js';
import { requantizeProgram } from '../kernels/requantize.js';
import { residualAddProgram } from '../kernels/residual-add.js';
import { uploadSiluI8Constants } from '../kernels/silu-i8.js';
import { defaultSoftmaxI8Launch, softmaxI8Program } from '../kernels/softmax-i8.js';
import { TOPK_MAX_K, topKBindings, topKOutputWords, topKProgram, topKVariant } from '../kernels/topk-i32.js';
import { transposeHeadsI8Program } from '../kernels/transpose-heads-i8.js';
import {
  type IntAttentionOp,
  type IntEmbedOp,
  type IntGemmOp,
  type IntLayerNormOp,
  type IntOp,
  type IntProgram,
  type IntResidualOp,
  type IntTensor,
  intWidth,
  rowsPerSequence,
} from '../plan/int-program.js';
import { packRows, wordsPerRow } from '../quant/pack.js';
import { type Capacity, type CreationCounts, compileVariants, creationCounts, grownCapacity } from './capacity.js';
import { GpuKvCache, type KvCacheSize, kvAttentionLaunches, kvScratchBytes } from './kv-cache.js';

const COPY_DST = 0x08;
const MAP_READ = 0x01;

export interface IntProgramGpuOptions {
  strategy?: GemmI8Strategy;
  /**
   * Decoders: run incrementally against an int8 KV cache of this size (see decode()); forward()
   * is then refused. Without it, whole sequences only.
   */
  kvCache?: KvCacheSize;
  /**
   * Fused kernels (default on): attention over at most 512 keys runs as one attention-i8 dispatch
   * instead of Q.K^T, softmax, V transpose and P.V (a decoder's cached attention reads K and V^T
   * from the KV cache after the append: two dispatches instead of four); a residual add whose sum
   * a LayerNorm reads first runs inside that LayerNorm's input read (the sum stored only when
   * another op reads it too). Off: the unfused launches (the same integers; benchmarks compare
   * them). An object picks each fusion (both on unless set false).
   */
  fuse?: boolean | FuseOptions;
}

export interface FuseOptions {
  attention?: boolean;
  /** Residual add into the next LayerNorm's input read. */
  residualNorm?: boolean;
}

/**
 * A LayerNorm that reads a residual add's operands and makes the sum itself: the residual op
 * launches nothing, and the LayerNorm stores the sum too (writeSum) when another op reads it.
 */
interface NormFusion {
  residual: IntResidualOp;
  writeSum: boolean;
}

/** One decoder run's tokens: [batch, seq] ids, position ids and key mask (1 real, 0 padding). */
export interface DecodeInput {
  ids: ArrayLike<number>;
  positions: ArrayLike<number>;
  mask: ArrayLike<number>;
  seq: number;
}

/**
 * What a decoder run reads back for the last position of each sequence: the k best tokens on the
 * common logit scale (ids and values, best first), or with k = 'all' the whole row of int32
 * accumulators (the caller rescales, as the CPU's greedyTokens does).
 */
export type DecodeOutput =
  | { kind: 'top-k'; k: number; ids: Uint32Array; values: Int32Array }
  | { kind: 'logits'; logits: Int32Array };

export interface IntForwardOptions {
  /** Time every launch with GPU timestamps (needs the adapter's 'timestamp-query'). */
  profile?: boolean;
  /** Embedding models: pool over real tokens ('mean', the program's default) or take the first ('cls'). */
  pooling?: 'mean' | 'cls';
}

export interface IntForwardResult {
  /** The output tensor's integers: [batch, width] (logits, or pooled sums and counts). */
  output: Int32Array;
  kernels?: KernelTime[];
}

/**
 * Whose rows a launch runs over: the (decoder's) target tokens, an encoder-decoder's source
 * tokens, or cross-attention's target queries over source keys.
 */
type Domain = 'target' | 'source' | 'cross';

/**
 * One launch: a Dispatch bound once, and its program for a run. The arguments depend on the
 * domain: target (batch, seq, past cached positions); source (sources, source length); cross
 * (sources, query rows per source: beams x seq, source length).
 */
interface Launch {
  dispatch: Dispatch;
  /** The storage buffers bound (for launchPlan's byte counts). */
  buffers: GPUBuffer[];
  domain: Domain;
  info: (batch: number, seq: number, past?: number) => ProgramInfo;
}

/** An encoder-decoder's source run: its sentences and their (padded) length. */
interface SourceRun {
  batch: number;
  seq: number;
}

function maxAbs(values: Int32Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

/** Bytes per row of a tensor in its GPU layout: packed words for 8-bit types, an int32 per value otherwise. */
function rowBytes(t: IntTensor): number {
  return t.dtype === 'i8' || t.dtype === 'u8' ? wordsPerRow(intWidth(t)) * 4 : intWidth(t) * 4;
}

export class IntProgramGpu {
  private readonly owned: GPUBuffer[] = [];
  private readonly tensors: Map<string, IntTensor>;
  /** Weight buffers per op (uploaded once). */
  private readonly opBuffers = new Map<IntOp, Record<string, GPUBuffer>>();
  private readonly biasMax = new Map<IntOp, number>();
  /** Source tensors the decoder reads (cross-attention K|V): kept from encode() on, in slots of their own. */
  private readonly pinned = new Set<string>();
  /** Tensor id -> activation slot index. */
  private readonly slotOf = new Map<string, number>();
  private slotTensors: IntTensor[][] = [];
  private activations:
    | {
        slots: GPUBuffer[];
        inputs: Record<'tokenIds' | 'positionIds' | 'typeIds' | 'mask', GPUBuffer>;
        /** Encoder-decoders: the source's token ids, position ids and mask. */
        source?: Record<'tokenIds' | 'positionIds' | 'mask', GPUBuffer>;
        /** Attention without a cache (encoders, an encoder-decoder's encoder and cross-attention). */
        scores?: GPUBuffer;
        probs?: GPUBuffer;
        vT?: GPUBuffer;
        /** Cached attention (decoders). */
        kvScores?: GPUBuffer;
        kvProbs?: GPUBuffer;
        /** Decoders: the top-k rows [batch, 1 + 2 TOPK_MAX_K] words. */
        topk?: GPUBuffer;
        staging: GPUBuffer;
      }
    | undefined;
  /** Decoders: the KV cache, and the next-token launch after the program's. */
  private kv: GpuKvCache | undefined;
  /** Encoder-decoders: the capacity of source tensors, and the sources encoded (their K|V kept for the steps). */
  private sourceCapacity: Capacity | undefined;
  private sourceRun: SourceRun | undefined;
  private readonly usesSource: boolean;
  private topkLaunch: Launch | undefined;
  private rescale: GPUBuffer | undefined;
  private launches: Launch[] = [];
  private capacity: Capacity | undefined;
  private disposed = false;
  /** This run's pooling mode, when it overrides the program's. */
  private pooling: 'mean' | 'cls' | undefined;
  /** The embedding of the target tokens (the decoder's, for an encoder-decoder). */
  private readonly embed: IntEmbedOp;
  private readonly sourceEmbed: IntEmbedOp | undefined;
  /** Attention without a cache over at most 512 keys in the fused attention-i8 kernel. */
  private readonly fuse: boolean;
  /** LayerNorms that make their residual add's sum (fuse.residualNorm), and the residual ops they replace. */
  private readonly normFusions = new Map<IntLayerNormOp, NormFusion>();
  private readonly fusedResiduals = new Set<IntResidualOp>();

  private constructor(
    readonly gpu: Gpu,
    readonly program: IntProgram,
    readonly strategy: GemmI8Strategy,
    kvCache: KvCacheSize | undefined,
    fuse: boolean | FuseOptions,
  ) {
    this.tensors = new Map(program.tensors.map((t) => [t.id, t]));
    const fusing = (which: keyof FuseOptions) => (typeof fuse === 'boolean' ? fuse : fuse[which] !== false);
    this.fuse = fusing('attention');
    this.usesSource = program.tensors.some((t) => t.shape.includes('source'));
    const embeds = program.ops.filter((o): o is IntEmbedOp => o.kind === 'embed');
    const embed = embeds.find((o) => !this.overSource(o.out));
    if (!embed) throw new Error('integer program: no embedding op');
    this.embed = embed;
    this.sourceEmbed = embeds.find((o) => this.overSource(o.out));
    if (this.usesSource && (!kvCache || !this.sourceEmbed))
      throw new Error(
        'integer model: an encoder-decoder runs with a KV cache (encode() the sources, then decode() the target)',
      );
    if (fusing('residualNorm')) this.planNormFusions();
    this.assignSlots();
    if (kvCache) {
      if (program.output.kind !== 'lm-logits' || !program.output.rescale)
        throw new Error(`integer model: a KV cache needs LM logits with a common scale, not ${program.output.kind}`);
      this.kv = new GpuKvCache(gpu, program, kvCache.batch, kvCache.capacity);
    }
  }

  /** Positions the decoder's runs may span (the cache's capacity), else the model's. */
  private get maxSeq(): number {
    return this.kv?.capacity ?? this.program.maxPositions;
  }

  static async create(gpu: Gpu, program: IntProgram, options: IntProgramGpuOptions = {}): Promise<IntProgramGpu> {
    const runtime = new IntProgramGpu(
      gpu,
      program,
      options.strategy ?? preferredStrategy(gpu),
      options.kvCache,
      options.fuse ?? true,
    );
    try {
      runtime.upload();
      await runtime.ensureCapacity(runtime.kv?.batch ?? 1, Math.min(runtime.maxSeq, 64));
      await runtime.compileVariants();
    } catch (e) {
      runtime.dispose();
      throw e;
    }
    return runtime;
  }

  private overSource(id: string): boolean {
    return this.tensor(id).shape.includes('source');
  }

  private domainOf(op: IntOp): Domain {
    if (this.overSource(op.out)) return 'source';
    if (op.kind === 'attention' && this.overSource(op.k.tensor)) return 'cross';
    return 'target';
  }

  private tensor(id: string): IntTensor {
    const t = this.tensors.get(id);
    if (!t) throw new Error(`integer program: no tensor "${id}"`);
    return t;
  }

  private buffer(label: string, data: Int32Array | Uint32Array): GPUBuffer {
    const b = this.gpu.storage(label, data);
    this.owned.push(b);
    return b;
  }

  private upload(): void {
    for (const op of this.program.ops) {
      const name = 'name' in op ? op.name : op.out;
      switch (op.kind) {
        case 'embed': {
          const H = op.tables.hidden;
          const table = (which: string, values: Int8Array) => this.buffer(`${op.out}.${which}`, packRowsOf(values, H));
          const b: Record<string, GPUBuffer> = {
            word: table('word', op.tables.word),
            position: table('position', op.tables.position),
          };
          if (op.tables.tokenType) b.tokenType = table('tokenType', op.tables.tokenType);
          this.opBuffers.set(op, b);
          break;
        }
        case 'layernorm':
          this.opBuffers.set(op, { channels: this.buffer(`${op.out}.channels`, packLayerNormChannels(op.constants)) });
          break;
        case 'gemm': {
          const b: Record<string, GPUBuffer> = {
            weight: this.buffer(`${name}.weight`, packRowsOf(op.weight, op.K)),
            bias: this.buffer(`${name}.bias`, op.bias),
          };
          if (op.requant) b.requant = this.buffer(`${name}.requant`, packRequant(op.requant));
          if (op.gelu) {
            b.gelu = uploadGeluI8Constants(this.gpu, op.gelu, `${name}.gelu`);
            this.owned.push(b.gelu);
          }
          if (op.silu) {
            b.silu = uploadSiluI8Constants(this.gpu, op.silu, `${name}.silu`);
            this.owned.push(b.silu);
          }
          this.biasMax.set(op, maxAbs(op.bias));
          this.opBuffers.set(op, b);
          break;
        }
        case 'attention':
          this.opBuffers.set(op, { context: this.buffer(`${op.out}.requant`, packRequant([op.context])) });
          break;
        case 'lookup':
          this.opBuffers.set(op, { table: this.buffer(`${op.out}.table`, lookupTableWords(op.table)) });
          break;
        case 'requantize':
          this.opBuffers.set(op, { requant: this.buffer(`${op.out}.requant`, packRequant([op.requant])) });
          break;
        case 'residual': {
          const b: Record<string, GPUBuffer> = {};
          if (op.multipliers?.a) b.aMultipliers = this.buffer(`${op.out}.a.multipliers`, op.multipliers.a);
          if (op.multipliers?.b) b.bMultipliers = this.buffer(`${op.out}.b.multipliers`, op.multipliers.b);
          this.opBuffers.set(op, b);
          break;
        }
        default:
          break;
      }
    }
    if (this.kv) this.rescale = this.buffer('logits.rescale', packRequant(this.program.output.rescale!.requant));
  }

  /**
   * Residual adds whose sum a LayerNorm reads first (post-LN layers; pre-LN decoders' stream before
   * the MLP's LayerNorm): that LayerNorm makes the sum in its input read. When LayerNorms are its
   * only readers, each makes it and it is never stored; otherwise the first LayerNorm stores it
   * for the later readers, so it exists before any of them runs.
   */
  private planNormFusions(): void {
    const ops = this.program.ops;
    const readers = new Map<string, number[]>();
    ops.forEach((op, i) => {
      for (const id of new Set(opReads(op))) readers.set(id, [...(readers.get(id) ?? []), i]);
    });
    for (const op of ops) {
      if (op.kind !== 'residual' || op.out === this.program.output.tensor) continue;
      const out = this.tensor(op.out);
      if (rowsPerSequence(out) !== 'tokens') continue;
      const reading = (readers.get(op.out) ?? []).map((i) => ops[i]);
      const norms = reading.filter(
        (r): r is IntLayerNormOp =>
          r.kind === 'layernorm' &&
          r.constants.H === intWidth(out) &&
          this.domainOf(r) === this.domainOf(op) &&
          // A LayerNorm writing the wide stream reads the stored sum (the fused variant writes int8).
          this.tensor(r.out).dtype === 'i8',
      );
      if (norms.length === 0 || norms[0] !== reading[0]) continue;
      const onlyNorms = norms.length === reading.length;
      for (const norm of onlyNorms ? norms : [norms[0]])
        this.normFusions.set(norm, { residual: op, writeSum: !onlyNorms });
      this.fusedResiduals.add(op);
    }
  }

  /**
   * The tensors an op reads and writes as bound: a fused residual op none (its LayerNorms launch
   * it), a LayerNorm that makes its residual sum the add's operands (and the sum, when it stores it).
   */
  private boundAccess(op: IntOp): { reads: string[]; writes: string[] } {
    if (op.kind === 'residual' && this.fusedResiduals.has(op)) return { reads: [], writes: [] };
    const f = op.kind === 'layernorm' ? this.normFusions.get(op) : undefined;
    if (!f) return { reads: opReads(op), writes: [op.out] };
    return { reads: [f.residual.a, f.residual.b], writes: f.writeSum ? [f.residual.out, op.out] : [op.out] };
  }

  /**
   * Shares activation buffers between tensors whose lifetimes do not overlap. A source tensor the
   * decoder reads (cross-attention's K|V) gets a buffer of its own: it is written once per source
   * and read by every decoder step, so no tensor of either run may share it.
   */
  private assignSlots(): void {
    const lastUse = new Map<string, number>();
    const pinned = this.pinned;
    this.program.ops.forEach((op, i) => {
      for (const id of this.boundAccess(op).reads) {
        lastUse.set(id, i);
        if (this.overSource(id) && !this.overSource(op.out)) pinned.add(id);
      }
    });
    const free: number[] = [];
    const newSlot = () => {
      this.slotTensors.push([]);
      return this.slotTensors.length - 1;
    };
    this.program.ops.forEach((op, i) => {
      const { reads, writes } = this.boundAccess(op);
      // Every output gets its slot before the op's inputs free theirs: no launch writes what it reads.
      for (const id of writes) {
        const slot = pinned.has(id) ? newSlot() : (free.pop() ?? newSlot());
        this.slotOf.set(id, slot);
        this.slotTensors[slot].push(this.tensor(id));
      }
      for (const id of new Set(reads)) {
        // The program's output stays where it is until read back.
        if (lastUse.get(id) === i && id !== this.program.output.tensor && !pinned.has(id))
          free.push(this.slotOf.get(id)!);
      }
    });
  }

  private tensorBytes(t: IntTensor, c: Capacity, sc: Capacity | undefined): number {
    if (t.shape.includes('source')) return sc ? sc.batch * sc.seq * rowBytes(t) : 0;
    return (rowsPerSequence(t) === 'tokens' ? c.batch * c.seq : c.batch) * rowBytes(t);
  }

  /**
   * Buffers and bound launches for at least (batch, seq) target tokens and, for an encoder-decoder,
   * `source` sentences; grown (at least doubled) only when needed. Growing rebinds everything, so
   * the sources encoded are gone (encode again).
   */
  private async ensureCapacity(batch: number, seq: number, source?: SourceRun): Promise<void> {
    const c = this.capacity;
    const sc = this.sourceCapacity;
    const wantSource = this.usesSource ? (source ?? sc ?? { batch, seq }) : undefined;
    const sourceFits = !wantSource || (sc !== undefined && wantSource.batch <= sc.batch && wantSource.seq <= sc.seq);
    if (c && batch <= c.batch && seq <= c.seq && sourceFits) return;
    const next = grownCapacity(c, batch, seq, this.maxSeq);
    const nextSource = wantSource && grownCapacity(sc, wantSource.batch, wantSource.seq, this.program.maxPositions);
    this.releaseActivations();
    const gpu = this.gpu;
    const made: GPUBuffer[] = [];
    const make = (label: string, bytes: number) => {
      const b = gpu.storage(label, Math.max(4, bytes));
      made.push(b);
      return b;
    };
    try {
      const T = next.batch * next.seq;
      const slots = this.slotTensors.map((ts, i) =>
        make(`activation.${i}`, Math.max(...ts.map((t) => this.tensorBytes(t, next, nextSource)))),
      );
      const inputs = {
        tokenIds: make('token_ids', T * 4),
        positionIds: make('position_ids', T * 4),
        typeIds: make('type_ids', T * 4),
        mask: make('mask', T * 4),
      };
      const sourceTokens = nextSource ? nextSource.batch * nextSource.seq : 0;
      const sourceInputs = nextSource && {
        tokenIds: make('source.token_ids', sourceTokens * 4),
        positionIds: make('source.position_ids', sourceTokens * 4),
        mask: make('source.mask', sourceTokens * 4),
      };
      const kvScratch = this.kv && kvScratchBytes(this.program, this.kv, next.seq, this.fuse);
      const cached = this.kv && {
        kvScores: kvScratch && make('attention.kv-scores', kvScratch.scores),
        kvProbs: kvScratch && make('attention.kv-probs', kvScratch.probs),
        topk: make('topk', next.batch * topKOutputWords({ batch: 1, k: TOPK_MAX_K }) * 4),
      };
      const plain = this.plainAttentionBytes(next, nextSource);
      const scratch = plain && {
        scores: make('attention.scores', plain.scores),
        probs: make('attention.probs', plain.probs),
        vT: make('attention.vT', plain.vT),
      };
      const out = this.tensor(this.program.output.tensor);
      const staging = gpu.device.createBuffer({
        label: 'int-program.readback',
        size: Math.max(
          4,
          this.tensorBytes(out, next, nextSource),
          next.batch * topKOutputWords({ batch: 1, k: TOPK_MAX_K }) * 4,
        ),
        usage: MAP_READ | COPY_DST,
      });
      made.push(staging);
      this.activations = { slots, inputs, source: sourceInputs, ...cached, ...scratch, staging };
      this.capacity = next;
      this.sourceCapacity = nextSource;
      this.launches = [];
      for (const op of this.program.ops) this.launches.push(...(await this.bind(op)));
      if (this.kv) this.topkLaunch = await this.bindTopK(next);
    } catch (e) {
      made.forEach((b) => b.destroy());
      this.activations = undefined;
      this.capacity = undefined;
      this.sourceCapacity = undefined;
      throw e;
    }
  }

  /**
   * The (batch, query rows, keys) of a launch of attention without a cache, at capacity: over the
   * target tokens, the source tokens, or target queries (all the beams of a source at once) over
   * the source.
   */
  private attentionDims(domain: Domain, c: Capacity, sc: Capacity | undefined): [number, number, number] {
    if (domain === 'target') return [c.batch, c.seq, c.seq];
    if (!sc) throw new Error('integer program: an attention over source tokens without a source capacity');
    if (domain === 'source') return [sc.batch, sc.seq, sc.seq];
    // One source may carry every target sequence (all beams of one sentence).
    return [1, c.batch * c.seq, sc.seq];
  }

  /** The most keys an attention without a cache can meet: the target's positions, or the source's. */
  private maxKeys(op: IntAttentionOp): number {
    return this.domainOf(op) === 'target' ? this.maxSeq : this.program.maxPositions;
  }

  /** Attention that every run does in the fused kernel (no key row can exceed its 512), so the unfused chain is never bound. */
  private alwaysFused(op: IntAttentionOp): boolean {
    return this.fuse && this.maxKeys(op) <= ATTENTION_I8_MAX_KEYS;
  }

  /** Scratch bytes of the attentions without a cache: the largest scores, probabilities and V^T any needs. */
  private plainAttentionBytes(
    c: Capacity,
    sc: Capacity | undefined,
  ): { scores: number; probs: number; vT: number } | undefined {
    const plain = this.program.ops.filter(
      (o): o is IntAttentionOp => o.kind === 'attention' && !(this.kv && o.cache) && !this.alwaysFused(o),
    );
    if (plain.length === 0) return undefined;
    let scores = 4;
    let probs = 4;
    let vT = 4;
    for (const op of plain) {
      const domain = this.domainOf(op);
      const [B, Sq, Sk] = this.attentionDims(domain, c, sc);
      // A cross-attention's query rows split between sources however the beams fall: bound by the larger split.
      const rows = domain === 'cross' ? c.batch * c.seq : B * Sq;
      const keyBatch = domain === 'cross' ? (sc?.batch ?? 1) : B;
      scores = Math.max(scores, rows * op.heads * Sk * 4);
      probs = Math.max(probs, rows * op.heads * wordsPerRow(Sk) * 4);
      vT = Math.max(vT, keyBatch * op.heads * op.headDim * wordsPerRow(Sk) * 4);
    }
    return { scores, probs, vT };
  }

  private releaseActivations(): void {
    this.launches.forEach((l) => l.dispatch.destroy());
    this.launches = [];
    this.topkLaunch?.dispatch.destroy();
    this.topkLaunch = undefined;
    this.sourceRun = undefined;
    if (!this.activations) return;
    for (const b of this.activationBuffers()) b.destroy();
    this.activations = undefined;
    this.capacity = undefined;
    this.sourceCapacity = undefined;
  }

  private activationBuffers(): GPUBuffer[] {
    const a = this.activations;
    if (!a) return [];
    const list = [a.scores, a.probs, a.vT, a.kvScores, a.kvProbs, a.topk, a.staging];
    return [...a.slots, ...Object.values(a.inputs), ...Object.values(a.source ?? {}), ...list].filter(
      (b): b is GPUBuffer => b !== undefined,
    );
  }

  private slot(id: string): GPUBuffer {
    return this.activations!.slots[this.slotOf.get(id)!];
  }

  /** A Dispatch over `buffers`, created with the program of its domain's capacity shape. */
  private async launch(
    buffers: GPUBuffer[],
    info: (batch: number, seq: number, past?: number) => ProgramInfo,
    domain: Domain = 'target',
  ): Promise<Launch> {
    const c = this.capacity!;
    const sc = this.sourceCapacity;
    const args: [number, number, number] =
      domain === 'target' ? [c.batch, c.seq, 0] : this.attentionDims(domain, c, sc);
    const dispatch = await Dispatch.create(this.gpu, info(...args), buffers);
    return { dispatch, buffers, domain, info };
  }

  /** A launch's arguments for a run of (batch, seq) target tokens after `past`, over the sources encoded. */
  private runArgs(l: Launch, batch: number, seq: number, past: number): [number, number, number] {
    if (l.domain === 'target') return [batch, seq, past];
    const run = this.sourceRun;
    if (!run) throw new Error('integer model: encode() the sources before decoding');
    if (l.domain === 'source') return [run.batch, run.seq, 0];
    return [run.batch, (batch / run.batch) * seq, run.seq];
  }

  private gemmOptions(op: IntGemmOp): GemmI8Options {
    return {
      strategy: this.strategy,
      output: op.epilogue,
      perChannel: op.epilogue !== 'i32',
      bias: true,
      aUnsigned: false,
    };
  }

  private gemmInfo(options: GemmI8Options, shape: GemmShape, biasMaxAbs: number): ProgramInfo {
    // The adapter's strategy decides: the subgroup-matrix kernel where it lists an i8 configuration.
    const tile = gemmI8VariantFor(this.gpu, options, shape);
    const run = gemmI8RunData(options, shape, tile, biasMaxAbs);
    return { ...gemmI8Kernel(options, tile), ...run, name: run.label ?? 'gemm-i8' };
  }

  private async bind(op: IntOp): Promise<Launch[]> {
    const a = this.activations!;
    const software = this.gpu.adapter.isSoftware;
    const w = this.opBuffers.get(op) ?? {};
    const domain = this.domainOf(op);
    switch (op.kind) {
      case 'embed': {
        const t = op.tables;
        const H = t.hidden;
        const types = !!t.tokenType;
        const info = (B: number, S: number) =>
          embeddingI8Program(
            { tokenTypes: types },
            {
              tokens: B * S,
              hidden: H,
              vocab: t.word.length / H,
              positions: t.position.length / H,
              types: types ? t.tokenType!.length / H : undefined,
            },
            op.constants,
          );
        const inputs = domain === 'source' ? a.source! : a.inputs;
        const list = [w.word, w.position];
        if (types) list.push(w.tokenType);
        list.push(inputs.tokenIds, inputs.positionIds);
        if (types) list.push(a.inputs.typeIds);
        list.push(this.slot(op.out));
        return [await this.launch(list, info, domain)];
      }
      case 'layernorm': {
        const H = op.constants.H;
        const fusion = this.normFusions.get(op);
        if (fusion) return [await this.bindResidualNorm(op, fusion, w.channels, domain)];
        const out = this.tensor(op.out);
        const wideOutput = out.dtype === 'wide' ? { maxAbs: out.bound } : undefined;
        const info = (B: number, S: number) =>
          layerNormI8Program(
            op.constants,
            { rows: B * S, H },
            { workgroupSize: defaultWorkgroupSize(H, software), wideOutput },
          );
        return [await this.launch([this.slot(op.input), w.channels, this.slot(op.out)], info, domain)];
      }
      case 'residual': {
        if (this.fusedResiduals.has(op)) return [];
        const cols = intWidth(this.tensor(op.out));
        const kinds = op.operands ?? { a: 'i8', b: 'i8' };
        const info = (B: number, S: number) =>
          residualAddProgram(kinds, { rows: B * S, cols }, op.constants, op.bounds);
        const list = [this.slot(op.a), w.aMultipliers, this.slot(op.b), w.bMultipliers, this.slot(op.out)];
        return [
          await this.launch(
            list.filter((b): b is GPUBuffer => b !== undefined),
            info,
            domain,
          ),
        ];
      }
      case 'lookup': {
        const cols = intWidth(this.tensor(op.out));
        const perSeq = rowsPerSequence(this.tensor(op.out)) === 'one';
        const info = (B: number, S: number) => lookupI8Program(perSeq ? B : B * S, cols);
        return [await this.launch([this.slot(op.input), w.table, this.slot(op.out)], info, domain)];
      }
      case 'requantize': {
        const cols = intWidth(this.tensor(op.out));
        const info = (B: number, S: number) =>
          requantizeProgram({ output: 'i8', perChannel: false }, { rows: B * S, cols });
        return [await this.launch([this.slot(op.input), w.requant, this.slot(op.out)], info, domain)];
      }
      case 'pool': {
        const hidden = intWidth(this.tensor(op.input));
        const info = (B: number, S: number): ProgramInfo => {
          const mode = this.pooling ?? op.mode;
          const run = poolI8RunData({ mode }, { batch: B, seq: S, hidden });
          return { ...poolI8Program({ mode }), ...run, name: `pool-i8[${mode}] ${B}x${S}x${hidden}` };
        };
        return [await this.launch([this.slot(op.input), a.inputs.mask, this.slot(op.out)], info, domain)];
      }
      case 'gemm': {
        const options = this.gemmOptions(op);
        // A decoder's next-token logits need only each sequence's last position.
        const last = this.kv !== undefined && op.out === this.program.output.tensor;
        const first = op.rows === 'first';
        // A GEMM over one row per sequence (a classifier after its pooler) has batch rows, not
        // batch x seq: more rows would only compute past the tensor and need larger variants.
        const perSequence = rowsPerSequence(this.tensor(op.input)) === 'one';
        const K4 = wordsPerRow(op.K);
        const info = (B: number, S: number) =>
          this.gemmInfo(
            options,
            {
              M: first || last || perSequence ? B : B * S,
              N: op.N,
              K: op.K,
              ...(first ? { aRow: S * K4 } : {}),
              ...(last ? { aRow: S * K4, aOffset: (S - 1) * K4 } : {}),
            },
            this.biasMax.get(op)!,
          );
        const list = gemmI8Bindings(options, {
          a: this.slot(op.input),
          b: w.weight,
          bias: w.bias,
          requant: w.requant,
          gelu: w.gelu,
          silu: w.silu,
          c: this.slot(op.out),
        });
        return [await this.launch(list, info, domain)];
      }
      case 'attention':
        if (this.kv && op.cache) return this.bindCachedAttention(op, w.context);
        return this.bindAttention(op, domain, w.context);
    }
  }

  /** A LayerNorm reading its residual add's operands (residual-add's kinds, constants and multipliers). */
  private async bindResidualNorm(
    op: IntLayerNormOp,
    fusion: NormFusion,
    channels: GPUBuffer,
    domain: Domain,
  ): Promise<Launch> {
    const r = fusion.residual;
    const H = op.constants.H;
    const options: LayerNormI8Options = {
      workgroupSize: defaultWorkgroupSize(H, this.gpu.adapter.isSoftware),
      residual: {
        operands: r.operands ?? { a: 'i8', b: 'i8' },
        constants: r.constants,
        bounds: r.bounds,
        writeSum: fusion.writeSum,
      },
    };
    const info = (B: number, S: number) => layerNormI8Program(op.constants, { rows: B * S, H }, options);
    const c = domain === 'source' ? this.sourceCapacity! : this.capacity!;
    const m = this.opBuffers.get(r) ?? {};
    const buffers = residualLayerNormI8Bindings(
      layerNormI8Variant(H, options),
      { rows: c.batch * c.seq, H },
      {
        a: this.slot(r.a),
        aMultipliers: m.aMultipliers,
        b: this.slot(r.b),
        bMultipliers: m.bMultipliers,
        channels,
        out: this.slot(op.out),
        sum: fusion.writeSum ? this.slot(r.out) : undefined,
      },
    );
    return this.launch(buffers, info, domain);
  }

  private async bindCachedAttention(op: IntAttentionOp, contextRequant: GPUBuffer): Promise<Launch[]> {
    const a = this.activations!;
    const launches = kvAttentionLaunches(
      op,
      this.kv!,
      {
        qkv: this.slot(op.q.tensor),
        scores: a.kvScores,
        probs: a.kvProbs,
        contextRequant,
        context: this.slot(op.out),
      },
      {
        qkvWords: wordsPerRow(intWidth(this.tensor(op.q.tensor))),
        contextWords: wordsPerRow(intWidth(this.tensor(op.out))),
      },
      this.strategy,
      this.gpu.adapter.isSoftware,
      this.fuse,
    );
    const bound: Launch[] = [];
    for (const l of launches) bound.push(await this.launch(l.buffers, (B, S, past = 0) => l.info(B, S, past)));
    return bound;
  }

  /** The next-token choice over the LM head's [batch, vocab] rows: top-k on the common scale. */
  private async bindTopK(c: Capacity): Promise<Launch> {
    const vocab = this.program.output.rescale!.requant.length;
    const options = { rescale: true };
    const software = this.gpu.adapter.isSoftware;
    // `seq` carries k here: the launch's shape is (batch, k).
    const info = (B: number, k: number) => {
      const shape = { batch: B, vocab, k };
      return topKProgram(options, shape, topKVariant(shape, software));
    };
    const a = this.activations!;
    const list = topKBindings(
      options,
      { batch: c.batch, vocab, k: Math.min(TOPK_MAX_K, vocab) },
      { logits: this.slot(this.program.output.tensor), requant: this.rescale!, out: a.topk! },
    );
    const dispatch = await Dispatch.create(this.gpu, info(c.batch, 1), list);
    return { dispatch, buffers: list, domain: 'target', info };
  }

  /**
   * Q.K^T per head (int32), i-softmax (uint8), V transposed per head, P.V requantized into the
   * heads' columns. Self-attention runs (batch, seq) with as many keys as queries; cross-attention
   * (sources, beams x seq query rows, source length): the beams of one source are consecutive
   * target sequences, so their query rows are one block against that source's keys.
   */
  private async bindAttention(op: IntAttentionOp, domain: Domain, contextRequant: GPUBuffer): Promise<Launch[]> {
    if (!this.fuse) return this.bindUnfusedAttention(op, domain, contextRequant);
    const fused = await this.bindFusedAttention(op, domain);
    if (this.alwaysFused(op)) return [fused];
    // Runs over more than 512 keys take the unfused chain, the others the fused kernel: each run
    // leaves one of them at zero workgroups (encode skips it).
    const keys = (s: number, k?: number) => (domain === 'cross' ? (k ?? 0) : s);
    const unfused = await this.bindUnfusedAttention(op, domain, contextRequant);
    return [
      fused,
      ...unfused.map(
        (l): Launch => ({
          ...l,
          info: (b, s, k) => {
            const p = l.info(b, s, k);
            return keys(s, k) <= ATTENTION_I8_MAX_KEYS ? { ...p, workgroups: [0, 0, 0] } : p;
          },
        }),
      ),
    ];
  }

  /**
   * The fused attention-i8 launch (runs of up to 512 keys; longer ones get zero workgroups): Q, K
   * and V read in place from their tensors' channel slices, the context written into the heads'
   * columns, the probabilities never leaving workgroup memory.
   */
  private async bindFusedAttention(op: IntAttentionOp, domain: Domain): Promise<Launch> {
    const a = this.activations!;
    const software = this.gpu.adapter.isSoftware;
    const mask = domain === 'target' ? a.inputs.mask : a.source!.mask;
    const shape = (b: number, s: number, k?: number): AttentionI8Shape => {
      const keys = domain === 'cross' ? (k ?? 0) : s;
      return {
        batch: b,
        heads: op.heads,
        headDim: op.headDim,
        queries: s,
        keys,
        causal: op.causal,
        qRow: wordsPerRow(intWidth(this.tensor(op.q.tensor))),
        kRow: wordsPerRow(intWidth(this.tensor(op.k.tensor))),
        vRow: wordsPerRow(intWidth(this.tensor(op.v.tensor))),
        outRow: wordsPerRow(intWidth(this.tensor(op.out))),
        qOffset: op.q.channel / 4,
        kOffset: op.k.channel / 4,
        vOffset: op.v.channel / 4,
      };
    };
    const info = (b: number, s: number, k?: number): ProgramInfo => {
      const sh = shape(b, s, k);
      if (sh.keys > ATTENTION_I8_MAX_KEYS) {
        const kernel = attentionI8Kernel(attentionI8Variant({ keys: ATTENTION_I8_MAX_KEYS }, this.strategy, software));
        const label = `${kernel.name} (idle: ${sh.keys} keys)`;
        return {
          ...kernel,
          name: label,
          label,
          workgroups: [0, 0, 0],
          params: attentionI8Params(sh, op.softmax, op.context),
        };
      }
      return attentionI8Program(sh, op.softmax, op.context, attentionI8Variant(sh, this.strategy, software));
    };
    const buffers = [this.slot(op.q.tensor), this.slot(op.k.tensor), this.slot(op.v.tensor), mask, this.slot(op.out)];
    return this.launch(buffers, info, domain);
  }

  private async bindUnfusedAttention(op: IntAttentionOp, domain: Domain, contextRequant: GPUBuffer): Promise<Launch[]> {
    const a = this.activations!;
    const software = this.gpu.adapter.isSoftware;
    const { heads, headDim: D } = op;
    const qRow = wordsPerRow(intWidth(this.tensor(op.q.tensor)));
    const kRow = wordsPerRow(intWidth(this.tensor(op.k.tensor)));
    const vRow = wordsPerRow(intWidth(this.tensor(op.v.tensor)));
    const outRow = wordsPerRow(intWidth(this.tensor(op.out)));
    const mask = domain === 'target' ? a.inputs.mask : a.source!.mask;
    // (batch, query rows, keys) of a launch's arguments (see Launch).
    const dims = (B: number, S: number, keys = 0): [number, number, number] =>
      domain === 'cross' ? [B, S, keys] : [B, S, S];
    const scoresOptions: GemmI8Options = {
      strategy: this.strategy,
      output: 'i32',
      perChannel: false,
      bias: false,
      aUnsigned: false,
    };
    const contextOptions: GemmI8Options = {
      strategy: this.strategy,
      output: 'i8',
      perChannel: false,
      bias: false,
      aUnsigned: true,
    };
    const scores = (b: number, s: number, k?: number) => {
      const [B, Sq, Sk] = dims(b, s, k);
      return this.gemmInfo(
        scoresOptions,
        {
          M: Sq,
          N: Sk,
          K: D,
          batchOuter: B,
          batchInner: heads,
          aRow: qRow,
          bRow: kRow,
          aInner: D / 4,
          bInner: D / 4,
          aOuter: Sq * qRow,
          bOuter: Sk * kRow,
          aOffset: op.q.channel / 4,
          bOffset: op.k.channel / 4,
        },
        0,
      );
    };
    const softmax = (b: number, s: number, k?: number) => {
      const [B, Sq, Sk] = dims(b, s, k);
      return softmaxI8Program(
        { batch: B, heads, seq: Sk, queries: Sq, causal: op.causal },
        op.softmax,
        defaultSoftmaxI8Launch(Sk, software),
      );
    };
    const transpose = (b: number, s: number, k?: number) => {
      const [B, , Sk] = dims(b, s, k);
      return transposeHeadsI8Program({ batch: B, seq: Sk, heads, headDim: D, rowWords: vRow, colOffset: op.v.channel });
    };
    const context = (b: number, s: number, k?: number) => {
      const [B, Sq, Sk] = dims(b, s, k);
      const S4 = wordsPerRow(Sk);
      return this.gemmInfo(
        contextOptions,
        {
          M: Sq,
          N: D,
          K: Sk,
          batchOuter: B,
          batchInner: heads,
          aRow: S4,
          bRow: S4,
          cRow: outRow,
          cInner: D / 4,
          cOuter: Sq * outRow,
        },
        0,
      );
    };
    return [
      await this.launch(
        gemmI8Bindings(scoresOptions, { a: this.slot(op.q.tensor), b: this.slot(op.k.tensor), c: a.scores! }),
        scores,
        domain,
      ),
      await this.launch([a.scores!, mask, a.probs!], softmax, domain),
      await this.launch([this.slot(op.v.tensor), a.vT!], transpose, domain),
      await this.launch(
        gemmI8Bindings(contextOptions, { a: a.probs!, b: a.vT!, requant: contextRequant, c: this.slot(op.out) }),
        context,
        domain,
      ),
    ];
  }

  /**
   * Compiles the pipeline of every variant a forward can meet (GEMM tiles, attention buckets), so
   * that no length ever waits for a compile. Every request goes to the driver at once (Dawn compiles
   * off the JS thread), shortest lengths first; keys of equal code compile once (Gpu.pipeline).
   */
  private async compileVariants(): Promise<void> {
    const poolings = this.program.ops.some((o) => o.kind === 'pool') ? (['mean', 'cls'] as const) : [undefined];
    // One Promise.all over every group: the driver compiles them in parallel instead of group by group.
    const pending: Promise<unknown>[] = [];
    for (const pooling of poolings) {
      // The pool launch reads this.pooling when compileVariants asks for its programs (synchronously,
      // before it returns its promise), so setting it per iteration is safe without awaiting.
      this.pooling = pooling;
      for (const batch of new Set([1, this.kv?.batch ?? 1])) {
        if (!this.usesSource) {
          pending.push(
            compileVariants(
              this.gpu,
              this.launches.map((l) => l.info),
              this.maxSeq,
              batch,
            ),
          );
          // Launches over one row per sequence (a classifier's head) have batch rows: the lengths
          // above reach only their one-row variant, so batches up to the GEMV's rows (the default
          // batch size, 8, among them) are warmed at length 1, where token launches meet no new one.
          if (!this.kv)
            for (let b = 2; b <= GEMV_MAX_ROWS; b++)
              for (const l of this.launches) {
                const p = l.info(b, 1);
                pending.push(this.gpu.pipeline(p.key, p.code, p.name));
              }
          continue;
        }
        // An encoder-decoder's target runs one token per sequence after `past` (S - 1 here); the
        // source any length; cross-attention batch x 1 query rows of one source over S keys.
        const of = (domain: Domain) => this.launches.filter((l) => l.domain === domain);
        pending.push(
          compileVariants(
            this.gpu,
            of('target').map((l) => (B: number, S: number) => l.info(B, 1, S - 1)),
            this.maxSeq,
            batch,
          ),
        );
        pending.push(
          compileVariants(
            this.gpu,
            of('source').map((l) => l.info),
            this.program.maxPositions,
            batch,
          ),
        );
        pending.push(
          compileVariants(
            this.gpu,
            of('cross').map((l) => (B: number, S: number) => l.info(1, B, S)),
            this.program.maxPositions,
            batch,
          ),
        );
      }
    }
    this.pooling = undefined;
    if (this.topkLaunch) {
      const vocab = this.program.output.rescale!.requant.length;
      // Each k's variant keeps a list of k rounded up to a power of two: one k per variant.
      const maxK = Math.min(TOPK_MAX_K, vocab);
      const ks = new Set([maxK]);
      for (let k = 1; k < maxK; k *= 2) ks.add(k);
      for (const k of ks) {
        const p = this.topkLaunch.info(1, k);
        pending.push(this.gpu.pipeline(p.key, p.code, p.name));
      }
    }
    await Promise.all(pending);
  }

  /**
   * What a forward of (batch, seq) dispatches, in order: each launch that runs (launches idle at
   * this length left out) with its grid and the bytes of the buffers it binds (the uniform not
   * counted). Buffers are bound at capacity and shared between tensors, so bytes are an upper
   * bound of what the launch touches. Benchmarks count dispatches and bytes with it.
   */
  async launchPlan(batch: number, seq: number): Promise<{ name: string; workgroups: number[]; boundBytes: number }[]> {
    if (this.kv) throw new Error('integer model: launchPlan is for forward() runs');
    await this.ensureCapacity(batch, seq);
    return this.launches
      .map((l) => ({ l, info: l.info(batch, seq) }))
      .filter(({ info }) => info.workgroups.every((n) => n > 0))
      .map(({ l, info }) => ({
        name: info.label ?? info.name,
        workgroups: [...info.workgroups],
        boundBytes: l.buffers.reduce((n, b) => n + b.size, 0),
      }));
  }

  /** Pipelines and bind groups created on this runtime's device so far. */
  creationCounts(): CreationCounts {
    return creationCounts(this.gpu);
  }

  /** Decoders: tokens per sequence in the KV cache. */
  get cached(): number {
    return this.kv?.past ?? 0;
  }

  /** Decoders: the KV cache's batch and capacity. */
  get kvCacheSize(): KvCacheSize | undefined {
    return this.kv && { batch: this.kv.batch, capacity: this.kv.capacity };
  }

  /** Decoders: empties the KV cache for the next prefill (its buffers are kept). */
  resetCache(): void {
    this.kv?.reset();
  }

  /**
   * Decoders: runs `input`'s tokens after the cached ones (a prompt into an empty cache, then one
   * token per sequence per step), appending their K and V to the cache, and reads back the next-token
   * choice of each sequence's last position: the k best on the common logit scale (k <= 64), or
   * with k = 'all' the whole row of accumulators. Compiles nothing and allocates nothing per step.
   */
  async decode(input: DecodeInput, k: number | 'all'): Promise<DecodeOutput> {
    if (this.disposed) throw new Error('integer model: used after dispose()');
    const kv = this.kv;
    if (!kv) throw new Error('integer model: decode() needs a KV cache (create with kvCache)');
    this.gpu.assertAlive();
    const vocab = this.program.output.rescale!.requant.length;
    if (k !== 'all' && (!Number.isInteger(k) || k < 1 || k > Math.min(TOPK_MAX_K, vocab)))
      throw new RangeError(
        `integer model: k = ${k} must be an integer in [1, ${Math.min(TOPK_MAX_K, vocab)}] or 'all'`,
      );
    const B = kv.batch;
    const S = input.seq;
    if (!Number.isInteger(S) || S < 1) throw new RangeError(`integer model: seq = ${S} must be a positive integer`);
    for (const [name, values] of [
      ['ids', input.ids],
      ['positions', input.positions],
      ['mask', input.mask],
    ] as const) {
      if (values.length !== B * S)
        throw new RangeError(`integer model: ${values.length} ${name} for ${B} sequences x ${S} tokens`);
    }
    const t = this.embed.tables;
    checkEmbeddingIds(input.ids, t.word.length / t.hidden, 'token');
    checkEmbeddingIds(input.positions, t.position.length / t.hidden, 'position');
    if (this.usesSource && !this.sourceRun) throw new Error('integer model: encode() the sources before decoding');
    const past = kv.past;
    kv.writeMask(this.gpu.device.queue, input.mask, S);
    await this.ensureCapacity(B, S);
    const a = this.activations!;
    const launches = this.launches.filter((l) => l.domain !== 'source');
    for (const l of launches) {
      const info = l.info(...this.runArgs(l, B, S, past));
      await l.dispatch.prepare(info, info);
    }
    const q = this.gpu.device.queue;
    q.writeBuffer(a.inputs.tokenIds, 0, Uint32Array.from(input.ids));
    q.writeBuffer(a.inputs.positionIds, 0, Uint32Array.from(input.positions));
    const programs: BoundProgram[] = launches.map((l) => l.dispatch);
    let source: GPUBuffer;
    let bytes: number;
    if (k === 'all') {
      source = this.slot(this.program.output.tensor);
      bytes = B * vocab * 4;
    } else {
      const info = this.topkLaunch!.info(B, k);
      await this.topkLaunch!.dispatch.prepare(info, info);
      programs.push(this.topkLaunch!.dispatch);
      source = a.topk!;
      bytes = topKOutputWords({ batch: B, k }) * 4;
    }
    const encoder = this.gpu.device.createCommandEncoder({ label: 'int-program.decode' });
    encodePrograms(encoder, programs, 'int-program');
    encoder.copyBufferToBuffer(source, 0, a.staging, 0, bytes);
    q.submit([encoder.finish()]);
    // The cache holds this run's positions from the submit on, whether or not the read-back succeeds.
    kv.past = past + S;
    await this.gpu.wait(() => a.staging.mapAsync(MAP_READ, 0, bytes));
    const raw = new Uint32Array(a.staging.getMappedRange(0, bytes).slice(0));
    a.staging.unmap();
    if (k === 'all') return { kind: 'logits', logits: new Int32Array(raw.buffer) };
    const ids = new Uint32Array(B * k);
    const values = new Int32Array(B * k);
    const row = 1 + 2 * k;
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < k; j++) {
        ids[b * k + j] = raw[b * row + 1 + j];
        values[b * k + j] = raw[b * row + 1 + k + j] | 0;
      }
    }
    return { kind: 'top-k', k, ids, values };
  }

  /**
   * Encoder-decoders: runs the encoder (and the cross-attention K|V projections) over `source`
   * once, kept on the GPU for every decode() until the next encode(). The KV cache's sequences are
   * the sources' beams: batch / sources consecutive sequences per source, which share its K|V.
   */
  async encode(source: TokenBatch): Promise<void> {
    if (this.disposed) throw new Error('integer model: used after dispose()');
    const kv = this.kv;
    if (!this.usesSource || !kv) throw new Error('integer model: encode() is for encoder-decoders');
    this.gpu.assertAlive();
    checkTokenBatch(source);
    const { batch: B, seqLen: S } = source;
    if (kv.batch % B !== 0)
      throw new RangeError(`integer model: ${B} sources do not divide the KV cache's ${kv.batch} sequences into beams`);
    if (S > this.program.maxPositions)
      throw new RangeError(
        `integer model: a source of ${S} tokens exceeds the model's ${this.program.maxPositions} positions`,
      );
    const t = this.sourceEmbed!.tables;
    checkEmbeddingIds(source.inputIds, t.word.length / t.hidden, 'source token');
    checkEmbeddingIds(source.positionIds, t.position.length / t.hidden, 'source position');
    for (let b = 0; b < B; b++) {
      if (!source.attentionMask.subarray(b * S, (b + 1) * S).some((m) => m !== 0))
        throw new RangeError(`integer model: source ${b} has no real token`);
    }
    this.sourceRun = undefined;
    await this.ensureCapacity(this.capacity?.batch ?? kv.batch, this.capacity?.seq ?? 1, { batch: B, seq: S });
    const a = this.activations!;
    this.sourceRun = { batch: B, seq: S };
    const launches = this.launches.filter((l) => l.domain === 'source');
    for (const l of launches) {
      const info = l.info(B, S);
      await l.dispatch.prepare(info, info);
    }
    const q = this.gpu.device.queue;
    q.writeBuffer(a.source!.tokenIds, 0, Uint32Array.from(source.inputIds));
    q.writeBuffer(a.source!.positionIds, 0, Uint32Array.from(source.positionIds));
    q.writeBuffer(a.source!.mask, 0, Uint32Array.from(source.attentionMask));
    const encoder = this.gpu.device.createCommandEncoder({ label: 'int-program.encode' });
    encodePrograms(
      encoder,
      launches.map((l) => l.dispatch),
      'int-program',
    );
    q.submit([encoder.finish()]);
  }

  /** Sources encoded and sequences per source (beams), or undefined before encode(). */
  get encoded(): { sources: number; beams: number } | undefined {
    const run = this.sourceRun;
    return run && this.kv && { sources: run.batch, beams: this.kv.batch / run.batch };
  }

  /**
   * Beam search: sequence i continues sequence parents[i]'s KV cache (a sequence of the same
   * source). Only moved sequences are copied; the sources' encoder output is untouched.
   */
  reorderCache(parents: readonly number[]): void {
    if (this.disposed) throw new Error('integer model: used after dispose()');
    const kv = this.kv;
    if (!kv) throw new Error('integer model: reorderCache() needs a KV cache');
    kv.reorder(this.gpu, parents, this.encoded?.beams ?? kv.batch);
  }

  /**
   * A KV cache of another size (more sequences, or longer ones): the old cache is freed and the
   * launches rebound; weights stay, and no pipeline is compiled for a size seen at creation.
   */
  async resizeKvCache(size: KvCacheSize): Promise<void> {
    if (this.disposed) throw new Error('integer model: used after dispose()');
    if (!this.kv) throw new Error('integer model: resizeKvCache() needs a KV cache');
    const next = new GpuKvCache(this.gpu, this.program, size.batch, size.capacity);
    this.releaseActivations();
    this.kv.destroy();
    this.kv = next;
    await this.ensureCapacity(size.batch, 1);
  }

  async forward(batch: TokenBatch, options: IntForwardOptions = {}): Promise<IntForwardResult> {
    if (this.disposed) throw new Error('integer model: used after dispose()');
    if (this.kv) throw new Error('integer model: created with a KV cache, it runs decode(), not forward()');
    this.gpu.assertAlive();
    checkTokenBatch(batch);
    const { batch: B, seqLen: S } = batch;
    const T = B * S;
    const t = this.embed.tables;
    const H = t.hidden;
    checkEmbeddingIds(batch.inputIds, t.word.length / H, 'token');
    checkEmbeddingIds(batch.positionIds, t.position.length / H, 'position');
    if (t.tokenType) checkEmbeddingIds(batch.tokenTypeIds, t.tokenType.length / H, 'token type');
    if (S > this.program.maxPositions)
      throw new RangeError(
        `integer model: sequence length ${S} exceeds the model's ${this.program.maxPositions} positions`,
      );
    for (let b = 0; b < B; b++) {
      if (!batch.attentionMask.subarray(b * S, (b + 1) * S).some((m) => m !== 0))
        throw new RangeError(`integer model: sequence ${b} of the batch has no real token`);
    }
    if (options.pooling !== undefined && options.pooling !== 'mean' && options.pooling !== 'cls')
      throw new RangeError(`integer model: pooling ${JSON.stringify(options.pooling)} is not 'mean' or 'cls'`);
    await this.ensureCapacity(B, S);
    const a = this.activations!;
    this.pooling = options.pooling;
    try {
      for (const l of this.launches) {
        const info = l.info(B, S);
        await l.dispatch.prepare(info, info);
      }
    } finally {
      this.pooling = undefined;
    }
    const q = this.gpu.device.queue;
    q.writeBuffer(a.inputs.tokenIds, 0, Uint32Array.from(batch.inputIds));
    q.writeBuffer(a.inputs.positionIds, 0, Uint32Array.from(batch.positionIds));
    if (t.tokenType) q.writeBuffer(a.inputs.typeIds, 0, Uint32Array.from(batch.tokenTypeIds));
    q.writeBuffer(a.inputs.mask, 0, Uint32Array.from(batch.attentionMask));
    const out = this.tensor(this.program.output.tensor);
    const width = intWidth(out);
    const rows = rowsPerSequence(out) === 'tokens' ? T : B;
    const bytes = rows * width * 4;
    const programs: BoundProgram[] = this.launches.map((l) => l.dispatch);
    const timer = options.profile ? profilingTimer(this.gpu, programs.length) : undefined;
    let raw: ArrayBuffer;
    let kernels: KernelTime[] | undefined;
    try {
      const encoder = this.gpu.device.createCommandEncoder({ label: 'int-program.forward' });
      encodePrograms(encoder, programs, 'int-program', timer);
      encoder.copyBufferToBuffer(this.slot(out.id), 0, a.staging, 0, bytes);
      q.submit([encoder.finish()]);
      await this.gpu.wait(() => a.staging.mapAsync(MAP_READ, 0, bytes));
      raw = a.staging.getMappedRange(0, bytes).slice(0);
      a.staging.unmap();
      if (timer) kernels = await readKernelTimes(timer, programs);
    } finally {
      timer?.destroy();
    }
    return { output: new Int32Array(raw), kernels };
  }

  /** GPU bytes held: weights and constants for the model's life, activations for the capacity reached. */
  memory(): GpuMemory {
    if (this.disposed) return { weightBytes: 0, activationBytes: 0 };
    const memory: GpuMemory = {
      weightBytes: sumSizes(this.owned),
      activationBytes: sumSizes(this.activationBuffers()),
    };
    if (this.kv) {
      memory.kvCacheBytes = this.kv.bytes();
      memory.kvBytesPerToken = this.kv.bytesPerToken();
    }
    if (this.usesSource) {
      const kept = [...this.pinned].map((id) => this.tensor(id));
      memory.crossKvBytes = sumSizes(kept.map((t) => this.activations?.slots[this.slotOf.get(t.id)!]));
      memory.crossKvBytesPerSourceToken = kept.reduce((n, t) => n + intWidth(t), 0);
    }
    return memory;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseActivations();
    this.kv?.destroy();
    this.owned.forEach((b) => b.destroy());
  }
}

/** Rows of int8 packed 4 per word (rows padded to whole words). */
function packRowsOf(values: Int8Array, cols: number): Uint32Array {
  return packRows(values, values.length / cols, cols);
}

function opReads(op: IntOp): string[] {
  switch (op.kind) {
    case 'embed':
      return [];
    case 'residual':
      return [op.a, op.b];
    case 'attention':
      return [op.q.tensor, op.k.tensor, op.v.tensor];
    default:
      return [op.input];
  }
}
