/**
 * The translation panel: the built-in Marian model (English -> German) translates a sentence as
 * INT8 (int8 self-attention cache, cross-attention K and V kept once per sentence, integer beam
 * scores) and as FP32 (the float graph rerun per token), each column streaming its German as it
 * comes, with the sentence's time, its tokens per second and the model's GPU memory. INT8 runs
 * first, then FP32: on one GPU two models at once would share its time, and the time per
 * sentence would be neither's. The models load on the first Translate (28 MB together), so the
 * page's first load does not pay for them. Figures also go to data- attributes, so that tests read
 * numbers, not formatted text.
 */
// TranslationOptions is not exported by src/index.ts yet.
import type { TranslationOptions } from '../src/generate/translation-result.js';
import type { Gpu, MarianConfig, Precision, TextModel } from '../src/index.js';
import { formatBytes, formatMs } from './charts.js';
import { loadTranslators, type PairProgress, type TranslatorPair } from './engine.js';
import { byId, clearMessageIn, field, messageOf, PRECISIONS, showMessageIn, showPairProgress } from './panel-parts.js';

export interface TranslationPanelHost {
  /** The page's device, once it has one (its loss is the page's to report). */
  gpu(): Gpu | undefined;
}

export interface TranslationPanel {
  /** Enables what can be used now (Translate needs a device). */
  updateControls(): void;
  /** Disposes of the models (the page's device was lost); the next Translate loads them again. */
  forget(): void;
}

type ColumnState = 'idle' | 'waiting' | 'running' | 'done' | 'stopped' | 'error';

/** Image captions in the style of Multi30k (the model's only domain); none is from its test set. */
export const TRANSLATION_EXAMPLES: readonly string[] = [
  'A man in a blue shirt is standing on a ladder.',
  'Two dogs are running through the snow.',
  'A little girl is playing in the water.',
  'A group of people are sitting at a table in a restaurant.',
  'A woman rides a bicycle down a busy street.',
];

/** Share of the load per precision, by bytes: the .i8t file (13 MB) and the float16 folder (15 MB). */
const SPAN: Record<Precision, [number, number]> = { int8: [0, 0.47], fp32: [0.47, 1] };

export function wireTranslationPanel(host: TranslationPanelHost): TranslationPanel {
  const ui = {
    section: byId('translate-section'),
    message: byId('tr-message'),
    example: byId<HTMLSelectElement>('tr-example'),
    text: byId<HTMLTextAreaElement>('tr-text'),
    beams: byId<HTMLSelectElement>('tr-beams'),
    maxTokens: byId<HTMLInputElement>('tr-max-tokens'),
    translate: byId<HTMLButtonElement>('translate'),
    stop: byId<HTMLButtonElement>('tr-stop'),
    loading: byId('tr-loading'),
    progress: byId<HTMLProgressElement>('tr-progress'),
    status: byId('tr-status'),
    columns: { int8: byId('tr-int8'), fp32: byId('tr-fp32') } satisfies Record<Precision, HTMLElement>,
  };
  const inputs = [ui.example, ui.text, ui.beams, ui.maxTokens];

  for (const sentence of TRANSLATION_EXAMPLES) ui.example.append(new Option(sentence, sentence));
  ui.example.value = ui.text.value;

  let models: TranslatorPair | undefined;
  let busy = false;
  let controller: AbortController | undefined;

  function updateControls(): void {
    const usable = host.gpu() !== undefined;
    for (const input of inputs) input.disabled = !usable;
    ui.translate.disabled = !usable || busy;
    // Stop only while translating: a load cannot be interrupted.
    ui.stop.disabled = controller === undefined;
  }

  function showMessage(title: string, detail: string): void {
    showMessageIn(ui.message, title, detail);
  }

  function clearMessage(): void {
    clearMessageIn(ui.message);
  }

  /** Beams and the token cap (an empty box: the library's default); the library checks the values. */
  function readOptions(): TranslationOptions {
    const options: TranslationOptions = { numBeams: Number(ui.beams.value) };
    if (ui.maxTokens.validity.badInput) throw new Error('Max new tokens is not a number.');
    if (ui.maxTokens.value.trim() !== '') options.maxNewTokens = Number(ui.maxTokens.value);
    return options;
  }

  function showProgress(p: PairProgress): void {
    showPairProgress(ui, SPAN, p);
  }

  async function loadModels(gpu: Gpu): Promise<TranslatorPair> {
    ui.loading.hidden = false;
    ui.progress.value = 0;
    ui.status.textContent = 'loading the translation models…';
    try {
      const loaded = await loadTranslators(gpu, showProgress);
      for (const p of PRECISIONS) showMemory(ui.columns[p], loaded[p]);
      return loaded;
    } finally {
      ui.loading.hidden = true;
    }
  }

  async function translate(): Promise<void> {
    const gpu = host.gpu();
    if (!gpu || busy) return;
    busy = true;
    ui.section.dataset.busy = '';
    updateControls();
    clearMessage();
    try {
      let options: TranslationOptions;
      try {
        options = readOptions();
      } catch (e) {
        showMessage('Check the options.', messageOf(e));
        return;
      }
      try {
        models ??= await loadModels(gpu);
      } catch (e) {
        showMessage('Could not load the translation models.', messageOf(e));
        return;
      }
      const current = models;
      controller = new AbortController();
      updateControls();
      const text = ui.text.value;
      const signal = controller.signal;
      for (const p of PRECISIONS) resetColumn(ui.columns[p]);
      for (const p of PRECISIONS) await run(ui.columns[p], current[p], text, options, signal);
    } finally {
      busy = false;
      controller = undefined;
      delete ui.section.dataset.busy;
      // A count of finished attempts, so that a test (or a user script) can tell one from the next.
      ui.section.dataset.runs = String(Number(ui.section.dataset.runs ?? 0) + 1);
      updateControls();
    }
  }

  function setState(column: HTMLElement, state: ColumnState): void {
    column.dataset.state = state;
  }

  function resetColumn(column: HTMLElement): void {
    field(column, 'output').replaceChildren();
    const error = field(column, 'error');
    error.hidden = true;
    error.textContent = '';
    for (const k of ['text', 'error', 'finishReason', 'tokens', 'ms', 'tokensPerSecond', 'beams'])
      delete column.dataset[k];
    field(column, 'speed').textContent = 'waiting for the other column…';
    setState(column, 'waiting');
  }

  /**
   * One column's translation: pieces appended as text nodes as they come (greedy streams; a beam
   * search knows its text only at the end). Never rejects: failures are shown in the column.
   */
  async function run(
    column: HTMLElement,
    model: TextModel,
    text: string,
    options: TranslationOptions,
    signal: AbortSignal,
  ): Promise<void> {
    const output = field(column, 'output');
    const error = field(column, 'error');
    const speed = field(column, 'speed');
    if (signal.aborted) {
      speed.textContent = 'stopped before it started';
      setState(column, 'stopped');
      return;
    }
    const beams = options.numBeams ?? 1;
    speed.textContent = beams > 1 ? `searching with ${beams} beams…` : 'translating…';
    setState(column, 'running');
    const t0 = performance.now();
    try {
      const translation = model.translate(text, { ...options, signal });
      for await (const piece of translation) output.append(piece);
      const result = await translation;
      const ms = performance.now() - t0;
      column.dataset.text = result.text;
      column.dataset.finishReason = result.finishReason;
      showSpeed(column, result.tokens.length, ms, beams, result.finishReason === 'length');
      setState(column, 'done');
    } catch (e) {
      if (signal.aborted) {
        column.dataset.text = output.textContent ?? '';
        speed.textContent = `stopped after ${formatMs(performance.now() - t0)}`;
        setState(column, 'stopped');
      } else {
        error.textContent = messageOf(e);
        error.hidden = false;
        column.dataset.error = messageOf(e);
        speed.textContent = 'no translation';
        setState(column, 'error');
      }
    }
    try {
      showMemory(column, model);
    } catch {
      // A model whose device was lost has no memory to report; its column already says why.
    }
  }

  ui.example.addEventListener('change', () => {
    ui.text.value = ui.example.value;
  });
  ui.text.addEventListener('input', () => {
    // The picker shows an example only while the box holds it.
    ui.example.value = TRANSLATION_EXAMPLES.includes(ui.text.value) ? ui.text.value : '';
  });
  ui.translate.addEventListener('click', () => void translate());
  ui.stop.addEventListener('click', () =>
    controller?.abort(new DOMException('Translation stopped by the user.', 'AbortError')),
  );
  ui.text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void translate();
    }
  });

  return {
    updateControls,
    forget() {
      controller?.abort(new DOMException('The GPU device was lost.', 'AbortError'));
      models?.int8.dispose();
      models?.fp32.dispose();
      models = undefined;
      updateControls();
    },
  };
}

/**
 * The sentence's whole time (tokenizing, encoder, every decoder step, reading back, decoding the
 * text) and the generated tokens per second over it (eos included); with beams, the tokens are the
 * best hypothesis', while the search ran every beam.
 */
function showSpeed(column: HTMLElement, tokens: number, ms: number, beams: number, cut: boolean): void {
  const perSecond = (tokens * 1000) / Math.max(ms, 1e-3);
  column.dataset.tokens = String(tokens);
  column.dataset.ms = String(ms);
  column.dataset.tokensPerSecond = String(perSecond);
  column.dataset.beams = String(beams);
  const search = beams > 1 ? ` · best of ${beams} beams` : ' · greedy';
  // At the cap the library ends the text with a forced eos: a cut sentence, not a finished one.
  const end = cut ? ' · cut at the token limit' : '';
  field(column, 'speed').textContent =
    `${formatMs(ms)} for the sentence · ${tokens} token${tokens === 1 ? '' : 's'} · ${perSecond.toFixed(1)} tokens/s${search}${end}`;
}

/**
 * Weights and caches of one model. INT8 keeps the decoder's K and V (int8) and the
 * cross-attention K and V of the sentence (int8, computed once, shared by its beams); FP32 keeps
 * neither: it reruns the encoder and the decoder over the whole prefix for every token.
 */
function showMemory(column: HTMLElement, model: TextModel): void {
  const m = model.memory();
  const kv = field(column, 'kv');
  const cross = field(column, 'cross');
  if (m.kvCacheBytes !== undefined && m.kvBytesPerToken !== undefined) {
    kv.textContent = `self-attention KV cache (int8): ${formatBytes(m.kvBytesPerToken)} per token · ${formatBytes(m.kvCacheBytes)} allocated`;
    column.dataset.kvCacheBytes = String(m.kvCacheBytes);
    column.dataset.kvBytesPerToken = String(m.kvBytesPerToken);
  } else {
    // What a float32 cache of this model would need: K and V, every decoder layer, 4 bytes a value.
    const c = model.config as MarianConfig;
    kv.textContent =
      `no KV cache (reruns the encoder and decoder for every token); ` +
      `a float32 cache would take ${formatBytes(2 * c.decoderLayers * c.hiddenSize * 4)} per token`;
    delete column.dataset.kvCacheBytes;
    delete column.dataset.kvBytesPerToken;
  }
  if (m.crossKvBytes !== undefined && m.crossKvBytesPerSourceToken !== undefined) {
    cross.textContent = `cross-attention K and V (int8, once per sentence): ${formatBytes(m.crossKvBytesPerSourceToken)} per source token · ${formatBytes(m.crossKvBytes)} allocated (part of the activations)`;
    column.dataset.crossKvBytes = String(m.crossKvBytes);
  } else {
    cross.textContent = 'cross-attention K and V: recomputed with everything else';
    delete column.dataset.crossKvBytes;
  }
  field(column, 'weights').textContent =
    `weights ${formatBytes(m.weightBytes)} · activations ${formatBytes(m.activationBytes)}`;
  column.dataset.weightBytes = String(m.weightBytes);
  column.dataset.activationBytes = String(m.activationBytes);
}
