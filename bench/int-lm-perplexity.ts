/**
 * INT8 vs FP32 perplexity of a GPT-2 (default: ../shared/models/multi30k-gpt2-tiny) on a text file
 * (default: Multi30k test_2016_flickr.en, every line, scored as SOURCE.md does: <|endoftext|> +
 * text + <|endoftext|>, the first token context only). The integer program is calibrated on the
 * first --calibration lines of train.en (float64 CPU interpreter, 'max' ranges), planned, and run
 * on the CPU integer interpreter (the specification the GPU equals bit for bit); FP32 here is the
 * float64 CPU interpreter. Prints both perplexities, their ratio and seconds; with --out, JSON.
 *
 *   npx tsx bench/int-lm-perplexity.ts [--model DIR] [--text FILE] [--lines N] [--calibration N] [--out FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { calibrateDecoderCpu } from '../src/calibrate/calibrate-decoder.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { decoderBatch, decoderGraph, sequenceNll } from '../src/model/decoder.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';
import { planGraph } from '../src/plan/plan-graph.js';
import { validateProgram } from '../src/plan/validate-program.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const shared = fileURLToPath(new URL('../../shared/', import.meta.url));
const modelDir = arg('model', `${shared}models/multi30k-gpt2-tiny`);
const textFile = arg('text', `${shared}data/multi30k/test_2016_flickr.en`);
const trainFile = arg('train', `${shared}data/multi30k/train.en`);
const calibrationLines = Number(arg('calibration', '256'));

const files = folderSource(modelDir);
const model = await loadDecoderModel(files);
const tokenizer = await loadDecoderTokenizer(files, model.config);
const eot = model.config.eosTokenId;
const read = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => [eot, ...tokenizer.encode(l), eot]);
let sequences = read(textFile);
if (args.includes('--lines')) sequences = sequences.slice(0, Number(arg('lines', '0')));
const start = performance.now();
const graph = decoderGraph(model.config);
const observer = calibrateDecoderCpu(model, read(trainFile).slice(0, calibrationLines));
const program = planGraph(graph, model.params, observer.ranges('max'), { maxKeys: model.config.maxPositions });
validateProgram(program, 'planned GPT-2');
const V = model.config.vocabSize;
const fp = { nll: 0, tokens: 0 };
const q = { nll: 0, tokens: 0 };
for (let s = 0; s < sequences.length; s += 16) {
  const docs = sequences.slice(s, s + 16);
  const batch = decoderBatch(docs, eot);
  const f = sequenceNll(runFloatGraphCpu(graph, model.params, batch).logits!, V, docs, batch.seqLen);
  const acc = runIntProgramCpu(program, batch).output;
  const real = Float64Array.from(acc, (x, i) => x * program.output.scale[i % V]);
  const i = sequenceNll(real, V, docs, batch.seqLen);
  fp.nll += f.nll;
  fp.tokens += f.tokens;
  q.nll += i.nll;
  q.tokens += i.tokens;
}
const result = {
  model: modelDir,
  text: textFile,
  lines: sequences.length,
  tokens: fp.tokens,
  calibrationLines,
  fp32: Math.exp(fp.nll / fp.tokens),
  int8: Math.exp(q.nll / q.tokens),
  seconds: (performance.now() - start) / 1000,
};
console.log(
  `${result.lines} lines, ${result.tokens} tokens: FP32 ${result.fp32.toFixed(4)}, INT8 ${result.int8.toFixed(4)} (${(100 * (result.int8 / result.fp32 - 1)).toFixed(2)}%), ${result.seconds.toFixed(1)} s`,
);
if (args.includes('--out')) writeFileSync(arg('out', ''), `${JSON.stringify(result, null, 2)}\n`);
