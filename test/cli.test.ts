/** The command-line tool as users run it: `node bin/int8-transformer.mjs ...`. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const shared = fileURLToPath(new URL('../../shared', import.meta.url));
const hasShared = existsSync(`${shared}/models/sst2-bert-tiny`);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/int8-transformer.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
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
  it('classifies given sentences with a model file', () => {
    const r = cli('classify', '--model', 'models/sst2-bert-tiny.i8t', 'an utterly charming and hilarious delight', 'dull , lifeless and far too long');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/POSITIVE .* an utterly charming/);
    expect(r.stdout).toMatch(/NEGATIVE .* dull , lifeless/);
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
    const empty = cli('classify', '--model', 'models/sst2-bert-tiny.i8t', '   ');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/empty/i);
  });
  it.skipIf(!hasShared)('converts a Hugging Face folder and inspects the result', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'i8t-')), 'tiny.i8t');
    const r = cli('convert', `${shared}/models/sst2-bert-tiny`, '--calib', `${shared}/data/glue/sst2/train_calib1000.tsv`, '--calib-limit', '8', '--method', 'max', '-o', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*tiny\.i8t: .* MB \(0\.2[0-7]\dx model\.safetensors\)/);
    const inspect = cli('inspect', out);
    expect(inspect.code).toBe(0);
    expect(inspect.stdout).toMatch(/layer\.1\.output_norm +i8/);
    expect(inspect.stdout).toMatch(/"method":"max","texts":8/);
  });
  it.skipIf(!hasShared)('evaluates on a GLUE tsv and prints one JSON object with --json', () => {
    const r = cli('eval', '--model', 'models/sst2-bert-tiny.i8t', '--reference', `${shared}/models/sst2-bert-tiny`, '--data', `${shared}/data/glue/sst2/dev.tsv`, '--limit', '16', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report)).toEqual(expect.arrayContaining(['model', 'task', 'n', 'fp32Accuracy', 'int8Accuracy', 'agreement', 'msPerSentence']));
    expect(report.task).toBe('sst2');
    expect(report.n).toBe(16);
    expect(report.agreement).toBeGreaterThanOrEqual(15 / 16);
    expect(r.stderr).toMatch(/evaluating: 32\/32/);
  });
});
