/**
 * Running models on texts: the integer model (from an .i8t file) and the float model (from a
 * Hugging Face folder) behind one small interface, so that the CLI, the demo and evaluations
 * compare them like for like.
 */

import { throwIfAborted } from './core/serial-queue.js';
import { checkRunOptions, checkTexts } from './core/text-inputs.js';
import type { EncoderConfig, EncoderModel, ModelConfig, TokenBatch } from './core/types.js';
import { IntProgramCpu } from './cpu/int-program-encoder.js';
import type { GlueInput } from './data/glue.js';
import { DeviceModel, type Encoder } from './device-model.js';
import { type IntModelFile, readIntModelFile } from './format/int-model-file.js';
import type { GenerationResult } from './generate/generate.js';
import type { Generation } from './generate/generation.js';
import type { GenerationOptions } from './generate/options.js';
import type { TranslationOptions, TranslationResult } from './generate/translation-result.js';
import { checkDeviceFits, type DeviceNeeds, type FitOptions } from './gpu/device.js';
import type { Gpu } from './gpu/gpu.js';
import { type GpuMemory, type KernelFamilyTime, kernelFamilies } from './gpu/profile.js';
import type { KernelTime } from './gpu/program.js';
import { encoderParams, modelGraph, type Params } from './graph/architectures.js';
import type { ModelGraph } from './graph/types.js';
import { estimateModelBytes } from './model/config.js';
import type { DecoderTokenizer } from './model/decoder-tokenizer.js';
import { loadEncoderModel } from './model/load.js';
import type { MarianTokenizer } from './model/marian.js';
import { type ModelFiles, memorySource } from './model/sources.js';
import { tokenOffsets } from './model/token-offsets.js';
import { type EncoderTokenizer, loadTokenizer, type Truncation } from './model/tokenizer.js';
import { type IntProgram, intWidth, rowsPerSequence } from './plan/int-program.js';
import { wordsPerRow } from './quant/pack.js';
import { l2Normalize, poolToFloat } from './reference/pool-i8.js';
import { FloatGraphGpu } from './runtime/float-graph.js';
import { IntProgramGpu } from './runtime/int-program.js';
import {
  type Aggregation,
  type EntityGroup,
  groupEntities,
  type TaggedToken,
  type TokenEntity,
  tagTokens,
} from './tag.js';
import {
  DEFAULT_HYPOTHESIS_TEMPLATE,
  hypothesis,
  nliLabels,
  rankLabels,
  type ZeroShotOptions,
  type ZeroShotResult,
  zeroShotScores,
} from './zero-shot.js';

export interface Prediction {
  label: string;
  index: number;
  /** Softmax probability of the predicted label. */
  score: number;
  logits: number[];
  /** The text (or pair) was longer than maxLength and was cut to it (RunOptions.truncation). */
  truncated: boolean;
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
  /**
   * What to do with a text longer than `maxLength` tokens (special tokens included): `true`
   * (default, as transformers.js) cuts it, from the end of the longer text of a pair first, and
   * reports it (Prediction.truncated, onTruncated); `false` refuses the call with a RangeError
   * naming the text's position and both lengths.
   */
  truncation?: boolean;
  /** Longest input in tokens, special tokens included; default and upper bound: the model's positions. */
  maxLength?: number;
  /** Called for every text that was cut, with its position in `texts` and its length. */
  onTruncated?: (truncation: Truncation) => void;
}

export interface EmbedOptions extends RunOptions {
  /** 'mean' over real tokens (default; sentence-transformers' MiniLM) or the first token ('cls'). */
  pooling?: 'mean' | 'cls';
  /** Divide each vector by its L2 norm (for cosine similarity by dot product). */
  normalize?: boolean;
}

export interface TagOptions extends RunOptions {
  /**
   * 'simple' (default): entities, consecutive tokens of one type merged (B-X starts a new one), as
   * transformers' aggregation_strategy 'simple'; 'none': every token with its own label.
   */
  aggregation?: Aggregation;
  /** Labels (or, with 'simple', entity types) left out of the answer; default ['O']. */
  ignoreLabels?: readonly string[];
}

export interface ZeroShotRunOptions extends RunOptions, ZeroShotOptions {}

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

/** What a model object can do; the other methods reject, saying so. */
export type Capability = 'classify' | 'classifyZeroShot' | 'tag' | 'embed' | 'generate' | 'translate';

export interface TextModel {
  readonly kind: 'int8' | 'fp32';
  /** Where it runs: 'webgpu', or 'cpu' (the same integers as the GPU's, see loadModel's device option). */
  readonly device: 'webgpu' | 'cpu';
  /** An encoder's (task 'sequence-classification' or 'embedding') or a language model's ('text-generation'). */
  readonly config: ModelConfig;
  readonly tokenizer: EncoderTokenizer | DecoderTokenizer | MarianTokenizer;
  /** The methods this model answers: classifiers classify, encoders without a head embed, language models generate. */
  readonly capabilities: readonly Capability[];
  /**
   * Labels and scores, one per text (sequence-classification models). Calls on one model run one at
   * a time in call order, so overlapping calls each get their own answers. A text that tokenizes to
   * nothing is classified as the empty sequence, as transformers does.
   */
  classify(texts: Texts, options?: RunOptions): Promise<Prediction[]>;
  /**
   * Token classification (BertForTokenClassification and the like), one array per text: entities
   * (aggregation 'simple', the default) or every token's label ('none'), labels in `ignoreLabels`
   * (['O']) left out; character spans into the text.
   */
  tag(texts: string | readonly string[], options?: TagOptions & { aggregation?: 'simple' }): Promise<EntityGroup[][]>;
  tag(texts: string | readonly string[], options: TagOptions & { aggregation: 'none' }): Promise<TokenEntity[][]>;
  tag(texts: string | readonly string[], options?: TagOptions): Promise<EntityGroup[][] | TokenEntity[][]>;
  /**
   * Zero-shot classification with an NLI sequence classifier (labels entailment and contradiction):
   * each candidate label is scored by how much the text entails the hypothesis made from it.
   */
  classifyZeroShot(
    text: string,
    candidateLabels: readonly string[],
    options?: ZeroShotRunOptions,
  ): Promise<ZeroShotResult>;
  classifyZeroShot(
    texts: readonly string[],
    candidateLabels: readonly string[],
    options?: ZeroShotRunOptions,
  ): Promise<ZeroShotResult[]>;
  /** Mean-pooled final hidden states, one per text (encoder models without a head). */
  embed(texts: Texts, options?: EmbedOptions): Promise<Float32Array[]>;
  /**
   * A continuation of `prompt` (language models): iterate it for the text as it is generated
   * (`for await (const piece of model.generate(prompt))`), or await it for the whole result.
   */
  generate(prompt: string, options?: GenerationOptions): Generation;
  /** Continuations of several prompts generated together, one result per prompt. */
  generateBatch(prompts: readonly string[], options?: GenerationOptions): Promise<GenerationResult[]>;
  /**
   * A translation of `text` (translation models): iterate it for the text as it comes, or await
   * it; a list of texts is translated together, one result per text.
   */
  translate(text: string, options?: TranslationOptions): Generation<TranslationResult>;
  translate(texts: readonly string[], options?: TranslationOptions): Promise<TranslationResult[]>;
  /** GPU time of every kernel of one forward over `texts` (needs 'timestamp-query'). */
  profile(texts: Texts, options?: ProfileOptions): Promise<Profile>;
  /** GPU bytes this model holds now (zero once disposed); language models add their KV cache's. */
  memory(): GpuMemory;
  /**
   * Releases every GPU buffer and the model's hold on its device (the last model on the shared
   * device releases it; a device given by the caller stays open), after the call in flight if any;
   * calls made or still queued afterwards reject. Idempotent.
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

/** `truncated` holds the batch rows that were cut to fit. */
export function toPredictions(
  logits: ArrayLike<number>,
  labels: string[],
  truncated: ReadonlySet<number> = new Set(),
): Prediction[] {
  const n = labels.length;
  const out: Prediction[] = [];
  for (let b = 0; b < logits.length / n; b++) {
    const row = Array.from({ length: n }, (_, c) => logits[b * n + c]);
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const sum = exps.reduce((a, x) => a + x, 0);
    const index = row.indexOf(max);
    out.push({ label: labels[index], index, score: exps[index] / sum, logits: row, truncated: truncated.has(b) });
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
const RUN_OPTIONS = ['batchSize', 'signal', 'truncation', 'maxLength', 'onTruncated'] as const;
const EMBED_OPTIONS = [...RUN_OPTIONS, 'pooling', 'normalize'] as const;
const TAG_OPTIONS = [...RUN_OPTIONS, 'aggregation', 'ignoreLabels'] as const;
const ZERO_SHOT_OPTIONS = [...RUN_OPTIONS, 'hypothesisTemplate', 'multiLabel'] as const;

/** What each encoder task answers. */
const TASK_METHOD = {
  'sequence-classification': 'classify',
  'token-classification': 'tag',
  embedding: 'embed',
} as const;

/** How long inputs are handled: checked once per call, before anything runs. */
interface Truncating {
  maxLength: number;
  truncation: boolean;
  onTruncated?: (truncation: Truncation) => void;
}

function checkTruncation(options: RunOptions | undefined, method: string, positions: number): Truncating {
  const truncation = options?.truncation ?? true;
  if (typeof truncation !== 'boolean')
    throw new TypeError(`${method}: truncation is ${typeof truncation}; expected true or false`);
  const maxLength = options?.maxLength ?? positions;
  if (typeof maxLength !== 'number')
    throw new TypeError(`${method}: maxLength is ${typeof maxLength}; expected a positive integer`);
  if (!Number.isSafeInteger(maxLength) || maxLength < 1)
    throw new RangeError(`${method}: maxLength ${maxLength} must be a positive integer`);
  if (maxLength > positions)
    throw new RangeError(`${method}: maxLength ${maxLength} is more than the model's ${positions} positions`);
  const onTruncated = options?.onTruncated;
  if (onTruncated !== undefined && typeof onTruncated !== 'function')
    throw new TypeError(`${method}: onTruncated is ${typeof onTruncated}; expected a function`);
  return { maxLength, truncation, onTruncated };
}

function checkPooling(options: EmbedOptions | undefined): Pooling {
  const pooling = options?.pooling ?? 'mean';
  if (pooling !== 'mean' && pooling !== 'cls')
    throw new RangeError(`embed: pooling ${JSON.stringify(pooling)} is not 'mean' or 'cls'`);
  const normalize = options?.normalize ?? false;
  if (typeof normalize !== 'boolean')
    throw new TypeError(`embed: normalize is ${typeof normalize}; expected true or false`);
  return { pooling, normalize };
}
const PROFILE_OPTIONS = ['signal'] as const;

abstract class BatchedModel<E extends Encoder = Encoder> extends DeviceModel<E> implements TextModel {
  readonly capabilities: readonly Capability[];

  constructor(
    readonly config: EncoderConfig,
    readonly tokenizer: EncoderTokenizer,
    encoder: E,
  ) {
    super(encoder);
    const method = TASK_METHOD[config.task];
    this.capabilities = method === 'classify' && nliLabels(config.labels) ? [method, 'classifyZeroShot'] : [method];
  }

  /** Refuses a method this model's head cannot answer, naming the one it can. */
  private refuseUnless(method: Capability): void {
    if (this.capabilities.includes(method)) return;
    const can = TASK_METHOD[this.config.task];
    if (method === 'classifyZeroShot' && can === 'classify')
      throw new Error(
        `classifyZeroShot: this model (${this.config.architecture}) is not an NLI classifier: its labels (${this.config.labels.join(', ')}) name no entailment and contradiction`,
      );
    throw new Error(
      `${method}: this model (${this.config.architecture}, task ${this.config.task}) cannot ${method}; use ${can}() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  protected abstract run(batch: TokenBatch, profile: boolean, pooling?: Pooling): Promise<ForwardOutput>;

  /**
   * Texts [start, start + size) tokenized as one batch. Checked between batches: a call aborted or a
   * model disposed while an earlier batch ran stops here. The first batch runs once the call's turn
   * has come (exclusive checked the model then), even if dispose() came while the device was checked.
   */
  private batch(
    method: string,
    inputs: GlueInput[],
    start: number,
    size: number,
    signal: AbortSignal | undefined,
    truncating?: Truncating,
  ): { batch: TokenBatch; truncated: Set<number> } {
    throwIfAborted(signal);
    if (start > 0) this.usable(method);
    const truncated = new Set<number>();
    try {
      const batch = this.tokenizer.encodeBatch(inputs.slice(start, start + size), {
        firstIndex: start,
        maxLength: truncating?.maxLength,
        overlong: truncating?.truncation === false ? 'error' : 'truncate',
        onTruncated: (t) => {
          truncated.add(t.index - start);
          truncating?.onTruncated?.(t);
        },
      });
      return { batch, truncated };
    } catch (e) {
      if (e instanceof RangeError) throw new RangeError(`${method}: ${e.message} (truncation: false)`);
      throw e;
    }
  }

  async classify(texts: Texts, options?: RunOptions): Promise<Prediction[]> {
    this.usable('classify');
    this.refuseUnless('classify');
    const inputs = checkTexts(texts, 'classify');
    const { batchSize, signal } = checkRunOptions(options, 'classify', RUN_OPTIONS);
    const truncating = checkTruncation(options, 'classify', this.tokenizer.maxLength);
    return this.exclusive('classify', signal, async () => {
      const out: Prediction[] = [];
      for (let i = 0; i < inputs.length; i += batchSize) {
        const { batch, truncated } = this.batch('classify', inputs, i, batchSize, signal, truncating);
        out.push(...toPredictions((await this.run(batch, false)).logits!, this.config.labels, truncated));
      }
      return out;
    });
  }

  async embed(texts: Texts, options?: EmbedOptions): Promise<Float32Array[]> {
    this.usable('embed');
    this.refuseUnless('embed');
    const inputs = checkTexts(texts, 'embed');
    const { batchSize, signal } = checkRunOptions(options, 'embed', EMBED_OPTIONS);
    const pooling = checkPooling(options);
    const truncating = checkTruncation(options, 'embed', this.tokenizer.maxLength);
    return this.exclusive('embed', signal, async () => {
      const out: Float32Array[] = [];
      for (let i = 0; i < inputs.length; i += batchSize) {
        const { batch } = this.batch('embed', inputs, i, batchSize, signal, truncating);
        out.push(...(await this.run(batch, false, pooling)).pooled!);
      }
      return out;
    });
  }

  tag(texts: string | readonly string[], options?: TagOptions & { aggregation?: 'simple' }): Promise<EntityGroup[][]>;
  tag(texts: string | readonly string[], options: TagOptions & { aggregation: 'none' }): Promise<TokenEntity[][]>;
  tag(texts: string | readonly string[], options?: TagOptions): Promise<EntityGroup[][] | TokenEntity[][]>;
  async tag(texts: string | readonly string[], options?: TagOptions): Promise<EntityGroup[][] | TokenEntity[][]> {
    this.usable('tag');
    this.refuseUnless('tag');
    const inputs = checkTexts(texts, 'tag');
    inputs.forEach((t, i) => {
      if (typeof t !== 'string') throw new TypeError(`tag: texts[${i}] is a pair; tag takes single texts`);
    });
    const { batchSize, signal } = checkRunOptions(options, 'tag', TAG_OPTIONS);
    const aggregation = options?.aggregation ?? 'simple';
    if (aggregation !== 'simple' && aggregation !== 'none')
      throw new RangeError(`tag: aggregation ${JSON.stringify(aggregation)} is not 'simple' or 'none'`);
    const ignore = options?.ignoreLabels ?? ['O'];
    if (!Array.isArray(ignore) || !ignore.every((l) => typeof l === 'string'))
      throw new TypeError('tag: ignoreLabels must be a list of label names');
    const truncating = checkTruncation(options, 'tag', this.tokenizer.maxLength);
    const labels = this.config.labels;
    const L = labels.length;
    const { textStart, specialTokens } = this.tokenizer.single;
    const tok = this.tokenizer.tokenizer;
    return this.exclusive('tag', signal, async () => {
      const out: (EntityGroup[] | TokenEntity[])[] = [];
      for (let i = 0; i < inputs.length; i += batchSize) {
        const { batch } = this.batch('tag', inputs, i, batchSize, signal, truncating);
        const logits = (await this.run(batch, false)).logits!;
        const S = batch.seqLen;
        for (let b = 0; b < batch.batch; b++) {
          const text = inputs[i + b] as string;
          let real = 0;
          for (let s = 0; s < S; s++) real += batch.attentionMask[b * S + s] ? 1 : 0;
          const first = b * S + textStart;
          const ids = Array.from(batch.inputIds.subarray(first, first + real - specialTokens));
          const spans = tokenOffsets(tok, text, ids);
          const tokens = ids.map(
            (id, k): TaggedToken => ({
              index: textStart + k,
              id,
              word: tok.id_to_token(id) ?? '',
              start: spans[k][0],
              end: spans[k][1],
            }),
          );
          const tags = tagTokens(logits.subarray(first * L, (first + ids.length) * L), labels, tokens);
          out.push(
            aggregation === 'none'
              ? tags.filter((t) => !ignore.includes(t.entity))
              : groupEntities(
                  tags,
                  (group) =>
                    tok.decode(
                      group.map((t) => ids[t.index - textStart]),
                      { skip_special_tokens: true },
                    ),
                  ignore,
                ),
          );
        }
      }
      return out as EntityGroup[][] | TokenEntity[][];
    });
  }

  classifyZeroShot(
    text: string,
    candidateLabels: readonly string[],
    options?: ZeroShotRunOptions,
  ): Promise<ZeroShotResult>;
  classifyZeroShot(
    texts: readonly string[],
    candidateLabels: readonly string[],
    options?: ZeroShotRunOptions,
  ): Promise<ZeroShotResult[]>;
  async classifyZeroShot(
    texts: string | readonly string[],
    candidateLabels: readonly string[],
    options?: ZeroShotRunOptions,
  ): Promise<ZeroShotResult | ZeroShotResult[]> {
    this.usable('classifyZeroShot');
    this.refuseUnless('classifyZeroShot');
    const roles = nliLabels(this.config.labels)!;
    const inputs = checkTexts(texts, 'classifyZeroShot');
    inputs.forEach((t, i) => {
      if (typeof t !== 'string') throw new TypeError(`classifyZeroShot: texts[${i}] is a pair; expected a string`);
    });
    if (!Array.isArray(candidateLabels) || candidateLabels.length === 0)
      throw new RangeError('classifyZeroShot: candidateLabels must be a non-empty list of label names');
    candidateLabels.forEach((l, i) => {
      if (typeof l !== 'string' || l.trim() === '')
        throw new TypeError(`classifyZeroShot: candidateLabels[${i}] is not a non-empty string`);
    });
    const { batchSize, signal } = checkRunOptions(options, 'classifyZeroShot', ZERO_SHOT_OPTIONS);
    const template = options?.hypothesisTemplate ?? DEFAULT_HYPOTHESIS_TEMPLATE;
    if (typeof template !== 'string' || !template.includes('{}'))
      throw new RangeError(
        `classifyZeroShot: hypothesisTemplate ${JSON.stringify(template)} has no {} where the label goes`,
      );
    const multiLabel = options?.multiLabel ?? false;
    if (typeof multiLabel !== 'boolean')
      throw new TypeError(`classifyZeroShot: multiLabel is ${typeof multiLabel}; expected true or false`);
    const truncating = checkTruncation(options, 'classifyZeroShot', this.tokenizer.maxLength);
    const pairs: GlueInput[] = inputs.flatMap((t) =>
      candidateLabels.map((l): GlueInput => [t as string, hypothesis(template, l)]),
    );
    const L = this.config.labels.length;
    return this.exclusive('classifyZeroShot', signal, async () => {
      const rows: number[][] = [];
      for (let i = 0; i < pairs.length; i += batchSize) {
        const { batch } = this.batch('classifyZeroShot', pairs, i, batchSize, signal, truncating);
        const logits = (await this.run(batch, false)).logits!;
        for (let b = 0; b < batch.batch; b++) rows.push(Array.from(logits.subarray(b * L, (b + 1) * L)));
      }
      const n = candidateLabels.length;
      const results = inputs.map((t, k) =>
        rankLabels(t as string, candidateLabels, zeroShotScores(rows.slice(k * n, (k + 1) * n), roles, multiLabel)),
      );
      return typeof texts === 'string' ? results[0] : results;
    });
  }

  generate(): Generation {
    throw new Error(
      `generate: this model (${this.config.architecture}) is an encoder, not a language model (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async generateBatch(): Promise<GenerationResult[]> {
    this.generate();
    return [];
  }

  translate(text: string): Generation<TranslationResult>;
  translate(texts: readonly string[]): Promise<TranslationResult[]>;
  translate(): never {
    throw new Error(
      `translate: this model (${this.config.architecture}) is an encoder, not a translation model (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async profile(texts: Texts, options?: ProfileOptions): Promise<Profile> {
    this.usable('profile');
    const inputs = checkTexts(texts, 'profile');
    const { signal } = checkRunOptions(options, 'profile', PROFILE_OPTIONS);
    return this.exclusive('profile', signal, async () => {
      const { batch } = this.batch('profile', inputs, 0, inputs.length, signal);
      const kernels = (await this.run(batch, true)).kernels!;
      return { totalMs: kernels.reduce((t, k) => t + k.ms, 0), kernels, families: kernelFamilies(kernels) };
    });
  }
}

/** E: IntProgramGpu (fromFile), or IntProgramCpu (onCpu, the device: 'cpu' backend). */
export class Int8Model<E extends IntProgramGpu | IntProgramCpu = IntProgramGpu> extends BatchedModel<E> {
  readonly kind = 'int8' as const;

  private constructor(
    config: EncoderConfig,
    tokenizer: EncoderTokenizer,
    encoder: E,
    /** The model file, kept: the program is what the model is rebuilt from after a device loss. */
    readonly file: IntModelFile,
    private readonly fit: FitOptions,
  ) {
    super(config, tokenizer, encoder);
  }

  static async fromBytes(gpu: Gpu, bytes: Uint8Array, what?: string, options?: FitOptions): Promise<Int8Model> {
    return Int8Model.fromFile(gpu, await readIntModelFile(bytes, what), options);
  }

  /** Refuses a program the device cannot hold (checkDeviceFits) before creating any buffer. */
  static async fromFile(gpu: Gpu, file: IntModelFile, options: FitOptions = {}): Promise<Int8Model> {
    const what = `integer model (${file.config.architecture}, ${file.config.numLayers} x ${file.config.hiddenSize})`;
    await checkDeviceFits(gpu, intProgramNeeds(file.program), what, options);
    const tokenizerFiles: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
    if (file.tokenizer.config !== undefined) tokenizerFiles['tokenizer_config.json'] = file.tokenizer.config;
    const tokenizer = await loadTokenizer(memorySource(tokenizerFiles, 'integer model file'), file.config);
    const encoder = await IntProgramGpu.create(gpu, file.program);
    return new Int8Model(file.config, tokenizer, encoder, file, options);
  }

  /**
   * The same model on the CPU (no GPU touched): the integer interpreter with fast kernels, whose
   * logits equal the GPU's bit for bit. Device losses do not concern it; profile() refuses.
   */
  static async onCpu(file: IntModelFile): Promise<Int8Model<IntProgramCpu>> {
    const tokenizerFiles: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
    if (file.tokenizer.config !== undefined) tokenizerFiles['tokenizer_config.json'] = file.tokenizer.config;
    const tokenizer = await loadTokenizer(memorySource(tokenizerFiles, 'integer model file'), file.config);
    return new Int8Model(file.config, tokenizer, new IntProgramCpu(file.program), file, {});
  }

  /** Only GPU models are rebuilt (a CPU model has no device to lose). */
  protected async rebuild(gpu: Gpu): Promise<E> {
    await checkDeviceFits(
      gpu,
      intProgramNeeds(this.file.program),
      `integer model (${this.config.architecture})`,
      this.fit,
    );
    return (await IntProgramGpu.create(gpu, this.file.program)) as E;
  }

  /** int32 logits [batch, labels] read back from the GPU, as real numbers (logit * its channel's scale). */
  logitsOf(output: Int32Array): Float32Array {
    const scale = this.file.program.output.scale;
    return Float32Array.from(output, (v, i) => v * scale[i % scale.length]);
  }

  protected async run(batch: TokenBatch, profile: boolean, pooling?: Pooling): Promise<ForwardOutput> {
    const r = await this.encoder.forward(batch, { profile, pooling: pooling?.pooling });
    const out = this.file.program.output;
    if (out.kind !== 'pooled') return { logits: this.logitsOf(r.output), kernels: r.kernels };
    const mode = pooling?.pooling ?? 'mean';
    return {
      pooled: poolToFloat(r.output, batch.batch, this.config.hiddenSize, out.scale[0], {
        mode,
        normalize: pooling?.normalize,
      }),
      kernels: r.kernels,
    };
  }
}

export class Fp32Model extends BatchedModel<FloatGraphGpu> {
  readonly kind = 'fp32' as const;

  private constructor(
    config: EncoderConfig,
    tokenizer: EncoderTokenizer,
    encoder: FloatGraphGpu,
    /** The float weights, kept: what the model is rebuilt from after a device loss. */
    readonly model: EncoderModel,
    private readonly fit: FitOptions,
  ) {
    super(config, tokenizer, encoder);
  }

  /** Refuses weights the device cannot hold (checkDeviceFits) before creating any buffer. */
  static async fromFiles(
    gpu: Gpu,
    files: ModelFiles,
    model?: EncoderModel,
    options: FitOptions = {},
  ): Promise<Fp32Model> {
    const m = model ?? (await loadEncoderModel(files));
    const graph = modelGraph(m);
    await checkDeviceFits(
      gpu,
      floatModelNeeds(m, graph),
      `float model (${m.config.architecture}, ${m.config.numLayers} x ${m.config.hiddenSize})`,
      options,
    );
    const tokenizer = await loadTokenizer(files, m.config);
    return new Fp32Model(
      m.config,
      tokenizer,
      await FloatGraphGpu.create(gpu, graph, encoderParams(m.weights)),
      m,
      options,
    );
  }

  protected async rebuild(gpu: Gpu): Promise<FloatGraphGpu> {
    const graph = modelGraph(this.model);
    await checkDeviceFits(
      gpu,
      floatModelNeeds(this.model, graph),
      `float model (${this.config.architecture})`,
      this.fit,
    );
    return FloatGraphGpu.create(gpu, graph, encoderParams(this.model.weights));
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

/**
 * The buffers IntProgramGpu will create for `program`, as it lays them out: int8 tables and GEMM
 * weights packed four per word with rows padded to whole words, int32 biases; and its largest
 * activation at batch 1 and the full length (the int32 attention scores, or the widest tensor).
 * The small per-op constants (requantization, LayerNorm channels, lookup tables) are left out.
 */
export function intProgramNeeds(program: IntProgram): DeviceNeeds {
  const weights: DeviceNeeds['weights'] = [];
  const packed = (name: string, values: Int8Array, cols: number) =>
    weights.push({ name, bytes: (values.length / cols) * wordsPerRow(cols) * 4 });
  let heads = 0;
  for (const op of program.ops) {
    if (op.kind === 'embed') {
      const H = op.tables.hidden;
      packed(`${op.out}.word`, op.tables.word, H);
      packed(`${op.out}.position`, op.tables.position, H);
      if (op.tables.tokenType) packed(`${op.out}.tokenType`, op.tables.tokenType, H);
    } else if (op.kind === 'gemm') {
      packed(`${op.name}.weight`, op.weight, op.K);
      weights.push({ name: `${op.name}.bias`, bytes: op.bias.byteLength });
    } else if (op.kind === 'attention') {
      heads = Math.max(heads, op.heads);
    }
  }
  const S = program.maxPositions;
  let largestActivation = { name: `attention scores (batch 1, ${S} tokens)`, bytes: heads * S * S * 4 };
  for (const t of program.tensors) {
    const row = t.dtype === 'i8' || t.dtype === 'u8' ? wordsPerRow(intWidth(t)) * 4 : intWidth(t) * 4;
    const bytes = (rowsPerSequence(t) === 'tokens' ? S : 1) * row;
    if (bytes > largestActivation.bytes) largestActivation = { name: `${t.id} (batch 1, ${S} tokens)`, bytes };
  }
  return { weights, largestActivation };
}

/**
 * The buffers FloatGraphGpu will create for `model`: every parameter as float32, linear weights
 * with rows padded to vec4 words, and each attention's q, k and v weights once more as the one
 * concatenated matrix its fused projection reads; the largest activation from the config at the
 * full length (estimateModelBytes).
 */
export function floatModelNeeds(model: EncoderModel, graph: ModelGraph): DeviceNeeds {
  const S = model.config.maxPositions;
  const bytes = estimateModelBytes(model.config, { seqLen: S }).largestActivation;
  return floatGraphNeeds(graph, encoderParams(model.weights), {
    name: `largest activation (batch 1, ${S} tokens)`,
    bytes,
  });
}

/**
 * The same for any float graph and its parameters; `largestActivation` defaults to the larger of a
 * language model's [positions, vocab] logits and its attention scores, at batch 1 and `positions`.
 */
export function floatGraphNeeds(
  graph: ModelGraph,
  params: Params,
  largestActivation: number | DeviceNeeds['largestActivation'],
): DeviceNeeds {
  const padded = (t: { shape: number[]; data: Float32Array }) =>
    t.shape.length === 2 ? t.shape[0] * wordsPerRow(t.shape[1]) * 16 : t.data.byteLength;
  const weights: DeviceNeeds['weights'] = [...params].map(([name, t]) => ({ name, bytes: padded(t) }));
  const linearOf = new Map(graph.ops.flatMap((op) => (op.kind === 'linear' ? [[op.out, op.param] as const] : [])));
  let heads = 1;
  let widest = 1;
  for (const op of graph.ops) {
    if (op.kind === 'linear') widest = Math.max(widest, params.get(`${op.param}.weight`)?.shape[0] ?? 1);
    if (op.kind !== 'attention') continue;
    heads = Math.max(heads, op.heads);
    const parts = [op.q, op.k, op.v].map((id) => params.get(`${linearOf.get(id)}.weight`));
    if (parts.every((p) => p))
      weights.push({ name: `${op.q}|${op.k}|${op.v}.weight`, bytes: parts.reduce((t, p) => t + padded(p!), 0) });
  }
  if (typeof largestActivation === 'number') {
    const S = largestActivation;
    const bytes = Math.max(heads * S * S, S * widest) * 4;
    return { weights, largestActivation: { name: `largest activation (batch 1, ${S} tokens)`, bytes } };
  }
  return { weights, largestActivation };
}
