/**
 * Browsers: the Cache API's 'int8-transformer' cache holds both the model files downloaded (by
 * their URL, the response as the server sent it) and converted models (under a made-up URL per
 * key). Files are kept until clearCache(), like transformers.js does: a file changed on the server
 * under the same URL is not noticed, which a new URL (a revision, a version in the path) avoids.
 * Where the Cache API is missing (Node, pages not served over https or from localhost, opaque
 * origins) nothing is cached and loads work as before.
 */
import type { ConvertedStore } from './cache-store.js';
import type { Fetch } from './sources.js';

export const CACHE_NAME = 'int8-transformer';
/** Converted models are stored under this prefix; no request ever goes there. */
const CONVERTED_PREFIX = 'https://int8-transformer.invalid/converted/';

async function openCache(): Promise<Cache | undefined> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return undefined;
  try {
    return await storage.open(CACHE_NAME);
  } catch {
    // SecurityError in opaque origins and some private modes: as if there were no Cache API.
    return undefined;
  }
}

export async function cacheApiStore(): Promise<ConvertedStore | undefined> {
  const cache = await openCache();
  if (!cache) return undefined;
  return {
    where: `the browser's Cache API ('${CACHE_NAME}')`,
    async get(key) {
      const hit = await cache.match(CONVERTED_PREFIX + key);
      return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
    },
    async put(key, bytes) {
      const body = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
      await cache.put(CONVERTED_PREFIX + key, new Response(body, { headers: { 'content-length': String(body.size) } }));
    },
    async delete(key) {
      await cache.delete(CONVERTED_PREFIX + key);
    },
  };
}

export async function clearCacheApi(): Promise<void> {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (storage) await storage.delete(CACHE_NAME).catch(() => false);
}

export interface CachingFetch {
  fetch: Fetch;
  /** Settles once every response seen so far is stored (or failed to be): a load waits for it before 'ready'. */
  settled(): Promise<void>;
}

/**
 * `fetchImpl` with the Cache API in front: a GET already stored is answered from it (onHit says
 * which URL); a HEAD of a stored URL is answered 200 without asking the server; a fresh 200 GET
 * is stored as its body arrives. HTML answers are never stored: servers send them for missing files.
 */
export async function cachingFetch(fetchImpl: Fetch, onHit: (url: string) => void): Promise<CachingFetch | undefined> {
  const cache = await openCache();
  if (!cache) return undefined;
  const writes: Promise<unknown>[] = [];
  const cached: Fetch = async (url, init) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return fetchImpl(url, init);
    const hit = await cache.match(url).catch(() => undefined);
    if (hit) {
      if (method === 'GET') {
        onHit(url);
        return hit;
      }
      await hit.body?.cancel();
      return new Response(null, { status: 200, headers: hit.headers });
    }
    const res = await fetchImpl(url, init);
    const html = res.headers.get('content-type')?.includes('text/html');
    if (method === 'GET' && res.status === 200 && !html) writes.push(cache.put(url, res.clone()).catch(() => {}));
    return res;
  };
  return { fetch: cached, settled: async () => void (await Promise.all(writes)) };
}
