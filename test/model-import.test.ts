import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EncoderConfig, EncoderModel } from '../src/core/types.js';
import { parseConfig } from '../src/model/config.js';
import { loadEncoderModel } from '../src/model/load.js';
import { f16ToNumber, parseSafetensors, type SafetensorsFile } from '../src/model/safetensors.js';
import { fileListSource, type ModelFiles, urlSource } from '../src/model/sources.js';
import { folderSource } from '../src/model/sources-node.js';
import { createEncoderTokenizer, type EncoderTokenizer, loadTokenizer } from '../src/model/tokenizer.js';
import { mapWeights } from '../src/model/weights.js';

const MODELS = fileURLToPath(new URL('../../shared/models/', import.meta.url));
const haveModels = existsSync(`${MODELS}sst2-bert-tiny/model.safetensors`);
const skipReason = `shared models not found at ${MODELS} (a fresh clone has no ../shared)`;
if (!haveModels) console.warn(`model-import: skipping real-checkpoint tests: ${skipReason}`);

// ---- synthetic safetensors -------------------------------------------------------------------

interface Entry {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Writes a well-formed file (header padded with spaces to 8 bytes, as the reference writer does). */
function writeSafetensors(entries: Record<string, Entry>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, e] of Object.entries(entries)) {
    header[name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  return assemble(
    json,
    Object.values(entries).map((e) => e.bytes),
  );
}

/** Raw file from a header object (any content, even invalid) and data bytes. */
function rawFile(header: unknown, data: Uint8Array | number, headerLen?: bigint): Uint8Array {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  return assemble(json, [typeof data === 'number' ? new Uint8Array(data) : data], headerLen);
}

function assemble(json: string, parts: Uint8Array[], headerLen?: bigint): Uint8Array {
  const head = new TextEncoder().encode(json);
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(8 + head.length + size);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const f32 = (shape: number[], values?: number[]): Entry => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => values?.[i] ?? ((i * 7) % 11) / 8 - 0.5);
  return { dtype: 'F32', shape, bytes: new Uint8Array(data.buffer) };
};
const u16 = (dtype: string, bits: number[]): Entry => {
  const b = new Uint8Array(bits.length * 2);
  bits.forEach((v, i) => new DataView(b.buffer).setUint16(2 * i, v, true));
  return { dtype, shape: [bits.length], bytes: b };
};

/** Tensors of a BERT-style encoder (BERT or RoBERTa names) for a small config. */
function bertTensors(cfg: EncoderConfig, prefix: string, norm: [string, string] = ['weight', 'bias']) {
  const { hiddenSize: h, intermediateSize: f } = cfg;
  const t: Record<string, Entry> = {};
  const lin = (name: string, out: number, inp: number) => {
    t[`${name}.weight`] = f32([out, inp]);
    t[`${name}.bias`] = f32([out]);
  };
  const ln = (name: string) => {
    t[`${name}.${norm[0]}`] = f32([h]);
    t[`${name}.${norm[1]}`] = f32([h]);
  };
  t[`${prefix}embeddings.word_embeddings.weight`] = f32([cfg.vocabSize, h]);
  t[`${prefix}embeddings.position_embeddings.weight`] = f32([cfg.maxPositions, h]);
  t[`${prefix}embeddings.token_type_embeddings.weight`] = f32([cfg.typeVocabSize, h]);
  ln(`${prefix}embeddings.LayerNorm`);
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `${prefix}encoder.layer.${i}`;
    for (const q of ['query', 'key', 'value']) lin(`${p}.attention.self.${q}`, h, h);
    lin(`${p}.attention.output.dense`, h, h);
    ln(`${p}.attention.output.LayerNorm`);
    lin(`${p}.intermediate.dense`, f, h);
    lin(`${p}.output.dense`, h, f);
    ln(`${p}.output.LayerNorm`);
  }
  return { t, lin };
}

/** A source over in-memory files, standing in for a server or a dropped folder. */
function memorySource(files: Record<string, Uint8Array | string>): ModelFiles {
  const bytes = (v: Uint8Array | string) => (typeof v === 'string' ? new TextEncoder().encode(v) : v);
  return {
    describe: 'memory',
    has: async (name) => name in files,
    read: async (name) => {
      if (!(name in files)) throw new Error(`no ${name}`);
      return bytes(files[name]);
    },
  };
}

// ---- the shared checkpoints ------------------------------------------------------------------

describe.skipIf(!haveModels)(`shared checkpoints (skipped when ${skipReason})`, () => {
  const models: Record<string, EncoderModel> = {};
  const files = (name: string) => folderSource(`${MODELS}${name}`);
  beforeAll(async () => {
    for (const name of ['sst2-bert-tiny', 'sst2-distilbert-mini', 'sst2-bert-minilm-l6']) {
      models[name] = await loadEncoderModel(files(name));
    }
  }, 60_000);

  const value = (data: Float32Array, i: number) => data[i];
  const sum = (data: Float32Array) => data.reduce((s, v) => s + v, 0);

  it('bert-tiny: config, shapes, weights (values read with numpy)', () => {
    const { config, weights } = models['sst2-bert-tiny'];
    expect(config).toEqual({
      architecture: 'BertForSequenceClassification',
      family: 'bert',
      task: 'sequence-classification',
      hiddenSize: 128,
      numLayers: 2,
      numHeads: 2,
      intermediateSize: 512,
      vocabSize: 30522,
      maxPositions: 512,
      typeVocabSize: 2,
      layerNormEps: 1e-12,
      hiddenAct: 'gelu',
      padTokenId: 0,
      positionOffset: 0,
      labels: ['NEGATIVE', 'POSITIVE'],
    });
    expect(weights.wordEmbeddings.shape).toEqual([30522, 128]);
    expect(weights.tokenTypeEmbeddings!.shape).toEqual([2, 128]);
    expect(weights.layers).toHaveLength(2);
    expect(weights.layers[1].intermediate.weight.shape).toEqual([512, 128]);
    expect(weights.layers[1].output.weight.shape).toEqual([128, 512]);
    const hello = 7592 * 128;
    expect(Array.from(weights.wordEmbeddings.data.subarray(hello, hello + 3))).toEqual([
      -0.004487429745495319, -0.024688951671123505, 0.012063678354024887,
    ]);
    const q = weights.layers[1].query.weight.data;
    expect([value(q, 0), value(q, 1), value(q, 16383)]).toEqual([
      -0.009832092560827732, 0.03567388281226158, -0.016314970329403877,
    ]);
    expect(sum(q)).toBeCloseTo(6.659274653976354, 9);
    expect(sum(weights.wordEmbeddings.data)).toBeCloseTo(16.11905411660483, 7);
    expect(weights.head!.activation).toBe('tanh');
    expect(Array.from(weights.head!.output.bias.data)).toEqual([-0.030677983537316322, 0.030677983537316322]);
    expect(value(weights.head!.dense!.bias.data, 127)).toBe(-0.011788337491452694);
  });

  it('distilbert-mini: DistilBERT names, no token types, pre_classifier + ReLU', () => {
    const { config, weights } = models['sst2-distilbert-mini'];
    expect(config).toMatchObject({
      architecture: 'DistilBertForSequenceClassification',
      family: 'distilbert',
      hiddenSize: 256,
      numLayers: 4,
      numHeads: 4,
      intermediateSize: 1024,
      typeVocabSize: 0,
      layerNormEps: 1e-12,
      positionOffset: 0,
    });
    expect(weights.tokenTypeEmbeddings).toBeUndefined();
    expect(weights.layers).toHaveLength(4);
    const hello = 7592 * 256;
    expect(Array.from(weights.wordEmbeddings.data.subarray(hello, hello + 3))).toEqual([
      0.008720310404896736, 0.01921607181429863, 0.03744591400027275,
    ]);
    const w = weights.layers[3].output.weight;
    expect(w.shape).toEqual([256, 1024]);
    expect([w.data[0], w.data[1], w.data[262143]]).toEqual([
      -0.0013328902423381805, -0.019096018746495247, 0.016728488728404045,
    ]);
    expect(sum(w.data)).toBeCloseTo(39.35453050456647, 8);
    expect(weights.head!.activation).toBe('relu');
    expect(weights.head!.dense!.bias.data[255]).toBe(0.005100523121654987);
  });

  it('minilm-l6: F16 weights converted exactly, subnormals included', () => {
    const { config, weights } = models['sst2-bert-minilm-l6'];
    expect(config).toMatchObject({ hiddenSize: 384, numLayers: 6, numHeads: 12, intermediateSize: 1536 });
    const e = weights.wordEmbeddings.data;
    expect(Array.from(e.subarray(7592 * 384, 7592 * 384 + 3))).toEqual([
      0.003971099853515625, -0.01190948486328125, 0.0360107421875,
    ]);
    // Elements 1333, 1559, 1747 are F16 subnormals (0x02c8, 0x8291, 0x80d3).
    expect([e[1333], e[1559], e[1747]]).toEqual([4.2438507080078125e-5, -3.916025161743164e-5, -1.2576580047607422e-5]);
    expect(sum(e)).toBeCloseTo(30.596632480621338, 7);
    const w = weights.layers[5].output.weight.data;
    expect([w[0], w[1], w[589823]]).toEqual([-0.01461029052734375, 0.0006308555603027344, -0.01001739501953125]);
    expect(sum(weights.embeddingNorm.gamma.data)).toBe(383.27001953125);
    expect(Array.from(weights.head!.output.bias.data)).toEqual([-0.0070037841796875, 0.0070037841796875]);
  });

  it('safetensors metadata and lazy per-tensor access', () => {
    const file = parseSafetensors(new Uint8Array(readFileSync(`${MODELS}sst2-bert-tiny/model.safetensors`)));
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.names()).toContain('classifier.weight');
    expect(file.info('classifier.weight')).toMatchObject({ dtype: 'F32', shape: [2, 128] });
    expect(() => file.tensor('nope')).toThrow(/no tensor named "nope"/);
  });

  describe('tokenizer (bert-base-uncased vocabulary)', () => {
    let tok: EncoderTokenizer;
    beforeAll(async () => {
      tok = await loadTokenizer(files('sst2-bert-tiny'), models['sst2-bert-tiny'].config);
    });
    const ids = (b: { inputIds: Int32Array }) => Array.from(b.inputIds);

    it('encodes single sentences with [CLS] ... [SEP]', () => {
      expect(ids(tok.encodeBatch(['hello world']))).toEqual([101, 7592, 2088, 102]);
      // Lower-casing and accent stripping come from the tokenizer's normalizer.
      expect(ids(tok.encodeBatch(['Héllo, WORLD!!']))).toEqual([101, 7592, 1010, 2088, 999, 999, 102]);
    });

    it('encodes pairs with token types and pads the batch to its longest row', () => {
      const b = tok.encodeBatch(['hello world', ['the movie was great', 'i loved it']]);
      expect([b.batch, b.seqLen]).toEqual([2, 10]);
      expect(ids(b)).toEqual([
        101, 7592, 2088, 102, 0, 0, 0, 0, 0, 0, 101, 1996, 3185, 2001, 2307, 102, 1045, 3866, 2009, 102,
      ]);
      expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
      expect(Array.from(b.tokenTypeIds)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
      expect(Array.from(b.positionIds)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('agrees with the library encode() on untruncated inputs', () => {
      const sentences = [
        "it 's a charming and often affecting journey . ",
        'unflinchingly bleak and desperate ',
        "the acting , costumes , music , cinematography and sound are all astounding given the production 's austere locales .",
      ];
      for (const s of sentences) expect(ids(tok.encodeBatch([s]))).toEqual(tok.tokenizer.encode(s).ids);
      const lib = tok.tokenizer.encode(sentences[0], { text_pair: sentences[1], return_token_type_ids: true });
      const b = tok.encodeBatch([[sentences[0], sentences[1]]]);
      expect(ids(b)).toEqual(lib.ids);
      expect(Array.from(b.tokenTypeIds)).toEqual(lib.token_type_ids);
    });

    it('truncates to maxLength by default, longest text first for pairs', () => {
      const ten = 'one two three four five six seven eight nine ten';
      expect(ids(tok.encodeBatch([ten], { maxLength: 8 }))).toEqual([101, 2028, 2048, 2093, 2176, 2274, 2416, 102]);
      const b = tok.encodeBatch([['one two three four five six', 'a b c']], { maxLength: 9 });
      expect(ids(b)).toEqual([101, 2028, 2048, 2093, 102, 1037, 1038, 1039, 102]);
      expect(Array.from(b.tokenTypeIds)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1]);
      // The default limit is the model's 512 positions.
      const long = tok.encodeBatch([Array(600).fill('movie').join(' ')]);
      expect(long.seqLen).toBe(512);
      expect(long.inputIds[511]).toBe(102);
    });

    it('refuses overlong text with overlong: error; text without tokens is the empty sequence, as in transformers', () => {
      const ten = 'one two three four five six seven eight nine ten';
      expect(() => tok.encodeBatch([ten], { maxLength: 8, overlong: 'error' })).toThrow(/12 tokens.*maxLength 8/);
      expect(ids(tok.encodeBatch(['   \n\t']))).toEqual([101, 102]);
      expect(ids(tok.encodeBatch([['fine', '']]))).toEqual([101, 2986, 102, 102]);
      expect(() => tok.encodeBatch(['x'], { maxLength: 513 })).toThrow(/maxLength 513 must be an integer in 1\.\.512/);
      expect(() => tok.encodeBatch([])).toThrow(/no inputs/);
    });

    it('DistilBERT: all token types 0 (the model has no token-type table)', async () => {
      const d = await loadTokenizer(files('sst2-distilbert-mini'), models['sst2-distilbert-mini'].config);
      const b = d.encodeBatch([['the movie was great', 'i loved it']]);
      expect(ids(b)).toEqual([101, 1996, 3185, 2001, 2307, 102, 1045, 3866, 2009, 102]);
      expect(Array.from(b.tokenTypeIds).every((t) => t === 0)).toBe(true);
    });

    it('RoBERTa-style post-processor: pairs get a double separator, positions from padding_idx + 1', () => {
      const json = JSON.parse(readFileSync(`${MODELS}sst2-bert-tiny/tokenizer.json`, 'utf8'));
      json.post_processor = {
        type: 'RobertaProcessing',
        sep: ['[SEP]', 102],
        cls: ['[CLS]', 101],
        trim_offsets: true,
        add_prefix_space: false,
      };
      const config = parseConfig({
        architectures: ['RobertaForSequenceClassification'],
        hidden_size: 8,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        intermediate_size: 12,
        vocab_size: 30522,
        max_position_embeddings: 514,
        type_vocab_size: 1,
        hidden_act: 'gelu',
        pad_token_id: 1,
      });
      // "[unused0]" is id 1 in this vocabulary: it plays RoBERTa's <pad>.
      const r = createEncoderTokenizer(
        new Tokenizer(json, { pad_token: '[unused0]' }),
        { pad_token: '[unused0]' },
        config,
      );
      expect(r.maxLength).toBe(512);
      const b = r.encodeBatch(['hello world', ['hello', 'world']]);
      expect(ids(b)).toEqual([101, 7592, 2088, 102, 1, 1, 101, 7592, 102, 102, 2088, 102]);
      expect(Array.from(b.tokenTypeIds)).toEqual(new Array(12).fill(0));
      expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
      expect(Array.from(b.positionIds)).toEqual([2, 3, 4, 5, 1, 1, 2, 3, 4, 5, 6, 7]);
      expect(() => createEncoderTokenizer(new Tokenizer(json, {}), { pad_token: '[PAD]' }, config)).toThrow(
        /pad token "\[PAD\]" has id 0 but config.json says pad_token_id 1/,
      );
    });
  });

  it('loads through urlSource (fetch) and fileListSource (browser File objects) alike', async () => {
    const dir = `${MODELS}sst2-bert-tiny/`;
    const fakeFetch = async (url: string, init?: RequestInit) => {
      const name = decodeURIComponent(url.slice('https://hub.test/m/'.length));
      if (!existsSync(dir + name)) return new Response('not found', { status: 404, statusText: 'Not Found' });
      return new Response(init?.method === 'HEAD' ? null : readFileSync(dir + name));
    };
    const viaUrl = await loadEncoderModel(urlSource('https://hub.test/m', { fetch: fakeFetch }));
    expect(viaUrl.config).toEqual(models['sst2-bert-tiny'].config);
    expect(viaUrl.weights.layers[1].query.weight.data).toEqual(
      models['sst2-bert-tiny'].weights.layers[1].query.weight.data,
    );

    const list = ['config.json', 'model.safetensors', 'tokenizer.json'].map(
      (n) => new File([readFileSync(dir + n)], n),
    );
    const viaFiles = await loadEncoderModel(fileListSource(list));
    expect(viaFiles.weights.head!.output.bias.data).toEqual(models['sst2-bert-tiny'].weights.head!.output.bias.data);
  });

  it('names a missing tensor and a shape that disagrees with config.json', () => {
    const file = parseSafetensors(new Uint8Array(readFileSync(`${MODELS}sst2-bert-tiny/model.safetensors`)));
    const gone = 'bert.encoder.layer.1.attention.self.key.weight';
    const hidden: SafetensorsFile = { ...file, has: (n) => n !== gone && file.has(n) };
    const config = models['sst2-bert-tiny'].config;
    expect(() => mapWeights(hidden, config)).toThrow(
      /missing 1 tensor\(s\) required by BertForSequenceClassification: bert\.encoder\.layer\.1\.attention\.self\.key\.weight/,
    );
    expect(() => mapWeights(file, { ...config, intermediateSize: 500 })).toThrow(
      /"bert\.encoder\.layer\.0\.intermediate\.dense\.weight" has shape \[512, 128\], expected \[500, 128\]/,
    );
    expect(() => mapWeights(file, { ...config, labels: ['a', 'b', 'c'] })).toThrow(
      /"classifier\.weight" has shape \[2, 128\], expected \[3, 128\]/,
    );
    expect(() => mapWeights(file, { ...config, family: 'distilbert' })).toThrow(
      /missing tensor "distilbert\.embeddings.*a bert checkpoint/,
    );
  });

  it('refuses truncated copies of a real file', () => {
    const full = new Uint8Array(readFileSync(`${MODELS}sst2-bert-tiny/model.safetensors`));
    expect(() => parseSafetensors(full.subarray(0, 5))).toThrow(
      /truncated: 5 bytes, shorter than the 8-byte header length/,
    );
    expect(() => parseSafetensors(full.subarray(0, 1000))).toThrow(
      /truncated: header length 4592 is larger than the 992 bytes/,
    );
    expect(() => parseSafetensors(full.subarray(0, full.length - 100))).toThrow(
      /tensor "classifier.weight": data_offsets \[17543688, 17544712\] out of range.*file truncated/,
    );
  });
});

// ---- formats and refusals, on synthetic files -------------------------------------------------

describe('safetensors parsing', () => {
  it('converts F16 exactly: zeros, subnormals, normals, extremes, infinities, NaN', () => {
    const bits = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x3555, 0x7bff, 0x7c00, 0xfc00, 0x7e00];
    const file = parseSafetensors(writeSafetensors({ h: u16('F16', bits) }));
    const got = Array.from(file.tensor('h').data);
    expect(got.slice(0, 11)).toEqual([
      0,
      -0,
      2 ** -24,
      1023 * 2 ** -24,
      2 ** -14,
      1,
      -2,
      0.333251953125,
      65504,
      Infinity,
      -Infinity,
    ]);
    expect(Object.is(got[1], -0)).toBe(true);
    expect(got[11]).toBeNaN();
    expect(f16ToNumber(0x02c8)).toBe(4.2438507080078125e-5);
  });

  it('converts BF16 exactly and keeps F32 bits', () => {
    const file = parseSafetensors(
      writeSafetensors({
        b: u16('BF16', [0x3f80, 0xc040, 0x7f80, 0x0001, 0x3eaa]),
        f: f32([2, 2], [1.5, -0, 3e-45, -7]),
      }),
    );
    expect(Array.from(file.tensor('b').data)).toEqual([1, -3, Infinity, 2 ** -133, 0.33203125]);
    expect(file.tensor('f')).toEqual({ shape: [2, 2], data: Float32Array.from([1.5, -0, 3e-45, -7]) });
  });

  it('accepts an empty file, zero-sized tensors and header padding', () => {
    expect(parseSafetensors(writeSafetensors({})).names()).toEqual([]);
    const file = parseSafetensors(
      writeSafetensors({ z: { dtype: 'F32', shape: [0, 5], bytes: new Uint8Array(0) }, s: f32([]) }),
    );
    expect(file.tensor('z')).toEqual({ shape: [0, 5], data: new Float32Array(0) });
    expect(file.tensor('s').data).toHaveLength(1);
  });

  it('refuses non-float dtypes when read, naming the tensor and dtype', () => {
    const file = parseSafetensors(
      writeSafetensors({
        ok: f32([2]),
        q: { dtype: 'I8', shape: [4], bytes: new Uint8Array(4) },
        d: { dtype: 'F64', shape: [1], bytes: new Uint8Array(8) },
      }),
    );
    expect(file.tensor('ok').data).toHaveLength(2);
    expect(() => file.tensor('q')).toThrow(/tensor "q" has dtype I8; only F32, F16, BF16 can be imported/);
    expect(() => file.tensor('d')).toThrow(/tensor "d" has dtype F64/);
  });

  const t = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const cases: [string, Uint8Array, RegExp][] = [
    [
      'header length larger than the file',
      rawFile({}, 0, 100n),
      /truncated: header length 100 is larger than the 2 bytes/,
    ],
    ['huge header length', rawFile({}, 0, 200_000_000n), /header length 200000000 exceeds the 100000000-byte limit/],
    ['header length above 2^32', rawFile({}, 0, 1n << 40n), /header length >= 2\^32 .* exceeds/],
    ['non-JSON header', rawFile('{"a": [1, 2}', 0), /header is not valid JSON/],
    ['header that is not an object', rawFile('[1, 2, 3] ', 0), /not a JSON object/],
    ['invalid UTF-8 header', assemble('{"?":1}', []).map((b, i) => (i === 10 ? 0xff : b)), /header is not valid UTF-8/],
    [
      'overlapping offsets',
      rawFile({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, 12),
      /tensors "a" and "b" overlap/,
    ],
    [
      'offsets out of range',
      rawFile({ a: t('F32', [4], [0, 16]) }, 12),
      /tensor "a": data_offsets \[0, 16\] out of range: the data section has 12 bytes/,
    ],
    ['begin after end', rawFile({ a: t('F32', [0], [8, 4]) }, 8), /tensor "a": data_offsets \[8, 4\] begin after end/],
    [
      'wrong byte length',
      rawFile({ a: t('F16', [3], [0, 8]) }, 8),
      /tensor "a": byte length 8 does not match shape \[3\] x F16 \(6 bytes\)/,
    ],
    [
      'shape too large for the file',
      rawFile({ a: t('F32', [1e9, 1e9, 1e9], [0, 8]) }, 8),
      /byte length 8 does not match .*more than 8 bytes/,
    ],
    ['unknown dtype', rawFile({ a: t('XYZ', [2], [0, 8]) }, 8), /tensor "a": unknown dtype "XYZ"/],
    [
      'negative dimension',
      rawFile({ a: t('F32', [-2], [0, 8]) }, 8),
      /tensor "a": shape \[-2\] is not a list of non-negative integers/,
    ],
    ['fractional dimension', rawFile({ a: t('F32', [1.5], [0, 8]) }, 8), /shape \[1.5\] is not a list/],
    [
      'malformed offsets',
      rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8),
      /data_offsets \[0\] is not a pair/,
    ],
    [
      'gap between tensors',
      rawFile({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, 12),
      /gap of 4 unindexed bytes before tensor "b"/,
    ],
    ['trailing bytes', rawFile({ a: t('F32', [1], [0, 4]) }, 9), /5 trailing bytes after the last tensor/],
    [
      'metadata with a non-string value',
      rawFile({ __metadata__: { n: 1 } }, 0),
      /__metadata__ value "n" is not a string/,
    ],
    ['entry that is not an object', rawFile({ a: 5 }, 0), /tensor "a": header entry is not an object/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`refuses: ${what}`, () => {
      expect(() => parseSafetensors(bytes, 'x.safetensors')).toThrow(message);
    });
  }
  it('a "__proto__" tensor name is just a name', () => {
    const file = parseSafetensors(rawFile('{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', 4));
    expect(file.names()).toEqual(['__proto__']);
    expect(file.has('toString')).toBe(false);
  });
});

describe('config.json', () => {
  const bert = {
    architectures: ['BertForSequenceClassification'],
    hidden_size: 96,
    num_hidden_layers: 3,
    num_attention_heads: 3,
    intermediate_size: 300,
    vocab_size: 100,
    max_position_embeddings: 40,
    type_vocab_size: 2,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-5,
    pad_token_id: 0,
  };
  it('maps BERT (sizes need not be powers of two) and defaults labels to LABEL_i', () => {
    const c = parseConfig({ ...bert, num_labels: 3 });
    expect(c).toMatchObject({ family: 'bert', hiddenSize: 96, numHeads: 3, intermediateSize: 300, layerNormEps: 1e-5 });
    expect(c.labels).toEqual(['LABEL_0', 'LABEL_1', 'LABEL_2']);
  });
  it('maps DistilBERT names and RoBERTa position offsets; BertModel is an embedding model', () => {
    const d = parseConfig({
      architectures: ['DistilBertForSequenceClassification'],
      dim: 64,
      n_layers: 2,
      n_heads: 4,
      hidden_dim: 100,
      activation: 'gelu',
      vocab_size: 50,
      max_position_embeddings: 20,
      id2label: { 1: 'pos', 0: 'neg' },
    });
    expect(d).toMatchObject({
      hiddenSize: 64,
      numLayers: 2,
      numHeads: 4,
      intermediateSize: 100,
      typeVocabSize: 0,
      labels: ['neg', 'pos'],
    });
    const r = parseConfig({
      ...bert,
      architectures: ['RobertaForSequenceClassification'],
      pad_token_id: 1,
      type_vocab_size: 1,
    });
    expect(r).toMatchObject({ family: 'roberta', padTokenId: 1, positionOffset: 2, typeVocabSize: 1 });
    const m = parseConfig({ ...bert, architectures: ['BertModel'] });
    expect(m).toMatchObject({ task: 'embedding', labels: [] });
  });
  it('refuses what the runtime cannot run, naming it', () => {
    expect(() => parseConfig({ ...bert, architectures: ['XLMRobertaForSequenceClassification'] })).toThrow(
      /architecture XLMRobertaForSequenceClassification is not supported; supported: BertForSequenceClassification, DistilBertForSequenceClassification, RobertaForSequenceClassification, BertForTokenClassification, DistilBertForTokenClassification, RobertaForTokenClassification, BertModel/,
    );
    expect(() => parseConfig({ ...bert, architectures: undefined })).toThrow(/"architectures" is missing/);
    expect(() => parseConfig({ ...bert, hidden_act: 'gelu_new' })).toThrow(/hidden_act "gelu_new" is not supported/);
    expect(() => parseConfig({ ...bert, hidden_act: 'relu' })).toThrow(/hidden_act "relu"/);
    expect(() => parseConfig({ ...bert, num_attention_heads: 5 })).toThrow(
      /hidden size 96 is not divisible by the number of attention heads 5/,
    );
    expect(() => parseConfig({ ...bert, hidden_size: 0 })).toThrow(/"hidden_size" must be an integer >= 1, got 0/);
    expect(() => parseConfig({ ...bert, vocab_size: undefined })).toThrow(/"vocab_size" is missing/);
    expect(() => parseConfig({ ...bert, position_embedding_type: 'relative_key' })).toThrow(
      /position_embedding_type "relative_key"/,
    );
    expect(() => parseConfig({ ...bert, id2label: { 0: 'a', 2: 'b' } })).toThrow(
      /"id2label" keys must be 0\.\.1, got "2"/,
    );
    expect(() => parseConfig([1])).toThrow(/not a JSON object/);
  });
});

describe('weights of synthetic checkpoints', () => {
  it('RoBERTa: roberta. prefix, one token type, classifier.dense + out_proj, BF16 tensors', () => {
    const config = parseConfig({
      architectures: ['RobertaForSequenceClassification'],
      hidden_size: 6,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      intermediate_size: 10,
      vocab_size: 9,
      max_position_embeddings: 7,
      type_vocab_size: 1,
      hidden_act: 'gelu',
      pad_token_id: 1,
      id2label: { 0: 'a', 1: 'b', 2: 'c' },
    });
    const { t, lin } = bertTensors(config, 'roberta.');
    lin('classifier.dense', 6, 6);
    lin('classifier.out_proj', 3, 6);
    t['classifier.out_proj.bias'] = u16('BF16', [0x3f80, 0x4000, 0xbf80]);
    t['roberta.embeddings.position_ids'] = { dtype: 'I64', shape: [1, 7], bytes: new Uint8Array(56) };
    const w = mapWeights(parseSafetensors(writeSafetensors(t)), config);
    expect(w.tokenTypeEmbeddings!.shape).toEqual([1, 6]);
    expect(w.positionEmbeddings.shape).toEqual([7, 6]);
    expect(w.head!.activation).toBe('tanh');
    expect(Array.from(w.head!.output.bias.data)).toEqual([1, 2, -1]);
    expect(w.layers[1].intermediate.weight.shape).toEqual([10, 6]);
  });

  it('bare BertModel: no prefix, gamma/beta LayerNorms, no head, loaded from a source', async () => {
    const json = {
      architectures: ['BertModel'],
      hidden_size: 4,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      intermediate_size: 8,
      vocab_size: 5,
      max_position_embeddings: 6,
      hidden_act: 'gelu',
    };
    const config = parseConfig(json);
    const { t, lin } = bertTensors(config, '', ['gamma', 'beta']);
    lin('pooler.dense', 4, 4);
    t['embeddings.LayerNorm.gamma'] = f32([4], [1, 2, 3, 4]);
    const model = await loadEncoderModel(
      memorySource({ 'config.json': JSON.stringify(json), 'model.safetensors': writeSafetensors(t) }),
    );
    expect(model.config.task).toBe('embedding');
    expect(model.weights.head).toBeUndefined();
    expect(Array.from(model.weights.embeddingNorm.gamma.data)).toEqual([1, 2, 3, 4]);
  });

  it('load errors name the file and the problem', async () => {
    const json = JSON.stringify({ ...JSON.parse('{}'), architectures: ['GPT2LMHeadModel'] });
    await expect(loadEncoderModel(memorySource({ 'config.json': json }))).rejects.toThrow(
      /memory: config.json: architecture GPT2LMHeadModel is not supported; supported: /,
    );
    await expect(loadEncoderModel(memorySource({}))).rejects.toThrow(/memory: config.json not found/);
    await expect(loadEncoderModel(memorySource({ 'config.json': '{oops' }))).rejects.toThrow(
      /config.json is not valid JSON/,
    );
    const ok = JSON.stringify({
      architectures: ['BertModel'],
      hidden_size: 4,
      num_hidden_layers: 1,
      num_attention_heads: 1,
      intermediate_size: 8,
      vocab_size: 5,
      max_position_embeddings: 6,
      hidden_act: 'gelu',
    });
    await expect(loadEncoderModel(memorySource({ 'config.json': ok, 'pytorch_model.bin': 'x' }))).rejects.toThrow(
      /model.safetensors not found \(the weights\); found pytorch_model.bin, but only a single model.safetensors/,
    );
    await expect(
      loadEncoderModel(memorySource({ 'config.json': ok, 'model.safetensors': writeSafetensors({ x: f32([1]) }) })),
    ).rejects.toThrow(
      /memory: model.safetensors: missing tensor "bert.embeddings.word_embeddings.weight" \(or "embeddings.word_embeddings.weight"\) required by BertModel/,
    );
  });
});

describe('sources', () => {
  it('urlSource: has() is false on 404, HTTP errors name the status and URL', async () => {
    const calls: string[] = [];
    const fetchStub = async (url: string, init?: RequestInit) => {
      calls.push(`${init?.method} ${url}`);
      if (url.endsWith('missing.json')) return new Response(null, { status: 404 });
      if (url.endsWith('broken.json')) return new Response('x', { status: 503, statusText: 'Service Unavailable' });
      return new Response('{"a":1}');
    };
    const src = urlSource('https://example.test/repo/resolve/main', { fetch: fetchStub });
    expect(await src.has('config.json')).toBe(true);
    expect(await src.has('missing.json')).toBe(false);
    await expect(src.has('broken.json')).rejects.toThrow(/broken.json: HTTP 503 Service Unavailable/);
    await expect(src.read('missing.json')).rejects.toThrow(
      'https://example.test/repo/resolve/main/missing.json: HTTP 404',
    );
    expect(new TextDecoder().decode(await src.read('onnx/model one.json'))).toBe('{"a":1}');
    expect(calls).toContain('GET https://example.test/repo/resolve/main/onnx/model%20one.json');
    const down = urlSource('https://x.test/', {
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    await expect(down.read('config.json')).rejects.toThrow(/GET https:\/\/x.test\/config.json failed: fetch failed/);
  });

  it('fileListSource: matches base names, prefers the shallowest, refuses ties', async () => {
    const file = (path: string, text: string) => {
      const f = new File([text], path.slice(path.lastIndexOf('/') + 1));
      Object.defineProperty(f, 'webkitRelativePath', { value: path });
      return f;
    };
    const src = fileListSource([
      file('m/config.json', 'top'),
      file('m/onnx/config.json', 'deep'),
      file('m/a.txt', '1'),
      file('n/a.txt', '2'),
    ]);
    expect(new TextDecoder().decode(await src.read('config.json'))).toBe('top');
    expect(await src.has('vocab.txt')).toBe(false);
    await expect(src.read('vocab.txt')).rejects.toThrow(/no file named "vocab.txt"/);
    await expect(src.read('a.txt')).rejects.toThrow(/2 files named "a.txt" \(m\/a.txt, n\/a.txt\)/);
  });

  it('folderSource: refuses names leaving the folder', async () => {
    const src = folderSource('/tmp');
    await expect(src.read('../etc/passwd')).rejects.toThrow(/leaves the model folder/);
    expect(await src.has('definitely-not-here.json')).toBe(false);
  });
});
