/**
 * CPU reference of the f32 GEMM, accumulated in float64. The GPU sums in f32 in another order, so
 * the comparison is a tolerance (relative to sum |a * b|), not bit equality.
 */
export interface GemmF32RefInput {
  a: Float32Array;
  b: Float32Array;
  bias?: Float32Array;
  M: number;
  N: number;
  K: number;
}

/** Returns C and, per element, sum_k |a * b| (the scale of the rounding error). */
export function gemmF32Ref({ a, b, bias, M, N, K }: GemmF32RefInput): { c: Float64Array; magnitude: Float64Array } {
  const c = new Float64Array(M * N);
  const magnitude = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = bias ? bias[n] : 0;
      let mag = bias ? Math.abs(bias[n]) : 0;
      for (let k = 0; k < K; k++) {
        const p = a[m * K + k] * b[n * K + k];
        acc += p;
        mag += Math.abs(p);
      }
      c[m * N + n] = acc;
      magnitude[m * N + n] = mag;
    }
  }
  return { c, magnitude };
}
