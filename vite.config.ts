import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(root, 'dist');

/**
 * `new URL('<relative path>', import.meta.url)` in src/ names a file of the package (or of ../shared)
 * relative to the source file. In dist/ every module lives in a chunk at dist/'s top, so the path is
 * rewritten relative to there, and marked so that Vite's library mode leaves it a URL: it would
 * otherwise inline an existing file as a data: URL (megabytes for a model, and no file path).
 */
function packageRelativeUrls(): Plugin {
  const literalUrl = /\bnew\s+URL\s*\(\s*('[^']+'|"[^"]+")\s*,\s*import\.meta\.url\s*\)/g;
  return {
    name: 'package-relative-urls',
    apply: 'build',
    enforce: 'pre',
    transform(code, id) {
      if (!id.startsWith(`${resolve(root, 'src')}/`) || !literalUrl.test(code)) return null;
      const rebased = code.replace(literalUrl, (_, quoted: string) => {
        const target = resolve(dirname(id), quoted.slice(1, -1));
        const fromDist = relative(outDir, target).split('\\').join('/');
        return `new URL(/* @vite-ignore */ ${JSON.stringify(fromDist)}, import.meta.url)`;
      });
      // Only string contents change, within their lines: the source map stays right.
      return { code: rebased, map: null };
    },
  };
}

export default defineConfig({
  // `vite build`: the library as ES modules in dist/: index.js (the module), cli.js (the
  // `int8-transformer` command, package.json "bin"), the chunks they share and lazily loaded
  // Node-only chunks; declarations come from tsc (tsconfig.build.json). Dependencies stay imports,
  // resolved by the user's installer or bundler; node: built-ins are only reached on Node code paths.
  plugins: [packageRelativeUrls()],
  build: {
    lib: {
      entry: { index: 'src/index.ts', cli: 'src/cli/bin.ts' },
      formats: ['es'],
      fileName: (_format, entry) => `${entry}.js`,
    },
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    rollupOptions: {
      external: ['@huggingface/tokenizers', 'webgpu', /^node:/],
      output: {
        banner: (chunk) => (chunk.isEntry && chunk.name === 'cli' ? '#!/usr/bin/env node' : ''),
        chunkFileNames: (chunk) => (chunk.isDynamicEntry ? '[name]-[hash].js' : 'shared-[hash].js'),
      },
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // A temporary loading cache per test file (INT8_TRANSFORMER_CACHE), never the user's.
    setupFiles: ['test/setup-cache.ts'],
    // One GPU (SwiftShader on 2 cores): files run one after another, each in its own process.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
