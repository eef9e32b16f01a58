/**
 * Float64 reference of the embedding sum: (word[id] + tokenType[type]) + position[pos] per token,
 * the token-type term absent for models without one. Out rows are `stride` apart.
 */
export interface EmbeddingF32RefInput {
  inputIds: ArrayLike<number>;
  positionIds: ArrayLike<number>;
  tokenTypeIds?: ArrayLike<number>;
  word: ArrayLike<number>;
  position: ArrayLike<number>;
  tokenType?: ArrayLike<number>;
  tokens: number;
  H: number;
  stride?: number;
}

export function embeddingF32Ref(p: EmbeddingF32RefInput): Float64Array {
  const stride = p.stride ?? p.H;
  const out = new Float64Array(p.tokens * stride);
  for (let i = 0; i < p.tokens; i++) {
    for (let c = 0; c < p.H; c++) {
      let v = p.word[p.inputIds[i] * p.H + c];
      if (p.tokenType && p.tokenTypeIds) v += p.tokenType[p.tokenTypeIds[i] * p.H + c];
      out[i * stride + c] = v + p.position[p.positionIds[i] * p.H + c];
    }
  }
  return out;
}
