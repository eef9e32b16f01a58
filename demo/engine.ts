/**
 * The demo's only contact with the library's loading API: one model source as an INT8 and an FP32
 * session on one shared GPU device, with progress (the classifier pair), the built-in GPT-2 as
 * INT8 and FP32 (the generation pair) and the built-in Marian translator as INT8 and FP32 (the
 * translation pair). Everything else in demo/ is page code.
 */
import {
  builtInModelUrl,
  type Gpu,
  type LoadProgress,
  loadModel,
  type Precision,
  type TextModel,
} from '../src/index.js';

/** 'default' is the built-in model; files are a dropped Hugging Face folder or one .i8t file. */
export type DemoSource = 'default' | File[];

export interface PairProgress extends LoadProgress {
  precision: Precision;
}

export interface LoadedPair {
  int8: TextModel;
  /** Missing when the source has no float weights (an .i8t file); `fp32Missing` says why. */
  fp32?: TextModel;
  fp32Missing?: string;
}

function isSingleI8t(source: DemoSource): boolean {
  return source !== 'default' && source.length === 1 && source[0].name.endsWith('.i8t');
}

/**
 * INT8 first (it is the point of the page), then FP32 from the same source. If FP32 fails after
 * INT8 loaded, INT8 is disposed, so that a failed attempt leaves nothing on the GPU.
 */
export async function loadPair(
  gpu: Gpu,
  source: DemoSource,
  onProgress: (p: PairProgress) => void,
): Promise<LoadedPair> {
  const int8 = await loadWarm(gpu, source, 'int8', onProgress);
  if (isSingleI8t(source)) {
    return {
      int8,
      fp32Missing: 'an .i8t file holds only the integer model: drop its Hugging Face folder to compare with FP32',
    };
  }
  try {
    return { int8, fp32: await loadWarm(gpu, source, 'fp32', onProgress) };
  } catch (e) {
    int8.dispose();
    throw e;
  }
}

export interface GeneratorPair {
  int8: TextModel;
  fp32: TextModel;
}

/**
 * The built-in language model (multi30k-gpt2-tiny) as INT8 (its .i8t file) on the page's device and
 * FP32 (its float folder) on a device of its own, INT8 first, nothing left if either fails. The two
 * generate at the same time, and one device has one queue: INT8's small cached steps would wait in
 * line behind FP32's whole-sequence reruns and show FP32's pace (one run in Chromium on SwiftShader:
 * 3.2 against 2.6 tokens/s on one device, 7.2 against 3.2 on two).
 */
export async function loadGenerators(gpu: Gpu, onProgress: (p: PairProgress) => void): Promise<GeneratorPair> {
  const int8 = await loadWarm(gpu, builtInModelUrl('int8', 'generate'), 'int8', onProgress);
  try {
    return { int8, fp32: await loadWarm('own', builtInModelUrl('fp32', 'generate'), 'fp32', onProgress) };
  } catch (e) {
    int8.dispose();
    throw e;
  }
}

export type TranslatorPair = GeneratorPair;

/**
 * The built-in translation model (multi30k-marian-en-de) as INT8 (its .i8t file) and FP32 (its
 * float16-stored folder), INT8 first, nothing left if either fails. Both on the page's device: the
 * panel runs them one after the other, so that each sentence's time is the model's alone, and one
 * queue is no cost then.
 */
export async function loadTranslators(gpu: Gpu, onProgress: (p: PairProgress) => void): Promise<TranslatorPair> {
  const int8 = await loadWarm(gpu, builtInModelUrl('int8', 'translate'), 'int8', onProgress);
  try {
    return { int8, fp32: await loadWarm(gpu, builtInModelUrl('fp32', 'translate'), 'fp32', onProgress) };
  } catch (e) {
    int8.dispose();
    throw e;
  }
}

/**
 * loadModel on `gpu` (or on a device of the model's own, which dispose() destroys and which the
 * library replaces after a loss), then a warm-up forward; the library's 'ready' is passed on only
 * once that is done.
 */
async function loadWarm(
  gpu: Gpu | 'own',
  source: DemoSource | URL,
  precision: Precision,
  onProgress: (p: PairProgress) => void,
): Promise<TextModel> {
  let ready: LoadProgress | undefined;
  const session = await loadModel(source, {
    ...(gpu === 'own' ? { shareDevice: false } : { gpu }),
    precision,
    onProgress: (p) => {
      if (p.stage === 'ready') ready = p;
      else onProgress({ ...p, precision });
    },
  });
  try {
    await warmUp(session, onProgress);
  } catch (e) {
    session.dispose();
    throw e;
  }
  onProgress({ ...(ready ?? { stage: 'ready', fraction: 1, message: 'ready' }), precision });
  return session;
}

/**
 * One forward before the page says "ready": the float model compiles its kernels on its first run
 * (14 s on SwiftShader for the built-in one), and the latency shown next to a prediction should be
 * the model's, not the shader compiler's. A language model generates two tokens: the prompt's pass
 * and one cached step, which run different kernels; EOS must not end it after the first. A
 * translation model translates a sentence whose German does not begin with eos, two tokens at most
 * (the encoder and start step, then one cached step).
 */
async function warmUp(s: TextModel, onProgress: (p: PairProgress) => void): Promise<void> {
  onProgress({ stage: 'compile', fraction: 0.9, message: 'first run (compiles what is left)', precision: s.kind });
  if (s.capabilities.includes('generate')) await s.generate('a', { maxNewTokens: 2, stopAtEos: false });
  else if (s.capabilities.includes('translate')) await s.translate('A dog.', { maxNewTokens: 2 });
  else if (s.config.task === 'sequence-classification') await s.classify('warm up');
  else await s.embed('warm up');
}
