/** CPU reference of shaders/transpose-heads-i8.ts on unpacked int8: [batch * seq, cols] -> [batch, heads, headDim, seq]. */
export function transposeHeadsI8Ref(
  x: Int8Array,
  batch: number,
  seq: number,
  cols: number,
  heads: number,
  headDim: number,
  colOffset: number,
): Int8Array {
  if (x.length !== batch * seq * cols)
    throw new RangeError(`transposeHeadsI8Ref: ${x.length} values for [${batch * seq}, ${cols}]`);
  const out = new Int8Array(batch * heads * headDim * seq);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let d = 0; d < headDim; d++)
        for (let s = 0; s < seq; s++)
          out[((b * heads + h) * headDim + d) * seq + s] = x[(b * seq + s) * cols + colOffset + h * headDim + d];
  return out;
}
