/**
 * .i8t files of integer translation models and `convert` for Marian folders (CPU only). A random
 * MarianMTModel (test/cases/random-marian.ts: 2 + 3 layers x 16 wide, vocab 37, a toy BPE tokenizer)
 * is converted from a few English sentences: the float64 model translates them, the pairs calibrate
 * it, the program is planned. Written and read back, it is the same program (cross-attention over
 * 'source' rows included), config, tokenizer and generation settings, and gives the same int32
 * logits and greedy translations on the CPU interpreter. Damage and inconsistent documents are
 * refused with the problem named; the readers of the other kinds refuse a translation model, naming
 * the one that takes it. With ../shared: multi30k-marian-en-de converted from 16 lines of val.en,
 * its file size against model.safetensors and its greedy translations against float64.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomGpt2Files } from '../bench/random-gpt2.js';
import { calibrateDecoderCpu } from '../src/calibrate/calibrate-decoder.js';
import type { MarianPair } from '../src/calibrate/calibrate-marian.js';
import { DEFAULT_LM_CALIBRATION } from '../src/calibrate/default-lm-calibration.js';
import {
  convertCheckpoint,
  convertModel,
  convertTranslatorModel,
  hashingSource,
  planDecoderModel,
  translatorCalibrationPairs,
} from '../src/convert.js';
import type { MarianModel } from '../src/core/types.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { greedyTranslateIntCpu, runIntProgramCpu } from '../src/cpu/int-program.js';
import { calibrationDocuments } from '../src/evaluate-lm.js';
import {
  type IntTranslatorFile,
  isDecoderFile,
  isTranslatorFile,
  readAnyIntFile,
  readAnyIntModelFile,
  readContainer,
  readIntModelFile,
  readIntTranslatorFile,
  writeContainer,
  writeIntModelFile,
} from '../src/format/int-model-file.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel, loadMarianModel } from '../src/model/load.js';
import { greedyTranslateCpu, loadMarianTokenizer, marianBatches, marianGraph } from '../src/model/marian.js';
import { memorySource } from '../src/model/sources.js';
import { folderSource } from '../src/model/sources-node.js';
import type { IntAttentionOp, IntProgram } from '../src/plan/int-program.js';
import { intTensor } from '../src/plan/int-program.js';
import { EOS, GENERATION, PAD, randomMarianFiles, V } from './cases/random-marian.js';
import { expectSameDocument } from './cases/same-program.js';
import { logitAgreement } from './logit-agreement.js';
import { SMALL_BERT, syntheticModel } from './synthetic.js';

const TEXTS = [
  'the cat sat on the mat.',
  'a man in a hat is eating an orange.',
  'three dogs run into the water.',
  'where is the station?',
  'the bird is on the tree near the river.',
  'two girls are reading at the table.',
];

/** Conversion needs no GPU for a translation model; anything touching this fails loudly. */
const NO_GPU = new Proxy({} as Gpu, {
  get: () => {
    throw new Error('a translation model was converted on the GPU');
  },
});

/** A document rewritten through the container (checksums recomputed, as a consistent editor would). */
function rewrite(bytes: Uint8Array, edit: (doc: Record<string, any>) => void): Uint8Array {
  const { doc } = readContainer(bytes);
  edit(doc);
  return writeContainer(doc);
}

function realLogits(program: IntProgram, acc: Int32Array): Float64Array {
  const vocab = program.output.scale.length;
  return Float64Array.from(acc, (q, i) => q * program.output.scale[i % vocab]);
}

const randomFolder = () => randomMarianFiles(5, { tokenizer: true, describe: 'folder /tmp/random-marian' });

describe('.i8t files of integer translation models, and convert for Marian folders', () => {
  let model: MarianModel;
  let file: IntTranslatorFile;
  let bytes: Uint8Array;
  let pairs: MarianPair[];
  const stages = new Set<string>();

  beforeAll(async () => {
    model = await loadMarianModel(randomFolder());
    const tokenizer = await loadMarianTokenizer(randomFolder(), model.config);
    pairs = translatorCalibrationPairs(model, tokenizer, TEXTS, { maxNewTokens: 12 });
    file = await convertTranslatorModel(randomFolder(), {
      calibration: TEXTS,
      batchSize: 4,
      maxNewTokens: 12,
      onProgress: (stage) => stages.add(stage),
    });
    bytes = await writeIntModelFile(file);
  });

  it('calibration pairs from source text alone: each sentence with the float model greedy translation as decoder inputs', async () => {
    const tokenizer = await loadMarianTokenizer(randomFolder(), model.config);
    expect(pairs).toHaveLength(TEXTS.length);
    pairs.forEach((p, i) => {
      expect(p.source).toEqual(tokenizer.encodeSource(TEXTS[i]));
      const n = p.source.length;
      const translation = greedyTranslateCpu(model, p.source, { maxNewTokens: Math.min(2 * n + 10, 12) });
      // decoder_start, then every generated token but the last (never fed back)
      expect(p.target).toEqual([PAD, ...translation.slice(0, -1)]);
    });
    // Blank lines are skipped; the cap is refused when it is no count.
    expect(translatorCalibrationPairs(model, tokenizer, ['', '  ', TEXTS[0]], { maxNewTokens: 12 })).toEqual([
      pairs[0],
    ]);
    expect(() => translatorCalibrationPairs(model, tokenizer, TEXTS, { maxNewTokens: 0 })).toThrow(
      /maxNewTokens = 0 must be a positive integer/,
    );
  });

  it('convert: an encoder-decoder program, the generation settings and what the calibration was, in the provenance', () => {
    expect([...stages]).toEqual(['loading', 'translating', 'calibrating']);
    expect(file.kind).toBe('encoder-decoder');
    expect(file.program.kind).toBe('encoder-decoder');
    expect(file.program.output.kind).toBe('lm-logits');
    expect(file.config).toEqual(model.config);
    expect(file.generation).toEqual(GENERATION);
    expect(file.provenance).toMatchObject({
      model: { name: 'random-marian', sha256: { 'config.json': expect.stringMatching(/^[0-9a-f]{64}$/) } },
      calibration: {
        method: 'max',
        texts: TEXTS.length,
        batchSize: 4,
        targets: { from: 'float64 greedy translations', maxNewTokens: 12 },
      },
      converter: 'int8-transformer',
    });
  });

  it('the converted program tracks the float64 model on its calibration pairs (stated bound)', () => {
    const graph = marianGraph(model.config);
    const b = marianBatches(
      model.config,
      pairs.map((p) => p.source),
      pairs.map((p) => p.target),
    );
    const float = runFloatGraphCpu(graph, model.params, b.target, { source: b.source }).logits!;
    const int = realLogits(file.program, runIntProgramCpu(file.program, b.target, { source: b.source }).output);
    const { relative, agree, rows } = logitAgreement(
      float,
      int,
      pairs.map((p) => p.target),
      b.target.seqLen,
      V,
    );
    console.log(`converted random Marian: RMS logit error / RMS logit ${relative.toFixed(4)}; argmax ${agree}/${rows}`);
    // The bound of test/int-marian-encdec.test.ts on this random model: int8 noise is ~10%; a
    // calibration that missed the decoder's tensors (ranges of nothing) is O(1).
    expect(relative).toBeLessThanOrEqual(0.15);
    expect(agree / rows).toBeGreaterThanOrEqual(0.8);
  });

  it('round trip: the same program, config, tokenizer, generation settings and provenance, the same logits and translations', async () => {
    const read = await readAnyIntFile(bytes, 'marian.i8t');
    expect(isTranslatorFile(read)).toBe(true);
    expect(isDecoderFile(read)).toBe(false);
    if (!isTranslatorFile(read)) return;
    expect(read.kind).toBe('encoder-decoder');
    expectSameDocument(read.program, file.program, 'program');
    expect(read.config).toEqual(file.config);
    expect(read.tokenizer).toEqual(file.tokenizer);
    expect(read.tokenizer.config).toMatch(/PreTrainedTokenizerFast/);
    expect(read.generation).toEqual(GENERATION);
    expect(read.provenance).toEqual(file.provenance);
    expect(await readIntTranslatorFile(bytes, 'marian.i8t')).toEqual(read);
    // Not vacuous: what is particular to an encoder-decoder came back.
    const cross = read.program.ops.filter(
      (o): o is IntAttentionOp =>
        o.kind === 'attention' &&
        intTensor(read.program, o.q.tensor).shape[1] === 'query' &&
        intTensor(read.program, o.k.tensor).shape[1] === 'source',
    );
    expect(cross).toHaveLength(3);
    expect(intTensor(read.program, 'encoder.layer.1.output_norm').shape).toEqual(['batch', 'source', 16]);
    // Sources and targets of different lengths, both padded in the batch.
    const some = [pairs[1], pairs[3], pairs[4]];
    const b = marianBatches(
      model.config,
      some.map((p) => p.source),
      some.map((p) => p.target),
    );
    const before = runIntProgramCpu(file.program, b.target, { source: b.source }).output;
    const after = runIntProgramCpu(read.program, b.target, { source: b.source }).output;
    expect(after).toEqual(before);
    expect(new Set(after).size).toBeGreaterThan(100);
    for (const p of pairs.slice(0, 3)) {
      const mine = greedyTranslateIntCpu(read.program, read.config, p.source, { maxNewTokens: 10 });
      expect(mine).toEqual(greedyTranslateIntCpu(file.program, file.config, p.source, { maxNewTokens: 10 }));
      expect(mine.at(-1)).toBe(EOS);
    }
  });

  it('the readers of the other kinds refuse a translation model, naming the reader that takes it', async () => {
    await expect(readAnyIntModelFile(bytes, 'marian.i8t')).rejects.toThrow(
      /marian\.i8t: holds a translation model \(MarianMTModel\), not an encoder or a language model; read it with readAnyIntFile or readIntTranslatorFile/,
    );
    await expect(readIntModelFile(bytes, 'marian.i8t')).rejects.toThrow(/holds a translation model/);
    const builtIn = fileURLToPath(new URL('../models/sst2-bert-tiny.i8t', import.meta.url));
    await expect(readIntTranslatorFile(new Uint8Array(readFileSync(builtIn)), 'bert.i8t')).rejects.toThrow(
      /bert\.i8t: holds an encoder \(BertForSequenceClassification\), not a translation model; read it with readAnyIntModelFile/,
    );
  });

  it('refuses damaged bytes and inconsistent translation documents, naming the problem', async () => {
    // A byte of the data section (this small model's header, its constants, is most of the file).
    const flipped = bytes.slice();
    const dataStart = Math.ceil((20 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true)) / 8) * 8;
    flipped[dataStart + ((bytes.length - dataStart) >> 1)] ^= 1;
    await expect(readAnyIntFile(flipped, 'x')).rejects.toThrow(/blob \d+ \(program\.[^:]+: .* is damaged: its CRC32C/);
    const decoderSelf = (d: Record<string, any>) =>
      d.program.ops.filter((o: any) => o.kind === 'attention' && o.out.startsWith('decoder.') && o.causal);
    const cases: [string, (doc: Record<string, any>) => void, RegExp][] = [
      ['unknown config field', (d) => (d.config.labels = []), /config\.labels: unexpected field/],
      [
        'start id outside the vocabulary',
        (d) => (d.config.decoderStartTokenId = 37),
        /config\.decoderStartTokenId = 37 is not valid \(vocabSize 37\)/,
      ],
      ['forced eos', (d) => (d.config.forcedEosTokenId = -1), /config\.forcedEosTokenId = -1 is not valid/],
      ['activation', (d) => (d.config.activation = 'tanh'), /config\.activation = "tanh" is not valid/],
      ['heads', (d) => (d.config.encoderHeads = 3), /config\.encoderHeads = 3 is not valid \(hiddenSize 16/],
      ['scale flag', (d) => (d.config.scaleEmbedding = 1), /config\.scaleEmbedding = 1 is not valid/],
      ['vocabulary size', (d) => (d.config.vocabSize = 40), /gives 37 logits per token; config\.vocabSize is 40/],
      ['positions', (d) => (d.config.maxPositions = 64), /handles 40 positions; config\.maxPositions is 64/],
      [
        'encoder heads',
        (d) => (d.config.encoderHeads = 4),
        /encoder self-attention "encoder\.layer\.0\.context" has 2 heads of 8; config\.encoderHeads is 4/,
      ],
      [
        'decoder heads',
        (d) => (d.config.decoderHeads = 2),
        /decoder self-attention "decoder\.layer\.0\.context" has 4 heads of 4; config\.decoderHeads is 2/,
      ],
      [
        'decoder depth',
        (d) => (d.config.decoderLayers = 2),
        /3 decoder self-attention ops; config\.decoderLayers is 2/,
      ],
      [
        'encoder depth',
        (d) => (d.config.encoderLayers = 3),
        /2 encoder self-attention ops; config\.encoderLayers is 3/,
      ],
      ['FFN width', (d) => (d.config.encoderFfnSize = 32), /gives 24 channels; config\.encoderFfnSize is 32/],
      [
        'FFN activation',
        (d) => (d.config.activation = 'gelu'),
        /applies silu-i8; config\.activation gelu needs gelu-i8/,
      ],
      [
        'program kind',
        (d) => (d.program.kind = 'decoder'),
        /the config is a translation model's \(MarianMTModel\); the program is a decoder giving lm-logits/,
      ],
      [
        'self-attention not causal',
        (d) => {
          for (const o of decoderSelf(d)) {
            o.causal = false;
            delete o.cache;
          }
        },
        /decoder self-attention "decoder\.layer\.0\.context" is not causal; a translation model's is/,
      ],
      ['kind', (d) => (d.kind = 'decoder'), /kind the string "decoder" differs from the program's "encoder-decoder"/],
      ['generation', (d) => (d.generation = [1]), /generation is an array of 1, expected an object/],
      [
        'a banned word outside the vocabulary',
        (d) => (d.generation.bad_words_ids = [[36], [5, 37]]),
        /generation\.bad_words_ids\[1\]\[1\] = 37 is not a token id of the vocabulary of 37/,
      ],
      ['banned words', (d) => (d.generation.bad_words_ids = [[]]), /generation\.bad_words_ids\[0\] is an array of 0/],
      [
        'eos list',
        (d) => (d.generation.eos_token_id = [0, 1.5]),
        /generation\.eos_token_id\[1\] = 1\.5 is not a token id/,
      ],
      ['start id', (d) => (d.generation.decoder_start_token_id = 99), /generation\.decoder_start_token_id = 99/],
      ['length', (d) => (d.generation.max_length = 0), /generation\.max_length = 0 is not a positive integer/],
      [
        'cross-attention reading the decoder stream',
        (d) => {
          const op = d.program.ops.find((o: any) => o.kind === 'attention' && o.out.endsWith('.cross_context'));
          op.k = { ...op.q };
        },
        /must have the same rows/,
      ],
    ];
    for (const [name, edit, message] of cases)
      await expect(readAnyIntFile(rewrite(bytes, edit), 'x'), name).rejects.toThrow(message);
    // Nothing but the edit: the same document rewritten reads back.
    await expect(
      readAnyIntFile(
        rewrite(bytes, () => {}),
        'x',
      ),
    ).resolves.toMatchObject({ kind: 'encoder-decoder' });
  });

  it('an encoder config beside a translation program, and a translation config beside a GPT-2 program, are refused', async () => {
    const bert = syntheticModel(SMALL_BERT, 1).config;
    const mixed = rewrite(
      bytes,
      (d) => (d.config = { ...bert, vocabSize: V, hiddenSize: 16, numHeads: 2, maxPositions: 40, typeVocabSize: 0 }),
    );
    await expect(readAnyIntFile(mixed, 'x')).rejects.toThrow(/next-token logits; the config is an encoder's/);
    const gpt2Sizes = { n_embd: 48, n_head: 3, n_layer: 1, n_positions: 40, vocab_size: 265 };
    const files = hashingSource(memorySource(randomGpt2Files(3, gpt2Sizes), 'folder /tmp/random-gpt2'));
    const gpt2 = await loadDecoderModel(files);
    const tokenizer = await loadDecoderTokenizer(files, gpt2.config);
    const texts = DEFAULT_LM_CALIBRATION.slice(0, 4);
    const observer = calibrateDecoderCpu(gpt2, calibrationDocuments(tokenizer, texts, 40));
    const gpt2Bytes = await writeIntModelFile(await planDecoderModel(files, gpt2, observer, 'max', texts.length));
    const config = { ...model.config, vocabSize: 265, hiddenSize: 48, decoderHeads: 3, encoderHeads: 3 };
    await expect(
      readAnyIntFile(
        rewrite(gpt2Bytes, (d) => (d.config = config)),
        'x',
      ),
    ).rejects.toThrow(
      /the config is a translation model's \(MarianMTModel\); the program is a decoder giving lm-logits/,
    );
    await expect(readIntTranslatorFile(gpt2Bytes, 'gpt2.i8t')).rejects.toThrow(
      /gpt2\.i8t: holds a language model \(GPT2LMHeadModel\), not a translation model/,
    );
  });

  it('convertCheckpoint dispatches a Marian folder without a GPU; convertModel refuses it, naming the converters', async () => {
    const viaCheckpoint = await convertCheckpoint(NO_GPU, randomFolder(), {
      translator: { calibration: TEXTS, batchSize: 4, maxNewTokens: 12 },
    });
    expect(viaCheckpoint.kind).toBe('encoder-decoder');
    expectSameDocument(viaCheckpoint.program, file.program, 'program');
    await expect(convertModel(NO_GPU, randomFolder(), { calibration: TEXTS })).rejects.toThrow(
      /random-marian is a translation model \(encoder-decoder\); convert it with convertCheckpoint or convertTranslatorModel/,
    );
  });

  it('convert refuses a folder without tokenizer.json, and calibration text without a sentence', async () => {
    await expect(convertTranslatorModel(randomMarianFiles(5), { calibration: TEXTS })).rejects.toThrow(
      /random-marian: tokenizer\.json not found/,
    );
    await expect(convertTranslatorModel(randomFolder(), { calibration: ['', ' '] })).rejects.toThrow(
      /the calibration text has no non-blank line/,
    );
  });
});

// ---- the shared multi30k Marian ------------------------------------------------------------------

const SHARED = new URL('../../shared/', import.meta.url);
const sharedPath = (p: string) => fileURLToPath(new URL(p, SHARED));
const MODEL = sharedPath('models/multi30k-marian-en-de');
const VAL_EN = sharedPath('data/multi30k/val.en');
const TEST_EN = sharedPath('data/multi30k/test_2016_flickr.en');

const readLines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);

describe.skipIf(!existsSync(`${MODEL}/model.safetensors`) || !existsSync(VAL_EN) || !existsSync(TEST_EN))(
  'multi30k-marian-en-de converted from 16 lines of val.en (source text only)',
  () => {
    let file: IntTranslatorFile;
    let bytes: Uint8Array;
    let model: MarianModel;

    beforeAll(async () => {
      const files = folderSource(MODEL);
      model = await loadMarianModel(files);
      const t0 = performance.now();
      // 16 sentences keep the suite's time down; the built-in file (models/) is calibrated on 256.
      file = await convertTranslatorModel(files, { calibration: readLines(VAL_EN).slice(0, 16), model });
      const seconds = (performance.now() - t0) / 1000;
      bytes = await writeIntModelFile(file);
      console.log(`multi30k-marian-en-de: converted from 16 val.en sentences in ${seconds.toFixed(1)} s`);
    }, 900_000);

    it('the .i8t file: a fraction of model.safetensors, read back to the same program', async () => {
      const float = statSync(`${MODEL}/model.safetensors`).size;
      const ratio = bytes.length / float;
      console.log(
        `multi30k-marian-en-de.i8t: ${(bytes.length / 1e6).toFixed(2)} MB / ${(float / 1e6).toFixed(2)} MB = ${ratio.toFixed(3)}x`,
      );
      // Measured 13.30 MB / 30.36 MB = 0.438x: int8 weights are a quarter of float32 (7.6 MB), but the
      // shared 8000 x 256 embedding is stored three times (encoder and decoder word tables, LM head:
      // 2 MB each), and the JSON constants (per-channel requant dyadics) take 0.8 MB. One more copy
      // of a 2 MB table, or weights wider than int8, passes the bound.
      expect(ratio).toBeLessThan(0.47);
      const read = await readIntTranslatorFile(bytes, 'multi30k.i8t');
      // Written again, byte for byte the same file: the program read back is the one written (a deep
      // toEqual over its 10 million int8 values takes minutes).
      const again = await writeIntModelFile(read);
      expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
      expect(read.generation).toMatchObject({ bad_words_ids: [[7999]], max_length: 256 });
    });

    it('greedy translations of the integer file agree with float64 greedy on most test sentences', async () => {
      const read = await readIntTranslatorFile(bytes, 'multi30k.i8t');
      const tokenizer = await loadMarianTokenizer(folderSource(MODEL), model.config);
      const graph = marianGraph(model.config);
      const sentences = readLines(TEST_EN).slice(0, 5);
      let same = 0;
      const lines: string[] = [];
      for (const en of sentences) {
        const source = tokenizer.encodeSource(en);
        const float = greedyTranslateCpu(model, source, { maxNewTokens: 40, graph });
        const int = greedyTranslateIntCpu(read.program, read.config, source, { maxNewTokens: 40 });
        if (float.join() === int.join()) same++;
        lines.push(
          `  int8: ${tokenizer.decode(int, { skipSpecialTokens: true })}\n  fp64: ${tokenizer.decode(float, { skipSpecialTokens: true })}`,
        );
      }
      console.log(`multi30k-marian-en-de greedy: INT8 file == float64 on ${same}/5 sentences\n${lines.join('\n')}`);
      // A wrong calibration of the decoder (ranges from no translations, or from the wrong stream)
      // breaks most translations; int8 noise parts one at a near-tie now and then.
      expect(same).toBeGreaterThanOrEqual(4);
    });
  },
);
