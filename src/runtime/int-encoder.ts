/**
 * The integer encoder on WebGPU: runs an EncoderPlan. Weights and constants are uploaded once,
 * pipelines compiled once (cached by the Gpu), activation buffers allocated for the largest batch
 * seen and reused across layers and calls; each (batch, seqLen) shape binds its programs once. A
 * forward is one command submission whose only read-back is the int32 logits (classification) or
 * the final int8 hidden states (embedding models). Between kernels everything stays integer; the
 * layouts and the order of operations are those of src/reference/int-encoder.ts.
 */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type KernelTime, encodePrograms, readKernelTimes } from '../gpu/program.js';
import { type GpuMemory, profilingTimer, sumSizes } from '../gpu/profile.js';
import { bindEmbeddingI8, checkEmbeddingIds } from '../kernels/embedding-i8.js';
import { checkTokenBatch } from '../core/token-batch.js';
import { TILE_WARMUP_LENGTHS } from '../kernels/gemm-shape.js';
import { type GemmI8Options, type GemmI8Strategy, bindGemmI8, packRequant, preferredStrategy } from '../kernels/gemm-i8.js';
import { uploadGeluI8Constants } from '../kernels/gelu-i8.js';
import { bindLayerNormI8, defaultWorkgroupSize, packLayerNormChannels } from '../kernels/layernorm-i8.js';
import { bindLookupI8, lookupTableWords } from '../kernels/lookup-i8.js';
import { bindResidualAdd } from '../kernels/residual-add.js';
import { bindSoftmaxI8, defaultSoftmaxI8Launch, softmaxI8OutputWords } from '../kernels/softmax-i8.js';
import { bindTransposeHeadsI8, transposeHeadsOutputWords } from '../kernels/transpose-heads-i8.js';
import type { EncoderConfig, TokenBatch } from '../model/types.js';
import type { EncoderPlan, PlannedLayer, PlannedLinear } from '../plan/encoder-plan.js';
import { packRows, wordsPerRow } from '../quant/pack.js';
import type { Dyadic } from '../reference/dyadic.js';
import type { LayerNormI8Constants } from '../reference/layernorm-i8.js';

const COPY_DST = 0x08;
const MAP_READ = 0x01;
/** Bound (batch, seqLen) shapes kept at once; an evaluation over padded batches meets dozens. */
const MAX_BOUND_SHAPES = 8;

export interface IntForwardResult {
  logitsInt?: Int32Array;
  logits?: Float32Array;
  /** Embedding models: the final hidden states, int8 [batch * seqLen, hidden] at plan.hiddenScale. */
  hidden?: Int8Array;
  /** With `profile`: GPU time of every dispatch, in order. */
  kernels?: KernelTime[];
}

export interface IntForwardOptions {
  /** Time every dispatch with GPU timestamps (needs the adapter's 'timestamp-query'). */
  profile?: boolean;
}

export interface IntEncoderOptions {
  strategy?: GemmI8Strategy;
}

interface LinearBuffers {
  weight: GPUBuffer;
  bias: GPUBuffer;
  requant: GPUBuffer;
  biasMaxAbs: number;
  inFeatures: number;
  outFeatures: number;
}

interface LayerBuffers {
  qkv: LinearBuffers;
  context: GPUBuffer;
  attentionOutput: LinearBuffers;
  attentionNorm: GPUBuffer;
  intermediate: LinearBuffers;
  gelu: GPUBuffer;
  output: LinearBuffers;
  outputNorm: GPUBuffer;
}

/** Activation buffers, sized for the largest (batch, seqLen) seen. */
interface Activations {
  tokenIds: GPUBuffer;
  positionIds: GPUBuffer;
  typeIds?: GPUBuffer;
  mask: GPUBuffer;
  wide: GPUBuffer;
  hA: GPUBuffer;
  hB: GPUBuffer;
  qkv: GPUBuffer;
  scores: GPUBuffer;
  probs: GPUBuffer;
  vT: GPUBuffer;
  context: GPUBuffer;
  projected: GPUBuffer;
  ffn: GPUBuffer;
  headDense?: GPUBuffer;
  headAct?: GPUBuffer;
  logits?: GPUBuffer;
  staging: GPUBuffer;
}

type ActivationName = keyof Activations;

function maxAbs(values: Int32Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

export class IntEncoder {
  private readonly layers: LayerBuffers[] = [];
  private readonly owned: GPUBuffer[] = [];
  private embeddingTables!: { word: GPUBuffer; position: GPUBuffer; tokenType?: GPUBuffer };
  private embeddingNorm!: GPUBuffer;
  private head?: { dense?: LinearBuffers; table?: GPUBuffer; output: LinearBuffers };
  private activations?: Activations;
  private readonly bound = new Map<string, BoundProgram[]>();
  private disposed = false;

  private constructor(
    readonly gpu: Gpu,
    readonly plan: EncoderPlan,
    readonly config: EncoderConfig,
    readonly strategy: GemmI8Strategy,
  ) {}

  static async create(gpu: Gpu, plan: EncoderPlan, config: EncoderConfig, options: IntEncoderOptions = {}): Promise<IntEncoder> {
    const D = config.hiddenSize / config.numHeads;
    if (D % 4 !== 0) throw new RangeError(`IntEncoder: head size ${D} is not a multiple of 4`);
    const enc = new IntEncoder(gpu, plan, config, options.strategy ?? preferredStrategy(gpu));
    enc.upload();
    // Compile every pipeline now (short shapes that between them use every GEMM tile), so the
    // first real forward only dispatches.
    for (const seq of TILE_WARMUP_LENGTHS) await enc.programsFor(1, Math.min(seq, config.maxPositions));
    return enc;
  }

  private buffer(label: string, data: Int32Array | Uint32Array): GPUBuffer {
    const b = this.gpu.storage(label, data);
    this.owned.push(b);
    return b;
  }

  private linear(label: string, parts: PlannedLinear[], requant?: Dyadic[]): LinearBuffers {
    const inFeatures = parts[0].inFeatures;
    const outFeatures = parts.reduce((n, p) => n + p.outFeatures, 0);
    const weight = new Int8Array(outFeatures * inFeatures);
    const bias = new Int32Array(outFeatures);
    const rq: Dyadic[] = [];
    let row = 0;
    for (const p of parts) {
      weight.set(p.weight, row * inFeatures);
      bias.set(p.bias, row);
      rq.push(...(p.requant ?? []));
      row += p.outFeatures;
    }
    return {
      weight: this.buffer(`${label}.weight`, packRows(weight, outFeatures, inFeatures)),
      bias: this.buffer(`${label}.bias`, bias),
      requant: this.buffer(`${label}.requant`, packRequant(requant ?? (rq.length ? rq : [{ m: 0, e: 0 }]))),
      biasMaxAbs: maxAbs(bias),
      inFeatures,
      outFeatures,
    };
  }

  private layerNorm(label: string, c: LayerNormI8Constants): GPUBuffer {
    return this.buffer(`${label}.channels`, packLayerNormChannels(c));
  }

  private upload(): void {
    const { plan } = this;
    const e = plan.embeddings;
    const H = this.config.hiddenSize;
    const table = (name: string, values: Int8Array) => this.buffer(`embeddings.${name}`, packRows(values, values.length / H, H));
    this.embeddingTables = {
      word: table('word', e.tables.word),
      position: table('position', e.tables.position),
      tokenType: e.tables.tokenType ? table('tokenType', e.tables.tokenType) : undefined,
    };
    this.embeddingNorm = this.layerNorm('embeddings.norm', plan.embeddingNorm);
    plan.layers.forEach((l: PlannedLayer, i) => {
      const gelu = uploadGeluI8Constants(this.gpu, l.gelu, `layer.${i}.gelu`);
      this.owned.push(gelu);
      this.layers.push({
        qkv: this.linear(`layer.${i}.qkv`, [l.query, l.key, l.value]),
        context: this.buffer(`layer.${i}.context.requant`, packRequant([l.context])),
        attentionOutput: this.linear(`layer.${i}.attention_output`, [l.attentionOutput]),
        attentionNorm: this.layerNorm(`layer.${i}.attention_norm`, l.attentionNorm),
        intermediate: this.linear(`layer.${i}.intermediate`, [l.intermediate]),
        gelu,
        output: this.linear(`layer.${i}.output`, [l.output]),
        outputNorm: this.layerNorm(`layer.${i}.output_norm`, l.outputNorm),
      });
    });
    if (plan.head) {
      this.head = {
        dense: plan.head.dense ? this.linear('head.dense', [plan.head.dense]) : undefined,
        table: plan.head.activation ? this.buffer('head.table', lookupTableWords(plan.head.activation.table)) : undefined,
        output: this.linear('head.output', [plan.head.output]),
      };
    }
  }

  /** Bytes each activation buffer needs for one (batch, seqLen). */
  private requiredBytes(batch: number, seq: number): Record<ActivationName, number> {
    const { hiddenSize: H, numHeads: heads, intermediateSize: I } = this.config;
    const D = H / heads;
    const T = batch * seq;
    const labels = this.plan.head?.output.outFeatures ?? 0;
    const dense = this.head?.dense ? batch * wordsPerRow(this.head.dense.outFeatures) * 4 : 0;
    return {
      tokenIds: T * 4,
      positionIds: T * 4,
      typeIds: this.embeddingTables.tokenType ? T * 4 : 0,
      mask: T * 4,
      wide: T * H * 4,
      hA: T * wordsPerRow(H) * 4,
      hB: T * wordsPerRow(H) * 4,
      qkv: T * wordsPerRow(3 * H) * 4,
      scores: batch * heads * seq * seq * 4,
      probs: softmaxI8OutputWords({ batch, heads, seq }) * 4,
      vT: transposeHeadsOutputWords({ batch, seq, heads, headDim: D, rowWords: (3 * H) / 4, colOffset: 2 * H }) * 4,
      context: T * wordsPerRow(H) * 4,
      projected: T * wordsPerRow(H) * 4,
      ffn: T * wordsPerRow(I) * 4,
      headDense: dense,
      headAct: dense,
      logits: this.head ? batch * labels * 4 : 0,
      staging: this.head ? batch * labels * 4 : T * wordsPerRow(H) * 4,
    };
  }

  private allocate(bytes: Record<ActivationName, number>): Activations {
    const a = {} as Activations;
    for (const name of Object.keys(bytes) as ActivationName[]) {
      if (bytes[name] === 0) continue;
      a[name] =
        name === 'staging'
          ? this.gpu.device.createBuffer({ label: 'int-encoder.readback', size: Math.ceil(bytes[name] / 4) * 4, usage: MAP_READ | COPY_DST })
          : this.gpu.storage(name, bytes[name]);
    }
    return a;
  }

  private releaseActivations(): void {
    if (!this.activations) return;
    for (const b of Object.values(this.activations)) b?.destroy();
    for (const programs of this.bound.values()) programs.forEach((p) => p.destroy());
    this.bound.clear();
    this.activations = undefined;
  }

  /** The bound programs of one (batch, seqLen), binding them (and growing buffers) on first use. */
  private async programsFor(batch: number, seq: number): Promise<BoundProgram[]> {
    const key = `${batch}x${seq}`;
    const hit = this.bound.get(key);
    if (hit) {
      // Most recently used last: the Map's insertion order is the eviction order.
      this.bound.delete(key);
      this.bound.set(key, hit);
      return hit;
    }
    const need = this.requiredBytes(batch, seq);
    const current = this.activations;
    const fits = current && (Object.keys(need) as ActivationName[]).every((k) => need[k] === 0 || (current[k]?.size ?? 0) >= need[k]);
    if (!fits) {
      // Grow every buffer to the larger of its old and new size; bound programs refer to the old ones.
      const grown = { ...need };
      if (current) for (const k of Object.keys(need) as ActivationName[]) grown[k] = Math.max(need[k], current[k]?.size ?? 0);
      this.releaseActivations();
      this.activations = this.allocate(grown);
    }
    const programs = await this.bindAll(batch, seq, this.activations!);
    this.bound.set(key, programs);
    // Each shape's programs hold uniform buffers: keep the few shapes in use, not every one seen.
    while (this.bound.size > MAX_BOUND_SHAPES) {
      const [oldest, stale] = this.bound.entries().next().value as [string, BoundProgram[]];
      stale.forEach((p) => p.destroy());
      this.bound.delete(oldest);
    }
    return programs;
  }

  private gemm(options: Omit<GemmI8Options, 'strategy'>): GemmI8Options {
    return { ...options, strategy: this.strategy };
  }

  private async bindAll(batch: number, seq: number, a: Activations): Promise<BoundProgram[]> {
    const { gpu, plan, config } = this;
    const { hiddenSize: H, numHeads: heads } = config;
    const D = H / heads;
    const T = batch * seq;
    const H4 = H / 4;
    const QKV4 = (3 * H) / 4;
    const seq4 = wordsPerRow(seq);
    const p: BoundProgram[] = [];
    const e = plan.embeddings;
    const hasTypes = !!this.embeddingTables.tokenType;
    p.push(
      await bindEmbeddingI8(
        gpu,
        { tokenTypes: hasTypes },
        { tokens: T, hidden: H, vocab: e.tables.word.length / H, positions: e.tables.position.length / H, types: hasTypes ? e.tables.tokenType!.length / H : undefined },
        e.constants,
        {
          word: this.embeddingTables.word,
          position: this.embeddingTables.position,
          tokenType: this.embeddingTables.tokenType,
          tokenIds: a.tokenIds,
          positionIds: a.positionIds,
          tokenTypeIds: a.typeIds,
          output: a.wide,
        },
      ),
    );
    const software = gpu.adapter.isSoftware;
    const layerNorm = (c: LayerNormI8Constants, channels: GPUBuffer, out: GPUBuffer) =>
      bindLayerNormI8(gpu, c, { rows: T, H }, { x: a.wide, channels, out }, { workgroupSize: defaultWorkgroupSize(H, software) });
    p.push(await layerNorm(plan.embeddingNorm, this.embeddingNorm, a.hA));
    for (let i = 0; i < plan.layers.length; i++) {
      const l = plan.layers[i];
      const w = this.layers[i];
      const linear = (lb: LinearBuffers, x: GPUBuffer, y: GPUBuffer) =>
        bindGemmI8(gpu, this.gemm({ output: 'i8', perChannel: true, bias: true, aUnsigned: false }), { M: T, N: lb.outFeatures, K: lb.inFeatures }, { a: x, b: lb.weight, bias: lb.bias, requant: lb.requant, c: y }, lb.biasMaxAbs);
      p.push(await linear(w.qkv, a.hA, a.qkv));
      // scores[b, h] = Q_bh . K_bh^T, heads sliced out of the fused Q|K|V rows.
      p.push(
        await bindGemmI8(
          gpu,
          this.gemm({ output: 'i32', perChannel: false, bias: false, aUnsigned: false }),
          { M: seq, N: seq, K: D, batchOuter: batch, batchInner: heads, aRow: QKV4, bRow: QKV4, aInner: D / 4, bInner: D / 4, aOuter: seq * QKV4, bOuter: seq * QKV4, bOffset: H4 },
          { a: a.qkv, b: a.qkv, c: a.scores },
        ),
      );
      p.push(await bindSoftmaxI8(gpu, { batch, heads, seq }, l.softmax, { scores: a.scores, mask: a.mask, probs: a.probs }, defaultSoftmaxI8Launch(seq, software)));
      p.push(await bindTransposeHeadsI8(gpu, { batch, seq, heads, headDim: D, rowWords: QKV4, colOffset: 2 * H }, { x: a.qkv, y: a.vT }));
      // context[b, :, h] = P_bh . V_bh, written into the head's columns of [tokens, H].
      p.push(
        await bindGemmI8(
          gpu,
          this.gemm({ output: 'i8', perChannel: false, bias: false, aUnsigned: true }),
          { M: seq, N: D, K: seq, batchOuter: batch, batchInner: heads, aRow: seq4, bRow: seq4, cRow: H4, cInner: D / 4, cOuter: seq * H4 },
          { a: a.probs, b: a.vT, requant: w.context, c: a.context },
        ),
      );
      p.push(await linear(w.attentionOutput, a.context, a.projected));
      p.push(await bindResidualAdd(gpu, { a: 'i8', b: 'i8' }, { rows: T, cols: H }, l.attentionResidual, { a: a.projected, b: a.hA, output: a.wide }));
      p.push(await layerNorm(l.attentionNorm, w.attentionNorm, a.hB));
      const ffn1 = w.intermediate;
      p.push(
        await bindGemmI8(
          gpu,
          this.gemm({ output: 'gelu-i8', perChannel: true, bias: true, aUnsigned: false }),
          { M: T, N: ffn1.outFeatures, K: ffn1.inFeatures },
          { a: a.hB, b: ffn1.weight, bias: ffn1.bias, requant: ffn1.requant, gelu: w.gelu, c: a.ffn },
          ffn1.biasMaxAbs,
        ),
      );
      p.push(await linear(w.output, a.ffn, a.projected));
      p.push(await bindResidualAdd(gpu, { a: 'i8', b: 'i8' }, { rows: T, cols: H }, l.outputResidual, { a: a.projected, b: a.hB, output: a.wide }));
      p.push(await layerNorm(l.outputNorm, w.outputNorm, a.hA));
    }
    if (this.head) {
      // The first token of each sequence: rows b * seq of the final hidden states.
      let x = a.hA;
      let xRow = seq * H4;
      if (this.head.dense) {
        const d = this.head.dense;
        p.push(
          await bindGemmI8(gpu, this.gemm({ output: 'i8', perChannel: true, bias: true, aUnsigned: false }), { M: batch, N: d.outFeatures, K: d.inFeatures, aRow: xRow }, { a: x, b: d.weight, bias: d.bias, requant: d.requant, c: a.headDense! }, d.biasMaxAbs),
        );
        p.push(await bindLookupI8(gpu, batch, d.outFeatures, { x: a.headDense!, table: this.head.table!, y: a.headAct! }));
        x = a.headAct!;
        xRow = wordsPerRow(d.outFeatures);
      }
      const o = this.head.output;
      p.push(
        await bindGemmI8(gpu, this.gemm({ output: 'i32', perChannel: false, bias: true, aUnsigned: false }), { M: batch, N: o.outFeatures, K: o.inFeatures, aRow: xRow }, { a: x, b: o.weight, bias: o.bias, c: a.logits! }, o.biasMaxAbs),
      );
    }
    return p;
  }

  async forward(batch: TokenBatch, options: IntForwardOptions = {}): Promise<IntForwardResult> {
    checkTokenBatch(batch);
    if (this.disposed) throw new Error('IntEncoder: used after dispose()');
    this.gpu.assertAlive();
    const { batch: B, seqLen: S } = batch;
    const T = B * S;
    const e = this.plan.embeddings;
    const H = this.config.hiddenSize;
    checkEmbeddingIds(batch.inputIds, e.tables.word.length / H, 'token');
    checkEmbeddingIds(batch.positionIds, e.tables.position.length / H, 'position');
    if (e.tables.tokenType) checkEmbeddingIds(batch.tokenTypeIds, e.tables.tokenType.length / H, 'token type');
    if (S > this.config.maxPositions) throw new RangeError(`IntEncoder: sequence length ${S} exceeds the model's ${this.config.maxPositions} positions`);
    for (let b = 0; b < B; b++) {
      if (!batch.attentionMask.subarray(b * S, (b + 1) * S).some((m) => m !== 0)) throw new RangeError(`IntEncoder: sequence ${b} of the batch has no real token`);
    }
    const programs = await this.programsFor(B, S);
    const a = this.activations!;
    const q = this.gpu.device.queue;
    q.writeBuffer(a.tokenIds, 0, Uint32Array.from(batch.inputIds));
    q.writeBuffer(a.positionIds, 0, Uint32Array.from(batch.positionIds));
    if (a.typeIds) q.writeBuffer(a.typeIds, 0, Uint32Array.from(batch.tokenTypeIds));
    q.writeBuffer(a.mask, 0, Uint32Array.from(batch.attentionMask, (m) => (m ? 1 : 0)));
    const labels = this.plan.head?.output.outFeatures ?? 0;
    const bytes = this.head ? B * labels * 4 : T * wordsPerRow(H) * 4;
    const timer = options.profile ? profilingTimer(this.gpu, programs.length) : undefined;
    let raw: ArrayBuffer;
    let kernels: KernelTime[] | undefined;
    try {
      const encoder = this.gpu.device.createCommandEncoder({ label: 'int-encoder.forward' });
      encodePrograms(encoder, programs, 'int-encoder', timer);
      encoder.copyBufferToBuffer(this.head ? a.logits! : a.hA, 0, a.staging, 0, bytes);
      q.submit([encoder.finish()]);
      await this.gpu.wait(() => a.staging.mapAsync(MAP_READ, 0, bytes));
      raw = a.staging.getMappedRange(0, bytes).slice(0);
      a.staging.unmap();
      if (timer) kernels = await readKernelTimes(timer, programs);
    } finally {
      timer?.destroy();
    }
    if (this.head) {
      const logitsInt = new Int32Array(raw);
      const scale = this.plan.head!.logitScale;
      return { logitsInt, logits: Float32Array.from(logitsInt, (v, i) => v * scale[i % labels]), kernels };
    }
    const words = new Uint32Array(raw);
    const hidden = new Int8Array(T * H);
    const all = new Int8Array(words.buffer);
    for (let t = 0; t < T; t++) hidden.set(all.subarray(t * wordsPerRow(H) * 4, t * wordsPerRow(H) * 4 + H), t * H);
    return { hidden, kernels };
  }

  /** GPU bytes held: weights (and constants) for the model's life, activations for the largest shape run so far. */
  memory(): GpuMemory {
    return { weightBytes: sumSizes(this.owned), activationBytes: sumSizes(Object.values(this.activations ?? {})) };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseActivations();
    this.owned.forEach((b) => b.destroy());
  }
}
