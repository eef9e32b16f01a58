/** The fixed position table of Marian-style models: a property of the model description, shared by every interpreter and the planner. */

/**
 * Row `pos` of transformers' Marian sinusoidal table of width `dim` (MarianSinusoidalPositionalEmbedding):
 * with half = ceil(dim / 2), column c < half is sin(pos / 10000^(2c / dim)) and column half + c is
 * cos(pos / 10000^(2c / dim)), computed in float64 and stored as float32, as transformers stores it.
 */
export function sinusoidalRow(pos: number, dim: number): Float32Array {
  const half = Math.ceil(dim / 2);
  const row = new Float32Array(dim);
  for (let c = 0; c < half; c++) row[c] = Math.sin(pos / 10000 ** ((2 * c) / dim));
  for (let c = 0; half + c < dim; c++) row[half + c] = Math.cos(pos / 10000 ** ((2 * c) / dim));
  return row;
}
