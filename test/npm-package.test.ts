/**
 * The package exactly as users get it: `npm pack` (which builds dist/ through `prepack`), installed
 * into a fresh project offline (from npm's cache, filled by installing this repository), imported by
 * name, run in Node and in a browser page, its `int8-transformer` command run through npx, and
 * type-checked against its .d.ts (bundler resolution, and nodenext with skipLibCheck false).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, pipePageLogs } from './browser/chromium.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');

function run(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 400_000 });
  return { code: r.status, out: `${r.stdout}\n${r.stderr}`, stdout: r.stdout, stderr: r.stderr };
}

const consumerScript = `
import { loadModel } from 'int8-transformer';
const texts = ['a gorgeous , witty , seductive movie .', 'dull , lifeless and far too long'];
const stages = new Set();
const int8 = await loadModel('default', { onProgress: (p) => stages.add(p.stage) });
const fp32 = await loadModel('default', { precision: 'fp32' });
const a = await int8.classify(texts);
const b = await fp32.classify(texts);
console.log(JSON.stringify({ int8: a.map((p) => p.label), fp32: b.map((p) => p.label), stages: [...stages], weights: [int8.memory().weightBytes, fp32.memory().weightBytes] }));
int8.dispose();
fp32.dispose();
`;

const typedConsumer = `
import { type LoadProgress, type Prediction, type TextModel, type Truncation, loadModel } from 'int8-transformer';
const seen: LoadProgress[] = [];
const cut: Truncation[] = [];
const model: TextModel = await loadModel('default', { precision: 'int8', onProgress: (p) => seen.push(p) });
const preds: Prediction[] = await model.classify(['fine', 'bad'], { maxLength: 64, onTruncated: (t) => cut.push(t) });
const profile = await model.profile('fine');
const kernels: number = profile.kernels.length + model.memory().weightBytes + preds[0].score;
const truncated: boolean = preds[0].truncated;
console.log(kernels, seen.length, truncated, cut.length, model.tokenizer.tokenizer.decode([101]));
model.dispose();
`;

/** How a Node project on current TypeScript defaults compiles: its own resolution, every .d.ts checked. */
const nodenextConfig = (file: string) => ({
  compilerOptions: {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: [],
  },
  files: [file],
});

// Proves the types are really resolved: were they 'any', this would compile.
const mistypedConsumer = `
import { loadModel } from 'int8-transformer';
const model = await loadModel();
const label: number = (await model.classify('fine'))[0].label;
`;

describe('the npm package', { timeout: 600_000 }, () => {
  let dir = '';
  let tarball = '';
  let project = '';

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'int8-transformer-pack-'));
    const pack = run('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], root);
    expect(pack.code, pack.out).toBe(0);
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    project = join(dir, 'consumer');
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the built module, its declarations and the built-in models, not the sources', () => {
    const list = run('tar', ['-tzf', tarball], dir).stdout.split('\n');
    for (const f of [
      'package/dist/index.js',
      'package/dist/cli.js',
      'package/dist/types/src/index.d.ts',
      'package/models/sst2-bert-tiny.i8t',
      'package/models/sst2-bert-tiny/model.safetensors',
      'package/models/multi30k-gpt2-tiny.i8t',
      'package/models/multi30k-gpt2-tiny/model.safetensors',
      'package/README.md',
      'package/package.json',
    ]) {
      expect(list).toContain(f);
    }
    expect(list.filter((f) => /^package\/(src|test|bench|demo|shaders|tools|bin)\//.test(f))).toEqual([]);
    // The command is the built JavaScript (no tsx, which is not a dependency), run by node.
    const manifest = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], dir).stdout);
    expect(manifest.bin).toEqual({ 'int8-transformer': 'dist/cli.js' });
    expect(Object.keys(manifest.dependencies ?? {})).not.toContain('tsx');
    expect(manifest.optionalDependencies?.webgpu).toBeDefined();
    expect(run('tar', ['-xzOf', tarball, 'package/dist/cli.js'], dir).stdout.split('\n')[0]).toBe(
      '#!/usr/bin/env node',
    );
  });

  it('installs into a new project, imports by name and classifies in Node (int8 and fp32)', () => {
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // --offline: the dependencies come from npm's cache (filled by installing this repository);
    // webgpu, an optional dependency, comes with the package.
    const install = run(
      'npm',
      ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', tarball],
      project,
    );
    expect(install.code, install.out).toBe(0);
    expect(existsSync(join(project, 'node_modules/webgpu/package.json'))).toBe(true);

    writeFileSync(join(project, 'index.mjs'), consumerScript);
    const r = run(process.execPath, ['index.mjs'], project);
    expect(r.code, r.out).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(result.int8).toEqual(['POSITIVE', 'NEGATIVE']);
    expect(result.fp32).toEqual(['POSITIVE', 'NEGATIVE']);
    expect(result.stages).toEqual(['compile', 'ready']);
    expect(result.weights[0]).toBeLessThan(result.weights[1] / 3);

    writeFileSync(join(project, 'typed.ts'), typedConsumer);
    writeFileSync(join(project, 'mistyped.ts'), mistypedConsumer);
    const flags = [
      '--noEmit',
      '--strict',
      '--module',
      'preserve',
      '--moduleResolution',
      'bundler',
      '--target',
      'es2022',
      '--lib',
      'es2022,dom',
    ];
    const typed = run(process.execPath, [tsc, ...flags, 'typed.ts'], project);
    expect(typed.code, typed.out).toBe(0);
    const mistyped = run(process.execPath, [tsc, ...flags, 'mistyped.ts'], project);
    expect(mistyped.code).not.toBe(0);
    expect(mistyped.out).toMatch(/mistyped\.ts\(4,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
  });

  it('type-checks under moduleResolution nodenext with skipLibCheck false (every .d.ts it reaches)', () => {
    for (const file of ['typed', 'mistyped']) {
      writeFileSync(join(project, `tsconfig.${file}.json`), JSON.stringify(nodenextConfig(`${file}.ts`)));
    }
    const typed = run(process.execPath, [tsc, '-p', 'tsconfig.typed.json'], project);
    expect(typed.code, typed.out).toBe(0);
    const mistyped = run(process.execPath, [tsc, '-p', 'tsconfig.mistyped.json'], project);
    expect(mistyped.code).not.toBe(0);
    expect(mistyped.out).toMatch(/mistyped\.ts\(4,7\): error TS2322: Type 'string' is not assignable to type 'number'/);
  });

  it('runs its command with npx in that project: the built CLI, quiet, with the built-in model found in the package', () => {
    const r = run('npx', ['--no', 'int8-transformer', 'classify', 'a fine film'], project);
    expect(r.code, r.out).toBe(0);
    expect(r.stdout).toMatch(/^int8 {2}POSITIVE +\d\.\d{3} {2}a fine film$/m);
    // Dawn's adapter messages are filtered; progress on a pipe is whole lines.
    expect(r.stderr).not.toMatch(/Warning: |\.cpp:\d+\)/);
    expect(r.stderr).not.toMatch(/\r/);
    expect(r.stderr).toMatch(/^ready: BertForSequenceClassification/m);
    const help = run(join(project, 'node_modules/.bin/int8-transformer'), ['--help'], project);
    expect(help.code, help.out).toBe(0);
    expect(help.stdout).toMatch(/^Command line:\n {2}int8-transformer /);
    expect(help.stdout).toMatch(/int8-transformer classify \[--model/);
  });

  it('without its optional webgpu (--omit=optional), the command says in one line how to install it', () => {
    const bare = join(dir, 'no-webgpu');
    mkdirSync(bare);
    writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'no-webgpu', private: true, type: 'module' }));
    const install = run(
      'npm',
      [
        'install',
        '--offline',
        '--omit=optional',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        tarball,
      ],
      bare,
    );
    expect(install.code, install.out).toBe(0);
    expect(existsSync(join(bare, 'node_modules/webgpu'))).toBe(false);
    const r = run('npx', ['--no', 'int8-transformer', 'device'], bare);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'int8-transformer: WebGPU for Node needs the npm package "webgpu" (Dawn\'s binding), which is not installed: run `npm install webgpu`\n',
    );
  });

  it('runs in a browser page of that project, served by Vite with the package left un-pre-bundled (as the README says)', async () => {
    writeFileSync(join(project, 'index.html'), pageHtml);
    const server = await createServer({
      root: project,
      configFile: false,
      logLevel: 'error',
      optimizeDeps: { exclude: ['int8-transformer'] },
      server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
    });
    await server.listen();
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      pipePageLogs(page, 'consumer page');
      await page.goto(server.resolvedUrls!.local[0]);
      await page.waitForFunction(() => document.getElementById('out')!.textContent !== 'loading', null, {
        timeout: 240_000,
      });
      const result = JSON.parse((await page.textContent('#out'))!);
      expect(result.labels).toEqual(['POSITIVE', 'NEGATIVE']);
      expect(result.kernels).toBeGreaterThan(10);
    } finally {
      await browser.close();
      await server.close();
    }
  });
});

const pageHtml = `<!doctype html>
<pre id="out">loading</pre>
<script type="module">
import { loadModel } from 'int8-transformer';
const out = document.getElementById('out');
try {
  const model = await loadModel();
  const labels = (await model.classify(['a gorgeous , witty , seductive movie .', 'dull , lifeless and far too long'])).map((p) => p.label);
  const kernels = (await model.profile('fine')).kernels.length;
  model.dispose();
  out.textContent = JSON.stringify({ labels, kernels });
} catch (e) {
  out.textContent = JSON.stringify({ error: e.message });
}
</script>
`;
