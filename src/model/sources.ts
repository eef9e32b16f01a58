/**
 * Where a model's files come from, behind one small interface so the loaders run unchanged in
 * browsers and Node: a base URL (a Hugging Face repo's resolve/main/ or any static server), or the
 * File objects of a dropped folder. Node's filesystem lives in sources-node.ts so that this module
 * stays importable by a bundler for the browser.
 */

export interface ModelFiles {
  /** Where the files come from, for error messages. */
  describe: string;
  has(name: string): Promise<boolean>;
  read(name: string): Promise<Uint8Array>;
}

/** What a model source turned out to hold: an integer model file's bytes, or the files of a float checkpoint. */
export type ResolvedSource =
  | { kind: 'int8-file'; bytes: Uint8Array; what: string }
  | {
      kind: 'folder';
      files: ModelFiles;
      name?: string;
      /** What names the checkpoint for the loading cache (see model/cache.ts); absent: not cached. */
      identity?: () => Promise<string>;
    };

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** Bytes received so far of one file; `total` is undefined when the server does not say. */
export type DownloadProgress = (name: string, loaded: number, total: number | undefined) => void;

export interface UrlSourceOptions {
  fetch?: Fetch;
  onProgress?: DownloadProgress;
}

/** A response body as bytes, reporting progress as chunks arrive. */
export async function readResponse(res: Response, name: string, onProgress?: DownloadProgress): Promise<Uint8Array> {
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  if (!onProgress || !res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = res.body.getReader();
  onProgress(name, 0, total);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress(name, loaded, total);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

// Called with fetchImpl as a local: invoking fetch as a method of another object throws in browsers.
async function request(fetchImpl: Fetch, url: string, method: string): Promise<Response> {
  try {
    return await fetchImpl(url, { method });
  } catch (e) {
    throw new Error(`${method} ${url} failed: ${(e as Error).message}`);
  }
}

function statusError(url: string, res: Response): Error {
  return new Error(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
}

/** The end of the message refusing an HTML page sent for a model file. */
export const HTML_REFUSAL =
  'sent an HTML page (an error page, or a dev server answering a missing file with its index page) instead of';

/** An HTML page sent for a file that is not one (servers answer missing files or wrong paths with one). */
export function isHtml(res: Response, name: string): boolean {
  return !!res.headers.get('content-type')?.includes('text/html') && !/\.html?$/i.test(name);
}

/** GET a file, with errors that name the URL: the network failure, or the HTTP status. */
export async function getFile(url: string, fetchImpl: Fetch = fetch): Promise<Response> {
  const res = await request(fetchImpl, url, 'GET');
  if (!res.ok) {
    await res.body?.cancel();
    throw statusError(url, res);
  }
  return res;
}

/** Files under a base URL; `name` may contain "/" for sub-folders. */
export function urlSource(baseUrl: string, options: UrlSourceOptions = {}): ModelFiles {
  const fetchImpl = options.fetch ?? fetch;
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const urlOf = (name: string) => base + name.split('/').map(encodeURIComponent).join('/');

  return {
    describe: base,
    async has(name) {
      const url = urlOf(name);
      let res = await request(fetchImpl, url, 'HEAD');
      // Some static hosts refuse HEAD; a GET whose body we drop answers the same question.
      if (res.status === 405 || res.status === 501) {
        res = await request(fetchImpl, url, 'GET');
        await res.body?.cancel();
      }
      if (res.ok) return true;
      if (res.status === 404 || res.status === 410) return false;
      throw statusError(url, res);
    },
    async read(name) {
      const url = urlOf(name);
      const res = await getFile(url, fetchImpl);
      if (isHtml(res, name)) {
        await res.body?.cancel();
        throw new Error(`${res.url || url} ${HTML_REFUSAL} ${name}`);
      }
      return readResponse(res, name, options.onProgress);
    },
  };
}

/**
 * Browser File objects (an <input type=file webkitdirectory> selection or a dropped folder),
 * matched by base name. When several files share a base name the shallowest path wins; a tie is
 * an error rather than a guess.
 */
export function fileListSource(files: Iterable<File>): ModelFiles {
  const byName = new Map<string, File[]>();
  let count = 0;
  for (const file of files) {
    const list = byName.get(file.name) ?? [];
    list.push(file);
    byName.set(file.name, list);
    count++;
  }
  const pathOf = (f: File) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
  const depth = (f: File) => pathOf(f).split('/').length;
  const describe = `${count} selected file(s)`;

  const find = (name: string): File | undefined => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    const list = byName.get(base);
    if (!list) return undefined;
    const shallowest = Math.min(...list.map(depth));
    const best = list.filter((f) => depth(f) === shallowest);
    if (best.length > 1) {
      throw new Error(
        `${describe}: ${best.length} files named "${base}" (${best.map(pathOf).join(', ')}); select one model folder`,
      );
    }
    return best[0];
  };
  return {
    describe,
    has: async (name) => find(name) !== undefined,
    async read(name) {
      const file = find(name);
      if (!file) throw new Error(`${describe}: no file named "${name}"`);
      return new Uint8Array(await file.arrayBuffer());
    },
  };
}

/** Reads a required file with an error that says where it was looked for. */
export async function readRequired(files: ModelFiles, name: string, why: string): Promise<Uint8Array> {
  if (!(await files.has(name))) throw new Error(`${files.describe}: ${name} not found (${why})`);
  return files.read(name);
}

/** Reads and parses a JSON file, naming the file when it is not JSON. */
export async function readJson(files: ModelFiles, name: string, why: string): Promise<unknown> {
  const bytes = await readRequired(files, name, why);
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch (e) {
    // A server that sent HTML without saying so (no text/html content type).
    if (/^\s*<(!doctype html|html)/i.test(text))
      throw new Error(`${files.describe}: ${name} is an HTML page, not JSON: is the path or URL right?`);
    throw new Error(`${files.describe}: ${name} is not valid JSON (${(e as Error).message})`);
  }
}

/** Files held in memory, e.g. the tokenizer stored inside an integer model file. */
export function memorySource(files: Record<string, Uint8Array | string>, describe = 'in-memory files'): ModelFiles {
  const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? new TextEncoder().encode(v) : v);
  return {
    describe,
    has: async (name) => name in files,
    read: async (name) => {
      if (!(name in files)) throw new Error(`${describe}: no file ${name}`);
      return bytes(files[name]);
    },
  };
}
