/**
 * The command line on a language model, as users run it (`node bin/int8-transformer.mjs ...`), on a
 * random GPT-2 folder (2 layers x 48 hidden, 3 heads, byte-level BPE of 265 ids, 40 positions)
 * written to a temporary folder: `convert` writes an .i8t that loads back as a decoder; `eval --task
 * lm` prints one JSON object whose INT8 perplexity is the CPU integer interpreter's on the same
 * program and whose FP32 perplexity is the float64 interpreter's (the specifications); bad
 * arguments and bad data get one-line errors.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeRandomGpt2Folder } from '../bench/random-gpt2.js';
import { evaluateLm, floatLogitsCpu, intLogitsCpu, lmDocuments, textLines } from '../src/evaluate-lm.js';
import { isDecoderFile, readAnyIntModelFile } from '../src/format/int-model-file.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/int8-transformer.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('int8-transformer: '));

/** Documents to score: plain sentences, a blank line (skipped) and surrounding spaces (stripped). */
const TEXT = [
  'the dog runs in the park.',
  '  A woman is reading a book near the window.  ',
  '',
  'two men are talking on the street',
  'where did the cat go?',
  'She said: "the train was late, again!"',
].join('\n');

/** Perplexity of the CPU interpreters (the specifications) on the same documents. */
async function cpuPerplexities(folder: string, i8t: string, lines: string[]) {
  const files = folderSource(folder);
  const model = await loadDecoderModel(files);
  const tokenizer = await loadDecoderTokenizer(files, model.config);
  const file = await readAnyIntModelFile(new Uint8Array(readFileSync(i8t)));
  const documents = lmDocuments(tokenizer, lines, model.config.maxPositions);
  const o = { vocab: model.config.vocabSize, padId: model.config.eosTokenId };
  const r = await evaluateLm(intLogitsCpu(file.program), floatLogitsCpu(model), documents, o);
  return { ...r, expectedTokens: documents.reduce((n, d) => n + d.length - 1, 0) };
}

describe('int8-transformer CLI on a language model (random GPT-2)', { timeout: 600_000 }, () => {
  let dir: string;
  let folder: string;
  let data: string;
  let i8t: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'i8t-lm-'));
    folder = writeRandomGpt2Folder(join(dir, 'random-gpt2'), 11, {
      n_embd: 48,
      n_head: 3,
      n_layer: 2,
      n_positions: 40,
      vocab_size: 265,
    });
    data = join(dir, 'text.txt');
    writeFileSync(data, TEXT);
    i8t = join(dir, 'gpt2.i8t');
  });

  it('converts a GPT-2 folder with a text file (one document per line) into an .i8t that loads back as a decoder', async () => {
    const calib = join(dir, 'calib.txt');
    writeFileSync(calib, 'a man rides a horse.\n\nthe children play in the snow\nan old car is parked outside\n');
    const r = cli('convert', folder, '--calib', calib, '-o', i8t);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/wrote .*gpt2\.i8t: .* MB \(0\.\d+x model\.safetensors\)/);
    const file = await readAnyIntModelFile(new Uint8Array(readFileSync(i8t)));
    expect(isDecoderFile(file)).toBe(true);
    expect(file.program.output.kind).toBe('lm-logits');
    expect(file.generation).toMatchObject({ eos_token_id: 264 });
    // Three documents: the blank line is none; 'max' ranges by default for language models.
    expect(file.provenance).toMatchObject({ model: { name: 'random-gpt2' }, calibration: { method: 'max', texts: 3 } });
    const inspect = cli('inspect', i8t);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/GPT2LMHeadModel: 2 layers, hidden 48, 3 heads, FFN 192/);
  });

  it('converts without calibration text on the built-in English sentences, saying so', () => {
    const out = join(dir, 'builtin.i8t');
    const r = cli('convert', folder, '--calib-limit', '20', '-o', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/calibrating on the 64 built-in English sentences/);
    const inspect = cli('inspect', out);
    expect(inspect.stdout).toMatch(/"method":"max","texts":20/);
  });

  it('eval --task lm on the .i8t: INT8 perplexity equals the CPU integer interpreter, FP32 null without float weights and the float64 model with --reference', async () => {
    const lines = textLines(TEXT);
    const cpu = await cpuPerplexities(folder, i8t, lines);
    const r = cli('eval', '--task', 'lm', '--model', i8t, '--data', data, '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ task: 'lm', n: 5, tokens: cpu.expectedTokens, fp32Perplexity: null });
    expect(Object.keys(report)).toEqual(
      expect.arrayContaining(['task', 'n', 'tokens', 'fp32Perplexity', 'int8Perplexity', 'msPerToken']),
    );
    // The GPU's int32 logits are the CPU's bit for bit, so the perplexities agree to float64 rounding.
    expect(report.int8Perplexity / cpu.int8Perplexity - 1).toBeCloseTo(0, 12);
    expect(report.msPerToken).toBeGreaterThan(0);

    const ref = cli(
      'eval',
      '--task',
      'lm',
      '--model',
      i8t,
      '--reference',
      folder,
      '--data',
      data,
      '--limit',
      '3',
      '--json',
    );
    expect(ref.code, ref.stderr).toBe(0);
    const limited = JSON.parse(ref.stdout);
    const cpu3 = await cpuPerplexities(folder, i8t, lines.slice(0, 3));
    expect(limited).toMatchObject({ n: 3, tokens: cpu3.expectedTokens });
    // FP32 on the GPU (float32) against the float64 interpreter.
    expect(Math.abs(limited.fp32Perplexity / cpu3.fp32Perplexity! - 1)).toBeLessThan(1e-4);
    expect(limited.int8Perplexity / cpu3.int8Perplexity - 1).toBeCloseTo(0, 12);
  });

  it('eval --task lm on the folder converts it and reports both perplexities (text output without --json)', () => {
    const r = cli('eval', '--task', 'lm', '--model', folder, '--data', data, '--calib-limit', '16');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/task {7}lm, 5 documents, \d+ tokens predicted/);
    expect(r.stdout).toMatch(/FP32 {7}perplexity \d+\.\d{4}\n/);
    expect(r.stdout).toMatch(/INT8 {7}perplexity \d+\.\d{4} \(-?\d+\.\d\d% from FP32\)/);
    expect(r.stderr).toMatch(/evaluating: 10\/10/);
  });

  it('says what is wrong with bad arguments and bad data, in one line', () => {
    const blank = join(dir, 'blank.txt');
    writeFileSync(blank, '\n   \n\n');
    const long = join(dir, 'long.txt');
    writeFileSync(long, `a short line\n${'word '.repeat(60)}\n`);
    const cases: [string[], number, RegExp][] = [
      [
        ['eval', '--task', 'lm', '--model', i8t, '--data', blank],
        1,
        /blank\.txt: no document to score \(every line is blank/,
      ],
      [['eval', '--task', 'lm', '--model', i8t, '--data', join(dir, 'none.txt')], 2, /no such file: .*none\.txt$/],
      [
        ['eval', '--task', 'lm', '--model', i8t, '--data', data, '--limit', '0'],
        2,
        /--limit must be a positive integer, got 0$/,
      ],
      [
        ['eval', '--task', 'lm', '--model', i8t, '--data', data, '--limit', '2.5'],
        2,
        /--limit must be a positive integer, got 2\.5$/,
      ],
      [['eval', '--task', 'lm', '--model', i8t], 2, /usage: eval --task lm --data/],
      [['eval', '--task', 'mt', '--model', i8t, '--data', data], 2, /--task must be lm or translation, got mt/],
      [
        ['eval', '--task', 'lm', '--model', 'models/sst2-bert-tiny.i8t', '--data', data],
        1,
        /sst2-bert-tiny\.i8t is BertForSequenceClassification, an encoder; --task lm needs a language model/,
      ],
      [
        ['eval', '--task', 'lm', '--model', 'models/sst2-bert-tiny', '--data', data],
        1,
        /sst2-bert-tiny is BertForSequenceClassification, an encoder/,
      ],
      [
        ['eval', '--task', 'lm', '--model', i8t, '--data', data, '--calib', data],
        2,
        /--calib: an \.i8t file is already calibrated/,
      ],
      [
        ['eval', '--task', 'lm', '--model', i8t, '--data', long],
        1,
        /long\.txt: document 2 has \d+ tokens .* at most 40 positions/,
      ],
      [
        ['convert', folder, '--outliers', 'auto', '-o', join(dir, 'x.i8t')],
        2,
        /--outliers auto: language models are planned with one int8 scale/,
      ],
    ];
    for (const [args, code, line] of cases) {
      const r = cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(errorLines(r.stderr), args.join(' ')).toHaveLength(1);
      expect(errorLines(r.stderr)[0], args.join(' ')).toMatch(line);
    }
  });
});
