/**
 * Generation options: what callers pass to `generate`, checked once up front so that a bad value is
 * refused with its name before any model work starts.
 */
import { checkSignalOption, showOptionValue } from '../core/option-values.js';

/** One generated token of one sequence, with the text it adds (possibly '': see TextStream). */
export interface TokenEvent {
  /** Index of the prompt this token continues. */
  sequence: number;
  token: number;
  /** The new text: pieces of one sequence concatenate to its final text. */
  text: string;
}

export interface GenerationOptions {
  /**
   * Tokens to generate per sequence at most (EOS and stop strings can end a sequence sooner).
   * Default 20, the figure Hugging Face's generation config uses (there as a total length).
   */
  maxNewTokens?: number;
  /** Sampling temperature; 0 or absent: greedy decoding (argmax, ties to the lowest id). */
  temperature?: number;
  /**
   * Sample among the `topK` best tokens only (after the repetition penalty). Exactly `topK` tokens:
   * a tie with the last one goes to the lower id (Hugging Face keeps every tied token; float logits
   * practically never tie, the integer ones of the GPU can). Absent: no limit. Needs a temperature.
   */
  topK?: number;
  /**
   * Nucleus sampling: the smallest set of best tokens whose probability reaches `topP` (after
   * top-k, at the temperature). In (0, 1]; absent or 1: no limit. Needs a temperature.
   */
  topP?: number;
  /**
   * Seed of the draws: the same seed, prompts and options give the same tokens. Sequence i of a
   * batch draws from seed + i, so it equals a run of its prompt alone with that seed. Default 0
   * (runs repeat unless the caller varies it); ignored by greedy decoding.
   */
  seed?: number;
  /**
   * Hugging Face's repetition penalty: for every token id already in the sequence (prompt and
   * generated), a logit > 0 is divided by it and any other multiplied. > 1 discourages repeats,
   * < 1 encourages them; default 1 (none).
   */
  repetitionPenalty?: number;
  /**
   * Stop strings: a sequence ends as soon as its generated text contains one; its text is cut
   * before it (its tokens are kept).
   */
  stop?: readonly string[];
  /** End a sequence at the end-of-text token (default true); false: EOS is an ordinary token. */
  stopAtEos?: boolean;
  /** Called with every event, before the generator yields it. */
  onToken?: (event: TokenEvent) => void;
  /** Checked before each model step: aborting rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** The options with their defaults filled in. */
export interface ResolvedGenerationOptions {
  maxNewTokens: number;
  /** 0: greedy. */
  temperature: number;
  /** undefined: no top-k limit. */
  topK: number | undefined;
  /** 1: no top-p limit. */
  topP: number;
  seed: number;
  repetitionPenalty: number;
  stop: readonly string[];
  stopAtEos: boolean;
  onToken: ((event: TokenEvent) => void) | undefined;
  signal: AbortSignal | undefined;
}

export const DEFAULT_MAX_NEW_TOKENS = 20;

const KNOWN_KEYS = [
  'maxNewTokens',
  'temperature',
  'topK',
  'topP',
  'seed',
  'repetitionPenalty',
  'stop',
  'stopAtEos',
  'onToken',
  'signal',
] as const;

const SEED_MAX = 2 ** 32 - 1;

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && !Number.isNaN(v);
}

/** Lone surrogates would let a stop string match half of a character. */
function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/**
 * Validates every option (TypeError for a wrong type, RangeError for a value out of range, each
 * naming the option and its value; unknown keys refused by name) and fills in the defaults.
 */
export function checkGenerationOptions(options: GenerationOptions | undefined = {}): ResolvedGenerationOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`generate: options must be an object, got ${showOptionValue(options)}`);
  }
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !(KNOWN_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new TypeError(
      `generate: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} ` +
        `(known: ${KNOWN_KEYS.join(', ')})`,
    );
  }

  const number = (name: string): number | undefined => {
    const v = o[name];
    if (v === undefined) return undefined;
    if (!isNumber(v)) throw new TypeError(`generate: ${name} = ${showOptionValue(v)} must be a number`);
    return v;
  };

  const maxNewTokens = number('maxNewTokens') ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(`generate: maxNewTokens = ${maxNewTokens} must be an integer >= 1`);
  }

  const temperature = number('temperature') ?? 0;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new RangeError(`generate: temperature = ${temperature} must be a finite number >= 0 (0: greedy)`);
  }

  const topK = number('topK');
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
    throw new RangeError(`generate: topK = ${topK} must be an integer >= 1`);
  }

  const topP = number('topP');
  if (topP !== undefined && !(topP > 0 && topP <= 1)) {
    throw new RangeError(`generate: topP = ${topP} must be in (0, 1]`);
  }

  // Greedy decoding takes the argmax whatever top-k / top-p keep: a caller passing them most
  // likely forgot the temperature, and would silently get greedy output.
  if (temperature === 0) {
    for (const [name, v] of [
      ['topK', topK],
      ['topP', topP],
    ] as const) {
      if (v !== undefined) {
        throw new RangeError(
          `generate: ${name} = ${v} has no effect with greedy decoding (temperature 0 or absent); ` +
            'set a temperature > 0 to sample',
        );
      }
    }
  }

  const seed = number('seed') ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > SEED_MAX) {
    throw new RangeError(`generate: seed = ${seed} must be an integer in [0, ${SEED_MAX}]`);
  }

  const repetitionPenalty = number('repetitionPenalty') ?? 1;
  if (!Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
    throw new RangeError(
      `generate: repetitionPenalty = ${repetitionPenalty} must be a finite number > 0 (1: no penalty)`,
    );
  }

  let stop: readonly string[] = [];
  if (o.stop !== undefined) {
    if (!Array.isArray(o.stop)) {
      throw new TypeError(
        `generate: stop = ${showOptionValue(o.stop)} must be an array of strings${typeof o.stop === 'string' ? ' (wrap a single one in [ ])' : ''}`,
      );
    }
    o.stop.forEach((s: unknown, i: number) => {
      if (typeof s !== 'string') throw new TypeError(`generate: stop[${i}] = ${showOptionValue(s)} must be a string`);
      if (s.length === 0) throw new RangeError(`generate: stop[${i}] is empty (it would stop before any text)`);
      if (!isWellFormed(s))
        throw new RangeError(`generate: stop[${i}] = ${showOptionValue(s)} holds a lone UTF-16 surrogate`);
    });
    stop = [...(o.stop as string[])];
  }

  const stopAtEos = o.stopAtEos ?? true;
  if (typeof stopAtEos !== 'boolean') {
    throw new TypeError(`generate: stopAtEos = ${showOptionValue(stopAtEos)} must be a boolean`);
  }

  const onToken = o.onToken;
  if (onToken !== undefined && typeof onToken !== 'function') {
    throw new TypeError(`generate: onToken = ${showOptionValue(onToken)} must be a function`);
  }

  const signal = checkSignalOption(o.signal, 'generate');

  return {
    maxNewTokens,
    temperature,
    topK,
    topP: topP ?? 1,
    seed,
    repetitionPenalty,
    stop,
    stopAtEos,
    onToken: onToken as ((event: TokenEvent) => void) | undefined,
    signal,
  };
}
