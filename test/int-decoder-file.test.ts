/**
 * .i8t files of integer GPT-2s (CPU only): a random GPT-2 (2 layers x 48 hidden, 3 heads, byte-level
 * BPE of 265 ids) calibrated, planned and written; read back, it is the same program, config,
 * tokenizer and generation settings, and gives the same int32 logits on the CPU interpreter. Damage
 * and inconsistent documents are refused with the problem named; the encoder-only reader refuses a
 * language model. (Encoder and version-1 files: test/int-model-file.test.ts, test/int-model.test.ts.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type Gpt2Sizes, randomGpt2Files } from '../bench/random-gpt2.js';
import { calibrateDecoderCpu } from '../src/calibrate/calibrate-decoder.js';
import { DEFAULT_LM_CALIBRATION } from '../src/calibrate/default-lm-calibration.js';
import { hashingSource, planDecoderModel } from '../src/convert.js';
import type { DecoderModel } from '../src/core/types.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { calibrationDocuments, lmDocuments } from '../src/evaluate-lm.js';
import {
  type IntDecoderFile,
  isDecoderFile,
  readAnyIntModelFile,
  readContainer,
  readIntModelFile,
  writeContainer,
  writeIntModelFile,
} from '../src/format/int-model-file.js';
import { decoderBatch } from '../src/model/decoder.js';
import { loadDecoderTokenizer } from '../src/model/decoder-tokenizer.js';
import { loadDecoderModel } from '../src/model/load.js';
import { memorySource } from '../src/model/sources.js';
import { expectSameDocument } from './cases/same-program.js';
import { SMALL_BERT, syntheticModel } from './synthetic.js';

const SIZES: Gpt2Sizes = { n_embd: 48, n_head: 3, n_layer: 2, n_positions: 40, vocab_size: 265 };
const TEXTS = ['the dog sat on the mat.', 'A man in a red hat is walking.', 'where is the train station?'];

/** A document rewritten through the container (checksums recomputed, as a consistent editor would). */
function rewrite(bytes: Uint8Array, edit: (doc: Record<string, any>) => void): Uint8Array {
  const { doc } = readContainer(bytes);
  edit(doc);
  return writeContainer(doc);
}

describe('.i8t files of integer GPT-2s', () => {
  let model: DecoderModel;
  let file: IntDecoderFile;
  let bytes: Uint8Array;
  let documents: number[][];

  beforeAll(async () => {
    const files = hashingSource(memorySource(randomGpt2Files(3, SIZES), 'folder /tmp/random-gpt2'));
    model = await loadDecoderModel(files);
    const tokenizer = await loadDecoderTokenizer(files, model.config);
    const calibration = DEFAULT_LM_CALIBRATION.slice(0, 16);
    const observer = calibrateDecoderCpu(model, calibrationDocuments(tokenizer, calibration, SIZES.n_positions));
    file = await planDecoderModel(files, model, observer, 'max', calibration.length, { calibration });
    bytes = await writeIntModelFile(file);
    documents = lmDocuments(tokenizer, TEXTS, SIZES.n_positions);
  });

  it('round trip: the same program, config, tokenizer and generation settings, and the same CPU logits', async () => {
    const read = await readAnyIntModelFile(bytes, 'gpt2.i8t');
    expect(isDecoderFile(read)).toBe(true);
    expect(read.kind).toBe('decoder');
    expect(read.program.output.kind).toBe('lm-logits');
    expectSameDocument(read.program, file.program, 'program');
    expect(read.config).toEqual(model.config);
    expect(read.tokenizer).toEqual(file.tokenizer);
    expect(read.tokenizer.config).toMatch(/GPT2Tokenizer/);
    expect(read.generation).toEqual({ bos_token_id: 264, eos_token_id: 264, max_new_tokens: 7 });
    expect(read.provenance).toMatchObject({
      model: { name: 'random-gpt2' },
      calibration: { method: 'max', texts: 16 },
    });
    const batch = decoderBatch(documents, model.config.eosTokenId);
    const before = runIntProgramCpu(file.program, batch).output;
    const after = runIntProgramCpu(read.program, batch).output;
    expect(after).toEqual(before);
    // Not vacuous: the logits vary across tokens and positions.
    expect(new Set(after).size).toBeGreaterThan(100);
  });

  it('the encoder reader refuses a language model, naming the reader that takes it', async () => {
    await expect(readIntModelFile(bytes, 'gpt2.i8t')).rejects.toThrow(
      /gpt2\.i8t: holds a language model \(GPT2LMHeadModel\), not an encoder; read it with readAnyIntModelFile/,
    );
  });

  it('refuses damaged bytes and inconsistent decoder documents, naming the problem', async () => {
    const flipped = bytes.slice();
    flipped[flipped.length >> 1] ^= 1;
    await expect(readAnyIntModelFile(flipped, 'x')).rejects.toThrow(
      /blob \d+ \(program\.[^:]+: .* is damaged: its CRC32C/,
    );
    const cases: [string, (doc: Record<string, any>) => void, RegExp][] = [
      ['unknown config field', (d) => (d.config.labels = []), /config\.labels: unexpected field/],
      ['eos outside the vocabulary', (d) => (d.config.eosTokenId = 265), /config\.eosTokenId = 265 is not valid/],
      ['activation', (d) => (d.config.hiddenAct = 'relu'), /config\.hiddenAct = "relu" is not valid/],
      ['tied flag', (d) => (d.config.tiedEmbeddings = 'yes'), /config\.tiedEmbeddings = "yes" is not valid/],
      ['vocabulary size', (d) => (d.config.vocabSize = 300), /word table has 265 rows; config\.vocabSize is 300/],
      ['positions', (d) => (d.config.maxPositions = 64), /handles 40 positions; config\.maxPositions is 64/],
      [
        // Per-token logits of another kind: a consistent program, but not the one the config names.
        'output kind',
        (d) => {
          d.program.output.kind = 'token-logits';
          delete d.program.output.rescale;
        },
        /the config is a language model's \(GPT2LMHeadModel\); the program is a decoder giving token-logits/,
      ],
      [
        'output kind against the output shape',
        (d) => {
          d.program.output.kind = 'logits';
          delete d.program.output.rescale;
        },
        /output\.tensor: logits "lm_logits" of shape \[/,
      ],
      [
        'attention not causal',
        (d) => {
          for (const o of d.program.ops)
            if (o.kind === 'attention') {
              o.causal = false;
              delete o.cache;
            }
        },
        /attention "layer\.0\.context" is not causal; a language model.s is/,
      ],
      ['kind', (d) => (d.kind = 'encoder'), /kind the string "encoder" differs from the program's "decoder"/],
      ['generation', (d) => (d.generation = [1]), /generation is an array of 1, expected an object/],
      [
        'a residual bound below the proof',
        (d) => (d.program.ops.find((o: any) => o.kind === 'residual').bounds = {}),
        /wide operand .* declare at least/,
      ],
    ];
    for (const [name, edit, message] of cases)
      await expect(readAnyIntModelFile(rewrite(bytes, edit), 'x'), name).rejects.toThrow(message);
  });

  it('an encoder config beside a language-model program is refused', async () => {
    const bert = syntheticModel(SMALL_BERT, 1).config;
    // Every size matching the program's: only the output kind gives it away.
    const mixed = rewrite(
      bytes,
      (d) => (d.config = { ...bert, vocabSize: 265, hiddenSize: 48, maxPositions: 40, typeVocabSize: 0 }),
    );
    await expect(readAnyIntModelFile(mixed, 'x')).rejects.toThrow(/next-token logits; the config is an encoder's/);
  });
});
