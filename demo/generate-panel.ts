/**
 * The generation panel: the built-in GPT-2 continues a prompt as INT8 (int8 KV cache) and as FP32
 * (no cache) at the same time, each column appending its pieces as they arrive, with its speed and
 * GPU memory. The two models load on the first Generate, so the page's first load does not pay for
 * them. Figures also go to data- attributes, so that tests read numbers, not formatted text.
 */
import type { DecoderConfig, GenerationOptions, Gpu, Precision, TextModel } from '../src/index.js';
import { formatBytes, formatMs } from './charts.js';
import { type GeneratorPair, loadGenerators, type PairProgress } from './engine.js';
import { byId, clearMessageIn, field, messageOf, PRECISIONS, showMessageIn, showPairProgress } from './panel-parts.js';

export interface GenerationPanelHost {
  /**
   * The page's device, once it has one. Its loss is the page's to report (it watches the device);
   * a generation it cuts short shows the error in its column like any other.
   */
  gpu(): Gpu | undefined;
}

export interface GenerationPanel {
  /** Enables what can be used now (Generate needs a device). */
  updateControls(): void;
  /** Disposes of the models (the page's device was lost: INT8 went with it); the next Generate loads them again. */
  forget(): void;
}

type ColumnState = 'idle' | 'running' | 'done' | 'stopped' | 'error';

/** Share of the load per precision: the .i8t file (8 MB) and the float folder (10.5 MB) are alike. */
const SPAN: Record<Precision, [number, number]> = { int8: [0, 0.5], fp32: [0.5, 1] };

/** A number box: undefined when empty; an error naming the box when the browser could not parse it. */
function numberFrom(input: HTMLInputElement, name: string): number | undefined {
  if (input.validity.badInput) throw new Error(`${name} is not a number.`);
  return input.value.trim() === '' ? undefined : Number(input.value);
}

export function wireGenerationPanel(host: GenerationPanelHost): GenerationPanel {
  const ui = {
    section: byId('generate-section'),
    message: byId('gen-message'),
    prompt: byId<HTMLTextAreaElement>('gen-prompt'),
    maxTokens: byId<HTMLInputElement>('gen-max-tokens'),
    temperature: byId<HTMLInputElement>('gen-temperature'),
    topK: byId<HTMLInputElement>('gen-top-k'),
    seed: byId<HTMLInputElement>('gen-seed'),
    generate: byId<HTMLButtonElement>('generate'),
    stop: byId<HTMLButtonElement>('gen-stop'),
    loading: byId('gen-loading'),
    progress: byId<HTMLProgressElement>('gen-progress'),
    status: byId('gen-status'),
    columns: { int8: byId('gen-int8'), fp32: byId('gen-fp32') } satisfies Record<Precision, HTMLElement>,
  };
  const inputs = [ui.prompt, ui.maxTokens, ui.temperature, ui.topK, ui.seed];

  let models: GeneratorPair | undefined;
  let busy = false;
  let controller: AbortController | undefined;

  function updateControls(): void {
    const usable = host.gpu() !== undefined;
    for (const input of inputs) input.disabled = !usable;
    ui.generate.disabled = !usable || busy;
    // Stop only while tokens are being generated: a load cannot be interrupted.
    ui.stop.disabled = controller === undefined;
  }

  function showMessage(title: string, detail: string): void {
    showMessageIn(ui.message, title, detail);
  }

  function clearMessage(): void {
    clearMessageIn(ui.message);
  }

  /** All options the boxes set (empty boxes: the library's defaults); the library checks the values. */
  function readOptions(): GenerationOptions {
    const options: GenerationOptions = {
      maxNewTokens: numberFrom(ui.maxTokens, 'Max new tokens'),
      temperature: numberFrom(ui.temperature, 'Temperature'),
      topK: numberFrom(ui.topK, 'Top-k'),
      seed: numberFrom(ui.seed, 'Seed'),
    };
    for (const k of Object.keys(options) as (keyof GenerationOptions)[])
      if (options[k] === undefined) delete options[k];
    return options;
  }

  function showProgress(p: PairProgress): void {
    showPairProgress(ui, SPAN, p);
  }

  async function loadModels(gpu: Gpu): Promise<GeneratorPair> {
    ui.loading.hidden = false;
    ui.progress.value = 0;
    ui.status.textContent = 'loading the language models…';
    try {
      const loaded = await loadGenerators(gpu, showProgress);
      for (const p of PRECISIONS) showMemory(ui.columns[p], loaded[p]);
      return loaded;
    } finally {
      ui.loading.hidden = true;
    }
  }

  async function generate(): Promise<void> {
    const gpu = host.gpu();
    if (!gpu || busy) return;
    busy = true;
    ui.section.dataset.busy = '';
    updateControls();
    clearMessage();
    try {
      let options: GenerationOptions;
      try {
        options = readOptions();
      } catch (e) {
        showMessage('Check the options.', messageOf(e));
        return;
      }
      try {
        models ??= await loadModels(gpu);
      } catch (e) {
        showMessage('Could not load the language models.', messageOf(e));
        return;
      }
      const current = models;
      controller = new AbortController();
      updateControls();
      const prompt = ui.prompt.value;
      const signal = controller.signal;
      await Promise.all(PRECISIONS.map((p) => stream(ui.columns[p], current[p], prompt, options, signal)));
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

  /**
   * One column's continuation: pieces appended as text nodes as they come, speed updated per token.
   * Never rejects: failures are shown in the column.
   */
  async function stream(
    column: HTMLElement,
    model: TextModel,
    prompt: string,
    options: GenerationOptions,
    signal: AbortSignal,
  ): Promise<void> {
    const output = field(column, 'output');
    const error = field(column, 'error');
    field(column, 'prompt').textContent = prompt;
    output.replaceChildren();
    error.hidden = true;
    error.textContent = '';
    for (const k of ['text', 'error', 'finishReason', 'tokens', 'firstTokenMs', 'tokensPerSecond'])
      delete column.dataset[k];
    field(column, 'speed').textContent = 'generating…';
    setState(column, 'running');

    let tokens = 0;
    let firstMs = 0;
    let figures = '';
    const t0 = performance.now();
    const onToken = () => {
      const ms = performance.now() - t0;
      tokens++;
      if (tokens === 1) firstMs = ms;
      figures = showSpeed(column, tokens, firstMs, ms);
    };
    try {
      const generation = model.generate(prompt, { ...options, onToken, signal });
      for await (const piece of generation) output.append(piece);
      const result = await generation;
      column.dataset.text = result.text;
      column.dataset.finishReason = result.finishReason;
      setState(column, 'done');
    } catch (e) {
      if (signal.aborted) {
        column.dataset.text = output.textContent ?? '';
        setState(column, 'stopped');
        field(column, 'speed').textContent = tokens > 0 ? `stopped: ${figures}` : 'stopped before the first token';
      } else {
        error.textContent = messageOf(e);
        error.hidden = false;
        column.dataset.error = messageOf(e);
        if (tokens === 0) field(column, 'speed').textContent = 'no tokens';
        setState(column, 'error');
      }
    }
    try {
      showMemory(column, model, tokens > 0 ? heldTokens(model, prompt, tokens) : undefined);
    } catch {
      // A model whose device was lost has no memory to report; its column already says why.
    }
  }

  ui.generate.addEventListener('click', () => void generate());
  ui.stop.addEventListener('click', () =>
    controller?.abort(new DOMException('Generation stopped by the user.', 'AbortError')),
  );
  ui.prompt.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void generate();
    }
  });

  return {
    updateControls,
    forget() {
      controller?.abort(new DOMException('The GPU device was lost.', 'AbortError'));
      // FP32 holds a device of its own, which only dispose() releases.
      models?.int8.dispose();
      models?.fp32.dispose();
      models = undefined;
      updateControls();
    },
  };
}

/**
 * First-token latency (the prompt's pass and one choice) and the rate of the tokens after it, each
 * step's whole cost: the model, reading back the choice and handing the text to the page.
 */
function showSpeed(column: HTMLElement, tokens: number, firstMs: number, lastMs: number): string {
  column.dataset.tokens = String(tokens);
  column.dataset.firstTokenMs = String(firstMs);
  let figures = `${tokens} token${tokens === 1 ? '' : 's'} · first token after ${formatMs(firstMs)}`;
  if (tokens > 1) {
    const perSecond = ((tokens - 1) * 1000) / Math.max(lastMs - firstMs, 1e-3);
    column.dataset.tokensPerSecond = String(perSecond);
    figures += ` · then ${perSecond.toFixed(1)} tokens/s`;
  }
  field(column, 'speed').textContent = figures;
  return figures;
}

/**
 * Tokens whose K and V the cache holds after `generated` new tokens: the prompt and every new token
 * but the last, which is chosen and never fed back. Undefined when the tokenizer cannot say.
 */
function heldTokens(model: TextModel, prompt: string, generated: number): number | undefined {
  const tokenizer = model.tokenizer as { encode?: (text: string) => number[] };
  if (typeof tokenizer.encode !== 'function') return undefined;
  return tokenizer.encode(prompt).length + generated - 1;
}

/**
 * KV cache and weights of one model. A model without a cache says so: the float language model
 * reruns the whole sequence for every new token, so it holds no K and V between steps.
 */
function showMemory(column: HTMLElement, model: TextModel, held?: number): void {
  const m = model.memory();
  const kv = field(column, 'kv');
  if (m.kvCacheBytes !== undefined && m.kvBytesPerToken !== undefined) {
    const kind = model.kind === 'int8' ? 'int8 K and V' : 'K and V';
    let text = `KV cache (${kind}): ${formatBytes(m.kvBytesPerToken)} per token · ${formatBytes(m.kvCacheBytes)} allocated`;
    if (held !== undefined) text += ` · this text: ${held} tokens, ${formatBytes(held * m.kvBytesPerToken)}`;
    kv.textContent = text;
    column.dataset.kvCacheBytes = String(m.kvCacheBytes);
    column.dataset.kvBytesPerToken = String(m.kvBytesPerToken);
  } else {
    // What a float32 cache of this model would need: K and V, every layer, 4 bytes a value.
    const c = model.config as DecoderConfig;
    const fp32PerToken = 2 * c.numLayers * c.hiddenSize * 4;
    kv.textContent =
      `no KV cache (recomputes the whole sequence for every token); ` +
      `a float32 cache would take ${formatBytes(fp32PerToken)} per token`;
    delete column.dataset.kvCacheBytes;
    delete column.dataset.kvBytesPerToken;
  }
  field(column, 'weights').textContent =
    `weights ${formatBytes(m.weightBytes)} · activations ${formatBytes(m.activationBytes)}`;
  column.dataset.weightBytes = String(m.weightBytes);
  column.dataset.activationBytes = String(m.activationBytes);
}
