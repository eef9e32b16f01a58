/**
 * The integer program: the planner over the model graph gives exactly the constants of the
 * encoder planner it replaces (same ranges in, same integers out), version 1 plans read as programs
 * run to the same integers, and the CPU interpreter of a program equals the encoder reference.
 */
import { describe, expect, it } from 'vitest';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { planEncoder } from '../src/plan/encoder-plan.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { validateProgram } from '../src/plan/validate-program.js';
import { programFromV1 } from '../src/plan/v1-program.js';
import { intEncoderRef } from '../src/reference/int-encoder.js';
import { Random } from '../src/util/random.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { testGpu } from './gpu.js';
import { SYNTHETIC, syntheticBatch, syntheticModel } from './synthetic.js';

/** Ranges for every tensor the planner reads, drawn at random (the planner must not care where they come from). */
function randomRanges(names: string[], seed: number): Map<string, number> {
  const rng = new Random(seed);
  return new Map(names.map((n) => [n, 0.5 + 8 * rng.next()]));
}

describe('planGraph', () => {
  for (const s of SYNTHETIC) {
    it(`${s.name}: the graph planner gives the encoder planner's program, and both interpreters agree`, () => {
      const model = syntheticModel(s, 7);
      const graph = modelGraph(model);
      const names = calibratedTensors(graph);
      const ranges = randomRanges(names, 11);
      // The encoder planner names the head's pre-activation range like the graph's tensor.
      if ((model.config.hiddenSize / model.config.numHeads) % 4 !== 0) {
        expect(() => planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: 40 })).toThrow(/multiple of 4/);
        expect(() => planEncoder(model, ranges)).toThrow(/multiple of 4/);
        return;
      }
      const program = planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: model.config.maxPositions });
      const v1 = programFromV1(planEncoder(model, ranges), model.config);
      expect(program).toEqual(v1);
      const batch = syntheticBatch(model.config, [5, 3, 9], 9, 3);
      const cpu = runIntProgramCpu(program, batch).output;
      const ref = intEncoderRef(planEncoder(model, ranges), model.config, batch);
      if (model.config.task === 'sequence-classification') expect(Array.from(cpu)).toEqual(Array.from(ref.logitsInt!));
      else expect(cpu.length).toBe(3 * (model.config.hiddenSize + 1));
    });
  }
});

describe('integer program on the GPU', () => {
  for (const s of SYNTHETIC.filter((x) => (x.hidden / x.heads) % 4 === 0)) {
    it(`${s.name}: GPU equals the CPU interpreter bit for bit, and new lengths within capacity create no pipeline or bind group`, async () => {
      const gpu = await testGpu();
      const model = syntheticModel(s, 5);
      const graph = modelGraph(model);
      const program = planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 19), { maxKeys: model.config.maxPositions });
      const runtime = await IntProgramGpu.create(gpu, program);
      try {
        // Lengths 9 then 13 then 1 and 6 (batch 3, 2, 1, 3): the first two may grow the buffers, the rest fit and must create nothing.
        const cases: [number[], number][] = [[[5, 3, 9], 9], [[13, 2], 13], [[1], 1], [[6, 2, 4], 6]];
        let after: ReturnType<IntProgramGpu['creationCounts']> | undefined;
        for (const [i, [lengths, seq]] of cases.entries()) {
          const batch = syntheticBatch(model.config, lengths, seq, 30 + i);
          const gpuOut = await runtime.forward(batch);
          expect(Array.from(gpuOut.output)).toEqual(Array.from(runIntProgramCpu(program, batch).output));
          if (i === 1) after = runtime.creationCounts();
        }
        expect(runtime.creationCounts()).toEqual(after);
      } finally {
        runtime.dispose();
      }
      expect(runtime.memory()).toEqual({ weightBytes: 0, activationBytes: 0 });
    });
  }
});

describe('validateProgram', () => {
  const model = syntheticModel(SYNTHETIC[0], 7);
  const graph = modelGraph(model);
  const planned = () => planGraph(graph, encoderParams(model.weights), randomRanges(calibratedTensors(graph), 11), { maxKeys: model.config.maxPositions });

  it('accepts what the planner makes', () => {
    expect(() => validateProgram(planned(), 'planned')).not.toThrow();
  });

  const mutations: [string, (p: any) => void, RegExp][] = [
    ['a boolean that is a string', (p) => (p.ops[1].constants.channels[0].negate = 'yes'), /ops\[1\]\.constants\.channels\[0\]\.negate: expected true or false/],
    ['softmax constants missing', (p) => (p.ops.find((o: any) => o.kind === 'attention').softmax = {}), /softmax\.rescale: missing/],
    ['an unknown op', (p) => (p.ops[2].kind = 'toString'), /ops\[2\]\.kind: .*not an op/],
    ['a tensor read before it is written', (p) => p.ops.splice(1, 1), /reads "embeddings\.norm" before any op writes it/],
    ['a tensor written twice', (p) => p.ops.push(p.ops[1]), /writes "embeddings\.norm", which an earlier op wrote/],
    ['weights of the wrong length', (p) => (p.ops.find((o: any) => o.kind === 'gemm').weight = new Int8Array(3)), /weight: 3 values/],
    ['a bias that overflows the accumulator', (p) => (p.ops.find((o: any) => o.kind === 'gemm').bias[0] = 2 ** 31 - 1), /overflow the int32 accumulator/],
    ['a multiplier beyond 31 bits', (p) => (p.ops.find((o: any) => o.kind === 'gemm').requant[0].m = 2 ** 31), /requant\[0\]\.m/],
    ['an extra field', (p) => (p.ops[0].__proto__x = 1), /unexpected field/],
    ['heads that do not fit the tensor', (p) => (p.ops.find((o: any) => o.kind === 'attention').heads = 50), /do not fit/],
  ];
  for (const [name, mutate, message] of mutations) {
    it(`refuses ${name}, naming where`, () => {
      const p = planned();
      mutate(p);
      expect(() => validateProgram(p, 'file.i8t')).toThrow(message);
    });
  }
});
