/**
 * Hub model ids ('org/name', 'org/name@revision') against a local server that imitates the hub's
 * layout (`/<org>/<name>/resolve/<revision>/<file>`, x-error-code headers, large files redirected
 * to a CDN path), built from the built-in models so it runs without ../shared or a network.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CALIBRATION, loadModel } from '../src/index.js';
import { formatHubId, hubFileUrl, hubSource, parseHubId } from '../src/model/hub.js';
import { testGpu } from './gpu.js';

const models = fileURLToPath(new URL('../models/', import.meta.url));
const folder = (name: string) => readFileSync(`${models}sst2-bert-tiny/${name}`);
const FOLDER_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];
const texts = ['a gorgeous , witty , seductive movie .', 'the worst film of the year , dull and lifeless .'];
const calibration = DEFAULT_CALIBRATION.slice(0, 8);
const HTML = '<!doctype html><html><body>Not what you asked for</body></html>';

type Entry = Uint8Array | { html: string } | { sniff: string };
/** repo -> revision -> file -> contents. */
const REPOS: Record<string, Record<string, Record<string, Entry>>> = {};
const checkpoint = () => Object.fromEntries(FOLDER_FILES.map((f) => [f, folder(f)]));
REPOS['org/tiny'] = { main: checkpoint(), v1: checkpoint() };
REPOS['org/tiny-int8'] = {
  main: { 'config.json': folder('config.json'), 'model.i8t': readFileSync(`${models}sst2-bert-tiny.i8t`) },
};
REPOS['org/no-weights'] = {
  main: { 'config.json': folder('config.json'), 'tokenizer.json': folder('tokenizer.json') },
};
// A mirror or proxy that answers with a page where a file should be: said so, or not.
REPOS['org/html'] = { main: { 'config.json': { html: HTML } } };
REPOS['org/sniff'] = { main: { 'config.json': { sniff: HTML } } };

let server: Server;
let host: string;
/** "METHOD path" of every request, to check what was asked for. */
const requests: string[] = [];

function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
  requests.push(`${req.method} ${path}`);
  // Under /plain: a static mirror that sends bare 404s, without the hub's x-error-code.
  const plain = path.startsWith('/plain/');
  const rest = plain ? path.slice('/plain'.length) : path;
  const fail = (status: number, code: string): void => {
    res.writeHead(plain ? 404 : status, plain ? {} : { 'x-error-code': code, 'x-error-message': code });
    res.end(req.method === 'HEAD' ? undefined : `${code}`);
  };
  const cdn = /^\/cdn\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(rest);
  const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(rest);
  if (!m && !cdn) {
    // The hub's other pages (a repo's web page, say) are HTML.
    res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(HTML);
    return;
  }
  const [, repo, revision, file] = (cdn ?? m)!;
  const revisions = REPOS[repo];
  // The hub answers an unknown repo with 401 (it might be private), a bad revision or file with 404.
  if (!revisions) {
    fail(401, 'RepoNotFound');
    return;
  }
  if (!revisions[revision]) {
    fail(404, 'RevisionNotFound');
    return;
  }
  const entry = revisions[revision][file];
  if (!entry) {
    fail(404, 'EntryNotFound');
    return;
  }
  if (!cdn && (file.endsWith('.safetensors') || file.endsWith('.i8t'))) {
    // Large (LFS) files: a redirect to the CDN, as the hub does.
    res.writeHead(302, { location: `${plain ? '/plain' : ''}/cdn/${repo}/${revision}/${file}` });
    res.end();
    return;
  }
  const [body, type]: [Uint8Array | string, string] =
    entry instanceof Uint8Array
      ? [entry, 'application/octet-stream']
      : 'html' in entry
        ? [entry.html, 'text/html; charset=utf-8']
        : [entry.sniff, 'application/octet-stream'];
  res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

beforeAll(async () => {
  server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** The requests made while `run` ran. */
async function requestsOf<T>(run: () => Promise<T>): Promise<{ value: T; seen: string[] }> {
  const from = requests.length;
  const value = await run();
  return { value, seen: requests.slice(from) };
}

describe('hub model ids', () => {
  it('are two hub names and an optional revision; paths, URLs and .i8t files are not ids', () => {
    expect(parseHubId('Xenova/distilbert-base-uncased-finetuned-sst-2-english')).toEqual({
      repo: 'Xenova/distilbert-base-uncased-finetuned-sst-2-english',
      revision: undefined,
    });
    expect(parseHubId('org/name@v1.0')).toEqual({ repo: 'org/name', revision: 'v1.0' });
    expect(parseHubId('org/name@refs/pr/1')).toEqual({ repo: 'org/name', revision: 'refs/pr/1' });
    expect(parseHubId('sentence-transformers/all-MiniLM-L6-v2')?.repo).toBe('sentence-transformers/all-MiniLM-L6-v2');
    for (const notId of [
      'name',
      './org/name',
      '../org/name',
      '/org/name',
      'org/name/',
      'org/name/extra',
      'org/model.i8t',
      'https://huggingface.co/org/name',
      'C:\\models\\name',
      'org/..',
      'org/a--b',
      'org/-name',
      'org/name@',
      'org/name@../x',
      'org/name@a/',
      '',
    ])
      expect(parseHubId(notId), notId).toBeUndefined();
    expect(hubFileUrl('https://mirror.test/hf/', { repo: 'org/name', revision: 'refs/pr/1' }, 'onnx/model.onnx')).toBe(
      'https://mirror.test/hf/org/name/resolve/refs%2Fpr%2F1/onnx/model.onnx',
    );
    expect(formatHubId({ repo: 'org/name', revision: undefined })).toBe('org/name@main');
    expect(() => hubFileUrl('huggingface.co', { repo: 'a/b', revision: undefined }, 'x')).toThrow(/not a URL/);
    expect(() => hubFileUrl('ftp://mirror.test', { repo: 'a/b', revision: undefined }, 'x')).toThrow(
      /not an http\(s\) URL/,
    );
  });
});

describe('loadModel from a hub', { timeout: 600_000 }, () => {
  it("converts a repo's checkpoint from resolve/main/ (weights through a redirect) like the same folder on disk; an existing path wins over the hub", async () => {
    const gpu = await testGpu();
    // 'models/sst2-bert-tiny' has the shape of an id, but in Node an existing folder is the folder.
    const local = await requestsOf(async () => {
      const model = await loadModel('models/sst2-bert-tiny', { gpu, hubHost: host, calibration });
      try {
        return await model.classify(texts);
      } finally {
        model.dispose();
      }
    });
    expect(local.seen).toEqual([]);
    const downloads: string[] = [];
    let fetched = 0;
    const countingFetch = (input: string, init?: RequestInit) => {
      fetched++;
      return fetch(input, init);
    };
    const hub = await requestsOf(async () => {
      const model = await loadModel('org/tiny', {
        gpu,
        hubHost: host,
        calibration,
        fetch: countingFetch,
        onProgress: (p) => p.stage === 'download' && downloads.push(p.message),
      });
      try {
        return await model.classify(texts);
      } finally {
        model.dispose();
      }
    });
    expect(hub.value.map((p) => p.logits)).toEqual(local.value.map((p) => p.logits));
    expect(hub.value.map((p) => p.label)).toEqual(['POSITIVE', 'NEGATIVE']);
    // The repo has no model.i8t: asked for, then every file from resolve/main, the weights via the CDN.
    expect(hub.seen[0]).toBe('HEAD /org/tiny/resolve/main/model.i8t');
    expect(hub.seen).toContain('GET /org/tiny/resolve/main/config.json');
    expect(hub.seen).toContain('GET /org/tiny/resolve/main/model.safetensors');
    expect(hub.seen).toContain('GET /cdn/org/tiny/main/model.safetensors');
    expect(hub.seen.every((r) => r.includes('/org/tiny/'))).toBe(true);
    expect(fetched).toBe(hub.seen.filter((r) => !r.includes('/cdn/')).length);
    expect(downloads.some((m) => m.startsWith('model.safetensors:'))).toBe(true);
  });

  it('org/name@revision reads resolve/<revision>/ (precision fp32: the float checkpoint, no model.i8t asked)', async () => {
    const gpu = await testGpu();
    const local = await loadModel('models/sst2-bert-tiny', { gpu, precision: 'fp32' });
    const expected = await local.classify(texts);
    local.dispose();
    const { value, seen } = await requestsOf(async () => {
      const model = await loadModel('org/tiny@v1', { gpu, hubHost: host, precision: 'fp32' });
      try {
        expect(model.kind).toBe('fp32');
        return await model.classify(texts);
      } finally {
        model.dispose();
      }
    });
    expect(value.map((p) => p.logits)).toEqual(expected.map((p) => p.logits));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((r) => r.includes('/org/tiny/v1/') || r.includes('/org/tiny/resolve/v1/'))).toBe(true);
    expect(seen.some((r) => r.includes('model.i8t'))).toBe(false);
  });

  it("uses a repo's pre-converted model.i8t (through the CDN redirect) instead of converting", async () => {
    const gpu = await testGpu();
    const builtIn = await loadModel(`${models}sst2-bert-tiny.i8t`, { gpu });
    const expected = await builtIn.classify(texts);
    builtIn.dispose();
    const { value, seen } = await requestsOf(async () => {
      const model = await loadModel('org/tiny-int8', { gpu, hubHost: host });
      try {
        return await model.classify(texts);
      } finally {
        model.dispose();
      }
    });
    expect(value.map((p) => p.logits)).toEqual(expected.map((p) => p.logits));
    expect(seen).toEqual([
      'HEAD /org/tiny-int8/resolve/main/model.i8t',
      'HEAD /cdn/org/tiny-int8/main/model.i8t',
      'GET /org/tiny-int8/resolve/main/model.i8t',
      'GET /cdn/org/tiny-int8/main/model.i8t',
    ]);
  });

  it('says which is missing: the repository, the revision or a file; and refuses HTML pages served as files', async () => {
    const gpu = await testGpu();
    const load = (id: string, hubHost = host) => loadModel(id, { gpu, hubHost, calibration });
    await expect(load('org/missing')).rejects.toThrow(
      /hub model org\/missing: no such repository on http:\/\/127\.0\.0\.1:\d+ \(HTTP 401, RepoNotFound\).*and no local file or folder is named org\/missing/,
    );
    await expect(load('org/tiny@v9')).rejects.toThrow(
      /hub model org\/tiny: no revision "v9" in the repository \(HTTP 404, RevisionNotFound\)/,
    );
    await expect(load('org/no-weights')).rejects.toThrow(
      /hub model org\/no-weights@main \(http:\/\/127\.0\.0\.1:\d+\): model\.safetensors not found \(the weights\)/,
    );
    // A mirror without the hub's headers: a bare 404 for everything of a missing repo.
    await expect(load('org/missing', `${host}/plain`)).rejects.toThrow(
      /hub model org\/missing@main: neither model\.i8t nor config\.json at http:\/\/127\.0\.0\.1:\d+\/plain\/org\/missing\/resolve\/main\/ \(HTTP 404\): no such repository or revision/,
    );
    await expect(load('org/no-weights', `${host}/plain`)).rejects.toThrow(/model\.safetensors not found/);
    await expect(load('org/html')).rejects.toThrow(
      /hub model org\/html@main: http:\/\/127\.0\.0\.1:\d+\/org\/html\/resolve\/main\/config\.json sent an HTML page .* instead of config\.json/,
    );
    await expect(load('org/sniff')).rejects.toThrow(/org\/sniff@main .*config\.json is an HTML page, not JSON/);
    // Reading a file the repo lacks: id, revision, file and status.
    await expect(hubSource({ repo: 'org/tiny', revision: 'v1' }, { host }).read('vocab.txt')).rejects.toThrow(
      /hub model org\/tiny@v1: the repository has no file vocab\.txt \(HTTP 404, EntryNotFound\) at http:\/\/127\.0\.0\.1:\d+\/org\/tiny\/resolve\/v1\/vocab\.txt/,
    );
    await expect(load('org/tiny', 'http://127.0.0.1:1')).rejects.toThrow(
      /hub model org\/tiny@main: HEAD http:\/\/127\.0\.0\.1:1\/org\/tiny\/resolve\/main\/model\.i8t failed/,
    );
    await expect(load('org/tiny', 'hub.example')).rejects.toThrow(/hubHost "hub\.example" is not a URL/);
  });
});
