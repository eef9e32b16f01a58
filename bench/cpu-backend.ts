/**
 * The CPU backend (loadModel's device: 'cpu') against onnxruntime-web's wasm backend, in Node, one
 * thread each, the same SST-2 dev sentences one at a time (batch 1): ms per sentence of
 *   - ours: the integer program on the CPU (src/cpu/int-program-encoder.ts: JavaScript with the
 *     INT8 GEMM in WebAssembly SIMD), tokenizer excluded;
 *   - ORT wasm fp32 on the shared ONNX twin (onnx/model.onnx, weights in ../model.safetensors);
 *   - ORT wasm int8 on its dynamic-quantized twin (bench/onnx-quantize.ts via ensureQuantizedTwin).
 * Before timing, the CPU backend's int32 logits are checked equal to the GPU interpreter's on every
 * sentence (the done-when of issue 14 item 4), and argmax agreement with ORT fp32 is counted.
 * The .i8t files are the peer benchmark's (bench/.cache/int8, the same calibration: 32 sentences of
 * train_calib1000, percentile-99.99), converted on the GPU when missing.
 *
 * usage: npx tsx bench/cpu-backend.ts [--models a,b] [--sentences N (64)] [--check N (16)] [--passes N (3)] [--shared DIR]
 * writes bench/results/cpu-backend.json and .md
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-web';
import { IntProgramCpu } from '../src/cpu/int-program-encoder.js';
import { parseGlueTsv } from '../src/data/glue.js';
import { readIntModelFile } from '../src/format/int-model-file.js';
import { requestGpu } from '../src/gpu/device.js';
import { memorySource } from '../src/model/sources.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { ensureInt8Model, ensureQuantizedTwin } from './compare-artifacts.js';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const root = new URL('..', import.meta.url).pathname;
const shared = opt('shared') ?? `${root}../shared`;
const cacheDir = `${root}bench/.cache`;
const MODELS = ['sst2-bert-tiny', 'sst2-distilbert-mini', 'sst2-distilbert-outlier', 'sst2-bert-minilm-l6'];
const names = opt('models')?.split(',') ?? MODELS;
const count = Number(opt('sentences') ?? 64);
const checkCount = Number(opt('check') ?? 16);
const passes = Number(opt('passes') ?? 3);
const log = (m: string) => process.stderr.write(`${m}\n`);

ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

const dev = parseGlueTsv(readFileSync(`${shared}/data/glue/sst2/dev.tsv`, 'utf8')).rows.map((r) => r.input as string);
const calibration = parseGlueTsv(readFileSync(`${shared}/data/glue/sst2/train_calib1000.tsv`, 'utf8'))
  .rows.map((r) => r.input as string)
  .slice(0, 32);
const sentences = dev.slice(0, count);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * ms per sentence of each runner over `sentences`, after one warm-up pass over the first 8. The
 * runners take turns sentence by sentence (the order rotating), so load from other work on the
 * shared machine falls on all of them alike and their ratios stay comparable.
 */
async function timeInterleaved(
  runners: ((i: number) => Promise<unknown> | unknown)[],
  passes: number,
): Promise<{ mean: number; median: number }[]> {
  for (const run of runners) for (let i = 0; i < Math.min(8, sentences.length); i++) await run(i);
  const ms = runners.map(() => [] as number[]);
  for (let pass = 0; pass < passes; pass++)
    for (let i = 0; i < sentences.length; i++)
      for (let j = 0; j < runners.length; j++) {
        const r = (i + j + pass) % runners.length;
        const t = performance.now();
        await runners[r](i);
        ms[r].push(performance.now() - t);
      }
  return ms.map((xs) => ({ mean: xs.reduce((a, b) => a + b, 0) / xs.length, median: median(xs) }));
}

const gpu = await requestGpu();
const results = [];
let gemmEngine = '';
for (const name of names) {
  const folder = `${shared}/models/${name}`;
  if (!existsSync(`${folder}/onnx/model.onnx`)) {
    log(`${name}: no ONNX twin in ${folder}, skipped`);
    continue;
  }
  const i8t = await ensureInt8Model(gpu, name, folder, calibration, cacheDir, log);
  const file = await readIntModelFile(new Uint8Array(readFileSync(i8t)), i8t);
  const files: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
  if (file.tokenizer.config) files['tokenizer_config.json'] = file.tokenizer.config;
  const tokenizer = await loadTokenizer(memorySource(files, i8t), file.config);
  const batches = sentences.map((s) => tokenizer.encodeBatch([s]));
  const cpu = new IntProgramCpu(file.program);
  gemmEngine = cpu.kernels.gemmEngine;

  // Integer-identical to the GPU: every checked sentence's int32 logits.
  const onGpu = await IntProgramGpu.create(gpu, file.program);
  let identical = 0;
  const checked = Math.min(checkCount, batches.length);
  for (let i = 0; i < checked; i++) {
    const [a, b] = [(await cpu.forward(batches[i])).output, (await onGpu.forward(batches[i])).output];
    if (a.length === b.length && a.every((v, j) => v === b[j])) identical++;
  }
  onGpu.dispose();
  log(`${name}: CPU == GPU int32 logits on ${identical}/${checked} sentences`);

  const ortSession = async (graph: Uint8Array, external?: Uint8Array) =>
    ort.InferenceSession.create(graph, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
      ...(external ? { externalData: [{ path: '../model.safetensors', data: external }] } : {}),
    });
  const fp32 = await ortSession(
    new Uint8Array(readFileSync(`${folder}/onnx/model.onnx`)),
    new Uint8Array(readFileSync(`${folder}/model.safetensors`)),
  );
  const q8dir = ensureQuantizedTwin(cacheDir, name, folder, log);
  const int8 = await ortSession(new Uint8Array(readFileSync(`${q8dir}/onnx/model_quantized.onnx`)));
  const feeds = (s: ort.InferenceSession, i: number) => {
    const b = batches[i];
    const dims = [1, b.seqLen];
    const all: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(b.inputIds, BigInt), dims),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(b.attentionMask, BigInt), dims),
      token_type_ids: new ort.Tensor('int64', BigInt64Array.from(b.tokenTypeIds, BigInt), dims),
    };
    return Object.fromEntries(s.inputNames.map((n) => [n, all[n]]));
  };
  const argmax = (v: ArrayLike<number>) => (v[1] > v[0] ? 1 : 0);
  let agree = 0;
  for (let i = 0; i < batches.length; i++) {
    const ours = (await cpu.forward(batches[i])).output;
    const theirs = (await fp32.run(feeds(fp32, i))).logits.data as Float32Array;
    if (argmax(ours) === argmax(theirs)) agree++;
  }
  const [ours, ortFp32, ortInt8] = await timeInterleaved(
    [(i) => cpu.forward(batches[i]), (i) => fp32.run(feeds(fp32, i)), (i) => int8.run(feeds(int8, i))],
    passes,
  );
  const t = { ours, ortFp32, ortInt8 };
  await fp32.release();
  await int8.release();
  const c = file.config;
  const row = {
    model: name,
    shape: `${c.numLayers} x ${c.hiddenSize}`,
    meanTokens: batches.reduce((a, b) => a + b.seqLen, 0) / batches.length,
    cpuEqualsGpu: `${identical}/${checked}`,
    argmaxAgreementWithOrtFp32: `${agree}/${batches.length}`,
    msPerSentence: {
      oursCpuInt8: +t.ours.mean.toFixed(2),
      ortWasmFp32: +t.ortFp32.mean.toFixed(2),
      ortWasmInt8: +t.ortInt8.mean.toFixed(2),
    },
    medianMs: {
      oursCpuInt8: +t.ours.median.toFixed(2),
      ortWasmFp32: +t.ortFp32.median.toFixed(2),
      ortWasmInt8: +t.ortInt8.median.toFixed(2),
    },
    oursOverOrtFp32: +(t.ours.mean / t.ortFp32.mean).toFixed(2),
    oursOverOrtInt8: +(t.ours.mean / t.ortInt8.mean).toFixed(2),
  };
  log(JSON.stringify(row));
  results.push(row);
}
gpu.destroy();

const facts = {
  date: new Date().toISOString(),
  node: process.version,
  onnxruntimeWeb: ort.env.versions.web,
  threads: 'one each (ORT wasm numThreads 1; ours is single-threaded JavaScript with a WebAssembly SIMD GEMM)',
  oursGemm: gemmEngine,
  sentences: `${sentences.length} SST-2 dev sentences, batch 1, tokenization excluded, mean over ${passes} passes after 8 warm-up runs, the three runtimes taking turns sentence by sentence`,
  machine: 'the shared 2-core development machine, loaded by other work: compare ratios, not absolute times',
};
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/cpu-backend.json`, `${JSON.stringify({ facts, results }, null, 2)}\n`);
const md = [
  '# CPU backend vs onnxruntime-web wasm',
  '',
  ...Object.entries(facts).map(([k, v]) => `- ${k}: ${v}`),
  '',
  '| model | layers x hidden | CPU == GPU (int32) | argmax = ORT fp32 | ours CPU int8 ms | ORT wasm fp32 ms | ORT wasm int8 ms | ours / fp32 | ours / int8 |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map(
    (r) =>
      `| ${r.model} | ${r.shape} | ${r.cpuEqualsGpu} | ${r.argmaxAgreementWithOrtFp32} | ${r.msPerSentence.oursCpuInt8} | ${r.msPerSentence.ortWasmFp32} | ${r.msPerSentence.ortWasmInt8} | ${r.oursOverOrtFp32}x | ${r.oursOverOrtInt8}x |`,
  ),
  '',
];
writeFileSync(`${root}bench/results/cpu-backend.md`, md.join('\n'));
log(md.join('\n'));
