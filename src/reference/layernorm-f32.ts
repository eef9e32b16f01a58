/**
 * Float64 reference of LayerNorm (the semantics of torch.nn.LayerNorm): per row, mean, biased
 * variance of the centered values, (v - mean) / sqrt(var + eps) * gamma + beta; v = x (+ residual).
 */
export interface LayerNormF32RefInput {
  x: ArrayLike<number>;
  residual?: ArrayLike<number>;
  gamma: ArrayLike<number>;
  beta: ArrayLike<number>;
  rows: number;
  H: number;
  /** Row stride of x, residual and the output (>= H); defaults to H. */
  stride?: number;
  eps: number;
}

export function layerNormF32Ref(p: LayerNormF32RefInput): Float64Array {
  const stride = p.stride ?? p.H;
  const out = new Float64Array(p.rows * stride);
  const v = new Float64Array(p.H);
  for (let r = 0; r < p.rows; r++) {
    const base = r * stride;
    let mean = 0;
    for (let c = 0; c < p.H; c++) {
      v[c] = p.x[base + c] + (p.residual ? p.residual[base + c] : 0);
      mean += v[c];
    }
    mean /= p.H;
    let variance = 0;
    for (let c = 0; c < p.H; c++) variance += (v[c] - mean) ** 2;
    variance /= p.H;
    const inv = 1 / Math.sqrt(variance + p.eps);
    for (let c = 0; c < p.H; c++) out[base + c] = (v[c] - mean) * inv * p.gamma[c] + p.beta[c];
  }
  return out;
}
