/**
 * Packing of 8-bit tensors into u32 words along rows (and padding of f32 rows to vec4): lane j of word w holds element 4w + j, rows are
 * padded with zero lanes to a multiple of 4. This is the layout of every int8 tensor on the GPU.
 */

export function wordsPerRow(cols: number): number {
  return Math.ceil(cols / 4);
}

/** Packs a row-major [rows, cols] int8 or uint8 tensor. */
export function packRows(values: Int8Array | Uint8Array, rows: number, cols: number): Uint32Array {
  if (values.length !== rows * cols) {
    throw new RangeError(`packRows: ${values.length} values for a ${rows}x${cols} tensor`);
  }
  const stride = wordsPerRow(cols);
  const bytes = new Uint8Array(rows * stride * 4);
  for (let r = 0; r < rows; r++) {
    // Same bit patterns for int8 and uint8: copy bytes.
    bytes.set(new Uint8Array(values.buffer, values.byteOffset + r * cols, cols), r * stride * 4);
  }
  return littleEndianWords(bytes);
}

/** Inverse of packRows, as int8 (signed) or uint8. */
export function unpackRows(words: Uint32Array, rows: number, cols: number, signed = true): Int8Array | Uint8Array {
  const stride = wordsPerRow(cols);
  if (words.length < rows * stride) throw new RangeError(`unpackRows: ${words.length} words for ${rows}x${cols}`);
  const bytes = wordBytes(words);
  const out = signed ? new Int8Array(rows * cols) : new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    out.set(
      signed
        ? new Int8Array(bytes.buffer, bytes.byteOffset + r * stride * 4, cols)
        : bytes.subarray(r * stride * 4, r * stride * 4 + cols),
      r * cols,
    );
  }
  return out;
}

const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function littleEndianWords(bytes: Uint8Array): Uint32Array {
  if (littleEndianHost) return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

function wordBytes(words: Uint32Array): Uint8Array {
  if (littleEndianHost) return new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w, true));
  return out;
}

/** The f32 counterpart of packRows: rows padded with zeros to a multiple of 4 (array<vec4<f32>>). */
export function padRowsF32(values: Float32Array, rows: number, cols: number): Float32Array {
  if (values.length !== rows * cols)
    throw new RangeError(`padRowsF32: ${values.length} values for a ${rows}x${cols} tensor`);
  const stride = wordsPerRow(cols) * 4;
  if (stride === cols) return values;
  const out = new Float32Array(rows * stride);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * cols, (r + 1) * cols), r * stride);
  return out;
}
