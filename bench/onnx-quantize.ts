/**
 * The int8 twin of an fp32 ONNX model, made the way onnxruntime's quantize_dynamic makes it, so
 * that the benchmark can run the peers' own quantized path on the same weights (ORT has no
 * JavaScript quantizer, and there is no Python here). Every MatMul whose second input is a
 * constant weight (an initializer, or a Transpose of one: the shared twins keep [out, in]) becomes
 *
 *   DynamicQuantizeLinear(x) -> x_q (uint8), x_scale, x_zero_point      per tensor, per run
 *   MatMulInteger(x_q, W_q, x_zero_point, W_zero_point) -> int32
 *   Cast(float) * (x_scale * W_scale)
 *
 * with W_q int8, symmetric (zero point 0) and one scale per output column. That is the pattern
 * onnxruntime fuses into DynamicQuantizeMatMul (MLAS u8s8 GEMM) when the session optimizes the
 * graph, on the CPU and in onnxruntime-web's wasm build. Attention's activation x activation
 * MatMuls, Gemm (pooler, classifier) and the embeddings stay float, as quantize_dynamic's MatMul
 * path leaves them. The twin is self-contained: external data (the shared twins point into
 * ../model.safetensors) is resolved from `externalData` and written inline.
 */
import { DataType, node, type OnnxNode, ProtoWriter, tensor } from './onnx-writer.js';

// ---- protobuf wire format, reading -----------------------------------------------------------

interface Field {
  no: number;
  wire: number;
  /** Varint value (wire 0), or the payload bytes (wire 1, 2, 5). */
  int: bigint;
  bytes: Uint8Array;
  /** The whole field, tag included: copied verbatim when it is kept unchanged. */
  encoded: Uint8Array;
}

function readVarint(buf: Uint8Array, at: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    if (at >= buf.length) throw new Error('onnx: truncated varint (not an ONNX model?)');
    const b = buf[at++];
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [v, at];
    shift += 7n;
    if (shift > 63n) throw new Error('onnx: varint longer than 10 bytes (not an ONNX model?)');
  }
}

function readFields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const start = at;
    const [tag, afterTag] = readVarint(buf, at);
    at = afterTag;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let int = 0n;
    let bytes = buf.subarray(at, at);
    if (wire === 0) [int, at] = readVarint(buf, at);
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      bytes = buf.subarray(at, at + n);
      at += n;
    } else if (wire === 2) {
      const [len, afterLen] = readVarint(buf, at);
      at = afterLen + Number(len);
      bytes = buf.subarray(afterLen, at);
    } else throw new Error(`onnx: unsupported protobuf wire type ${wire} (field ${no})`);
    if (at > buf.length) throw new Error(`onnx: field ${no} runs past the end of its message`);
    out.push({ no, wire, int, bytes, encoded: buf.subarray(start, at) });
  }
  return out;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const int64 = (v: bigint) => Number(BigInt.asIntN(64, v));

/** Repeated int64: unpacked (one varint per field) or packed (one length-delimited run). */
function ints(fields: Field[], no: number): number[] {
  const out: number[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wire === 0) out.push(int64(f.int));
    else
      for (let at = 0; at < f.bytes.length; ) {
        const [v, next] = readVarint(f.bytes, at);
        out.push(int64(v));
        at = next;
      }
  }
  return out;
}

const strings = (fields: Field[], no: number) => fields.filter((f) => f.no === no).map((f) => text(f.bytes));

// ---- the ONNX messages the rewrite looks into ------------------------------------------------

interface ParsedNode {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Map<string, Field[]>;
  encoded: Uint8Array;
}

function parseNode(f: Field): ParsedNode {
  const fields = readFields(f.bytes);
  const attributes = new Map<string, Field[]>();
  for (const a of fields.filter((x) => x.no === 5)) {
    const af = readFields(a.bytes);
    // A graph-valued attribute (If, Loop, Scan) hides uses of values from this pass.
    if (af.some((x) => x.no === 6 || x.no === 11))
      throw new Error(
        `onnx quantize: node ${strings(fields, 4)[0]} has a subgraph; models with If/Loop/Scan are not supported`,
      );
    attributes.set(strings(af, 1)[0] ?? '', af);
  }
  return {
    op: strings(fields, 4)[0] ?? '',
    domain: strings(fields, 7)[0] ?? '',
    inputs: strings(fields, 1),
    outputs: strings(fields, 2),
    attributes,
    encoded: f.encoded,
  };
}

interface Weight {
  /** The initializer holding it. */
  source: string;
  /** The Transpose / Cast nodes between the initializer and the MatMul. */
  chain: ParsedNode[];
  K: number;
  N: number;
  /** The initializer is [N, K]. */
  transposed: boolean;
}

interface ParsedTensor {
  name: string;
  dataType: number;
  dims: number[];
  fields: Field[];
  /** The whole initializer field, kept verbatim when its data is inline. */
  encoded: Uint8Array;
  /** Where its bytes live outside the model, when they do. */
  external?: { location: string; offset: number; length?: number };
}

function parseTensor(f: Field): ParsedTensor {
  const fields = readFields(f.bytes);
  const dataType = int64(fields.find((x) => x.no === 2)?.int ?? 0n);
  const t: ParsedTensor = {
    name: strings(fields, 8)[0] ?? '',
    dataType,
    dims: ints(fields, 1),
    fields,
    encoded: f.encoded,
  };
  if (int64(fields.find((x) => x.no === 14)?.int ?? 0n) === 1) {
    const entries = new Map(
      fields
        .filter((x) => x.no === 13)
        .map((x) => {
          const e = readFields(x.bytes);
          return [strings(e, 1)[0], strings(e, 2)[0]] as const;
        }),
    );
    const location = entries.get('location');
    if (!location) throw new Error(`onnx: tensor ${t.name} has external data without a location`);
    const length = entries.get('length');
    t.external = { location, offset: Number(entries.get('offset') ?? 0), length: length ? Number(length) : undefined };
  }
  return t;
}

/** Bytes of external-data files, by the location written in the model (e.g. '../model.safetensors'). */
export type ExternalData = Record<string, Uint8Array> | { path: string; data: Uint8Array }[];

function externalLookup(external: ExternalData | undefined): (location: string) => Uint8Array | undefined {
  const map = new Map<string, Uint8Array>(
    Array.isArray(external) ? external.map((e) => [e.path, e.data]) : Object.entries(external ?? {}),
  );
  const norm = (p: string) => p.replace(/^\.\//, '');
  return (location) => map.get(location) ?? map.get(norm(location));
}

/** The tensor's little-endian bytes, whether inline (raw_data or float_data) or external. */
function tensorBytes(t: ParsedTensor, external: (location: string) => Uint8Array | undefined): Uint8Array {
  if (t.external) {
    const file = external(t.external.location);
    if (!file)
      throw new Error(
        `onnx quantize: tensor ${t.name} is external data in '${t.external.location}'; pass its bytes in externalData`,
      );
    const length = t.external.length ?? file.length - t.external.offset;
    if (t.external.offset + length > file.length)
      throw new Error(`onnx quantize: tensor ${t.name} runs past the end of '${t.external.location}'`);
    return file.subarray(t.external.offset, t.external.offset + length);
  }
  const raw = t.fields.find((x) => x.no === 9);
  if (raw) return raw.bytes;
  if (t.dataType === DataType.FLOAT) {
    // float_data: packed fixed32 (wire 2) or one fixed32 per field (wire 5); same bytes either way.
    const parts = t.fields.filter((x) => x.no === 4).map((x) => x.bytes);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  throw new Error(`onnx quantize: tensor ${t.name} (data type ${t.dataType}) has neither raw_data nor float_data`);
}

/** A float32 or float16 tensor's values (copied: an external slice need not be aligned). */
function floatsOf(t: ParsedTensor, bytes: Uint8Array): Float32Array {
  if (t.dataType === DataType.FLOAT) return new Float32Array(Uint8Array.from(bytes).buffer);
  const halves = new Uint16Array(Uint8Array.from(bytes).buffer);
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const h = halves[i];
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const magnitude =
      exp === 0 ? mant * 2 ** -24 : exp === 31 ? (mant ? Number.NaN : Infinity) : (1 + mant / 1024) * 2 ** (exp - 15);
    out[i] = h & 0x8000 ? -magnitude : magnitude;
  }
  return out;
}

// ---- weight quantization ---------------------------------------------------------------------

export interface QuantizedWeight {
  /** int8 [K, N] row-major: MatMulInteger's B. */
  q: Int8Array;
  /** One scale per output column: w ~= q * scale[n]. */
  scale: Float32Array;
}

/**
 * Symmetric int8 per output column of B [K, N] (given as `at(k, n)`): scale = max |w| / 127, so
 * zero is exact and q stays in [-127, 127], as quantize_dynamic's symmetric int8 weights.
 */
export function quantizeColumns(K: number, N: number, at: (k: number, n: number) => number): QuantizedWeight {
  const q = new Int8Array(K * N);
  const scale = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let max = 0;
    for (let k = 0; k < K; k++) max = Math.max(max, Math.abs(at(k, n)));
    const s = max > 0 ? max / 127 : 1;
    scale[n] = s;
    for (let k = 0; k < K; k++) q[k * N + n] = Math.max(-127, Math.min(127, Math.round(at(k, n) / s)));
  }
  return { q, scale };
}

export interface QuantizeOptions {
  /** Bytes of the files the model's external data points into. */
  externalData?: ExternalData;
}

export interface QuantizeReport {
  /** MatMuls turned into MatMulInteger. */
  quantizedMatMuls: number;
  /** Weights quantized (a weight shared by several MatMuls counts once). */
  quantizedWeights: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * The dynamic-quantized int8 twin of `bytes` (a serialized fp32 ModelProto), self-contained.
 * `report` (optional) receives what was rewritten.
 */
export function quantizeOnnxDynamic(
  bytes: Uint8Array,
  options: QuantizeOptions = {},
  report?: QuantizeReport,
): Uint8Array {
  const external = externalLookup(options.externalData);
  const model = readFields(bytes);
  const graphField = model.find((f) => f.no === 7 && f.wire === 2);
  if (!graphField) throw new Error('onnx quantize: no graph in the model (is this an ONNX ModelProto?)');
  const opset = model
    .filter((f) => f.no === 8)
    .map((f) => readFields(f.bytes))
    .find((e) => (strings(e, 1)[0] ?? '') === '');
  const version = int64(opset?.find((x) => x.no === 2)?.int ?? 0n);
  if (version < 11)
    throw new Error(`onnx quantize: default-domain opset ${version}; DynamicQuantizeLinear needs 11 or later`);

  const graph = readFields(graphField.bytes);
  const nodes = graph.filter((f) => f.no === 1).map(parseNode);
  const initializers = new Map(
    graph
      .filter((f) => f.no === 5)
      .map(parseTensor)
      .map((t) => [t.name, t]),
  );
  const producer = new Map<string, ParsedNode>();
  for (const n of nodes) for (const o of n.outputs) producer.set(o, n);
  const names = new Set<string>([...initializers.keys(), ...nodes.flatMap((n) => [...n.inputs, ...n.outputs])]);
  let counter = 0;
  const fresh = (base: string) => {
    let name: string;
    do name = `${base}_q${counter++}`;
    while (names.has(name));
    names.add(name);
    return name;
  };

  /**
   * The float weight B [K, N] behind a MatMul's second input, when it is constant: an initializer
   * (float32, or float16 behind a Cast to float as in the MiniLM twin), maybe behind a 2-D Transpose.
   */
  const constantWeight = (input: string): Weight | undefined => {
    let transposed = false;
    let cast = false;
    let name = input;
    const chain: ParsedNode[] = [];
    for (let p = producer.get(name); p; p = producer.get(name)) {
      if (p.domain !== '' || p.inputs.length !== 1) return undefined;
      if (p.op === 'Transpose' && !transposed) {
        const perm = p.attributes.get('perm');
        if (perm && ints(perm, 8).join() !== '1,0') return undefined;
        transposed = true;
      } else if (
        p.op === 'Cast' &&
        !cast &&
        int64(p.attributes.get('to')?.find((x) => x.no === 3)?.int ?? 0n) === DataType.FLOAT
      ) {
        cast = true;
      } else return undefined;
      chain.push(p);
      name = p.inputs[0];
    }
    const w = initializers.get(name);
    if (w?.dims.length !== 2) return undefined;
    if (!(w.dataType === DataType.FLOAT || (cast && w.dataType === DataType.FLOAT16))) return undefined;
    const [rows, cols] = w.dims;
    return { source: name, chain, K: transposed ? cols : rows, N: transposed ? rows : cols, transposed };
  };

  const quantized = new Map<string, { q: string; scale: string; zeroPoint: string }>();
  const newInitializers: Uint8Array[] = [];
  const out: (ParsedNode | Uint8Array)[] = [];
  const chainNodes = new Set<ParsedNode>();
  let matmuls = 0;
  for (const n of nodes) {
    const w = n.op === 'MatMul' && n.domain === '' ? constantWeight(n.inputs[1]) : undefined;
    if (!w) {
      out.push(n);
      continue;
    }
    for (const c of w.chain) chainNodes.add(c);
    const key = `${w.source}${w.transposed ? "'" : ''}`;
    let qw = quantized.get(key);
    if (!qw) {
      const source = initializers.get(w.source)!;
      const f = floatsOf(source, tensorBytes(source, external));
      if (f.length !== w.K * w.N)
        throw new Error(`onnx quantize: ${w.source} has ${f.length} values, not ${w.K}x${w.N}`);
      const { q, scale } = quantizeColumns(
        w.K,
        w.N,
        w.transposed ? (k, c) => f[c * w.K + k] : (k, c) => f[k * w.N + c],
      );
      qw = {
        q: fresh(`${w.source}_int8`),
        scale: fresh(`${w.source}_scale`),
        zeroPoint: fresh(`${w.source}_zero_point`),
      };
      newInitializers.push(
        tensor({
          name: qw.q,
          dataType: DataType.INT8,
          dims: [w.K, w.N],
          data: { raw: new Uint8Array(q.buffer) },
        }).finish(),
        tensor({
          name: qw.scale,
          dataType: DataType.FLOAT,
          dims: [w.N],
          data: { raw: new Uint8Array(scale.buffer) },
        }).finish(),
        tensor({
          name: qw.zeroPoint,
          dataType: DataType.INT8,
          dims: [w.N],
          data: { raw: new Uint8Array(w.N) },
        }).finish(),
      );
      quantized.set(key, qw);
    }
    const x = n.inputs[0];
    const [xq, xScale, xZero, acc, accFloat, scales] = ['quant', 'scale', 'zero_point', 'int32', 'float', 'scales'].map(
      (s) => fresh(`${n.outputs[0]}_${s}`),
    );
    // Node names must be unique in a graph: the MatMul's index and the node's place in its pattern.
    let step = 0;
    const add = (op: OnnxNode) => out.push(node(op, `int8_${matmuls}_${step++}`).finish());
    add({ op: 'DynamicQuantizeLinear', inputs: [x], outputs: [xq, xScale, xZero] });
    add({ op: 'MatMulInteger', inputs: [xq, qw.q, xZero, qw.zeroPoint], outputs: [acc] });
    add({ op: 'Cast', inputs: [acc], outputs: [accFloat], attributes: { to: DataType.FLOAT } });
    add({ op: 'Mul', inputs: [xScale, qw.scale], outputs: [scales] });
    add({ op: 'Mul', inputs: [accFloat, scales], outputs: [n.outputs[0]] });
    matmuls++;
  }

  // Drop what only the rewritten MatMuls used: the weights' Transposes and Casts, then the float weights.
  const graphOutputs = graph.filter((f) => f.no === 12).map((f) => strings(readFields(f.bytes), 1)[0]);
  const inputsOf = (n: ParsedNode | Uint8Array) => (n instanceof Uint8Array ? strings(readFields(n), 1) : n.inputs);
  let kept = out;
  let used: Set<string>;
  for (;;) {
    used = new Set([...graphOutputs, ...kept.flatMap(inputsOf)]);
    const next = kept.filter(
      (n) => n instanceof Uint8Array || !chainNodes.has(n) || n.outputs.some((o) => used.has(o)),
    );
    if (next.length === kept.length) break;
    kept = next;
  }
  const dropped = new Set([...initializers.keys()].filter((name) => !used.has(name)));
  const keptNodes = new Set(kept);
  const removedValues = new Set([...dropped, ...nodes.filter((n) => !keptNodes.has(n)).flatMap((n) => n.outputs)]);

  const g = new ProtoWriter();
  for (const n of kept) g.raw(n instanceof Uint8Array ? new ProtoWriter().bytes(1, n).finish() : n.encoded);
  for (const f of graph) {
    if (f.no === 1 || f.no === 5) continue;
    // Old exporters list initializers among the graph inputs, and value_info may name a dropped Transpose's output.
    if ((f.no === 11 || f.no === 13) && removedValues.has(strings(readFields(f.bytes), 1)[0])) continue;
    g.raw(f.encoded);
  }
  for (const t of initializers.values()) {
    if (dropped.has(t.name)) continue;
    if (!t.external) {
      g.raw(t.encoded);
      continue;
    }
    const w = new ProtoWriter();
    for (const f of t.fields) if (f.no !== 13 && f.no !== 14 && f.no !== 9) w.raw(f.encoded);
    w.bytes(9, tensorBytes(t, external));
    g.message(5, w);
  }
  for (const t of newInitializers) g.bytes(5, t);

  const m = new ProtoWriter();
  for (const f of model) {
    if (f.no === 7) m.message(7, g);
    else m.raw(f.encoded);
  }
  const result = m.finish();
  if (report) {
    report.quantizedMatMuls = matmuls;
    report.quantizedWeights = quantized.size;
    report.bytesIn = bytes.length;
    report.bytesOut = result.length;
  }
  return result;
}
