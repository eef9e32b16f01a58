/**
 * The .i8t container's integrity (version 2) and the validation of what it holds. CPU only.
 *
 * Container (readContainer, whatever the document): CRC32C test vectors; every single-byte flip of
 * a small file written from a synthetic model refused with a message naming the damaged part;
 * truncation, appended data, rearranged blobs, aliased / dangling / orphaned references and
 * prototype-key dtypes refused; any JSON-with-typed-arrays document given back untouched.
 * Model files (readIntModelFile): the built-in model's version 1 file still loads and decodes to
 * exactly its stored bytes, rewritten as version 2 it decodes to the same document and ~300 sampled
 * byte flips are refused; structural mutations of its plan, config and tokenizer are refused with
 * the path named. (That the v1 file gives the logits it gave before is test/int-model.test.ts's.)
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EncoderConfig } from '../src/core/types.js';
import { crc32c } from '../src/format/checksum.js';
import { FORMAT_VERSION, readContainer, readIntModelFile, writeContainer } from '../src/format/int-model-file.js';
import { validatePlan } from '../src/plan/validate-plan.js';
import { Random } from '../src/util/random.js';
import { SMALL_BERT as SMALL, syntheticModel } from './synthetic.js';

const builtIn = fileURLToPath(new URL('../models/sst2-bert-tiny.i8t', import.meta.url));

const ascii = (s: string) => new TextEncoder().encode(s);
const BYTES: Record<string, number> = { i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, f32: 4, f64: 8 };
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('CRC32C', () => {
  it('matches the published check value and the iSCSI vectors (RFC 3720 B.4)', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });
  it('gives the same value fed in pieces of every alignment as fed whole', () => {
    const rng = new Random(5);
    const data = Uint8Array.from({ length: 1000 }, () => rng.int(0, 255));
    const whole = crc32c(data);
    for (const cut of [0, 1, 7, 8, 9, 500, 999, 1000])
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(whole);
  });
});

// ---- layout helpers (parsed here independently of the reader) -----------------------------------

interface Layout {
  version: number;
  headerStart: number;
  headerLength: number;
  dataStart: number;
  header: { blobs: { dtype: string; length: number; offset: number; crc32c?: number }[] } & Record<string, any>;
  paths: string[];
}

function layout(bytes: Uint8Array): Layout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  const headerStart = version >= 2 ? 20 : 16;
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength)));
  return {
    version,
    headerStart,
    headerLength,
    dataStart: Math.ceil((headerStart + headerLength) / 8) * 8,
    header,
    paths: readContainer(bytes).blobPaths,
  };
}

/** Rewrites the header (the data section unchanged), with a valid checksum as a consistent editor would. */
function editHeader(bytes: Uint8Array, edit: (h: any) => void, text: (json: string) => string = (t) => t): Uint8Array {
  const { header, dataStart, headerStart } = layout(bytes);
  edit(header);
  const hb = ascii(text(JSON.stringify(header)));
  const start = Math.ceil((headerStart + hb.length) / 8) * 8;
  const out = new Uint8Array(start + bytes.length - dataStart);
  out.set(bytes.subarray(0, 12));
  const view = new DataView(out.buffer);
  view.setUint32(12, hb.length, true);
  out.set(hb, headerStart);
  if (headerStart === 20) view.setUint32(16, crc32c(hb, crc32c(out.subarray(0, 16))), true);
  out.set(bytes.subarray(dataStart), start);
  return out;
}

async function refusal(read: () => unknown): Promise<string> {
  try {
    await read();
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

/** What a damaged byte at `offset` of a version 2 file must be reported as. */
function expectedPart(l: Layout, offset: number): RegExp {
  if (offset < 8) return /bad magic/;
  if (offset < 12) return /format version|header is not valid/;
  if (offset < 16) return /header length|header is damaged/;
  if (offset < 20 + l.headerLength) return /the header is damaged/;
  if (offset < l.dataStart) return /padding byte \d+ after the header/;
  const at = offset - l.dataStart;
  const i = l.header.blobs.findIndex((b) => at >= b.offset && at < b.offset + b.length * BYTES[b.dtype]);
  if (i < 0) return /padding byte \d+ between blobs/;
  return new RegExp(`blob ${i} \\(${escapeRegExp(l.paths[i])}: .* is damaged`);
}

/** Typed arrays compared as bytes (toEqual on megabyte arrays takes tens of seconds). */
function sameDocument(a: unknown, b: unknown, path = ''): string[] {
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    const x = a as ArrayBufferView;
    const y = b as ArrayBufferView;
    const same =
      ArrayBuffer.isView(x) &&
      ArrayBuffer.isView(y) &&
      x.constructor === y.constructor &&
      Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    return same ? [] : [path];
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => sameDocument((a as any)[k], (b as any)[k], `${path}.${k}`));
  }
  return Object.is(a, b) ? [] : [path];
}

// ---- the container, on a small document written from a synthetic model ------------------------

describe('the version 2 container verifies checksums before decoding', () => {
  const model = syntheticModel(SMALL, 7);
  const doc = { kind: 'synthetic-weights', config: model.config, weights: model.weights };
  let bytes: Uint8Array;
  let l: Layout;
  beforeAll(() => {
    bytes = writeContainer(doc);
    l = layout(bytes);
  });
  const read = (b: Uint8Array) => () => readContainer(b, 'test.i8t');

  it('writes the current version and reads back what was written', () => {
    expect(FORMAT_VERSION).toBe(2);
    const back = readContainer(bytes);
    expect([back.formatVersion, back.verified]).toEqual([2, true]);
    expect(back.doc).toEqual(doc);
    expect(back.blobPaths).toContain('weights.layers[1].intermediate.weight.data');
  });

  it('refuses every single-byte flip, naming the damaged part', async () => {
    const rng = new Random(11);
    const wrong: string[] = [];
    for (let offset = 0; offset < bytes.length && wrong.length < 5; offset++) {
      const old = bytes[offset];
      bytes[offset] = old ^ rng.int(1, 255);
      const message = await refusal(read(bytes));
      bytes[offset] = old;
      const want = expectedPart(l, offset);
      if (!want.test(message)) wrong.push(`byte ${offset}: expected ${want}, got ${message}`);
    }
    expect(wrong).toEqual([]);
    expect(await refusal(read(bytes))).toBe('accepted');
  }, 120_000);

  it('refuses truncated files and appended data', async () => {
    const rng = new Random(12);
    const cuts = new Set([
      0,
      8,
      15,
      16,
      19,
      20,
      21,
      20 + l.headerLength - 1,
      20 + l.headerLength,
      l.dataStart,
      l.dataStart + 1,
      bytes.length - 8,
      bytes.length - 1,
    ]);
    for (const b of l.header.blobs)
      for (const d of [0, 1, b.length * BYTES[b.dtype] - 1]) cuts.add(l.dataStart + b.offset + d);
    while (cuts.size < 300) cuts.add(rng.int(0, bytes.length - 1));
    for (const n of cuts) {
      expect(await refusal(read(bytes.subarray(0, n))), `cut at ${n}`).toMatch(
        /only \d+ bytes|header length \d+ exceeds the file|runs past the end of the file \(truncated\?\)|truncated/,
      );
    }
    const longer = new Uint8Array(bytes.length + 8);
    longer.set(bytes);
    expect(await refusal(read(longer))).toMatch(
      /the data section is \d+ bytes, the blob table accounts for \d+ \(data appended\)/,
    );
  });

  it('refuses layers swapped in the data section, or in a header whose checksum was not recomputed', async () => {
    const i = l.paths.indexOf('weights.layers[0].query.weight.data');
    const j = l.paths.indexOf('weights.layers[1].query.weight.data');
    const [a, b] = [l.header.blobs[i], l.header.blobs[j]];
    const n = a.length * 4;
    const swapped = bytes.slice();
    swapped.set(bytes.subarray(l.dataStart + b.offset, l.dataStart + b.offset + n), l.dataStart + a.offset);
    swapped.set(bytes.subarray(l.dataStart + a.offset, l.dataStart + a.offset + n), l.dataStart + b.offset);
    expect(await refusal(read(swapped))).toMatch(
      new RegExp(
        `test\\.i8t: blob ${i} \\(weights\\.layers\\[0\\]\\.query\\.weight\\.data: 256 f32 values\\) is damaged`,
      ),
    );
    const edited = editHeader(bytes, (h) => {
      [h.weights.layers[0], h.weights.layers[1]] = [h.weights.layers[1], h.weights.layers[0]];
    });
    new DataView(edited.buffer).setUint32(16, new DataView(bytes.buffer, bytes.byteOffset).getUint32(16, true), true);
    expect(await refusal(read(edited))).toMatch(/the header is damaged/);
  });

  // Headers rewritten with valid checksums: what the container's own structure checks must catch.
  const MUTATIONS: [string, (h: any) => void, RegExp][] = [
    [
      'a duplicated layer (two references to the same blobs)',
      (h) => (h.weights.layers[1] = h.weights.layers[0]),
      /blob \d+ is referenced twice, by weights\.layers\[0\]\.query\.weight\.data and by weights\.layers\[1\]\.query\.weight\.data/,
    ],
    [
      "a tensor pointing at another one's data",
      (h) => (h.weights.layers[1].key.bias.data = h.weights.layers[0].key.bias.data),
      /blob \d+ is referenced twice, by weights\.layers\[0\]\.key\.bias\.data and by weights\.layers\[1\]\.key\.bias\.data/,
    ],
    ['an orphaned blob', (h) => (h.weights.layers[1].key.bias.data = [0]), /blob \d+ is referenced by nothing/],
    [
      'a dangling reference',
      (h) => (h.weights.layers[1].key.bias.data = { $blob: 999 }),
      /weights\.layers\[1\]\.key\.bias\.data: a reference to blob 999, which does not exist/,
    ],
    [
      'a reference that is a string',
      (h) => (h.weights.layers[1].key.bias.data = { $blob: '3' }),
      /a reference to blob "3", which does not exist/,
    ],
    [
      'a reference with other keys',
      (h) => (h.weights.layers[1].key.bias.data.x = 1),
      /weights\.layers\[1\]\.key\.bias\.data: a blob reference with other keys/,
    ],
    [
      'dtype "toString"',
      (h) => (h.blobs[3].dtype = 'toString'),
      /blob 3 \(weights\.[^)]*\) has an unknown dtype "toString"/,
    ],
    ['dtype "__proto__"', (h) => (h.blobs[3].dtype = '__proto__'), /has an unknown dtype "__proto__"/],
    [
      'dtype "constructor"',
      (h) => (h.blobs[0].dtype = 'constructor'),
      /blob 0 \(weights\.wordEmbeddings\.data\) has an unknown dtype "constructor"/,
    ],
    [
      'a length that runs past the end',
      (h) => (h.blobs[0].length = 2 ** 40),
      /blob 0 \(weights\.wordEmbeddings\.data\) \(4398046511104 bytes at 0\) runs past the end/,
    ],
    [
      'overlapping blobs',
      (h) => (h.blobs[1].offset = h.blobs[0].offset),
      /blob 0 \(weights\.wordEmbeddings\.data\) and blob 1 \(weights\.positionEmbeddings\.data\) overlap/,
    ],
    [
      'a blob table entry with an extra field',
      (h) => (h.blobs[2].note = 'x'),
      /blob 2 .*: unexpected field "note" in the blob table/,
    ],
    ['another format name', (h) => (h.format = 'something else'), /the header's format is the string "something else"/],
    [
      'nesting 100 levels deep',
      (h) => (h.deep = JSON.parse('['.repeat(100) + ']'.repeat(100))),
      /deep(\[0\])+ is nested deeper than 64 levels/,
    ],
  ];
  it.each(MUTATIONS)('refuses %s, naming the blob or path', async (_, edit, want) => {
    expect(await refusal(read(editHeader(bytes, edit)))).toMatch(want);
  });

  it('stores any document of JSON and typed arrays (a graph, a kind) and gives it back untouched', () => {
    const graph = {
      nodes: [
        { op: 'gemm', weight: Int8Array.from([1, -2, 3]), scale: Float32Array.from([0.5]), ids: Uint32Array.from([9]) },
      ],
      order: [0],
      note: null,
      flag: false,
    };
    const back = readContainer(
      writeContainer({
        kind: 'encoder-graph',
        graph,
        payload: { a: [Uint16Array.from([7]), Int16Array.from([-7])], b: new Float64Array(0) },
      }),
    );
    expect(back.doc).toEqual({
      kind: 'encoder-graph',
      graph,
      payload: { a: [Uint16Array.from([7]), Int16Array.from([-7])], b: new Float64Array(0) },
    });
    expect((back.doc.graph as typeof graph).nodes[0].weight).toBeInstanceOf(Int8Array);
    expect(back.blobPaths).toEqual([
      'graph.nodes[0].weight',
      'graph.nodes[0].scale',
      'graph.nodes[0].ids',
      'payload.a[0]',
      'payload.a[1]',
      'payload.b',
    ]);
  });

  it('writes only what it can read back exactly', () => {
    expect(() => writeContainer({ x: Number.NaN })).toThrow(/x is the non-finite number NaN/);
    expect(() => writeContainer({ blobs: [] })).toThrow(/"blobs" is reserved/);
    expect(() => writeContainer({ x: new Uint8ClampedArray(2) })).toThrow(/x is a Uint8ClampedArray/);
    expect(() => writeContainer({ x: { $blob: 1 } })).toThrow(/"\$blob" key/);
    expect(() => writeContainer({}, { formatVersion: 1 })).toThrow(/format version 1/);
  });
});

// ---- model files: the built-in model ------------------------------------------------------------

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

describe('the built-in model file', () => {
  const v1 = new Uint8Array(readFileSync(builtIn));
  const one = readContainer(v1);
  const v2 = writeContainer(one.doc);
  const load = (b: Uint8Array) => () => readIntModelFile(b, 'test.i8t');

  it('version 1 (no checksums) decodes every blob to exactly the bytes the file stores', () => {
    const l = layout(v1);
    expect([l.version, one.formatVersion, one.verified]).toEqual([1, 1, false]);
    const at = (path: string) =>
      path
        .split(/\.|\[|\]\.?/)
        .filter(Boolean)
        .reduce((o: any, k) => o[k], one.doc);
    const wrong = l.header.blobs.flatMap((b, i) => {
      const a = at(one.blobPaths[i]) as ArrayBufferView;
      const stored = v1.subarray(l.dataStart + b.offset, l.dataStart + b.offset + b.length * BYTES[b.dtype]);
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(stored) ? [] : [one.blobPaths[i]];
    });
    expect(wrong).toEqual([]);
  });

  it('loads as version 1 and, rewritten, as version 2 to the same document', async () => {
    expect(await refusal(load(v1))).toBe('accepted');
    expect(await refusal(load(v2))).toBe('accepted');
    const two = readContainer(v2);
    expect([two.formatVersion, two.verified]).toEqual([2, true]);
    expect(sameDocument(one.doc, two.doc)).toEqual([]);
    expect(two.blobPaths).toEqual(one.blobPaths);
  });

  it('rewritten as version 2: ~300 sampled byte flips are all refused on load, naming the damaged part', async () => {
    const bytes = v2.slice();
    const l = layout(bytes);
    const rng = new Random(13);
    const wrong: string[] = [];
    for (let k = 0; k < 300; k++) {
      // A third in the prefix and header, the rest anywhere (mostly weights).
      const offset = k % 3 === 0 ? rng.int(0, l.dataStart - 1) : rng.int(0, bytes.length - 1);
      const old = bytes[offset];
      bytes[offset] = old ^ rng.int(1, 255);
      const message = await refusal(load(bytes));
      bytes[offset] = old;
      const want = expectedPart(l, offset);
      if (!want.test(message)) wrong.push(`byte ${offset}: expected ${want}, got ${message}`);
    }
    expect(wrong).toEqual([]);
  }, 120_000);

  // Structural checks of the plan, config and header: headers edited consistently (v1 has no
  // checksums to recompute; the same edits in v2 with recomputed checksums reach the same checks).
  const MUTATIONS: [string, (h: any) => void, RegExp][] = [
    [
      'a LayerNorm negate that is a string',
      (h) => (h.plan.layers[0].attentionNorm.channels[3].negate = 'yes'),
      /plan\.layers\[0\]\.attentionNorm\.channels\[3\]\.negate: expected true or false, got the string "yes"/,
    ],
    [
      'a LayerNorm negate that is a number',
      (h) => (h.plan.embeddingNorm.channels[0].negate = 1),
      /plan\.embeddingNorm\.channels\[0\]\.negate: expected true or false, got number 1/,
    ],
    ['softmax: {}', (h) => (h.plan.layers[1].softmax = {}), /test\.i8t: plan\.layers\[1\]\.softmax\.rescale: missing/],
    ['a missing sub-object', (h) => delete h.plan.layers[0].gelu, /plan\.layers\[0\]\.gelu: missing/],
    [
      'a string where a number belongs',
      (h) => (h.plan.layers[0].query.inputScale = '0.5'),
      /plan\.layers\[0\]\.query\.inputScale: expected a finite number, got the string "0\.5"/,
    ],
    [
      'a fraction where an integer belongs',
      (h) => (h.plan.layers[0].softmax.shift = 1.5),
      /plan\.layers\[0\]\.softmax\.shift: expected an integer, got number 1\.5/,
    ],
    [
      'an unknown field',
      (h) => (h.plan.layers[0].query.extra = 1),
      /plan\.layers\[0\]\.query\.extra: unexpected field/,
    ],
    [
      'numHeads changed under the same plan',
      (h) => (h.config.numHeads = 4),
      /plan\.layers\[0\]\.softmax\.rescale = .* config\.numHeads disagrees with the plan/,
    ],
    ['numHeads that does not divide hidden', (h) => (h.config.numHeads = 3), /config\.numHeads = 3 is not valid/],
    [
      'a vocabulary size that disagrees with the table',
      (h) => (h.config.vocabSize = 30523),
      /plan\.embeddings\.tables\.word: 3906816 values, expected 3906944/,
    ],
    [
      'more labels than head outputs',
      (h) => h.config.labels.push('NEUTRAL'),
      /plan\.head\.output\.outFeatures: 2, expected 3/,
    ],
    [
      'a pad id outside the vocabulary',
      (h) => (h.config.padTokenId = 30522),
      /config\.padTokenId = 30522 is not valid \(vocabSize 30522\)/,
    ],
    ['an absurd LayerNorm eps', (h) => (h.config.layerNormEps = 1e300), /config\.layerNormEps = 1e\+300 is not valid/],
    [
      'an int8 weight declared uint8',
      (h) => (h.blobs[3].dtype = 'u8'),
      /plan\.layers\[0\]\.query\.weight: expected Int8Array, got a Uint8Array of 16384/,
    ],
    ['an unknown top-level field', (h) => (h.extra = {}), /extra: unexpected field in the header/],
  ];
  it.each(MUTATIONS)('refuses %s, naming the path', async (_, edit, want) => {
    expect(await refusal(load(editHeader(v1, edit)))).toMatch(want);
  });

  it('refuses "__proto__" keys wherever they are', async () => {
    const proto = (o: object) => Object.defineProperty(o, '__proto__', { value: { polluted: true }, enumerable: true });
    expect(await refusal(load(editHeader(v1, (h) => proto(h.plan.layers[0]))))).toMatch(
      /plan\.layers\[0\]\.__proto__: unexpected field/,
    );
    expect(await refusal(load(editHeader(v1, (h) => proto(h.config))))).toMatch(/config\.__proto__: unexpected field/);
    expect(await refusal(load(editHeader(v1, (h) => proto(h))))).toMatch(/__proto__: unexpected field in the header/);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('refuses numbers that JSON turns into infinities', async () => {
    const text = (t: string) => t.replace(/"hiddenScale":[^,}]+/, '"hiddenScale":1e999');
    expect(await refusal(load(editHeader(v1, () => {}, text)))).toMatch(
      /plan\.hiddenScale: expected a finite number, got number Infinity|hiddenScale = Infinity/,
    );
  });

  it('refuses a classifier without its head', () => {
    // In a file, deleting the head orphans its blobs (version 2 refuses that first): checked on the plan.
    const plan = one.doc.plan as Parameters<typeof validatePlan>[0];
    expect(() => validatePlan({ ...plan, head: undefined }, one.doc.config as EncoderConfig, 'test')).toThrow(
      /test: plan\.head: missing/,
    );
  });

  it('refuses an empty tokenizer vocabulary and token ids outside the embedding table', async () => {
    const withTokenizer = async (json: string) =>
      writeContainer({ ...one.doc, tokenizer: { ...(one.doc.tokenizer as object), json: await gzip(json) } });
    const tokenizer = (vocab: Record<string, number>, added: number[]) =>
      JSON.stringify({
        added_tokens: added.map((id) => ({ id, content: `[S${id}]` })),
        model: { type: 'WordPiece', vocab },
      });
    expect(await refusal(load(await withTokenizer(tokenizer({}, []))))).toMatch(
      /tokenizer\.json: the vocabulary is empty/,
    );
    expect(await refusal(load(await withTokenizer(tokenizer({ a: 0, b: 30522 }, []))))).toMatch(
      /tokenizer\.json: token id 30522 is outside the model's vocabulary of 30522/,
    );
    expect(await refusal(load(await withTokenizer(tokenizer({ a: 0 }, [30600]))))).toMatch(/token id 30600 is outside/);
    expect(await refusal(load(await withTokenizer('{"model": ')))).toMatch(/tokenizer\.json is not valid JSON/);
  });
});
