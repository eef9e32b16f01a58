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
import { planDecoderModel } from '../src/convert.js';
import {
  calibrationDocuments,
  evaluateLm,
  floatLogitsCpu,
  intLogitsCpu,
  lmDocuments,
  textLines,
} from '../src/evaluate-lm.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';

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
const P = model.config.maxPositions;
let lines = textLines(readFileSync(textFile, 'utf8'));
if (args.includes('--lines')) lines = lines.slice(0, Number(arg('lines', '0')));
const documents = lmDocuments(tokenizer, lines, P, textFile);
const start = performance.now();
const calibration = textLines(readFileSync(trainFile, 'utf8')).slice(0, calibrationLines);
const observer = calibrateDecoderCpu(model, calibrationDocuments(tokenizer, calibration, P));
const { program } = await planDecoderModel(files, model, observer, 'max', calibration.length);
const r = await evaluateLm(intLogitsCpu(program), floatLogitsCpu(model), documents, {
  vocab: model.config.vocabSize,
  padId: model.config.eosTokenId,
});
const result = {
  model: modelDir,
  text: textFile,
  lines: r.n,
  tokens: r.tokens,
  calibrationLines,
  fp32: r.fp32Perplexity!,
  int8: r.int8Perplexity,
  seconds: (performance.now() - start) / 1000,
};
console.log(
  `${result.lines} lines, ${result.tokens} tokens: FP32 ${result.fp32.toFixed(4)}, INT8 ${result.int8.toFixed(4)} (${(100 * (result.int8 / result.fp32 - 1)).toFixed(2)}%), ${result.seconds.toFixed(1)} s`,
);
if (args.includes('--out')) writeFileSync(arg('out', ''), `${JSON.stringify(result, null, 2)}\n`);
