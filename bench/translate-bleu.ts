/**
 * BLEU of the test set for docs/accuracy.md, run to survive a slow machine: INT8 (the GPU
 * interpreter, or the CPU one with --int8 cpu: equal bit for bit) and FP32 (the float64 CPU model,
 * one token per step; the float32 GPU session reruns the whole graph per token, too slow on a
 * software adapter for 1,000 sentences), sentence by sentence, each translation appended to a JSON
 * lines file as it comes; `--summarize` scores what the file holds (corpus BLEU with sacrebleu's
 * defaults, agreement, ms per sentence). New tokens per sentence: min(max_length - 1, 2 x source
 * tokens + 10), the rule of the shared model's SOURCE.md.
 *
 *   npx tsx bench/translate-bleu.ts --beams 1 --out bench/results/translate-bleu-greedy.jsonl [--limit N] [--int8 gpu|cpu]
 *   npx tsx bench/translate-bleu.ts --summarize bench/results/translate-bleu-greedy.jsonl
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { corpusBleu } from '../src/bleu.js';
import { FloatTranslatorCpu } from '../src/cpu/float-translator.js';
import { IntTranslatorCpuSession } from '../src/cpu/int-translator-session.js';
import { translationTokenLimit } from '../src/evaluate-mt.js';
import { readIntTranslatorFile } from '../src/format/int-model-file.js';
import { translateTokens } from '../src/generate/translate.js';
import type { TranslatorSession } from '../src/generate/translator-session.js';
import { requestGpu } from '../src/gpu/device.js';
import { loadMarianModel } from '../src/model/load.js';
import { loadMarianTokenizer, marianGraph } from '../src/model/marian.js';
import { folderSource } from '../src/model/sources-node.js';
import { IntTranslatorGpu } from '../src/runtime/int-translator.js';
import { maxLengthOf } from '../src/translation-model.js';

const { values: args } = parseArgs({
  options: {
    beams: { type: 'string', default: '1' },
    out: { type: 'string' },
    limit: { type: 'string' },
    int8: { type: 'string', default: 'gpu' },
    model: { type: 'string', default: 'models/multi30k-marian-en-de.i8t' },
    reference: { type: 'string', default: '../shared/models/multi30k-marian-en-de' },
    source: { type: 'string', default: '../shared/data/multi30k/test_2016_flickr.en' },
    target: { type: 'string', default: '../shared/data/multi30k/test_2016_flickr.de' },
    summarize: { type: 'string' },
  },
});

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l, i, all) => l !== '' || i < all.length - 1);

interface Row {
  i: number;
  int8: string;
  fp32: string;
  int8Tokens: number;
  fp32Tokens: number;
  int8Ms: number;
  fp32Ms: number;
  int8Cut: boolean;
  fp32Cut: boolean;
}

function summarize(path: string): void {
  const rows: Row[] = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  const refs = lines(args.target!);
  const pick = (k: 'int8' | 'fp32') => rows.map((r) => r[k]);
  const references = rows.map((r) => refs[r.i]);
  const int8 = corpusBleu(pick('int8'), [references]);
  const fp32 = corpusBleu(pick('fp32'), [references]);
  const mean = (f: (r: Row) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
  console.log(
    JSON.stringify(
      {
        n: rows.length,
        fp32Bleu: Number(fp32.score.toFixed(2)),
        int8Bleu: Number(int8.score.toFixed(2)),
        agreement: Number((rows.filter((r) => r.int8 === r.fp32).length / rows.length).toFixed(4)),
        int8: { precisions: int8.precisions, bp: int8.bp, sysLen: int8.sysLen, refLen: int8.refLen },
        fp32: { precisions: fp32.precisions, bp: fp32.bp, sysLen: fp32.sysLen, refLen: fp32.refLen },
        cutByLength: { int8: rows.filter((r) => r.int8Cut).length, fp32: rows.filter((r) => r.fp32Cut).length },
        msPerSentence: {
          int8: Number(mean((r) => r.int8Ms).toFixed(0)),
          fp32: Number(mean((r) => r.fp32Ms).toFixed(0)),
        },
      },
      null,
      2,
    ),
  );
}

async function run(): Promise<void> {
  const out = args.out;
  if (!out) throw new Error('--out <file.jsonl> is required');
  const numBeams = Number(args.beams);
  const file = await readIntTranslatorFile(new Uint8Array(readFileSync(args.model!)), args.model);
  const model = await loadMarianModel(folderSource(args.reference!));
  const tokenizer = await loadMarianTokenizer(folderSource(args.reference!), model.config);
  const config = model.config;
  const maxLength = maxLengthOf(file.generation);
  const sources = lines(args.source!).slice(0, args.limit ? Number(args.limit) : undefined);
  const done = new Set(
    existsSync(out)
      ? readFileSync(out, 'utf8')
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => (JSON.parse(l) as Row).i)
      : [],
  );
  const capacity = translationTokenLimit(config.maxPositions, config.maxPositions, maxLength);
  const gpu = args.int8 === 'gpu' ? await requestGpu() : undefined;
  const int8: TranslatorSession = gpu
    ? await IntTranslatorGpu.create(gpu, file.program, config, { sequences: numBeams, capacity })
    : new IntTranslatorCpuSession(file.program, config, capacity);
  const fp32: TranslatorSession = new FloatTranslatorCpu(model, marianGraph(config), capacity);
  const decode = (ids: number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });
  for (let i = 0; i < sources.length; i++) {
    if (done.has(i)) continue;
    const source = tokenizer.encodeSource(sources[i]);
    const maxNewTokens = translationTokenLimit(source.length, config.maxPositions, maxLength);
    const t0 = performance.now();
    const [a] = await translateTokens(int8, [source], config, { numBeams, maxNewTokens });
    const t1 = performance.now();
    const [b] = await translateTokens(fp32, [source], config, { numBeams, maxNewTokens });
    const t2 = performance.now();
    const row: Row = {
      i,
      int8: decode(a.tokens),
      fp32: decode(b.tokens),
      int8Tokens: a.tokens.length,
      fp32Tokens: b.tokens.length,
      int8Ms: Math.round(t1 - t0),
      fp32Ms: Math.round(t2 - t1),
      int8Cut: a.finishReason === 'length',
      fp32Cut: b.finishReason === 'length',
    };
    appendFileSync(out, `${JSON.stringify(row)}\n`);
    if (i % 25 === 0) console.error(`${i + 1}/${sources.length}`);
  }
  int8.dispose();
  gpu?.destroy();
}

if (args.summarize) summarize(args.summarize);
else await run();
