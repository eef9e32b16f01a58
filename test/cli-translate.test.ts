/**
 * The command line on a translation model, as users run it (`node bin/int8-transformer.mjs ...`), on
 * a random small MarianMTModel with a toy tokenizer (test/cases/random-marian.ts) written to a
 * temporary folder: `convert` writes a translator .i8t; `translate` prints what model.translate()
 * gives (greedy streamed, beam search one line per text, --fp32 from the folder); `eval --task
 * translation` prints one JSON object whose INT8 BLEU is that of the API's translations, the same on
 * the CPU backend (the integer specification) as on the GPU; bad arguments get one-line errors with
 * exit code 2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusBleu } from '../src/bleu.js';
import { isTranslatorFile, readAnyIntFile } from '../src/format/int-model-file.js';
import { loadModel, type TextModel } from '../src/index.js';
import { randomMarianFiles } from './cases/random-marian.js';
import { testGpu } from './gpu.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/int8-transformer.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking: independent invocations run side by side. */
function cliAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/int8-transformer.mjs', ...args], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The CLI's own error lines (not its notice of hidden Dawn start-up messages). */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('int8-transformer: '));

const MODEL_FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
];
const CALIBRATION = [
  'the cat sat on the mat.',
  'a dog ran in the rain.',
  'then the night came.',
  'an otter eats fish.',
];
const SOURCES = ['the cat sat on the mat.', 'a dog ran.', 'then the rain came in the night.'];
/** The JSON's first keys, in this order (the report). */
const KEYS = ['task', 'n', 'fp32Bleu', 'int8Bleu', 'agreement', 'msPerSentence'];

describe('int8-transformer CLI on a translation model (random Marian)', { timeout: 600_000 }, () => {
  let dir: string;
  let folder: string;
  let i8t: string;
  let source: string;
  let int8: TextModel;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'i8t-mt-'));
    folder = join(dir, 'random-marian');
    mkdirSync(folder);
    const files = randomMarianFiles(5, { tokenizer: true });
    for (const name of MODEL_FILES) writeFileSync(join(folder, name), await files.read(name));
    writeFileSync(join(dir, 'calib.txt'), `${CALIBRATION.join('\n')}\n\n`);
    source = join(dir, 'source.txt');
    writeFileSync(source, `${SOURCES.join('\n')}\n`);
    i8t = join(dir, 'marian.i8t');
    const r = cli('convert', folder, '--calib', join(dir, 'calib.txt'), '-o', i8t);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*marian\.i8t: .* MB \(\d\.\d+x model\.safetensors\)/);
    int8 = await loadModel(new Uint8Array(readFileSync(i8t)), { gpu: await testGpu() });
  });

  afterAll(() => int8?.dispose());

  it('convert writes a translator .i8t calibrated on the source lines of --calib (blank lines skipped)', async () => {
    const file = await readAnyIntFile(new Uint8Array(readFileSync(i8t)));
    expect(isTranslatorFile(file)).toBe(true);
    expect(file.provenance).toMatchObject({
      model: { name: 'random-marian' },
      calibration: { method: 'max', texts: CALIBRATION.length },
    });
    expect(int8.capabilities).toEqual(['translate']);
  });

  it('translate streams a greedy translation and gives beam search one line per text, as the API does', async () => {
    const greedy = cli('translate', '--model', i8t, SOURCES[0]);
    expect(greedy.code, greedy.stderr).toBe(0);
    const api = await int8.translate(SOURCES[0]);
    expect(api.tokens.length).toBeGreaterThan(1);
    expect(greedy.stdout).toBe(`${api.text}\n`);
    expect(greedy.stderr).toMatch(new RegExp(`int8: 1 sentence, ${api.tokens.length} tokens, greedy, [\\d.]+ ms`));

    const beams = cli('translate', '--model', i8t, '--beams', '2', ...SOURCES.slice(0, 2));
    expect(beams.code, beams.stderr).toBe(0);
    const apiBeams = await int8.translate(SOURCES.slice(0, 2), { numBeams: 2 });
    expect(beams.stdout).toBe(apiBeams.map((t) => `${t.text}\n`).join(''));
    expect(beams.stderr).toMatch(/int8: 2 sentences, \d+ tokens, 2 beams/);

    const fp32 = cli('translate', '--model', folder, '--fp32', '--max-new-tokens', '3', SOURCES[1]);
    expect(fp32.code, fp32.stderr).toBe(0);
    expect(fp32.stdout).toMatch(/\n$/);
    expect(fp32.stderr).toMatch(/fp32: 1 sentence, [1-3] tokens, greedy/);

    // inspect reads a translator file: both stacks, the source rows and cross-attention.
    const inspect = cli('inspect', i8t);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^MarianMTModel: 2 \+ 3 layers, hidden 16, 2 \/ 4 heads, FFN 24 \/ 32/);
    expect(inspect.stdout).toMatch(/queries of decoder\.layer\.0\.cross_q over keys of decoder\.layer\.0\.cross_kv/);
  });

  it('eval --task translation --json: INT8 BLEU of the API translations, identical on the CPU and GPU backends', async () => {
    // References: the API's INT8 translations for two sentences, a wrong one for the third, so that
    // INT8 BLEU is neither 0 nor 100 and is the BLEU of exactly these outputs.
    const api = await Promise.all(SOURCES.map(async (s) => (await int8.translate(s)).text));
    const references = [api[0], api[1], 'ein ganz anderer satz hier .'];
    const target = join(dir, 'target.txt');
    writeFileSync(target, `${references.join('\n')}\n`);
    const expected = corpusBleu(api, references).score;
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(100);

    const run = (backend: string) =>
      cliAsync(
        'eval',
        '--task',
        'translation',
        '--model',
        i8t,
        '--reference',
        folder,
        '--source',
        source,
        '--target',
        target,
        '--backend',
        backend,
        '--json',
      );
    const [cpu, gpu] = await Promise.all([run('cpu'), run('gpu')]);
    const reports = [cpu, gpu].map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    });
    for (const [i, report] of reports.entries()) {
      expect(Object.keys(report).slice(0, KEYS.length)).toEqual(KEYS);
      expect(report).toMatchObject({ task: 'translation', n: 3, beams: 1, batch: 1, backend: ['cpu', 'gpu'][i] });
      for (const key of ['fp32Bleu', 'int8Bleu']) {
        expect(typeof report[key]).toBe('number');
        expect(report[key]).toBeGreaterThanOrEqual(0);
        expect(report[key]).toBeLessThanOrEqual(100);
      }
      expect(report.agreement).toBeGreaterThanOrEqual(0);
      expect(report.agreement).toBeLessThanOrEqual(1);
      // Agreement is the share of identical texts: the three examples are the whole set.
      const same = report.examples.filter((e: { int8: string; fp32: string }) => e.int8 === e.fp32).length;
      expect(report.agreement).toBe(same / 3);
      expect(report.msPerSentence).toBeGreaterThan(0);
      expect(report.int8Bleu).toBe(expected);
      expect(report.examples.map((e: { int8: string }) => e.int8)).toEqual(api);
    }
    expect(cpu.stderr).toMatch(/translating \(BLEU INT8 +[\d.]+, FP32 +[\d.]+\): 3\/3/);

    // An .i8t alone has no float weights; beams and --limit are reported.
    const alone = cli(
      'eval',
      '--task',
      'translation',
      '--model',
      i8t,
      '--source',
      source,
      '--target',
      target,
      '--backend',
      'cpu',
      '--beams',
      '2',
      '--limit',
      '2',
      '--json',
    );
    expect(alone.code, alone.stderr).toBe(0);
    expect(JSON.parse(alone.stdout)).toMatchObject({ n: 2, fp32Bleu: null, agreement: null, beams: 2, fp32: null });
  });

  it('eval --task translation on the folder converts it and prints both BLEUs as text', () => {
    const r = cli(
      'eval',
      '--task',
      'translation',
      '--model',
      folder,
      '--calib',
      join(dir, 'calib.txt'),
      '--source',
      source,
      '--target',
      source,
      '--backend',
      'cpu',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/task {7}translation, 3 sentences, greedy, batch 1/);
    expect(r.stdout).toMatch(/FP32 {7}BLEU \d+\.\d\d/);
    expect(r.stdout).toMatch(/INT8 {7}BLEU \d+\.\d\d/);
    expect(r.stdout).toMatch(/agreement +\d+\.\d% identical/);
  });

  it('says what is wrong in one line, exit code 2 for usage errors, no stack', async () => {
    const short = join(dir, 'short.txt');
    writeFileSync(short, 'one line\n');
    const evalArgs = ['eval', '--task', 'translation', '--model', i8t];
    const cases: (readonly [readonly string[], number, RegExp])[] = [
      [[...evalArgs, '--target', source], 2, /usage: eval --task translation --source <file> --target <file>/],
      [
        [...evalArgs, '--source', source, '--target', source, '--beams', '0'],
        2,
        /--beams must be a positive integer, got 0$/,
      ],
      [
        [...evalArgs, '--source', source, '--target', source, '--beams', '65'],
        2,
        /--beams = 65 must be an integer in \[1, 64\]/,
      ],
      [
        [...evalArgs, '--source', source, '--target', source, '--backend', 'tpu'],
        2,
        /--backend must be gpu or cpu, got tpu$/,
      ],
      [[...evalArgs, '--source', source, '--target', short], 1, /has 3 lines and .*short\.txt 1/],
      [[...evalArgs, '--source', join(dir, 'none.txt'), '--target', source], 2, /no such file: .*none\.txt$/],
      [['eval', '--task', 'lm', '--source', source], 2, /--source is for eval --task translation$/],
      [['translate', '--model', i8t, '--fp32', 'a cat'], 2, /--fp32 needs a Hugging Face folder/],
      [['translate', '--model', i8t, '--beams', '0', 'a cat'], 2, /--beams must be a positive integer, got 0$/],
      // Until a built-in translation model is shipped in models/.
      ...(existsSync(join(root, 'models/multi30k-marian-en-de.i8t'))
        ? []
        : [[['translate', 'a cat'], 2, /--model is required: there is no built-in translation model/] as const]),
      [['translate', '--model', i8t], 2, /usage: translate --model/],
      [
        ['translate', '--model', 'models/multi30k-gpt2-tiny.i8t', 'a cat'],
        2,
        /multi30k-gpt2-tiny\.i8t is GPT2LMHeadModel, not a translation model; translate needs a Marian folder/,
      ],
      [
        ['translate', '--model', 'models/sst2-bert-tiny.i8t', 'a cat'],
        2,
        /sst2-bert-tiny\.i8t is BertForSequenceClassification, not a translation model/,
      ],
      [
        ['translate', '--model', 'models/sst2-bert-tiny', 'a cat'],
        2,
        /sst2-bert-tiny is BertForSequenceClassification, not a translation model/,
      ],
    ];
    // Four at a time: each is a Node process of its own.
    const results: Awaited<ReturnType<typeof cliAsync>>[] = [];
    for (let i = 0; i < cases.length; i += 4)
      results.push(...(await Promise.all(cases.slice(i, i + 4).map(([args]) => cliAsync(...args)))));
    results.forEach((r, i) => {
      const [args, code, line] = cases[i];
      const what = `${args.join(' ')}: ${r.stderr}`;
      expect(r.code, what).toBe(code);
      expect(errorLines(r.stderr), what).toHaveLength(1);
      expect(errorLines(r.stderr)[0], what).toMatch(line);
      // No stack of ours (Dawn's adapter warning has an "at" line of its own C++ source).
      expect(r.stderr, what).not.toMatch(/\n\s+at .*\.(ts|js|mjs)\b/);
    });
  });
});
