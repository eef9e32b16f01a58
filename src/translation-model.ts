/**
 * Translation models (MarianMTModel) as model objects: `translate(text)` streams a translation,
 * `translate(texts)` translates a list together. The integer model runs IntTranslatorGpu (encoder
 * and cross-attention K|V once per source, int8 self-attention cache, beams reordered in place);
 * the float one FloatTranslatorGpu (the float graph, rerun per token). Both share the device
 * handling of every model (DeviceModel) and the search (src/generate/translate.ts).
 */
import type { MarianConfig, MarianModel } from './core/types.js';
import { CpuTranslatorSession } from './cpu/generation-sessions.js';
import { DeviceModel } from './device-model.js';
import type { IntTranslatorFile } from './format/int-model-file.js';
import type { GenerationResult } from './generate/generate.js';
import { Generation } from './generate/generation.js';
import {
  checkTranslateOptions,
  type TranslatedTokens,
  type TranslateTokenEvent,
  translateTokens,
} from './generate/translate.js';
import type { TranslationOptions, TranslationResult } from './generate/translation-result.js';
import type { TranslatorSession } from './generate/translator-session.js';
import type { Gpu } from './gpu/gpu.js';
import type { GpuMemory } from './gpu/profile.js';
import { loadMarianTokenizer, type MarianTokenizer, marianGraph } from './model/marian.js';
import { memorySource } from './model/sources.js';
import type { IntProgram } from './plan/int-program.js';
import { FloatTranslatorGpu } from './runtime/float-translator.js';
import { IntTranslatorGpu } from './runtime/int-translator.js';
import type { Capability, Profile, TextModel } from './session.js';

/** Target tokens per sequence a session is first made for (or the model's positions, if fewer). */
const INITIAL_CAPACITY = 64;

/** gpu: undefined for the device: 'cpu' session (src/cpu/generation-sessions.ts). */
type Session = TranslatorSession & { readonly gpu: Gpu | undefined; memory(): GpuMemory; dispose(): void };

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
}

abstract class TranslationModel extends DeviceModel<Session> implements TextModel {
  readonly capabilities: readonly Capability[] = ['translate'];

  constructor(
    readonly config: MarianConfig,
    readonly tokenizer: MarianTokenizer,
    session: Session,
    /** generation_config.json's max_length, when the checkpoint has one. */
    private readonly maxLength?: number,
  ) {
    super(session);
  }

  /** A session on `gpu` (undefined: on the CPU) for `sequences` sequences of `capacity` target tokens. */
  protected abstract makeSession(gpu: Gpu | undefined, sequences: number, capacity: number): Promise<Session>;

  protected rebuild(gpu: Gpu): Promise<Session> {
    return this.makeSession(gpu, 1, this.encoder.capacity);
  }

  /**
   * Translates `text`: iterate it for the text as it comes (greedy; beam search gives the whole
   * text at the end, when the best hypothesis is known), or await it for the result. A list of
   * texts is translated together: one result per text. Calls on one model run one at a time.
   */
  translate(text: string, options?: TranslationOptions): Generation<TranslationResult>;
  translate(texts: readonly string[], options?: TranslationOptions): Promise<TranslationResult[]>;
  translate(
    texts: string | readonly string[],
    options?: TranslationOptions,
  ): Generation<TranslationResult> | Promise<TranslationResult[]> {
    if (typeof texts === 'string') {
      return new Generation<TranslationResult>(async (push) => {
        const [result] = await this.run([texts], options, push);
        return result;
      });
    }
    if (!Array.isArray(texts))
      throw new TypeError(`translate: the text is ${describe(texts)}; expected a string or a list of strings`);
    if (texts.length === 0) return Promise.reject(new RangeError('translate: no texts'));
    for (let i = 0; i < texts.length; i++)
      if (typeof texts[i] !== 'string')
        throw new TypeError(`translate: text ${i} is ${describe(texts[i])}, not a string`);
    return this.run(texts, options);
  }

  private async run(
    texts: readonly string[],
    options: TranslationOptions | undefined,
    onPiece?: (piece: string) => void,
  ): Promise<TranslationResult[]> {
    this.usable('translate');
    if (options !== undefined && (typeof options !== 'object' || options === null))
      throw new TypeError(`translate: options must be an object, got ${describe(options)}`);
    const sources = texts.map((t) => this.tokenizer.encodeSource(t));
    const positions = this.config.maxPositions;
    sources.forEach((s, i) => {
      if (s.length > positions)
        throw new RangeError(
          `translate: text ${i} has ${s.length} tokens; the model has ${positions} positions (max_position_embeddings)`,
        );
    });
    const longest = Math.max(...sources.map((s) => s.length));
    const limit = Math.min((this.maxLength ?? positions) - 1, positions - 1);
    const maxNewTokens = options?.maxNewTokens ?? Math.max(1, Math.min(limit, 2 * longest + 10));
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1 || maxNewTokens > positions - 1)
      throw new RangeError(
        `translate: maxNewTokens = ${maxNewTokens} must be an integer in [1, ${positions - 1}] (the model's positions after the start token)`,
      );
    // Options checked before any session is sized from them (a bad numBeams names itself, not the cache).
    const beams = checkTranslateOptions({ ...options, maxNewTokens: undefined }).numBeams;
    return this.exclusive('translate', options?.signal, async () => {
      const session = await this.sessionFor(sources.length * beams, maxNewTokens);
      // Greedy streams each token's text as it is decided: the decoded prefix's new characters.
      let streamed = '';
      const ids: number[] = [];
      const onToken =
        onPiece && beams === 1
          ? ({ token }: TranslateTokenEvent) => {
              ids.push(token);
              const text = this.tokenizer.decode(ids, { skipSpecialTokens: true });
              // A byte-level token may end inside a character: wait until the text stops changing under it.
              if (text.startsWith(streamed) && !text.endsWith('\uFFFD')) {
                onPiece(text.slice(streamed.length));
                streamed = text;
              }
            }
          : undefined;
      const outputs: TranslatedTokens[] = await translateTokens(session, sources, this.config, {
        ...options,
        maxNewTokens,
        onToken,
      });
      if (this.disposed) throw new Error(`translate: this ${this.kind} model was disposed while translating`);
      const results = outputs.map((o) => ({
        text: this.tokenizer.decode(o.tokens, { skipSpecialTokens: true }),
        tokens: o.tokens,
        finishReason: o.finishReason,
        ...(o.score !== undefined ? { score: o.score } : {}),
      }));
      if (onPiece && results.length === 1) {
        const rest = results[0].text.startsWith(streamed) ? results[0].text.slice(streamed.length) : '';
        if (rest) onPiece(rest);
      }
      return results;
    });
  }

  /** The current session when its capacity is enough; else a new one replaces it. */
  private async sessionFor(sequences: number, maxNewTokens: number): Promise<Session> {
    const need = maxNewTokens;
    const current = this.encoder;
    if (current.capacity >= need) return current;
    const capacity = Math.min(this.config.maxPositions, Math.max(need, INITIAL_CAPACITY));
    const next = await this.makeSession(current.gpu, sequences, capacity);
    this.replaceEncoder(next);
    return next;
  }

  private refuse(method: string): never {
    throw new Error(
      `${method}: this model (${this.config.architecture}) is a translation model; it can translate() (capabilities: ${this.capabilities.join(', ')})`,
    );
  }

  async classify(): Promise<never> {
    this.refuse('classify');
  }

  async embed(): Promise<never> {
    this.refuse('embed');
  }

  async tag(): Promise<never> {
    this.refuse('tag');
  }

  async classifyZeroShot(): Promise<never> {
    this.refuse('classifyZeroShot');
  }

  generate(): Generation {
    this.refuse('generate');
  }

  async generateBatch(): Promise<GenerationResult[]> {
    this.refuse('generateBatch');
  }

  async profile(): Promise<Profile> {
    throw new Error(`profile: not available for translation models yet (${this.config.architecture})`);
  }
}

/** generation_config.json's max_length, if it states a usable one. */
export function maxLengthOf(generation: Record<string, unknown> | undefined): number | undefined {
  const m = generation?.max_length;
  return typeof m === 'number' && Number.isInteger(m) && m > 1 ? m : undefined;
}

export class Int8TranslationModel extends TranslationModel {
  readonly kind = 'int8' as const;

  private constructor(
    config: MarianConfig,
    tokenizer: MarianTokenizer,
    session: Session,
    /** The program, kept: what the model is rebuilt from after a device loss. */
    readonly program: IntProgram,
    maxLength: number | undefined,
  ) {
    super(config, tokenizer, session, maxLength);
  }

  /** From an integer translation file (its tokenizer rebuilt from the files it stores). */
  static async fromFile(gpu: Gpu, file: IntTranslatorFile, what = 'integer model file'): Promise<Int8TranslationModel> {
    const files: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
    if (file.tokenizer.config !== undefined) files['tokenizer_config.json'] = file.tokenizer.config;
    const tokenizer = await loadMarianTokenizer(memorySource(files, what), file.config);
    return Int8TranslationModel.create(gpu, file.program, file.config, tokenizer, maxLengthOf(file.generation));
  }

  static async create(
    gpu: Gpu,
    program: IntProgram,
    config: MarianConfig,
    tokenizer: MarianTokenizer,
    maxLength?: number,
  ): Promise<Int8TranslationModel> {
    const session = await intSession(gpu, program, config, 1, Math.min(config.maxPositions, INITIAL_CAPACITY));
    return new Int8TranslationModel(config, tokenizer, session, program, maxLength);
  }

  /**
   * The same model on the CPU (device: 'cpu'): the integer interpreter's incremental translator
   * with the fast kernels, whose candidates and logits equal the GPU translator's.
   */
  static async onCpu(file: IntTranslatorFile, what = 'integer model file'): Promise<Int8TranslationModel> {
    const files: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
    if (file.tokenizer.config !== undefined) files['tokenizer_config.json'] = file.tokenizer.config;
    const tokenizer = await loadMarianTokenizer(memorySource(files, what), file.config);
    const { program, config } = file;
    const session = new CpuTranslatorSession(program, config, Math.min(config.maxPositions, INITIAL_CAPACITY));
    return new Int8TranslationModel(config, tokenizer, session, program, maxLengthOf(file.generation));
  }

  protected async makeSession(gpu: Gpu | undefined, sequences: number, capacity: number): Promise<Session> {
    if (!gpu) return new CpuTranslatorSession(this.program, this.config, capacity);
    return intSession(gpu, this.program, this.config, sequences, capacity);
  }
}

function intSession(
  gpu: Gpu,
  program: IntProgram,
  config: MarianConfig,
  sequences: number,
  capacity: number,
): Promise<Session> {
  return IntTranslatorGpu.create(gpu, program, config, { sequences, capacity });
}

export class Fp32TranslationModel extends TranslationModel {
  readonly kind = 'fp32' as const;

  private constructor(
    config: MarianConfig,
    tokenizer: MarianTokenizer,
    session: Session,
    /** The float weights, kept: what the model is rebuilt from after a device loss. */
    readonly model: MarianModel,
    maxLength: number | undefined,
  ) {
    super(config, tokenizer, session, maxLength);
  }

  static async create(
    gpu: Gpu,
    model: MarianModel,
    tokenizer: MarianTokenizer,
    maxLength?: number,
  ): Promise<Fp32TranslationModel> {
    const session = await floatSession(gpu, model, 1, Math.min(model.config.maxPositions, INITIAL_CAPACITY));
    return new Fp32TranslationModel(model.config, tokenizer, session, model, maxLength);
  }

  protected makeSession(gpu: Gpu, sequences: number, capacity: number): Promise<Session> {
    return floatSession(gpu, this.model, sequences, capacity);
  }
}

function floatSession(gpu: Gpu, model: MarianModel, sequences: number, capacity: number): Promise<Session> {
  return FloatTranslatorGpu.create(gpu, model, marianGraph(model.config), { capacity, sequences });
}
