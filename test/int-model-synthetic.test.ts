/**
 * The integer path on small random encoders of every family (BERT with hidden 200 / 5 heads,
 * DistilBERT with a ReLU head, RoBERTa with offset positions, a bare BertModel for embeddings):
 * calibrated and planned, GPU output equal to the CPU interpreter bit for bit, and close to float.
 *
 * Closeness to float, measured on SwiftShader over 11 sentences per model (max calibration on three
 * random batches), with bounds of about twice the worst measured value:
 * - the least-squares slope of int8 on float logits is within 0.0161 of 1 (DistilBERT; BERT 0.0039,
 *   RoBERTa 0.0034, no dense head 0.0060): quantization adds noise, not a scale. Bound 0.035. A logit
 *   scale 10% off moves the slope by 0.096 or more, so it fails; each classifier checks that it does.
 * - no logit is further from float than 0.1125 of the largest float logit (DistilBERT; the others
 *   0.036-0.071). Bound 0.25: a flipped sign or swapped labels fail it.
 * - mean-pooled int8 embeddings have a cosine similarity with float of at least 0.9893 (in the batch
 *   of 17, 9 and 1 tokens; 0.9995 in the others). Bound 0.975.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { calibrationCaptures, observeCaptures } from '../src/calibrate/calibrate.js';
import { RangeObserver } from '../src/calibrate/range-observer.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { validateProgram } from '../src/plan/validate-program.js';
import { poolToFloat } from '../src/reference/pool-i8.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { testGpu } from './gpu.js';
import { SYNTHETIC, type Synthetic, syntheticBatch, syntheticModel } from './synthetic.js';

const MAX_SLOPE_DEVIATION = 0.035;
const MAX_RELATIVE_LOGIT_ERROR = 0.25;
const MIN_EMBEDDING_COSINE = 0.975;

const CASES: Synthetic[] = [
  ...SYNTHETIC.filter((s) => (s.hidden / s.heads) % 4 === 0),
  {
    name: 'BertModel (mean pooling), hidden 64, 4 heads of 16',
    family: 'bert',
    task: 'embedding',
    hidden: 64,
    heads: 4,
    intermediate: 100,
    layers: 2,
    typeVocab: 2,
    labels: 0,
  },
];

/** max |int8 - float| over the logits, relative to the largest float logit. */
function relativeLogitError(int8: ArrayLike<number>, float: ArrayLike<number>): number {
  let err = 0;
  let spread = 0;
  for (let i = 0; i < float.length; i++) {
    err = Math.max(err, Math.abs(int8[i] - float[i]));
    spread = Math.max(spread, Math.abs(float[i]));
  }
  return err / spread;
}

/** The least-squares factor from float to int8 logits: 1 when quantization adds only unbiased noise. */
function logitSlope(int8: ArrayLike<number>, float: ArrayLike<number>): number {
  let qf = 0;
  let ff = 0;
  for (let i = 0; i < float.length; i++) {
    qf += int8[i] * float[i];
    ff += float[i] * float[i];
  }
  return qf / ff;
}

function cosine(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) {
    xy += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return xy / Math.sqrt(xx * yy);
}

describe('integer encoder on random models of every family', () => {
  const measured: string[] = [];
  afterAll(() => {
    if (measured.length) console.log(`int8 vs float on the random models:\n${measured.join('\n')}`);
  });
  CASES.forEach((s, k) => {
    it(s.name, { timeout: 300_000 }, async () => {
      const gpu = await testGpu();
      const model = syntheticModel(s, 100 + k);
      // Calibrate on the float64 CPU interpreter's activations over a few random batches.
      const graph = modelGraph(model);
      const params = encoderParams(model.weights);
      const observer = new RangeObserver();
      for (let i = 0; i < 3; i++) {
        const batch = syntheticBatch(model.config, [17, 9, 30], 30, 200 + i);
        const { captures } = runFloatGraphCpu(graph, params, batch, { capture: calibrationCaptures(graph) });
        observeCaptures(observer, graph, params, batch, captures);
      }
      const program = planGraph(graph, params, observer.ranges('max'), { maxKeys: model.config.maxPositions });
      validateProgram(program, 'planned program');
      const encoder = await IntProgramGpu.create(gpu, program);
      const scale = program.output.scale;
      const float = await FloatGraphGpu.create(gpu, graph, params);
      try {
        const int8Logits: number[] = [];
        const floatLogits: number[] = [];
        for (const [lengths, seq] of [
          [[17, 9, 1], 17],
          [[30, 30], 30],
          [[12, 5, 22, 8, 30, 3], 30],
        ] as const) {
          const batch = syntheticBatch(model.config, [...lengths], seq, 300 + seq);
          const got = (await encoder.forward(batch)).output;
          const want = runIntProgramCpu(program, batch).output;
          expect(Array.from(got)).toEqual(Array.from(want));
          const f = await float.forward(batch);
          if (model.config.task === 'embedding') {
            const H = model.config.hiddenSize;
            const pooled = poolToFloat(got, batch.batch, H, scale[0], { mode: 'mean' });
            const worst = Math.min(...pooled.map((p, b) => cosine(p, f.pooled!.subarray(b * H, (b + 1) * H))));
            measured.push(`  ${s.name}, ${lengths.join('/')} tokens: pooled cosine with float >= ${worst.toFixed(5)}`);
            expect(worst).toBeGreaterThanOrEqual(MIN_EMBEDDING_COSINE);
          } else {
            int8Logits.push(...Array.from(got, (v, i) => v * scale[i % scale.length]));
            floatLogits.push(...f.logits!);
          }
        }
        if (model.config.task !== 'embedding') {
          const error = relativeLogitError(int8Logits, floatLogits);
          const slope = logitSlope(int8Logits, floatLogits);
          measured.push(
            `  ${s.name}: ${floatLogits.length} logits, slope ${slope.toFixed(4)}, max |error| ${error.toFixed(4)} of the largest float logit`,
          );
          expect(Math.abs(slope - 1)).toBeLessThanOrEqual(MAX_SLOPE_DEVIATION);
          expect(error).toBeLessThanOrEqual(MAX_RELATIVE_LOGIT_ERROR);
          // What the bounds are for: the same logits with a logit scale 10% off fail them.
          const scaled = int8Logits.map((v) => 1.1 * v);
          expect(Math.abs(logitSlope(scaled, floatLogits) - 1)).toBeGreaterThan(MAX_SLOPE_DEVIATION);
        }
      } finally {
        encoder.dispose();
        float.dispose();
      }
    });
  });

  it('refuses a head size that is not a multiple of 4, naming it', () => {
    const s = SYNTHETIC.find((x) => (x.hidden / x.heads) % 4 !== 0)!;
    const model = syntheticModel(s, 1);
    const graph = modelGraph(model);
    const ranges = new Map(calibratedTensors(graph).map((t) => [t, 1]));
    expect(() => planGraph(graph, encoderParams(model.weights), ranges, { maxKeys: 40 })).toThrow(
      /head size 6 .* not a multiple of 4/,
    );
  });
});
