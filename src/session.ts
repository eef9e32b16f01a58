/**
 * Running models on texts: the integer model (from an .i8t file) and the float model (from a
 * Hugging Face folder) behind one small interface, so that the CLI, the demo and evaluations
 * compare them like for like.
 */
import type { Gpu } from './gpu/gpu.js';
import type { GlueInput } from './data/glue.js';
import { type IntModelFile, readIntModelFile } from './format/int-model-file.js';
import { encoderParams, modelGraph } from './graph/architectures.js';
import { loadEncoderModel } from './model/load.js';
import { type ModelFiles, memorySource } from './model/sources.js';
import { type EncoderTokenizer, loadTokenizer } from './model/tokenizer.js';
import type { EncoderConfig, EncoderModel, TokenBatch } from './core/types.js';
import { l2Normalize, poolToFloat } from './reference/pool-i8.js';
import { FloatGraphGpu } from './runtime/float-graph.js';
import { IntProgramGpu } from './runtime/int-program.js';
import { SerialQueue, throwIfAborted } from './core/serial-queue.js';
import { checkRunOptions, checkTexts } from './core/text-inputs.js';
import type { KernelTime } from './gpu/program.js';
import { type GpuMemory, type KernelFamilyTime, kernelFamilies } from './gpu/profile.js';

export interface Prediction {
  label: string;
  index: number;
  /** Softmax probability of the predicted label. */
  score: number;
  logits: number[];
}

/** One text, or a list of texts and [text, pair] tuples. */
export type Texts = string | readonly GlueInput[];

export interface RunOptions {
  /** Texts per GPU forward; 8 by default. */
  batchSize?: number;
  /**
   * Cancels the call, which then rejects with `signal.reason`: a call aborted before its turn never
   * runs; one aborted while it runs stops before its next batch.
   */
  signal?: AbortSignal;
}

export interface EmbedOptions extends RunOptions {
  /** 'mean' over real tokens (default; sentence-transformers' MiniLM) or the first token ('cls'). */
  pooling?: 'mean' | 'cls';
  /** Divide each vector by its L2 norm (for cosine similarity by dot product). */
  normalize?: boolean;
}

/** How embed() finishes the pooled vectors. */
export interface Pooling {
  pooling: 'mean' | 'cls';
  normalize: boolean;
}

export interface ProfileOptions {
  /** As in RunOptions: a profile aborted before its turn never runs. */
  signal?: AbortSignal;
}

export interface Profile {
  /** Sum of the dispatches' GPU times (each timed in its own pass). */
  totalMs: number;
  /** Every dispatch in order. */
  kernels: KernelTime[];
  /** The same, summed per kernel family, largest first. */
  families: KernelFamilyTime[];
}

export interface TextModel {
  readonly kind: 'int8' | 'fp32';
  readonly config: EncoderConfig;
  readonly tokenizer: EncoderTokenizer;
  /**
   * Labels and scores, one per text (sequence-classification models). Calls on one model run one at
   * a time in call order, so overlapping calls each get their own answers. A text that tokenizes to
   * nothing is classified as the empty sequence, as transformers does.
   */
  classify(texts: Texts, options?: RunOptions): Promise<Prediction[]>;
  /** Mean-pooled final hidden states, one per text (encoder models without a head). */
  embed(texts: Texts, options?: EmbedOptions): Promise<Float32Array[]>;
  /** GPU time of every kernel of one forward over `texts` (needs 'timestamp-query'). */
  profile(texts: Texts, options?: ProfileOptions): Promise<Profile>;
  /** GPU bytes this model holds now (zero once disposed). */
  memory(): GpuMemory;
  /**
   * Releases every GPU buffer (and the device, when the model created it), after the call in flight
   * if any; calls made or still queued afterwards reject. Idempotent.
   */
  dispose(): void;
}

/**
 * A string is one text; an array is always a list (so a pair goes in a list of its own:
 * `[[premise, hypothesis]]`), because ['a', 'b'] could mean either.
 */
export function textList(texts: Texts): GlueInput[] {
  return typeof texts === 'string' ? [texts] : [...(texts as readonly GlueInput[])];
}

export function toPredictions(logits: ArrayLike<number>, labels: string[]): Prediction[] {
  const n = labels.length;
  const out: Prediction[] = [];
  for (let b = 0; b < logits.length / n; b++) {
    const row = Array.from({ length: n }, (_, c) => logits[b * n + c]);
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, x) => a + x, 0);
    const index = row.indexOf(max);
    out.push({ label: labels[index], index, score: exps[index] / sum, logits: row });
  }
  return out;
}

/** Mean over real tokens of [batch * seq, H] hidden states (already real-valued). */
export function meanPool(hidden: ArrayLike<number>, batch: TokenBatch, H: number, scale = 1): Float32Array[] {
  const out: Float32Array[] = [];
  for (let b = 0; b < batch.batch; b++) {
    const v = new Float32Array(H);
    let n = 0;
    for (let s = 0; s < batch.seqLen; s++) {
      const t = b * batch.seqLen + s;
      if (!batch.attentionMask[t]) continue;
      n++;
      for (let h = 0; h < H; h++) v[h] += hidden[t * H + h];
    }
    for (let h = 0; h < H; h++) v[h] = (v[h] * scale) / n;
    out.push(v);
  }
  return out;
}

/** What one forward gives back, for whichever head the model has. */
interface ForwardOutput {
  logits?: Float32Array;
  pooled?: Float32Array[];
  kernels?: KernelTime[];
}

/** Options every method that runs the model takes. */
const RUN_OPTIONS = ['batchSize', 'signal'] as const;
const EMBED_OPTIONS = ['batchSize', 'signal', 'pooling', 'normalize'] as const;

function checkPooling(options: EmbedOptions | undefined): Pooling {
  const pooling = options?.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls') throw new RangeError(`embed: pooling ${JSON.stringify(pooling)} is not 'mean' or 'cls'`);
  const normalize = options?.normalize ?? false;
  if (typeof normalize !== 'boolean') throw new TypeError(`embed: normalize is ${typeof normalize}; expected true or false`);
  return { pooling, normalize };
}
const PROFILE_OPTIONS = ['signal'] as const;

abstract class BatchedModel implements TextModel {
  abstract readonly kind: 'int8' | 'fp32';
  private ownedGpu?: Gpu;
  private disposed = false;
  /** The encoders reuse their buffers from one forward to the next: one call at a time, in call order. */
  private readonly queue = new SerialQueue();

  constructor(
    readonly config: EncoderConfig,
    readonly tokenizer: EncoderTokenizer,
  ) {}

  /** The GPU encoder behind the model: what it holds and how to release it. */
  protected abstract readonly encoder: { memory(): GpuMemory; dispose(): void };
  protected abstract run(batch: TokenBatch, profile: boolean, pooling?: Pooling): Promise<ForwardOutput>;

  memory(): GpuMemory {
    if (this.disposed) return { weightBytes: 0, activationBytes: 0 };
    return this.encoder.memory();
  }

  /** Makes dispose() destroy `gpu` too: loadModel() uses it for the device it created. */
  ownGpu(gpu: Gpu): this {
    this.ownedGpu = gpu;
    return this;
  }

  private usable(method: string): void {
    if (this.disposed) throw new Error(`${method}: this ${this.kind} model was disposed; load it again to use it`);
  }

  /**
   * Every method that touches the GPU runs through here (a future generate or translate too): after
   * the calls made before it have settled, never while the model is disposed, never once `signal`
   * has fired.
   */
  protected exclusive<T>(method: string, signal: AbortSignal | undefined, job: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      this.usable(method);
      return job();
    }, signal);
  }

  /**
   * Texts [start, start + size) tokenized as one batch. Checked between batches: a call aborted or a
   * model disposed while an earlier batch ran stops here.
   */
  private batch(method: string, inputs: GlueInput[], start: number, size: number, signal: AbortSignal | undefined): TokenBatch {
    throwIfAborted(signal);
    this.usable(method);
    return this.tokenizer.encodeBatch(inputs.slice(start, start + size), { firstIndex: start });
  }

  async classify(texts: Texts, options?: RunOptions): Promise<Prediction[]> {
    this.usable('classify');
    if (this.config.task !== 'sequence-classification') throw new Error(`this model (${this.config.architecture}) is not a classifier; use embed()`);
    const inputs = checkTexts(texts, 'classify');
    const { batchSize, signal } = checkRunOptions(options, 'classify', RUN_OPTIONS);
    return this.exclusive('classify', signal, async () => {
      const out: Prediction[] = [];
      for (let i = 0; i < inputs.length; i += batchSize) {
        const batch = this.batch('classify', inputs, i, batchSize, signal);
        out.push(...toPredictions((await this.run(batch, false)).logits!, this.config.labels));
      }
      return out;
    });
  }

  async embed(texts: Texts, options?: EmbedOptions): Promise<Float32Array[]> {
    this.usable('embed');
    if (this.config.task !== 'embedding') throw new Error(`this model (${this.config.architecture}) is a classifier; use classify()`);
    const inputs = checkTexts(texts, 'embed');
    const { batchSize, signal } = checkRunOptions(options, 'embed', EMBED_OPTIONS);
    const pooling = checkPooling(options);
    return this.exclusive('embed', signal, async () => {
      const out: Float32Array[] = [];
      for (let i = 0; i < inputs.length; i += batchSize) {
        const batch = this.batch('embed', inputs, i, batchSize, signal);
        out.push(...(await this.run(batch, false, pooling)).pooled!);
      }
      return out;
    });
  }

  async profile(texts: Texts, options?: ProfileOptions): Promise<Profile> {
    this.usable('profile');
    const inputs = checkTexts(texts, 'profile');
    const { signal } = checkRunOptions(options, 'profile', PROFILE_OPTIONS);
    return this.exclusive('profile', signal, async () => {
      const batch = this.batch('profile', inputs, 0, inputs.length, signal);
      const kernels = (await this.run(batch, true)).kernels!;
      return { totalMs: kernels.reduce((t, k) => t + k.ms, 0), kernels, families: kernelFamilies(kernels) };
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // A forward in flight still uses the encoder's buffers (and the device): release them once it
    // has settled. Calls still queued find the model disposed and reject without running.
    this.queue.whenIdle(() => {
      this.encoder.dispose();
      this.ownedGpu?.destroy();
    });
  }
}

export class Int8Model extends BatchedModel {
  readonly kind = 'int8' as const;

  private constructor(
    config: EncoderConfig,
    tokenizer: EncoderTokenizer,
    readonly encoder: IntProgramGpu,
    readonly file: IntModelFile,
  ) {
    super(config, tokenizer);
  }

  static async fromBytes(gpu: Gpu, bytes: Uint8Array, what?: string): Promise<Int8Model> {
    return Int8Model.fromFile(gpu, await readIntModelFile(bytes, what));
  }

  static async fromFile(gpu: Gpu, file: IntModelFile): Promise<Int8Model> {
    const tokenizerFiles: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
    if (file.tokenizer.config !== undefined) tokenizerFiles['tokenizer_config.json'] = file.tokenizer.config;
    const tokenizer = await loadTokenizer(memorySource(tokenizerFiles, 'integer model file'), file.config);
    const encoder = await IntProgramGpu.create(gpu, file.program);
    return new Int8Model(file.config, tokenizer, encoder, file);
  }

  /** int32 logits [batch, labels] read back from the GPU, as real numbers (logit * its channel's scale). */
  logitsOf(output: Int32Array): Float32Array {
    const scale = this.file.program.output.scale;
    return Float32Array.from(output, (v, i) => v * scale[i % scale.length]);
  }

  protected async run(batch: TokenBatch, profile: boolean, pooling?: Pooling): Promise<ForwardOutput> {
    const r = await this.encoder.forward(batch, { profile, pooling: pooling?.pooling });
    const out = this.file.program.output;
    if (out.kind === 'logits') return { logits: this.logitsOf(r.output), kernels: r.kernels };
    const mode = pooling?.pooling ?? 'mean';
    return { pooled: poolToFloat(r.output, batch.batch, this.config.hiddenSize, out.scale[0], { mode, normalize: pooling?.normalize }), kernels: r.kernels };
  }
}

export class Fp32Model extends BatchedModel {
  readonly kind = 'fp32' as const;

  private constructor(
    config: EncoderConfig,
    tokenizer: EncoderTokenizer,
    readonly encoder: FloatGraphGpu,
    readonly model: EncoderModel,
  ) {
    super(config, tokenizer);
  }

  static async fromFiles(gpu: Gpu, files: ModelFiles, model?: EncoderModel): Promise<Fp32Model> {
    const m = model ?? (await loadEncoderModel(files));
    const tokenizer = await loadTokenizer(files, m.config);
    return new Fp32Model(m.config, tokenizer, await FloatGraphGpu.create(gpu, modelGraph(m), encoderParams(m.weights)), m);
  }

  protected async run(batch: TokenBatch, profile: boolean, pooling?: Pooling): Promise<ForwardOutput> {
    const r = await this.encoder.forward(batch, { profile, pooling: pooling?.pooling });
    if (!r.pooled) return { logits: r.logits, kernels: r.kernels };
    const H = this.config.hiddenSize;
    const pooled = Array.from({ length: batch.batch }, (_, b) => r.pooled!.slice(b * H, (b + 1) * H));
    if (pooling?.normalize) pooled.forEach(l2Normalize);
    return { pooled, kernels: r.kernels };
  }
}
