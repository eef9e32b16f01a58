/**
 * The integer path on small random encoders of every family (BERT with hidden 200 / 5 heads,
 * DistilBERT with a ReLU head, RoBERTa with offset positions, a bare BertModel for embeddings):
 * calibrated and planned, GPU output equal to the CPU reference bit for bit, and close to float.
 */
import { describe, expect, it } from 'vitest';
import { RangeObserver } from '../src/calibrate/range-observer.js';
import { quantizedActivations } from '../src/calibrate/calibrate.js';
import { FloatEncoder } from '../src/model/float-model.js';
import { planEncoder } from '../src/plan/encoder-plan.js';
import { validatePlan } from '../src/plan/validate-plan.js';
import { intEncoderRef } from '../src/reference/int-encoder.js';
import { floatEncoderRef } from '../src/reference/float-encoder.js';
import { IntEncoder } from '../src/runtime/int-encoder.js';
import { type Synthetic, SYNTHETIC, syntheticBatch, syntheticModel } from './synthetic.js';
import { testGpu } from './gpu.js';

const CASES: Synthetic[] = [
  ...SYNTHETIC.filter((s) => (s.hidden / s.heads) % 4 === 0),
  { name: 'BertModel (mean pooling), hidden 64, 4 heads of 16', family: 'bert', task: 'embedding', hidden: 64, heads: 4, intermediate: 100, layers: 2, typeVocab: 2, labels: 0 },
];

describe('integer encoder on random models of every family', () => {
  CASES.forEach((s, k) => {
    it(s.name, { timeout: 300_000 }, async () => {
      const gpu = await testGpu();
      const model = syntheticModel(s, 100 + k);
      // Calibrate on the float64 reference's activations over a few random batches.
      const observer = new RangeObserver();
      for (let i = 0; i < 3; i++) {
        const batch = syntheticBatch(model.config, [17, 9, 30], 30, 200 + i);
        const { captures } = floatEncoderRef(model, batch, { capture: true });
        for (const name of quantizedActivations(model.config.numLayers)) {
          const values = captures.get(name)!;
          const width = values.length / batch.attentionMask.length;
          const real = Array.from(batch.attentionMask).flatMap((m, t) => (m ? Array.from(values.subarray(t * width, (t + 1) * width)) : []));
          observer.observe(name, real);
        }
        if (model.weights.head?.dense) {
          // The head's pre-activation: dense on the first token (the float model captures it after tanh/ReLU).
          const last = captures.get(`layer.${model.config.numLayers - 1}.output_norm`)!;
          const H = model.config.hiddenSize;
          const d = model.weights.head.dense;
          for (let b = 0; b < batch.batch; b++) {
            const x = last.subarray(b * batch.seqLen * H, b * batch.seqLen * H + H);
            const pre = Array.from({ length: d.weight.shape[0] }, (_, o) => d.bias.data[o] + x.reduce((acc, v, i) => acc + v * d.weight.data[o * H + i], 0));
            observer.observe('head.dense_pre', pre);
          }
        }
      }
      const plan = planEncoder(model, observer.ranges('max'));
      validatePlan(plan, model.config);
      const encoder = await IntEncoder.create(gpu, plan, model.config);
      const float = await FloatEncoder.create(gpu, model);
      try {
        for (const [lengths, seq] of [[[17, 9, 1], 17], [[30, 30], 30]] as const) {
          const batch = syntheticBatch(model.config, [...lengths], seq, 300 + seq);
          const got = await encoder.forward(batch);
          const want = intEncoderRef(plan, model.config, batch);
          if (model.config.task === 'embedding') {
            expect(Array.from(got.hidden!)).toEqual(Array.from(want.hidden));
          } else {
            expect(Array.from(got.logitsInt!)).toEqual(Array.from(want.logitsInt!));
            // Close to float: well within the logits' spread (a wrong scale would be far off).
            const f = (await float.forward(batch)).logits!;
            const spread = Math.max(...Array.from(f, Math.abs));
            got.logits!.forEach((v, i) => expect(Math.abs(v - f[i])).toBeLessThan(0.15 * spread + 0.05));
          }
        }
      } finally {
        encoder.dispose();
        float.dispose();
      }
    });
  });

  it('refuses a head size that is not a multiple of 4, naming it', () => {
    const s = SYNTHETIC.find((x) => (x.hidden / x.heads) % 4 !== 0)!;
    expect(() => planEncoder(syntheticModel(s, 1), new Map())).toThrow(/head size 6 .* not a multiple of 4/);
  });
});
