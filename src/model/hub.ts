/**
 * Hugging Face hub model ids: 'org/name' and 'org/name@revision' read as the files under
 * `<host>/org/name/resolve/<revision>/`, the URLs the hub (and its mirrors) serve raw files at.
 * A repo holding a pre-converted `model.i8t` at its root is loaded from that file alone; otherwise
 * its float checkpoint is converted like any folder. Errors name the id, the revision, the file and
 * the HTTP status, and tell a missing repo from a missing revision or file (the hub says which in
 * its `x-error-code` header; a plain mirror without it gets the best guess from what is missing).
 */
import {
  type DownloadProgress,
  type Fetch,
  HTML_REFUSAL,
  isHtml,
  type ModelFiles,
  type ResolvedSource,
  readResponse,
} from './sources.js';

export const DEFAULT_HUB_HOST = 'https://huggingface.co';
/** The pre-converted integer model a repo may hold at its root (what `convert -o model.i8t` writes). */
export const HUB_INT8_FILE = 'model.i8t';

export interface HubId {
  /** 'org/name' */
  repo: string;
  /** A branch, tag or commit; undefined means the hub's default, 'main'. */
  revision: string | undefined;
}

// The hub's rules for names: letters, digits, '-', '_', '.', neither starting nor ending with '-' or
// '.', no '--' or '..' (which also keeps '.' and '..' path segments out).
const NAME = /^(?!.*(?:--|\.\.))[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
// Branches may contain '/' (refs/pr/1); commits are hex.
const REVISION = /^(?!.*(?:\.\.|\/\/))[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

/**
 * The id a string names, or undefined when it is not one. Exactly two names joined by '/', then
 * optionally '@' and a revision: './a/b', 'a/b/', '/a/b', 'a/b/c' and URLs are not ids. A name
 * ending in '.i8t' is a file, not a repo. The caller decides whether a local path of that name wins.
 */
export function parseHubId(source: string): HubId | undefined {
  const at = source.indexOf('@');
  const repo = at < 0 ? source : source.slice(0, at);
  const revision = at < 0 ? undefined : source.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p)) || parts[1].endsWith('.i8t')) return undefined;
  if (revision !== undefined && (!REVISION.test(revision) || revision.endsWith('/'))) return undefined;
  return { repo, revision };
}

export function formatHubId(id: HubId): string {
  return `${id.repo}@${id.revision ?? 'main'}`;
}

/** The host's URL without trailing slashes; a mirror may live under a path (http://mirror/hf). */
export function checkHubHost(host: string): string {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    throw new TypeError(`loadModel: hubHost "${host}" is not a URL; give the hub's address, e.g. ${DEFAULT_HUB_HOST}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new TypeError(`loadModel: hubHost "${host}" is not an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

/** Where the hub serves one file of a repo at a revision. */
export function hubFileUrl(host: string, id: HubId, name: string): string {
  const revision = encodeURIComponent(id.revision ?? 'main');
  return `${checkHubHost(host)}/${id.repo}/resolve/${revision}/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export interface HubOptions {
  /** Default https://huggingface.co. */
  host?: string;
  fetch?: Fetch;
  onProgress?: DownloadProgress;
  /** Added to "not found" errors: e.g. that no local path of that name exists either. */
  note?: string;
}

/** Why a request for `name` failed, in the hub's words when it sent them. */
function hubError(id: HubId, host: string, name: string, url: string, res: Response, note?: string): Error {
  const code = res.headers.get('x-error-code') ?? '';
  const status = `HTTP ${res.status}${code ? `, ${code}` : ''}`;
  const tail = note ? `; ${note}` : '';
  switch (code) {
    case 'RepoNotFound':
      return new Error(
        `hub model ${id.repo}: no such repository on ${host} (${status}). Check the id; a private repo needs a fetch that sends your token${tail}`,
      );
    case 'RevisionNotFound':
      return new Error(`hub model ${id.repo}: no revision "${id.revision ?? 'main'}" in the repository (${status})`);
    case 'EntryNotFound':
      return new Error(`hub model ${formatHubId(id)}: the repository has no file ${name} (${status}) at ${url}`);
    case 'GatedRepo':
      return new Error(
        `hub model ${id.repo} is gated (${status}): accept its conditions on ${host} and pass a fetch that sends your token`,
      );
  }
  const auth =
    res.status === 401 || res.status === 403 ? ' (a private or gated repo needs a fetch that sends your token)' : '';
  return new Error(
    `hub model ${formatHubId(id)}: ${name}: ${status}${res.statusText ? ` ${res.statusText}` : ''} at ${url}${auth}`,
  );
}

async function send(fetchImpl: Fetch, url: string, method: string, id: HubId): Promise<Response> {
  try {
    return await fetchImpl(url, { method });
  } catch (e) {
    throw new Error(`hub model ${formatHubId(id)}: ${method} ${url} failed: ${(e as Error).message}`);
  }
}

/**
 * The files of a repo at a revision. `has` is false only for a file the repo lacks (404 with the
 * hub's EntryNotFound, or a bare 404); a missing repo or revision, a gated repo or a server error
 * throws. Redirects (the hub sends large files to its CDN) are followed by fetch.
 */
export function hubSource(id: HubId, options: HubOptions = {}): ModelFiles {
  const host = checkHubHost(options.host ?? DEFAULT_HUB_HOST);
  const fetchImpl = options.fetch ?? fetch;
  const urlOf = (name: string) => hubFileUrl(host, id, name);
  const fail = (name: string, url: string, res: Response) => hubError(id, host, name, url, res, options.note);
  return {
    describe: `hub model ${formatHubId(id)} (${host})`,
    async has(name) {
      const url = urlOf(name);
      let res = await send(fetchImpl, url, 'HEAD', id);
      // Some servers refuse HEAD; a GET whose body we drop answers the same question.
      if (res.status === 405 || res.status === 501) res = await send(fetchImpl, url, 'GET', id);
      await res.body?.cancel();
      if (res.ok) return true;
      const code = res.headers.get('x-error-code');
      if ((res.status === 404 || res.status === 410) && (!code || code === 'EntryNotFound')) return false;
      throw fail(name, url, res);
    },
    async read(name) {
      const url = urlOf(name);
      const res = await send(fetchImpl, url, 'GET', id);
      if (!res.ok) {
        await res.body?.cancel();
        throw fail(name, url, res);
      }
      if (isHtml(res, name)) {
        await res.body?.cancel();
        throw new Error(`hub model ${formatHubId(id)}: ${res.url || url} ${HTML_REFUSAL} ${name}`);
      }
      return readResponse(res, name, options.onProgress);
    },
  };
}

/**
 * A hub id as a model source: the repo's model.i8t when it has one (and int8 is wanted), else its
 * float checkpoint. A repo with neither model.i8t nor config.json is refused here, before the
 * loaders look for weights, since a plain mirror answers a missing repo with a bare 404 too.
 */
export async function resolveHubModel(
  id: HubId,
  options: HubOptions & { precision: 'int8' | 'fp32' },
): Promise<ResolvedSource> {
  const files = hubSource(id, options);
  if (options.precision === 'int8' && (await files.has(HUB_INT8_FILE))) {
    return {
      kind: 'int8-file',
      bytes: await files.read(HUB_INT8_FILE),
      what: `hub model ${formatHubId(id)}: ${HUB_INT8_FILE}`,
    };
  }
  if (!(await files.has('config.json'))) {
    const host = checkHubHost(options.host ?? DEFAULT_HUB_HOST);
    const looked = options.precision === 'int8' ? `neither ${HUB_INT8_FILE} nor config.json` : 'no config.json';
    throw new Error(
      `hub model ${formatHubId(id)}: ${looked} at ${hubFileUrl(host, id, '')} (HTTP 404): no such repository or revision on ${host}, or not a model repository${options.note ? `; ${options.note}` : ''}`,
    );
  }
  const base = hubFileUrl(checkHubHost(options.host ?? DEFAULT_HUB_HOST), id, '');
  return { kind: 'folder', files, name: id.repo, identity: async () => `url ${base}` };
}
