/**
 * The integer encoder-decoder run incrementally with beams (issue 12): the CPU specification
 * (IntTranslatorCpu with several sequences per source and reordering of the self-attention cache)
 * against independent runs, and the GPU (IntTranslatorGpu: the encoder and the cross-attention K|V
 * once per source on the GPU, the int8 self-attention cache, copies of moved beams only) against
 * the CPU bit for bit, on a random small MarianMTModel.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { calibrateMarianCpu, type MarianPair } from '../src/calibrate/calibrate-marian.js';
import type { MarianModel } from '../src/core/types.js';
import { IntTranslatorCpu, reorderKvCache } from '../src/cpu/int-program.js';
import { IntTranslatorCpuSession } from '../src/cpu/int-translator-session.js';
import { translateTokens } from '../src/generate/translate.js';
import type { NextTokens, TranslatorSession } from '../src/generate/translator-session.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { loadMarianModel } from '../src/model/load.js';
import { marianBatch, marianGraph } from '../src/model/marian.js';
import type { IntProgram } from '../src/plan/int-program.js';
import { planGraph } from '../src/plan/plan-graph.js';
import { IntTranslatorGpu } from '../src/runtime/int-translator.js';
import { Random } from '../src/util/random.js';
import { EOS, PAD, randomMarianFiles, V } from './cases/random-marian.js';
import { testGpu } from './gpu.js';

const SOURCES = [
  [5, 9, 14, 3, 22, 7, 11, EOS],
  [17, 2, EOS],
  [8, 8, 21, 33, 4, EOS],
];

function randomPairs(rng: Random, count: number): MarianPair[] {
  const words = (n: number) => Array.from({ length: n }, () => rng.int(1, V - 2));
  return Array.from({ length: count }, () => ({
    source: [...words(rng.int(2, 12)), EOS],
    target: [PAD, ...words(rng.int(2, 12))],
  }));
}

const tokens = { decoderStartTokenId: PAD, padTokenId: PAD };

function rows(out: NextTokens): Int32Array {
  if (out.kind !== 'logits' || !(out.logits instanceof Int32Array)) throw new Error('expected integer logit rows');
  return out.logits;
}

/** The [vocab] logit row of one sequence run alone (its own source, batch 1) after `history` (start token first). */
function aloneRow(program: IntProgram, source: number[], history: number[]): Int32Array {
  const t = new IntTranslatorCpu(program, 1, history.length);
  t.encode(marianBatch([source], PAD, program.maxPositions, undefined, 'source'));
  let logits = t.start(history[0]);
  for (const token of history.slice(1)) logits = t.step([token]);
  return logits;
}

describe('integer translator with beams (d_model 16, 2 + 3 layers, vocab 37)', () => {
  let model: MarianModel;
  let program: IntProgram;

  beforeAll(async () => {
    model = await loadMarianModel(randomMarianFiles(5));
    const graph = marianGraph(model.config);
    const observer = calibrateMarianCpu(model, randomPairs(new Random(31), 16), { batchSize: 4, graph });
    program = planGraph(graph, model.params, observer.ranges('max'), { maxKeys: model.config.maxPositions });
  });

  describe('CPU specification', () => {
    it('beams share their source: every sequence equals its history run alone, bit for bit', () => {
      const beams = 2;
      const t = new IntTranslatorCpu(program, SOURCES.length * beams, 8);
      t.encode(marianBatch(SOURCES, PAD, program.maxPositions, undefined, 'source'));
      expect(t.beams).toBe(beams);
      const histories = Array.from({ length: SOURCES.length * beams }, () => [PAD]);
      let logits = t.start(PAD);
      const rng = new Random(3);
      for (let step = 0; step < 4; step++) {
        histories.forEach((h, i) => {
          const alone = aloneRow(program, SOURCES[Math.floor(i / beams)], h);
          expect(logits.subarray(i * V, (i + 1) * V)).toEqual(alone);
        });
        const next = histories.map(() => rng.int(0, V - 1));
        next.forEach((token, i) => histories[i].push(token));
        logits = t.step(next);
      }
    });

    it('reorder: a sequence continues its parent (same source) from the parent’s cache, bit for bit', () => {
      const beams = 3;
      const t = new IntTranslatorCpu(program, SOURCES.length * beams, 8);
      t.encode(marianBatch(SOURCES, PAD, program.maxPositions, undefined, 'source'));
      t.start(PAD);
      const histories = Array.from({ length: SOURCES.length * beams }, (_, i) => [PAD, 3 + i]);
      t.step(histories.map((h) => h[1]));
      // Within each source: beam 0 keeps itself, beam 1 takes beam 2's cache, beam 2 takes beam 0's.
      const parents = histories.map((_, i) => {
        const s = Math.floor(i / beams);
        return s * beams + [0, 2, 0][i % beams];
      });
      t.reorder(parents);
      const reordered = parents.map((p) => [...histories[p], 20 + (p % 5)]);
      const logits = t.step(reordered.map((h) => h[h.length - 1]));
      reordered.forEach((h, i) => {
        expect(logits.subarray(i * V, (i + 1) * V)).toEqual(aloneRow(program, SOURCES[Math.floor(i / beams)], h));
      });
    });

    it('reorder refuses parents of another source, out of range, or of the wrong count', () => {
      const t = new IntTranslatorCpu(program, 4, 4);
      t.encode(marianBatch(SOURCES.slice(0, 2), PAD, program.maxPositions, undefined, 'source'));
      t.start(PAD);
      expect(() => t.reorder([0, 2, 2, 3])).toThrow(
        /parents\[1\] = 2 belongs to source 1, not to sequence 1's source 0/,
      );
      expect(() => t.reorder([0, 1, 2, 4])).toThrow(/parents\[3\] = 4 is not a sequence index in \[0, 4\)/);
      expect(() => t.reorder([0, 1, 2])).toThrow(/3 parents for 4 sequences/);
      expect(() => reorderKvCache(t.cache, [0, 0.5, 2, 3], 2)).toThrow(/parents\[1\] = 0.5/);
      const t3 = new IntTranslatorCpu(program, 4, 4);
      expect(() => t3.encode(marianBatch(SOURCES, PAD, program.maxPositions, undefined, 'source'))).toThrow(
        /3 sources do not divide a cache of 4 sequences into beams/,
      );
    });
  });

  describe('GPU equals the CPU', () => {
    let gpu: Gpu;
    let translator: IntTranslatorGpu;

    beforeAll(async () => {
      gpu = await testGpu();
      translator = await IntTranslatorGpu.create(gpu, program, tokens, { sequences: 2, capacity: 10 });
    });

    /** Runs the same script on both sessions and compares every answer. */
    async function script(
      sessions: TranslatorSession[],
      sources: number[][],
      beams: number,
      steps: { tokens: number[]; parents?: number[] }[],
      want: number | 'logits',
    ): Promise<void> {
      const answers = await Promise.all(sessions.map((s) => s.start(sources, beams, want)));
      expect(answers[1]).toEqual(answers[0]);
      for (const [i, step] of steps.entries()) {
        if (step.parents) for (const s of sessions) s.reorder(step.parents);
        const out: NextTokens[] = [];
        for (const s of sessions) out.push(await s.step(step.tokens, want));
        expect(out[1], `step ${i}`).toEqual(out[0]);
      }
    }

    it('logit rows, 3 sources x 2 beams with reorders: GPU == CPU bit for bit', async () => {
      const cpu = new IntTranslatorCpuSession(program, tokens, 10);
      const steps = [
        { tokens: [4, 9, 12, 1, 30, 30] },
        { tokens: [7, 7, 2, 5, 11, 3], parents: [1, 1, 2, 3, 5, 4] },
        { tokens: [EOS, 8, 6, 6, 9, 10], parents: [0, 0, 3, 3, 4, 5] },
      ];
      await script([cpu, translator], SOURCES, 2, steps, 'logits');
      const first = await cpu.start(SOURCES, 2, 'logits');
      expect(rows(first).length).toBe(6 * V);
    });

    it('top-k candidates (GPU top-k) equal the CPU’s, with a new number of sequences (the cache resized)', async () => {
      const cpu = new IntTranslatorCpuSession(program, tokens, 10);
      const before = translator.gpu.pipelineCount;
      await script(
        [cpu, translator],
        SOURCES.slice(0, 2),
        3,
        [{ tokens: [4, 9, 12, 1, 30, 30] }, { tokens: [2, 2, 2, 3, 3, 3], parents: [2, 2, 0, 4, 3, 5] }],
        5,
      );
      // A resize rebinds; every pipeline was compiled at creation.
      expect(translator.gpu.pipelineCount).toBe(before);
    });

    it('greedy decoding token for token: one source per sequence, sources of different lengths', async () => {
      const cpu = new IntTranslatorCpuSession(program, tokens, 10);
      const greedy = async (s: TranslatorSession) => {
        const ids: number[][] = SOURCES.map(() => []);
        let out = await s.start(SOURCES, 1, 2);
        for (let step = 0; step < 8; step++) {
          if (out.kind !== 'candidates') throw new Error('expected candidates');
          const next = out.candidates.map((c) => (c.ids[0] === PAD ? c.ids[1] : c.ids[0]));
          next.forEach((t, i) => ids[i].push(t));
          out = await s.step(next, 2);
        }
        return ids;
      };
      expect(await greedy(translator)).toEqual(await greedy(cpu));
    });

    it('translateTokens: greedy and beam search (2 and 4 beams) give the CPU’s tokens and scores on the GPU', async () => {
      const cpu = new IntTranslatorCpuSession(program, tokens, 10);
      const rules = { decoderStartTokenId: PAD, eosTokenId: EOS, padTokenId: PAD, forcedEosTokenId: EOS };
      for (const numBeams of [1, 2, 4]) {
        const options = { numBeams, maxNewTokens: 10 };
        const onGpu = await translateTokens(translator, SOURCES, rules, options);
        const onCpu = await translateTokens(cpu, SOURCES, rules, options);
        expect(onGpu, `${numBeams} beams`).toEqual(onCpu);
        for (const t of onGpu) expect(t.tokens).not.toContain(PAD);
      }
    });

    it('a decoder step compiles nothing and creates no bind group', async () => {
      await translator.start(SOURCES, 2, 3);
      await translator.step([1, 2, 3, 4, 5, 6], 3);
      const counts = translator.runtime.creationCounts();
      await translator.step([1, 2, 3, 4, 5, 6], 3);
      translator.reorder([1, 0, 2, 2, 5, 4]);
      await translator.step([1, 2, 3, 4, 5, 6], 'logits');
      expect(translator.runtime.creationCounts()).toEqual(counts);
      // The cross-attention K|V: an int8 K and V row per source token and decoder layer (3 x 2 x 16 bytes), kept once per source.
      const memory = translator.memory();
      expect(memory.crossKvBytesPerSourceToken).toBe(3 * 2 * 16);
      expect(memory.crossKvBytes).toBeGreaterThanOrEqual(SOURCES.length * 8 * 3 * 2 * 16);
      expect(memory.kvBytesPerToken).toBe(3 * 2 * 16);
    });

    it('refuses bad use by name', async () => {
      await translator.start(SOURCES, 1, 1);
      await expect(translator.step([1, 2], 1)).rejects.toThrow(/2 tokens for 3 sequences/);
      await expect(translator.step([1, 2, V], 1)).rejects.toThrow(/token 2 = 37 is outside the vocabulary of 37/);
      expect(() => translator.reorder([0, 0, 2])).toThrow(/parents\[1\] = 0 belongs to source 0/);
      await expect(translator.start([[1, 2], []], 1, 1)).rejects.toThrow(/source 1 has no tokens/);
      await expect(translator.start([[1, 99]], 1, 1)).rejects.toThrow(/source 0 token 1 = 99 is outside/);
      await expect(translator.start([[1, 2]], 0, 1)).rejects.toThrow(/beams = 0/);
      await translator.start([[1, 2]], 1, 1);
      for (let i = 1; i < 10; i++) await translator.step([3], 1);
      await expect(translator.step([3], 1)).rejects.toThrow(/KV cache is full \(10 target tokens/);
    });
  });
});
