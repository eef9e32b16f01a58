/**
 * CPU reference of the integer pooling kernel (shaders/pool-i8.ts), the specification the GPU
 * matches bit for bit, and the host-side finishing step that turns its integers into embeddings.
 *
 * Input: the final int8 hidden states x[batch * seq, hidden] (row t = b * seq + s) and the
 * attention mask m[batch * seq] (non-zero = real token). Output: int32 [batch, hidden + 1]; row b
 * holds the pooled channels in columns 0..hidden-1 and, in column `hidden`, the number of tokens
 * pooled:
 *   'mean': out[b, c] = sum over s with m[b, s] != 0 of x[b * seq + s, c];  out[b, hidden] = that count
 *   'cls':  out[b, c] = x[b * seq, c] (the first token, whatever the mask says, as BERT's pooler
 *           takes it);  out[b, hidden] = 1 if the first token is real, else 0
 * The count column lets the finishing step divide once (mean) and refuse a pooled nothing (a
 * sequence without real tokens, or a padding token taken as CLS) instead of returning noise.
 *
 * Bound: |x| <= 128, so -128 seq <= sum <= 127 seq; with seq <= 2^24 the sum is >= -2^31 and
 * < 2^31, inside int32, and the count <= seq fits trivially. Longer sequences are refused here and
 * by the host wrapper (POOL_I8_MAX_SEQ).
 *
 * Finishing (poolToFloat) is float on purpose: an embedding is a real vector handed to the caller
 * (cosine similarity, a vector index), so the last step leaves integers, as logits do. It is one
 * multiply and one division per value (mean = sum * scale / count, in float64, rounded once to
 * float32), the same arithmetic as float mean pooling of the dequantized rows; L2 normalisation is
 * float too.
 */

export type PoolMode = 'mean' | 'cls';

export const POOL_MODES: readonly PoolMode[] = ['mean', 'cls'];

/** Longest sequence whose int8 sum is proven to fit int32: 128 * 2^24 = 2^31. */
export const POOL_I8_MAX_SEQ = 2 ** 24;

export interface PoolI8Shape {
  batch: number;
  seq: number;
  hidden: number;
}

export function checkPoolMode(mode: unknown, what = 'pool-i8'): asserts mode is PoolMode {
  if (!POOL_MODES.includes(mode as PoolMode))
    throw new RangeError(`${what}: mode ${String(mode)} is not 'mean' or 'cls'`);
}

/** Positive integer sizes and the int32 bound on the sum (seq <= 2^24). */
export function checkPoolShape(shape: PoolI8Shape, what = 'pool-i8'): void {
  for (const k of ['batch', 'seq', 'hidden'] as const) {
    const v = shape[k];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what}: ${k} = ${v} must be a positive integer`);
  }
  if (shape.seq > POOL_I8_MAX_SEQ) {
    throw new RangeError(`${what}: seq = ${shape.seq} exceeds 2^24; a sum of that many int8 values could leave int32`);
  }
}

/** Values per output row: the hidden channels, then the count of pooled tokens. */
export function poolOutputStride(hidden: number): number {
  return hidden + 1;
}

/** The integer pooling of `x` (int8 [batch * seq, hidden], unpacked) under `mask` ([batch * seq]). */
export function poolI8Ref(x: Int8Array, mask: ArrayLike<number>, shape: PoolI8Shape, mode: PoolMode): Int32Array {
  checkPoolMode(mode, 'poolI8Ref');
  checkPoolShape(shape, 'poolI8Ref');
  const { batch, seq, hidden } = shape;
  if (x.length !== batch * seq * hidden)
    throw new RangeError(`poolI8Ref: ${x.length} values for ${batch * seq} rows of ${hidden}`);
  if (mask.length !== batch * seq)
    throw new RangeError(`poolI8Ref: mask has ${mask.length} entries, want batch * seq = ${batch * seq}`);
  const stride = poolOutputStride(hidden);
  const out = new Int32Array(batch * stride);
  for (let b = 0; b < batch; b++) {
    const row = b * stride;
    if (mode === 'cls') {
      for (let c = 0; c < hidden; c++) out[row + c] = x[b * seq * hidden + c];
      out[row + hidden] = mask[b * seq] ? 1 : 0;
      continue;
    }
    let count = 0;
    for (let s = 0; s < seq; s++) {
      const t = b * seq + s;
      if (!mask[t]) continue;
      count++;
      for (let c = 0; c < hidden; c++) out[row + c] += x[t * hidden + c];
    }
    out[row + hidden] = count;
  }
  return out;
}

export interface PoolToFloatOptions {
  mode: PoolMode;
  /** Divide each vector by its L2 norm (in float); a zero vector stays zero. */
  normalize?: boolean;
}

/** v / |v| in place (float64 sums); a zero vector stays zero. */
export function l2Normalize(v: Float64Array | Float32Array): void {
  let squares = 0;
  for (let c = 0; c < v.length; c++) squares += v[c] * v[c];
  const norm = Math.sqrt(squares);
  if (norm > 0) for (let c = 0; c < v.length; c++) v[c] /= norm;
}

/**
 * One embedding per text from the kernel's int32 [batch, hidden + 1]: mean = sum * scale / count,
 * cls = v * scale, then optionally v / |v|. `scale` is the real value of one int8 step of the
 * hidden states. Refuses a row that pooled no token (count 0) rather than dividing by zero.
 */
export function poolToFloat(
  ints: ArrayLike<number>,
  batch: number,
  hidden: number,
  scale: number,
  options: PoolToFloatOptions,
): Float32Array[] {
  checkPoolMode(options.mode, 'poolToFloat');
  for (const [k, v] of [
    ['batch', batch],
    ['hidden', hidden],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`poolToFloat: ${k} = ${v} must be a positive integer`);
  }
  if (!(scale > 0) || !Number.isFinite(scale))
    throw new RangeError(`poolToFloat: scale ${scale} is not a positive finite number`);
  const stride = poolOutputStride(hidden);
  if (ints.length !== batch * stride)
    throw new RangeError(`poolToFloat: ${ints.length} values, want batch * (hidden + 1) = ${batch * stride}`);
  const out: Float32Array[] = [];
  const v = new Float64Array(hidden);
  for (let b = 0; b < batch; b++) {
    const row = b * stride;
    const count = ints[row + hidden];
    if (count < 1) {
      throw new RangeError(
        options.mode === 'mean'
          ? `poolToFloat: sequence ${b} has no real token to average`
          : `poolToFloat: sequence ${b} starts with a padding token, not a CLS token`,
      );
    }
    for (let c = 0; c < hidden; c++)
      v[c] = options.mode === 'mean' ? (ints[row + c] * scale) / count : ints[row + c] * scale;
    if (options.normalize) l2Normalize(v);
    out.push(Float32Array.from(v));
  }
  return out;
}
