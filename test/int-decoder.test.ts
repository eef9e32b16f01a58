/**
 * Integer-only GPT-2: the planner on the pre-LN decoder graph (wide residual stream across layers,
 * causal attention with a per-layer KV cache slot, tanh GELU on the i-GELU epilogue, LM head with
 * a common logit scale), the CPU interpreter whole-sequence and incremental (prefill + steps), and
 * accuracy against the float64 model.
 *
 * Random GPT-2s of odd sizes (3 layers x 48 hidden, 3 heads of 16, vocab 37) are written here as
 * checkpoints and loaded through loadDecoderModel; with ../shared the multi30k-gpt2-tiny model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gpt2Sizes, randomGpt2Files } from '../bench/random-gpt2.js';
import { calibrateDecoderCpu } from '../src/calibrate/calibrate-decoder.js';
import { decoderPromptBatch } from '../src/core/token-batch.js';
import type { DecoderModel } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { greedyTokens, IntDecoderCpu, IntDecoderCpuSession, runIntProgramCpu } from '../src/cpu/int-program.js';
import { decoderBatch, decoderGraph } from '../src/model/decoder.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { memorySource } from '../src/model/sources.js';
import { folderSource } from '../src/model/sources-node.js';
import type { IntProgram } from '../src/plan/int-program.js';
import { planGraph, RESIDUAL_BITS } from '../src/plan/plan-graph.js';
import { validateProgram } from '../src/plan/validate-program.js';
import { IntDecoderGpu } from '../src/runtime/int-decoder.js';
import { IntProgramGpu } from '../src/runtime/int-program.js';
import { Random } from '../src/util/random.js';
import { testGpu } from './gpu.js';
import { logitAgreement } from './logit-agreement.js';

/** A random GPT2LMHeadModel checkpoint (tied head) loaded from memory. */
async function randomGpt2(seed: number, sizes: Gpt2Sizes): Promise<DecoderModel> {
  return loadDecoderModel(memorySource(randomGpt2Files(seed, sizes), 'random-gpt2'));
}

function randomSequences(rng: Random, count: number, minLen: number, maxLen: number, vocab: number): number[][] {
  return Array.from({ length: count }, () =>
    Array.from({ length: rng.int(minLen, maxLen) }, () => rng.int(0, vocab - 1)),
  );
}

/** `steps` greedy tokens per prompt through a decoder session (k = 1), after the prompts when `withPrompts`. */
async function greedyStreams(
  session: IntDecoderCpuSession | IntDecoderGpu,
  prompts: number[][],
  steps: number,
  withPrompts = false,
): Promise<number[][]> {
  const streams = prompts.map((p) => (withPrompts ? [...p] : []));
  let c = await session.prefill(prompts, 1);
  for (let i = 0; i < steps; i++) {
    c.forEach((x, b) => streams[b].push(x.ids[0]));
    if (i + 1 < steps)
      c = await session.step(
        c.map((x) => x.ids[0]),
        1,
      );
  }
  return streams;
}

/** Calibrated on `sequences` through the float64 interpreter, planned and validated. */
function planDecoder(model: DecoderModel, sequences: number[][]): IntProgram {
  const observer = calibrateDecoderCpu(model, sequences);
  const program = planGraph(decoderGraph(model.config), model.params, observer.ranges('max'), {
    maxKeys: model.config.maxPositions,
  });
  validateProgram(program, 'planned decoder');
  return program;
}

/** Real logits [rows, vocab] of int32 accumulators at their per-channel scales. */
function realLogits(program: IntProgram, acc: Int32Array): Float64Array {
  const V = program.output.scale.length;
  return Float64Array.from(acc, (q, i) => q * program.output.scale[i % V]);
}

const SIZES: Gpt2Sizes = { n_embd: 48, n_head: 3, n_layer: 3, n_positions: 32, vocab_size: 37 };

describe('integer GPT-2 (random, 3 layers x 48 hidden, 3 heads, vocab 37)', () => {
  let model: DecoderModel;
  let program: IntProgram;
  let sequences: number[][];

  beforeAll(async () => {
    model = await randomGpt2(5, SIZES);
    const rng = new Random(17);
    program = planDecoder(model, randomSequences(rng, 12, 6, 24, SIZES.vocab_size));
    sequences = randomSequences(rng, 3, 5, 13, SIZES.vocab_size);
  });

  it('plans the pre-LN stack: a wide stream across layers, cached causal attention, i-GELU, int32 LM head with a common scale', () => {
    const residuals = program.ops.filter((o) => o.kind === 'residual');
    expect(residuals).toHaveLength(2 * SIZES.n_layer);
    for (const r of residuals) {
      expect(r.operands).toEqual({ a: 'i32', b: 'i8' });
      expect(r.bounds?.a).toBe(2 ** (RESIDUAL_BITS - 1));
      expect(program.tensors.find((t) => t.id === r.a)!.dtype).toBe('wide');
    }
    const attentions = program.ops.filter((o) => o.kind === 'attention');
    expect(attentions.map((a) => a.cache?.layer)).toEqual([0, 1, 2]);
    expect(attentions.every((a) => a.causal)).toBe(true);
    expect(program.ops.filter((o) => o.kind === 'gemm' && o.epilogue === 'gelu-i8')).toHaveLength(SIZES.n_layer);
    expect(program.output.kind).toBe('lm-logits');
    expect(program.output.rescale!.requant).toHaveLength(SIZES.vocab_size);
    expect(program.output.rescale!.maxAbs).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  it('validateProgram refuses a decoder program whose proofs fail', () => {
    const copy = structuredClone(program);
    const r = copy.ops.find((o) => o.kind === 'residual')!;
    r.bounds = {};
    expect(() => validateProgram(copy, 'bad')).toThrow(/wide operand .* declare at least/);
    const copy2 = structuredClone(program);
    const att = copy2.ops.filter((o) => o.kind === 'attention');
    att[1].cache = { layer: 0 };
    expect(() => validateProgram(copy2, 'bad')).toThrow(/cache slot 0 is used twice/);
    const copy3 = structuredClone(program);
    copy3.output.rescale!.requant[3] = { m: 2 ** 31 - 1, e: 0 };
    expect(() => validateProgram(copy3, 'bad')).toThrow(/rescale/);
  });

  it('CPU: incremental decoding (prefill + steps) gives the whole causal pass bit for bit', () => {
    const prompt = 4;
    const same = randomSequences(new Random(3), 3, 9, 9, SIZES.vocab_size);
    const whole = runIntProgramCpu(program, decoderBatch(same, 0)).output;
    const V = SIZES.vocab_size;
    const decoder = new IntDecoderCpu(program, same.length, 12);
    const pre = decoder.prefill(
      decoderBatch(
        same.map((s) => s.slice(0, prompt)),
        0,
      ),
    );
    for (let b = 0; b < same.length; b++) {
      for (let t = 0; t < prompt; t++)
        expect(pre.subarray((b * prompt + t) * V, (b * prompt + t + 1) * V)).toEqual(
          whole.subarray((b * 9 + t) * V, (b * 9 + t + 1) * V),
        );
    }
    for (let t = prompt; t < 9; t++) {
      const step = decoder.step(same.map((s) => s[t]));
      for (let b = 0; b < same.length; b++)
        expect(step.subarray(b * V, (b + 1) * V)).toEqual(whole.subarray((b * 9 + t) * V, (b * 9 + t + 1) * V));
    }
    expect(decoder.past).toBe(9);
    decoder.step(same.map(() => 1));
    decoder.step(same.map(() => 1));
    decoder.step(same.map(() => 1));
    expect(() => decoder.step(same.map(() => 1))).toThrow(/exceed the cache capacity of 12 tokens/);
  });

  it('CPU: a right-padded batch gives each sequence the logits it has alone', () => {
    const batch = decoderBatch(sequences, 0);
    const together = runIntProgramCpu(program, batch).output;
    const V = SIZES.vocab_size;
    sequences.forEach((s, b) => {
      const alone = runIntProgramCpu(program, decoderBatch([s], 0)).output;
      expect(together.subarray(b * batch.seqLen * V, (b * batch.seqLen + s.length) * V)).toEqual(alone);
    });
  });

  it('INT8 logits track the float64 model (stated bound), and greedy choices mostly agree', () => {
    const batch = decoderBatch(sequences, 0);
    const float = runFloatGraphCpu(decoderGraph(model.config), model.params, batch).logits!;
    const int = realLogits(program, runIntProgramCpu(program, batch).output);
    const { relative, agree, rows } = logitAgreement(float, int, sequences, batch.seqLen, SIZES.vocab_size);
    console.log(
      `random GPT-2 int8: RMS logit error / RMS logit ${relative.toFixed(4)}; greedy agreement ${agree}/${rows}`,
    );
    // Int8 noise compounds through 3 random layers (per-tensor relative error grows ~1% -> ~10%
    // from the embeddings to the final norm); a wrong scale, mask or cache entry is O(1).
    expect(relative).toBeLessThanOrEqual(0.15);
    expect(agree / rows).toBeGreaterThanOrEqual(0.8);
  });

  it('GPU: int32 logits of a right-padded batch equal the CPU interpreter bit for bit (whole causal sequences)', async () => {
    const runtime = await IntProgramGpu.create(await testGpu(), program);
    try {
      for (const seqs of [sequences, [sequences[1]], randomSequences(new Random(8), 2, 20, 31, SIZES.vocab_size)]) {
        const batch = decoderBatch(seqs, 0);
        expect((await runtime.forward(batch)).output).toEqual(runIntProgramCpu(program, batch).output);
      }
    } finally {
      runtime.dispose();
    }
  });

  it('CPU: left-padded prompts of different lengths, then steps, give the whole left-padded pass bit for bit', () => {
    const V = SIZES.vocab_size;
    const prompts = randomSequences(new Random(21), 3, 2, 7, V);
    const steps = 5;
    const continuations = randomSequences(new Random(22), 3, steps, steps, V);
    const whole = decoderPromptBatch(
      prompts.map((p, b) => [...p, ...continuations[b]]),
      0,
    );
    const expected = runIntProgramCpu(program, whole).output;
    const L = whole.seqLen;
    const session = new IntDecoderCpu(program, 3, L);
    const pre = decoderPromptBatch(prompts, 0);
    const P = pre.seqLen;
    const got = session.prefill(pre);
    for (let b = 0; b < 3; b++)
      expect(got.subarray((b * P + P - 1) * V, (b * P + P) * V)).toEqual(
        expected.subarray((b * L + P - 1) * V, (b * L + P) * V),
      );
    for (let t = 0; t < steps; t++) {
      const step = session.step(continuations.map((c) => c[t]));
      for (let b = 0; b < 3; b++)
        expect(step.subarray(b * V, (b + 1) * V)).toEqual(
          expected.subarray((b * L + P + t) * V, (b * L + P + t + 1) * V),
        );
    }
    expect(() => session.prefill(pre)).toThrow(/already holds/);
    session.reset();
    expect(session.prefill(pre)).toEqual(got);
    const right = decoderBatch(prompts, 0);
    session.reset();
    expect(() => session.prefill(right)).toThrow(/sequence \d is not left-padded/);
  });

  it("GPU KV cache: prefill and steps give the CPU decoder's candidates (top-k on the GPU, and whole rows), batch of 3 prompts of different lengths", async () => {
    const V = SIZES.vocab_size;
    const prompts = randomSequences(new Random(31), 3, 1, 9, V);
    const capacity = 20;
    const cpu = new IntDecoderCpuSession(program, 3, capacity);
    const gpu = await IntDecoderGpu.create(await testGpu(), program, { batch: 3, capacity });
    try {
      // k: greedy, a sampling top-k, the whole vocabulary by top-k, and more than the kernel keeps (whole rows read back).
      const ks = [1, 5, V, 100];
      let k = ks[0];
      let want = await cpu.prefill(prompts, k);
      expect(await gpu.prefill(prompts, k)).toEqual(want);
      const counts = gpu.runtime.creationCounts();
      for (let i = 1; gpu.length < capacity; i++) {
        const tokens = want.map((c) => c.ids[0]);
        k = ks[i % ks.length];
        want = await cpu.step(tokens, k);
        expect(await gpu.step(tokens, k)).toEqual(want);
      }
      // Steps compile and bind nothing: every variant was made at creation.
      expect(gpu.runtime.creationCounts()).toEqual(counts);
      expect(gpu.length).toBe(capacity);
      await expect(gpu.step([0, 0, 0], 1)).rejects.toThrow(/KV cache is full \(20 tokens per sequence\)/);
      gpu.reset();
      cpu.reset();
      expect(await gpu.prefill(prompts, 1)).toEqual(await cpu.prefill(prompts, 1));
      await expect(gpu.prefill(prompts, 1)).rejects.toThrow(/already holds/);
      const m = gpu.memory();
      // int8 K and V: 2 x hidden bytes per token per layer, a quarter of fp32's.
      expect(m.kvBytesPerToken).toBe(2 * SIZES.n_layer * SIZES.n_embd);
      expect(m.kvCacheBytes).toBeGreaterThanOrEqual(3 * capacity * m.kvBytesPerToken!);
    } finally {
      gpu.dispose();
    }
  });

  it("GPU KV cache: greedy token streams equal the CPU decoder's and the whole-sequence recompute's", async () => {
    const V = SIZES.vocab_size;
    const prompts = randomSequences(new Random(11), 2, 3, 6, V);
    const steps = 12;
    const cpuStreams = await greedyStreams(new IntDecoderCpuSession(program, 2, 6 + steps), prompts, steps, true);
    const gpu = await IntDecoderGpu.create(await testGpu(), program, { batch: 2, capacity: 6 + steps });
    try {
      expect(await greedyStreams(gpu, prompts, steps, true)).toEqual(cpuStreams);
    } finally {
      gpu.dispose();
    }
    // Recomputing each sequence alone, whole, from scratch at every step picks the same tokens.
    for (const [b, p] of prompts.entries()) {
      const stream = [...p];
      for (let i = 0; i < steps; i++) {
        const out = runIntProgramCpu(program, decoderBatch([stream], 0)).output;
        stream.push(greedyTokens(program, out, [stream.length - 1])[0]);
      }
      expect(stream).toEqual(cpuStreams[b]);
    }
  });

  it('GPU KV cache refuses bad sizes and inputs clearly', async () => {
    const gpuDevice = await testGpu();
    await expect(IntDecoderGpu.create(gpuDevice, program, { batch: 1, capacity: 33 })).rejects.toThrow(
      /capacity = 33 tokens must be an integer in \[1, 32\]/,
    );
    await expect(IntDecoderGpu.create(gpuDevice, program, { batch: 0, capacity: 8 })).rejects.toThrow(/batch = 0/);
    const gpu = await IntDecoderGpu.create(gpuDevice, program, { batch: 1, capacity: 8 });
    try {
      await expect(gpu.step([1], 1)).rejects.toThrow(/prefill a prompt first/);
      await expect(gpu.prefill([[1, 2, 3, 4, 5, 6, 7, 8, 9]], 1)).rejects.toThrow(/exceeds the cache capacity of 8/);
      await expect(gpu.prefill([[1, 99]], 1)).rejects.toThrow(/token id/);
      await expect(gpu.prefill([[1], [2]], 1)).rejects.toThrow(/2 prompts for a decoder of batch 1/);
    } finally {
      gpu.dispose();
    }
  });

  it('greedyTokens picks the argmax on the common scale (ties to the lowest id)', () => {
    const batch = decoderBatch([sequences[0]], 0);
    const acc = runIntProgramCpu(program, batch).output;
    const V = SIZES.vocab_size;
    const last = sequences[0].length - 1;
    const [tok] = greedyTokens(program, acc, [last]);
    const real = realLogits(program, acc.subarray(last * V, (last + 1) * V));
    const best = real.indexOf(Math.max(...real));
    // The common-scale rescale rounds each channel once: the chosen logit is within a step of the best.
    expect(real[best] - real[tok]).toBeLessThanOrEqual(2 * program.output.rescale!.scale);
  });
});

// ---- the shared model ------------------------------------------------------------------------------

const SHARED = new URL('../../shared/', import.meta.url);
const sharedPath = (p: string) => fileURLToPath(new URL(p, SHARED));
const MODEL = sharedPath('models/multi30k-gpt2-tiny');
const TRAIN_EN = sharedPath('data/multi30k/train.en');
const TEST_EN = sharedPath('data/multi30k/test_2016_flickr.en');

describe('integer GPT-2 past 512 keys (random, 1 layer x 16 hidden, 2 heads, 528 positions)', () => {
  // The fused attention kernel holds at most 512 keys; longer runs take the unfused chain (Q.K^T,
  // softmax, V^T, P.V), chosen per run by zero workgroups on the other. Prompts of 509 and 503
  // tokens, then steps past 512 keys: both paths, and the switch between them mid-stream; then
  // whole sequences of 520 and 300 tokens without the cache (the other fallback).
  it("GPU KV cache: prefill and steps across the 512-key boundary give the CPU decoder's candidates; whole sequences the CPU's logits", {
    timeout: 300_000,
  }, async () => {
    const sizes: Gpt2Sizes = { n_embd: 16, n_head: 2, n_layer: 1, n_positions: 528, vocab_size: 37 };
    const model = await randomGpt2(9, sizes);
    const rng = new Random(23);
    const program = planDecoder(model, randomSequences(rng, 4, 40, 80, sizes.vocab_size));
    const prompts = [509, 503].map((n) => Array.from({ length: n }, () => rng.int(0, sizes.vocab_size - 1)));
    const capacity = 516;
    const cpu = new IntDecoderCpuSession(program, 2, capacity);
    const gpu = await IntDecoderGpu.create(await testGpu(), program, { batch: 2, capacity });
    try {
      let want = await cpu.prefill(prompts, 3);
      expect(await gpu.prefill(prompts, 3)).toEqual(want);
      while (gpu.length < capacity) {
        const tokens = want.map((c) => c.ids[0]);
        want = await cpu.step(tokens, 3);
        expect(await gpu.step(tokens, 3)).toEqual(want);
      }
      expect(gpu.length).toBe(capacity);
    } finally {
      gpu.dispose();
    }
    // Whole sequences (no cache) over 520 and 300 keys in one batch: the same switch per run.
    const whole = await IntProgramGpu.create(await testGpu(), program);
    try {
      for (const lengths of [[520, 300], [300]]) {
        const batch = decoderBatch(
          lengths.map((n) => Array.from({ length: n }, () => rng.int(0, sizes.vocab_size - 1))),
          0,
        );
        expect(Array.from((await whole.forward(batch)).output)).toEqual(
          Array.from(runIntProgramCpu(program, batch).output),
        );
      }
    } finally {
      whole.dispose();
    }
  });
});

describe.skipIf(!existsSync(`${MODEL}/model.safetensors`) || !existsSync(TEST_EN) || !existsSync(TRAIN_EN))(
  'integer multi30k-gpt2-tiny (../shared)',
  () => {
    let model: DecoderModel;
    let program: IntProgram;
    let test: number[][];
    const report: string[] = [];
    const FIRST = 64;
    const CALIBRATION_LINES = 256;

    beforeAll(async () => {
      const files = folderSource(MODEL);
      model = await loadDecoderModel(files);
      const tokenizer = await loadDecoderTokenizer(files, model.config);
      const eos = model.config.eosTokenId;
      const documents = (path: string, n: number) =>
        readFileSync(path, 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l.length > 0)
          .slice(0, n)
          .map((l) => [eos, ...tokenizer.encode(l), eos]);
      // Calibrated on training text (the first lines of train.en), evaluated on the test set.
      program = planDecoder(model, documents(TRAIN_EN, CALIBRATION_LINES));
      test = documents(TEST_EN, FIRST);
    }, 600_000);

    afterAll(() => {
      if (report.length) console.log(`integer multi30k-gpt2-tiny:\n${report.join('\n')}`);
    });

    // Perplexity (INT8 within 3% of FP32) is test/lm-accuracy.test.ts's, on the GPU interpreters.
    it("GPU KV cache: greedy continuations of two prompts equal the CPU decoder's token for token", async () => {
      const prompts = [test[5].slice(0, 6), test[9].slice(0, 3)];
      const steps = 16;
      const capacity = 6 + steps;
      const cpu = await greedyStreams(new IntDecoderCpuSession(program, 2, capacity), prompts, steps);
      const gpu = await IntDecoderGpu.create(await testGpu(), program, { batch: 2, capacity });
      try {
        expect(await greedyStreams(gpu, prompts, steps)).toEqual(cpu);
        const m = gpu.memory();
        const { numLayers: L, hiddenSize: H } = model.config;
        expect(m.kvBytesPerToken).toBe(2 * L * H);
        report.push(
          `  KV cache: ${m.kvBytesPerToken} bytes per token (int8; fp32 would be ${8 * L * H}), ${m.kvCacheBytes} bytes for 2 x ${capacity} tokens`,
        );
      } finally {
        gpu.dispose();
      }
    }, 600_000);

    it('GPU int32 logits equal the CPU interpreter bit for bit; incremental CPU decoding equals the whole pass', async () => {
      const docs = test.slice(0, 4);
      const batch = decoderBatch(docs, model.config.eosTokenId);
      const cpu = runIntProgramCpu(program, batch).output;
      const runtime = await IntProgramGpu.create(await testGpu(), program);
      try {
        expect((await runtime.forward(batch)).output).toEqual(cpu);
      } finally {
        runtime.dispose();
      }
      const V = model.config.vocabSize;
      const doc = docs[0];
      const decoder = new IntDecoderCpu(program, 1, doc.length);
      const prompt = 3;
      decoder.prefill(decoderBatch([doc.slice(0, prompt)], 0));
      for (let t = prompt; t < doc.length; t++) {
        const step = decoder.step([doc[t]]);
        expect(step).toEqual(cpu.subarray(t * V, (t + 1) * V));
      }
    }, 600_000);
  },
);
