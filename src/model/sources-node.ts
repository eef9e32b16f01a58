/** Node only: model files in a local folder (e.g. a snapshot of a Hugging Face repo). */

import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelFiles, ResolvedSource } from './sources.js';

export function folderSource(path: string): ModelFiles {
  const root = resolve(path);
  const describe = `folder ${root}`;
  // Names come from callers and from config files; keep them inside the model folder.
  const pathOf = (name: string): string => {
    const normal = normalize(name);
    if (isAbsolute(normal) || normal === '..' || normal.startsWith(`..${sep}`)) {
      throw new Error(`${describe}: file name "${name}" leaves the model folder`);
    }
    return join(root, normal);
  };
  return {
    describe,
    async has(name) {
      try {
        return (await stat(pathOf(name))).isFile();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
          return false;
        throw e;
      }
    },
    async read(name) {
      try {
        const buf = await readFile(pathOf(name));
        // A view, not a copy: weights files are tens of megabytes.
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (e) {
        throw new Error(`${describe}: cannot read ${name} (${(e as Error).message})`);
      }
    },
  };
}

/** Whether a file or folder exists at `path` (a hub model id 'org/name' names a local path first). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A path (or file: URL) given to loadModel: an .i8t file, or a Hugging Face folder. */
export async function resolveNodePath(location: string | URL): Promise<ResolvedSource> {
  const path = location instanceof URL ? fileURLToPath(location) : location;
  let info: Stats;
  try {
    info = await stat(path);
  } catch (e) {
    throw new Error(`${path}: no such file or folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (info.isDirectory()) return { kind: 'folder', files: folderSource(path), identity: () => folderIdentity(path) };
  if (!path.endsWith('.i8t'))
    throw new Error(`${path}: expected an integer model file (.i8t) or a Hugging Face model folder`);
  const buf = await readFile(path);
  return { kind: 'int8-file', bytes: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), what: path };
}

/**
 * A folder as the loading cache names it: its absolute path and every file's size and modification
 * time, so that replacing a file (new weights, another tokenizer) makes another key, without hashing
 * gigabytes of weights on every load.
 */
export async function folderIdentity(path: string): Promise<string> {
  const root = resolve(path);
  const entries = await readdir(root, { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries.filter((e) => e.isFile()).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const s = await stat(join(root, e.name));
    files.push(`${e.name}:${s.size}:${s.mtimeMs}`);
  }
  return `folder ${root} ${files.join(',')}`;
}
