/**
 * Perplexity of a float decoder (default: ../shared/models/multi30k-gpt2-tiny) on a text file
 * (default: Multi30k test_2016_flickr.en) as that model's SOURCE.md defines it: each stripped
 * line is scored as <|endoftext|> + text + <|endoftext|>, the first token context only.
 * Runs the GPU float interpreter (FloatGraphGpu), lines batched; prints NLL, perplexity, seconds.
 *
 *   npx tsx bench/lm-perplexity.ts [--model DIR] [--text FILE] [--lines N] [--batch B]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { floatLogitsGpu, lmDocuments, scoreDocuments, textLines } from '../src/evaluate-lm.js';
import { requestGpu } from '../src/gpu/device.js';
import { decoderGraph } from '../src/model/decoder.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const shared = fileURLToPath(new URL('../../shared/', import.meta.url));
const modelDir = arg('model', `${shared}models/multi30k-gpt2-tiny`);
const textFile = arg('text', `${shared}data/multi30k/test_2016_flickr.en`);
const batchSize = Number(arg('batch', '32'));

const files = folderSource(modelDir);
const model = await loadDecoderModel(files);
const tokenizer = await loadDecoderTokenizer(files, model.config);
let lines = textLines(readFileSync(textFile, 'utf8'));
if (args.includes('--lines')) lines = lines.slice(0, Number(arg('lines', '0')));
const documents = lmDocuments(tokenizer, lines, model.config.maxPositions, textFile);
const gpu = await requestGpu();
const start = performance.now();
const runtime = await FloatGraphGpu.create(gpu, decoderGraph(model.config), model.params, {
  capacity: { batch: batchSize, seq: 64 },
});
const created = performance.now();
const { nll, tokens } = await scoreDocuments(documents, floatLogitsGpu(runtime), {
  vocab: model.config.vocabSize,
  padId: model.config.eosTokenId,
  batchSize,
});
const done = performance.now();
runtime.dispose();
gpu.destroy();
console.log(
  JSON.stringify({
    model: modelDir,
    text: textFile,
    lines: lines.length,
    tokensScored: tokens,
    nll: nll / tokens,
    perplexity: Math.exp(nll / tokens),
    adapter: gpu.adapter.isSoftware ? 'software' : 'hardware',
    createSeconds: (created - start) / 1e3,
    scoreSeconds: (done - created) / 1e3,
  }),
);
