/**
 * Running models on texts: the integer model (from an .i8t file) and the float model (from a
 * Hugging Face folder) behind one small interface, so that the CLI, the demo and evaluations
 * compare them like for like.
 */
import type { Gpu } from './gpu/gpu.js';
import type { GlueInput } from './data/glue.js';
import { type IntModelFile, readIntModelFile } from './format/int-model-file.js';
import { FloatEncoder } from './model/float-model.js';
import { loadEncoderModel } from './model/load.js';
import { type ModelFiles, memorySource } from './model/sources.js';
import { type EncoderTokenizer, loadTokenizer } from './model/tokenizer.js';
import type { EncoderConfig, EncoderModel, TokenBatch } from './model/types.js';
import { IntEncoder } from './runtime/int-encoder.js';

export interface Prediction {
  label: string;
  index: number;
  /** Softmax probability of the predicted label. */
  score: number;
  logits: number[];
}

export interface TextModel {
  readonly kind: 'int8' | 'fp32';
  readonly config: EncoderConfig;
  readonly tokenizer: EncoderTokenizer;
  classify(inputs: GlueInput[], options?: { batchSize?: number }): Promise<Prediction[]>;
  embed(inputs: GlueInput[], options?: { batchSize?: number }): Promise<Float32Array[]>;
  dispose(): void;
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

abstract class BatchedModel implements TextModel {
  abstract readonly kind: 'int8' | 'fp32';
  constructor(
    readonly config: EncoderConfig,
    readonly tokenizer: EncoderTokenizer,
  ) {}

  protected abstract logits(batch: TokenBatch): Promise<Float32Array>;
  protected abstract pooled(batch: TokenBatch): Promise<Float32Array[]>;
  abstract dispose(): void;

  private async *batches(inputs: GlueInput[], batchSize = 8): AsyncGenerator<TokenBatch> {
    if (inputs.length === 0) throw new Error('no input texts');
    for (let i = 0; i < inputs.length; i += batchSize) yield this.tokenizer.encodeBatch(inputs.slice(i, i + batchSize));
  }

  async classify(inputs: GlueInput[], options: { batchSize?: number } = {}): Promise<Prediction[]> {
    if (this.config.task !== 'sequence-classification') throw new Error(`this model (${this.config.architecture}) is not a classifier; use embed()`);
    const out: Prediction[] = [];
    for await (const batch of this.batches(inputs, options.batchSize)) out.push(...toPredictions(await this.logits(batch), this.config.labels));
    return out;
  }

  async embed(inputs: GlueInput[], options: { batchSize?: number } = {}): Promise<Float32Array[]> {
    if (this.config.task !== 'embedding') throw new Error(`this model (${this.config.architecture}) is a classifier; use classify()`);
    const out: Float32Array[] = [];
    for await (const batch of this.batches(inputs, options.batchSize)) out.push(...(await this.pooled(batch)));
    return out;
  }
}

export class Int8Model extends BatchedModel {
  readonly kind = 'int8' as const;

  private constructor(
    config: EncoderConfig,
    tokenizer: EncoderTokenizer,
    readonly encoder: IntEncoder,
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
    const encoder = await IntEncoder.create(gpu, file.plan, file.config);
    return new Int8Model(file.config, tokenizer, encoder, file);
  }

  protected async logits(batch: TokenBatch): Promise<Float32Array> {
    return (await this.encoder.forward(batch)).logits!;
  }

  protected async pooled(batch: TokenBatch): Promise<Float32Array[]> {
    const { hidden } = await this.encoder.forward(batch);
    return meanPool(hidden!, batch, this.config.hiddenSize, this.file.plan.hiddenScale);
  }

  dispose(): void {
    this.encoder.dispose();
  }
}

export class Fp32Model extends BatchedModel {
  readonly kind = 'fp32' as const;

  private constructor(
    config: EncoderConfig,
    tokenizer: EncoderTokenizer,
    readonly encoder: FloatEncoder,
    readonly model: EncoderModel,
  ) {
    super(config, tokenizer);
  }

  static async fromFiles(gpu: Gpu, files: ModelFiles, model?: EncoderModel): Promise<Fp32Model> {
    const m = model ?? (await loadEncoderModel(files));
    const tokenizer = await loadTokenizer(files, m.config);
    return new Fp32Model(m.config, tokenizer, await FloatEncoder.create(gpu, m), m);
  }

  protected async logits(batch: TokenBatch): Promise<Float32Array> {
    return (await this.encoder.forward(batch)).logits!;
  }

  protected async pooled(batch: TokenBatch): Promise<Float32Array[]> {
    const { embeddings } = await this.encoder.forward(batch);
    const H = this.config.hiddenSize;
    return Array.from({ length: batch.batch }, (_, b) => embeddings!.slice(b * H, (b + 1) * H));
  }

  dispose(): void {
    this.encoder.dispose();
  }
}
