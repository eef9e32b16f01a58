/**
 * The loading cache: what a second load of the same model can skip. A float checkpoint converted to
 * int8 is kept as its `.i8t` bytes, keyed by where the checkpoint came from (its URL, its folder's
 * path and file dates, or the content hash of dropped files), the converter's version and the
 * calibration settings, so that a second load neither downloads the weights nor calibrates again.
 * In browsers the Cache API also keeps every downloaded model file (cache-browser.ts); in Node
 * converted models live in a directory (cache-node.ts, imported only when running in Node so that
 * bundles for the browser never reach `node:` modules).
 */
import type { GlueInput } from '../data/glue.js';
import { FORMAT_VERSION } from '../format/int-model-file.js';

/**
 * Bumped whenever the converter (calibration, the planner, the packaging) would make different
 * bytes from the same checkpoint: entries converted by an older version then stop matching.
 * 2: smoothed LayerNorms' residual readers get a wide-output LayerNorm (outlier checkpoints only).
 */
export const CONVERTER_VERSION = 2;

import type { ConvertedStore } from './cache-store.js';

export type { ConvertedStore };

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** The store of this environment: a directory in Node, the Cache API in browsers, or none (e.g. an insecure page). */
export async function convertedStore(): Promise<ConvertedStore | undefined> {
  if (isNode) return (await import('./cache-node.js')).directoryStore();
  return (await import('./cache-browser.js')).cacheApiStore();
}

/**
 * Empties the loading cache of this environment: converted models (Node: the cache directory's
 * converted/ folder; browsers: the Cache API's 'int8-transformer' cache, downloaded files included).
 */
export async function clearCache(): Promise<void> {
  if (isNode) return (await import('./cache-node.js')).clearDirectory();
  return (await import('./cache-browser.js')).clearCacheApi();
}

export interface ConvertedKeyParts {
  /** What the checkpoint is: a URL, a folder path with its files' sizes and dates, or a content hash. */
  source: string;
  /** The calibration texts given to loadModel; undefined: the library's default for the model's kind. */
  calibration?: readonly GlueInput[];
  method?: string;
}

/** A key naming one conversion exactly: the source, the converter and file format versions, the calibration. */
export async function convertedKey(parts: ConvertedKeyParts): Promise<string> {
  const calibration = parts.calibration ? await sha256Hex(utf8(JSON.stringify(parts.calibration))) : 'default';
  return sha256Hex(
    utf8(
      JSON.stringify({
        converter: CONVERTER_VERSION,
        format: FORMAT_VERSION,
        source: parts.source,
        calibration,
        method: parts.method ?? 'default',
      }),
    ),
  );
}

/**
 * The identity of dropped files: their paths and contents. Changing one byte of any file makes
 * another key; reading them costs a local read, not a download.
 */
export async function filesIdentity(files: readonly File[]): Promise<string> {
  const pathOf = (f: File) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
  const sorted = [...files].sort((a, b) => (pathOf(a) < pathOf(b) ? -1 : pathOf(a) > pathOf(b) ? 1 : 0));
  const parts: string[] = [];
  for (const f of sorted) parts.push(`${pathOf(f)}:${await sha256Hex(new Uint8Array(await f.arrayBuffer()))}`);
  return `files ${parts.join(',')}`;
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
