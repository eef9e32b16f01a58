/**
 * The INT8 GEMM of the CPU backend in WebAssembly SIMD: acc[m, n] = bias[n] + sum_k A[m, k] B[n, k]
 * wrapped to int32, the integers of gemmI8Ref (src/reference/gemm-i8.ts). No toolchain builds it:
 * the few opcodes it needs are written here as bytes, and the module is compiled synchronously
 * (new WebAssembly.Module) where WebAssembly.validate accepts it; elsewhere (no WebAssembly, or no
 * SIMD) createWasmGemm returns undefined and the CPU backend keeps the plain-JS GEMM.
 *
 * Why the integers are the reference's: v128.load8x8_s / _u widen 8 operand bytes to i16 lanes
 * (A signed or, for attention probabilities, unsigned; B signed), i32x4.dot_i16x8_s multiplies lane
 * pairs exactly into i32 (|a b| <= 255 * 128, so a pair sum stays far below 2^31) and i32x4.add
 * wraps modulo 2^32, as the reference's `| 0` after each term does; addition modulo 2^32 is
 * associative, so the lanes' order of summation does not matter. Operands are copied into the
 * module's memory with rows padded by zeros to a multiple of 16 along K (zero products add
 * nothing), A to an even number of rows and B to a multiple of 4 rows (padding rows' outputs are
 * computed and dropped). Weights (B operands the caller marks constant) are copied once, with
 * their bias, and kept in the module's memory for the model's lifetime.
 */

/** An operand in row-major storage: element (r, c) is src[offset + r * rowStride + c * colStride]. */
export interface OperandView {
  src: Int8Array | Uint8Array;
  offset: number;
  rowStride: number;
  /** 1 for rows along K; the row stride of the storage to read a transposed operand. */
  colStride: number;
}

/** The call shape; A is uint8 when `aUnsigned` (attention probabilities), else int8. */
export interface WasmGemmShape {
  M: number;
  N: number;
  K: number;
  aUnsigned?: boolean;
}

const PAGE = 65536;

// --- a minimal module writer: just the encodings this kernel uses --------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const utf8 = (s: string) => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a],
  mul: [0x6c],
  shl: [0x74],
  ltU: [0x49],
  // SIMD (prefix 0xfd, opcode as LEB128, then a memarg: log2 alignment hint and offset).
  load8x8s: (offset: number) => [0xfd, ...uleb(0x01), 0, ...uleb(offset)],
  load8x8u: (offset: number) => [0xfd, ...uleb(0x02), 0, ...uleb(offset)],
  v128Load: [0xfd, ...uleb(0x00), 0, 0],
  v128Store: [0xfd, ...uleb(0x0b), 0, 0],
  v128Zero: [0xfd, ...uleb(0x0c), ...new Array(16).fill(0)],
  /** i8x16.shuffle picking i32 lanes (0-3 from the first operand, 4-7 from the second). */
  shuffle32: (lanes: number[]) => [
    0xfd,
    ...uleb(0x0d),
    ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
  ],
  i32x4Add: [0xfd, ...uleb(0xae)],
  dot: [0xfd, ...uleb(0xba)],
};

/**
 * gemm(a, b, bias, out, M, N, K): byte addresses of A [M, K] (int8 or uint8 by `unsigned`),
 * B [N, K] int8, bias [N] int32, out [M, N] int32; M even, N a multiple of 4, K a multiple of 16,
 * all positive. Blocks of 2 rows of A by 4 rows of B keep 8 i32x4 sums in registers (x64 has 16
 * vector registers: 8 sums, 2 A vectors, B and the product fit).
 */
function gemmBody(unsigned: boolean): number[] {
  const [A, B, BIAS, OUT, M, N, K] = [0, 1, 2, 3, 4, 5, 6];
  // i32 locals
  const [m, n, pa0, pa1, pb0, pb1, pb2, pb3, end] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  // v128 locals: sums c[i][j] (A row i, B row j), the A vectors and a scratch vector.
  const c = [
    [16, 17, 18, 19],
    [20, 21, 22, 23],
  ];
  const [va0, va1, vb] = [24, 25, 26];
  const load = unsigned ? op.load8x8u : op.load8x8s;
  const code: number[][] = [];
  const emit = (...parts: number[][]) => code.push(...parts);
  const pb = [pb0, pb1, pb2, pb3];

  // One k step of 8 (memarg offset `o` from the row pointers).
  const kStep = (o: number) => {
    emit(op.get(pa0), load(o), op.set(va0), op.get(pa1), load(o), op.set(va1));
    for (let j = 0; j < 4; j++) {
      emit(op.get(pb[j]), op.load8x8s(o), op.set(vb));
      emit(op.get(c[0][j]), op.get(va0), op.get(vb), op.dot, op.i32x4Add, op.set(c[0][j]));
      emit(op.get(c[1][j]), op.get(va1), op.get(vb), op.dot, op.i32x4Add, op.set(c[1][j]));
    }
  };
  // Horizontal sums of c[i][0..3] into one i32x4 (lane j = row i against B row n + j), plus bias.
  const reduceRow = (i: number) => {
    const [c0, c1, c2, c3] = c[i];
    emit(op.get(c0), op.get(c1), op.shuffle32([0, 4, 1, 5]), op.get(c0), op.get(c1), op.shuffle32([2, 6, 3, 7]));
    emit(op.i32x4Add, op.set(va0));
    emit(op.get(c2), op.get(c3), op.shuffle32([0, 4, 1, 5]), op.get(c2), op.get(c3), op.shuffle32([2, 6, 3, 7]));
    emit(op.i32x4Add, op.set(va1));
    emit(op.get(va0), op.get(va1), op.shuffle32([0, 1, 4, 5]), op.get(va0), op.get(va1), op.shuffle32([2, 3, 6, 7]));
    emit(op.i32x4Add, op.get(BIAS), op.get(n), op.i32(2), op.shl, op.add, op.v128Load, op.i32x4Add);
  };

  emit(op.i32(0), op.set(m));
  emit(op.loop); // rows of A, two at a time
  emit(op.i32(0), op.set(n));
  emit(op.loop); // rows of B, four at a time
  emit(op.get(A), op.get(m), op.get(K), op.mul, op.add, op.tee(pa0), op.get(K), op.add, op.set(pa1));
  emit(op.get(B), op.get(n), op.get(K), op.mul, op.add, op.tee(pb0), op.get(K), op.add, op.tee(pb1));
  emit(op.get(K), op.add, op.tee(pb2), op.get(K), op.add, op.set(pb3));
  emit(op.get(pa0), op.get(K), op.add, op.set(end));
  for (const row of c) for (const s of row) emit(op.v128Zero, op.set(s));
  emit(op.loop); // K, 16 at a time
  kStep(0);
  kStep(8);
  for (const p of [pa0, pa1, ...pb]) emit(op.get(p), op.i32(16), op.add, op.set(p));
  emit(op.get(pa0), op.get(end), op.ltU, op.brIf(0), op.end);
  // out + ((m + i) N + n) 4
  for (let i = 0; i < 2; i++) {
    emit(op.get(OUT), op.get(m), op.i32(i), op.add, op.get(N), op.mul, op.get(n), op.add, op.i32(2), op.shl, op.add);
    reduceRow(i);
    emit(op.v128Store);
  }
  emit(op.get(n), op.i32(4), op.add, op.tee(n), op.get(N), op.ltU, op.brIf(0), op.end);
  emit(op.get(m), op.i32(2), op.add, op.tee(m), op.get(M), op.ltU, op.brIf(0), op.end);
  emit(op.end);
  const locals = vec([
    [...uleb(9), I32],
    [...uleb(11), V128],
  ]);
  const body = [...locals, ...code.flat()];
  return [...uleb(body.length), ...body];
}

/** The module's bytes: memory imported as env.memory, exports gemm_s (int8 A) and gemm_u (uint8 A). */
export function wasmGemmModuleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...uleb(7), ...new Array(7).fill(I32), 0];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([type])),
    ...section(2, vec([[...utf8('env'), ...utf8('memory'), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec([[0], [0]])),
    ...section(
      7,
      vec([
        [...utf8('gemm_s'), 0x00, 0],
        [...utf8('gemm_u'), 0x00, 1],
      ]),
    ),
    ...section(10, vec([gemmBody(false), gemmBody(true)])),
  ];
  return Uint8Array.from(bytes);
}

type GemmFn = (a: number, b: number, bias: number, out: number, M: number, N: number, K: number) => void;

interface ResidentWeight {
  ptr: number;
  biasPtr: number;
  N: number;
  K: number;
  bias?: Int32Array;
}

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to;

/**
 * One module instance and its memory: weights kept resident, then a scratch area per call for A,
 * non-resident B, zero bias and the output.
 */
export class WasmGemm {
  private memory: WebAssembly.Memory;
  private u8: Uint8Array;
  private i32: Int32Array;
  private readonly gemmS: GemmFn;
  private readonly gemmU: GemmFn;
  /** End of the resident weights: scratch starts here. */
  private top = 64;
  private readonly weights = new WeakMap<Int8Array, ResidentWeight>();

  constructor(module: WebAssembly.Module) {
    this.memory = new WebAssembly.Memory({ initial: 16 });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.gemmS = instance.exports.gemm_s as GemmFn;
    this.gemmU = instance.exports.gemm_u as GemmFn;
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
  }

  private ensure(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    this.memory.grow(Math.ceil((bytes - have) / PAGE));
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
  }

  /** Copies `rows` x `K` of a view to `ptr` with rows `Kp` apart, zeros in the padding. */
  private put(v: OperandView, rows: number, K: number, ptr: number, rowsPadded: number, Kp: number): void {
    const u8 = this.u8;
    const { src, offset, rowStride, colStride } = v;
    const bytes = new Uint8Array(src.buffer, src.byteOffset, src.length);
    if (colStride === 1 && rowStride === K && K === Kp) u8.set(bytes.subarray(offset, offset + rows * K), ptr);
    else if (colStride === 1) {
      for (let r = 0; r < rows; r++) {
        const from = offset + r * rowStride;
        u8.set(bytes.subarray(from, from + K), ptr + r * Kp);
        if (Kp > K) u8.fill(0, ptr + r * Kp + K, ptr + (r + 1) * Kp);
      }
    } else {
      for (let r = 0; r < rows; r++) {
        const at = ptr + r * Kp;
        let from = offset + r * rowStride;
        for (let k = 0; k < K; k++, from += colStride) u8[at + k] = bytes[from];
        if (Kp > K) u8.fill(0, at + K, at + Kp);
      }
    }
    if (rowsPadded > rows) u8.fill(0, ptr + rows * Kp, ptr + rowsPadded * Kp);
  }

  /** A constant B operand (a layer's weight, with its bias) copied into the module once. */
  private resident(b: Int8Array, bias: Int32Array | undefined, N: number, K: number): ResidentWeight {
    const known = this.weights.get(b);
    if (known && known.N === N && known.K === K && known.bias === bias) return known;
    const [Np, Kp] = [roundUp(N, 4), roundUp(K, 16)];
    const ptr = this.top;
    const biasPtr = ptr + Np * Kp;
    this.ensure(biasPtr + Np * 4);
    this.put({ src: b, offset: 0, rowStride: K, colStride: 1 }, N, K, ptr, Np, Kp);
    this.i32.fill(0, biasPtr >> 2, (biasPtr >> 2) + Np);
    if (bias) this.i32.set(bias.subarray(0, N), biasPtr >> 2);
    this.top = roundUp(biasPtr + Np * 4, 16);
    const w = { ptr, biasPtr, N, K, bias };
    this.weights.set(b, w);
    return w;
  }

  /**
   * acc [M, N] (into `out` when given, else a new array). `b` is either a view (copied per call) or
   * a weight: an Int8Array [N, K] that never changes, kept resident with its bias.
   */
  gemm(
    shape: WasmGemmShape,
    a: OperandView,
    b: OperandView | { weight: Int8Array; bias?: Int32Array },
    out?: Int32Array,
  ): Int32Array {
    const { M, N, K } = shape;
    const [Mp, Np, Kp] = [roundUp(M, 2), roundUp(N, 4), roundUp(K, 16)];
    let bPtr: number;
    let biasPtr: number;
    let scratch: number;
    if ('weight' in b) {
      const w = this.resident(b.weight, b.bias, N, K);
      bPtr = w.ptr;
      biasPtr = w.biasPtr;
      scratch = this.top;
    } else {
      bPtr = this.top;
      biasPtr = bPtr + Np * Kp;
      scratch = biasPtr + Np * 4;
    }
    const aPtr = scratch;
    const outPtr = roundUp(aPtr + Mp * Kp, 16);
    this.ensure(outPtr + Mp * Np * 4);
    if (!('weight' in b)) {
      this.put(b, N, K, bPtr, Np, Kp);
      this.i32.fill(0, biasPtr >> 2, (biasPtr >> 2) + Np);
    }
    this.put(a, M, K, aPtr, Mp, Kp);
    (shape.aUnsigned ? this.gemmU : this.gemmS)(aPtr, bPtr, biasPtr, outPtr, Mp, Np, Kp);
    const result = out ?? new Int32Array(M * N);
    const base = outPtr >> 2;
    if (Np === N) result.set(this.i32.subarray(base, base + M * N));
    else for (let r = 0; r < M; r++) result.set(this.i32.subarray(base + r * Np, base + r * Np + N), r * N);
    return result;
  }
}

let compiled: WebAssembly.Module | null | undefined;

/**
 * A WasmGemm where WebAssembly with SIMD is available (Node, current browsers), else undefined.
 * The module is compiled once per process; each call makes an instance with its own memory.
 */
export function createWasmGemm(): WasmGemm | undefined {
  if (compiled === undefined) {
    compiled = null;
    try {
      const bytes = wasmGemmModuleBytes();
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
    } catch {
      compiled = null;
    }
  }
  return compiled ? new WasmGemm(compiled) : undefined;
}
