/**
 * Language models (GPT-2) as model objects: `generate` streams a continuation of a prompt, and
 * `generateBatch` continues several prompts together. The integer model runs IntDecoderGpu (its
 * int8 KV cache); the float one FloatDecoderGpu (the float graph, rerun per token). Both share the
 * device handling of every model (DeviceModel) and the decoding loop (src/generate/).
 */
import type { DecoderConfig, DecoderModel } from './core/types.js';
import { CpuDecoderSession } from './cpu/generation-sessions.js';
import { DeviceModel } from './device-model.js';
import type { IntDecoderFile } from './format/int-model-file.js';
import type { DecoderSession } from './generate/decoder-session.js';
import { type GenerationResult, generateTokens } from './generate/generate.js';
import { Generation } from './generate/generation.js';
import { checkGenerationOptions, type GenerationOptions, type TokenEvent } from './generate/options.js';
import type { TranslationResult } from './generate/translation-result.js';
import type { Gpu } from './gpu/gpu.js';
import type { GpuMemory } from './gpu/profile.js';
import { decoderGraph } from './model/decoder.js';
import { type DecoderTokenizer, loadDecoderTokenizer } from './model/decoder-tokenizer.js';
import { memorySource } from './model/sources.js';
import type { IntProgram } from './plan/int-program.js';
import { FloatDecoderGpu } from './runtime/float-decoder.js';
import { FloatGraphGpu } from './runtime/float-graph.js';
import { IntDecoderGpu } from './runtime/int-decoder.js';
import type { Capability, Profile, TextModel } from './session.js';

/** Cache positions a decoder is first made with (or the model's positions, if fewer). */
const INITIAL_CAPACITY = 128;

/** gpu: undefined for the device: 'cpu' decoder (src/cpu/generation-sessions.ts). */
type Decoder = DecoderSession & { readonly gpu: Gpu | undefined; memory(): GpuMemory; dispose(): void };

abstract class LanguageModel extends DeviceModel<Decoder> implements TextModel {
  readonly capabilities: readonly Capability[] = ['generate'];

  constructor(
    readonly config: DecoderConfig,
    readonly tokenizer: DecoderTokenizer,
    decoder: Decoder,
  ) {
    super(decoder);
  }

  /** A decoder on `gpu` (undefined: on the CPU) for `batch` sequences of `capacity` tokens. */
  protected abstract makeDecoder(gpu: Gpu | undefined, batch: number, capacity: number): Promise<Decoder>;

  protected rebuild(gpu: Gpu): Promise<Decoder> {
    return this.makeDecoder(gpu, this.encoder.batch, this.encoder.capacity);
  }

  /**
   * Continues `prompt`: iterate it for the text as it comes, or await it for the whole result.
   * Calls on one model run one at a time, in call order.
   */
  generate(prompt: string, options?: GenerationOptions): Generation {
    if (typeof prompt !== 'string')
      throw new TypeError(
        `generate: the prompt is ${prompt === null ? 'null' : typeof prompt}; expected a string (generateBatch takes a list)`,
      );
    return new Generation(async (push) => {
      const [result] = await this.run('generate', [prompt], options, (event) => push(event.text));
      return result;
    });
  }

  /** Continues every prompt of the list together (left-padded into one batch): one result per prompt. */
  async generateBatch(prompts: readonly string[], options?: GenerationOptions): Promise<GenerationResult[]> {
    if (!Array.isArray(prompts))
      throw new TypeError(`generateBatch: prompts must be a list of strings, got ${typeof prompts}`);
    if (prompts.length === 0) throw new RangeError('generateBatch: no prompts');
    prompts.forEach((p, i) => {
      if (typeof p !== 'string') throw new TypeError(`generateBatch: prompt ${i} is ${typeof p}, not a string`);
    });
    return this.run('generateBatch', prompts, options);
  }

  private async run(
    method: string,
    texts: readonly string[],
    options: GenerationOptions | undefined,
    onPiece?: (event: TokenEvent) => void,
  ): Promise<GenerationResult[]> {
    this.usable(method);
    const opts = checkGenerationOptions(options);
    const prompts = texts.map((t, i) => {
      const ids = this.tokenizer.encode(t);
      if (ids.length === 0)
        throw new RangeError(`${method}: prompt ${i} is empty (it encodes to no tokens; GPT-2 needs at least one)`);
      return ids;
    });
    const longest = Math.max(...prompts.map((p) => p.length));
    const need = longest + opts.maxNewTokens - 1;
    const positions = this.config.maxPositions;
    if (need > positions)
      throw new RangeError(
        `${method}: a prompt of ${longest} tokens and maxNewTokens ${opts.maxNewTokens} need ${need} positions; the model has ${positions} (at most ${Math.max(0, positions - longest + 1)} new tokens after this prompt)`,
      );
    return this.exclusive(method, opts.signal, async () => {
      const decoder = await this.decoderFor(prompts.length, need);
      const events = generateTokens(decoder, prompts, options, {
        decode: (ids) => this.tokenizer.decode(ids),
        eosTokenId: this.config.eosTokenId,
      });
      for (;;) {
        const next = await events.next();
        if (next.done) return next.value;
        if (this.disposed) throw new Error(`${method}: this ${this.kind} model was disposed while generating`);
        onPiece?.(next.value);
      }
    });
  }

  /** The current decoder when it fits (batch equal, capacity enough); else a new one replaces it. */
  private async decoderFor(batch: number, need: number): Promise<Decoder> {
    const current = this.encoder;
    if (current.batch === batch && current.capacity >= need) return current;
    const capacity = Math.min(this.config.maxPositions, Math.max(need, INITIAL_CAPACITY));
    const next = await this.makeDecoder(current.gpu, batch, capacity);
    this.replaceEncoder(next);
    return next;
  }

  async classify(): Promise<never> {
    throw new Error(
      `classify: this model (${this.config.architecture}) is a language model; it can generate() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async embed(): Promise<never> {
    throw new Error(
      `embed: this model (${this.config.architecture}) is a language model; it can generate() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async tag(): Promise<never> {
    throw new Error(
      `tag: this model (${this.config.architecture}) is a language model; it can generate() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async classifyZeroShot(): Promise<never> {
    throw new Error(
      `classifyZeroShot: this model (${this.config.architecture}) is a language model; it can generate() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  translate(text: string): Generation<TranslationResult>;
  translate(texts: readonly string[]): Promise<TranslationResult[]>;
  translate(): never {
    throw new Error(
      `translate: this model (${this.config.architecture}) is a language model, not a translation model; it can generate() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async profile(): Promise<Profile> {
    throw new Error(`profile: not available for language models yet (${this.config.architecture})`);
  }
}

export class Int8LanguageModel extends LanguageModel {
  readonly kind = 'int8' as const;

  private constructor(
    config: DecoderConfig,
    tokenizer: DecoderTokenizer,
    decoder: Decoder,
    /** The program, kept: what the model is rebuilt from after a device loss. */
    readonly program: IntProgram,
  ) {
    super(config, tokenizer, decoder);
  }

  /** From an integer decoder file (its tokenizer rebuilt from the files it stores). */
  static async fromFile(gpu: Gpu, file: IntDecoderFile, what = 'integer model file'): Promise<Int8LanguageModel> {
    return Int8LanguageModel.create(gpu, file.program, file.config, await decoderFileTokenizer(file, what));
  }

  static async create(
    gpu: Gpu,
    program: IntProgram,
    config: DecoderConfig,
    tokenizer: DecoderTokenizer,
  ): Promise<Int8LanguageModel> {
    const decoder = await intDecoder(gpu, program, config, 1, Math.min(config.maxPositions, INITIAL_CAPACITY));
    return new Int8LanguageModel(config, tokenizer, decoder, program);
  }

  /**
   * The same model on the CPU (device: 'cpu'): the integer interpreter's incremental decoder with
   * the fast kernels, whose candidates equal the GPU decoder's.
   */
  static async onCpu(file: IntDecoderFile, what = 'integer model file'): Promise<Int8LanguageModel> {
    const { program, config } = file;
    const decoder = new CpuDecoderSession(
      program,
      1,
      Math.min(config.maxPositions, INITIAL_CAPACITY),
      config.eosTokenId,
    );
    return new Int8LanguageModel(config, await decoderFileTokenizer(file, what), decoder, program);
  }

  protected async makeDecoder(gpu: Gpu | undefined, batch: number, capacity: number): Promise<Decoder> {
    if (!gpu) return new CpuDecoderSession(this.program, batch, capacity, this.config.eosTokenId);
    return intDecoder(gpu, this.program, this.config, batch, capacity);
  }
}

/** A decoder's tokenizer from the files an .i8t file stores. */
export function decoderFileTokenizer(file: IntDecoderFile, what: string): Promise<DecoderTokenizer> {
  const files: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
  if (file.tokenizer.config !== undefined) files['tokenizer_config.json'] = file.tokenizer.config;
  return loadDecoderTokenizer(memorySource(files, what), file.config);
}

async function intDecoder(
  gpu: Gpu,
  program: IntProgram,
  config: DecoderConfig,
  batch: number,
  capacity: number,
): Promise<Decoder> {
  return IntDecoderGpu.create(gpu, program, { batch, capacity }, { padId: config.eosTokenId });
}

export class Fp32LanguageModel extends LanguageModel {
  readonly kind = 'fp32' as const;

  private constructor(
    config: DecoderConfig,
    tokenizer: DecoderTokenizer,
    decoder: Decoder,
    /** The float weights, kept: what the model is rebuilt from after a device loss. */
    readonly model: DecoderModel,
  ) {
    super(config, tokenizer, decoder);
  }

  static async create(gpu: Gpu, model: DecoderModel, tokenizer: DecoderTokenizer): Promise<Fp32LanguageModel> {
    const decoder = await floatDecoder(gpu, model, 1, Math.min(model.config.maxPositions, INITIAL_CAPACITY));
    return new Fp32LanguageModel(model.config, tokenizer, decoder, model);
  }

  protected makeDecoder(gpu: Gpu, batch: number, capacity: number): Promise<Decoder> {
    return floatDecoder(gpu, this.model, batch, capacity);
  }
}

async function floatDecoder(gpu: Gpu, model: DecoderModel, batch: number, capacity: number): Promise<Decoder> {
  const runtime = await FloatGraphGpu.create(gpu, decoderGraph(model.config), model.params);
  return new FloatDecoderGpu(runtime, batch, capacity, model.config.vocabSize, model.config.eosTokenId);
}
