/**
 * The .i8t container's integrity (version 2): CRC32C test vectors; every single-byte flip of a
 * small synthetic model file refused with a message naming the damaged part; truncation, appended
 * data and rearranged blobs refused; structural (schema) checks on headers rewritten with valid
 * checksums, as a consistent editor would write them; version 1 files (the committed built-in
 * model) still loading to the same content and logits. CPU only.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { quantizedActivations } from '../src/calibrate/calibrate.js';
import { RangeObserver } from '../src/calibrate/range-observer.js';
import { crc32c } from '../src/format/checksum.js';
import { FORMAT_VERSION, type IntModelFile, readContainer, readIntModelFile, writeContainer, writeIntModelFile } from '../src/format/int-model-file.js';
import { memorySource } from '../src/model/sources.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { planEncoder } from '../src/plan/encoder-plan.js';
import { floatEncoderRef } from '../src/reference/float-encoder.js';
import { intEncoderRef } from '../src/reference/int-encoder.js';
import { Random } from '../src/util/random.js';
import { type Synthetic, syntheticBatch, syntheticModel, VOCAB } from './synthetic.js';

const builtIn = fileURLToPath(new URL('../models/sst2-bert-tiny.i8t', import.meta.url));

// ---- helpers ------------------------------------------------------------------------------------

const ascii = (s: string) => new TextEncoder().encode(s);

describe('CRC32C', () => {
  it('matches the published check value and the iSCSI vectors (RFC 3720 B.4)', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    // Descending 31..0 (the fourth RFC vector).
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });
  it('gives the same value fed in pieces of every alignment as fed whole', () => {
    const rng = new Random(5);
    const data = Uint8Array.from({ length: 1000 }, () => rng.int(0, 255));
    const whole = crc32c(data);
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000]) expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(whole);
  });
});

/** A tokenizer.json with `n` tokens (not a working tokenizer: the container only checks the vocabulary). */
function tokenizerJson(vocab: Record<string, number>, added: number[] = [0, 1, 2, 3]): string {
  return JSON.stringify({
    version: '1.0',
    added_tokens: added.map((id) => ({ id, content: `[S${id}]`, special: true })),
    model: { type: 'WordPiece', unk_token: '[S1]', vocab },
  });
}
const VOCAB_JSON = tokenizerJson(Object.fromEntries(Array.from({ length: VOCAB }, (_, i) => [i < 4 ? `[S${i}]` : `w${i}`, i])));

/** Two layers, no dense head: small (~30 KB) so that every byte can be flipped in seconds. */
const SMALL: Synthetic = { name: 'small', family: 'bert', task: 'sequence-classification', hidden: 16, heads: 2, intermediate: 32, layers: 2, typeVocab: 2, head: { dense: false }, labels: 2 };

function syntheticFile(): IntModelFile {
  const model = syntheticModel(SMALL, 7);
  const observer = new RangeObserver();
  for (let i = 0; i < 2; i++) {
    const batch = syntheticBatch(model.config, [12, 7], 12, 30 + i);
    const { captures } = floatEncoderRef(model, batch, { capture: true });
    for (const name of quantizedActivations(model.config.numLayers)) observer.observe(name, captures.get(name)!);
  }
  const plan = planEncoder(model, observer.ranges('max'));
  return { config: model.config, plan, tokenizer: { json: VOCAB_JSON, config: '{"do_lower_case": true}' }, provenance: { source: 'test' } };
}

interface Layout {
  headerLength: number;
  dataStart: number;
  header: { blobs: { dtype: string; length: number; offset: number; crc32c: number }[] } & Record<string, unknown>;
  paths: string[];
}

const BYTES: Record<string, number> = { i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, f32: 4, f64: 8 };

/** The v2 layout, parsed here independently of the reader. */
function layout(bytes: Uint8Array): Layout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect(view.getUint32(8, true)).toBe(2);
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + headerLength)));
  return { headerLength, dataStart: Math.ceil((20 + headerLength) / 8) * 8, header, paths: readContainer(bytes).blobPaths };
}

/** Rewrites the header of a v2 file, recomputing its checksum (data section unchanged). */
function editHeader(bytes: Uint8Array, edit: (h: any) => void, text: (json: string) => string = (t) => t): Uint8Array {
  const { header, dataStart } = layout(bytes);
  edit(header);
  const hb = ascii(text(JSON.stringify(header)));
  const start = Math.ceil((20 + hb.length) / 8) * 8;
  const out = new Uint8Array(start + bytes.length - dataStart);
  out.set(bytes.subarray(0, 12));
  const view = new DataView(out.buffer);
  view.setUint32(12, hb.length, true);
  out.set(hb, 20);
  view.setUint32(16, crc32c(hb, crc32c(out.subarray(0, 16))), true);
  out.set(bytes.subarray(dataStart), start);
  return out;
}

async function refusal(bytes: Uint8Array): Promise<string> {
  try {
    await readIntModelFile(bytes, 'test.i8t');
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What a damaged byte at `offset` must be reported as. */
function expectedPart(l: Layout, offset: number): RegExp {
  if (offset < 8) return /bad magic/;
  if (offset < 12) return /format version|header is not valid/;
  if (offset < 16) return /header length|header is damaged/;
  if (offset < 20 + l.headerLength) return /the header is damaged/;
  if (offset < l.dataStart) return /padding byte \d+ after the header/;
  const at = offset - l.dataStart;
  const i = l.header.blobs.findIndex((b) => at >= b.offset && at < b.offset + b.length * BYTES[b.dtype]);
  if (i < 0) return /padding byte \d+ between blobs/;
  return new RegExp(`blob ${i} \\(${escape(l.paths[i])}: .* is damaged`);
}

// ---- version 2 ----------------------------------------------------------------------------------

describe('integer model files (version 2) verify checksums before decoding', () => {
  let file: IntModelFile;
  let bytes: Uint8Array;
  let l: Layout;
  beforeAll(async () => {
    file = syntheticFile();
    bytes = await writeIntModelFile(file);
    l = layout(bytes);
  });

  it('writes the current version and reads back what was written', async () => {
    expect(FORMAT_VERSION).toBe(2);
    const back = await readIntModelFile(bytes);
    expect(back.config).toEqual(file.config);
    expect(back.plan).toEqual(file.plan);
    expect(back.tokenizer).toEqual(file.tokenizer);
    expect(back.provenance).toEqual(file.provenance);
    expect(l.paths).toContain('plan.layers[1].intermediate.weight');
    expect(l.paths).toContain('tokenizer.json');
  });

  it('refuses every single-byte flip, naming the damaged part', async () => {
    const rng = new Random(11);
    const wrong: string[] = [];
    for (let offset = 0; offset < bytes.length; offset++) {
      const old = bytes[offset];
      bytes[offset] = old ^ rng.int(1, 255);
      const message = await refusal(bytes);
      bytes[offset] = old;
      const want = expectedPart(l, offset);
      if (!want.test(message)) wrong.push(`byte ${offset}: expected ${want}, got ${message}`);
      if (wrong.length > 5) break;
    }
    expect(wrong).toEqual([]);
    expect(await refusal(bytes)).toBe('accepted');
  }, 120_000);

  it('refuses truncated files and appended data', async () => {
    const rng = new Random(12);
    const cuts = new Set([0, 8, 15, 16, 19, 20, 21, 20 + l.headerLength - 1, 20 + l.headerLength, l.dataStart, l.dataStart + 1, bytes.length - 8, bytes.length - 1]);
    for (const b of l.header.blobs) for (const d of [0, 1, b.length * BYTES[b.dtype] - 1]) cuts.add(l.dataStart + b.offset + d);
    while (cuts.size < 300) cuts.add(rng.int(0, bytes.length - 1));
    for (const n of cuts) {
      expect(await refusal(bytes.subarray(0, n)), `cut at ${n}`).toMatch(/only \d+ bytes|header length \d+ exceeds the file|runs past the end of the file \(truncated\?\)|truncated/);
    }
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(await refusal(longer)).toMatch(/the data section is \d+ bytes, the blob table accounts for \d+ \(data appended\)/);
  });

  it('refuses blobs rearranged in the data section, and layers rearranged in an unchecksummed header', async () => {
    const i = l.paths.indexOf('plan.layers[0].query.weight');
    const j = l.paths.indexOf('plan.layers[1].query.weight');
    const [a, b] = [l.header.blobs[i], l.header.blobs[j]];
    const swapped = bytes.slice();
    swapped.set(bytes.subarray(l.dataStart + b.offset, l.dataStart + b.offset + b.length), l.dataStart + a.offset);
    swapped.set(bytes.subarray(l.dataStart + a.offset, l.dataStart + a.offset + a.length), l.dataStart + b.offset);
    expect(await refusal(swapped)).toMatch(new RegExp(`blob ${i} \\(plan\\.layers\\[0\\]\\.query\\.weight: 256 i8 values\\) is damaged`));
    // The same layers swapped in the header, the checksum left as it was.
    const edited = editHeader(bytes, (h) => {
      [h.plan.layers[0], h.plan.layers[1]] = [h.plan.layers[1], h.plan.layers[0]];
    });
    new DataView(edited.buffer).setUint32(16, new DataView(bytes.buffer, bytes.byteOffset).getUint32(16, true), true);
    expect(await refusal(edited)).toMatch(/the header is damaged/);
  });

  // A consistent editor recomputes the checksums: these are what the structural checks must catch.
  const MUTATIONS: [string, (h: any) => void, RegExp][] = [
    ['a LayerNorm negate that is a string', (h) => (h.plan.layers[0].attentionNorm.channels[3].negate = 'yes'), /plan\.layers\[0\]\.attentionNorm\.channels\[3\]\.negate: expected true or false, got the string "yes"/],
    ['a LayerNorm negate that is a number', (h) => (h.plan.embeddingNorm.channels[0].negate = 1), /plan\.embeddingNorm\.channels\[0\]\.negate: expected true or false, got number 1/],
    ['softmax: {}', (h) => (h.plan.layers[1].softmax = {}), /test\.i8t: plan\.layers\[1\]\.softmax\.rescale: missing/],
    ['a missing sub-object', (h) => delete h.plan.layers[0].gelu, /plan\.layers\[0\]\.gelu: missing/],
    ['a string where a number belongs', (h) => (h.plan.layers[0].query.inputScale = '0.5'), /plan\.layers\[0\]\.query\.inputScale: expected a finite number, got the string "0\.5"/],
    ['a fraction where an integer belongs', (h) => (h.plan.layers[0].softmax.shift = 1.5), /plan\.layers\[0\]\.softmax\.shift: expected an integer, got number 1\.5/],
    ['an unknown field', (h) => (h.plan.layers[0].query.extra = 1), /plan\.layers\[0\]\.query\.extra: unexpected field/],
    ['numHeads changed under the same plan', (h) => (h.config.numHeads = 4), /plan\.layers\[0\]\.softmax\.rescale = .* config\.numHeads disagrees with the plan/],
    ['numHeads that does not divide hidden', (h) => (h.config.numHeads = 3), /config\.numHeads = 3 is not valid/],
    ['a vocabulary size that disagrees with the table', (h) => (h.config.vocabSize = VOCAB + 1), /plan\.embeddings\.tables\.word: 960 values, expected 976/],
    ['more labels than head outputs', (h) => h.config.labels.push('LABEL_2'), /plan\.head\.output\.outFeatures: 2, expected 3/],
    // The head moved out of the plan (into `graph`, which holds anything), so that no blob is orphaned.
    ['a classifier without its head', (h) => ((h.graph = h.plan.head), delete h.plan.head), /plan\.head: missing/],
    ['a pad id outside the vocabulary', (h) => (h.config.padTokenId = VOCAB), /config\.padTokenId = 60 is not valid \(vocabSize 60\)/],
    ['an absurd LayerNorm eps', (h) => (h.config.layerNormEps = 1e300), /config\.layerNormEps = 1e\+300 is not valid/],
    ['a duplicated layer (two references to the same blobs)', (h) => (h.plan.layers[1] = h.plan.layers[0]), /blob \d+ is referenced twice, by plan\.layers\[0\]\.query\.weight and by plan\.layers\[1\]\.query\.weight/],
    ['a tensor pointing at another one\'s data', (h) => (h.plan.layers[1].key.bias = h.plan.layers[0].key.bias), /blob \d+ is referenced twice, by plan\.layers\[0\]\.key\.bias and by plan\.layers\[1\]\.key\.bias/],
    ['an orphaned blob', (h) => (h.plan.layers[1].key.bias = [0]), /blob \d+ is referenced by nothing/],
    ['a dangling reference', (h) => (h.plan.layers[1].key.bias = { $blob: 999 }), /plan\.layers\[1\]\.key\.bias: a reference to blob 999, which does not exist/],
    ['a reference that is a string', (h) => (h.plan.layers[1].key.bias = { $blob: '3' }), /a reference to blob "3", which does not exist/],
    ['a reference with other keys', (h) => (h.plan.layers[1].key.bias.x = 1), /plan\.layers\[1\]\.key\.bias: a blob reference with other keys/],
    ['an int8 weight declared uint8', (h) => (h.blobs[3].dtype = 'u8'), /plan\.layers\[0\]\.query\.weight: expected Int8Array, got a Uint8Array of 256/],
    ['dtype "toString"', (h) => (h.blobs[3].dtype = 'toString'), /blob 3 \(plan\.layers\[0\]\.query\.weight\) has an unknown dtype "toString"/],
    ['dtype "__proto__"', (h) => (h.blobs[3].dtype = '__proto__'), /has an unknown dtype "__proto__"/],
    ['dtype "constructor"', (h) => (h.blobs[0].dtype = 'constructor'), /blob 0 \(plan\.embeddings\.tables\.word\) has an unknown dtype "constructor"/],
    ['a blob table entry with an extra field', (h) => (h.blobs[2].note = 'x'), /blob 2 .*: unexpected field "note" in the blob table/],
    ['another format name', (h) => (h.format = 'something else'), /the header's format is the string "something else"/],
    ['an unknown top-level field', (h) => (h.extra = {}), /extra: unexpected field in the header/],
  ];
  it.each(MUTATIONS)('refuses %s, naming the path', async (_, edit, want) => {
    expect(await refusal(editHeader(bytes, edit))).toMatch(want);
  });

  it('refuses "__proto__" keys wherever they are', async () => {
    const proto = (o: object) => Object.defineProperty(o, '__proto__', { value: { polluted: true }, enumerable: true });
    expect(await refusal(editHeader(bytes, (h) => proto(h.plan.layers[0])))).toMatch(/plan\.layers\[0\]\.__proto__: unexpected field/);
    expect(await refusal(editHeader(bytes, (h) => proto(h.config)))).toMatch(/config\.__proto__: unexpected field/);
    expect(await refusal(editHeader(bytes, (h) => proto(h)))).toMatch(/__proto__: unexpected field in the header/);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('refuses numbers that JSON turns into infinities', async () => {
    const text = (t: string) => t.replace(/"hiddenScale":[^,}]+/, '"hiddenScale":1e999');
    expect(await refusal(editHeader(bytes, () => {}, text))).toMatch(/plan\.hiddenScale: expected a finite number, got number Infinity/);
  });

  it('refuses an empty tokenizer vocabulary and token ids outside the embedding table', async () => {
    const empty = await writeIntModelFile({ ...file, tokenizer: { json: tokenizerJson({}, []) } });
    expect(await refusal(empty)).toMatch(/tokenizer\.json: the vocabulary is empty/);
    const outside = await writeIntModelFile({ ...file, tokenizer: { json: tokenizerJson({ a: 0, b: VOCAB }) } });
    expect(await refusal(outside)).toMatch(/tokenizer\.json: token id 60 is outside the model's vocabulary of 60/);
    const added = await writeIntModelFile({ ...file, tokenizer: { json: tokenizerJson({ a: 0 }, [VOCAB + 5]) } });
    expect(await refusal(added)).toMatch(/token id 65 is outside/);
    const notJson = await writeIntModelFile({ ...file, tokenizer: { json: '{"model": ' } });
    expect(await refusal(notJson)).toMatch(/tokenizer\.json is not valid JSON/);
  });

  it('passes a graph and a kind through untouched, typed arrays included', async () => {
    const graph = { nodes: [{ op: 'gemm', weight: Int8Array.from([1, -2, 3]), scale: Float32Array.from([0.5]) }], order: [0] };
    const back = await readIntModelFile(await writeIntModelFile({ ...file, kind: 'encoder-graph', graph }));
    expect(back.kind).toBe('encoder-graph');
    expect(back.graph).toEqual(graph);
    expect((back.graph as typeof graph).nodes[0].weight).toBeInstanceOf(Int8Array);
    const generic = readContainer(writeContainer({ kind: 'anything', payload: { a: [Uint16Array.from([7])] } }));
    expect(generic.doc).toEqual({ kind: 'anything', payload: { a: [Uint16Array.from([7])] } });
    expect(generic.blobPaths).toEqual(['payload.a[0]']);
  });

  it('writes only what it can read back exactly', () => {
    expect(() => writeContainer({ x: Number.NaN })).toThrow(/x is the non-finite number NaN/);
    expect(() => writeContainer({ blobs: [] })).toThrow(/"blobs" is reserved/);
    expect(() => writeContainer({ x: new Uint8ClampedArray(2) })).toThrow(/x is a Uint8ClampedArray/);
    expect(() => writeContainer({ x: { $blob: 1 } })).toThrow(/"\$blob" key/);
    expect(() => writeContainer({}, { formatVersion: 1 })).toThrow(/format version 1/);
  });
});

// ---- version 1 ----------------------------------------------------------------------------------

describe('version 1 files (no checksums) load as before', () => {
  const v1 = new Uint8Array(readFileSync(builtIn));
  let file: IntModelFile;
  beforeAll(async () => {
    file = await readIntModelFile(v1, builtIn);
  });

  it('decodes every blob to exactly the bytes the file stores', () => {
    const view = new DataView(v1.buffer, v1.byteOffset);
    expect(view.getUint32(8, true)).toBe(1);
    const n = view.getUint32(12, true);
    const header = JSON.parse(new TextDecoder().decode(v1.subarray(16, 16 + n)));
    const dataStart = Math.ceil((16 + n) / 8) * 8;
    const c = readContainer(v1);
    expect(c.verified).toBe(false);
    expect(c.formatVersion).toBe(1);
    const at = (path: string) => path.split(/\.|\[|\]\.?/).filter(Boolean).reduce((o: any, k) => o[k], c.doc);
    header.blobs.forEach((b: { dtype: string; length: number; offset: number }, i: number) => {
      const a = at(c.blobPaths[i]) as ArrayBufferView;
      const stored = v1.subarray(dataStart + b.offset, dataStart + b.offset + b.length * BYTES[b.dtype]);
      // Buffer.equals: toEqual on megabyte arrays takes tens of seconds.
      expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(stored), c.blobPaths[i]).toBe(true);
    });
  });

  it('gives the same logits read as version 1 and rewritten as version 2, and classifies clear sentences', async () => {
    const v2 = await writeIntModelFile(file);
    expect(new DataView(v2.buffer).getUint32(8, true)).toBe(2);
    const again = await readIntModelFile(v2);
    const tokenizer = await loadTokenizer(memorySource({ 'tokenizer.json': file.tokenizer.json, 'tokenizer_config.json': file.tokenizer.config! }), file.config);
    const batch = tokenizer.encodeBatch(['a gorgeous , witty , seductive movie .', 'the worst film of the year , dull and lifeless .']);
    const a = intEncoderRef(file.plan, file.config, batch).logits!;
    const b = intEncoderRef(again.plan, again.config, batch).logits!;
    expect(Array.from(b)).toEqual(Array.from(a));
    const label = (r: number) => file.config.labels[a[2 * r] > a[2 * r + 1] ? 0 : 1];
    expect([label(0), label(1)]).toEqual(['POSITIVE', 'NEGATIVE']);
  });

  it('rewritten as version 2: ~300 sampled byte flips are all refused, naming the damaged part', async () => {
    const bytes = await writeIntModelFile(file);
    const l = layout(bytes);
    const rng = new Random(13);
    const wrong: string[] = [];
    for (let k = 0; k < 300; k++) {
      // A third in the prefix and header, the rest anywhere (mostly weights).
      const offset = k % 3 === 0 ? rng.int(0, l.dataStart - 1) : rng.int(0, bytes.length - 1);
      const old = bytes[offset];
      bytes[offset] = old ^ rng.int(1, 255);
      const message = await refusal(bytes);
      bytes[offset] = old;
      const want = expectedPart(l, offset);
      if (!want.test(message)) wrong.push(`byte ${offset}: expected ${want}, got ${message}`);
    }
    expect(wrong).toEqual([]);
  }, 120_000);
});
