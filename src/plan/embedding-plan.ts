/**
 * The embedding stage of the integer encoder: word, position and token-type tables quantized to
 * int8 per tensor, summed by the embedding kernel into the wide residual stream at one scale.
 */
import type { EncoderModel, TokenBatch } from '../model/types.js';
import { quantizeTensorPerTensor } from '../quant/weights.js';
import { type EmbeddingConstants, type EmbeddingIds, type EmbeddingTables, planEmbedding } from '../reference/embedding-i8.js';

export interface EmbeddingPlan {
  tables: EmbeddingTables;
  constants: EmbeddingConstants;
  tableScales: { word: number; position: number; tokenType?: number };
  /** Scale of the int32 sum (the LayerNorm input). */
  scale: number;
}

/** `range` is the calibrated max |word + position + type| in real units; `bits` the stream width. */
export function planEmbeddings(model: EncoderModel, range: number, bits: number): EmbeddingPlan {
  const { weights, config } = model;
  const word = quantizeTensorPerTensor(weights.wordEmbeddings);
  const position = quantizeTensorPerTensor(weights.positionEmbeddings);
  const tokenType = weights.tokenTypeEmbeddings && config.typeVocabSize > 0 ? quantizeTensorPerTensor(weights.tokenTypeEmbeddings) : undefined;
  const { scale, ...constants } = planEmbedding({
    wordScale: word.scale,
    positionScale: position.scale,
    tokenTypeScale: tokenType?.scale,
    bits,
    range,
  });
  return {
    tables: { word: word.values, position: position.values, tokenType: tokenType?.values, hidden: config.hiddenSize },
    constants,
    tableScales: { word: word.scale, position: position.scale, tokenType: tokenType?.scale },
    scale,
  };
}

export function embeddingInputs(batch: TokenBatch, withTypes: boolean): EmbeddingIds {
  return {
    token: batch.inputIds,
    position: batch.positionIds,
    tokenType: withTypes ? batch.tokenTypeIds : undefined,
  };
}
