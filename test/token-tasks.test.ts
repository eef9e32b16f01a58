/**
 * Token classification (tag) and zero-shot classification (classifyZeroShot): the BIO aggregation
 * and the zero-shot arithmetic on hand-made logits; token spans from the tokenizer; and seeded
 * random BERT / DistilBERT token classifiers and a BERT NLI classifier written as Hugging Face
 * folders: the float interpreters against onnxruntime-node on the ONNX twin, the INT8 per-token
 * logits GPU == CPU bit for bit, INT8 against float, and both tasks end to end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { bertOnnxGraph } from '../bench/onnx-bert.js';
import { float32Bytes, writeOnnxModel } from '../bench/onnx-writer.js';
import { convertModel } from '../src/convert.js';
import type { EncoderModel, TokenBatch } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { loadEncoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';
import { tokenOffsets } from '../src/model/token-offsets.js';
import { Fp32Model, Int8Model } from '../src/session.js';
import { bioTag, groupEntities, type TaggedToken, type TokenEntity, tagTokens } from '../src/tag.js';
import { hypothesis, nliLabels, rankLabels, zeroShotScores } from '../src/zero-shot.js';
import { testGpu } from './gpu.js';
import { randomEncoder, tinyTokenizerJson, writeEncoderFolder } from './random-encoder-folder.js';

const NER = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];

/** A token of a hand-made sequence: its label's logit 4, the others 0 (score e^4 / (e^4 + 4)). */
function handMade(labels: string[]): { logits: number[]; tokens: TaggedToken[] } {
  const logits: number[] = [];
  const tokens = labels.map((l, i): TaggedToken => {
    for (const name of NER) logits.push(name === l ? 4 : 0);
    return { index: i + 1, id: i, word: `w${i}`, start: 2 * i, end: 2 * i + 1 };
  });
  return { logits, tokens };
}

const joinWords = (g: readonly TokenEntity[]) => g.map((t) => t.word).join(' ');

/** What the tiny tokenizer's normalizer does: lower case, accents stripped. */
const plain = (s: string) => s.toLowerCase().normalize('NFD').replace(/\p{M}/gu, '');

describe('BIO aggregation (hand-made logits)', () => {
  const top = Math.exp(4) / (Math.exp(4) + 4);

  it('tags each token with its argmax label and softmax score', () => {
    const { logits, tokens } = handMade(['B-PER', 'O']);
    logits[NER.length + 3] = 4; // token 1: O and B-LOC tie at 4; the first wins, as argmax does
    const tags = tagTokens(logits, NER, tokens);
    expect(tags.map((t) => t.entity)).toEqual(['B-PER', 'O']);
    expect(tags[0].score).toBeCloseTo(top, 12);
    expect(tags[1].score).toBeCloseTo(Math.exp(4) / (2 * Math.exp(4) + 3), 12);
    expect(tags[1]).toMatchObject({ index: 2, word: 'w1', start: 2, end: 3 });
    expect(() => tagTokens(logits.slice(1), NER, tokens)).toThrow(/9 logits for 2 tokens x 5 labels/);
  });

  it('merges B-X I-X, starts a group at each B-X, starts one at I-X after O, drops O', () => {
    const { logits, tokens } = handMade(['B-PER', 'I-PER', 'O', 'I-LOC', 'I-LOC', 'B-LOC', 'B-LOC', 'I-PER']);
    logits[1 * NER.length + 2] = 2; // token 1: I-PER at 4 and 2 elsewhere lowers its score
    const tags = tagTokens(logits, NER, tokens);
    const groups = groupEntities(tags, joinWords);
    expect(groups.map((g) => [g.entity_group, g.word, g.start, g.end])).toEqual([
      ['PER', 'w0 w1', 0, 3],
      ['LOC', 'w3 w4', 6, 9],
      ['LOC', 'w5', 10, 11],
      ['LOC', 'w6', 12, 13],
      ['PER', 'w7', 14, 15],
    ]);
    expect(groups[0].score).toBeCloseTo((tags[0].score + tags[1].score) / 2, 12);
    expect(groups[0].score).toBeLessThan(top);
    expect(groups[2].score).toBeCloseTo(top, 12);
  });

  it('labels without a B-/I- prefix continue their own type; ignoreLabels drops groups by type', () => {
    expect(bioTag('B-MISC')).toEqual(['B', 'MISC']);
    expect(bioTag('I-MISC')).toEqual(['I', 'MISC']);
    expect(bioTag('DATE')).toEqual(['I', 'DATE']);
    const tags: TokenEntity[] = ['DATE', 'DATE', 'O', 'O', 'B-PER'].map((entity, i) => ({
      entity,
      score: 0.5,
      index: i,
      word: `w${i}`,
      start: i,
      end: i + 1,
    }));
    expect(groupEntities(tags, joinWords).map((g) => g.entity_group)).toEqual(['DATE', 'PER']);
    expect(groupEntities(tags, joinWords, ['PER']).map((g) => g.entity_group)).toEqual(['DATE', 'O']);
  });

  it('word pieces of one entity merge into one word through the decoder', async () => {
    const tok = new Tokenizer(JSON.parse(tinyTokenizerJson()), {});
    const text = 'Hugging Faces lives in Café, Berlin';
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    expect(ids.map((id) => tok.id_to_token(id))).toEqual([
      'hugging',
      'face',
      '##s',
      'lives',
      'in',
      'ca',
      '##fe',
      ',',
      'berlin',
    ]);
    const spans = tokenOffsets(tok, text, ids);
    // Spans in the original text: case and the accent are the text's own.
    expect(spans.map(([s, e]) => text.slice(s, e))).toEqual([
      'Hugging',
      'Face',
      's',
      'lives',
      'in',
      'Ca',
      'fé',
      ',',
      'Berlin',
    ]);
    const labels = ['B-PER', 'I-PER', 'I-PER', 'O', 'O', 'B-LOC', 'I-LOC', 'O', 'B-LOC'];
    const { logits } = handMade(labels);
    const tokens = ids.map(
      (id, k): TaggedToken => ({
        index: k + 1,
        id,
        word: tok.id_to_token(id)!,
        start: spans[k][0],
        end: spans[k][1],
      }),
    );
    const groups = groupEntities(tagTokens(logits, NER, tokens), (g) =>
      tok.decode(
        g.map((t) => ids[t.index - 1]),
        { skip_special_tokens: true },
      ),
    );
    expect(groups.map((g) => [g.entity_group, g.word, text.slice(g.start, g.end)])).toEqual([
      ['PER', 'hugging faces', 'Hugging Faces'],
      ['LOC', 'cafe', 'Café'],
      ['LOC', 'berlin', 'Berlin'],
    ]);
  });

  it('an unknown word spans its characters and the next token is found after it', () => {
    const tok = new Tokenizer(JSON.parse(tinyTokenizerJson()), {});
    const text = '  Zebras, in  Paris!';
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    expect(ids.map((id) => tok.id_to_token(id))).toEqual(['[UNK]', ',', 'in', 'paris', '!']);
    expect(tokenOffsets(tok, text, ids).map(([s, e]) => text.slice(s, e))).toEqual(['Zebras', ',', 'in', 'Paris', '!']);
  });
});

describe('zero-shot arithmetic', () => {
  it('finds the NLI roles by name, case-insensitively (not_entailment for two-way heads)', () => {
    expect(nliLabels(['CONTRADICTION', 'NEUTRAL', 'ENTAILMENT'])).toEqual({ entailment: 2, contradiction: 0 });
    expect(nliLabels(['entailment', 'not_entailment'])).toEqual({ entailment: 0, contradiction: 1 });
    expect(nliLabels(['NEGATIVE', 'POSITIVE'])).toBeUndefined();
    expect(hypothesis('This example is {}.', 'sports')).toBe('This example is sports.');
    expect(hypothesis('{} or {}', '$&')).toBe('$& or {}');
  });

  it('single-label: softmax of the entailment logits across labels; multi-label: entailment vs contradiction per label', () => {
    const roles = { entailment: 2, contradiction: 0 };
    const rows = [
      [0, 5, 1],
      [2, 0, 3],
      [-1, 0, 0.5],
    ];
    const single = zeroShotScores(rows, roles, false);
    const z = Math.exp(1) + Math.exp(3) + Math.exp(0.5);
    expect(single[0]).toBeCloseTo(Math.exp(1) / z, 12);
    expect(single[1]).toBeCloseTo(Math.exp(3) / z, 12);
    expect(single.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    const multi = zeroShotScores(rows, roles, true);
    expect(multi[1]).toBeCloseTo(1 / (1 + Math.exp(2 - 3)), 12);
    expect(multi[2]).toBeCloseTo(1 / (1 + Math.exp(-1 - 0.5)), 12);
    // One label alone is scored on its own, not by a softmax over one value.
    expect(zeroShotScores([rows[0]], roles, false)).toEqual(zeroShotScores([rows[0]], roles, true));
    expect(rankLabels('t', ['a', 'b', 'c'], single)).toEqual({
      sequence: 't',
      labels: ['b', 'a', 'c'],
      scores: [single[1], single[0], single[2]],
    });
  });
});

/** onnxruntime-node on the model's ONNX twin (weights inline): logits [batch, seq, labels] or [batch, labels]. */
async function ortLogits(model: EncoderModel, batch: TokenBatch): Promise<Float32Array> {
  const onnx = writeOnnxModel(bertOnnxGraph(model, (_, t) => ({ raw: float32Bytes(t.data) })));
  const session = await ort.InferenceSession.create(onnx);
  try {
    const int64 = (v: Int32Array) =>
      new ort.Tensor('int64', BigInt64Array.from(v, BigInt), [batch.batch, batch.seqLen]);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(batch.inputIds),
      attention_mask: int64(batch.attentionMask),
    };
    if (model.weights.tokenTypeEmbeddings) feeds.token_type_ids = int64(batch.tokenTypeIds);
    return (await session.run(feeds)).logits.data as Float32Array;
  } finally {
    await session.release();
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const TEXTS = [
  'John Smith lives in New York.',
  'Mary works in Paris, at Hugging Face!',
  'the film was great',
  'He read a bad movie about Berlin and Café politics in this example.',
];

const CALIBRATION = [...TEXTS, 'she lives in paris .', 'the weather in berlin was bad', 'a good example of sports'];

/** Real tokens' rows only: padding rows are not compared. */
function realRows(values: ArrayLike<number>, batch: TokenBatch, width: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < batch.batch * batch.seqLen; t++)
    if (batch.attentionMask[t]) for (let c = 0; c < width; c++) out.push(values[t * width + c]);
  return out;
}

/**
 * INT8 against float on these random models (2 layers, hidden 32-64, 7 calibration sentences): the
 * largest per-token logit error relative to the largest float logit, and argmax agreement over
 * real tokens. Measured: relative error 0.034 (BERT) and 0.032 (DistilBERT), agreement 43/43 and 40/43;
 * the bounds sit about 1.5x above the error and one disagreement below 40/43 (the models are seeded).
 */
const INT8_RELATIVE_ERROR = 0.05;
const INT8_AGREEMENT = 0.9;

describe.each([
  { family: 'bert' as const, hidden: 64, heads: 4, intermediate: 128 },
  { family: 'distilbert' as const, hidden: 32, heads: 2, intermediate: 64 },
])('random $family token classifier', ({ family, hidden, heads, intermediate }) => {
  it('float == onnxruntime (1e-4), INT8 GPU == CPU bit for bit, INT8 ~ float, tag() end to end', {
    timeout: 120_000,
  }, async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), `tag-${family}-`));
    dirs.push(dir);
    const seed = family === 'bert' ? 31 : 32;
    writeEncoderFolder(
      dir,
      randomEncoder(
        { family, task: 'token-classification', labels: NER, hidden, heads, intermediate, layers: 2 },
        seed,
      ),
    );
    const files = folderSource(dir);
    const model = await loadEncoderModel(files);
    expect(model.config.task).toBe('token-classification');
    expect(model.weights.head?.dense).toBeUndefined();

    const int8 = await Int8Model.fromFile(gpu, await convertModel(gpu, files, { calibration: CALIBRATION }));
    const fp32 = await Fp32Model.fromFiles(gpu, files, model);
    try {
      expect(int8.capabilities).toEqual(['tag']);
      const batch = int8.tokenizer.encodeBatch(TEXTS);
      const L = NER.length;

      // Float: CPU float64 specification and GPU float32 against onnxruntime.
      const want = await ortLogits(model, batch);
      expect(want.length).toBe(batch.batch * batch.seqLen * L);
      expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.5);
      const cpu = runFloatGraphCpu(modelGraph(model), encoderParams(model.weights), batch).logits!;
      const gpuFloat = (await fp32.encoder.forward(batch)).logits!;
      const diff = (a: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - want[i])));
      expect(diff(cpu)).toBeLessThan(1e-4);
      expect(diff(gpuFloat)).toBeLessThan(1e-4);

      // INT8: the GPU's int32 logits are the CPU specification's, every token.
      const program = int8.file.program;
      expect(program.output.kind).toBe('token-logits');
      const gpuInt = (await int8.encoder.forward(batch)).output;
      const cpuInt = runIntProgramCpu(program, batch).output;
      expect(gpuInt.length).toBe(batch.batch * batch.seqLen * L);
      expect(Array.from(gpuInt)).toEqual(Array.from(cpuInt));

      // INT8 against float over real tokens.
      const q = realRows(int8.logitsOf(gpuInt), batch, L);
      const f = realRows(cpu, batch, L);
      const range = Math.max(...f.map(Math.abs));
      const err = Math.max(...q.map((v, i) => Math.abs(v - f[i])));
      let agree = 0;
      const tokens = f.length / L;
      const argmax = (v: number[], t: number) => {
        const row = v.slice(t * L, (t + 1) * L);
        return row.indexOf(Math.max(...row));
      };
      for (let t = 0; t < tokens; t++) agree += argmax(q, t) === argmax(f, t) ? 1 : 0;
      console.log(
        `${family}: INT8 vs float: max |err| / max |logit| = ${(err / range).toFixed(4)}, argmax agreement ${agree}/${tokens}`,
      );
      expect(err / range).toBeLessThan(INT8_RELATIVE_ERROR);
      expect(agree / tokens).toBeGreaterThanOrEqual(INT8_AGREEMENT);

      // tag(): 'none' is every text token's argmax of the model's logits (O kept), spans into the text.
      for (const m of [int8, fp32]) {
        const perToken = await m.tag(TEXTS, { aggregation: 'none', ignoreLabels: [], batchSize: 3 });
        const logits = m === int8 ? int8.logitsOf(gpuInt) : gpuFloat;
        perToken.forEach((tags, b) => {
          const real = batch.attentionMask
            .subarray(b * batch.seqLen, (b + 1) * batch.seqLen)
            .reduce((a, x) => a + x, 0);
          expect(tags.map((t) => t.index)).toEqual(Array.from({ length: real - 2 }, (_, k) => k + 1));
          for (const t of tags) {
            const row = Array.from(
              logits.subarray((b * batch.seqLen + t.index) * L, (b * batch.seqLen + t.index + 1) * L),
            );
            expect(t.entity).toBe(NER[row.indexOf(Math.max(...row))]);
            if (t.word !== '[UNK]') expect(plain(TEXTS[b].slice(t.start, t.end))).toBe(t.word.replace(/^##/, ''));
          }
        });
        // 'simple': groups as groupEntities makes them from those tags, O dropped.
        const entities = await m.tag(TEXTS);
        entities.forEach((groups, b) => {
          const tags = perToken[b];
          const expected = groupEntities(tags, () => '').map(({ word: _, ...g }) => g);
          expect(groups.map(({ word: _, ...g }) => g)).toEqual(expected);
          for (const g of groups) expect(g.start).toBeLessThan(g.end);
        });
        expect(await m.tag('John Smith')).toHaveLength(1);
      }
      // The CPU backend (device 'cpu') tags as the GPU does: the same integers.
      const onCpu = await Int8Model.onCpu(int8.file);
      expect(await onCpu.tag(TEXTS, { aggregation: 'none', ignoreLabels: [] })).toEqual(
        await int8.tag(TEXTS, { aggregation: 'none', ignoreLabels: [] }),
      );
      onCpu.dispose();
      await expect(int8.classify('a')).rejects.toThrow(
        /classify: .*BertForTokenClassification|cannot classify; use tag\(\)/,
      );
      await expect(fp32.embed('a')).rejects.toThrow(/embed: .* cannot embed; use tag\(\)/);
      await expect(int8.tag([['a', 'b']] as unknown as string[])).rejects.toThrow(/tag: texts\[0\] is a pair/);
      await expect(int8.tag('a', { aggregation: 'max' as 'none' })).rejects.toThrow(
        /aggregation "max" is not 'simple' or 'none'/,
      );
    } finally {
      int8.dispose();
      fp32.dispose();
    }
  });
});

describe('zero-shot on a random NLI classifier', () => {
  it('scores sum to 1 in entailment-logit order; multiLabel is entailment vs contradiction; a non-NLI head refuses', {
    timeout: 120_000,
  }, async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), 'nli-'));
    dirs.push(dir);
    const labels = ['CONTRADICTION', 'NEUTRAL', 'ENTAILMENT'];
    const nli = randomEncoder(
      { family: 'bert', task: 'sequence-classification', labels, hidden: 32, heads: 2, intermediate: 64, layers: 2 },
      41,
    );
    writeEncoderFolder(dir, nli);
    const files = folderSource(dir);
    const pairs = CALIBRATION.map((t) => [t, 'This example is sports.'] as [string, string]);
    const int8 = await Int8Model.fromFile(
      gpu,
      await convertModel(gpu, files, { calibration: [...CALIBRATION, ...pairs] }),
    );
    const fp32 = await Fp32Model.fromFiles(gpu, files);
    try {
      // The ONNX twin agrees with the float model on (premise, hypothesis) pairs too.
      const batch = fp32.tokenizer.encodeBatch(pairs.slice(0, 3));
      const want = await ortLogits(await loadEncoderModel(files), batch);
      const got = (await fp32.encoder.forward(batch)).logits!;
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-4);

      const candidates = ['sports', 'politics', 'weather', 'film'];
      for (const m of [int8, fp32]) {
        expect(m.capabilities).toEqual(['classify', 'classifyZeroShot']);
        const text = 'Mary works in Paris, at Hugging Face!';
        const r = await m.classifyZeroShot(text, candidates, { batchSize: 3 });
        expect(r.sequence).toBe(text);
        expect([...r.labels].sort()).toEqual([...candidates].sort());
        expect(r.scores.reduce((a, b) => a + b)).toBeCloseTo(1, 6);
        // Order and values follow the entailment logits of the pairs as classify() gives them.
        const preds = await m.classify(candidates.map((c) => [text, `This example is ${c}.`]));
        const e = preds.map((p) => p.logits[2]);
        const order = candidates.map((_, i) => i).sort((a, b) => e[b] - e[a]);
        expect(r.labels).toEqual(order.map((i) => candidates[i]));
        const z = e.reduce((a, v) => a + Math.exp(v), 0);
        r.labels.forEach((l, k) => expect(r.scores[k]).toBeCloseTo(Math.exp(e[candidates.indexOf(l)]) / z, 5));

        const multi = await m.classifyZeroShot([text, 'the film was great'], candidates, {
          multiLabel: true,
          hypothesisTemplate: 'It is about {}.',
        });
        expect(multi).toHaveLength(2);
        const own = await m.classify(candidates.map((c) => ['the film was great', `It is about ${c}.`]));
        for (const [k, l] of multi[1].labels.entries()) {
          const p = own[candidates.indexOf(l)].logits;
          expect(multi[1].scores[k]).toBeCloseTo(1 / (1 + Math.exp(p[0] - p[2])), 5);
        }
      }
      await expect(int8.classifyZeroShot('a', [])).rejects.toThrow(/candidateLabels must be a non-empty list/);
      await expect(int8.classifyZeroShot('a', ['x'], { hypothesisTemplate: 'no slot' })).rejects.toThrow(
        /hypothesisTemplate "no slot" has no \{\}/,
      );
      await expect(int8.tag('a')).rejects.toThrow(/tag: .* cannot tag; use classify\(\)/);
    } finally {
      int8.dispose();
      fp32.dispose();
    }
  });

  it('a classifier whose labels are not NLI refuses zero-shot by name', async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(join(tmpdir(), 'sst-'));
    dirs.push(dir);
    const m = randomEncoder(
      {
        family: 'distilbert',
        task: 'sequence-classification',
        labels: ['NEGATIVE', 'POSITIVE'],
        hidden: 16,
        heads: 2,
        intermediate: 32,
        layers: 1,
      },
      5,
    );
    writeEncoderFolder(dir, m);
    const fp32 = await Fp32Model.fromFiles(gpu, folderSource(dir));
    try {
      expect(fp32.capabilities).toEqual(['classify']);
      await expect(fp32.classifyZeroShot('a', ['x'])).rejects.toThrow(
        /classifyZeroShot: .*is not an NLI classifier: its labels \(NEGATIVE, POSITIVE\) name no entailment and contradiction/,
      );
    } finally {
      fp32.dispose();
    }
  });
});
