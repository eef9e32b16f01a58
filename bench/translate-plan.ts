/**
 * The translation benchmark's pure logic (tested in test/bench-translate.test.ts): which cells run
 * and which runtimes run them, the common new-token limit, the source sentences, a run's output
 * cut to what was translated, and the figures of a cell.
 */
import { median } from './compare-stats.js';

export type TrRuntimeId = 'int8' | 'fp32' | 'tjs-webgpu' | 'tjs-wasm';

export const TR_RUNTIMES: Record<TrRuntimeId, string> = {
  int8: 'this project, INT8 (Int8TranslationModel: encoder and cross-attention K|V once per source, int8 self-attention cache, WebGPU)',
  fp32: 'this project, FP32 (Fp32TranslationModel: no cache, reruns encoder and decoder over the whole prefix per token, WebGPU)',
  'tjs-webgpu':
    'transformers.js, device webgpu (ONNX twin: encoder_model.onnx + decoder_model_merged.onnx, fp32, KV cache)',
  'tjs-wasm':
    'transformers.js, device wasm (ONNX twin: encoder_model.onnx + decoder_model_merged.onnx, fp32, KV cache)',
};

export const PEER_RUNTIMES: readonly TrRuntimeId[] = ['tjs-webgpu', 'tjs-wasm'];

export interface TrCell {
  /** 1: greedy; more: beam search. */
  beams: number;
  batch: number;
  /** New tokens per sentence at most, the same for every runtime (eos stops a sentence earlier). */
  maxNewTokens: number;
  runtimes: TrRuntimeId[];
}

export interface SkippedRun {
  beams: number;
  batch: number;
  runtime: TrRuntimeId;
  reason: string;
}

/**
 * Every (batch, beams) cell, smaller batches first and greedy before beams within a batch, each
 * with the runtimes that run it. Our FP32 model has
 * no cache and reruns everything per token, so it runs only cells of at most `fp32MaxSequences`
 * sequences (batch x beams); the others are listed as skipped, with the reason.
 */
export function planTranslateCells(options: {
  beams: readonly number[];
  batches: readonly number[];
  runtimes: readonly TrRuntimeId[];
  maxNewTokens: (batch: number) => number;
  fp32MaxSequences: number;
}): { cells: TrCell[]; skipped: SkippedRun[] } {
  const { beams, batches, runtimes, fp32MaxSequences } = options;
  for (const [what, list] of [
    ['beam count', beams],
    ['batch', batches],
  ] as const)
    for (const v of list)
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`planTranslateCells: ${what} ${v} is not a positive integer`);
  if (!(fp32MaxSequences >= 0)) throw new RangeError(`planTranslateCells: fp32MaxSequences ${fp32MaxSequences}`);
  const cells: TrCell[] = [];
  const skipped: SkippedRun[] = [];
  // Batch outer: a slow runtime's small cells come first (its warm-ups compile what the large ones use).
  for (const batch of [...batches].sort((x, y) => x - y))
    for (const b of [...beams].sort((x, y) => x - y)) {
      const mine = runtimes.filter((r) => {
        if (r !== 'fp32' || batch * b <= fp32MaxSequences) return true;
        skipped.push({
          beams: b,
          batch,
          runtime: r,
          reason: `${batch * b} sequences (batch ${batch} x ${b} beam${b > 1 ? 's' : ''}) exceed --fp32-max-sequences ${fp32MaxSequences}: without a cache each token reruns the whole model over every sequence`,
        });
        return false;
      });
      if (mine.length) cells.push({ beams: b, batch, maxNewTokens: options.maxNewTokens(batch), runtimes: mine });
    }
  return { cells, skipped };
}

/**
 * The new-token limit of a batch: our translate()'s default, min(positions - 1, 2 x the longest
 * source's tokens + 10), given to every runtime explicitly so that none falls back to its own.
 */
export function newTokenLimit(sourceLengths: readonly number[], maxLength: number): number {
  if (!sourceLengths.length) throw new RangeError('newTokenLimit: no sources');
  return Math.max(1, Math.min(maxLength - 1, 2 * Math.max(...sourceLengths) + 10));
}

/** `count` different non-blank sentences from the top of a corpus (duplicates skipped). */
export function pickSentences(lines: readonly string[], count: number): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const t = l.trim();
    if (t && !out.includes(t)) out.push(t);
    if (out.length === count) return out;
  }
  throw new RangeError(`pickSentences: only ${out.length} of ${count} different sentences`);
}

/**
 * A generated row as translated: from the first token after the decoder start (when the runtime
 * returns it) up to and including the first eos. transformers.js returns every row as long as the
 * batch's longest, a finished row going on after its eos.
 */
export function translatedTokens(row: readonly number[], eos: number, start?: number): number[] {
  const from = start !== undefined && row[0] === start ? 1 : 0;
  const end = row.indexOf(eos, from);
  return row.slice(from, end < 0 ? row.length : end + 1);
}

export interface TrRun {
  /** From the translate call to its results in JavaScript (encoder, every step, read-backs). */
  totalMs: number;
  /** Tokens generated per sentence (eos included), as translatedTokens cuts them. */
  tokens: number;
}

export interface TrFigures {
  runs: number;
  /** Median over runs of the run's time / its sentences. */
  msPerSentence: number;
  sentencesPerS: number;
  /** Median over runs of the run's time / the tokens it generated (all sentences, eos included). */
  msPerToken: number;
  /** Generated tokens per run (sum over the batch), of the median run. */
  tokens: number;
}

export function cellFigures(runs: readonly TrRun[] | undefined, batch: number): TrFigures | undefined {
  if (!runs?.length) return undefined;
  const msPerSentence = median(runs.map((r) => r.totalMs / batch));
  return {
    runs: runs.length,
    msPerSentence,
    sentencesPerS: 1000 / msPerSentence,
    msPerToken: median(runs.map((r) => r.totalMs / Math.max(1, r.tokens))),
    tokens: median(runs.map((r) => r.tokens)),
  };
}

/** How many sentences have exactly the reference's tokens, as "n/m", or '–' without both. */
export function sameOutputs(ref: number[][] | undefined, mine: number[][] | undefined): string {
  if (!ref || !mine || ref.length !== mine.length) return '–';
  const same = mine.filter((t, i) => t.length === ref[i].length && t.every((v, j) => v === ref[i][j])).length;
  return `${same}/${mine.length}`;
}
