/**
 * Translation models as users meet them (issue 12): loadModel on a Marian folder (converted to
 * integers on the way, or float with precision 'fp32') and on its .i8t; `translate(text)` streams,
 * `translate(texts)` translates a list together with the same results as one at a time; beam
 * search; the other methods refuse by name, and the other models refuse translate. On a random
 * small MarianMTModel with a toy tokenizer (test/cases/random-marian.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { convertTranslatorModel } from '../src/convert.js';
import { writeIntModelFile } from '../src/format/int-model-file.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { loadModel, type TextModel } from '../src/index.js';
import { randomMarianFiles } from './cases/random-marian.js';
import { testGpu } from './gpu.js';

const TEXTS = ['the cat sat on the mat.', 'a dog ran.', 'then the rain came in the night.'];

describe('translation models (random Marian, toy tokenizer)', () => {
  let gpu: Gpu;
  let int8: TextModel;
  let fp32: TextModel;
  let fileBytes: Uint8Array;

  beforeAll(async () => {
    gpu = await testGpu();
    int8 = await loadModel(randomMarianFiles(5, { tokenizer: true }), { gpu, precision: 'int8' });
    fp32 = await loadModel(randomMarianFiles(5, { tokenizer: true }), { gpu, precision: 'fp32' });
    fileBytes = await writeIntModelFile(
      await convertTranslatorModel(randomMarianFiles(5, { tokenizer: true }), { calibration: TEXTS }),
    );
  });

  it('loadModel detects a Marian folder: capabilities translate, in both precisions', () => {
    for (const m of [int8, fp32]) {
      expect(m.capabilities).toEqual(['translate']);
      expect(m.config.task).toBe('translation');
    }
    expect(int8.kind).toBe('int8');
    expect(fp32.kind).toBe('fp32');
  });

  it('translate(text) streams pieces that join to the result; a list gives what one at a time gives', async () => {
    const alone = [];
    for (const text of TEXTS) {
      const pieces: string[] = [];
      const translation = int8.translate(text, { maxNewTokens: 8 });
      for await (const piece of translation) pieces.push(piece);
      const result = await translation;
      expect(pieces.join('')).toBe(result.text);
      expect(result.tokens.length).toBeGreaterThan(0);
      expect(result.tokens.length).toBeLessThanOrEqual(8);
      expect(['eos', 'length']).toContain(result.finishReason);
      alone.push(result);
    }
    const together = await int8.translate(TEXTS, { maxNewTokens: 8 });
    expect(together).toEqual(alone);
  });

  it('beam search: results per text, a score, and beams 1 equal to greedy', async () => {
    const greedy = await int8.translate(TEXTS, { maxNewTokens: 8 });
    const one = await int8.translate(TEXTS, { maxNewTokens: 8, numBeams: 1 });
    expect(one).toEqual(greedy);
    const beams = await int8.translate(TEXTS, { maxNewTokens: 8, numBeams: 3 });
    expect(beams).toHaveLength(TEXTS.length);
    for (const b of beams) expect(typeof b.score).toBe('number');
    // Streaming a beam search gives the whole text once the best hypothesis is known.
    const translation = int8.translate(TEXTS[0], { maxNewTokens: 8, numBeams: 3 });
    const pieces: string[] = [];
    for await (const piece of translation) pieces.push(piece);
    expect(pieces.join('')).toBe((await translation).text);
    expect(pieces.length).toBeLessThanOrEqual(1);
  });

  it('the .i8t file loads as the same integer translator', async () => {
    // The folder loaded with the same calibration text as the file was converted with: the same
    // program, so the same translations token for token.
    const fromFile = await loadModel(fileBytes, { gpu });
    const sameCalibration = await loadModel(randomMarianFiles(5, { tokenizer: true }), {
      gpu,
      precision: 'int8',
      calibration: TEXTS,
    });
    try {
      expect(fromFile.capabilities).toEqual(['translate']);
      const a = await fromFile.translate(TEXTS, { maxNewTokens: 6, numBeams: 2 });
      const b = await sameCalibration.translate(TEXTS, { maxNewTokens: 6, numBeams: 2 });
      expect(a).toEqual(b);
      for (const r of a) expect(r.tokens.length).toBeLessThanOrEqual(6);
    } finally {
      fromFile.dispose();
      sameCalibration.dispose();
    }
  });

  it('FP32 translates too; overlapping calls each get their own answer', async () => {
    const sequential = [];
    for (const t of TEXTS) sequential.push(await fp32.translate(t, { maxNewTokens: 5 }));
    const overlapping = await Promise.all(TEXTS.map((t) => fp32.translate(t, { maxNewTokens: 5 })));
    expect(overlapping).toEqual(sequential);
  });

  it('refuses bad input and other methods by name', async () => {
    await expect(int8.classify('x')).rejects.toThrow(/translation model; it can translate\(\)/);
    expect(() => int8.generate('x')).toThrow(/translation model/);
    expect(() => int8.translate(42 as unknown as string)).toThrow(/expected a string or a list of strings/);
    expect(() => int8.translate(['a', 3 as unknown as string])).toThrow(/text 1 is number, not a string/);
    await expect(int8.translate([])).rejects.toThrow(/no texts/);
    await expect(int8.translate('a', { numBeams: 0 })).rejects.toThrow(/numBeams/);
    await expect(int8.translate('a', { maxNewTokens: 1000 })).rejects.toThrow(/maxNewTokens = 1000/);
  });
});
