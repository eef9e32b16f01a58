/**
 * The library in a page: the built-in integer model loaded from its file, and (when the test
 * passes ?shared=<url of ../shared>) a Hugging Face folder converted in the browser from URLs.
 * Results go to window.__model for test/browser.test.ts.
 */
import {
  convertModel,
  Int8Model,
  loadModel,
  parseGlueTsv,
  requestGpu,
  type TextModel,
  urlSource,
} from '../../src/index.js';

interface ModelPageResult {
  done: boolean;
  error?: string;
  builtIn?: { labels: string[]; logits: number[][] };
  /** 50 overlapping classify calls on one model, each compared with the same call made alone. */
  overlap?: Overlap;
  /** The same for 50 overlapping generate calls on the built-in GPT-2. */
  generateOverlap?: Overlap;
  converted?: { labels: string[]; logits: number[][]; calibration: number };
}

declare global {
  interface Window {
    __model: ModelPageResult;
  }
}

export const SENTENCES = ['a gorgeous , witty , seductive movie .', 'the worst film of the year , dull and lifeless .'];

const state: ModelPageResult = { done: false };
window.__model = state;
const log = document.getElementById('log')!;

async function main(): Promise<void> {
  const gpu = await requestGpu();
  const bytes = new Uint8Array(await (await fetch('/models/sst2-bert-tiny.i8t')).arrayBuffer());
  const builtIn = await Int8Model.fromBytes(gpu, bytes, 'built-in model');
  const preds = await builtIn.classify(SENTENCES);
  state.builtIn = { labels: preds.map((p) => p.label), logits: preds.map((p) => p.logits) };
  state.overlap = await overlappingCalls(builtIn, 50);
  builtIn.dispose();
  log.textContent = `built-in: ${state.builtIn.labels.join(', ')}`;
  const lmBytes = new Uint8Array(await (await fetch('/models/multi30k-gpt2-tiny.i8t')).arrayBuffer());
  const lm = await loadModel(lmBytes, { gpu });
  state.generateOverlap = await overlappingGenerate(lm, 50);
  lm.dispose();

  const shared = new URLSearchParams(location.search).get('shared');
  if (shared) {
    const tsv = await (await fetch(`${shared}/data/glue/sst2/train_calib1000.tsv`)).text();
    const calibration = parseGlueTsv(tsv)
      .rows.slice(0, 8)
      .map((r) => r.input);
    const file = await convertModel(gpu, urlSource(`${shared}/models/sst2-bert-tiny/`), {
      calibration,
      onProgress: (s, d, t) => (log.textContent = `${s} ${d}/${t}`),
    });
    const converted = await Int8Model.fromFile(gpu, file);
    const p2 = await converted.classify(SENTENCES);
    state.converted = {
      labels: p2.map((p) => p.label),
      logits: p2.map((p) => p.logits),
      calibration: calibration.length,
    };
    converted.dispose();
  }
  gpu.destroy();
}

type Overlap = { calls: number; mismatched: number[]; errors: string[] };

/** A seeded pick in [0, k) (an LCG: the page has no test helpers). */
function picker(seed: number): (k: number) => number {
  return (k) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % k;
  };
}

/**
 * `work` run one call after another, then all at once (as classify-as-you-type does): each
 * overlapping call must get the answer it got alone (compared by `key`).
 */
async function overlapping<W, R>(work: W[], call: (w: W) => Promise<R>, key: (r: R) => string): Promise<Overlap> {
  const alone: string[] = [];
  for (const w of work) alone.push(key(await call(w)));
  const settled = await Promise.allSettled(work.map(call));
  const mismatched: number[] = [];
  const errors: string[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'rejected') errors.push(`call ${i}: ${String(r.reason)}`);
    else if (key(r.value) !== alone[i]) mismatched.push(i);
  });
  return { calls: work.length, mismatched, errors };
}

/** Classify calls of different lengths and batch sizes. */
function overlappingCalls(model: Int8Model, n: number): Promise<Overlap> {
  const words =
    'a gorgeous witty seductive movie the plot is nothing but boilerplate clichés dull lifeless and far too long , .'.split(
      ' ',
    );
  const pick = picker(7);
  const sentence = () => Array.from({ length: 1 + pick(30) }, () => words[pick(words.length)]).join(' ');
  const work = Array.from({ length: n }, () => ({
    texts: Array.from({ length: 1 + pick(5) }, sentence),
    batchSize: 1 + pick(3),
  }));
  return overlapping(
    work,
    (w) => model.classify(w.texts, { batchSize: w.batchSize }),
    (preds) => JSON.stringify(preds.map((p) => p.logits)),
  );
}

/** Generations of different prompts, lengths and sampling seeds. */
function overlappingGenerate(model: TextModel, n: number): Promise<Overlap> {
  const words = 'a man woman dog in the red blue shirt is running on grass street with two children'.split(' ');
  const pick = picker(11);
  const work = Array.from({ length: n }, () => ({
    prompt: Array.from({ length: 1 + pick(10) }, () => words[pick(words.length)]).join(' '),
    options: {
      maxNewTokens: 1 + pick(3),
      stopAtEos: false,
      ...(pick(3) === 0 ? { temperature: 1, topK: 20, seed: pick(1000) } : {}),
    },
  }));
  return overlapping(
    work,
    async (w) => await model.generate(w.prompt, w.options),
    (r) => JSON.stringify([r.tokens, r.text]),
  );
}

main()
  .catch((e: Error) => (state.error = e.stack ?? e.message))
  .finally(() => {
    state.done = true;
    log.textContent += state.error ? `\nerror: ${state.error}` : '\ndone';
  });
