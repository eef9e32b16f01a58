/**
 * The integer model file (.i8t): a container for one JSON document whose typed arrays are stored
 * as binary blobs (config, program, tokenizer, provenance of an integer encoder, GPT-2 decoder or
 * Marian encoder-decoder, and a generator's generation settings), readable in Node and in browsers.
 *
 * Version 2 (written by this runtime):
 *   bytes 0..7    magic 49 38 54 4D 0D 0A 1A 0A ("I8TM\r\n\x1a\n": detects text-mode mangling)
 *   bytes 8..11   format version, u32 little-endian
 *   bytes 12..15  header length H, u32 little-endian (at most 16 MiB)
 *   bytes 16..19  header CRC32C, u32 little-endian: over bytes 0..15, then the H header bytes
 *   20..20+H      header, UTF-8 JSON: { format, <document fields>, blobs }
 *   then zero padding to a multiple of 8, then the data section: blobs at 8-aligned offsets, zero
 *   padding between them, the file ending at the last blob's padded end.
 * Version 1 (still read, no longer written): the same without bytes 16..19 (header at 16) and
 * without checksums.
 *
 * Every typed array of the document is a blob, referenced from the JSON as {"$blob": i}; the blob
 * table (`blobs`) gives each one's dtype, length, offset and, from version 2, its CRC32C.
 *
 * What the checksums guarantee. Loading verifies, before decoding anything: the header CRC (which
 * covers the blob table, hence every blob's offset, length, dtype and CRC, and every reference to a
 * blob), then every blob's CRC, then that padding is zero and nothing follows the last blob. So any
 * damage to any byte, truncation, appended data, and any rearrangement (swapped or duplicated
 * layers, a reference re-pointed at another tensor's data, blobs moved in the data section) is
 * refused, and the message names the damaged part: the header, or the blob by the JSON path that
 * references it (`plan.layers[1].intermediate.weight`). What remains undetectable by design: a file
 * rewritten consistently by someone who recomputes the checksums (or by a buggy converter). CRCs give
 * integrity against accidents, not authenticity; that would need a signature checked against a key
 * the loader trusts. The structural and semantic validation after decoding (src/core/schema.ts,
 * src/plan/validate-plan.ts) is what keeps such a file from overflowing a kernel or reading out of
 * bounds; it cannot tell a tampered weight from a real one.
 *
 * Cost of verification (CRC32C in pure TypeScript, slicing by 8; Node 20 on the shared 2-core dev
 * machine under load, medians of bench/integrity.ts): the built-in 4.7 MB model, 8 ms (570 MB/s),
 * readContainer 6 ms (v1) -> 14 ms (v2), about a fifth of readIntModelFile's 42 ms (the rest: gunzip
 * and parse of the tokenizer, plan validation); a 105 MB container, 180 ms (580 MB/s), 250 ms with
 * the copy out. On a quiet core the CRC runs at 700-800 MB/s. Small beside a download of the file.
 */

import { describe, member } from '../core/schema.js';
import type { DecoderConfig, EncoderConfig, MarianConfig } from '../core/types.js';
import type { ModelKind } from '../graph/types.js';
import type { IntAttentionOp, IntEmbedOp, IntGemmOp, IntProgram, IntTensor } from '../plan/int-program.js';
import type { EncoderPlan } from '../plan/v1-program.js';
import { programFromV1 } from '../plan/v1-program.js';
import { validateConfig, validateDecoderConfig, validatePlan } from '../plan/validate-plan.js';
import { validateProgram } from '../plan/validate-program.js';
import { crc32c, hex32 } from './checksum.js';

export const MAGIC = Uint8Array.from([0x49, 0x38, 0x54, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a]);
/** The version this runtime writes. */
export const FORMAT_VERSION = 2;
/** Versions this runtime reads: 1 (no checksums) and every checksummed version up to FORMAT_VERSION. */
export const FIRST_CHECKSUMMED_VERSION = 2;
const MAX_HEADER_BYTES = 16 * 2 ** 20;
/** Deeper nesting is no document this runtime writes, and would exhaust the stack of the walks below. */
const MAX_DEPTH = 64;
const FORMAT_NAME = 'int8-transformer integer model';
/** Header keys the container owns; a document cannot use them. */
const RESERVED = ['format', 'blobs'];

type BlobDtype = 'i8' | 'u8' | 'i16' | 'u16' | 'i32' | 'u32' | 'f32' | 'f64';
type BlobArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array;
const DTYPES: Record<BlobDtype, { bytes: number; type: { new (b: ArrayBuffer): BlobArray; readonly name: string } }> = {
  i8: { bytes: 1, type: Int8Array },
  u8: { bytes: 1, type: Uint8Array },
  i16: { bytes: 2, type: Int16Array },
  u16: { bytes: 2, type: Uint16Array },
  i32: { bytes: 4, type: Int32Array },
  u32: { bytes: 4, type: Uint32Array },
  f32: { bytes: 4, type: Float32Array },
  f64: { bytes: 8, type: Float64Array },
};

interface BlobEntry {
  dtype: BlobDtype;
  length: number;
  offset: number;
  /** From version 2. */
  crc32c?: number;
}

/**
 * The document of an integer encoder. Version 2 files hold the integer program (src/plan/int-program.ts:
 * every tensor's type, scale and bound, every op with its constants); version 1 files held an
 * encoder plan, which is read as the program the planner makes of it (src/plan/v1-program.ts).
 */
export interface IntModelFile {
  kind: ModelKind;
  config: EncoderConfig;
  program: IntProgram;
  /** tokenizer.json and tokenizer_config.json as they were in the source folder. */
  tokenizer: { json: string; config?: string };
  provenance: Record<string, unknown>;
  /** Decoders: default generation settings (generation_config.json), stored as is. */
  generation?: Record<string, unknown>;
}

/**
 * The document of an integer decoder-only language model (GPT-2): the same fields, with the decoder's
 * config (its `task` is 'text-generation', which is how a reader tells the two apart) and a program
 * whose output is 'lm-logits'. Version 2 only: version 1 never held decoders.
 */
export interface IntDecoderFile {
  kind: 'decoder';
  config: DecoderConfig;
  program: IntProgram;
  tokenizer: { json: string; config?: string };
  provenance: Record<string, unknown>;
  /** generation_config.json of the source folder, stored as is (absent when it had none). */
  generation?: Record<string, unknown>;
}

/** Either document; `isDecoderFile` tells which. */
export type AnyIntModelFile = IntModelFile | IntDecoderFile;

/**
 * The document of an integer encoder-decoder translation model (MarianMTModel): the same fields,
 * with the Marian config (its `task` is 'translation') and a program of kind 'encoder-decoder'
 * (the encoder over source positions, cross-attention, next-token 'lm-logits'). Version 2 only.
 */
export interface IntTranslatorFile {
  kind: 'encoder-decoder';
  config: MarianConfig;
  program: IntProgram;
  tokenizer: { json: string; config?: string };
  provenance: Record<string, unknown>;
  /**
   * generation_config.json of the source folder, stored as is (absent when it had none): opus-mt's
   * bad_words_ids, max_length, num_beams. Its token ids are checked against the vocabulary on reading.
   */
  generation?: Record<string, unknown>;
}

/**
 * Any document this runtime writes; `isDecoderFile` and `isTranslatorFile` tell which. A separate
 * type from AnyIntModelFile so that callers written for encoders and language models
 * (readAnyIntModelFile) never receive a translation model unawares.
 */
export type AnyIntFile = AnyIntModelFile | IntTranslatorFile;

export function isDecoderFile(file: AnyIntFile): file is IntDecoderFile {
  return file.config.task === 'text-generation';
}

export function isTranslatorFile(file: AnyIntFile): file is IntTranslatorFile {
  return file.config.task === 'translation';
}

export class IntModelFileError extends Error {
  override name = 'IntModelFileError';
}

function fail(what: string, message: string): never {
  throw new IntModelFileError(`${what}: ${message}`);
}

function dtypeOf(v: unknown): BlobDtype | undefined {
  // Exact classes: a subclass or a Uint8ClampedArray would not come back as what was written.
  const c = (v as object | null)?.constructor;
  for (const [k, d] of Object.entries(DTYPES)) if (c === d.type && ArrayBuffer.isView(v)) return k as BlobDtype;
  return undefined;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes: Uint8Array, what: string, path: string): Promise<string> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return await new Response(stream).text();
  } catch (e) {
    fail(what, `${path}: the compressed blob is corrupt (${(e as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------------
// The generic container: any JSON document with typed arrays in it.

export interface WriteContainerOptions {
  /** Default FORMAT_VERSION; must be a checksummed version this runtime reads. */
  formatVersion?: number;
}

/**
 * Writes `doc` (JSON values and typed arrays of the classes in DTYPES, nested in any way) as a
 * container. Numbers must be finite; `format` and `blobs` are reserved top-level keys; undefined
 * object fields are dropped as JSON.stringify drops them.
 */
export function writeContainer(doc: Record<string, unknown>, options: WriteContainerOptions = {}): Uint8Array {
  const version = options.formatVersion ?? FORMAT_VERSION;
  if (!Number.isInteger(version) || version < FIRST_CHECKSUMMED_VERSION || version > FORMAT_VERSION) {
    throw new RangeError(
      `writeContainer: format version ${version}; this runtime writes versions ${FIRST_CHECKSUMMED_VERSION}..${FORMAT_VERSION}`,
    );
  }
  for (const k of RESERVED)
    if (Object.hasOwn(doc, k)) throw new RangeError(`writeContainer: "${k}" is reserved for the container`);
  const blobs: { entry: BlobEntry; bytes: Uint8Array }[] = [];
  let offset = 0;
  const encode = (v: unknown, path: string, depth: number): unknown => {
    if (depth > MAX_DEPTH) throw new RangeError(`writeContainer: ${path} is nested deeper than ${MAX_DEPTH} levels`);
    const dtype = dtypeOf(v);
    if (dtype) {
      const a = v as BlobArray;
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      blobs.push({ entry: { dtype, length: a.length, offset, crc32c: crc32c(bytes) }, bytes });
      offset += align8(bytes.byteLength);
      return { $blob: blobs.length - 1 };
    }
    if (ArrayBuffer.isView(v))
      throw new RangeError(`writeContainer: ${path} is a ${v.constructor.name}, which the container does not store`);
    if (Array.isArray(v)) return v.map((x, i) => encode(x, `${path}[${i}]`, depth + 1));
    if (v && typeof v === 'object') {
      if (Object.hasOwn(v, '$blob'))
        throw new RangeError(`writeContainer: ${path} has a "$blob" key, which marks blob references`);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x, member(path, k), depth + 1)]));
    }
    if (typeof v === 'number' && !Number.isFinite(v))
      throw new RangeError(`writeContainer: ${path} is the non-finite number ${v}`);
    return v;
  };
  const body = Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, encode(v, k, 1)]));
  const header = { format: FORMAT_NAME, ...body, blobs: blobs.map((b) => b.entry) };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  if (headerBytes.length > MAX_HEADER_BYTES)
    throw new RangeError(
      `writeContainer: the header is ${headerBytes.length} bytes, over the 16 MiB limit; store large arrays as typed arrays`,
    );
  const dataStart = align8(20 + headerBytes.length);
  const out = new Uint8Array(dataStart + offset);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, 20);
  view.setUint32(16, crc32c(headerBytes, crc32c(out.subarray(0, 16))), true);
  for (const b of blobs) out.set(b.bytes, dataStart + b.entry.offset);
  return out;
}

export interface ContainerContents {
  formatVersion: number;
  /** The document with every blob reference replaced by a fresh typed array (not aliasing the file). */
  doc: Record<string, unknown>;
  /** JSON path of each blob, by blob index: what error messages name. */
  blobPaths: string[];
  /** Whether the file carried checksums (version >= 2) and they were verified. */
  verified: boolean;
}

/** Finds every {"$blob": i}, refusing dangling, shared (aliased) and malformed references. */
function blobReferences(header: Record<string, unknown>, count: number, what: string): string[] {
  const paths: string[] = new Array(count);
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) fail(what, `${path} is nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
      return;
    }
    if (!v || typeof v !== 'object') return;
    if (Object.hasOwn(v, '$blob')) {
      const i = (v as { $blob: unknown }).$blob;
      if (Object.keys(v).length !== 1)
        fail(what, `${path}: a blob reference with other keys (${Object.keys(v).join(', ')})`);
      if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= count)
        fail(what, `${path}: a reference to blob ${JSON.stringify(i)}, which does not exist (the file has ${count})`);
      const n = i as number;
      if (paths[n] !== undefined)
        fail(what, `blob ${n} is referenced twice, by ${paths[n]} and by ${path}: a blob belongs to one tensor`);
      paths[n] = path;
      return;
    }
    for (const [k, x] of Object.entries(v)) walk(x, member(path, k), depth + 1);
  };
  for (const [k, v] of Object.entries(header)) if (k !== 'blobs') walk(v, k, 1);
  return paths;
}

function checkBlobTable(
  entries: unknown[],
  dataBytes: number,
  paths: string[],
  checksummed: boolean,
  what: string,
): BlobEntry[] {
  const name = (i: number) => `blob ${i}${paths[i] ? ` (${paths[i]})` : ''}`;
  const keys = checksummed ? ['dtype', 'length', 'offset', 'crc32c'] : ['dtype', 'length', 'offset'];
  const spans: [number, number, number][] = [];
  const list = entries.map((e, i): BlobEntry => {
    if (!e || typeof e !== 'object' || Array.isArray(e))
      fail(what, `${name(i)}: the blob table entry is ${describe(e)}`);
    const x = e as Record<string, unknown>;
    // Object.hasOwn, not `in`: "toString" or "__proto__" must not pass as a dtype.
    if (typeof x.dtype !== 'string' || !Object.hasOwn(DTYPES, x.dtype))
      fail(what, `${name(i)} has an unknown dtype ${JSON.stringify(x.dtype)}`);
    if (!Number.isSafeInteger(x.length) || (x.length as number) < 0)
      fail(what, `${name(i)} has an invalid length ${JSON.stringify(x.length)}`);
    if (!Number.isSafeInteger(x.offset) || (x.offset as number) < 0 || (x.offset as number) % 8 !== 0)
      fail(what, `${name(i)} has an invalid offset ${JSON.stringify(x.offset)}`);
    if (checksummed) {
      for (const k of Object.keys(x))
        if (!keys.includes(k)) fail(what, `${name(i)}: unexpected field ${JSON.stringify(k)} in the blob table`);
      if (!Number.isInteger(x.crc32c) || (x.crc32c as number) < 0 || (x.crc32c as number) > 0xffffffff)
        fail(what, `${name(i)} has an invalid crc32c ${JSON.stringify(x.crc32c)}`);
    }
    const entry = x as unknown as BlobEntry;
    const bytes = entry.length * DTYPES[entry.dtype].bytes;
    if (entry.offset + bytes > dataBytes)
      fail(what, `${name(i)} (${bytes} bytes at ${entry.offset}) runs past the end of the file (truncated?)`);
    spans.push([entry.offset, entry.offset + bytes, i]);
    return entry;
  });
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) fail(what, `${name(spans[i - 1][2])} and ${name(spans[i][2])} overlap`);
  }
  return list;
}

/** Bytes in [from, to) that are not zero: padding is zero, so a nonzero byte is damage. */
function firstNonZero(bytes: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return i;
  return -1;
}

/**
 * Reads and verifies a container: structure, then (version >= 2) the header and blob checksums,
 * zero padding and the exact file length, all before decoding; then decodes the document.
 */
export function readContainer(bytes: Uint8Array, what = 'integer model file'): ContainerContents {
  if (bytes.length < 16) fail(what, `only ${bytes.length} bytes: not an integer model file`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i])
      fail(
        what,
        'not an int8-transformer integer model (bad magic bytes); convert a Hugging Face folder with `int8-transformer convert`',
      );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== 1 && !(version >= FIRST_CHECKSUMMED_VERSION && version <= FORMAT_VERSION)) {
    fail(what, `format version ${version}; this runtime reads versions 1..${FORMAT_VERSION}`);
  }
  const checksummed = version >= FIRST_CHECKSUMMED_VERSION;
  const headerStart = checksummed ? 20 : 16;
  if (bytes.length < headerStart) fail(what, `only ${bytes.length} bytes: truncated before the header`);
  const headerLength = view.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES || headerStart + headerLength > bytes.length) {
    fail(
      what,
      `header length ${headerLength} exceeds the file (${bytes.length} bytes) or the 16 MiB limit (truncated or damaged)`,
    );
  }
  const headerBytes = bytes.subarray(headerStart, headerStart + headerLength);
  if (checksummed) {
    const stored = view.getUint32(16, true);
    const actual = crc32c(headerBytes, crc32c(bytes.subarray(0, 16)));
    if (stored !== actual)
      fail(
        what,
        `the header is damaged: its CRC32C is ${hex32(actual)}, the file says ${hex32(stored)} (bytes 0..${headerStart + headerLength - 1})`,
      );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(what, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail(what, 'the header is not a JSON object');
  if (checksummed && header.format !== FORMAT_NAME)
    fail(what, `the header's format is ${describe(header.format)}, expected "${FORMAT_NAME}"`);
  if (!Array.isArray(header.blobs)) fail(what, 'the header has no blob table');
  const dataStart = align8(headerStart + headerLength);
  const data = bytes.subarray(Math.min(dataStart, bytes.length));
  const paths = blobReferences(header, header.blobs.length, what);
  const entries = checkBlobTable(header.blobs, data.length, paths, checksummed, what);
  if (checksummed) {
    // The writer stores only referenced arrays; an orphan means the references were edited.
    for (let i = 0; i < entries.length; i++)
      if (paths[i] === undefined) fail(what, `blob ${i} is referenced by nothing in the header`);
    entries.forEach((e, i) => {
      const n = e.length * DTYPES[e.dtype].bytes;
      const actual = crc32c(data.subarray(e.offset, e.offset + n));
      if (actual !== e.crc32c)
        fail(
          what,
          `blob ${i} (${paths[i]}: ${e.length} ${e.dtype} values) is damaged: its CRC32C is ${hex32(actual)}, the blob table says ${hex32(e.crc32c!)}`,
        );
    });
    // Bytes outside every blob: header padding, padding between blobs, and nothing after the last.
    const end = entries.reduce((m, e) => Math.max(m, align8(e.offset + e.length * DTYPES[e.dtype].bytes)), 0);
    if (data.length !== end)
      fail(
        what,
        `the data section is ${data.length} bytes, the blob table accounts for ${end} (${data.length > end ? 'data appended' : 'truncated'})`,
      );
    const headerPad = firstNonZero(bytes, headerStart + headerLength, dataStart);
    if (headerPad >= 0) fail(what, `padding byte ${headerPad} after the header is not zero (damaged)`);
    const spans = entries
      .map((e) => [e.offset, e.offset + e.length * DTYPES[e.dtype].bytes])
      .sort((a, b) => a[0] - b[0]);
    let cursor = 0;
    for (const [from, to] of [...spans, [end, end]]) {
      const bad = firstNonZero(data, cursor, from);
      if (bad >= 0) fail(what, `padding byte ${dataStart + bad} between blobs is not zero (damaged)`);
      cursor = Math.max(cursor, to);
    }
  }
  const decode = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === 'object') {
      if (Object.hasOwn(v, '$blob')) {
        const e = entries[(v as { $blob: number }).$blob];
        const n = e.length * DTYPES[e.dtype].bytes;
        // Copy into a fresh, aligned buffer: typed arrays need alignment and must not alias the file.
        // Uint8Array's own slice: a Node Buffer's slice is a view, whose .buffer is the whole file.
        return new DTYPES[e.dtype].type(Uint8Array.prototype.slice.call(data, e.offset, e.offset + n).buffer);
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
    }
    return v;
  };
  const doc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(header))
    if (!RESERVED.includes(k))
      Object.defineProperty(doc, k, { value: decode(v), enumerable: true, writable: true, configurable: true });
  return { formatVersion: version, doc, blobPaths: paths, verified: checksummed };
}

// ---------------------------------------------------------------------------------------------
// The documents: an integer encoder, an integer decoder-only language model, or an integer translation model.

export async function writeIntModelFile(model: AnyIntFile & { formatVersion?: number }): Promise<Uint8Array> {
  const { formatVersion, tokenizer, ...rest } = model;
  return writeContainer(
    {
      ...rest,
      tokenizer: {
        json: await gzip(tokenizer.json),
        config: tokenizer.config === undefined ? null : await gzip(tokenizer.config),
      },
    },
    { formatVersion },
  );
}

/**
 * The tokenizer's vocabulary, checked without the tokenizer library (which accepts an empty one and
 * would then map every word to nothing): non-empty, and every id inside the embedding table.
 */
function checkTokenizer(json: string, vocabSize: number, what: string): void {
  let t: Record<string, unknown>;
  try {
    t = JSON.parse(json);
  } catch (e) {
    fail(what, `tokenizer.json is not valid JSON (${(e as Error).message})`);
  }
  if (!t || typeof t !== 'object' || Array.isArray(t)) fail(what, 'tokenizer.json is not a JSON object');
  const model = t.model as Record<string, unknown> | undefined;
  const vocab = model && typeof model === 'object' ? model.vocab : undefined;
  const ids: unknown[] = [];
  if (Array.isArray(vocab)) {
    // Unigram: [token, score] pairs, the id being the index.
    vocab.forEach((_, i) => ids.push(i));
  } else if (vocab && typeof vocab === 'object') {
    ids.push(...Object.values(vocab));
  } else {
    fail(what, `tokenizer.json: model.vocab is ${describe(vocab)}, expected a vocabulary`);
  }
  if (ids.length === 0) fail(what, 'tokenizer.json: the vocabulary is empty');
  const added = Array.isArray(t.added_tokens) ? t.added_tokens.map((a) => (a as { id?: unknown } | null)?.id) : [];
  for (const id of [...ids, ...added]) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize) {
      fail(
        what,
        `tokenizer.json: token id ${JSON.stringify(id)} is outside the model's vocabulary of ${vocabSize} (config.vocabSize)`,
      );
    }
  }
}

/** What the tokenizer and the heads assume of the program: table sizes, positions, labels. */
function checkProgramAgainstConfig(p: IntProgram, c: EncoderConfig | DecoderConfig, what: string): void {
  const embed = p.ops.find((o): o is IntEmbedOp => o.kind === 'embed');
  if (!embed) fail(what, 'the program has no embedding op');
  const H = embed.tables.hidden;
  if (H !== c.hiddenSize) fail(what, `the program's hidden size ${H} differs from config.hiddenSize ${c.hiddenSize}`);
  if (embed.tables.word.length / H !== c.vocabSize)
    fail(what, `the word table has ${embed.tables.word.length / H} rows; config.vocabSize is ${c.vocabSize}`);
  if (p.maxPositions !== c.maxPositions)
    fail(what, `the program handles ${p.maxPositions} positions; config.maxPositions is ${c.maxPositions}`);
  const typeVocabSize = c.task === 'text-generation' ? 0 : c.typeVocabSize;
  if (
    typeVocabSize > 0 !== !!embed.tables.tokenType ||
    (embed.tables.tokenType && embed.tables.tokenType.length / H !== typeVocabSize)
  ) {
    fail(what, `the token-type table does not match config.typeVocabSize ${typeVocabSize}`);
  }
  const out = p.tensors.find((t) => t.id === p.output.tensor)!;
  const width = out.shape[out.shape.length - 1] as number;
  if (c.task === 'text-generation') {
    // A decoder's tokens see only their past: generation and scoring read every position's logits.
    if (p.kind !== 'decoder' || p.output.kind !== 'lm-logits')
      fail(
        what,
        `the config is a language model's (${c.architecture}); the program is a ${p.kind} giving ${p.output.kind}`,
      );
    if (width !== c.vocabSize)
      fail(what, `the program gives ${width} logits per token; config.vocabSize is ${c.vocabSize}`);
    const open = p.ops.find((o) => o.kind === 'attention' && !o.causal);
    if (open) fail(what, `attention "${open.out}" is not causal; a language model's is`);
    return;
  }
  if (p.output.kind === 'lm-logits')
    fail(what, `the program gives next-token logits; the config is an encoder's (task ${c.task})`);
  if (p.output.kind === 'logits' && (c.task !== 'sequence-classification' || width !== c.labels.length))
    fail(what, `the program gives ${width} logits; the config names ${c.labels.length} labels for task ${c.task}`);
  if (p.output.kind === 'token-logits' && (c.task !== 'token-classification' || width !== c.labels.length))
    fail(
      what,
      `the program gives ${width} logits per token; the config names ${c.labels.length} labels for task ${c.task}`,
    );
  if (p.output.kind === 'pooled' && c.task !== 'embedding')
    fail(what, `the program pools; the config's task is ${c.task}`);
}

const DOCUMENT_KEYS = ['config', 'plan', 'program', 'tokenizer', 'provenance', 'kind', 'generation'];

/**
 * Reads an integer encoder's file. A language model's file is refused with a message naming
 * readAnyIntModelFile: callers written for encoders (classify, embed) must not receive a decoder.
 */
export async function readIntModelFile(bytes: Uint8Array, what = 'integer model file'): Promise<IntModelFile> {
  const file = await readAnyIntModelFile(bytes, what);
  if (isDecoderFile(file))
    fail(
      what,
      `holds a language model (${file.config.architecture}), not an encoder; read it with readAnyIntModelFile`,
    );
  return file;
}

/**
 * Reads an encoder's (version 1 or 2) or a decoder's (version 2) file. A translation model's file is
 * refused with a message naming readAnyIntFile: these callers have no use for an encoder-decoder.
 */
export async function readAnyIntModelFile(bytes: Uint8Array, what = 'integer model file'): Promise<AnyIntModelFile> {
  const file = await readAnyIntFile(bytes, what);
  if (isTranslatorFile(file))
    fail(
      what,
      `holds a translation model (${file.config.architecture}), not an encoder or a language model; read it with readAnyIntFile or readIntTranslatorFile`,
    );
  return file;
}

/** Reads a translation model's file; the other kinds are refused, naming the reader that takes them. */
export async function readIntTranslatorFile(
  bytes: Uint8Array,
  what = 'integer model file',
): Promise<IntTranslatorFile> {
  const file = await readAnyIntFile(bytes, what);
  if (!isTranslatorFile(file))
    fail(
      what,
      `holds ${isDecoderFile(file) ? 'a language model' : 'an encoder'} (${file.config.architecture}), not a translation model; read it with readAnyIntModelFile`,
    );
  return file;
}

/** Reads any kind of integer model file: an encoder (version 1 or 2), a decoder or a translation model (version 2). */
export async function readAnyIntFile(bytes: Uint8Array, what = 'integer model file'): Promise<AnyIntFile> {
  const { doc } = readContainer(bytes, what);
  for (const k of Object.keys(doc))
    if (!DOCUMENT_KEYS.includes(k)) fail(what, `${member('', k)}: unexpected field in the header`);
  const tok = doc.tokenizer as { json?: unknown; config?: unknown } | undefined;
  if (!tok || typeof tok !== 'object' || !(tok.json instanceof Uint8Array))
    fail(what, 'the file holds no tokenizer (tokenizer.json must be a u8 blob)');
  if (tok.config !== null && tok.config !== undefined && !(tok.config instanceof Uint8Array))
    fail(what, 'tokenizer.config must be a u8 blob or null');
  const tokenizerJson = await gunzip(tok.json, what, 'tokenizer.json');
  const tokenizerConfig =
    tok.config instanceof Uint8Array ? await gunzip(tok.config, what, 'tokenizer.config') : undefined;
  // The config's task says which document this is; each kind's validation then refuses the other's fields.
  const task = (doc.config as { task?: unknown } | null | undefined)?.task;
  const decoder = task === 'text-generation';
  const translator = task === 'translation';
  const config = doc.config as EncoderConfig | DecoderConfig | MarianConfig;
  let program: IntProgram;
  if (doc.program !== undefined) {
    if (translator) validateTranslatorConfig(config as MarianConfig, what);
    else if (decoder) validateDecoderConfig(config as DecoderConfig, what);
    else validateConfig(config as EncoderConfig, what);
    validateProgram(doc.program, what);
    program = doc.program;
    if (translator) checkTranslatorProgram(program, config as MarianConfig, what);
    else checkProgramAgainstConfig(program, config as EncoderConfig | DecoderConfig, what);
  } else if (doc.plan !== undefined && !decoder && !translator) {
    // Version 1: an encoder plan, run as the program it is equivalent to.
    validatePlan(doc.plan as EncoderPlan, config as EncoderConfig, what);
    program = programFromV1(doc.plan as EncoderPlan, config as EncoderConfig);
  } else {
    fail(what, 'the file holds no integer program');
  }
  checkTokenizer(tokenizerJson, config.vocabSize, what);
  if (
    doc.provenance !== undefined &&
    (!doc.provenance || typeof doc.provenance !== 'object' || Array.isArray(doc.provenance))
  )
    fail(what, `provenance is ${describe(doc.provenance)}, expected an object`);
  if (doc.kind !== undefined && doc.kind !== program.kind)
    fail(what, `kind ${describe(doc.kind)} differs from the program's ${JSON.stringify(program.kind)}`);
  if (
    doc.generation !== undefined &&
    (!doc.generation || typeof doc.generation !== 'object' || Array.isArray(doc.generation))
  )
    fail(what, `generation is ${describe(doc.generation)}, expected an object`);
  if (translator && doc.generation !== undefined)
    checkTranslatorGeneration(doc.generation as Record<string, unknown>, config.vocabSize, what);
  const file = {
    kind: program.kind,
    config,
    program,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: (doc.provenance as Record<string, unknown>) ?? {},
  } as AnyIntFile;
  if (doc.generation !== undefined) file.generation = doc.generation as Record<string, unknown>;
  return file;
}

// ---------------------------------------------------------------------------------------------
// Translation models (Marian): the config, and what it implies of the program and generation settings.

const TRANSLATOR_CONFIG_KEYS = [
  'architecture',
  'family',
  'task',
  'hiddenSize',
  'encoderLayers',
  'decoderLayers',
  'encoderHeads',
  'decoderHeads',
  'encoderFfnSize',
  'decoderFfnSize',
  'vocabSize',
  'maxPositions',
  'layerNormEps',
  'activation',
  'scaleEmbedding',
  'padTokenId',
  'eosTokenId',
  'decoderStartTokenId',
  'forcedEosTokenId',
  'tiedEmbeddings',
];

/** A translation model's config as a model file stores it (what parseMarianConfig makes of a config.json). */
export function validateTranslatorConfig(c: MarianConfig, what: string): void {
  const bad = (field: string, v: unknown, why = ''): never =>
    fail(what, `config.${field} = ${JSON.stringify(v)} is not valid${why}`);
  if (!c || typeof c !== 'object' || Array.isArray(c)) fail(what, 'no model config');
  if (c.family !== 'marian') bad('family', c.family);
  if (c.task !== 'translation') bad('task', c.task);
  if (typeof c.architecture !== 'string') bad('architecture', c.architecture);
  const sizes = [
    'hiddenSize',
    'encoderLayers',
    'decoderLayers',
    'encoderHeads',
    'decoderHeads',
    'encoderFfnSize',
    'decoderFfnSize',
    'vocabSize',
    'maxPositions',
  ] as const;
  for (const f of sizes) if (!Number.isInteger(c[f]) || c[f] < 1 || c[f] > 2 ** 20) bad(f, c[f]);
  for (const f of ['encoderHeads', 'decoderHeads'] as const)
    if (c.hiddenSize % c[f] !== 0) bad(f, c[f], ` (hiddenSize ${c.hiddenSize} is not a multiple)`);
  const ids = ['padTokenId', 'eosTokenId', 'decoderStartTokenId'] as const;
  for (const f of ids)
    if (!Number.isInteger(c[f]) || c[f] < 0 || c[f] >= c.vocabSize) bad(f, c[f], ` (vocabSize ${c.vocabSize})`);
  if (
    c.forcedEosTokenId !== undefined &&
    (!Number.isInteger(c.forcedEosTokenId) || c.forcedEosTokenId < 0 || c.forcedEosTokenId >= c.vocabSize)
  )
    bad('forcedEosTokenId', c.forcedEosTokenId, ` (vocabSize ${c.vocabSize})`);
  if (typeof c.layerNormEps !== 'number' || !(c.layerNormEps > 0 && c.layerNormEps <= 0.1))
    bad('layerNormEps', c.layerNormEps, ': expected (0, 0.1]');
  if (!['silu', 'gelu', 'gelu_new', 'relu'].includes(c.activation)) bad('activation', c.activation);
  if (typeof c.scaleEmbedding !== 'boolean') bad('scaleEmbedding', c.scaleEmbedding);
  if (typeof c.tiedEmbeddings !== 'boolean') bad('tiedEmbeddings', c.tiedEmbeddings);
  for (const k of Object.keys(c)) if (!TRANSLATOR_CONFIG_KEYS.includes(k)) fail(what, `config.${k}: unexpected field`);
}

/** The FFN epilogue the planner fuses for each activation (relu is not planned over all rows). */
const FFN_EPILOGUE: Partial<Record<MarianConfig['activation'], IntGemmOp['epilogue']>> = {
  silu: 'silu-i8',
  gelu: 'gelu-i8',
  gelu_new: 'gelu-i8',
};

/**
 * What translation assumes of the program: an encoder-decoder giving next-token logits over the
 * vocabulary, each stack's embedding, attention heads and FFN width the config's. The stack of an
 * op is read from its tensors' rows ('source': the encoder's), not from names.
 */
function checkTranslatorProgram(p: IntProgram, c: MarianConfig, what: string): void {
  if (p.kind !== 'encoder-decoder' || p.output.kind !== 'lm-logits')
    fail(
      what,
      `the config is a translation model's (${c.architecture}); the program is a ${p.kind} giving ${p.output.kind}`,
    );
  const tensors = new Map(p.tensors.map((t) => [t.id, t]));
  const rows = (id: string) => (tensors.get(id) as IntTensor).shape[1];
  const out = tensors.get(p.output.tensor)!;
  const width = out.shape[out.shape.length - 1] as number;
  if (width !== c.vocabSize)
    fail(what, `the program gives ${width} logits per token; config.vocabSize is ${c.vocabSize}`);
  if (rows(p.output.tensor) !== 'query')
    fail(what, `the logits "${p.output.tensor}" are not over target positions (rows ${rows(p.output.tensor)})`);
  if (p.maxPositions !== c.maxPositions)
    fail(what, `the program handles ${p.maxPositions} positions; config.maxPositions is ${c.maxPositions}`);
  const H = c.hiddenSize;
  const embeds = p.ops.filter((o): o is IntEmbedOp => o.kind === 'embed');
  for (const stack of ['source', 'query'] as const) {
    const name = stack === 'source' ? 'encoder' : 'decoder';
    const mine = embeds.filter((e) => rows(e.out) === stack);
    if (mine.length !== 1) fail(what, `the program has ${mine.length} ${name} embeddings, expected 1`);
    const { tables } = mine[0];
    if (tables.hidden !== H)
      fail(what, `the ${name} embedding's hidden size ${tables.hidden} differs from config.hiddenSize ${H}`);
    if (tables.word.length / H !== c.vocabSize)
      fail(what, `the ${name} word table has ${tables.word.length / H} rows; config.vocabSize is ${c.vocabSize}`);
    if (tables.position.length / H < c.maxPositions)
      fail(
        what,
        `the ${name} position table has ${tables.position.length / H} rows; config.maxPositions is ${c.maxPositions}`,
      );
    if (tables.tokenType) fail(what, `the ${name} embedding has a token-type table; a Marian model has none`);
  }
  if (embeds.length !== 2) fail(what, `the program has ${embeds.length} embeddings, expected 2`);
  const attentions = p.ops.filter((o): o is IntAttentionOp => o.kind === 'attention');
  const groups = [
    {
      name: 'encoder self-attention',
      layers: c.encoderLayers,
      heads: c.encoderHeads,
      field: 'encoderHeads',
      causal: false,
    },
    {
      name: 'decoder self-attention',
      layers: c.decoderLayers,
      heads: c.decoderHeads,
      field: 'decoderHeads',
      causal: true,
    },
    { name: 'cross-attention', layers: c.decoderLayers, heads: c.decoderHeads, field: 'decoderHeads', causal: false },
  ];
  const groupOf = (a: IntAttentionOp) =>
    rows(a.q.tensor) === 'source' ? groups[0] : rows(a.k.tensor) === 'source' ? groups[2] : groups[1];
  for (const g of groups) {
    const mine = attentions.filter((a) => groupOf(a) === g);
    const layers = g === groups[0] ? 'encoderLayers' : 'decoderLayers';
    if (mine.length !== g.layers)
      fail(what, `the program has ${mine.length} ${g.name} ops; config.${layers} is ${g.layers}`);
    for (const a of mine) {
      if (a.heads !== g.heads || a.heads * a.headDim !== H)
        fail(
          what,
          `${g.name} "${a.out}" has ${a.heads} heads of ${a.headDim}; config.${g.field} is ${g.heads} (hiddenSize ${H})`,
        );
      if (a.causal !== g.causal)
        fail(
          what,
          `${g.name} "${a.out}" is ${a.causal ? '' : 'not '}causal; a translation model's is${g.causal ? '' : ' not'}`,
        );
    }
  }
  const epilogue = FFN_EPILOGUE[c.activation];
  if (epilogue) {
    const ffn = p.ops.filter(
      (o): o is IntGemmOp => o.kind === 'gemm' && (o.epilogue === 'silu-i8' || o.epilogue === 'gelu-i8'),
    );
    for (const [stack, layers, size, field] of [
      ['source', c.encoderLayers, c.encoderFfnSize, 'encoderFfnSize'],
      ['query', c.decoderLayers, c.decoderFfnSize, 'decoderFfnSize'],
    ] as const) {
      const mine = ffn.filter((g) => rows(g.input) === stack);
      const name = stack === 'source' ? 'encoder' : 'decoder';
      if (mine.length !== layers)
        fail(
          what,
          `the program has ${mine.length} ${name} feed-forward activations, expected one per layer (${layers})`,
        );
      for (const g of mine) {
        if (g.epilogue !== epilogue)
          fail(what, `"${g.name}" applies ${g.epilogue}; config.activation ${c.activation} needs ${epilogue}`);
        if (g.N !== size) fail(what, `"${g.name}" gives ${g.N} channels; config.${field} is ${size}`);
      }
    }
  }
}

/** Token-id fields of generation_config.json a translator may act on; null means unset. */
const GENERATION_IDS = ['decoder_start_token_id', 'pad_token_id', 'bos_token_id', 'forced_eos_token_id'];
const GENERATION_COUNTS = ['max_length', 'max_new_tokens', 'num_beams'];

/**
 * The generation settings a translator may act on, checked where a wrong value would index outside
 * the logits (token ids) or size a buffer (lengths); other keys are kept as they were.
 */
function checkTranslatorGeneration(g: Record<string, unknown>, vocabSize: number, what: string): void {
  const id = (v: unknown, path: string) => {
    if (!Number.isInteger(v) || (v as number) < 0 || (v as number) >= vocabSize)
      fail(
        what,
        `${path} = ${JSON.stringify(v)} is not a token id of the vocabulary of ${vocabSize} (config.vocabSize)`,
      );
  };
  for (const k of GENERATION_IDS) if (g[k] !== undefined && g[k] !== null) id(g[k], `generation.${k}`);
  const eos = g.eos_token_id;
  if (Array.isArray(eos)) eos.forEach((v, i) => id(v, `generation.eos_token_id[${i}]`));
  else if (eos !== undefined && eos !== null) id(eos, 'generation.eos_token_id');
  const badWords = g.bad_words_ids;
  if (badWords !== undefined && badWords !== null) {
    if (!Array.isArray(badWords))
      fail(what, `generation.bad_words_ids is ${describe(badWords)}, expected a list of id lists`);
    badWords.forEach((words, i) => {
      if (!Array.isArray(words) || words.length === 0)
        fail(what, `generation.bad_words_ids[${i}] is ${describe(words)}, expected a non-empty list of ids`);
      words.forEach((v, j) => id(v, `generation.bad_words_ids[${i}][${j}]`));
    });
  }
  for (const k of GENERATION_COUNTS) {
    const v = g[k];
    if (v !== undefined && v !== null && (!Number.isInteger(v) || (v as number) < 1))
      fail(what, `generation.${k} = ${JSON.stringify(v)} is not a positive integer`);
  }
}
