/**
 * A minimal ONNX model writer: the protobuf wire format by hand (varints, length-delimited
 * fields, fixed32 floats) and just the ONNX messages a BERT graph needs (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto with raw or external data, ValueInfoProto).
 * Field numbers are those of onnx/onnx.proto (IR version 8, opset 17).
 */

// ---- protobuf wire format -------------------------------------------------------------------

const VARINT = 0;
const FIXED32 = 5;
const LENGTH_DELIMITED = 2;

/** Bytes of a message under construction; fields are appended in order. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  length = 0;

  private flushScratch(): void {
    if (!this.scratch.length) return;
    this.chunks.push(Uint8Array.from(this.scratch));
    this.length += this.scratch.length;
    this.scratch = [];
  }

  private varint(value: number | bigint): void {
    // int64 fields: negative values are ten-byte two's complement varints.
    let v = BigInt.asUintN(64, BigInt(value));
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      this.scratch.push(byte);
    } while (v);
  }

  private tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, VARINT);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.scratch.push(...b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(data.length);
    this.flushScratch();
    this.chunks.push(data);
    this.length += data.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, inner: ProtoWriter): this {
    return this.bytes(field, inner.finish());
  }

  /** Already-encoded fields (tag included), copied as they are: how a rewriter keeps what it does not change. */
  raw(encoded: Uint8Array): this {
    this.flushScratch();
    this.chunks.push(encoded);
    this.length += encoded.length;
    return this;
  }

  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

// ---- ONNX messages --------------------------------------------------------------------------

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

export type AttributeValue = number | string | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

/** Initializer bytes, either inside the model or at an offset of an external file. */
export type OnnxTensorData = { raw: Uint8Array } | { external: { location: string; offset: number; length: number } };

export interface OnnxInitializer {
  name: string;
  dataType: DataTypeId;
  dims: number[];
  data: OnnxTensorData;
}

/** A graph input or output: a dimension is a size or a symbolic name. */
export interface OnnxValueInfo {
  name: string;
  dataType: DataTypeId;
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

function attribute(name: string, value: AttributeValue): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (typeof value === 'object' && !Array.isArray(value)) return a.float(2, value.float).int(20, ATTR_FLOAT);
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new Error(`attribute ${name}: ${value} is not an integer; write { float: ${value} }`);
    return a.int(3, value).int(20, ATTR_INT);
  }
  if (typeof value === 'string') return a.string(4, value).int(20, ATTR_STRING);
  // Repeated int64: one field per value (unpacked, which every parser accepts).
  for (const v of value) a.int(8, v);
  return a.int(20, ATTR_INTS);
}

/** NodeProto; its name is the op and `index`, unique within a graph when indices are. */
export function node(n: OnnxNode, index: number | string): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op}_${index}`).string(4, n.op);
  for (const [k, v] of Object.entries(n.attributes ?? {})) w.message(5, attribute(k, v));
  return w;
}

export function tensor(t: OnnxInitializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType).string(8, t.name);
  if ('raw' in t.data) return w.bytes(9, t.data.raw);
  const entry = (key: string, value: string) => new ProtoWriter().string(1, key).string(2, value);
  const { location, offset, length } = t.data.external;
  w.message(13, entry('location', location))
    .message(13, entry('offset', String(offset)))
    .message(13, entry('length', String(length)));
  return w.int(14, 1); // data_location = EXTERNAL
}

function valueInfo(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape)
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, v.dataType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

/** The serialized ModelProto (IR version 8, default domain at `opset`). */
export function writeOnnxModel(graph: OnnxGraph, opset = 17, producer = 'int8-transformer bench'): Uint8Array {
  const g = new ProtoWriter();
  graph.nodes.forEach((n, i) => g.message(1, node(n, i)));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensor(t));
  for (const i of graph.inputs) g.message(11, valueInfo(i));
  for (const o of graph.outputs) g.message(12, valueInfo(o));
  return new ProtoWriter()
    .int(1, 8) // ir_version
    .string(2, producer)
    .message(7, g)
    .message(8, new ProtoWriter().string(1, '').int(2, opset))
    .finish();
}

/** Little-endian bytes of small constant tensors (shape vectors, scalars). */
export function int64Bytes(values: number[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer);
}

export function float32Bytes(values: number[] | Float32Array): Uint8Array {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}
