/**
 * Perplexity of a language model on text, INT8 beside FP32: each non-blank line (stripped) is its own
 * document, opened and closed by the tokenizer's begin / end-of-text ids (GPT-2: `<|endoftext|>` +
 * text + `<|endoftext|>`); every token after the first is predicted from the ones before it;
 * perplexity = exp(mean NLL over all predicted tokens of all documents). This is how SOURCE.md of
 * ../shared/models/multi30k-gpt2-tiny states its torch figures, so ours compare with them.
 *
 * The scoring is independent of what produces the logits (`LmLogits`): the GPU interpreters (the
 * CLI), or the CPU ones (benchmarks, tests), integer or float.
 */
import type { DecoderModel, TokenBatch } from './core/types.js';
import { runFloatGraphCpu } from './cpu/float-graph.js';
import { runIntProgramCpu } from './cpu/int-program.js';
import type { ModelGraph } from './graph/types.js';
import { decoderBatch, decoderGraph, sequenceNll } from './model/decoder.js';
import type { IntProgram } from './plan/int-program.js';
import type { FloatGraphGpu } from './runtime/float-graph.js';
import type { IntProgramGpu } from './runtime/int-program.js';

/** Real next-token logits [batch * seqLen, vocab] of a right-padded batch of whole sequences. */
export type LmLogits = (batch: TokenBatch) => Promise<ArrayLike<number>>;

/** The stripped, non-blank lines of a text: one document each. */
export function textLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** What a document is made of: the tokenizer's ids of a text, and its begin / end-of-text ids. */
export interface DocumentTokenizer {
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  encode(text: string): number[];
}

/** `bos + text + eos` as token ids. */
export function lmDocument(tokenizer: DocumentTokenizer, text: string): number[] {
  return [tokenizer.bosTokenId, ...tokenizer.encode(text), tokenizer.eosTokenId];
}

/**
 * The documents of `lines` for scoring. The last token of a document is only predicted, never
 * read, so a document fits in `maxPositions + 1` tokens; a longer one is refused (naming its line)
 * rather than cut, since a cut document would be scored on other tokens than the reference's.
 */
export function lmDocuments(
  tokenizer: DocumentTokenizer,
  lines: readonly string[],
  maxPositions: number,
  what = 'text',
): number[][] {
  return lines.map((line, i) => {
    const doc = lmDocument(tokenizer, line);
    if (doc.length - 1 > maxPositions)
      throw new RangeError(
        `${what}: document ${i + 1} has ${doc.length} tokens with its end-of-text markers; the model reads at most ${maxPositions} positions (${maxPositions + 1} tokens, the last one only predicted)`,
      );
    return doc;
  });
}

/**
 * Calibration documents of `texts`: the same documents, cut to the model's positions (calibration
 * only observes activations, so a cut document is still good text).
 */
export function calibrationDocuments(
  tokenizer: DocumentTokenizer,
  texts: readonly string[],
  maxPositions: number,
): number[][] {
  return textLines(texts.join('\n')).map((t) => lmDocument(tokenizer, t).slice(0, maxPositions));
}

export interface LmScore {
  /** Summed NLL (natural log) of the predicted tokens. */
  nll: number;
  tokens: number;
  /** Wall time spent producing logits (forwards and their read-back), in milliseconds. */
  ms: number;
}

export interface ScoreOptions {
  vocab: number;
  /** Any id in the vocabulary: padding sits under mask 0 after each sequence's end. */
  padId: number;
  /** Most documents per forward (default 16). */
  batchSize?: number;
  /**
   * Most logits held per forward (batch x longest input x vocab, default 2^23): bounds the memory
   * of a large vocabulary by cutting batches of long documents.
   */
  maxLogits?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Sum of next-token NLLs of `documents` under `logits`. Documents run in batches of similar
 * length (less padding; sums do not depend on the order), each without its last token as input
 * (it is only predicted): with causal attention the logits of the other positions are unchanged.
 */
export async function scoreDocuments(
  documents: readonly (readonly number[])[],
  logits: LmLogits,
  o: ScoreOptions,
): Promise<LmScore> {
  const batchSize = o.batchSize ?? 16;
  const maxLogits = o.maxLogits ?? 2 ** 23;
  documents.forEach((d, i) => {
    if (d.length < 2) throw new RangeError(`scoreDocuments: document ${i} has ${d.length} token(s); 2 are needed`);
  });
  const order = documents.map((_, i) => i).sort((a, b) => documents[a].length - documents[b].length);
  let nll = 0;
  let tokens = 0;
  let ms = 0;
  for (let at = 0; at < order.length; ) {
    // Sorted by length: the last document of a group is its longest.
    let end = at + 1;
    while (
      end < order.length &&
      end - at < batchSize &&
      (end + 1 - at) * (documents[order[end]].length - 1) * o.vocab <= maxLogits
    )
      end++;
    const group = order.slice(at, end).map((i) => documents[i]);
    const batch = decoderBatch(
      group.map((d) => d.slice(0, -1)),
      o.padId,
    );
    const t0 = performance.now();
    const values = await logits(batch);
    ms += performance.now() - t0;
    const r = sequenceNll(values, o.vocab, group, batch.seqLen);
    nll += r.nll;
    tokens += r.tokens;
    at = end;
    o.onProgress?.(at, order.length);
  }
  return { nll, tokens, ms };
}

export interface LmEvaluation {
  task: 'lm';
  /** Documents (non-blank lines) scored. */
  n: number;
  /** Tokens predicted: each document's text tokens and its closing end-of-text. */
  tokens: number;
  /** Null without float weights (an .i8t file holds only the integer program). */
  fp32Perplexity: number | null;
  int8Perplexity: number;
  /** INT8 wall time per predicted token (forwards and read-back, batched), in milliseconds. */
  msPerToken: number;
  fp32MsPerToken: number | null;
}

/** Perplexity of the integer model and, when given, of the float one, on the same documents. */
export async function evaluateLm(
  int8: LmLogits,
  fp32: LmLogits | undefined,
  documents: readonly (readonly number[])[],
  o: ScoreOptions,
): Promise<LmEvaluation> {
  if (documents.length === 0) throw new Error('language-model evaluation needs at least one document');
  const total = documents.length * (fp32 ? 2 : 1);
  const q = await scoreDocuments(documents, int8, { ...o, onProgress: (d) => o.onProgress?.(d, total) });
  const f = fp32
    ? await scoreDocuments(documents, fp32, {
        ...o,
        onProgress: (d) => o.onProgress?.(documents.length + d, total),
      })
    : undefined;
  return {
    task: 'lm',
    n: documents.length,
    tokens: q.tokens,
    fp32Perplexity: f ? Math.exp(f.nll / f.tokens) : null,
    int8Perplexity: Math.exp(q.nll / q.tokens),
    msPerToken: q.ms / q.tokens,
    fp32MsPerToken: f ? f.ms / f.tokens : null,
  };
}

export function formatLmEvaluation(r: LmEvaluation & { model: string }): string {
  const ppl = (v: number | null) =>
    v === null ? 'n/a (no float weights: pass --reference <hf-folder>)' : v.toFixed(4);
  const change =
    r.fp32Perplexity === null ? '' : ` (${(100 * (r.int8Perplexity / r.fp32Perplexity - 1)).toFixed(2)}% from FP32)`;
  return [
    `model      ${r.model}`,
    `task       lm, ${r.n} documents, ${r.tokens} tokens predicted`,
    `FP32       perplexity ${ppl(r.fp32Perplexity)}`,
    `INT8       perplexity ${ppl(r.int8Perplexity)}${change}`,
    `time       INT8 ${r.msPerToken.toFixed(2)} ms/token${r.fp32MsPerToken !== null ? `, FP32 ${r.fp32MsPerToken.toFixed(2)} ms/token` : ''}`,
  ].join('\n');
}

// ---- logits of each interpreter ----------------------------------------------------------------

/** Real logits of an 'lm-logits' program's int32 accumulators (per-channel scales). */
export function realLmLogits(program: IntProgram, acc: Int32Array): Float64Array {
  const scale = program.output.scale;
  const V = scale.length;
  const out = new Float64Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] * scale[i % V];
  return out;
}

export function intLogitsGpu(runtime: IntProgramGpu): LmLogits {
  return async (batch) => realLmLogits(runtime.program, (await runtime.forward(batch)).output);
}

export function intLogitsCpu(program: IntProgram): LmLogits {
  return async (batch) => realLmLogits(program, runIntProgramCpu(program, batch).output);
}

export function floatLogitsGpu(runtime: FloatGraphGpu): LmLogits {
  return async (batch) => {
    const { logits } = await runtime.forward(batch);
    if (!logits) throw new Error('the float model returned no logits');
    return logits;
  };
}

/** The float64 CPU interpreter (the float specification). */
export function floatLogitsCpu(model: DecoderModel, graph: ModelGraph = decoderGraph(model.config)): LmLogits {
  return async (batch) => runFloatGraphCpu(graph, model.params, batch).logits!;
}
