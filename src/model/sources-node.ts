/** Node only: model files in a local folder (e.g. a snapshot of a Hugging Face repo). */

import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, resolve, sep } from 'node:path';
import type { ModelFiles } from './sources.js';

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
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
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
