/**
 * The integer program: the planner over the model graph makes exactly the program that version-1
 * plans of the same models and ranges amount to (fixtures recorded by the version-1 planner), the
 * CPU interpreter runs it, the GPU interpreter equals the CPU interpreter bit for bit and creates
 * nothing for a new length within its capacity, and validateProgram refuses damaged programs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { EncoderConfig } from '../src/core/types.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { readContainer } from '../src/format/int-model-file.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { type EncoderPlan, programFromV1 } from '../src/plan/v1-program.js';
import { validateProgram } from '../src/plan/validate-program.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { Random } from '../src/util/random.js';
import { expectSameDocument } from './cases/same-program.js';
import { testGpu } from './gpu.js';
import { SYNTHETIC, syntheticBatch, syntheticModel } from './synthetic.js';

/** Ranges for every tensor the planner reads, drawn at random (the planner must not care where they come from). */
function randomRanges(names: string[], seed: number): Map<string, number> {
  const rng = new Random(seed);
  return new Map(names.map((n) => [n, 0.5 + 8 * rng.next()]));
}

describe('planGraph', () => {
  // test/fixtures/v1-plan-*.i8t: planEncoder (version 1) of syntheticModel(s, 7) with the ranges stored beside it.
  for (const [name, family, hidden] of [
    ['DistilBERT, hidden 64, 4 heads', 'distilbert', 64],
    ['RoBERTa, hidden 48, 3 heads', 'roberta', 48],
    ['BERT without a dense head, 1 layer', 'bert', 32],
  ] as const) {
    it(`${name}: the graph planner makes the program of the version-1 plan, constant for constant`, () => {
      const s = SYNTHETIC.find((x) => x.name === name)!;
      const model = syntheticModel(s, 7);
      const { doc } = readContainer(
        new Uint8Array(readFileSync(new URL(`./fixtures/v1-plan-${family}-${hidden}.i8t`, import.meta.url))),
      );
      expect(doc.config).toEqual(model.config);
      const ranges = new Map(Object.entries(doc.ranges as Record<string, number>));
      const graph = modelGraph(model);
      expect(new Set(ranges.keys())).toEqual(new Set(calibratedTensors(graph)));
      const program = planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: model.config.maxPositions });
      expectSameDocument(program, programFromV1(doc.plan as EncoderPlan, doc.config as EncoderConfig), 'program');
    });
  }
  it('refuses heads whose size is not a multiple of 4 (the packed attention needs whole words)', () => {
    const model = syntheticModel(SYNTHETIC.find((x) => (x.hidden / x.heads) % 4 !== 0)!, 7);
    const graph = modelGraph(model);
    expect(() =>
      planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 1), { maxKeys: 40 }),
    ).toThrow(/multiple of 4/);
  });
  it('names a missing calibrated range', () => {
    const model = syntheticModel(SYNTHETIC[1], 7);
    const graph = modelGraph(model);
    const ranges = randomRanges(calibratedTensors(graph), 1);
    ranges.delete('layer.1.attention_norm');
    expect(() => planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: 40 })).toThrow(
      /no calibrated range for activation "layer.1.attention_norm"/,
    );
  });
});

describe('runIntProgramCpu replace hook (bench/error-attribution.ts)', () => {
  const model = syntheticModel(SYNTHETIC[1], 7);
  const graph = modelGraph(model);
  const program = planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 2), {
    maxKeys: model.config.maxPositions,
  });
  const batch = syntheticBatch(model.config, [9, 5], 9, 3);
  const plain = runIntProgramCpu(program, batch, { keep: true });
  it('replaces a tensor for the ops after it, and only that tensor', () => {
    const id = 'layer.0.attention_norm';
    const same = runIntProgramCpu(program, batch, { replace: (t, v) => (t === id ? v.slice() : undefined) });
    expect(Array.from(same.output)).toEqual(Array.from(plain.output));
    const zeroed = runIntProgramCpu(program, batch, {
      keep: true,
      replace: (t, v) => (t === id ? new Int8Array(v.length) : undefined),
    });
    expect(Array.from(zeroed.values!.get(id)!).every((v) => v === 0)).toBe(true);
    expect(Array.from(zeroed.output)).not.toEqual(Array.from(plain.output));
    expect(zeroed.values!.get('embeddings.norm')).toEqual(plain.values!.get('embeddings.norm'));
  });
  it('refuses values of another type or length, naming the tensor', () => {
    const id = 'layer.0.attention_norm';
    expect(() =>
      runIntProgramCpu(program, batch, { replace: (t) => (t === id ? new Int32Array(3) : undefined) }),
    ).toThrow(/values replacing "layer.0.attention_norm" are 3 Int32Array, not \d+ Int8Array/);
  });
});

describe('integer program on the GPU', () => {
  for (const s of SYNTHETIC.filter((x) => (x.hidden / x.heads) % 4 === 0)) {
    it(`${s.name}: GPU equals the CPU interpreter bit for bit, and new lengths within capacity create no pipeline or bind group`, async () => {
      const gpu = await testGpu();
      const model = syntheticModel(s, 5);
      const graph = modelGraph(model);
      const program = planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 19), {
        maxKeys: model.config.maxPositions,
      });
      const runtime = await IntProgramGpu.create(gpu, program);
      const compiled = gpu.pipelineCount;
      try {
        // Lengths 9 then 13 then 1 and 6 (batch 3, 2, 1, 3): the first two may grow the buffers, the rest fit and must create nothing.
        const cases: [number[], number][] = [
          [[5, 3, 9], 9],
          [[13, 2], 13],
          [[1], 1],
          [[6, 2, 4], 6],
        ];
        let after: ReturnType<IntProgramGpu['creationCounts']> | undefined;
        for (const [i, [lengths, seq]] of cases.entries()) {
          const batch = syntheticBatch(model.config, lengths, seq, 30 + i);
          const gpuOut = await runtime.forward(batch);
          expect(Array.from(gpuOut.output)).toEqual(Array.from(runIntProgramCpu(program, batch).output));
          if (i === 1) after = runtime.creationCounts();
        }
        expect(runtime.creationCounts()).toEqual(after);
        // Every variant these runs met (the classifier head at batches 3 and 2 too) was compiled at creation.
        expect(gpu.pipelineCount).toBe(compiled);
      } finally {
        runtime.dispose();
      }
      expect(runtime.memory()).toEqual({ weightBytes: 0, activationBytes: 0 });
    });
  }
});

describe('fused launches', () => {
  it('fused (attention-i8, residual add inside LayerNorm) and unfused runtimes give the same integers, the fused one with fewer dispatches', async () => {
    const gpu = await testGpu();
    const s = SYNTHETIC.find((x) => x.name === 'DistilBERT, hidden 64, 4 heads')!;
    const model = syntheticModel(s, 8);
    const graph = modelGraph(model);
    const program = planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 23), {
      maxKeys: model.config.maxPositions,
    });
    // Post-LN: every residual sum is read only by the LayerNorm after it.
    const residuals = program.ops.filter((o) => o.kind === 'residual').length;
    expect(residuals).toBe(2 * s.layers);
    const batch = syntheticBatch(model.config, [11, 4, 7], 11, 77);
    const outputs: number[][] = [];
    const plans: string[][] = [];
    for (const fuse of [false, { attention: false }, true]) {
      const runtime = await IntProgramGpu.create(gpu, program, { fuse });
      try {
        outputs.push(Array.from((await runtime.forward(batch)).output));
        plans.push((await runtime.launchPlan(3, 11)).map((l) => l.name));
      } finally {
        runtime.dispose();
      }
    }
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[2]).toEqual(outputs[0]);
    const count = (names: string[], prefix: string) => names.filter((n) => n.startsWith(prefix)).length;
    expect(count(plans[0], 'residual-add')).toBe(residuals);
    for (const fused of [plans[1], plans[2]]) {
      expect(count(fused, 'residual-add')).toBe(0);
      expect(count(fused, 'layernorm-i8[i8+i8,')).toBe(residuals);
    }
    expect(plans[1].length).toBe(plans[0].length - residuals);
    expect(plans[2].length).toBeLessThan(plans[1].length);
  });
});

describe('validateProgram', () => {
  const model = syntheticModel(SYNTHETIC[0], 7);
  const graph = modelGraph(model);
  const planned = () =>
    planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 11), {
      maxKeys: model.config.maxPositions,
    });

  it('accepts what the planner makes', () => {
    expect(() => validateProgram(planned(), 'planned')).not.toThrow();
  });

  // biome-ignore lint/suspicious/noExplicitAny: the mutations write wrong types on purpose
  type Hostile = any;
  const mutations: [string, (p: Hostile) => void, RegExp][] = [
    [
      'a boolean that is a string',
      (p) => (p.ops[1].constants.channels[0].negate = 'yes'),
      /ops\[1\]\.constants\.channels\[0\]\.negate: expected true or false/,
    ],
    [
      "a LayerNorm input bound below its input's (found by bench/fuzz.ts)",
      (p) => (p.ops[1].constants.inputMaxAbs = 0),
      /inputMaxAbs: 0 is below the proven bound 2097152/,
    ],
    [
      'an epsVar meaning an epsilon above 0.1 (found by bench/fuzz.ts)',
      (p) => (p.ops[1].constants.epsVar = 2 ** 31),
      /epsVar: 2147483648 means a LayerNorm epsilon of .* above 0\.1/,
    ],
    [
      'softmax constants missing',
      (p) => (p.ops.find((o: Hostile) => o.kind === 'attention').softmax = {}),
      /softmax\.rescale: missing/,
    ],
    ['an unknown op', (p) => (p.ops[2].kind = 'toString'), /ops\[2\]\.kind: .*not an op/],
    [
      'a tensor read before it is written',
      (p) => p.ops.splice(1, 1),
      /reads "embeddings\.norm" before any op writes it/,
    ],
    ['a tensor written twice', (p) => p.ops.push(p.ops[1]), /writes "embeddings\.norm", which an earlier op wrote/],
    [
      'weights of the wrong length',
      (p) => (p.ops.find((o: Hostile) => o.kind === 'gemm').weight = new Int8Array(3)),
      /weight: 3 values/,
    ],
    [
      'a bias that overflows the accumulator',
      (p) => (p.ops.find((o: Hostile) => o.kind === 'gemm').bias[0] = 2 ** 31 - 1),
      /overflow the int32 accumulator/,
    ],
    [
      'a multiplier beyond 31 bits',
      (p) => (p.ops.find((o: Hostile) => o.kind === 'gemm').requant[0].m = 2 ** 31),
      /requant\[0\]\.m/,
    ],
    ['an extra field', (p) => (p.ops[0].__proto__x = 1), /unexpected field/],
    [
      'heads that do not fit the tensor',
      (p) => (p.ops.find((o: Hostile) => o.kind === 'attention').heads = 50),
      /do not fit/,
    ],
  ];
  for (const [name, mutate, message] of mutations) {
    it(`refuses ${name}, naming where`, () => {
      const p = planned();
      mutate(p);
      expect(() => validateProgram(p, 'file.i8t')).toThrow(message);
    });
  }
});
