/**
 * What a decoder-only language model needs beyond its import: its graph (GPT-2's spec from
 * src/graph/architectures.ts, sized by the config) and token batches of whole sequences.
 */
import type { DecoderConfig, TokenBatch } from '../core/types.js';
import { gpt2Spec } from '../graph/architectures.js';
import { buildGraph } from '../graph/blocks.js';
import type { ModelGraph } from '../graph/types.js';

/** The float graph of a GPT-2 config: tanh GELU for gelu_new, the exact one for gelu. */
export function decoderGraph(config: DecoderConfig): ModelGraph {
  return buildGraph(
    gpt2Spec({
      activation: config.hiddenAct === 'gelu' ? 'gelu' : 'gelu_tanh',
      hidden: config.hiddenSize,
      heads: config.numHeads,
      layers: config.numLayers,
      intermediate: config.intermediateSize,
      vocab: config.vocabSize,
      eps: config.layerNormEps,
    }),
  );
}

/**
 * Whole sequences as one batch, padded on the right (under mask 0, with `padId`; GPT-2 has no
 * padding token, so any id in the vocabulary does) and numbered 0..n-1 as GPT-2's positions:
 * with causal attention a real token never sees the padding after it, so each sequence's logits
 * are those it has alone.
 */
export function decoderBatch(
  sequences: readonly (readonly number[])[],
  padId: number,
  maxPositions?: number,
): TokenBatch {
  if (sequences.length === 0) throw new RangeError('decoderBatch: no sequences');
  const seqLen = Math.max(...sequences.map((s) => s.length));
  sequences.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`decoderBatch: sequence ${i} is empty`);
    if (maxPositions !== undefined && s.length > maxPositions) {
      throw new RangeError(
        `decoderBatch: sequence ${i} has ${s.length} tokens, more than the model's ${maxPositions} positions`,
      );
    }
  });
  const B = sequences.length;
  const batch: TokenBatch = {
    batch: B,
    seqLen,
    inputIds: new Int32Array(B * seqLen).fill(padId),
    attentionMask: new Int32Array(B * seqLen),
    tokenTypeIds: new Int32Array(B * seqLen),
    positionIds: new Int32Array(B * seqLen),
  };
  sequences.forEach((s, b) => {
    batch.inputIds.set(s, b * seqLen);
    batch.attentionMask.fill(1, b * seqLen, b * seqLen + s.length);
    for (let t = 0; t < seqLen; t++) batch.positionIds[b * seqLen + t] = t;
  });
  return batch;
}

/**
 * Summed negative log-likelihood (natural log, float64 log-softmax) of tokens `firstScored`.. of
 * each sequence under next-token logits [sequences * seqLen, vocab] of decoderBatch(sequences):
 * token t is scored by the logits at position t - 1. With firstScored 1 the first token is context
 * only (a document opened by end-of-text). Perplexity = exp(nll / tokens).
 */
export function sequenceNll(
  logits: ArrayLike<number>,
  vocab: number,
  sequences: readonly (readonly number[])[],
  seqLen: number,
  firstScored = 1,
): { nll: number; tokens: number } {
  if (!(firstScored >= 1))
    throw new RangeError(`sequenceNll: firstScored ${firstScored} must be >= 1 (token 0 has no logits before it)`);
  if (logits.length !== sequences.length * seqLen * vocab) {
    throw new RangeError(
      `sequenceNll: ${logits.length} logits for ${sequences.length} x ${seqLen} positions x ${vocab}`,
    );
  }
  let nll = 0;
  let tokens = 0;
  sequences.forEach((ids, b) => {
    for (let t = firstScored; t < ids.length; t++) {
      const row = (b * seqLen + t - 1) * vocab;
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, logits[row + v]);
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[row + v] - max);
      nll += max + Math.log(sum) - logits[row + ids[t]];
      tokens++;
    }
  });
  return { nll, tokens };
}
