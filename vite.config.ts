import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `vite build`: the library as one ES module (plus lazily loaded Node-only chunks) in dist/;
  // declarations come from tsc (tsconfig.build.json). Dependencies stay imports, resolved by the
  // user's installer or bundler; node: built-ins are only reached on Node code paths.
  build: {
    lib: { entry: 'src/index.ts', formats: ['es'], fileName: 'index' },
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    minify: false,
    sourcemap: true,
    rollupOptions: {
      external: ['@huggingface/tokenizers', 'webgpu', /^node:/],
    },
  },
  test: {
    include: ['test/**/*.test.ts'],
    // One GPU (SwiftShader on 2 cores): files run one after another, each in its own process.
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
