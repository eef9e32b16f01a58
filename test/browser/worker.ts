/**
 * Models in Web Workers, for test/worker.test.ts: the built-in classifier on the page's thread,
 * then through createWorkerModel (its default blob worker, and a worker script of the page's own),
 * and loadModel called in a plain worker with a URL relative to the worker. Results go to
 * window.__worker.
 */
import { builtInModelUrl, createWorkerModel, type LoadProgress, loadModel } from '../../src/index.js';

type Classified = { labels: string[]; logits: number[][] };

interface WorkerPageResult {
  done: boolean;
  error?: string;
  main?: Classified;
  /** createWorkerModel() with its own worker: the built-in model. */
  helper?: Classified & { stages: string[]; kind: string; capabilities: string[]; weightBytes: number };
  /** Errors thrown in the worker, as the page sees them. */
  errors?: { wrongMethod: string; aborted: string; afterDispose: string; badSource: string };
  /** createWorkerModel with the page's own worker script and a source relative to the page. */
  ownWorker?: Classified;
  /** The built-in GPT-2 in a worker: streamed pieces, onToken events, the awaited result, the batch call. */
  generate?: { pieces: string[]; tokenEvents: number; text: string; tokens: number[]; batch: number[][] };
  /** loadModel in a plain worker, with a URL relative to the worker's script. */
  relative?: Classified & { error?: string };
}

declare global {
  interface Window {
    __worker: WorkerPageResult;
  }
}

const SENTENCES = ['a gorgeous , witty , seductive movie .', 'the worst film of the year , dull and lifeless .'];
const state: WorkerPageResult = { done: false };
window.__worker = state;
const log = document.getElementById('log')!;

const classified = (preds: { label: string; logits: number[] }[]): Classified => ({
  labels: preds.map((p) => p.label),
  logits: preds.map((p) => p.logits),
});
const messageOf = (p: Promise<unknown>) =>
  p.then(
    () => 'no error',
    (e: Error) => `${e.name}: ${e.message}`,
  );

async function main(): Promise<void> {
  const model = await loadModel();
  state.main = classified(await model.classify(SENTENCES));
  model.dispose();
  log.textContent = `main thread: ${state.main.labels.join(', ')}`;

  const stages: string[] = [];
  const helper = await createWorkerModel(undefined, { onProgress: (p: LoadProgress) => stages.push(p.stage) });
  state.helper = {
    ...classified(await helper.classify(SENTENCES)),
    stages,
    kind: helper.kind,
    capabilities: [...helper.capabilities],
    weightBytes: (await helper.memory()).weightBytes,
  };
  const controller = new AbortController();
  // Handled from the start: the rejection comes before the await below.
  const aborted = messageOf(helper.classify(SENTENCES, { signal: controller.signal }));
  controller.abort(new Error('stopped by the page'));
  state.errors = {
    wrongMethod: await messageOf(helper.embed(SENTENCES)),
    aborted: await aborted,
    afterDispose: '',
    badSource: await messageOf(createWorkerModel('/models/no-such-model.i8t')),
  };
  helper.dispose();
  state.errors.afterDispose = await messageOf(helper.classify(SENTENCES));
  log.textContent += `\nworker helper: ${state.helper.labels.join(', ')}`;

  const own = await createWorkerModel('../../models/sst2-bert-tiny.i8t', {
    worker: new Worker(new URL('./serve-worker.ts', import.meta.url), { type: 'module' }),
  });
  state.ownWorker = classified(await own.classify(SENTENCES));
  own.dispose();

  const lm = await createWorkerModel(builtInModelUrl('int8', 'generate'));
  const pieces: string[] = [];
  let tokenEvents = 0;
  const options = { maxNewTokens: 6, stopAtEos: false };
  const generation = lm.generate('a man in a blue shirt', { ...options, onToken: () => tokenEvents++ });
  for await (const piece of generation) pieces.push(piece);
  const result = await generation;
  const batch = await lm.generateBatch(['a man in a blue shirt'], options);
  state.generate = { pieces, tokenEvents, text: result.text, tokens: result.tokens, batch: batch.map((r) => r.tokens) };
  lm.dispose();

  const plain = new Worker(new URL('./relative-worker.ts', import.meta.url), { type: 'module' });
  state.relative = await new Promise((resolve, reject) => {
    plain.onmessage = (e) => resolve(e.data);
    plain.onerror = (e) => reject(new Error(`relative-worker: ${e.message}`));
    plain.postMessage(SENTENCES);
  });
  plain.terminate();
}

main()
  .catch((e: Error) => (state.error = e.stack ?? e.message))
  .finally(() => {
    state.done = true;
    log.textContent += state.error ? `\nerror: ${state.error}` : '\ndone';
  });
