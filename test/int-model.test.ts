/**
 * The integer model end to end: the built-in model (no ../shared needed) gives exactly the logits
 * its version-1 file gave before the integer program replaced the encoder plan, GPU logits equal
 * the CPU interpreter bit for bit on real checkpoints, re-converting the built-in checkpoint gives
 * the same program, the model file's round trip, and refusals of damaged files and bad input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CALIBRATION } from '../src/calibrate/default-calibration.js';
import { convertModel } from '../src/convert.js';
import { createFastKernels } from '../src/cpu/fast-kernels.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { parseGlueTsv } from '../src/data/glue.js';
import {
  FORMAT_VERSION,
  type IntModelFile,
  readContainer,
  readIntModelFile,
  writeIntModelFile,
} from '../src/format/int-model-file.js';
import { loadEncoderModel } from '../src/model/load.js';
import { folderSource } from '../src/model/sources-node.js';
import type { EncoderPlan } from '../src/plan/v1-program.js';
import { programFromV1 } from '../src/plan/v1-program.js';
import { validatePlan } from '../src/plan/validate-plan.js';
import { Int8Model } from '../src/session.js';
import { expectSameDocument } from './cases/same-program.js';
import { testGpu } from './gpu.js';

const builtIn = fileURLToPath(new URL('../models/sst2-bert-tiny.i8t', import.meta.url));
const shared = fileURLToPath(new URL('../../shared/', import.meta.url));
const hasShared = existsSync(`${shared}models`) && existsSync(`${shared}data/glue`);

describe('the built-in model', () => {
  let model: Int8Model;
  beforeAll(async () => {
    model = await Int8Model.fromBytes(await testGpu(), new Uint8Array(readFileSync(builtIn)), builtIn);
  });
  afterAll(() => model?.dispose());

  it('classifies clear sentences correctly', async () => {
    const preds = await model.classify([
      'a gorgeous , witty , seductive movie .',
      'the worst film of the year , dull and lifeless .',
      'an utterly charming and hilarious delight',
    ]);
    expect(preds.map((p) => p.label)).toEqual(['POSITIVE', 'NEGATIVE', 'POSITIVE']);
    for (const p of preds) expect(p.score).toBeGreaterThan(0.5);
  });
  it('gives the same logits alone and inside a padded batch', async () => {
    const alone = await model.classify(['short .']);
    const batched = await model.classify([
      'short .',
      'a much longer sentence that forces padding of the short one in this batch .',
    ]);
    expect(batched[0].logits).toEqual(alone[0].logits);
  });
  it('keeps giving the same logits after many lengths and a growth of its buffers', async () => {
    const first = await model.classify(['short .']);
    for (let n = 1; n <= 12; n++) await model.classify([Array.from({ length: n }, () => 'fine').join(' ')]);
    await model.classify([Array.from({ length: 200 }, () => 'fine').join(' ')]);
    expect((await model.classify(['short .']))[0].logits).toEqual(first[0].logits);
  });
  it('creates no pipeline and no bind group for a new length within its capacity', async () => {
    await model.classify(['one two three four five six seven eight nine ten eleven twelve thirteen fourteen']);
    const before = model.encoder.creationCounts();
    for (const n of [2, 5, 9, 11, 3]) await model.classify([Array.from({ length: n }, () => 'fine').join(' ')]);
    expect(model.encoder.creationCounts()).toEqual(before);
  });
  it('refuses an empty list', async () => {
    await expect(model.classify([])).rejects.toThrow(/no input/);
  });
  it("truncates overlong text to the model's positions", async () => {
    const words = (n: number) => Array.from({ length: n }, () => 'good').join(' ');
    // 'good' is one token: 510 of them plus [CLS] and [SEP] fill the 512 positions exactly.
    expect(model.tokenizer.encodeBatch([words(700)]).seqLen).toBe(model.config.maxPositions);
    const [truncated] = await model.classify([words(700)]);
    const [fitting] = await model.classify([words(model.config.maxPositions - 2)]);
    expect(truncated.logits).toEqual(fitting.logits);
  });
  it('refuses a batch whose arrays are not batch x seqLen long, before running it', async () => {
    const batch = model.tokenizer.encodeBatch(['short .', 'a longer one .']);
    const T = batch.batch * batch.seqLen;
    await expect(
      model.encoder.forward({ ...batch, positionIds: batch.positionIds.subarray(0, T - 1) }),
    ).rejects.toThrow(new RegExp(`positionIds has ${T - 1} values, expected batch 2 x seqLen ${batch.seqLen} = ${T}`));
  });
  it('gives, read as version 1, the int32 logits the version-1 reference gave, on the GPU and the CPU', {
    timeout: 300_000,
  }, async () => {
    // Recorded by intEncoderRef (the version-1 CPU reference) before the integer program replaced it.
    const golden = JSON.parse(
      readFileSync(new URL('./fixtures/sst2-bert-tiny-v1-logits.json', import.meta.url), 'utf8'),
    );
    const sentences = DEFAULT_CALIBRATION.slice(0, golden.sentences);
    const got: number[][] = [];
    for (let i = 0; i < sentences.length; i += golden.batch) {
      const batch = model.tokenizer.encodeBatch(sentences.slice(i, i + golden.batch));
      const gpuOut = (await model.encoder.forward(batch)).output;
      const cpuOut = runIntProgramCpu(model.file.program, batch).output;
      expect(Array.from(gpuOut)).toEqual(Array.from(cpuOut));
      for (let b = 0; b < batch.batch; b++) got.push(Array.from(gpuOut.subarray(b * 2, b * 2 + 2)));
    }
    expect(got).toEqual(golden.logits);
  });
  it('is at most 0.27x the float32 checkpoint', () => {
    // sst2-bert-tiny's model.safetensors is 17,549,312 bytes (shared/models/README.md).
    expect(readFileSync(builtIn).length).toBeLessThanOrEqual(0.27 * 17_549_312);
  });
});

describe('integer model files are validated on load', () => {
  const bytes = new Uint8Array(readFileSync(builtIn));
  const header = () => {
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    return JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + view.getUint32(12, true))));
  };
  /** The file with its header replaced (blob offsets stay valid: the data section moves with it). */
  const withHeader = (h: unknown) => {
    const old = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
    const dataStart = Math.ceil((16 + old) / 8) * 8;
    const hb = new TextEncoder().encode(JSON.stringify(h));
    const start = Math.ceil((16 + hb.length) / 8) * 8;
    const out = new Uint8Array(start + bytes.length - dataStart);
    out.set(bytes.subarray(0, 16));
    new DataView(out.buffer).setUint32(12, hb.length, true);
    out.set(hb, 16);
    out.set(bytes.subarray(dataStart), start);
    return out;
  };

  it('reads back what was written', async () => {
    const file = await readIntModelFile(bytes);
    expect(file.config.architecture).toBe('BertForSequenceClassification');
    // Written again, it is a version-2 file holding the program; read back, the same program.
    const written = await writeIntModelFile(file);
    expect(new DataView(written.buffer, written.byteOffset).getUint32(8, true)).toBe(FORMAT_VERSION);
    const again = await readIntModelFile(written);
    expectSameDocument(again.program, file.program, 'program');
    expect(again.tokenizer.json).toBe(file.tokenizer.json);
    expect(again.provenance).toEqual(file.provenance);
  });
  it('reads a Node Buffer (whose slice is a view) as it reads a Uint8Array', async () => {
    const fromBuffer = await readIntModelFile(readFileSync(builtIn));
    expectSameDocument(fromBuffer.program, (await readIntModelFile(bytes)).program, 'program');
  });
  it('refuses files that are not integer models', async () => {
    await expect(readIntModelFile(new Uint8Array(3))).rejects.toThrow(/only 3 bytes/);
    await expect(readIntModelFile(new TextEncoder().encode('{"not": "a model file at all"}'))).rejects.toThrow(
      /bad magic/,
    );
  });
  it('refuses another format version', async () => {
    const b = bytes.slice();
    new DataView(b.buffer).setUint32(8, FORMAT_VERSION + 1, true);
    await expect(readIntModelFile(b)).rejects.toThrow(new RegExp(`format version ${FORMAT_VERSION + 1}`));
  });
  it('refuses truncated files, naming the blob', async () => {
    await expect(readIntModelFile(bytes.subarray(0, 100))).rejects.toThrow(/header length .* exceeds the file/);
    await expect(readIntModelFile(bytes.subarray(0, bytes.length - 1000))).rejects.toThrow(
      /runs past the end of the file \(truncated\?\)/,
    );
  });
  it('refuses a corrupt header', async () => {
    const b = bytes.slice();
    b[20] = 0xff;
    await expect(readIntModelFile(b)).rejects.toThrow(/not valid UTF-8 JSON/);
    const h = header();
    h.blobs[1].offset = h.blobs[0].offset;
    await expect(readIntModelFile(withHeader(h))).rejects.toThrow(/overlap/);
  });
  it('refuses constants outside the overflow proofs', async () => {
    const h = header();
    h.plan.layers[0].query.requant[0].m = 2 ** 31;
    await expect(readIntModelFile(withHeader(h))).rejects.toThrow(/layer 0 query.requant\[0\]: m = 2147483648/);
    const h2 = header();
    h2.plan.layers[1].attentionNorm.shift = 40;
    await expect(readIntModelFile(withHeader(h2))).rejects.toThrow(/attention norm: .*shift = 40/);
    const h3 = header();
    h3.plan.layers[0].softmax.shift = 0;
    await expect(readIntModelFile(withHeader(h3))).rejects.toThrow(
      /integer softmax: sum of 512 exps can reach .* and overflow u32/,
    );
  });
  it('refuses a hidden-state scale that is not a positive finite number', async () => {
    const { doc } = readContainer(bytes);
    const plan = doc.plan as EncoderPlan;
    const config = (await readIntModelFile(bytes)).config;
    expect(() => validatePlan(plan, config)).not.toThrow();
    for (const bad of [0, -0.02, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => validatePlan({ ...plan, hiddenScale: bad }, config)).toThrow(/hiddenScale\b.*(positive|finite)/);
    }
  });
  it('refuses an unsupported or inconsistent config', async () => {
    const h = header();
    h.config.family = 'gpt2';
    await expect(readIntModelFile(withHeader(h))).rejects.toThrow(/config.family = "gpt2"/);
    const h2 = header();
    h2.config.numLayers = 3;
    await expect(readIntModelFile(withHeader(h2))).rejects.toThrow(/2 layers, the config says 3/);
  });
});

describe.skipIf(!hasShared)('GPU integer logits equal the CPU reference on the shared checkpoints (../shared)', () => {
  const dev = hasShared ? parseGlueTsv(readFileSync(`${shared}data/glue/sst2/dev.tsv`, 'utf8')).rows.slice(0, 50) : [];
  // A small calibration set: this checks bit-exactness, not accuracy (bench/accuracy.ts does that).
  const calib = hasShared
    ? parseGlueTsv(readFileSync(`${shared}data/glue/sst2/train_calib1000.tsv`, 'utf8'))
        .rows.slice(0, 16)
        .map((r) => r.input)
    : [];

  // The CPU backend (device 'cpu': the fast kernels, GEMM in WebAssembly SIMD) on every sentence, the
  // reference kernels (the specification, much slower) on the first two: both must equal the GPU.
  for (const name of ['sst2-bert-tiny', 'sst2-distilbert-mini', 'sst2-bert-minilm-l6', 'sst2-distilbert-outlier']) {
    it(`${name}: 50 SST-2 dev sentences, 0 differing logits (CPU backend; reference on 2)`, {
      timeout: 600_000,
    }, async () => {
      const gpu = await testGpu();
      const files = folderSource(`${shared}models/${name}`);
      const model = await loadEncoderModel(files);
      let file: IntModelFile = await convertModel(gpu, files, { calibration: calib, model });
      // Through the file format, as users run it.
      file = await readIntModelFile(await writeIntModelFile(file));
      const int8 = await Int8Model.fromFile(gpu, file);
      const kernels = createFastKernels();
      try {
        let compared = 0;
        let mismatches = 0;
        for (let i = 0; i < dev.length; i += 10) {
          const batch = int8.tokenizer.encodeBatch(dev.slice(i, i + 10).map((r) => r.input));
          const gpuOut = (await int8.encoder.forward(batch)).output;
          const cpuOut = runIntProgramCpu(file.program, batch, { kernels }).output;
          gpuOut.forEach((v, j) => {
            compared++;
            if (v !== cpuOut[j]) mismatches++;
          });
          if (i === 0) {
            const first = int8.tokenizer.encodeBatch(dev.slice(0, 2).map((r) => r.input));
            const gpuFirst = (await int8.encoder.forward(first)).output;
            const refFirst = runIntProgramCpu(file.program, first).output;
            gpuFirst.forEach((v, j) => {
              compared++;
              if (v !== refFirst[j]) mismatches++;
            });
          }
        }
        expect(compared).toBe((dev.length + 2) * 2);
        expect(mismatches).toBe(0);
      } finally {
        int8.dispose();
      }
    });
  }
});

describe.skipIf(!hasShared)('converting the built-in checkpoint again (../shared)', () => {
  it('gives the program of the committed version-1 file, constant for constant', { timeout: 600_000 }, async () => {
    // As `npm run build:default-model` made models/sst2-bert-tiny.i8t: 1000 SST-2 train sentences, percentile-99.99.
    const calib = parseGlueTsv(readFileSync(`${shared}data/glue/sst2/train_calib1000.tsv`, 'utf8')).rows.map(
      (r) => r.input,
    );
    const converted = await convertModel(await testGpu(), folderSource(`${shared}models/sst2-bert-tiny`), {
      calibration: calib,
    });
    const { doc } = readContainer(new Uint8Array(readFileSync(builtIn)));
    expectSameDocument(converted.program, programFromV1(doc.plan as EncoderPlan, converted.config), 'program');
  });
});
