/**
 * A strict reader for the safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
 * little-endian header length, a JSON header, then one data section that the header's tensors tile
 * exactly. Every structural promise of the format is checked when the file is opened, so a
 * truncated or hostile file fails there with a message naming the problem; tensors are converted
 * to float32 only when asked for, because a model rarely needs every tensor at once and converting
 * up front doubles peak memory.
 */

import type { Tensor } from '../core/types.js';

/** The safetensors reference implementation refuses headers above this size; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Element sizes of every dtype the format defines; sizes are needed to validate even tensors we won't convert. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The dtypes converted (exactly) to float32. */
export const FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range inside the data section, as stored in the header. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  /** Free-form string metadata (`__metadata__`), empty when absent. */
  metadata: Record<string, string>;
  /** Tensor names in header order. */
  names(): string[];
  has(name: string): boolean;
  /** Header entry of a tensor; throws naming the tensor when absent. */
  info(name: string): TensorInfo;
  /** Converts one tensor to float32 (a fresh copy); throws for non-float dtypes. */
  tensor(name: string): Tensor;
}

/** Parses and validates the file structure; `what` names the file in error messages. */
export function parseSafetensors(bytes: Uint8Array, what = 'safetensors file'): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new Error(`${what}: ${problem}`);
  };
  if (bytes.byteLength < 8) {
    fail(`truncated: ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Read the u64 as two halves: a Number would silently lose bits above 2^53.
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (hi !== 0 || headerLen > MAX_HEADER_BYTES) {
    fail(`header length ${hi === 0 ? headerLen : `>= 2^32 (${headerLen})`} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  if (8 + headerLen > bytes.byteLength) {
    fail(
      `truncated: header length ${headerLen} is larger than the ${bytes.byteLength - 8} bytes after the length field`,
    );
  }
  if (headerLen < 2) fail(`header length ${headerLen} is too small to hold a JSON object`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (text[0] !== '{') fail('header is not a JSON object (does not start with "{")');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    fail('header is not a JSON object');
  }

  const dataStart = 8 + headerLen;
  const dataLength = bytes.byteLength - dataStart;
  let metadata: Record<string, string> = {};
  // A Map, not an object: tensor names come from the file and could be "__proto__".
  const infos = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(entry, fail);
      continue;
    }
    infos.set(name, checkEntry(name, entry, dataLength, fail));
  }
  checkTiling([...infos.values()], dataLength, fail);

  const get = (name: string): TensorInfo => {
    const info = infos.get(name);
    if (!info) throw new Error(`${what}: no tensor named "${name}"`);
    return info;
  };
  return {
    metadata,
    names: () => [...infos.keys()],
    has: (name) => infos.has(name),
    info: (name) => ({ ...get(name), shape: [...get(name).shape] }),
    tensor: (name) => {
      const info = get(name);
      const raw = bytes.subarray(dataStart + info.begin, dataStart + info.end);
      return { shape: [...info.shape], data: toFloat32(raw, info, what) };
    },
  };
}

function checkMetadata(entry: unknown, fail: (p: string) => never): Record<string, string> {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    fail('__metadata__ is not a JSON object');
  }
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__ value "${k}" is not a string`);
    out[k] = v as string;
  }
  return out;
}

function checkEntry(name: string, entry: unknown, dataLength: number, fail: (p: string) => never): TensorInfo {
  const bad = (problem: string): never => fail(`tensor "${name}": ${problem}`);
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) bad('header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string') bad('dtype is missing or not a string');
  const size = Object.hasOwn(DTYPE_BYTES, dtype as string) ? DTYPE_BYTES[dtype as string] : undefined;
  if (size === undefined) bad(`unknown dtype "${String(dtype)}"`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    bad(`data_offsets ${JSON.stringify(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as number[];
  if (begin > end) bad(`data_offsets [${begin}, ${end}] begin after end`);
  if (end > dataLength) {
    bad(`data_offsets [${begin}, ${end}] out of range: the data section has ${dataLength} bytes (file truncated?)`);
  }
  // Multiply with an early exit so a hostile shape cannot overflow into a plausible number.
  const dims = shape as number[];
  let count = dims.includes(0) ? 0 : 1;
  for (const d of dims) {
    count *= d;
    if (count * size! > dataLength) break;
  }
  if (count * size! !== end - begin) {
    const expected = count * size! > dataLength ? `more than ${dataLength}` : `${count * size!}`;
    bad(`byte length ${end - begin} does not match shape [${dims.join(', ')}] x ${dtype} (${expected} bytes)`);
  }
  return { name, dtype: dtype as string, shape: [...dims], begin, end };
}

/** The format promises that tensors tile the data section: no overlap, no gap, nothing after. */
function checkTiling(infos: TensorInfo[], dataLength: number, fail: (p: string) => never): void {
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorInfo | undefined;
  for (const info of sorted) {
    if (info.begin < cursor) {
      fail(`tensors "${previous!.name}" and "${info.name}" overlap (bytes ${info.begin}..${cursor})`);
    }
    if (info.begin > cursor) {
      fail(`gap of ${info.begin - cursor} unindexed bytes before tensor "${info.name}"`);
    }
    cursor = info.end;
    previous = info;
  }
  if (cursor !== dataLength) {
    fail(`${dataLength - cursor} trailing bytes after the last tensor are not indexed by the header`);
  }
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toFloat32(raw: Uint8Array, info: TensorInfo, what: string): Float32Array {
  const count = raw.byteLength / (DTYPE_BYTES[info.dtype] ?? 1);
  switch (info.dtype) {
    case 'F32': {
      if (littleEndianHost) return new Float32Array(raw.slice().buffer);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Float32Array.from({ length: count }, (_, i) => dv.getFloat32(4 * i, true));
    }
    case 'F16':
    case 'BF16': {
      const halves = readU16(raw, count);
      const out = new Float32Array(count);
      // Writing float32 bit patterns keeps every value exact, NaN payloads included.
      const bits = new Uint32Array(out.buffer);
      if (info.dtype === 'BF16') {
        for (let i = 0; i < count; i++) bits[i] = halves[i] << 16;
      } else {
        const table = f16Table();
        for (let i = 0; i < count; i++) bits[i] = table[halves[i]];
      }
      return out;
    }
    default:
      throw new Error(
        `${what}: tensor "${info.name}" has dtype ${info.dtype}; only ${FLOAT_DTYPES.join(', ')} can be imported`,
      );
  }
}

function readU16(raw: Uint8Array, count: number): Uint16Array {
  if (littleEndianHost) return new Uint16Array(raw.slice().buffer);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Uint16Array.from({ length: count }, (_, i) => dv.getUint16(2 * i, true));
}

let f16Bits: Uint32Array | undefined;

/** float32 bit patterns of all 65536 halves, built once: exact and faster than per-element math. */
function f16Table(): Uint32Array {
  if (f16Bits) return f16Bits;
  const table = new Uint32Array(65536);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 31) {
      table[h] = sign | 0x7f800000 | (mant << 13);
    } else if (exp === 0) {
      // Subnormal halves are normal float32s: mant * 2^-24 is exact in float32.
      scratch[0] = mant * 2 ** -24;
      table[h] = sign | scratchBits[0];
    } else {
      table[h] = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
  }
  f16Bits = table;
  return table;
}

/** One IEEE half (bit pattern) as a number; exported for tests and tools. */
export function f16ToNumber(bits: number): number {
  const f = new Float32Array(new Uint32Array([f16Table()[bits & 0xffff]]).buffer);
  return f[0];
}
