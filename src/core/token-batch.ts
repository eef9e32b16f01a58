/**
 * Checks of a TokenBatch before anything of it reaches the GPU: both encoders upload the arrays
 * into buffers sized for the largest batch so far, so a short array would leave the previous
 * batch's ids in place, and a mask value other than 0/1 or a fractional id would be silently
 * reinterpreted by a shader.
 */
import type { MarianConfig, TokenBatch } from './types.js';

const ARRAYS = ['inputIds', 'attentionMask', 'tokenTypeIds', 'positionIds'] as const;

/** Refuses a batch whose arrays are not exactly batch * seqLen integers, or whose mask is not 0/1. */
export function checkTokenBatch(batch: TokenBatch): void {
  const { batch: B, seqLen: S } = batch;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(S) || S < 1) {
    throw new RangeError(`token batch: batch ${B} x seqLen ${S} must be positive integers`);
  }
  const T = B * S;
  for (const name of ARRAYS) {
    const values: ArrayLike<number> | undefined = batch[name];
    if (!values) throw new RangeError(`token batch: ${name} is missing`);
    if (values.length !== T)
      throw new RangeError(
        `token batch: ${name} has ${values.length} values, expected batch ${B} x seqLen ${S} = ${T}`,
      );
    for (let i = 0; i < T; i++) {
      const v = values[i];
      if (name === 'attentionMask' ? v !== 0 && v !== 1 : !Number.isInteger(v)) {
        const want = name === 'attentionMask' ? 'must be 0 or 1' : 'is not an integer';
        throw new RangeError(
          `token batch: ${name}[${i}] = ${v} ${want} (sequence ${Math.floor(i / S)}, position ${i % S})`,
        );
      }
    }
  }
}

/** Refuses ids that are not integers in [0, rows): a shader would clamp or zero them silently. */
export function checkEmbeddingIds(ids: ArrayLike<number>, rows: number, what = 'token'): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= rows) {
      throw new RangeError(`embedding: ${what} id ${id} at index ${i} is outside the table's ${rows} rows`);
    }
  }
}

/**
 * Prompts for incremental decoding, padded on the left (under mask 0, with `padId`) to the longest,
 * each numbering its positions from its first real token: every sequence's next token then follows
 * the same cache position, and the padding is never attended to.
 */
export function decoderPromptBatch(prompts: readonly (readonly number[])[], padId: number): TokenBatch {
  if (prompts.length === 0) throw new RangeError('prompt batch: no prompts');
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`prompt batch: prompt ${i} has no tokens`);
  });
  const B = prompts.length;
  const S = Math.max(...prompts.map((p) => p.length));
  const batch: TokenBatch = {
    batch: B,
    seqLen: S,
    inputIds: new Int32Array(B * S).fill(padId),
    attentionMask: new Int32Array(B * S),
    tokenTypeIds: new Int32Array(B * S),
    positionIds: new Int32Array(B * S),
  };
  prompts.forEach((p, b) => {
    const pad = S - p.length;
    batch.inputIds.set(p, b * S + pad);
    batch.attentionMask.fill(1, b * S + pad, (b + 1) * S);
    for (let t = 0; t < p.length; t++) batch.positionIds[b * S + pad + t] = t;
  });
  return batch;
}

/**
 * Sequences as one batch padded on the right with `padId` under mask 0, positions 0..n-1.
 * `seqLen` pads further (the GPU interpreter runs source and target at one length).
 */
export function marianBatch(
  sequences: readonly (readonly number[])[],
  padId: number,
  maxPositions: number,
  seqLen = Math.max(0, ...sequences.map((s) => s.length)),
  what = 'sequence',
): TokenBatch {
  if (sequences.length === 0) throw new RangeError(`marian batch: no ${what}s`);
  sequences.forEach((s, i) => {
    if (s.length === 0) throw new RangeError(`marian batch: ${what} ${i} is empty`);
  });
  if (seqLen > maxPositions) {
    throw new RangeError(
      `marian batch: ${seqLen} positions, more than the model's ${maxPositions} (max_position_embeddings)`,
    );
  }
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
    if (s.length > seqLen) throw new RangeError(`marian batch: ${what} ${b} has ${s.length} tokens, above ${seqLen}`);
    batch.inputIds.set(s, b * seqLen);
    batch.attentionMask.fill(1, b * seqLen, b * seqLen + s.length);
    for (let t = 0; t < seqLen; t++) batch.positionIds[b * seqLen + t] = t;
  });
  return batch;
}

/**
 * Source ids (each ending with eos) and decoder inputs (each starting with decoder_start_token_id)
 * as two batches; `sameLength` pads both to the longer of the two (what FloatGraphGpu needs).
 */
export function marianBatches(
  config: MarianConfig,
  sources: readonly (readonly number[])[],
  decoderInputs: readonly (readonly number[])[],
  options: { sameLength?: boolean } = {},
): { source: TokenBatch; target: TokenBatch } {
  if (sources.length !== decoderInputs.length) {
    throw new RangeError(`marian batch: ${sources.length} sources for ${decoderInputs.length} decoder inputs`);
  }
  const longest = (list: readonly (readonly number[])[]) => Math.max(0, ...list.map((s) => s.length));
  const both = Math.max(longest(sources), longest(decoderInputs));
  const { padTokenId: pad, maxPositions } = config;
  return {
    source: marianBatch(sources, pad, maxPositions, options.sameLength ? both : longest(sources), 'source'),
    target: marianBatch(decoderInputs, pad, maxPositions, options.sameLength ? both : longest(decoderInputs), 'target'),
  };
}
