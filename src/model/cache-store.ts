/**
 * Where converted models are kept between loads: one interface, two stores (cache-node.ts: a
 * directory; cache-browser.ts: the Cache API), chosen in cache.ts.
 */

/** Converted models by key; failures to write are the caller's to ignore, never a failed load. */
export interface ConvertedStore {
  /** Where entries live, for messages ("cache directory /home/u/.cache/int8-transformer"). */
  readonly where: string;
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}
