/**
 * `generate [--model <gpt2-folder | model.i8t>] "prompt" [--max-new-tokens N] [--fp32]
 * [--temperature T --top-k K --top-p P --seed S] [--repetition-penalty R] [--stop TEXT]`: streams
 * the continuation to stdout as it is generated. Without --model: the built-in language model.
 */
import { existsSync, statSync } from 'node:fs';
import { builtInModelUrl, type LoadProgress, loadModel } from '../api.js';
import { checkGenerationOptions, type GenerationOptions } from '../generate/options.js';
import type { Gpu } from '../gpu/gpu.js';
import type { CommandArgs } from './lm.js';

export const GENERATE_USAGE =
  'usage: generate [--model <gpt2-folder | model.i8t>] "prompt" [--max-new-tokens N] [--fp32] [--temperature T --top-k K --top-p P --seed S] [--repetition-penalty R] [--stop TEXT]';

export const GENERATE_FLAGS = [
  'model',
  'fp32',
  'max-new-tokens',
  'temperature',
  'top-k',
  'top-p',
  'seed',
  'repetition-penalty',
  'stop',
  'calib',
] as const;

/** A number flag (any finite number; the library checks its range and names it). */
function numberFlag(a: CommandArgs, name: string): number | undefined {
  const v = a.flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) a.usage(`--${name} must be a number, got ${v}`);
  return n;
}

/** Generation options from the flags; the library's checks name the option by its API name, mapped back here. */
export function generationOptions(a: CommandArgs): GenerationOptions {
  const options: GenerationOptions = {};
  const seed = a.flag('seed');
  if (seed !== undefined) {
    const n = Number(seed);
    if (!Number.isInteger(n) || n < 0) a.usage(`--seed must be a non-negative integer, got ${seed}`);
    options.seed = n;
  }
  const set = <K extends keyof GenerationOptions>(key: K, value: GenerationOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set('maxNewTokens', a.intFlag('max-new-tokens'));
  set('temperature', numberFlag(a, 'temperature'));
  set('topK', a.intFlag('top-k'));
  set('topP', numberFlag(a, 'top-p'));
  set('repetitionPenalty', numberFlag(a, 'repetition-penalty'));
  const stop = a.flag('stop');
  if (stop !== undefined) options.stop = [stop];
  if ((options.topK !== undefined || options.topP !== undefined) && !options.temperature)
    a.usage('--top-k and --top-p sample: give a --temperature above 0 too (without one, decoding is greedy)');
  return options;
}

const FLAG_OF: Record<string, string> = {
  maxNewTokens: '--max-new-tokens',
  temperature: '--temperature',
  topK: '--top-k',
  topP: '--top-p',
  repetitionPenalty: '--repetition-penalty',
  seed: '--seed',
  stop: '--stop',
};

/** The library's message with option names as the command line spells them. */
function withFlagNames(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const message = e.message.replace(
    /\b(maxNewTokens|temperature|topK|topP|repetitionPenalty|seed|stop)\b/g,
    (k) => FLAG_OF[k],
  );
  if (message === e.message) return e;
  const copy = new (e.constructor as ErrorConstructor)(message);
  return copy;
}

export async function generateCommand(
  getGpu: () => Promise<Gpu>,
  a: CommandArgs,
  hooks: { onLoad: (p: LoadProgress) => void; write: (text: string) => void; note: (line: string) => void },
): Promise<void> {
  const [prompt, ...extra] = a.positional;
  if (prompt === undefined) a.usage(GENERATE_USAGE);
  if (extra.length)
    a.usage(`one prompt per call (got ${a.positional.length}; quote a prompt with spaces); ${GENERATE_USAGE}`);
  const fp32 = a.has('fp32');
  const path = a.flag('model') ?? builtInModelUrl(fp32 ? 'fp32' : 'int8', 'generate');
  if (typeof path === 'string') {
    if (!existsSync(path)) a.usage(`no such model: ${path}`);
    if (fp32 && !statSync(path).isDirectory())
      a.usage(`--fp32 needs a Hugging Face folder (an .i8t file holds no float weights): ${path}`);
  }
  const options = generationOptions(a);
  // Before the model loads (seconds): a bad value costs nothing.
  try {
    checkGenerationOptions(options);
  } catch (e) {
    throw withFlagNames(e);
  }
  const model = await loadModel(path, {
    gpu: await getGpu(),
    precision: fp32 ? 'fp32' : 'int8',
    onProgress: hooks.onLoad,
  });
  try {
    if (!model.capabilities.includes('generate'))
      a.usage(
        `${model.config.architecture} is not a language model (it can ${model.capabilities.join(', ')}); generate needs a GPT-2 folder or its .i8t`,
      );
    const t0 = performance.now();
    let tokens = 0;
    const generation = model.generate(prompt, { ...options, onToken: () => tokens++ });
    try {
      for await (const piece of generation) hooks.write(piece);
    } catch (e) {
      throw withFlagNames(e);
    }
    const result = await generation;
    hooks.write('\n');
    const ms = performance.now() - t0;
    hooks.note(
      `${model.kind}: ${tokens} tokens (${result.finishReason}), ${(ms / Math.max(1, tokens)).toFixed(1)} ms per token`,
    );
  } finally {
    model.dispose();
  }
}
