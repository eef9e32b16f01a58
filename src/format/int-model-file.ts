/**
 * The integer model file (.i8t): a container for one JSON document whose typed arrays are stored
 * as binary blobs (config, program, tokenizer, provenance of an integer encoder or GPT-2 decoder, and
 * a decoder's generation settings), readable in Node and in browsers.
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
import type { DecoderConfig, EncoderConfig } from '../core/types.js';
import type { ModelKind } from '../graph/types.js';
import type { IntEmbedOp, IntProgram } from '../plan/int-program.js';
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

export function isDecoderFile(file: AnyIntModelFile): file is IntDecoderFile {
  return file.config.task === 'text-generation';
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
// The documents: an integer encoder, or an integer decoder-only language model.

export async function writeIntModelFile(model: AnyIntModelFile & { formatVersion?: number }): Promise<Uint8Array> {
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

/** Reads either kind of integer model file: an encoder (version 1 or 2) or a decoder (version 2). */
export async function readAnyIntModelFile(bytes: Uint8Array, what = 'integer model file'): Promise<AnyIntModelFile> {
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
  const decoder = (doc.config as { task?: unknown } | null | undefined)?.task === 'text-generation';
  const config = doc.config as EncoderConfig | DecoderConfig;
  let program: IntProgram;
  if (doc.program !== undefined) {
    if (decoder) validateDecoderConfig(config as DecoderConfig, what);
    else validateConfig(config as EncoderConfig, what);
    validateProgram(doc.program, what);
    program = doc.program;
    checkProgramAgainstConfig(program, config, what);
  } else if (doc.plan !== undefined && !decoder) {
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
  const file = {
    kind: program.kind,
    config,
    program,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: (doc.provenance as Record<string, unknown>) ?? {},
  } as AnyIntModelFile;
  if (doc.generation !== undefined) file.generation = doc.generation as Record<string, unknown>;
  return file;
}
