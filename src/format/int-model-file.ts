/**
 * The integer model file (.i8t): int8 weights, int32 biases, the plan's constants and the tokenizer
 * in one versioned, self-validating file, readable in Node and in browsers.
 *
 *   bytes 0..7    magic 49 38 54 4D 0D 0A 1A 0A ("I8TM\r\n\x1a\n": detects text-mode mangling)
 *   bytes 8..11   format version, u32 little-endian
 *   bytes 12..15  header length H, u32 little-endian (at most 16 MiB)
 *   16..16+H      header, UTF-8 JSON: { config, plan, tokenizer, provenance, blobs }
 *   then zero padding to a multiple of 8, then the data section: blobs at 8-aligned offsets.
 *
 * Every typed array of the plan is stored as a blob and referenced from the JSON as {"$blob": i}.
 * Loading checks the structure (bounds, overlaps, lengths, dtypes) and then the plan itself:
 * shapes against the config and every kernel's constants against the bounds its overflow proof
 * needs, so a damaged or hostile file is refused with a message naming the problem.
 */
import type { EncoderConfig } from '../model/types.js';
import type { EncoderPlan } from '../plan/encoder-plan.js';
import { validatePlan } from '../plan/validate-plan.js';

export const MAGIC = Uint8Array.from([0x49, 0x38, 0x54, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a]);
export const FORMAT_VERSION = 1;
const MAX_HEADER_BYTES = 16 * 2 ** 20;

type BlobDtype = 'i8' | 'u8' | 'i32' | 'f64';
const DTYPES: Record<BlobDtype, { bytes: number; make: (b: ArrayBuffer) => ArrayLike<number> }> = {
  i8: { bytes: 1, make: (b) => new Int8Array(b) },
  u8: { bytes: 1, make: (b) => new Uint8Array(b) },
  i32: { bytes: 4, make: (b) => new Int32Array(b) },
  f64: { bytes: 8, make: (b) => new Float64Array(b) },
};

interface BlobEntry {
  dtype: BlobDtype;
  length: number;
  offset: number;
}

export interface IntModelFile {
  config: EncoderConfig;
  plan: EncoderPlan;
  /** tokenizer.json and tokenizer_config.json as they were in the source folder. */
  tokenizer: { json: string; config?: string };
  provenance: Record<string, unknown>;
}

export class IntModelFileError extends Error {
  override name = 'IntModelFileError';
}

function fail(what: string, message: string): never {
  throw new IntModelFileError(`${what}: ${message}`);
}

function dtypeOf(v: unknown): BlobDtype | undefined {
  if (v instanceof Int8Array) return 'i8';
  if (v instanceof Uint8Array) return 'u8';
  if (v instanceof Int32Array) return 'i32';
  if (v instanceof Float64Array) return 'f64';
  return undefined;
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function gunzip(bytes: Uint8Array, what: string): Promise<string> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return await new Response(stream).text();
  } catch (e) {
    fail(what, `a compressed tokenizer blob is corrupt (${(e as Error).message})`);
  }
}

export async function writeIntModelFile(model: IntModelFile): Promise<Uint8Array> {
  const blobs: { entry: BlobEntry; bytes: Uint8Array }[] = [];
  let offset = 0;
  const addBlob = (v: ArrayBufferView, dtype: BlobDtype) => {
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    const entry: BlobEntry = { dtype, length: v.byteLength / DTYPES[dtype].bytes, offset };
    blobs.push({ entry, bytes });
    offset += Math.ceil(bytes.byteLength / 8) * 8;
    return { $blob: blobs.length - 1 };
  };
  const encode = (v: unknown): unknown => {
    const dtype = dtypeOf(v);
    if (dtype) return addBlob(v as ArrayBufferView, dtype);
    if (Array.isArray(v)) return v.map(encode);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)]));
    if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError(`cannot store the non-finite number ${v}`);
    return v;
  };
  const header = {
    format: 'int8-transformer integer model',
    config: model.config,
    plan: encode(model.plan),
    tokenizer: {
      json: addBlob(await gzip(model.tokenizer.json), 'u8'),
      config: model.tokenizer.config === undefined ? null : addBlob(await gzip(model.tokenizer.config), 'u8'),
    },
    provenance: model.provenance,
    blobs: blobs.map((b) => b.entry),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = Math.ceil((16 + headerBytes.length) / 8) * 8;
  const out = new Uint8Array(dataStart + offset);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, 16);
  for (const b of blobs) out.set(b.bytes, dataStart + b.entry.offset);
  return out;
}

function checkBlobs(entries: unknown, dataBytes: number, what: string): BlobEntry[] {
  if (!Array.isArray(entries)) fail(what, 'the header has no blob table');
  const spans: [number, number, number][] = [];
  const list = entries.map((e, i): BlobEntry => {
    const x = e as Partial<BlobEntry>;
    if (!x || typeof x !== 'object' || !(x.dtype! in DTYPES)) fail(what, `blob ${i} has an unknown dtype ${JSON.stringify(x?.dtype)}`);
    if (!Number.isSafeInteger(x.length) || x.length! < 0) fail(what, `blob ${i} has an invalid length ${x.length}`);
    if (!Number.isSafeInteger(x.offset) || x.offset! < 0 || x.offset! % 8 !== 0) fail(what, `blob ${i} has an invalid offset ${x.offset}`);
    const bytes = x.length! * DTYPES[x.dtype!].bytes;
    if (x.offset! + bytes > dataBytes) fail(what, `blob ${i} (${bytes} bytes at ${x.offset}) runs past the end of the file (truncated?)`);
    spans.push([x.offset!, x.offset! + bytes, i]);
    return x as BlobEntry;
  });
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) fail(what, `blobs ${spans[i - 1][2]} and ${spans[i][2]} overlap`);
  }
  return list;
}

export async function readIntModelFile(bytes: Uint8Array, what = 'integer model file'): Promise<IntModelFile> {
  if (bytes.length < 16) fail(what, `only ${bytes.length} bytes: not an integer model file`);
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) fail(what, 'not an int8-transformer integer model (bad magic bytes); convert a Hugging Face folder with `int8-transformer convert`');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== FORMAT_VERSION) fail(what, `format version ${version}; this runtime reads version ${FORMAT_VERSION}`);
  const headerLength = view.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES || 16 + headerLength > bytes.length) fail(what, `header length ${headerLength} exceeds the file (${bytes.length} bytes) or the 16 MiB limit`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(16, 16 + headerLength)));
  } catch (e) {
    fail(what, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail(what, 'the header is not a JSON object');
  const dataStart = Math.ceil((16 + headerLength) / 8) * 8;
  const data = bytes.subarray(Math.min(dataStart, bytes.length));
  const entries = checkBlobs(header.blobs, data.length, what);
  const blob = (i: unknown) => {
    if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= entries.length) fail(what, `a reference to blob ${JSON.stringify(i)}, which does not exist`);
    const e = entries[i as number];
    const n = e.length * DTYPES[e.dtype].bytes;
    // Copy into a fresh, aligned buffer: typed arrays need alignment and must not alias the file.
    return DTYPES[e.dtype].make(data.slice(e.offset, e.offset + n).buffer);
  };
  const decode = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(decode);
    if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === '$blob') return blob((v as { $blob: unknown }).$blob);
      return Object.fromEntries(keys.map((k) => [k, decode((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  const tok = header.tokenizer as { json?: { $blob?: unknown }; config?: { $blob?: unknown } | null } | undefined;
  if (!tok?.json) fail(what, 'the file holds no tokenizer');
  const tokenizerJson = await gunzip(blob(tok.json.$blob) as Uint8Array, what);
  const tokenizerConfig = tok.config ? await gunzip(blob(tok.config.$blob) as Uint8Array, what) : undefined;
  const config = header.config as EncoderConfig;
  const plan = decode(header.plan) as EncoderPlan;
  validatePlan(plan, config, what);
  return {
    config,
    plan,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: (header.provenance as Record<string, unknown>) ?? {},
  };
}
