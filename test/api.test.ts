/** The public API as a user calls it: loadModel() from every kind of source, classify, profile, memory, dispose. */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { modelName } from '../src/convert.js';
import type { EncoderConfig } from '../src/core/types.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import {
  builtInModelUrl,
  clearCache,
  convertModel,
  DEFAULT_CALIBRATION,
  type LoadProgress,
  loadModel,
  type ModelFiles,
  writeIntModelFile,
} from '../src/index.js';
import { folderIdentity, folderSource } from '../src/model/sources-node.js';
import type { EncoderTokenizer } from '../src/model/tokenizer.js';
import type { Int8Model } from '../src/session.js';
import { testGpu } from './gpu.js';

const int8Path = fileURLToPath(builtInModelUrl('int8'));
const floatPath = fileURLToPath(builtInModelUrl('fp32'));
const texts = [
  'a gorgeous , witty , seductive movie .',
  'the plot is nothing but boilerplate clichés from start to finish .',
];
// Conversions calibrate on other sentences than the ones they are then scored on.
const calibration = DEFAULT_CALIBRATION.slice(0, 16);

describe('loadModel', { timeout: 300_000 }, () => {
  it('loads the built-in model with no arguments and classifies; dispose releases it (and its own device)', async () => {
    const stages: LoadProgress['stage'][] = [];
    const model = await loadModel(undefined, { onProgress: (p) => stages.push(p.stage) });
    expect(model.kind).toBe('int8');
    expect(stages[0]).toBe('compile');
    expect(stages.at(-1)).toBe('ready');
    const [one] = await model.classify(texts[0]);
    expect(one.label).toBe('POSITIVE');
    expect(one.score).toBeGreaterThan(0.5);
    const both = await model.classify(texts);
    expect(both.map((p) => p.label)).toEqual(['POSITIVE', 'NEGATIVE']);
    expect(both[0].logits).toEqual(one.logits);
    expect(model.memory().weightBytes).toBeGreaterThan(1e6);
    model.dispose();
    model.dispose();
    expect(model.memory()).toEqual({ weightBytes: 0, activationBytes: 0 });
    await expect(model.classify(texts)).rejects.toThrow(/classify: this int8 model was disposed/);
  });

  it('the built-in float twin agrees with the integer model; INT8 weights take under a third of FP32 GPU bytes', async () => {
    const gpu = await testGpu();
    const int8 = await loadModel('default', { gpu });
    const fp32 = await loadModel('default', { gpu, precision: 'fp32' });
    try {
      expect(fp32.kind).toBe('fp32');
      const a = await int8.classify(texts);
      const b = await fp32.classify(texts);
      expect(a.map((p) => p.label)).toEqual(b.map((p) => p.label));
      for (let i = 0; i < texts.length; i++)
        for (let c = 0; c < 2; c++) expect(Math.abs(a[i].logits[c] - b[i].logits[c])).toBeLessThan(0.15);
      const m8 = int8.memory();
      const m32 = fp32.memory();
      expect(m8.weightBytes).toBeGreaterThan(1e6);
      expect(m8.weightBytes).toBeLessThan(m32.weightBytes / 3);
      // Activations are sized for the run: at least the attention scores (4 bytes each) of the batch just classified.
      const { batch, seqLen } = (int8.tokenizer as EncoderTokenizer).encodeBatch(texts);
      const scores = batch * (int8.config as EncoderConfig).numHeads * seqLen * seqLen * 4;
      expect(m8.activationBytes).toBeGreaterThanOrEqual(scores);
      expect(m32.activationBytes).toBeGreaterThanOrEqual(scores);
    } finally {
      int8.dispose();
      fp32.dispose();
    }
    // A shared device outlives the models that used it.
    expect(() => gpu.assertAlive()).not.toThrow();
  });

  it('profile(): one GPU time per dispatch, grouped by kernel family', async () => {
    const gpu = await testGpu();
    const model = await loadModel('default', { gpu });
    try {
      const profile = await model.profile(texts);
      expect(profile.kernels.length).toBeGreaterThan(10);
      expect(profile.totalMs).toBeCloseTo(
        profile.kernels.reduce((t, k) => t + k.ms, 0),
        6,
      );
      const families = profile.families.map((f) => f.family);
      expect(families).toEqual(expect.arrayContaining(['gemm-i8', 'attention-i8', 'layernorm-i8', 'embedding-i8']));
      // Every dispatch is there: one embedding, one fused attention per layer, LayerNorms after the embedding and twice per layer.
      const L = (model.config as EncoderConfig).numLayers;
      const dispatches = Object.fromEntries(profile.families.map((f) => [f.family, f.dispatches]));
      expect([dispatches['embedding-i8'], dispatches['attention-i8'], dispatches['layernorm-i8']]).toEqual([
        1,
        L,
        2 * L + 1,
      ]);
      expect(profile.families.reduce((n, f) => n + f.dispatches, 0)).toBe(profile.kernels.length);
      const sorted = profile.families.map((f) => f.ms);
      expect(sorted).toEqual([...sorted].sort((x, y) => y - x));
    } finally {
      model.dispose();
    }
  });

  it('takes a path, a file: URL, bytes, an ArrayBuffer, one File or a fetched URL and gets identical logits', async () => {
    const gpu = await testGpu();
    const bytes = new Uint8Array(readFileSync(int8Path));
    const downloads: LoadProgress[] = [];
    const fakeFetch = async (url: string) => {
      expect(url).toBe('https://models.test/m/tiny.i8t');
      return new Response(bytes, { headers: { 'content-length': String(bytes.byteLength) } });
    };
    const sources = [
      () => loadModel(int8Path, { gpu }),
      () => loadModel(builtInModelUrl('int8'), { gpu }),
      () => loadModel(bytes, { gpu }),
      () => loadModel(bytes.slice().buffer, { gpu }),
      () => loadModel([new File([bytes], 'tiny.i8t')], { gpu }),
      () =>
        loadModel('https://models.test/m/tiny.i8t', { gpu, fetch: fakeFetch, onProgress: (p) => downloads.push(p) }),
    ];
    let first: number[] | undefined;
    for (const load of sources) {
      const model = await load();
      const [p] = await model.classify(texts[1]);
      model.dispose();
      first ??= p.logits;
      expect(p.logits).toEqual(first);
    }
    const dl = downloads.filter((p) => p.stage === 'download');
    expect(dl.length).toBeGreaterThan(0);
    expect(dl.at(-1)!.fraction).toBe(1);
    expect(dl.at(-1)!.message).toMatch(/tiny\.i8t: 4\.7 of 4\.7 MB/);
  });

  it('converts a Hugging Face folder to int8 on the fly, reporting conversion progress', async () => {
    const gpu = await testGpu();
    const seen: LoadProgress[] = [];
    const model = await loadModel(floatPath, { gpu, calibration, onProgress: (p) => seen.push(p) });
    try {
      expect(model.kind).toBe('int8');
      const [p] = await model.classify(texts[0]);
      expect(p.label).toBe('POSITIVE');
      const stages = [...new Set(seen.map((s) => s.stage))];
      expect(stages).toEqual(['convert', 'compile', 'ready']);
      expect(seen.every((s) => s.fraction >= 0 && s.fraction <= 1)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it('a folder by URL: every download comes first, with progress, and each file is fetched once', async () => {
    const gpu = await testGpu();
    const gets: string[] = [];
    const hubFetch = async (url: string, init?: RequestInit) => {
      const name = decodeURIComponent(url.replace('https://hub.test/tiny/', ''));
      let body: Uint8Array<ArrayBuffer>;
      try {
        body = new Uint8Array(readFileSync(`${floatPath}/${name}`));
      } catch {
        return new Response('missing', { status: 404 });
      }
      if (init?.method === 'HEAD') return new Response(null, { status: 200 });
      gets.push(name);
      return new Response(body, { headers: { 'content-length': String(body.byteLength) } });
    };
    for (const precision of ['int8', 'fp32'] as const) {
      gets.length = 0;
      const seen: LoadProgress[] = [];
      const model = await loadModel('https://hub.test/tiny/', {
        gpu,
        precision,
        fetch: hubFetch,
        calibration,
        onProgress: (p) => seen.push(p),
      });
      try {
        expect((await model.classify(texts[0]))[0].label).toBe('POSITIVE');
      } finally {
        model.dispose();
      }
      const stages = seen.map((p) => p.stage);
      expect(stages.lastIndexOf('download')).toBeLessThan(stages.findIndex((s) => s !== 'download'));
      expect([...new Set(stages)]).toEqual(
        precision === 'int8' ? ['download', 'convert', 'compile', 'ready'] : ['download', 'compile', 'ready'],
      );
      expect(seen.some((p) => p.stage === 'download' && /model\.safetensors: 8\.8 of 8\.8 MB/.test(p.message))).toBe(
        true,
      );
      expect(gets.filter((g) => g === 'tokenizer.json')).toHaveLength(1);
      expect(gets.filter((g) => g === 'model.safetensors')).toHaveLength(1);
    }
  });

  it('a folder converted once is loaded from the cache the second time (same logits, no calibration); cache: false, other calibration and a damaged entry convert again; a changed file changes the key; clearCache() empties it', async () => {
    const gpu = await testGpu();
    const setupDir = process.env.INT8_TRANSFORMER_CACHE!;
    expect(setupDir).toMatch(/int8-transformer-cache-/); // the test setup's, never the user's
    // A directory of this test's own: the other tests of this file store their conversions too.
    const cacheDir = join(setupDir, 'own');
    process.env.INT8_TRANSFORMER_CACHE = cacheDir;
    const folder = mkdtempSync(join(tmpdir(), 'cached-folder-'));
    cpSync(floatPath, folder, { recursive: true });
    const calib = DEFAULT_CALIBRATION.slice(0, 20);
    const load = async (options: { cache?: boolean; calibration?: typeof calib } = {}) => {
      const seen: LoadProgress[] = [];
      const model = await loadModel(folder, { gpu, calibration: calib, ...options, onProgress: (p) => seen.push(p) });
      try {
        const [p] = await model.classify(texts[0]);
        return { stages: [...new Set(seen.map((e) => e.stage))], seen, logits: p.logits };
      } finally {
        model.dispose();
      }
    };
    const entries = () => readdirSync(join(cacheDir, 'converted')).filter((n) => n.endsWith('.i8t'));
    const converted = ['convert', 'compile', 'ready'];
    const fromCache = ['cache', 'compile', 'ready'];

    const first = await load();
    expect(first.stages).toEqual(converted);
    // Calibration (16 + 4 texts) says how long it has left after its first batch.
    const eta = first.seen.filter((p) => p.etaSeconds !== undefined);
    expect(eta.length).toBeGreaterThan(0);
    expect(eta[0].message).toMatch(/16 of 20 texts, about \d+ s left/);
    expect(entries()).toHaveLength(1);

    const second = await load();
    expect(second.stages).toEqual(fromCache);
    expect(second.seen.find((p) => p.stage === 'cache')!.message).toContain(cacheDir);
    expect(second.logits).toEqual(first.logits);

    // Other calibration texts are another conversion; cache: false neither reads nor writes.
    const fewer = calib.slice(0, 4);
    expect((await load({ calibration: fewer, cache: false })).stages).toEqual(converted);
    expect(entries()).toHaveLength(1);
    const other = await load({ calibration: fewer });
    expect(other.stages).toEqual(converted);
    expect(entries()).toHaveLength(2);

    // A damaged entry is converted again and replaced, never loaded.
    for (const name of entries()) writeFileSync(join(cacheDir, 'converted', name), 'not a model');
    const repaired = await load({ calibration: fewer });
    expect(repaired.stages).toEqual(converted);
    expect(repaired.logits).toEqual(other.logits);

    // A file of the folder replaced (here: only its date) names another checkpoint.
    const before = await folderIdentity(folder);
    utimesSync(join(folder, 'config.json'), new Date(), new Date(Date.now() + 5000));
    expect(await folderIdentity(folder)).not.toBe(before);

    await clearCache();
    expect(entries()).toHaveLength(0);
    rmSync(folder, { recursive: true, force: true });
    process.env.INT8_TRANSFORMER_CACHE = setupDir;
  });

  it('progress repeats at least every second while a download stalls, with its elapsed time', async () => {
    const gpu = await testGpu();
    const bytes = new Uint8Array(readFileSync(int8Path));
    const half = bytes.length >> 1;
    const slowFetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(c) {
            c.enqueue(bytes.slice(0, half));
            await new Promise((r) => setTimeout(r, 2600));
            c.enqueue(bytes.slice(half));
            c.close();
          },
        }),
        { headers: { 'content-length': String(bytes.byteLength) } },
      );
    const seen: LoadProgress[] = [];
    const model = await loadModel('https://models.test/m/tiny.i8t', {
      gpu,
      fetch: slowFetch,
      onProgress: (p) => seen.push(p),
    });
    model.dispose();
    const stalled = seen.filter((p) => p.stage === 'download' && p.fraction > 0.4 && p.fraction < 0.6);
    // The event of the first half, then one per second of the 2.6 s wait.
    expect(stalled.length).toBeGreaterThanOrEqual(3);
    const elapsed = stalled.map((p) => p.elapsedSeconds!);
    expect(elapsed).toEqual([...elapsed].sort((a, b) => a - b));
    expect(elapsed.at(-1)! - elapsed[0]).toBeGreaterThanOrEqual(1.5);
    expect(seen.find((p) => p.bytesPerSecond !== undefined)?.message).toMatch(/MB\/s$/);
  });

  it('embed(): a BertModel checkpoint (any ModelFiles source) gives int8 sentence vectors close to fp32', async () => {
    const gpu = await testGpu();
    const folder = folderSource(floatPath);
    // The built-in checkpoint read as a bare encoder: same weights, the classifier head unused.
    const config = JSON.parse(new TextDecoder().decode(await folder.read('config.json')));
    const encoderOnly: ModelFiles = {
      describe: 'built-in checkpoint as BertModel',
      has: (name) => folder.has(name),
      read: async (name) =>
        name === 'config.json'
          ? new TextEncoder().encode(JSON.stringify({ ...config, architectures: ['BertModel'] }))
          : folder.read(name),
    };
    const int8 = await loadModel(encoderOnly, { gpu, calibration });
    const fp32 = await loadModel(encoderOnly, { gpu, precision: 'fp32' });
    try {
      const a = await int8.embed(texts);
      const b = await fp32.embed(texts);
      const [single] = await int8.embed(texts[0]);
      expect(a.length).toBe(2);
      expect(a[0].length).toBe(config.hidden_size);
      expect(Array.from(single)).toEqual(Array.from(a[0]));
      const cosine = (x: Float32Array, y: Float32Array) => {
        let xy = 0,
          xx = 0,
          yy = 0;
        for (let i = 0; i < x.length; i++) [xy, xx, yy] = [xy + x[i] * y[i], xx + x[i] * x[i], yy + y[i] * y[i]];
        return xy / Math.sqrt(xx * yy);
      };
      for (let i = 0; i < 2; i++) expect(cosine(a[i], b[i])).toBeGreaterThan(0.99);
      expect(cosine(a[0], a[1])).toBeLessThan(cosine(a[0], b[0]));
      await expect(int8.classify(texts)).rejects.toThrow(
        /classify: this model \(BertModel, task embedding\) cannot classify; use embed\(\)/,
      );
      // CLS pooling: the first token's vector, integer on the GPU (equal to the CPU interpreter) and close to fp32's.
      const cls8 = await int8.embed(texts, { pooling: 'cls' });
      const cls32 = await fp32.embed(texts, { pooling: 'cls' });
      for (let i = 0; i < 2; i++) {
        expect(cosine(cls8[i], cls32[i])).toBeGreaterThan(0.99);
        expect(cosine(cls8[i], a[i])).toBeLessThan(0.999);
      }
      const model8 = int8 as Int8Model;
      const batch = model8.tokenizer.encodeBatch([...texts]);
      const gpuCls = (await model8.encoder.forward(batch, { pooling: 'cls' })).output;
      expect(Array.from(gpuCls)).toEqual(
        Array.from(runIntProgramCpu(model8.file.program, batch, { pooling: 'cls' }).output),
      );
      // normalize: unit vectors in the same direction.
      for (const [model, raw] of [
        [int8, a],
        [fp32, b],
      ] as const) {
        const unit = await model.embed(texts, { normalize: true });
        for (let i = 0; i < 2; i++) {
          expect(Math.hypot(...unit[i])).toBeCloseTo(1, 6);
          expect(cosine(unit[i], raw[i])).toBeCloseTo(1, 6);
        }
      }
      await expect(int8.embed(texts, { pooling: 'max' as 'mean' })).rejects.toThrow(
        /pooling "max" is not 'mean' or 'cls'/,
      );
    } finally {
      int8.dispose();
      fp32.dispose();
    }
  });

  it('refuses bad sources and options with messages that name the problem', async () => {
    const gpu = await testGpu();
    await expect(loadModel('/nowhere/model.i8t', { gpu })).rejects.toThrow(
      /\/nowhere\/model\.i8t: no such file or folder/,
    );
    await expect(loadModel(fileURLToPath(new URL('../package.json', import.meta.url)), { gpu })).rejects.toThrow(
      /package\.json: expected an integer model file \(\.i8t\) or a Hugging Face model folder/,
    );
    await expect(loadModel(int8Path, { gpu, precision: 'fp32' })).rejects.toThrow(
      /is an integer model file: it holds no float weights/,
    );
    await expect(loadModel('default', { gpu, precision: 'fp16' as 'fp32' })).rejects.toThrow(
      /unknown precision "fp16"/,
    );
    await expect(loadModel([], { gpu })).rejects.toThrow(/no files given/);
    await expect(loadModel(42 as unknown as string, { gpu })).rejects.toThrow(
      /cannot load a model from \[object Number\]/,
    );
    await expect(loadModel(new Uint8Array(100), { gpu })).rejects.toThrow(/integer model bytes/);
    const missing = async () => new Response('not here', { status: 404, statusText: 'Not Found' });
    await expect(loadModel('https://models.test/m/gone.i8t', { gpu, fetch: missing })).rejects.toThrow(
      'https://models.test/m/gone.i8t: HTTP 404 Not Found',
    );
    const indexPage = async () =>
      new Response('<!doctype html><title>app</title>', { headers: { 'content-type': 'text/html; charset=utf-8' } });
    await expect(loadModel('https://app.test/models/m.i8t', { gpu, fetch: indexPage })).rejects.toThrow(
      /m\.i8t: the server sent an HTML page, not an integer model file/,
    );
    const model = await loadModel('default', { gpu });
    try {
      await expect(model.classify([])).rejects.toThrow(/no input texts/);
      await expect(model.classify(texts, { batchSize: 0 })).rejects.toThrow(/batchSize 0 must be a positive integer/);
      await expect(model.embed(texts)).rejects.toThrow(
        /embed: this model \(BertForSequenceClassification, task sequence-classification\) cannot embed; use classify\(\)/,
      );
    } finally {
      model.dispose();
    }
    expect(() => gpu.assertAlive()).not.toThrow();
  });
});

describe('texts and options at the API boundary', { timeout: 300_000 }, () => {
  it("refuses what is not a string or a [string, string] pair, naming the position in the caller's list and the type expected", async () => {
    const gpu = await testGpu();
    const model = await loadModel('default', { gpu });
    try {
      const call = (t: unknown, o?: unknown) => model.classify(t as string, o as undefined);
      await expect(call(['a', null])).rejects.toThrow(
        new TypeError('classify: texts[1] is null; expected a string or a [string, string] pair'),
      );
      // Positions count in the caller's list, not in a batch.
      const thirteen: unknown[] = Array.from({ length: 13 }, () => 'fine .');
      thirteen[12] = 7;
      await expect(call(thirteen, { batchSize: 4 })).rejects.toThrow(
        /^classify: texts\[12\] is a number; expected a string or a \[string, string\] pair$/,
      );
      await expect(call([['premise', { text: 'x' }]])).rejects.toThrow(
        /classify: texts\[0\]\[1\] is an object \(Object\); expected a string \(the second text of the pair\)/,
      );
      await expect(call([['a', 'b', 'c']])).rejects.toThrow(/texts\[0\] is an array of 3 items/);
      await expect(call(42)).rejects.toThrow(
        /classify: texts is a number; expected a string, or a list of strings and \[string, string\] pairs/,
      );
      await expect(call(undefined)).rejects.toThrow(TypeError);
      await expect(model.profile([undefined as unknown as string])).rejects.toThrow(/profile: texts\[0\] is undefined/);
      await expect(call(texts, { batchsize: 4 })).rejects.toThrow(
        /classify: unknown option "batchsize"; the options are batchSize, signal/,
      );
      await expect(call(texts, { batchSize: '8' })).rejects.toThrow(
        /classify: batchSize is a string; expected a positive integer/,
      );
      await expect(call(texts, { batchSize: 2.5 })).rejects.toThrow(/batchSize 2\.5 must be a positive integer/);
      await expect(call(texts, { signal: 'stop' })).rejects.toThrow(/signal is a string; expected an AbortSignal/);
      await expect(call(texts, null)).rejects.toThrow(/options is null; expected an object/);
      await expect(model.profile(texts, { batchSize: 2 } as object)).rejects.toThrow(
        /profile: unknown option "batchSize"; the options are signal/,
      );
      await expect(loadModel(floatPath, { gpu, calibration: ['fine', null as unknown as string] })).rejects.toThrow(
        /loadModel: calibration: texts\[1\] is null/,
      );
      await expect(loadModel(floatPath, { gpu, calibration: 'one text' as unknown as string[] })).rejects.toThrow(
        /loadModel: calibration is a string; expected a list/,
      );
      // Nothing above ran the model: a good call still works.
      expect((await model.classify(texts[0]))[0].label).toBe('POSITIVE');
    } finally {
      model.dispose();
    }
  });

  it('a text without tokens (empty, NUL, zero-width, lone surrogate) is classified as the empty sequence; the others keep their answers', async () => {
    const gpu = await testGpu();
    const model = await loadModel('default', { gpu });
    try {
      expect(Array.from((model.tokenizer as EncoderTokenizer).encodeBatch(['']).inputIds)).toEqual([101, 102]);
      const [empty] = await model.classify('');
      const good = [
        'a gorgeous , witty , seductive movie .',
        'the plot is nothing but boilerplate clichés from start to finish .',
        'fine .',
        'an utterly charming and hilarious delight',
      ];
      const alone: number[][] = [];
      for (const t of good) alone.push((await model.classify(t))[0].logits);
      const bad = ['', '\0', '\u200b\u200c', '\ud800', '  \t\n'];
      const mixed = [good[0], bad[0], bad[1], good[1], bad[2], good[2], bad[3], bad[4], good[3]];
      const preds = await model.classify(mixed, { batchSize: 4 });
      expect(preds.length).toBe(mixed.length);
      mixed.forEach((t, i) => {
        const want = bad.includes(t) ? empty.logits : alone[good.indexOf(t)];
        // Batching pads rows to the longest in the batch; the integer model's logits do not depend on padding.
        expect(preds[i].logits, `text ${i} ${JSON.stringify(t)}`).toEqual(want);
      });
      // A pair with an empty half is the pair's special tokens around the other text.
      expect(Array.from((model.tokenizer as EncoderTokenizer).encodeBatch([['fine', '\0']]).inputIds)).toEqual([
        101, 2986, 102, 102,
      ]);
    } finally {
      model.dispose();
    }
  });

  it('a 10-million-character text is classified as its first 100,000 characters are (tokenization is bounded by the truncation length)', async () => {
    const gpu = await testGpu();
    const model = await loadModel('default', { gpu });
    try {
      const sentence = 'the plot is nothing but boilerplate clichés from start to finish , ';
      const huge = sentence.repeat(Math.ceil(1e7 / sentence.length)).slice(0, 1e7);
      const [whole] = await model.classify(huge);
      const [prefix] = await model.classify(huge.slice(0, 100_000));
      expect(whole.logits).toEqual(prefix.logits);
      // A 10-million-character "word" (no whitespace to cut at) is bounded too.
      const word = 'x'.repeat(1e7);
      expect((await model.classify(word))[0].logits).toEqual((await model.classify(word.slice(0, 100_000)))[0].logits);
    } finally {
      model.dispose();
    }
  });
});

describe('provenance of a converted file', { timeout: 300_000 }, () => {
  it('records the model name, the SHA-256 of its files and the calibration settings, never the local path', async () => {
    const gpu = await testGpu();
    const dir = join(mkdtempSync(join(tmpdir(), 'i8t-provenance-')), 'sst2-bert-tiny');
    cpSync(floatPath, dir, { recursive: true });
    const calibration = DEFAULT_CALIBRATION.slice(0, 8);
    const file = await convertModel(gpu, folderSource(dir), { calibration, method: 'max' });
    const bytes = await writeIntModelFile(file);
    // Nowhere in the file, header or blobs.
    const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const path of [dir, tmpdir(), fileURLToPath(new URL('..', import.meta.url))])
      expect(raw.includes(path), path).toBe(false);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const headerAt = view.getUint32(8, true) >= 2 ? 20 : 16;
    const header = new TextDecoder().decode(bytes.subarray(headerAt, headerAt + view.getUint32(12, true)));
    const provenance = JSON.parse(header).provenance;
    const sha256 = (name: string) =>
      createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex');
    expect(provenance.model).toEqual({
      name: 'sst2-bert-tiny',
      sha256: {
        'config.json': sha256('config.json'),
        'model.safetensors': sha256('model.safetensors'),
        'tokenizer.json': sha256('tokenizer.json'),
      },
    });
    expect(provenance.calibration).toMatchObject({ method: 'max', texts: 8 });
    expect(provenance.calibration.sha256).toBe(createHash('sha256').update(JSON.stringify(calibration)).digest('hex'));
    // Converting through loadModel (weights read once, hashed as they pass) records the same.
    const loaded = (await loadModel(dir, { gpu, calibration, calibrationMethod: 'max' })) as Int8Model;
    try {
      expect(loaded.file.provenance.model).toEqual(provenance.model);
    } finally {
      loaded.dispose();
    }
    expect(modelName('https://huggingface.co/textattack/bert-base-uncased-SST-2/resolve/main/')).toBe(
      'textattack/bert-base-uncased-SST-2',
    );
    expect(modelName('https://models.example/private/tiny-bert/')).toBe('tiny-bert');
    expect(modelName('folder C:\\Users\\me\\models\\tiny-bert')).toBe('tiny-bert');
    expect(modelName('3 selected file(s)')).toBeUndefined();
  });
});
