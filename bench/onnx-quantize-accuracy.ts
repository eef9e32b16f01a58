/**
 * How far the bench's int8 twin (bench/onnx-quantize.ts) moves the shared SST-2 models: the fp32
 * ONNX twin and its dynamic-quantized twin in onnxruntime-node (CPU), every dev sentence one at a
 * time, argmax agreement, accuracy of each and the largest logit difference. Writes
 * bench/results/onnx-quantize.json.
 *
 *   npx tsx bench/onnx-quantize-accuracy.ts [--models a,b] [--limit N] [--shared DIR]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { parseGlueTsv } from '../src/data/glue.js';
import { parseConfig } from '../src/model/config.js';
import { folderSource } from '../src/model/sources-node.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { SHARED_MODELS } from './compare-grid.js';
import { type QuantizeReport, quantizeOnnxDynamic } from './onnx-quantize.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const shared = resolve(opt('shared') ?? `${root}../shared`);
const models = (opt('models') ?? SHARED_MODELS.join(',')).split(',');
const limit = Number(opt('limit') ?? Number.POSITIVE_INFINITY);

const argmax = (v: Float32Array) => v.indexOf(Math.max(...v));

async function main(): Promise<void> {
  const rows = parseGlueTsv(readFileSync(`${shared}/data/glue/sst2/dev.tsv`, 'utf8')).rows.slice(0, limit);
  const results = [];
  for (const name of models) {
    const folder = `${shared}/models/${name}`;
    const graph = readFileSync(`${folder}/onnx/model.onnx`);
    const externalData = [{ path: '../model.safetensors', data: readFileSync(`${folder}/model.safetensors`) }];
    const report = {} as QuantizeReport;
    const t0 = performance.now();
    const twin = quantizeOnnxDynamic(graph, { externalData }, report);
    const quantizeMs = performance.now() - t0;
    const fp32 = await ort.InferenceSession.create(graph, { externalData });
    const int8 = await ort.InferenceSession.create(twin);
    const config = parseConfig(JSON.parse(readFileSync(`${folder}/config.json`, 'utf8')));
    const tokenizer = await loadTokenizer(folderSource(folder), config);
    let agree = 0;
    let correctFp32 = 0;
    let correctInt8 = 0;
    let maxAbsLogitDiff = 0;
    for (const row of rows) {
      const b = tokenizer.encodeBatch([row.input as string]);
      const S = b.seqLen;
      const t = (v: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [1, S]);
      const all: Record<string, ort.Tensor> = {
        input_ids: t(b.inputIds),
        attention_mask: t(b.attentionMask),
        token_type_ids: t(b.tokenTypeIds),
      };
      const feeds = Object.fromEntries(fp32.inputNames.map((n) => [n, all[n]]));
      const a = (await fp32.run(feeds)).logits.data as Float32Array;
      const q = (await int8.run(feeds)).logits.data as Float32Array;
      if (argmax(a) === argmax(q)) agree++;
      if (argmax(a) === Number(row.label)) correctFp32++;
      if (argmax(q) === Number(row.label)) correctInt8++;
      for (let i = 0; i < a.length; i++) maxAbsLogitDiff = Math.max(maxAbsLogitDiff, Math.abs(a[i] - q[i]));
    }
    await fp32.release();
    await int8.release();
    const r = {
      model: name,
      sentences: rows.length,
      argmaxAgreement: agree,
      accuracyFp32: correctFp32 / rows.length,
      accuracyInt8: correctInt8 / rows.length,
      maxAbsLogitDiff,
      quantizedMatMuls: report.quantizedMatMuls,
      onnxBytes: graph.length + externalData[0].data.length,
      twinBytes: twin.length,
      quantizeMs: Math.round(quantizeMs),
    };
    console.log(JSON.stringify(r));
    results.push(r);
  }
  const out = `${root}bench/results/onnx-quantize.json`;
  writeFileSync(
    out,
    JSON.stringify(
      {
        benchmark: 'onnx-quantize',
        date: new Date().toISOString(),
        runtime: `onnxruntime-node ${ort.env.versions.node ?? ''} CPU`,
        data: 'SST-2 dev (GLUE), one sentence per run',
        results,
      },
      null,
      2,
    ),
  );
  console.log(`written ${out}`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
  },
);
