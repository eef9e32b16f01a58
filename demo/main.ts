/**
 * The demo page: loads a model as INT8 and FP32 on one GPU device, classifies what the user types
 * with both, and shows per-kernel GPU time and GPU memory side by side. This module orchestrates;
 * engine.ts talks to the library, charts.ts and predictions.ts draw, drop-zone.ts collects files.
 *
 * Every async path ends in `finally` blocks that re-enable the controls, and every error lands in
 * the visible message area: the page must never sit there disabled.
 */
import {
  describeConfig,
  formatDeviceReport,
  type Gpu,
  GpuDeviceLostError,
  GpuUnavailableError,
  type Precision,
  requestGpu,
  type TextModel,
} from '../src/index.js';
import { type ProfileOutcome, renderKernelCharts, renderMemory } from './charts.js';
import { filesFromInput, wireDropZone } from './drop-zone.js';
import { type DemoSource, type LoadedPair, loadPair, type PairProgress } from './engine.js';
import { wireGenerationPanel } from './generate-panel.js';
import { clearPrediction, showNote, showPrediction } from './predictions.js';
import { wireTranslationPanel } from './translate-panel.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`demo page: no element #${id}`);
  return e as T;
};

const ui = {
  message: $('message'),
  modelName: $('model-name'),
  progress: $<HTMLProgressElement>('progress'),
  status: $('status'),
  dropZone: $('drop-zone'),
  pickFolder: $<HTMLButtonElement>('pick-folder'),
  pickFiles: $<HTMLButtonElement>('pick-files'),
  folderInput: $<HTMLInputElement>('folder-input'),
  fileInput: $<HTMLInputElement>('file-input'),
  builtin: $<HTMLButtonElement>('builtin'),
  text: $<HTMLTextAreaElement>('text'),
  run: $<HTMLButtonElement>('run'),
  panels: { int8: $('pred-int8'), fp32: $('pred-fp32') } satisfies Record<Precision, HTMLElement>,
  kernels: $('kernels'),
  memory: $('memory'),
  device: $('device'),
};

/** Typing pauses this long before the models run: SwiftShader takes a while per forward. */
const DEBOUNCE_MS = 400;

let gpu: Gpu | undefined;
let pair: (LoadedPair & { source: DemoSource }) | undefined;
let loading = false;

/** Text generation has its own models, loaded on first use, on the same device. */
const generation = wireGenerationPanel({ gpu: () => gpu });
/** So has translation. */
const translation = wireTranslationPanel({ gpu: () => gpu });

type PageState = 'loading' | 'ready' | 'error';
function setState(state: PageState): void {
  document.body.dataset.state = state;
}

/** A transient message (a failed run, a drop refused while loading) is cleared by the next good run; others stay. */
let messageKind: 'transient' | 'sticky' = 'sticky';

function showError(title: string, detail: string, kind: 'transient' | 'sticky' = 'sticky'): void {
  messageKind = kind;
  const b = document.createElement('b');
  b.textContent = title;
  const d = document.createElement('span');
  d.textContent = detail;
  ui.message.replaceChildren(b, ' ', d);
  ui.message.hidden = false;
}

function clearError(): void {
  ui.message.hidden = true;
  ui.message.replaceChildren();
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Controls usable now: the text box needs a model; pickers need a GPU and no load in flight. */
function updateControls(): void {
  const canLoad = gpu !== undefined && !loading;
  ui.text.disabled = !pair;
  ui.run.disabled = !pair; // the current models keep answering while another one loads
  ui.pickFolder.disabled = !canLoad;
  ui.pickFiles.disabled = !canLoad;
  ui.builtin.disabled = !canLoad || pair?.source === 'default';
  generation.updateControls();
  translation.updateControls();
}

const STAGES: PairProgress['stage'][] = ['download', 'convert', 'compile', 'ready'];
/** Share of the whole load that each precision's stages fill: INT8 (maybe converting) is most of it. */
const SPAN: Record<Precision, [number, number]> = { int8: [0, 0.8], fp32: [0.8, 1] };

function showProgress(p: PairProgress): void {
  // One bar for the whole load: each precision fills its span, stage by stage.
  const [from, to] = SPAN[p.precision];
  const i = STAGES.indexOf(p.stage);
  const within = p.stage === 'ready' ? 1 : (i + Math.max(0, Math.min(1, p.fraction))) / (STAGES.length - 1);
  // Never backwards: the library may report a stage before the downloads it triggers (FP32 from URLs).
  ui.progress.value = Math.max(ui.progress.value, from + (to - from) * within);
  // The library's convert messages are terse ("calibrating 48/128"): say what is being converted.
  const message = p.stage === 'convert' ? `converting to INT8, ${p.message}` : p.message;
  ui.status.textContent = `${p.precision === 'int8' ? 'INT8' : 'FP32'}: ${message}`;
}

function describeSource(source: DemoSource): string {
  if (source === 'default') return 'built-in: sst2-bert-tiny (SST-2 sentiment)';
  if (source.length === 1) return `yours: ${source[0].name}`;
  // A folder (picked or dropped) names its files "folder/...": show the folder, else count the files.
  const path = source[0]?.webkitRelativePath ?? '';
  return `yours: ${path.includes('/') ? path.split('/')[0] : `${source.length} files`}`;
}

function describeModel(s: TextModel): string {
  const c = s.config;
  if (c.task === 'translation' || c.task === 'text-generation') return `${describeConfig(c)}, ${c.task}`;
  const task = c.task === 'sequence-classification' ? `labels ${c.labels.join(' / ')}` : 'sentence embeddings';
  return `${c.architecture}, ${c.numLayers} layers x ${c.hiddenSize}, ${task}`;
}

async function load(source: DemoSource): Promise<void> {
  if (!gpu) return;
  if (loading) {
    // Pickers are disabled while loading, but a drop can still arrive.
    showError('A model is loading.', 'Drop your model again when the current one is ready.', 'transient');
    return;
  }
  loading = true;
  setState('loading');
  updateControls();
  clearError();
  ui.progress.value = 0;
  ui.status.textContent = `loading ${describeSource(source)}…`;
  try {
    const next = await loadPair(gpu, source, showProgress);
    // The previous models stay usable until the new ones have loaded, so a bad folder costs nothing.
    disposePair();
    pair = { ...next, source };
    ui.modelName.textContent = describeSource(source);
    ui.status.textContent = describeModel(next.int8);
    for (const p of ['int8', 'fp32'] as const) clearPrediction(ui.panels[p]);
    setState('ready');
  } catch (e) {
    const what = source === 'default' ? 'the built-in model' : 'your model';
    showError(`Could not load ${what}.`, messageOf(e));
    setState(pair ? 'ready' : 'error');
    ui.status.textContent = pair ? `still using ${describeSource(pair.source)}` : 'no model loaded';
    if (e instanceof GpuDeviceLostError) lostDevice(e);
  } finally {
    loading = false;
    updateControls();
    // A count of finished loads, so that a test (or a user script) can tell one attempt from the next.
    document.body.dataset.loads = String(Number(document.body.dataset.loads ?? 0) + 1);
  }
  if (pair) void classifyNow();
}

function disposePair(): void {
  pair?.int8.dispose();
  pair?.fp32?.dispose();
  pair = undefined;
}

function lostDevice(e: Error): void {
  showError('The GPU device was lost.', `${e.message}\nReload the page to start again.`);
  gpu = undefined;
  pair = undefined;
  generation.forget();
  translation.forget();
  setState('error');
}

// ---- classification ----------------------------------------------------------------------------

let running = false;
let rerun = false;
let debounce: ReturnType<typeof setTimeout> | undefined;

type CurrentPair = NonNullable<typeof pair>;

/** Runs both models on the current text; a request during a run is folded into one rerun after it. */
async function classifyNow(): Promise<void> {
  clearTimeout(debounce);
  if (!pair) return;
  if (running) {
    rerun = true;
    return;
  }
  running = true;
  document.body.dataset.busy = '';
  const current = pair;
  const text = ui.text.value;
  try {
    if (!text.trim()) {
      for (const p of ['int8', 'fp32'] as const) showNote(ui.panels[p], 'type some text');
      return;
    }
    await predict(current, text);
    await profile(current, text);
    renderMemory(ui.memory, { int8: current.int8.memory(), fp32: current.fp32?.memory() });
    if (messageKind === 'transient' && !ui.message.hidden) clearError();
  } catch (e) {
    if (e instanceof GpuDeviceLostError) lostDevice(e);
    // A model loaded (and the old one was disposed) while this ran: not an error, run again on the new one.
    else if (current !== pair) rerun = true;
    else showError('Could not classify this text.', messageOf(e), 'transient');
  } finally {
    running = false;
    delete document.body.dataset.busy;
    document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1); // for tests, like data-loads
    updateControls();
  }
  if (rerun && pair) {
    rerun = false;
    void classifyNow();
  }
}

function sessionsOf(current: CurrentPair): [Precision, TextModel | undefined][] {
  return [
    ['int8', current.int8],
    ['fp32', current.fp32],
  ];
}

/** Label, score and wall-clock latency per precision; embedding models show their INT8/FP32 cosine. */
async function predict(current: CurrentPair, text: string): Promise<void> {
  const embeddings: Partial<Record<Precision, Float32Array>> = {};
  for (const [p, s] of sessionsOf(current)) {
    const panel = ui.panels[p];
    if (!s) {
      showNote(panel, 'not available', { detail: current.fp32Missing });
    } else if (s.config.task === 'sequence-classification') {
      const t0 = performance.now();
      const [pred] = await s.classify(text);
      showPrediction(panel, { label: pred.label, score: pred.score, latencyMs: performance.now() - t0 });
    } else {
      const t0 = performance.now();
      const [v] = await s.embed(text);
      embeddings[p] = v;
      showNote(panel, `embedding, ${v.length} values`, { latencyMs: performance.now() - t0, detail: 'mean-pooled' });
    }
    panel.dataset.text = text;
  }
  if (embeddings.int8 && embeddings.fp32) {
    showNote(ui.panels.int8, `embedding, ${embeddings.int8.length} values`, {
      latencyMs: Number(ui.panels.int8.dataset.latencyMs),
      detail: `cosine to FP32 ${cosine(embeddings.int8, embeddings.fp32).toFixed(4)}`,
    });
  }
}

/** One timed forward per precision for the kernel chart; a missing timestamp feature is a note, not an error. */
async function profile(current: CurrentPair, text: string): Promise<void> {
  const outcomes: Partial<Record<Precision, ProfileOutcome>> = {};
  for (const [p, s] of sessionsOf(current)) {
    if (!s) continue;
    try {
      outcomes[p] = { profile: await s.profile(text) };
    } catch (e) {
      if (e instanceof GpuDeviceLostError) throw e;
      outcomes[p] = { error: messageOf(e) };
    }
  }
  renderKernelCharts(ui.kernels, outcomes);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb || 1);
}

// ---- wiring ------------------------------------------------------------------------------------

function wire(): void {
  ui.run.addEventListener('click', () => void classifyNow());
  ui.text.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void classifyNow(), DEBOUNCE_MS);
  });
  ui.text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void classifyNow();
    }
  });
  ui.pickFolder.addEventListener('click', () => ui.folderInput.click());
  ui.pickFiles.addEventListener('click', () => ui.fileInput.click());
  for (const input of [ui.folderInput, ui.fileInput]) {
    input.addEventListener('change', () => {
      const files = filesFromInput(input);
      input.value = ''; // choosing the same folder again must fire 'change' again
      if (files.length) void load(files);
    });
  }
  ui.builtin.addEventListener('click', () => void load('default'));
  wireDropZone(ui.dropZone, (files) => {
    files.then(
      (list) => (list.length ? load(list) : showError('Nothing to load.', 'The drop held no files.')),
      (e) => showError('Could not read the dropped files.', messageOf(e)),
    );
  });
}

async function main(): Promise<void> {
  wire();
  updateControls();
  // navigator.gpu is missing in browsers without WebGPU and on pages not served over https/localhost.
  if (!('gpu' in navigator) || !navigator.gpu) {
    showError(
      'WebGPU is not available in this browser.',
      'navigator.gpu is undefined. Use a recent Chrome or Edge (or a browser with WebGPU enabled), and open the page over https or from localhost.',
    );
    ui.status.textContent = 'no WebGPU';
    setState('error');
    return;
  }
  try {
    gpu = await requestGpu();
  } catch (e) {
    const title = e instanceof GpuUnavailableError ? 'WebGPU is not usable here.' : 'Could not start WebGPU.';
    showError(title, messageOf(e));
    ui.status.textContent = 'no WebGPU device';
    setState('error');
    return;
  }
  ui.device.textContent = formatDeviceReport(gpu);
  $('software-note').hidden = !gpu.adapter.isSoftware;
  void gpu.device.lost.then((info) => {
    if (info.reason !== 'destroyed') lostDevice(new Error(info.message || 'device lost'));
  });
  await load('default');
}

main().catch((e) => {
  // Last resort: anything not caught above still ends visible, never as a silent dead page.
  showError('The demo stopped.', messageOf(e));
  setState('error');
  updateControls();
});
