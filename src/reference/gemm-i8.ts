/**
 * CPU reference of the INT8 GEMM (the specification the shaders must match bit for bit):
 *   acc[m, n] = bias[n] + sum_k A[m, k] * B[n, k]     in int32, wrapping modulo 2^32
 *   out[m, n] = dyadic(acc[m, n], mult[n], shift[n]) saturated to [-128, 127]   (int8 epilogue:
 *               requantizeRef of src/reference/requantize.ts)
 * A may be uint8 (attention probabilities); B is always int8. Shapes are unpacked, row-major.
 */

export interface GemmI8RefInput {
  a: Int8Array | Uint8Array;
  b: Int8Array;
  bias?: Int32Array;
  M: number;
  N: number;
  K: number;
}

export function gemmI8Ref({ a, b, bias, M, N, K }: GemmI8RefInput): Int32Array {
  if (a.length !== M * K || b.length !== N * K) throw new RangeError('gemmI8Ref: operand sizes do not match M, N, K');
  const out = new Int32Array(M * N);
  for (let m = 0; m < M; m++) {
    const aRow = m * K;
    for (let n = 0; n < N; n++) {
      const bRow = n * K;
      let acc = bias ? bias[n] : 0;
      // Each product is at most 2^15 in magnitude; |0 wraps the sum like WGSL's i32 addition.
      for (let k = 0; k < K; k++) acc = (acc + a[aRow + k] * b[bRow + k]) | 0;
      out[m * N + n] = acc;
    }
  }
  return out;
}
