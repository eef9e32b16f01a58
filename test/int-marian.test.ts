/**
 * Integer Marian (issue 12), piece by piece. So far, on GPT-2-shaped decoders (a random GPT-2
 * checkpoint's weights) given Marian's parts one at a time, since the planner plans each part the
 * same whatever stack is around it:
 *   - the FFN's swish as the GEMM's 'silu-i8' epilogue (src/reference/silu-i8.ts);
 *   - sinusoidal positions (computed, not stored) and the sqrt(d_model) word scale folded into the
 *     integer embedding tables.
 * Each runs on the CPU interpreter against the float64 graph and on the GPU bit for bit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { randomGpt2Files } from '../bench/random-gpt2.js';
import { calibrationCaptures, observeCaptures } from '../src/calibrate/calibrate.js';
import { RangeObserver } from '../src/calibrate/range-observer.js';
import type { DecoderModel } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { gpt2Spec } from '../src/graph/architectures.js';
import { type ArchitectureSpec, buildGraph } from '../src/graph/blocks.js';
import type { ModelGraph } from '../src/graph/types.js';
import { decoderBatch } from '../src/model/decoder.js';
import { loadDecoderModel } from '../src/model/load.js';
import { memorySource } from '../src/model/sources.js';
import type { IntGemmOp, IntProgram } from '../src/plan/int-program.js';
import { calibratedTensors, planGraph } from '../src/plan/plan-graph.js';
import { validateProgram } from '../src/plan/validate-program.js';
import { checkSiluI8Constants } from '../src/reference/silu-i8.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { Random } from '../src/util/random.js';
import { testGpu } from './gpu.js';
import { logitAgreement } from './logit-agreement.js';

const SIZES = { n_embd: 48, n_head: 3, n_layer: 2, n_positions: 32, vocab_size: 37 };

function randomSequences(rng: Random, count: number, minLen: number, maxLen: number, vocab: number): number[][] {
  return Array.from({ length: count }, () =>
    Array.from({ length: rng.int(minLen, maxLen) }, () => rng.int(0, vocab - 1)),
  );
}

/** Real logits [rows, vocab] of int32 accumulators at their per-channel scales. */
function realLogits(program: IntProgram, acc: Int32Array): Float64Array {
  const V = program.output.scale.length;
  return Float64Array.from(acc, (q, i) => q * program.output.scale[i % V]);
}

for (const [name, marianEmbeddings, postLN] of [
  ['SiLU FFN, learned positions', false, false],
  ['SiLU FFN, sinusoidal positions and word rows scaled by sqrt(48)', true, false],
  ['Marian-shaped: post-LN, no embedding or final LayerNorm, sinusoidal, scaled, SiLU', true, true],
] as const)
  describe(`integer decoder with Marian's parts: ${name} (2 layers x 48 hidden, vocab 37)`, () => {
    let model: DecoderModel;
    let graph: ModelGraph;
    let program: IntProgram;
    let sequences: number[][];

    beforeAll(async () => {
      model = await loadDecoderModel(memorySource(randomGpt2Files(11, SIZES), 'random-gpt2'));
      const c = model.config;
      const spec: ArchitectureSpec = gpt2Spec({
        activation: 'silu',
        hidden: c.hiddenSize,
        heads: c.numHeads,
        layers: c.numLayers,
        intermediate: c.intermediateSize,
        vocab: c.vocabSize,
        eps: c.layerNormEps,
      });
      if (marianEmbeddings)
        spec.embeddings = { ...spec.embeddings, positions: 'sinusoidal', scale: Math.sqrt(c.hiddenSize) };
      if (postLN) {
        spec.layer = { ...spec.layer, norm: 'post' };
        spec.finalNorm = false;
      }
      graph = buildGraph(spec);
      const rng = new Random(23);
      const observer = new RangeObserver();
      const capture = calibrationCaptures(graph);
      const calibration = randomSequences(rng, 12, 6, 24, SIZES.vocab_size);
      for (let start = 0; start < calibration.length; start += 4) {
        const batch = decoderBatch(calibration.slice(start, start + 4), 0);
        const { captures } = runFloatGraphCpu(graph, model.params, batch, { capture });
        observeCaptures(observer, graph, model.params, batch, captures);
      }
      program = planGraph(graph, model.params, observer.ranges('max'), { maxKeys: c.maxPositions });
      sequences = randomSequences(rng, 3, 5, 13, SIZES.vocab_size);
    });

    it('fuses each FC + SiLU into one GEMM with proven i-SiLU constants, and reads no range for the pre-activation', () => {
      const silu = program.ops.filter((o): o is IntGemmOp => o.kind === 'gemm' && o.epilogue === 'silu-i8');
      expect(silu).toHaveLength(SIZES.n_layer);
      for (const g of silu) {
        expect(g.requant).toHaveLength(g.N);
        expect(() => checkSiluI8Constants(g.silu!)).not.toThrow();
        expect(g.gelu).toBeUndefined();
      }
      const fused = graph.ops.filter((o) => o.kind === 'activation' && o.fn === 'silu');
      const readByActivation = new Set(fused.map((o) => (o.kind === 'activation' ? o.input : '')));
      const calibrated = new Set(calibratedTensors(graph));
      for (const id of readByActivation) expect(calibrated.has(id)).toBe(false);
      for (const o of fused) expect(calibrated.has(o.out)).toBe(true);
      expect(() => validateProgram(program, 'SiLU decoder')).not.toThrow();
    });

    it('validateProgram refuses SiLU constants on the wrong epilogue, missing ones, and unproven ones', () => {
      const index = program.ops.findIndex((o) => o.kind === 'gemm' && o.epilogue === 'silu-i8');
      const missing = structuredClone(program);
      delete (missing.ops[index] as IntGemmOp).silu;
      expect(() => validateProgram(missing, 'bad')).toThrow(/SiLU constants go with exactly the silu-i8 epilogue/);
      const wrong = structuredClone(program);
      (wrong.ops[index] as IntGemmOp).epilogue = 'i8';
      expect(() => validateProgram(wrong, 'bad')).toThrow(/SiLU constants go with exactly the silu-i8 epilogue/);
      const unproven = structuredClone(program);
      (unproven.ops[index] as IntGemmOp).silu!.one += 1;
      expect(() => validateProgram(unproven, 'bad')).toThrow(/one/);
    });

    it('embedding tables: the word scale carries sqrt(d_model), positions are the computed table when sinusoidal', () => {
      const embed = program.ops.find((o) => o.kind === 'embed')!;
      if (embed.kind !== 'embed') throw new Error('no embed op');
      const word = model.params.get('embeddings.word')!;
      let max = 0;
      for (const v of word.data) max = Math.max(max, Math.abs(v));
      expect(embed.tableScales.word).toBeCloseTo(((marianEmbeddings ? Math.sqrt(48) : 1) * max) / 127, 12);
      expect(embed.tables.position.length).toBe(SIZES.n_positions * 48);
      if (marianEmbeddings) {
        // sin(0) = 0 in the first half of row 0, cos(0) = 1 (127 at scale 1/127) in the second.
        expect(embed.tableScales.position).toBeCloseTo(1 / 127, 6);
        expect(Array.from(embed.tables.position.subarray(0, 48))).toEqual([
          ...new Array(24).fill(0),
          ...new Array(24).fill(127),
        ]);
      }
    });

    it('GEMMs read int8 only: a wide tensor a GEMM reads (post-LN layer 0 reads the embedding sum) gets one requantize op', () => {
      const requantize = program.ops.filter((o) => o.kind === 'requantize');
      const embed = program.ops.find((o) => o.kind === 'embed')!;
      if (postLN) {
        expect(requantize).toHaveLength(1);
        expect(requantize[0].kind === 'requantize' && requantize[0].input).toBe(embed.out);
        const readers = program.ops.filter((o) => o.kind === 'gemm' && o.input === requantize[0].out);
        expect(readers).toHaveLength(1);
        const broken = structuredClone(program);
        const r = broken.ops.find((o) => o.kind === 'requantize')!;
        if (r.kind === 'requantize') r.input = requantize[0].out;
        expect(() => validateProgram(broken, 'bad')).toThrow(/is i8; this op takes wide/);
      } else expect(requantize).toHaveLength(0);
    });

    it('INT8 logits track the float64 model with SiLU (stated bound)', () => {
      const batch = decoderBatch(sequences, 0);
      const float = runFloatGraphCpu(graph, model.params, batch).logits!;
      const int = realLogits(program, runIntProgramCpu(program, batch).output);
      const { relative, agree, rows } = logitAgreement(float, int, sequences, batch.seqLen, SIZES.vocab_size);
      console.log(
        `${name} int8: RMS logit error / RMS logit ${relative.toFixed(4)}; greedy agreement ${agree}/${rows}`,
      );
      // The same bound as the GELU GPT-2 (test/int-decoder.test.ts): int8 noise through random layers
      // is ~10%; a wrong SiLU scale or sign is O(1).
      expect(relative).toBeLessThanOrEqual(0.15);
      expect(agree / rows).toBeGreaterThanOrEqual(0.8);
    });

    it('GPU: the program gives the CPU interpreter logits bit for bit', async () => {
      const runtime = await IntProgramGpu.create(await testGpu(), program);
      try {
        const batch = decoderBatch(sequences, 0);
        expect((await runtime.forward(batch)).output).toEqual(runIntProgramCpu(program, batch).output);
      } finally {
        runtime.dispose();
      }
    });
  });
