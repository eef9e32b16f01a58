/**
 * Calls that overlap on one model (classify-as-you-type does this): each must get its own answer,
 * the one it gets alone, whatever the interleaving. The encoders reuse their buffers, so the
 * session runs one call at a time; these tests fail if it does not (mixed or rejected answers).
 * Also cancellation with an AbortSignal.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  builtInModelUrl,
  type GenerationResult,
  loadModel,
  type ModelFiles,
  type Prediction,
  type TextModel,
} from '../src/index.js';
import { folderSource } from '../src/model/sources-node.js';
import type { Int8Model } from '../src/session.js';
import { Random } from '../src/util/random.js';
import { testGpu } from './gpu.js';

const WORDS =
  'a gorgeous witty seductive movie the plot is nothing but boilerplate clichés from start to finish dull lifeless and far too long an utterly charming hilarious delight , .'.split(
    ' ',
  );

/** `n` calls, each a list of texts of different lengths (some pairs) and its own batch size. */
function calls(n: number, seed: number): { texts: (string | [string, string])[]; batchSize: number }[] {
  const rng = new Random(seed);
  const pick = (k: number) => rng.int(0, k - 1);
  const sentence = () => Array.from({ length: 1 + pick(40) }, () => WORDS[pick(WORDS.length)]).join(' ');
  return Array.from({ length: n }, () => ({
    texts: Array.from({ length: 1 + pick(6) }, () => (pick(5) === 0 ? [sentence(), sentence()] : sentence())),
    batchSize: 1 + pick(4),
  }));
}

const logitsOf = (preds: Prediction[]) => preds.map((p) => p.logits);

describe('overlapping calls on one model', { timeout: 600_000 }, () => {
  let model: TextModel;
  beforeAll(async () => {
    model = await loadModel();
  });
  afterAll(() => model?.dispose());

  it('50 overlapping classify calls (different lengths and batch sizes) each get their sequential answer', async () => {
    const work = calls(50, 1);
    const sequential: number[][][] = [];
    for (const c of work) sequential.push(logitsOf(await model.classify(c.texts, { batchSize: c.batchSize })));
    const overlapping = await Promise.allSettled(work.map((c) => model.classify(c.texts, { batchSize: c.batchSize })));
    const rejected = overlapping.flatMap((r, i) => (r.status === 'rejected' ? [`call ${i}: ${String(r.reason)}`] : []));
    expect(rejected).toEqual([]);
    overlapping.forEach((r, i) =>
      expect(logitsOf((r as PromiseFulfilledResult<Prediction[]>).value), `call ${i}`).toEqual(sequential[i]),
    );
  });

  it('classify, profile and classify again overlap without mixing', async () => {
    const [a, b] = [
      'a gorgeous , witty , seductive movie .',
      'dull , lifeless and far too long , the plot is nothing but boilerplate',
    ];
    const alone = [logitsOf(await model.classify(a)), logitsOf(await model.classify(b))];
    const [ra, profile, rb] = await Promise.all([model.classify(a), model.profile([a, b]), model.classify(b)]);
    expect([logitsOf(ra), logitsOf(rb)]).toEqual(alone);
    expect(profile.kernels.length).toBeGreaterThan(10);
  });

  it('a call aborted before it starts never runs; one aborted between batches stops there; the queue goes on', async () => {
    const encoder = (model as Int8Model).encoder;
    const realForward = encoder.forward.bind(encoder);
    const forward = vi.spyOn(encoder, 'forward');
    try {
      // Aborted before the call: rejected with the signal's reason, nothing run.
      const reason = new Error('user moved on');
      await expect(model.classify('too late', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(forward).not.toHaveBeenCalled();

      // Aborted while waiting behind another call: rejected, never run; the calls around it are unaffected.
      const first = model.classify(['one call', 'runs first'], { batchSize: 1 });
      const waiting = new AbortController();
      const second = model.classify('never runs', { signal: waiting.signal });
      const third = model.classify('runs third');
      waiting.abort();
      await expect(second).rejects.toMatchObject({ name: 'AbortError' });
      expect((await first).length).toBe(2);
      expect((await third).length).toBe(1);
      expect(forward).toHaveBeenCalledTimes(3);

      // Aborted while its first batch runs: no second batch.
      forward.mockClear();
      const midway = new AbortController();
      forward.mockImplementationOnce((...args) => {
        midway.abort(new Error('stop after this batch'));
        return realForward(...args);
      });
      await expect(model.classify(['b1', 'b2', 'b3', 'b4'], { batchSize: 1, signal: midway.signal })).rejects.toThrow(
        'stop after this batch',
      );
      expect(forward).toHaveBeenCalledTimes(1);
    } finally {
      forward.mockRestore();
    }
    // The model is still usable and right.
    const again = await model.classify(['a gorgeous , witty , seductive movie .']);
    expect(again[0].label).toBe('POSITIVE');
  });

  it('dispose while calls are queued: the call in flight finishes, queued ones reject, memory() is zero', async () => {
    const gpu = await testGpu();
    const m = await loadModel('default', { gpu });
    const inFlight = m.classify('a gorgeous , witty , seductive movie .');
    const queued = m.classify('queued behind it');
    m.dispose();
    expect(m.memory()).toEqual({ weightBytes: 0, activationBytes: 0 });
    expect((await inFlight)[0].label).toBe('POSITIVE');
    await expect(queued).rejects.toThrow(/classify: this int8 model was disposed/);
    await expect(m.classify('after')).rejects.toThrow(/this int8 model was disposed/);
    await expect(m.profile('after')).rejects.toThrow(/profile: this int8 model was disposed/);
    expect(() => gpu.assertAlive()).not.toThrow();
  });
});

describe('overlapping embed calls', { timeout: 600_000 }, () => {
  it('20 overlapping embed calls (int8 and fp32) on an embedding model each get their sequential vectors', async () => {
    const gpu = await testGpu();
    // The built-in checkpoint read as a bare encoder (BertModel): a small embedding model, converted
    // on a few texts; its classifier head goes unused.
    const folder = folderSource(fileURLToPath(builtInModelUrl('fp32')));
    const config = JSON.parse(new TextDecoder().decode(await folder.read('config.json')));
    const encoderOnly: ModelFiles = {
      describe: 'built-in checkpoint as BertModel',
      has: (name) => folder.has(name),
      read: async (name) =>
        name === 'config.json'
          ? new TextEncoder().encode(JSON.stringify({ ...config, architectures: ['BertModel'] }))
          : folder.read(name),
    };
    const models = [
      await loadModel(encoderOnly, { gpu, calibration: WORDS.slice(0, 8) }),
      await loadModel(encoderOnly, { gpu, precision: 'fp32' }),
    ];
    try {
      for (const model of models) {
        const work = calls(20, 2);
        const sequential: number[][][] = [];
        for (const c of work)
          sequential.push((await model.embed(c.texts, { batchSize: c.batchSize })).map((v) => Array.from(v)));
        const overlapping = await Promise.all(work.map((c) => model.embed(c.texts, { batchSize: c.batchSize })));
        overlapping.forEach((vs, i) =>
          expect(
            vs.map((v) => Array.from(v)),
            `${model.kind} call ${i}`,
          ).toEqual(sequential[i]),
        );
      }
    } finally {
      models.forEach((m) => m.dispose());
    }
  });
});

describe('overlapping generate calls', { timeout: 600_000 }, () => {
  it('50 overlapping generate / generateBatch calls (prompt lengths, new tokens, greedy and seeded sampling) on the built-in GPT-2 each get their sequential result', async () => {
    const model = await loadModel(builtInModelUrl('int8', 'generate'), { gpu: await testGpu() });
    try {
      const rng = new Random(4);
      const captionWords = 'a man woman dog in the red blue shirt is running on grass street with two children'.split(
        ' ',
      );
      const prompt = () =>
        Array.from({ length: 1 + rng.int(0, 12) }, () => captionWords[rng.int(0, captionWords.length - 1)]).join(' ');
      const work = Array.from({ length: 50 }, () => {
        const options = {
          maxNewTokens: 1 + rng.int(0, 5),
          stopAtEos: false,
          ...(rng.int(0, 2) === 0 ? { temperature: 1, topK: 20, seed: rng.int(0, 1000) } : {}),
        };
        return rng.int(0, 4) === 0 ? { prompts: [prompt(), prompt()], options } : { prompts: [prompt()], options };
      });
      const run = (w: (typeof work)[number]) =>
        w.prompts.length === 1
          ? model.generate(w.prompts[0], w.options).then((r) => [r])
          : model.generateBatch(w.prompts, w.options);
      const sequential: GenerationResult[][] = [];
      for (const w of work) sequential.push(await run(w));
      const overlapping = await Promise.allSettled(work.map(run));
      const rejected = overlapping.flatMap((r, i) =>
        r.status === 'rejected' ? [`call ${i}: ${String(r.reason)}`] : [],
      );
      expect(rejected).toEqual([]);
      overlapping.forEach((r, i) =>
        expect((r as PromiseFulfilledResult<unknown>).value, `call ${i}`).toEqual(sequential[i]),
      );
    } finally {
      model.dispose();
    }
  });
});
