/**
 * Where an integer classifier's logit error comes from. For each tensor of the integer program that
 * the float graph also has, the program is rerun with that tensor replaced by the float model's
 * values rounded at the tensor's own scale (its quantization kept, every error upstream of it
 * removed); the mean |logit - float logit| left is the error made downstream of it. Along the
 * residual stream the drop from one tensor to the next is what the ops between them add. The float
 * graph and the integer program both run on the CPU (float64 reference; the integer fast kernels,
 * bit-equal to the GPU), one sentence at a time, so padding plays no part.
 *
 *   npx tsx bench/error-attribution.ts --model sst2-distilbert-outlier [--method max] [--n 100]
 *     [--tensors a,b,...] [--calib-cache DIR]
 *
 * Writes bench/results/error-attribution-<model>-<method>.{json,md}. Calibration: the 1000 SST-2
 * train sentences on the float GPU interpreter (what bench/accuracy.ts uses; --calib-cache shares
 * its cache files); the sentences measured are the first n of SST-2 dev.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { calibrate } from '../src/calibrate/calibrate.js';
import { type RangeMethod, RangeObserver } from '../src/calibrate/range-observer.js';
import { createFastKernels } from '../src/cpu/fast-kernels.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { type IntValues, runIntProgramCpu } from '../src/cpu/int-program.js';
import { parseGlueTsv } from '../src/data/glue.js';
import { requestGpu } from '../src/gpu/device.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { loadEncoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import type { IntTensor } from '../src/plan/int-program.js';
import { planGraph } from '../src/plan/plan-graph.js';
import { validateProgram } from '../src/plan/validate-program.js';

const shared = fileURLToPath(new URL('../../shared/', import.meta.url));
const results = fileURLToPath(new URL('./results/', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const name = opt('model') ?? 'sst2-distilbert-outlier';
const method = (opt('method') ?? 'max') as RangeMethod;
const n = Number(opt('n') ?? 100);
const only = opt('tensors')?.split(',');
const calibCache = opt('calib-cache');

/**
 * The float values rounded at the integer tensor's scale (per channel where it has one), saturated
 * to its type, in its array type. One sentence per batch: the layouts agree row for row.
 */
function rounded(t: IntTensor, float: Float64Array, like: IntValues): IntValues {
  if (float.length !== like.length)
    throw new Error(`${t.id}: ${float.length} float values for ${like.length} integers`);
  const cols = t.shape[t.shape.length - 1] as number;
  const [lo, hi] =
    like instanceof Int8Array ? [-128, 127] : like instanceof Uint8Array ? [0, 255] : [-t.bound, t.bound];
  const out = new (like.constructor as new (n: number) => IntValues)(like.length);
  for (let i = 0; i < float.length; i++) {
    const s = typeof t.scale === 'number' ? t.scale : t.scale[i % cols];
    out[i] = Math.max(lo, Math.min(hi, Math.round(float[i] / s)));
  }
  return out;
}

async function main(): Promise<void> {
  if (!existsSync(shared)) throw new Error('needs ../shared (models and GLUE data) beside the repository');
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n ${opt('n')}: a positive number of sentences`);
  const files = folderSource(`${shared}models/${name}`);
  const model = await loadEncoderModel(files);
  const tokenizer = await loadTokenizer(files, model.config);
  const calib = parseGlueTsv(readFileSync(`${shared}data/glue/sst2/train_calib1000.tsv`, 'utf8')).rows.map(
    (r) => r.input,
  );
  const cacheFile = calibCache && `${calibCache}/${name}.calib${calib.length}.json`;
  let observer: RangeObserver;
  if (cacheFile && existsSync(cacheFile))
    observer = RangeObserver.fromJSON(JSON.parse(readFileSync(cacheFile, 'utf8')));
  else {
    const gpu = await requestGpu();
    observer = await calibrate(gpu, model, tokenizer, calib, {
      batchSize: 16,
      onProgress: (d, t) => process.stderr.write(`\rcalibrating ${d}/${t}   `),
    });
    gpu.destroy();
    if (cacheFile) {
      mkdirSync(calibCache!, { recursive: true });
      writeFileSync(cacheFile, JSON.stringify(observer));
    }
  }
  const graph = modelGraph(model);
  const params = encoderParams(model.weights);
  const program = planGraph(graph, params, observer.ranges(method), {
    maxKeys: model.config.maxPositions,
    channels: observer.channelStats(),
  });
  validateProgram(program, 'planned program');
  const inGraph = new Set(graph.ops.map((o) => o.out));
  const tensors = new Map(program.tensors.map((t) => [t.id, t]));
  const points = program.ops
    .map((o) => o.out)
    .filter((id) => inGraph.has(id) && id !== program.output.tensor && (!only || only.includes(id)));
  if (only)
    for (const id of only) if (!points.includes(id)) throw new Error(`--tensors: no tensor "${id}" in both graphs`);
  const dev = parseGlueTsv(readFileSync(`${shared}data/glue/sst2/dev.tsv`, 'utf8')).rows.slice(0, n);
  const kernels = createFastKernels();
  const scale = program.output.scale;
  const sums = new Map<string, number>([['(none)', 0], ...points.map((p): [string, number] => [p, 0])]);
  for (const [k, row] of dev.entries()) {
    const batch = tokenizer.encodeBatch([row.input]);
    const float = runFloatGraphCpu(graph, params, batch, { capture: points });
    const labels = float.logits!.length;
    const diff = (out: Int32Array) => {
      let d = 0;
      for (let c = 0; c < labels; c++) d += Math.abs(out[c] * scale[scale.length > 1 ? c : 0] - float.logits![c]);
      return d / labels;
    };
    sums.set('(none)', sums.get('(none)')! + diff(runIntProgramCpu(program, batch, { kernels }).output));
    for (const p of points) {
      const replace = (id: string, values: IntValues) =>
        id === p ? rounded(tensors.get(p)!, float.captures.get(p)!, values) : undefined;
      sums.set(p, sums.get(p)! + diff(runIntProgramCpu(program, batch, { kernels, replace }).output));
    }
    process.stderr.write(`\r${name} ${method}: ${k + 1}/${dev.length} sentences   `);
  }
  process.stderr.write('\n');
  const rows = [...sums].map(([tensor, sum]) => ({ tensor, meanAbsLogitDiff: sum / dev.length }));
  const none = rows[0].meanAbsLogitDiff;
  mkdirSync(results, { recursive: true });
  const base = `${results}error-attribution-${name}-${method}`;
  writeFileSync(
    `${base}.json`,
    `${JSON.stringify({ model: name, method, sentences: dev.length, date: new Date().toISOString(), rows }, null, 2)}\n`,
  );
  const md = [
    `# Error attribution: ${name}, ${method} calibration, first ${dev.length} SST-2 dev sentences`,
    '',
    'Mean |INT8 logit - FP32 logit| when the tensor holds the float values rounded at its own scale',
    '(every error upstream of it removed; its own rounding kept). `npx tsx bench/error-attribution.ts',
    `--model ${name} --method ${method} --n ${dev.length}\`.`,
    '',
    '| tensor | mean abs logit diff | of the unreplaced |',
    '|---|---|---|',
    ...rows.map(
      (r) => `| ${r.tensor} | ${r.meanAbsLogitDiff.toFixed(4)} | ${((100 * r.meanAbsLogitDiff) / none).toFixed(0)}% |`,
    ),
    '',
  ].join('\n');
  writeFileSync(`${base}.md`, md);
  console.log(md);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
