/** The command-line tool as users run it: `node bin/int8-transformer.mjs ...`. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CALIBRATION } from '../src/calibrate/default-calibration.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const shared = fileURLToPath(new URL('../../shared', import.meta.url));
const hasShared = existsSync(`${shared}/models/sst2-bert-tiny`);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/int8-transformer.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('int8-transformer CLI', { timeout: 300_000 }, () => {
  it('with no command classifies the example sentences with the built-in model', () => {
    const r = cli();
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/int8 {2}POSITIVE .* a gorgeous , witty , seductive movie \./);
    expect(r.stdout).toMatch(/int8 {2}NEGATIVE .* the plot is nothing but boilerplate/);
  });
  it('classifies given sentences with a model file, on the GPU and (--device cpu) on the CPU alike', () => {
    const texts = ['an utterly charming and hilarious delight', 'dull , lifeless and far too long'];
    const r = cli('classify', '--model', 'models/sst2-bert-tiny.i8t', ...texts);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/POSITIVE .* an utterly charming/);
    expect(r.stdout).toMatch(/NEGATIVE .* dull , lifeless/);
    const onCpu = cli('classify', '--model', 'models/sst2-bert-tiny.i8t', '--device', 'cpu', ...texts);
    expect(onCpu.code, onCpu.stderr).toBe(0);
    expect(onCpu.stdout).toMatch(/int8 \(CPU\): [\d.]+ ms per sentence/);
    // Same integer program, same logits: the printed labels and scores agree line for line.
    const lines = (out: string) => out.split('\n').filter((l) => l.startsWith('int8  '));
    expect(lines(onCpu.stdout)).toHaveLength(2);
    expect(lines(onCpu.stdout)).toEqual(lines(r.stdout));
    const bad = cli('classify', '--device', 'gpu', 'text');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--device must be auto, webgpu or cpu, got gpu/);
    const fp32 = cli('classify', '--device', 'cpu', '--fp32', 'text');
    expect(fp32.code).toBe(2);
    expect(fp32.stderr).toMatch(/--fp32 runs the float model on WebGPU/);
  });
  it('classifies with the built-in float twin (--fp32) and refuses --fp32 on an integer file', () => {
    const r = cli('classify', '--fp32', 'an utterly charming and hilarious delight');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fp32 {2}POSITIVE .* an utterly charming/);
    const refused = cli('classify', '--fp32', '--model', 'models/sst2-bert-tiny.i8t', 'text');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is an integer model file: it holds no float weights/);
  });
  it('says what is wrong with bad arguments and bad files', () => {
    const unknown = cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const missing = cli('classify', '--model', 'no/such/model.i8t', 'text');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such model: no\/such\/model.i8t/);
    const dir = mkdtempSync(join(tmpdir(), 'i8t-'));
    writeFileSync(join(dir, 'bad.i8t'), 'this is not a model');
    const bad = cli('classify', '--model', join(dir, 'bad.i8t'), 'text');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bad magic/);
    // A text without tokens is the empty sequence, as in transformers: classified, not refused.
    const empty = cli('classify', '--model', 'models/sst2-bert-tiny.i8t', '   ', 'fine');
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout.split('\n').filter((l) => l.startsWith('int8  '))).toHaveLength(2);
  });
  it('prints every error as one line "int8-transformer: <message>", exit 1 (2 for usage), with the stack only under --verbose', () => {
    const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('int8-transformer: '));
    // A JavaScript stack frame ("at fn (file.ts:12:34)"); Dawn's own start-up warning has C++ frames.
    const jsStack = /\bat .*\.(ts|js|mjs):\d+:\d+/;
    const cases: [string[], number, RegExp][] = [
      [
        ['eval', '--model', 'models/sst2-bert-tiny.i8t', '--data', 'README.md'],
        1,
        /^int8-transformer: README\.md: unrecognised layout/,
      ],
      [['eval', '--data', 'README.md'], 2, /^int8-transformer: usage: eval --model/],
      [['classify', '--model'], 2, /^int8-transformer: --model needs a value$/],
      [
        ['classify', '--model', 'no/such/model.i8t', 'text'],
        2,
        /^int8-transformer: no such model: no\/such\/model\.i8t$/,
      ],
      [
        ['classify', '--modle', 'x.i8t', 'text'],
        2,
        /^int8-transformer: unknown option --modle for "classify" \(it takes --model, /,
      ],
      [['--frobnicate'], 2, /^int8-transformer: unknown option --frobnicate for the default command/],
      [['device', 'extra'], 2, /^int8-transformer: unexpected argument "extra"/],
      [['inspect', 'README.md'], 1, /^int8-transformer: README\.md: .*magic/],
      [['classify', '--batch', '0', 'text'], 2, /^int8-transformer: --batch must be a positive integer, got 0$/],
      [['classify', '--fp32=yes', 'text'], 2, /^int8-transformer: --fp32 takes no value$/],
    ];
    for (const [args, code, line] of cases) {
      const r = cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(errorLines(r.stderr), args.join(' ')).toHaveLength(1);
      expect(errorLines(r.stderr)[0], args.join(' ')).toMatch(line);
      expect(r.stderr, args.join(' ')).not.toMatch(jsStack);
    }
    const verbose = cli('inspect', 'README.md', '--verbose');
    expect(verbose.code).toBe(1);
    expect(errorLines(verbose.stderr)).toHaveLength(1);
    expect(verbose.stderr).toMatch(jsStack);
    // `--` ends the options: a text may start with "-".
    const dashed = cli('classify', '--', '--not-an-option');
    expect(dashed.code, dashed.stderr).toBe(0);
    expect(dashed.stdout).toMatch(/ {2}--not-an-option/);
  });
  it('converts the built-in float twin with a calibration file, then evaluates the result on a tsv (no ../shared)', {
    timeout: 600_000,
  }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'i8t-'));
    // Calibration reads only the sentences; the labels are there because an SST-2 tsv has them.
    const calib = join(dir, 'calib.tsv');
    writeFileSync(calib, ['sentence\tlabel', ...DEFAULT_CALIBRATION.slice(0, 12).map((t) => `${t}\t0`)].join('\n'));
    const out = join(dir, 'twin.i8t');
    const r = cli('convert', 'models/sst2-bert-tiny', '--calib', calib, '--method', 'max', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    // The twin stores float16, so the int8 file is about half its model.safetensors.
    expect(r.stdout).toMatch(/wrote .*twin\.i8t: .* MB \(0\.[45]\d\dx model\.safetensors\)/);
    const inspect = cli('inspect', out);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/"method":"max","texts":12/);

    // Clear-cut reviews, none of them in the calibration text.
    const reviews: [string, number][] = [
      ['a gorgeous , witty , seductive movie .', 1],
      ['the worst film of the year , dull and lifeless .', 0],
      ['an utterly charming and hilarious delight', 1],
      ['dull , lifeless and far too long', 0],
      ['a moving , beautifully acted and wonderfully made film .', 1],
      ['a tedious , boring mess with nothing to say .', 0],
    ];
    const data = join(dir, 'reviews.tsv');
    writeFileSync(data, ['sentence\tlabel', ...reviews.map(([t, l]) => `${t}\t${l}`)].join('\n'));
    const e = cli('eval', '--model', out, '--reference', 'models/sst2-bert-tiny', '--data', data, '--json');
    expect(e.code, e.stderr).toBe(0);
    const report = JSON.parse(e.stdout);
    expect(report).toMatchObject({ task: 'sst2', n: reviews.length });
    // The reference gets every one right, and the converted model agrees with it on every one.
    expect(report.fp32Accuracy).toBe(1);
    expect(report.int8Accuracy).toBe(1);
    expect(report.agreement).toBe(1);
  });
  it.skipIf(!hasShared)('converts a Hugging Face folder and inspects the result', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'i8t-')), 'tiny.i8t');
    const r = cli(
      'convert',
      `${shared}/models/sst2-bert-tiny`,
      '--calib',
      `${shared}/data/glue/sst2/train_calib1000.tsv`,
      '--calib-limit',
      '8',
      '--method',
      'max',
      '-o',
      out,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*tiny\.i8t: .* MB \(0\.2[0-7]\dx model\.safetensors\)/);
    const inspect = cli('inspect', out);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/layer\.1\.output_norm +\[batch, query, 128\] +i8 /);
    expect(inspect.stdout).toMatch(/"method":"max","texts":8/);
  });
  it.skipIf(!hasShared)(
    'convert --report on the outlier checkpoint names the outlier channels and what was smoothed; inspect shows the wide LayerNorms',
    () => {
      const out = join(mkdtempSync(join(tmpdir(), 'i8t-')), 'outlier.i8t');
      const r = cli(
        'convert',
        `${shared}/models/sst2-distilbert-outlier`,
        '--calib',
        `${shared}/data/glue/sst2/train_calib1000.tsv`,
        '--calib-limit',
        '8',
        '--report',
        '-o',
        out,
      );
      expect(r.code, r.stderr).toBe(0);
      // The planted channels (its SOURCE.md: 37, 150, 211) lead the report and the smoothing.
      expect(r.stdout).toMatch(/\nembeddings\.norm .* (37|150|211)\* /);
      expect(r.stdout).toMatch(/\d+ of 47 tensors have outlier channels/);
      expect(r.stdout).toMatch(/ {2}embeddings\.norm: channels (37|150|211), (37|150|211), (37|150|211) divided by/);
      // Within the 0.27x of the float32 weights.
      expect(r.stdout).toMatch(/wrote .*outlier\.i8t: .* MB \(0\.2[0-6]\dx model\.safetensors\)/);
      const inspect = cli('inspect', out);
      expect(inspect.code).toBe(0);
      expect(
        inspect.stdout.match(/written into the wide stream \(saturating at 2097152\) for its residual readers/g),
      ).toHaveLength(8);
    },
  );
  it.skipIf(!hasShared)('evaluates on a GLUE tsv and prints one JSON object with --json', () => {
    const r = cli(
      'eval',
      '--model',
      'models/sst2-bert-tiny.i8t',
      '--reference',
      `${shared}/models/sst2-bert-tiny`,
      '--data',
      `${shared}/data/glue/sst2/dev.tsv`,
      '--limit',
      '16',
      '--json',
    );
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report)).toEqual(
      expect.arrayContaining(['model', 'task', 'n', 'fp32Accuracy', 'int8Accuracy', 'agreement', 'msPerSentence']),
    );
    expect(report.task).toBe('sst2');
    expect(report.n).toBe(16);
    expect(report.agreement).toBeGreaterThanOrEqual(15 / 16);
    // Progress counts sentences (each batch runs INT8 then FP32), not sentences x models.
    expect(r.stderr).toMatch(/evaluating: 16\/16 sentences/);
  });
});
