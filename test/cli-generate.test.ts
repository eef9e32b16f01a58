/**
 * `generate` as users run it (`node bin/int8-transformer.mjs generate ...`): the built-in GPT-2
 * (models/multi30k-gpt2-tiny, shipped, so no ../shared needed) streams a greedy continuation equal
 * to the API's; its float twin with --fp32; seeded sampling repeats; bad arguments get one line.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInModelUrl, loadModel } from '../src/api.js';
import type { TextModel } from '../src/session.js';
import { testGpu } from './gpu.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/int8-transformer.mjs', 'generate', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('int8-transformer: '));
const PROMPT = 'a man in a blue shirt';

describe('int8-transformer generate (built-in GPT-2)', { timeout: 600_000 }, () => {
  let model: TextModel;

  beforeAll(async () => {
    model = await loadModel(builtInModelUrl('int8', 'generate'), { gpu: await testGpu() });
  });

  afterAll(() => model?.dispose());

  it('streams the greedy continuation the API gives, and reports tokens and time on stderr', async () => {
    const r = cli(PROMPT, '--max-new-tokens', '12');
    expect(r.code).toBe(0);
    const api = await model.generate(PROMPT, { maxNewTokens: 12 });
    expect(r.stdout).toBe(`${api.text}\n`);
    expect(api.text.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(
      new RegExp(`int8: ${api.tokens.length} tokens \\(${api.finishReason}\\), [\\d.]+ ms per token`),
    );
  });

  it('--fp32 runs the float twin; sampling with a seed repeats', () => {
    const f = cli(PROMPT, '--max-new-tokens', '6', '--fp32');
    expect(f.code).toBe(0);
    expect(f.stderr).toMatch(/fp32: \d+ tokens/);
    const sample = () =>
      cli('two dogs', '--max-new-tokens', '10', '--temperature', '0.9', '--top-k', '40', '--seed', '5');
    const a = sample();
    expect(a.code).toBe(0);
    expect(sample().stdout).toBe(a.stdout);
  });

  it.each([
    [[], /usage: generate/],
    [['a', 'b'], /one prompt per call/],
    [[PROMPT, '--top-p', '0.5'], /give a --temperature above 0/],
    [[PROMPT, '--temperature', 'hot'], /--temperature must be a number, got hot/],
    [[PROMPT, '--temperature', '-1'], /--temperature = -1/],
    [[PROMPT, '--max-new-tokens', '0'], /--max-new-tokens must be a positive integer/],
    [[PROMPT, '--max-new-tokens', '500'], /need \d+ positions; the model has 128/],
    [[PROMPT, '--model', 'no/such/folder'], /no such model: no\/such\/folder/],
    [[PROMPT, '--fp32', '--model', 'models/multi30k-gpt2-tiny.i8t'], /--fp32 needs a Hugging Face folder/],
    [[PROMPT, '--model', 'models/sst2-bert-tiny.i8t'], /BertForSequenceClassification is not a language model/],
    [[PROMPT, '--seed', '1.5'], /--seed must be a non-negative integer/],
    [[PROMPT, '--nope'], /unknown option --nope for "generate"/],
  ])('refuses %j in one line', (args, message) => {
    const r = cli(...(args as string[]));
    expect(r.code).not.toBe(0);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    // No stack of ours (Dawn's adapter warning has an "at" line of its own C++ source).
    expect(r.stderr).not.toMatch(/\n\s+at .*\.(ts|js|mjs)\b/);
  });
});
