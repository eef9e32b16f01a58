/**
 * loadModel's device option: device 'cpu' gives the GPU's logits bit for bit (int32 outputs equal,
 * hence equal real logits and predictions) on the built-in model and on small random programs
 * (classification and mean / first-token pooled embeddings); 'auto' takes WebGPU when an adapter
 * answers and the CPU when none does; language models and translators on 'cpu' generate the GPU's
 * tokens; bad values and what the CPU backend does not run are refused by name.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadModel } from '../src/api.js';
import { IntProgramCpu } from '../src/cpu/int-program-encoder.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import type { Int8Model, TextModel } from '../src/session.js';
import { Random } from '../src/util/random.js';
import { SYNTHETIC, type Synthetic, syntheticBatch, syntheticModel } from './synthetic.js';

// 'auto' asks the Node binding for an adapter; this switch makes it answer none.
const adapter = vi.hoisted(() => ({ none: false }));
vi.mock('../src/gpu/node-webgpu.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/gpu/node-webgpu.js')>();
  return {
    ...real,
    nodeGpu: async () => (adapter.none ? ({ requestAdapter: async () => null } as unknown as GPU) : real.nodeGpu()),
  };
});

const TEXTS = [
  'a gripping, beautifully acted film that never lets up',
  'the plot is thin and the jokes fall flat',
  'it is fine',
  'not as good as the first one, but still worth seeing for the performances',
];

describe('device option', () => {
  let cpu: Int8Model<IntProgramCpu>;
  let gpu: Int8Model;
  beforeAll(async () => {
    cpu = (await loadModel('default', { device: 'cpu' })) as unknown as Int8Model<IntProgramCpu>;
    gpu = (await loadModel('default', { device: 'webgpu' })) as unknown as Int8Model;
  }, 120_000);
  afterAll(() => {
    cpu?.dispose();
    gpu?.dispose();
  });

  it('runs on the CPU and says so; the GPU model says webgpu', () => {
    expect(cpu.device).toBe('cpu');
    expect(cpu.encoder).toBeInstanceOf(IntProgramCpu);
    expect(gpu.device).toBe('webgpu');
    expect(cpu.memory()).toEqual({ weightBytes: 0, activationBytes: 0 });
  });

  it('int32 logits equal the GPU interpreter bit for bit, and so do the predictions', async () => {
    const batch = cpu.tokenizer.encodeBatch([...TEXTS, ['a premise', 'and its hypothesis']]);
    const want = (await gpu.encoder.forward(batch)).output;
    expect(Array.from((await cpu.encoder.forward(batch)).output)).toEqual(Array.from(want));
    const [p, q] = [await cpu.classify(TEXTS, { batchSize: 3 }), await gpu.classify(TEXTS, { batchSize: 3 })];
    expect(p).toEqual(q);
  });

  it('refuses profile (GPU timestamps) by name', async () => {
    await expect(cpu.profile('a text')).rejects.toThrow(/GPU timestamps; this model runs on the CPU/);
  });

  it("a random embedding model (hidden 48, 4 heads): the output equals the GPU's, mean and first-token pooling", async () => {
    const s: Synthetic = {
      ...SYNTHETIC.find((x) => x.task === 'embedding')!,
      name: 'BertModel, hidden 48, 4 heads',
      hidden: 48,
      heads: 4,
    };
    const model = syntheticModel(s, 21);
    const graph = modelGraph(model);
    const rng = new Random(8);
    const ranges = new Map(calibratedTensors(graph).map((n) => [n, 0.5 + 8 * rng.next()]));
    const program = planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: model.config.maxPositions });
    // The built-in model's device: its compiled kernels are reused.
    const runtime = await IntProgramGpu.create(gpu.encoder.gpu, program);
    try {
      const cpu = new IntProgramCpu(program);
      for (const [lengths, seqLen] of [
        [[9, 4, 1], 9],
        [[17, 17, 6, 12, 2], 17],
      ] as const) {
        const batch = syntheticBatch(model.config, [...lengths], seqLen, seqLen);
        for (const pooling of ['mean', 'cls'] as const) {
          const want = (await runtime.forward(batch, { pooling })).output;
          expect(Array.from((await cpu.forward(batch, { pooling })).output)).toEqual(Array.from(want));
        }
      }
    } finally {
      runtime.dispose();
    }
  });

  it("'auto' runs on WebGPU when an adapter answers and on the CPU when none does", async () => {
    const models: TextModel[] = [];
    try {
      models.push(await loadModel('default', { device: 'auto' }));
      expect(models[0].device).toBe('webgpu');
      adapter.none = true;
      models.push(await loadModel('default', { device: 'auto' }));
      expect(models[1].device).toBe('cpu');
      const [a, b] = [await models[0].classify(TEXTS), await models[1].classify(TEXTS)];
      expect(b).toEqual(a);
    } finally {
      adapter.none = false;
      for (const m of models) m.dispose();
    }
  }, 60_000);

  it("generation and translation on 'cpu' equal 'webgpu' token for token (built-in GPT-2 and Marian .i8t)", async () => {
    const models: TextModel[] = [];
    try {
      for (const [file, run] of [
        [
          'multi30k-gpt2-tiny.i8t',
          async (m: TextModel) =>
            (await m.generateBatch(['A man in a blue shirt', 'Two dogs'], { maxNewTokens: 6 })).map((r) => r.tokens),
        ],
        [
          'multi30k-marian-en-de.i8t',
          async (m: TextModel) =>
            (
              await m.translate(['A man is riding a bike.', 'Two children play in the water.'], { maxNewTokens: 6 })
            ).map((r) => r.tokens),
        ],
      ] as const) {
        const url = new URL(`../models/${file}`, import.meta.url);
        const [onCpu, onGpu] = [await loadModel(url, { device: 'cpu' }), await loadModel(url, { device: 'webgpu' })];
        models.push(onCpu, onGpu);
        expect(onCpu.device).toBe('cpu');
        const [want, got] = [await run(onGpu), await run(onCpu)];
        expect(want.every((t) => t.length > 0)).toBe(true);
        expect(got, file).toEqual(want);
      }
    } finally {
      for (const m of models) m.dispose();
    }
  }, 120_000);

  it('refuses unknown values and what the CPU backend does not run, by name', async () => {
    await expect(loadModel('default', { device: 'tpu' as never })).rejects.toThrow(
      /device "tpu" is not 'auto', 'webgpu' or 'cpu'/,
    );
    await expect(loadModel('default', { device: 'cpu', precision: 'fp32' })).rejects.toThrow(
      /device 'cpu' runs integer models.*precision 'fp32'/,
    );
    await expect(loadModel(new URL('../models/sst2-bert-tiny/', import.meta.url), { device: 'cpu' })).rejects.toThrow(
      /device 'cpu' runs integer model files \(\.i8t\).*calibrates on WebGPU/,
    );
    await expect(loadModel('default', { device: 'cpu', gpu: gpu.encoder.gpu })).rejects.toThrow(
      /device 'cpu' runs without a GPU/,
    );
  });
});
