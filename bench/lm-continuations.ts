/**
 * Greedy continuations of the prompts in ../shared/models/multi30k-gpt2-tiny/SOURCE.md, INT8 (the
 * built-in .i8t, or --model) beside our FP32 (the float32 checkpoint) and torch's (SOURCE.md), for
 * docs/accuracy.md: `npx tsx bench/lm-continuations.ts [--model <.i8t>]`. Markdown on stdout.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { builtInModelUrl, loadModel } from '../src/api.js';
import { requestGpu } from '../src/gpu/device.js';

const FOLDER = fileURLToPath(new URL('../../shared/models/multi30k-gpt2-tiny', import.meta.url));
const at = process.argv.indexOf('--model');
const i8t = at > 0 ? process.argv[at + 1] : fileURLToPath(builtInModelUrl('int8', 'generate'));

/** `prompt` -> `continuation` lines of SOURCE.md's greedy section. */
function torchGreedy(): [string, string][] {
  const text = readFileSync(`${FOLDER}/SOURCE.md`, 'utf8');
  return [...text.matchAll(/^- `([^`]*)` -> `([^`]*)`$/gm)].map((m) => [m[1], m[2]]);
}

const gpu = await requestGpu();
const int8 = await loadModel(i8t, { gpu });
const fp32 = await loadModel(FOLDER, { gpu, precision: 'fp32' });
const options = { maxNewTokens: 20 };
const cell = (s: string) => `\`${s.replace(/`/g, "'")}\``;
console.log('| prompt | INT8 | FP32 (ours) | torch (SOURCE.md) |');
console.log('|---|---|---|---|');
let same = 0;
const rows = torchGreedy();
for (const [prompt, torch] of rows) {
  const a = await int8.generate(prompt, options);
  const b = await fp32.generate(prompt, options);
  if (b.text === torch) same++;
  console.log(`| ${cell(prompt)} | ${cell(a.text)} | ${cell(b.text)} | ${cell(torch)} |`);
}
console.log(`\nFP32 equals torch's greedy text on ${same}/${rows.length} prompts.`);
int8.dispose();
fp32.dispose();
gpu.destroy();
