/**
 * Node only: converted models in a directory, INT8_TRANSFORMER_CACHE when set, else
 * int8-transformer/ under the user's cache directory ($XDG_CACHE_HOME, %LOCALAPPDATA% on Windows,
 * else ~/.cache). One `.i8t` file per key under converted/, written to a temporary name and renamed,
 * so that a load killed half-way, or two processes converting the same model, never leave a torn entry.
 */
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ConvertedStore } from './cache-store.js';

export function cacheDirectory(): string {
  const env = process.env;
  if (env.INT8_TRANSFORMER_CACHE) return resolve(env.INT8_TRANSFORMER_CACHE);
  const base =
    env.XDG_CACHE_HOME ||
    (process.platform === 'win32' && env.LOCALAPPDATA ? env.LOCALAPPDATA : join(homedir(), '.cache'));
  return join(base, 'int8-transformer');
}

const HEX_KEY = /^[0-9a-f]{64}$/;

export function directoryStore(dir = cacheDirectory()): ConvertedStore {
  const folder = join(dir, 'converted');
  const pathOf = (key: string) => {
    // Keys are SHA-256 digests: never a path of the caller's choosing.
    if (!HEX_KEY.test(key)) throw new Error(`model cache: bad key "${key}"`);
    return join(folder, `${key}.i8t`);
  };
  return {
    where: `cache directory ${dir}`,
    async get(key) {
      try {
        const buf = await readFile(pathOf(key));
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async put(key, bytes) {
      const path = pathOf(key);
      await mkdir(folder, { recursive: true });
      const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      try {
        await writeFile(temporary, bytes);
        await rename(temporary, path);
      } catch (e) {
        await rm(temporary, { force: true });
        throw e;
      }
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
  };
}

/** Removes the converted models (only files this module writes: a cache directory may be shared). */
export async function clearDirectory(dir = cacheDirectory()): Promise<void> {
  const folder = join(dir, 'converted');
  let names: string[];
  try {
    if (!(await stat(folder)).isDirectory()) return;
    names = await readdir(folder);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const name of names)
    if (/^[0-9a-f]{64}\.i8t(\..+\.tmp)?$/.test(name)) await unlink(join(folder, name)).catch(() => {});
}
