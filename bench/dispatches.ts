/**
 * Dispatches and bytes per layer of the GPU integer interpreter, unfused (fuse: false) against
 * fused (attention-i8), read from its launch list (IntProgramGpu.launchPlan) at batch 1, sequence
 * 128, for the built-in model and the BERT-base shape (bench/random-bert.ts; its program planned
 * from constant activation ranges: the launches and their bindings depend on shapes only), plus
 * ms per sentence of the built-in model on this adapter (SwiftShader here), fused and unfused, the
 * median of a few runs. Both runtimes' logits are compared, so a fused run that differs fails loudly.
 * Bytes are the sizes of the buffers each launch binds (at a capacity of exactly 1 x 128; activation
 * buffers are shared between tensors, so this is an upper bound of what a launch touches).
 *
 *   npx tsx bench/dispatches.ts [--runs N]      writes bench/results/dispatches.{json,md}
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { TokenBatch } from '../src/core/types.js';
import { readIntModelFile } from '../src/format/int-model-file.js';
import { requestGpu } from '../src/gpu/device.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import type { IntProgram } from '../src/plan/int-program.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { Random } from '../src/util/random.js';
import { BERT_BASE, randomBertModel } from './random-bert.js';

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
const SEQ = 128;

function batchOf(program: IntProgram, seq: number, seed: number): TokenBatch {
  const rng = new Random(seed);
  const embed = program.ops.find((o) => o.kind === 'embed')!;
  const vocab = embed.kind === 'embed' ? embed.tables.word.length / embed.tables.hidden : 2;
  return {
    batch: 1,
    seqLen: seq,
    inputIds: Int32Array.from({ length: seq }, () => rng.int(0, vocab - 1)),
    positionIds: Int32Array.from({ length: seq }, (_, i) => i),
    tokenTypeIds: new Int32Array(seq),
    // The last 8 positions padding: the mask path runs.
    attentionMask: Int32Array.from({ length: seq }, (_, i) => (i < seq - 8 ? 1 : 0)),
  } as TokenBatch;
}

interface Side {
  dispatches: number;
  boundBytes: number;
  perLayer: { dispatches: number; boundBytes: number };
  kernels: Record<string, number>;
  msPerSentence?: number;
}

const gpu = await requestGpu();
const rows: { model: string; layers: number; unfused: Side; fused: Side; identical: boolean }[] = [];

async function measure(name: string, program: IntProgram, layers: number, time: boolean): Promise<void> {
  const sides: Record<'unfused' | 'fused', Side> = {} as never;
  const outputs: Int32Array[] = [];
  const batch = batchOf(program, SEQ, 7);
  for (const fuse of [false, true]) {
    const rt = await IntProgramGpu.create(gpu, program, { fuse });
    try {
      const plan = await rt.launchPlan(1, SEQ);
      const kernels: Record<string, number> = {};
      for (const l of plan) {
        const family = l.name.split(/[[ ]/)[0];
        kernels[family] = (kernels[family] ?? 0) + 1;
      }
      const bytes = plan.reduce((n, l) => n + l.boundBytes, 0);
      const side: Side = {
        dispatches: plan.length,
        boundBytes: bytes,
        perLayer: { dispatches: plan.length / layers, boundBytes: bytes / layers },
        kernels,
      };
      outputs.push((await rt.forward(batch)).output);
      if (time) {
        const ms: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          await rt.forward(batch);
          ms.push(performance.now() - t0);
        }
        ms.sort((a, b) => a - b);
        side.msPerSentence = ms[Math.floor(ms.length / 2)];
      }
      sides[fuse ? 'fused' : 'unfused'] = side;
    } finally {
      rt.dispose();
    }
  }
  const identical = outputs[0].length === outputs[1].length && outputs[0].every((v, i) => v === outputs[1][i]);
  if (!identical) throw new Error(`${name}: fused and unfused logits differ`);
  rows.push({ model: name, layers, ...sides, identical });
  console.log(name, JSON.stringify(sides));
}

const builtIn = await readIntModelFile(
  new Uint8Array(readFileSync(new URL('../models/sst2-bert-tiny.i8t', import.meta.url))),
  'models/sst2-bert-tiny.i8t',
);
await measure('sst2-bert-tiny (built-in)', builtIn.program, builtIn.config.numLayers, true);

const bert = randomBertModel(BERT_BASE, 20261124);
const graph = modelGraph(bert);
const ranges = new Map(calibratedTensors(graph).map((t) => [t, 8]));
const program = planGraph(graph, encoderParams(bert.weights), ranges, { maxKeys: bert.config.maxPositions });
await measure('BERT-base (random, 12 x 768)', program, BERT_BASE.layers, false);

const adapter = gpu.adapter.isSoftware ? 'a software adapter (SwiftShader)' : 'a hardware adapter';
writeFileSync(
  new URL('./results/dispatches.json', import.meta.url),
  `${JSON.stringify({ seq: SEQ, batch: 1, runs, adapter, rows }, null, 2)}\n`,
);
const mb = (b: number) => (b / 2 ** 20).toFixed(2);
const md = [
  `# Dispatches and bytes per layer, batch 1, sequence ${SEQ}`,
  '',
  'Written by `npx tsx bench/dispatches.ts`. Whole forward (embedding and head included) divided by the layers;',
  'bytes are the sizes of the buffers each launch binds (activation buffers are shared and sized at capacity: an upper bound).',
  `ms/sentence: median of ${runs} forwards on ${adapter}. Fused and unfused logits are identical in every row.`,
  '',
  '| model | dispatches/layer unfused | fused | bound MiB/layer unfused | fused | ms/sentence unfused | fused |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.model} | ${r.unfused.perLayer.dispatches.toFixed(2)} | ${r.fused.perLayer.dispatches.toFixed(2)} | ${mb(r.unfused.perLayer.boundBytes)} | ${mb(r.fused.perLayer.boundBytes)} | ${r.unfused.msPerSentence?.toFixed(1) ?? '-'} | ${r.fused.msPerSentence?.toFixed(1) ?? '-'} |`,
  ),
  '',
  'Kernels per forward:',
  '',
  ...rows.map(
    (r) => `- ${r.model}: unfused ${JSON.stringify(r.unfused.kernels)}; fused ${JSON.stringify(r.fused.kernels)}`,
  ),
  '',
].join('\n');
writeFileSync(new URL('./results/dispatches.md', import.meta.url), md);
console.log(md);
process.exit(0);
