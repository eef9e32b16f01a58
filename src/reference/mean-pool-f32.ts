/** Float64 reference of mean pooling over real tokens: sum(mask * x) / max(sum(mask), 1e-9). */
export function meanPoolF32Ref(
  x: ArrayLike<number>,
  mask: ArrayLike<number>,
  batch: number,
  seq: number,
  H: number,
  stride = H,
): Float64Array {
  const out = new Float64Array(batch * H);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let s = 0; s < seq; s++) count += mask[b * seq + s] ? 1 : 0;
    for (let c = 0; c < H; c++) {
      let sum = 0;
      for (let s = 0; s < seq; s++) if (mask[b * seq + s]) sum += x[(b * seq + s) * stride + c];
      out[b * H + c] = sum / Math.max(count, 1e-9);
    }
  }
  return out;
}
