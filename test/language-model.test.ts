/**
 * Language models as model objects (src/language-model.ts): generate() streams and resolves,
 * generateBatch() equals each prompt alone, the GPU integer model's greedy continuation equals the
 * CPU integer program's, seeded sampling repeats, calls queue, bad input and wrong methods are
 * refused. On a random GPT-2 (2 layers x 32 hidden, byte-level BPE of 300 tokens).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomGpt2Files } from '../bench/random-gpt2.js';
import { builtInModelUrl, loadModel } from '../src/api.js';
import { calibrateDecoderCpu } from '../src/calibrate/calibrate-decoder.js';
import { convertDecoderModel } from '../src/convert.js';
import type { DecoderModel } from '../src/core/types.js';
import { IntDecoderCpuSession } from '../src/cpu/int-program.js';
import { writeIntModelFile } from '../src/format/int-model-file.js';
import { generateAll } from '../src/generate/generate.js';
import { Fp32LanguageModel, Int8LanguageModel } from '../src/language-model.js';
import { decoderGraph } from '../src/model/decoder.js';
import { type DecoderTokenizer, loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { memorySource } from '../src/model/sources.js';
import type { IntProgram } from '../src/plan/int-program.js';
import { planGraph } from '../src/plan/plan-graph.js';
import { testGpu } from './gpu.js';

const SIZES = { n_embd: 32, n_head: 2, n_layer: 2, n_positions: 48, vocab_size: 273 };
const PROMPTS = ['the dog', 'a man in a red shirt is', 'on'];

describe('language models (random GPT-2, 2 x 32, vocab 273)', () => {
  let model: DecoderModel;
  let tokenizer: DecoderTokenizer;
  let program: IntProgram;
  let int8: Int8LanguageModel;
  let fp32: Fp32LanguageModel;

  beforeAll(async () => {
    const files = memorySource(randomGpt2Files(7, SIZES), 'random-gpt2');
    model = await loadDecoderModel(files);
    tokenizer = await loadDecoderTokenizer(files, model.config);
    const eos = model.config.eosTokenId;
    const calibration = ['the dog runs on the grass', 'a man is sitting in the sun', 'two women in a market'].map(
      (t) => [eos, ...tokenizer.encode(t), eos],
    );
    program = planGraph(
      decoderGraph(model.config),
      model.params,
      calibrateDecoderCpu(model, calibration).ranges('max'),
      {
        maxKeys: model.config.maxPositions,
      },
    );
    const gpu = await testGpu();
    int8 = await Int8LanguageModel.create(gpu, program, model.config, tokenizer);
    fp32 = await Fp32LanguageModel.create(gpu, model, tokenizer);
  }, 300_000);

  afterAll(() => {
    int8?.dispose();
    fp32?.dispose();
  });

  it('says what it can do and refuses the rest by name', async () => {
    expect(int8.capabilities).toEqual(['generate']);
    await expect(int8.classify()).rejects.toThrow(/classify: .*GPT2LMHeadModel.* is a language model; it can generate/);
    await expect(fp32.embed()).rejects.toThrow(/embed: .*language model/);
  });

  it("greedy INT8 on the GPU gives the CPU integer program's tokens; the stream joins to the result", async () => {
    const ids = tokenizer.encode(PROMPTS[1]);
    const [cpu] = await generateAll(
      new IntDecoderCpuSession(program, 1, 32, model.config.eosTokenId),
      [ids],
      { maxNewTokens: 12, stopAtEos: false },
      {
        decode: (t) => tokenizer.decode(t),
        eosTokenId: model.config.eosTokenId,
      },
    );
    const generation = int8.generate(PROMPTS[1], { maxNewTokens: 12, stopAtEos: false });
    const pieces: string[] = [];
    for await (const piece of generation) pieces.push(piece);
    const result = await generation;
    expect(result.tokens).toEqual(cpu.tokens);
    expect(result.tokens).toHaveLength(12);
    expect(pieces.join('')).toBe(result.text);
    expect(result.text).toBe(tokenizer.decode(result.tokens));
    expect(result.finishReason).toBe('length');
  });

  it('generateBatch (left-padded prompts of different lengths) equals each prompt alone, INT8 and FP32', async () => {
    for (const m of [int8, fp32]) {
      const together = await m.generateBatch(PROMPTS, { maxNewTokens: 8, stopAtEos: false });
      for (const [i, p] of PROMPTS.entries())
        expect(together[i]).toEqual(await m.generate(p, { maxNewTokens: 8, stopAtEos: false }));
    }
  });

  it('seeded sampling repeats; another seed differs; onToken sees every token', async () => {
    const options = { maxNewTokens: 16, temperature: 1.5, topK: 50, topP: 0.95, stopAtEos: false };
    const events: number[] = [];
    const a = await int8.generate(PROMPTS[0], { ...options, seed: 1, onToken: (e) => events.push(e.token) });
    const b = await int8.generate(PROMPTS[0], { ...options, seed: 1 });
    const c = await int8.generate(PROMPTS[0], { ...options, seed: 2 });
    expect(b.tokens).toEqual(a.tokens);
    expect(events).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('concurrent calls each get their own answer', async () => {
    const alone = await Promise.all(PROMPTS.map((p) => int8.generate(p, { maxNewTokens: 6, stopAtEos: false })));
    const overlapped = await Promise.all([
      int8.generate(PROMPTS[0], { maxNewTokens: 6, stopAtEos: false }),
      int8.generateBatch([PROMPTS[1], PROMPTS[2]], { maxNewTokens: 6, stopAtEos: false }),
    ]);
    expect(overlapped[0]).toEqual(alone[0]);
    expect(overlapped[1]).toEqual([alone[1], alone[2]]);
  });

  it("abort stops a generation with the signal's reason; the model still works after", async () => {
    const controller = new AbortController();
    const generation = int8.generate(PROMPTS[0], {
      maxNewTokens: 30,
      stopAtEos: false,
      signal: controller.signal,
      onToken: (e) => {
        if (e.token >= 0) controller.abort(new Error('enough'));
      },
    });
    await expect(generation).rejects.toThrow('enough');
    expect((await int8.generate(PROMPTS[0], { maxNewTokens: 2, stopAtEos: false })).tokens).toHaveLength(2);
  });

  it('refuses bad input clearly before running', async () => {
    expect(() => int8.generate(42 as unknown as string)).toThrow(/prompt is number; expected a string/);
    await expect(int8.generate('')).rejects.toThrow(/prompt 0 is empty/);
    await expect(int8.generate('the dog', { maxNewTokens: 100 })).rejects.toThrow(
      /need \d+ positions; the model has 48/,
    );
    await expect(int8.generate('the dog', { topP: 2, temperature: 1 })).rejects.toThrow(/topP/);
    await expect(int8.generateBatch([])).rejects.toThrow(/no prompts/);
  });

  it("memory() counts the int8 KV cache: 2 x layers x hidden bytes per token, a quarter of fp32's", async () => {
    const m = int8.memory();
    expect(m.kvBytesPerToken).toBe(2 * SIZES.n_layer * SIZES.n_embd);
    expect(m.kvCacheBytes).toBeGreaterThan(0);
  });
});

describe('loadModel detects the architecture', () => {
  it('a GPT-2 folder loads as a language model (int8 converted on the fly, and fp32); its .i8t too; the encoder refuses generate', async () => {
    const gpu = await testGpu();
    const folder = () => memorySource(randomGpt2Files(7, SIZES), 'random-gpt2');
    const int8 = await loadModel(folder(), {
      gpu,
      calibration: ['the dog runs on the grass', 'two women in a market'],
    });
    const fp32 = await loadModel(folder(), { gpu, precision: 'fp32' });
    const encoder = await loadModel('default', { gpu });
    try {
      expect(int8.kind).toBe('int8');
      expect(int8.capabilities).toEqual(['generate']);
      expect(int8.config.task).toBe('text-generation');
      expect(fp32.kind).toBe('fp32');
      const a = await int8.generate('the dog', { maxNewTokens: 5, stopAtEos: false });
      expect(a.tokens).toHaveLength(5);
      expect((await fp32.generate('the dog', { maxNewTokens: 5, stopAtEos: false })).tokens).toHaveLength(5);
      // The same conversion written as a file and loaded back generates the same tokens.
      const file = await convertDecoderModel(gpu, folder(), {
        calibration: ['the dog runs on the grass', 'two women in a market'],
      });
      const fromFile = await loadModel(await writeIntModelFile(file), { gpu });
      try {
        expect((await fromFile.generate('the dog', { maxNewTokens: 5, stopAtEos: false })).tokens).toEqual(a.tokens);
      } finally {
        fromFile.dispose();
      }
      expect(encoder.capabilities).toEqual(['classify']);
      expect(() => encoder.generate('the dog')).toThrow(
        /generate: this model \(BertForSequenceClassification\) is an encoder/,
      );
      await expect(int8.classify('a fine film')).rejects.toThrow(/is a language model; it can generate/);
      await expect(loadModel(folder(), { gpu, calibration: [['a', 'b']] })).rejects.toThrow(
        /calibration\[0\] is a text pair/,
      );
    } finally {
      int8.dispose();
      fp32.dispose();
      encoder.dispose();
    }
  }, 300_000);
});

const SHARED_LM = fileURLToPath(new URL('../../shared/models/multi30k-gpt2-tiny', import.meta.url));

describe.skipIf(!existsSync(`${SHARED_LM}/SOURCE.md`))(
  'multi30k-gpt2-tiny (../shared): greedy text against torch',
  () => {
    it("FP32 greedy continuations of SOURCE.md's prompts are torch's, word for word; INT8's start the same way", async () => {
      const rows = [...readFileSync(`${SHARED_LM}/SOURCE.md`, 'utf8').matchAll(/^- `([^`]*)` -> `([^`]*)`$/gm)];
      expect(rows.length).toBeGreaterThanOrEqual(5);
      const gpu = await testGpu();
      const fp32 = await loadModel(SHARED_LM, { gpu, precision: 'fp32' });
      const int8 = await loadModel(builtInModelUrl('int8', 'generate'), { gpu });
      try {
        for (const [, prompt, torch] of rows) {
          expect((await fp32.generate(prompt, { maxNewTokens: 20 })).text, prompt).toBe(torch);
          // Integer rounding may turn a later near-tie the other way; the first token is the float one.
          const first = (await int8.generate(prompt, { maxNewTokens: 1 })).text;
          expect(torch.startsWith(first), `${prompt}: INT8 first token ${JSON.stringify(first)}`).toBe(true);
        }
      } finally {
        fp32.dispose();
        int8.dispose();
      }
    }, 600_000);
  },
);
