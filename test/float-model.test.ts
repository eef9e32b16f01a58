/**
 * The float model graph: the GPU interpreter (FloatGraphGpu) against (a) the float64 CPU
 * interpreter on small random models of every family and (b) onnxruntime on the real SST-2
 * checkpoints' ONNX twins (when ../shared is there); the CPU interpreter alone on the ops encoders
 * do not use yet. Tolerance 1.2e-6 on outputs in both, the figure the README states: with outputs
 * of magnitude 1-3 that is 5-10 float32 ulps, what f32 rounding through these few layers leaves
 * (measured on SwiftShader: at most 8.2e-7 against the float64 reference, 1.19e-6 against
 * onnxruntime-node on all three checkpoints). A wrong mask, eps or op order shows as 1e-3 or more.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenBatch } from '../src/core/types.js';
import { runFloatGraphCpu, sinusoidalRow } from '../src/cpu/float-graph.js';
import { encoderParams, encoderSpec, modelGraph, type Params } from '../src/graph/architectures.js';
import { type ArchitectureSpec, buildGraph } from '../src/graph/blocks.js';
import type { ActivationFn, ModelGraph } from '../src/graph/types.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';
import { maxAbs, maxAbsDiff } from './cases/float-compare.js';
import { testGpu } from './gpu.js';
import { SYNTHETIC, syntheticBatch, syntheticModel, VOCAB } from './synthetic.js';

const LOGIT_TOLERANCE = 1.2e-6;

function synthetic(i: number): { graph: ModelGraph; params: Params; model: ReturnType<typeof syntheticModel> } {
  const model = syntheticModel(SYNTHETIC[i], 100 + i);
  return { graph: modelGraph(model), params: encoderParams(model.weights), model };
}

describe('FloatGraphGpu vs the float64 CPU interpreter', () => {
  const report: string[] = [];
  afterAll(() => {
    if (report.length) console.log(`max |output difference| vs the float64 CPU interpreter:\n${report.join('\n')}`);
  });
  SYNTHETIC.forEach((s, i) => {
    it(s.name, async () => {
      const { graph, params, model } = synthetic(i);
      const runtime = await FloatGraphGpu.create(await testGpu(), graph, params);
      const output = (r: { logits?: ArrayLike<number>; pooled?: ArrayLike<number> }) =>
        (s.task === 'embedding' ? r.pooled : r.logits)!;
      try {
        const batch = syntheticBatch(model.config, [17, 9, 1], 17, 200 + i);
        const got = output(await runtime.forward(batch));
        const want = output(runFloatGraphCpu(graph, params, batch));
        expect(got.length).toBe(3 * (s.task === 'embedding' ? s.hidden : s.labels));
        expect(maxAbs(want)).toBeGreaterThan(1e-2);
        const diff = maxAbsDiff(got, want);
        report.push(`  ${s.name}: ${diff.toExponential(2)} (outputs up to ${maxAbs(want).toFixed(2)})`);
        expect(diff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
        // A smaller batch runs within the capacity; a longer one grows it.
        for (const [lengths, seq] of [
          [[5, 3], 5],
          [[30, 22], 30],
        ] as const) {
          const b = syntheticBatch(model.config, [...lengths], seq, 300 + seq + i);
          expect(
            maxAbsDiff(output(await runtime.forward(b)), output(runFloatGraphCpu(graph, params, b))),
          ).toBeLessThanOrEqual(LOGIT_TOLERANCE);
        }
      } finally {
        runtime.dispose();
      }
      expect(runtime.memory()).toEqual({ weightBytes: 0, activationBytes: 0 });
      await expect(runtime.forward(syntheticBatch(model.config, [2], 2, 1))).rejects.toThrow(/after dispose/);
    });
  });

  it('captures every tensor of the graph by id, equal to the CPU interpreter; residual sums are the f32 sum of their terms', async () => {
    const { graph, params, model } = synthetic(0);
    const runtime = await FloatGraphGpu.create(await testGpu(), graph, params);
    try {
      const batch = syntheticBatch(model.config, [11, 6], 11, 500);
      const got = await runtime.forward(batch, { capture: true });
      const want = runFloatGraphCpu(graph, params, batch, { capture: true });
      const ids = graph.tensors.map((t) => t.id).sort();
      expect([...got.captures!.keys()].sort()).toEqual(ids);
      expect([...want.captures.keys()].sort()).toEqual(ids);
      expect(ids).toContain('layer.1.attention_residual');
      expect(ids).toContain('head.dense_pre');
      for (const id of ids) {
        const ref = want.captures.get(id)!;
        // Relative to the tensor's scale: GELU inputs and residual sums reach ~10.
        expect(maxAbsDiff(got.captures!.get(id)!, ref), id).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
      }
      const c = got.captures!;
      const sum = Float32Array.from(c.get('layer.1.output')!, (v, i) => v + c.get('layer.1.attention_norm')![i]);
      expect(c.get('layer.1.output_residual')).toEqual(sum);
      // The fused GELU (no capture) computes the same function as the separate pass.
      const plain = await runtime.forward(batch);
      expect(maxAbsDiff(plain.logits!, got.logits!)).toBeLessThanOrEqual(1e-6);
      expect(plain.captures).toBeUndefined();
    } finally {
      runtime.dispose();
    }
  });

  it('returns exactly the tensors asked for, and refuses unknown ids', async () => {
    const { graph, params, model } = synthetic(1);
    const runtime = await FloatGraphGpu.create(await testGpu(), graph, params);
    try {
      const batch = syntheticBatch(model.config, [9, 4], 9, 510);
      const ask = ['layer.0.key', 'layer.1.attention_residual', 'layer.1.gelu', 'head.dense', 'logits'];
      const got = await runtime.forward(batch, { capture: ask });
      expect([...got.captures!.keys()].sort()).toEqual([...ask].sort());
      const want = runFloatGraphCpu(graph, params, batch, { capture: ask });
      for (const id of ask) {
        const ref = want.captures.get(id)!;
        expect(maxAbsDiff(got.captures!.get(id)!, ref), id).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(ref)));
      }
      expect(got.captures!.get('logits')).toEqual(got.logits);
      await expect(runtime.forward(batch, { capture: ['layer.0.nothing'] })).rejects.toThrow(
        /no tensor "layer.0.nothing"/,
      );
    } finally {
      runtime.dispose();
    }
  });

  it('binds once per capacity: new lengths within it create no pipeline and no bind group; growth at least doubles', async () => {
    const gpu = await testGpu();
    const { graph, params, model } = synthetic(2);
    const runtime = await FloatGraphGpu.create(gpu, graph, params);
    try {
      const first = runtime.boundCapacity!;
      await runtime.forward(syntheticBatch(model.config, [5, 3, 9], 9, 30));
      const grown = runtime.boundCapacity!;
      expect(grown.batch).toBeGreaterThanOrEqual(Math.max(3, 2 * first.batch));
      const counts = runtime.creationCounts();
      const cases: [number[], number][] = [
        [[13, 2], 13],
        [[1], 1],
        [[6, 2, 4], 6],
        [[38], 38],
        [[7], 7],
      ];
      for (const [i, [lengths, seq]] of cases.entries()) {
        const batch = syntheticBatch(model.config, lengths, seq, 40 + i);
        const got = await runtime.forward(batch, { capture: i === 3 ? true : i === 4 ? ['layer.1.gelu'] : undefined });
        expect(maxAbsDiff(got.logits!, runFloatGraphCpu(graph, params, batch).logits!)).toBeLessThanOrEqual(
          LOGIT_TOLERANCE,
        );
      }
      expect(runtime.creationCounts()).toEqual(counts);
      expect(runtime.boundCapacity).toEqual(grown);
    } finally {
      runtime.dispose();
    }
  });

  it('refuses malformed batches', async () => {
    const { graph, params, model } = synthetic(4);
    const runtime = await FloatGraphGpu.create(await testGpu(), graph, params);
    try {
      const batch = syntheticBatch(model.config, [3], 3, 600);
      batch.inputIds[1] = VOCAB;
      await expect(runtime.forward(batch)).rejects.toThrow(RangeError);
      const empty = syntheticBatch(model.config, [3, 0], 3, 601);
      await expect(runtime.forward(empty)).rejects.toThrow(/no real token/);
      // Arrays must be exactly batch x seqLen: a short one would leave the last batch's ids in the buffer.
      const short = syntheticBatch(model.config, [3, 2], 3, 602);
      await expect(runtime.forward({ ...short, inputIds: short.inputIds.subarray(0, 5) })).rejects.toThrow(
        /inputIds has 5 values, expected batch 2 x seqLen 3 = 6/,
      );
      const mask = syntheticBatch(model.config, [3], 3, 603);
      mask.attentionMask[2] = 2;
      await expect(runtime.forward(mask)).rejects.toThrow(/attentionMask\[2\] = 2 must be 0 or 1/);
      await expect(
        runtime.forward(syntheticBatch(model.config, [3], 3, 604), { capture: true, profile: true }),
      ).rejects.toThrow(/profile and capture/);
    } finally {
      runtime.dispose();
    }
  });

  it('refuses at creation, by name, the ops it cannot run yet', async () => {
    const gpu = await testGpu();
    const model = syntheticModel(SYNTHETIC[4], 104);
    const params = encoderParams(model.weights);
    const base = encoderSpec(model.config, null);
    const variants: [string, (s: ArchitectureSpec) => ArchitectureSpec, RegExp][] = [
      [
        'sinusoidal positions without a table length',
        (s) => ({ ...s, embeddings: { ...s.embeddings, positions: 'sinusoidal' } }),
        /embed "embeddings\.sum" uses sinusoidal positions, whose table needs the maxPositions option/,
      ],
      [
        'first-token pooling',
        (s) => ({ ...s, head: { kind: 'pool', mode: 'first' } }),
        /pool "pooled" pools the first token/,
      ],
    ];
    for (const [what, edit, message] of variants) {
      await expect(FloatGraphGpu.create(gpu, buildGraph(edit(base)), params), what).rejects.toThrow(message);
    }
    // SiLU, sinusoidal positions and scaled embeddings run since Marian (test/marian-import.test.ts): GPU == CPU.
    const marianLike = (s: ArchitectureSpec): ArchitectureSpec => ({
      ...s,
      layer: { ...s.layer, activation: 'silu' },
      embeddings: { ...s.embeddings, positions: 'sinusoidal', scale: 8 },
    });
    const runs = await FloatGraphGpu.create(gpu, buildGraph(marianLike(base)), params, {
      maxPositions: model.config.maxPositions,
    });
    try {
      const b = syntheticBatch(model.config, [4, 2], 4, 701);
      const r = await runs.forward(b);
      const got = r.logits ?? r.pooled!;
      const c = runFloatGraphCpu(buildGraph(marianLike(base)), params, b);
      const want = c.logits ?? c.pooled!;
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1.2e-6 * Math.max(1, maxAbs(want)));
    } finally {
      runs.dispose();
    }
    // Tanh GELU, causal attention and pre-LN residual streams run since GPT-2 (test/gpt2-import.test.ts).
    // The CPU interpreter runs them all.
    const batch = syntheticBatch(model.config, [4, 2], 4, 700);
    for (const [what, edit] of variants) {
      const r = runFloatGraphCpu(buildGraph(edit(base)), params, batch);
      expect(Array.from(r.logits ?? r.pooled!).every(Number.isFinite), what).toBe(true);
    }
  });
});

// ---- the CPU interpreter on what the encoders do not use yet ----------------------------------------

/** Token ids 0..n-1 at positions 0..n-1, one sequence, every token real. */
function oneSequence(n: number): TokenBatch {
  const ids = Int32Array.from({ length: n }, (_, i) => i);
  return {
    batch: 1,
    seqLen: n,
    inputIds: ids,
    attentionMask: new Int32Array(n).fill(1),
    tokenTypeIds: new Int32Array(n),
    positionIds: ids.slice(),
  };
}

/** embed (word rows = `rows`, zero positions) -> activation -> first-token pool: the activation of each row. */
function activationOf(fn: ActivationFn, xs: number[]): number[] {
  const graph: ModelGraph = {
    kind: 'encoder',
    tensors: [
      { id: 'x', shape: ['batch', 'query', 1] },
      { id: 'y', shape: ['batch', 'query', 1] },
      { id: 'pooled', shape: ['batch', 1] },
    ],
    ops: [
      { kind: 'embed', out: 'x', word: 'word', position: 'position' },
      { kind: 'activation', input: 'x', out: 'y', fn },
      { kind: 'pool', input: 'y', out: 'pooled', mode: 'first' },
    ],
    output: { tensor: 'pooled', kind: 'pooled' },
  };
  const params: Params = new Map([
    ['word', { shape: [xs.length, 1], data: Float32Array.from(xs) }],
    ['position', { shape: [xs.length, 1], data: new Float32Array(xs.length) }],
  ]);
  const r = runFloatGraphCpu(graph, params, oneSequence(xs.length), { capture: ['y'] });
  expect(r.pooled![0]).toBe(r.captures.get('y')![0]);
  return Array.from(r.captures.get('y')!);
}

describe('runFloatGraphCpu: ops the encoders do not use yet', () => {
  it('activations match their definitions at known points', () => {
    const xs = [-2, -1, 0, 0.5, 1, 3];
    const close = (got: number[], want: number[]) => got.forEach((g, i) => expect(g).toBeCloseTo(want[i], 12));
    // transformers' gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); values from Python's math module in float64.
    close(
      activationOf('gelu_tanh', xs),
      [-0.04540230591222494, -0.15880800939172324, 0, 0.34571400982514394, 0.8411919906082768, 2.996362607918227],
    );
    close(
      activationOf('gelu', xs),
      [-0.04550026389635842, -0.15865525393145707, 0, 0.34573123063700656, 0.8413447460685429, 2.99595030590511],
    );
    close(
      activationOf('silu', xs),
      [-0.2384058440442351, -0.2689414213699951, 0, 0.3112296656009273, 0.7310585786300049, 2.8577223804672998],
    );
    close(activationOf('relu', xs), [0, 0, 0, 0.5, 1, 3]);
    close(activationOf('tanh', xs), xs.map(Math.tanh));
  });

  it("Marian's sinusoidal table: sines in the first half, cosines in the second, one frequency per column pair", () => {
    expect(Array.from(sinusoidalRow(0, 6))).toEqual([0, 0, 0, 1, 1, 1]);
    const f = Math.fround;
    expect(Array.from(sinusoidalRow(3, 4))).toEqual([
      f(Math.sin(3)),
      f(Math.sin(3 / 100)),
      f(Math.cos(3)),
      f(Math.cos(3 / 100)),
    ]);
    // Odd widths: ceil(dim / 2) sine columns (transformers' sentinel).
    const odd = sinusoidalRow(2, 5);
    expect(Array.from(odd)).toEqual(
      [
        Math.sin(2),
        Math.sin(2 / 10000 ** 0.4),
        Math.sin(2 / 10000 ** 0.8),
        Math.cos(2),
        Math.cos(2 / 10000 ** 0.4),
      ].map(f),
    );
  });

  it('embeds with a word scale and the sinusoidal table, by the batch position ids', () => {
    const H = 4;
    const graph: ModelGraph = {
      kind: 'encoder',
      tensors: [
        { id: 'e', shape: ['batch', 'query', H] },
        { id: 'pooled', shape: ['batch', H] },
      ],
      ops: [
        { kind: 'embed', out: 'e', word: 'word', position: 'sinusoidal', scale: 2 },
        { kind: 'pool', input: 'e', out: 'pooled', mode: 'mean' },
      ],
      output: { tensor: 'pooled', kind: 'pooled' },
    };
    const word = Float32Array.from({ length: 3 * H }, (_, i) => i / 8);
    const batch = oneSequence(3);
    batch.positionIds.set([5, 0, 7]);
    const e = runFloatGraphCpu(graph, new Map([['word', { shape: [3, H], data: word }]]), batch, {
      capture: true,
    }).captures.get('e')!;
    for (let t = 0; t < 3; t++) {
      const pos = sinusoidalRow(batch.positionIds[t], H);
      for (let c = 0; c < H; c++) expect(e[t * H + c]).toBe(word[t * H + c] * 2 + pos[c]);
    }
  });

  it('causal attention: a query sees only keys up to itself, besides the padding mask', () => {
    const model = syntheticModel(SYNTHETIC[4], 9);
    const params = encoderParams(model.weights);
    const spec = encoderSpec(model.config, null);
    const causal = buildGraph({ ...spec, layer: { ...spec.layer, causal: true } });
    const plain = buildGraph(spec);
    const H = model.config.hiddenSize;
    const batch = syntheticBatch(model.config, [6, 4], 6, 800);
    const changed = { ...batch, inputIds: batch.inputIds.slice() };
    changed.inputIds[3] = (changed.inputIds[3] % (VOCAB - 3)) + 2;
    const ids = ['layer.0.context', 'layer.0.value'];
    const a = runFloatGraphCpu(causal, params, batch, { capture: ids }).captures;
    const b = runFloatGraphCpu(causal, params, changed, { capture: ids }).captures;
    const context = a.get('layer.0.context')!;
    const row = (x: Float64Array, t: number) => Array.from(x.subarray(t * H, (t + 1) * H));
    // Token 3 changed: rows 0..2 of the first sequence and the whole second one are untouched, row 3 is not.
    for (const t of [0, 1, 2, 6, 7, 8, 9]) expect(row(b.get('layer.0.context')!, t)).toEqual(row(context, t));
    expect(row(b.get('layer.0.context')!, 3)).not.toEqual(row(context, 3));
    // The first query has one key: its context is that key's value, exactly.
    expect(row(context, 0)).toEqual(row(a.get('layer.0.value')!, 0));
    expect(row(context, 6)).toEqual(row(a.get('layer.0.value')!, 6));
    // Without the causal mask the first query sees every real key.
    expect(
      row(runFloatGraphCpu(plain, params, batch, { capture: ids }).captures.get('layer.0.context')!, 0),
    ).not.toEqual(row(context, 0));
  });
});

// ---- against onnxruntime on the shared checkpoints --------------------------------------------------

const SHARED = new URL('../../shared/', import.meta.url);
const sharedPath = (p: string) => fileURLToPath(new URL(p, SHARED));
const ONNX_MODELS = ['sst2-bert-tiny', 'sst2-distilbert-mini', 'sst2-bert-minilm-l6'];
const SENTENCES = 16;

describe.skipIf(!existsSync(sharedPath('models/sst2-bert-tiny/onnx/model.onnx')))(
  'FloatGraphGpu vs onnxruntime on the SST-2 checkpoints',
  () => {
    let sentences: string[] = [];
    beforeAll(() => {
      const lines = readFileSync(sharedPath('data/glue/sst2/dev.tsv'), 'utf8').split('\n');
      expect(lines[0].split('\t')).toEqual(['sentence', 'label']);
      sentences = lines
        .slice(1)
        .filter((l) => l.trim())
        .slice(0, SENTENCES)
        .map((l) => l.split('\t')[0]);
    });
    const report: string[] = [];
    afterAll(() => {
      if (report.length) console.log(`max |logit difference| vs onnxruntime:\n${report.join('\n')}`);
    });

    for (const name of ONNX_MODELS) {
      it(name, async () => {
        const ort = await import('onnxruntime-node');
        const { loadEncoderModel } = await import('../src/model/load.js');
        const { folderSource } = await import('../src/model/sources-node.js');
        const { loadTokenizer } = await import('../src/model/tokenizer.js');
        const dir = sharedPath(`models/${name}`);
        const files = folderSource(dir);
        const model = await loadEncoderModel(files);
        const tokenizer = await loadTokenizer(files, model.config);
        const batch = tokenizer.encodeBatch(sentences);

        const session = await ort.InferenceSession.create(`${dir}/onnx/model.onnx`, {
          externalData: [{ path: '../model.safetensors', data: readFileSync(`${dir}/model.safetensors`) }],
        });
        const dims = [batch.batch, batch.seqLen];
        const int64 = (v: Int32Array) =>
          new ort.Tensor(
            'int64',
            BigInt64Array.from(v, (x) => BigInt(x)),
            dims,
          );
        const available: Record<string, Int32Array> = {
          input_ids: batch.inputIds,
          attention_mask: batch.attentionMask,
          token_type_ids: batch.tokenTypeIds,
          position_ids: batch.positionIds,
        };
        const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
        for (const input of session.inputNames) {
          if (!available[input]) throw new Error(`${name}: unexpected ONNX input ${input}`);
          feeds[input] = int64(available[input]);
        }
        const want = (await session.run(feeds)).logits.data as Float32Array;
        await session.release();

        const runtime = await FloatGraphGpu.create(await testGpu(), modelGraph(model), encoderParams(model.weights));
        try {
          const got = (await runtime.forward(batch)).logits!;
          const diff = maxAbsDiff(got, want);
          report.push(
            `  ${name}: ${diff.toExponential(2)} (${batch.batch} x ${batch.seqLen} tokens, logits up to ${maxAbs(want).toFixed(2)})`,
          );
          expect(maxAbs(want)).toBeGreaterThan(0.5);
          expect(diff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
        } finally {
          runtime.dispose();
        }
      });
    }
  },
);
