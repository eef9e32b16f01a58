/** The public API as a user calls it: loadModel() from every kind of source, classify, profile, memory, dispose. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type LoadProgress, type ModelFiles, builtInModelUrl, loadModel } from '../src/index.js';
import { folderSource } from '../src/model/sources-node.js';
import { testGpu } from './gpu.js';

const int8Path = fileURLToPath(builtInModelUrl('int8'));
const floatPath = fileURLToPath(builtInModelUrl('fp32'));
const texts = ['a gorgeous , witty , seductive movie .', 'the plot is nothing but boilerplate clichés from start to finish .'];

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
    model.dispose();
    model.dispose();
    await expect(model.classify(texts)).rejects.toThrow(/int8 model was disposed/);
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
      for (let i = 0; i < texts.length; i++) for (let c = 0; c < 2; c++) expect(Math.abs(a[i].logits[c] - b[i].logits[c])).toBeLessThan(0.15);
      const m8 = int8.memory();
      const m32 = fp32.memory();
      expect(m8.weightBytes).toBeGreaterThan(1e6);
      expect(m8.weightBytes).toBeLessThan(m32.weightBytes / 3);
      expect(m8.activationBytes).toBeGreaterThan(0);
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
      expect(profile.kernels.every((k) => Number.isFinite(k.ms) && k.ms >= 0)).toBe(true);
      expect(profile.totalMs).toBeCloseTo(profile.kernels.reduce((t, k) => t + k.ms, 0), 6);
      const families = profile.families.map((f) => f.family);
      expect(families).toEqual(expect.arrayContaining(['gemm-i8', 'softmax-i8', 'layernorm-i8', 'embedding-i8']));
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
      () => loadModel('https://models.test/m/tiny.i8t', { gpu, fetch: fakeFetch, onProgress: (p) => downloads.push(p) }),
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
    const model = await loadModel(floatPath, { gpu, calibration: texts.concat(['fine .', 'awful']), onProgress: (p) => seen.push(p) });
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
      const model = await loadModel('https://hub.test/tiny/', { gpu, precision, fetch: hubFetch, calibration: texts, onProgress: (p) => seen.push(p) });
      try {
        expect((await model.classify(texts[0]))[0].label).toBe('POSITIVE');
      } finally {
        model.dispose();
      }
      const stages = seen.map((p) => p.stage);
      expect(stages.lastIndexOf('download')).toBeLessThan(stages.findIndex((s) => s !== 'download'));
      expect([...new Set(stages)]).toEqual(precision === 'int8' ? ['download', 'convert', 'compile', 'ready'] : ['download', 'compile', 'ready']);
      expect(seen.some((p) => p.stage === 'download' && /model\.safetensors: 8\.8 of 8\.8 MB/.test(p.message))).toBe(true);
      expect(gets.filter((g) => g === 'tokenizer.json')).toHaveLength(1);
      expect(gets.filter((g) => g === 'model.safetensors')).toHaveLength(1);
    }
  });

  it('embed(): a BertModel checkpoint (any ModelFiles source) gives int8 sentence vectors close to fp32', async () => {
    const gpu = await testGpu();
    const folder = folderSource(floatPath);
    // The built-in checkpoint read as a bare encoder: same weights, the classifier head unused.
    const config = JSON.parse(new TextDecoder().decode(await folder.read('config.json')));
    const encoderOnly: ModelFiles = {
      describe: 'built-in checkpoint as BertModel',
      has: (name) => folder.has(name),
      read: async (name) => (name === 'config.json' ? new TextEncoder().encode(JSON.stringify({ ...config, architectures: ['BertModel'] })) : folder.read(name)),
    };
    const int8 = await loadModel(encoderOnly, { gpu, calibration: texts });
    const fp32 = await loadModel(encoderOnly, { gpu, precision: 'fp32' });
    try {
      const a = await int8.embed(texts);
      const b = await fp32.embed(texts);
      const [single] = await int8.embed(texts[0]);
      expect(a.length).toBe(2);
      expect(a[0].length).toBe(config.hidden_size);
      expect(Array.from(single)).toEqual(Array.from(a[0]));
      const cosine = (x: Float32Array, y: Float32Array) => {
        let xy = 0, xx = 0, yy = 0;
        for (let i = 0; i < x.length; i++) [xy, xx, yy] = [xy + x[i] * y[i], xx + x[i] * x[i], yy + y[i] * y[i]];
        return xy / Math.sqrt(xx * yy);
      };
      for (let i = 0; i < 2; i++) expect(cosine(a[i], b[i])).toBeGreaterThan(0.99);
      expect(cosine(a[0], a[1])).toBeLessThan(cosine(a[0], b[0]));
      await expect(int8.classify(texts)).rejects.toThrow(/\(BertModel\) is not a classifier; use embed\(\)/);
    } finally {
      int8.dispose();
      fp32.dispose();
    }
  });

  it('refuses bad sources and options with messages that name the problem', async () => {
    const gpu = await testGpu();
    await expect(loadModel('/nowhere/model.i8t', { gpu })).rejects.toThrow(/\/nowhere\/model\.i8t: no such file or folder/);
    await expect(loadModel(fileURLToPath(new URL('../package.json', import.meta.url)), { gpu })).rejects.toThrow(/package\.json: expected an integer model file \(\.i8t\) or a Hugging Face model folder/);
    await expect(loadModel(int8Path, { gpu, precision: 'fp32' })).rejects.toThrow(/is an integer model file: it holds no float weights/);
    await expect(loadModel('default', { gpu, precision: 'fp16' as 'fp32' })).rejects.toThrow(/unknown precision "fp16"/);
    await expect(loadModel([], { gpu })).rejects.toThrow(/no files given/);
    await expect(loadModel(42 as unknown as string, { gpu })).rejects.toThrow(/cannot load a model from \[object Number\]/);
    await expect(loadModel(new Uint8Array(100), { gpu })).rejects.toThrow(/integer model bytes/);
    const missing = async () => new Response('not here', { status: 404, statusText: 'Not Found' });
    await expect(loadModel('https://models.test/m/gone.i8t', { gpu, fetch: missing })).rejects.toThrow('https://models.test/m/gone.i8t: HTTP 404 Not Found');
    const indexPage = async () => new Response('<!doctype html><title>app</title>', { headers: { 'content-type': 'text/html; charset=utf-8' } });
    await expect(loadModel('https://app.test/models/m.i8t', { gpu, fetch: indexPage })).rejects.toThrow(/m\.i8t: the server sent an HTML page, not an integer model file/);
    const model = await loadModel('default', { gpu });
    try {
      await expect(model.classify([])).rejects.toThrow(/no input texts/);
      await expect(model.classify(texts, { batchSize: 0 })).rejects.toThrow(/batchSize 0 must be a positive integer/);
      await expect(model.embed(texts)).rejects.toThrow(/is a classifier; use classify\(\)/);
    } finally {
      model.dispose();
    }
    expect(() => gpu.assertAlive()).not.toThrow();
  });
});
