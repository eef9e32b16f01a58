/**
 * Translation quality of the integer model beside the float one on a parallel text: corpus BLEU of
 * each (src/bleu.ts, sacrebleu's defaults) on the detokenized translations against the raw
 * reference lines, their agreement (the share of sentences translated to the same text), and time
 * per sentence.
 *
 * The search is translateTokens (src/generate/translate.ts) over whatever sessions the caller
 * makes: the GPU interpreters, or the CPU ones (the integer specification, the float64 model).
 * Sentences go in batches of `batchSize` in file order; each batch gets at most
 * min(max_length - 1, 2 x its longest source + 10) new tokens (its source lengths in tokens, eos
 * included), never more than the model's positions allow: the rule ../shared's
 * multi30k-marian-en-de SOURCE.md states for its torch BLEU, and model.translate()'s default. With
 * batches of one the limit is per sentence, so the result does not depend on the batching.
 */
import { type BleuScore, corpusBleu } from './bleu.js';
import { type TranslatedTokens, type TranslateRules, translateTokens } from './generate/translate.js';
import type { TranslatorSession } from './generate/translator-session.js';

/** What evaluation needs of a tokenizer (MarianTokenizer has it). */
export interface TranslationTokenizer {
  /** The source's ids, ending with eos. */
  encodeSource(text: string): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
}

/**
 * A session for `sequences` sequences (sources x beams) of `capacity` target tokens, for sources of
 * up to `sourceLength` tokens. Made once per precision; disposed at the end.
 */
export type SessionFactory = (size: {
  sequences: number;
  capacity: number;
  sourceLength: number;
}) => Promise<TranslatorSession>;

export interface TranslationProgress {
  /** Sentences translated by both precisions. */
  done: number;
  total: number;
  /** Corpus BLEU of the sentences done so far (not recomputed on every call: see evaluateTranslation). */
  int8Bleu?: number;
  fp32Bleu?: number | null;
}

export interface TranslationEvaluationOptions {
  /** Beams per sentence; 1 (default): greedy. */
  numBeams?: number;
  /** Sentences per search (default 1). */
  batchSize?: number;
  /** generation_config.json's max_length (absent: the model's positions). */
  maxLength?: number;
  /** Sentences kept side by side in the report (default 3, the first ones). */
  examples?: number;
  /** The source file's name in errors. */
  what?: string;
  onProgress?: (progress: TranslationProgress) => void;
}

/** BLEU's parts, as sacrebleu reports them. */
export interface BleuDetails {
  /** 1- to 4-gram precisions in percent. */
  precisions: number[];
  bp: number;
  /** Hypothesis and reference tokens (13a). */
  sysLen: number;
  refLen: number;
  /** Sentences that maxNewTokens ended (their last token forced eos when the model names one). */
  cutByLength: number;
}

export interface TranslationExample {
  source: string;
  reference: string;
  int8: string;
  fp32: string | null;
}

export interface TranslationEvaluation {
  task: 'translation';
  n: number;
  /** Null without float weights (an .i8t file holds only the integer program). */
  fp32Bleu: number | null;
  int8Bleu: number;
  /** Share of sentences whose INT8 and FP32 translations are the same text; null without FP32. */
  agreement: number | null;
  /** INT8 wall time per sentence (the search, its model runs and read-backs), in milliseconds. */
  msPerSentence: number;
  fp32MsPerSentence: number | null;
  beams: number;
  batch: number;
  /** The new-token limit's rule, with the model's numbers. */
  maxNewTokens: string;
  int8: BleuDetails;
  fp32: BleuDetails | null;
  examples: TranslationExample[];
}

/** Lines of a text file as they pair with another file's: "\r\n" as "\n", one final newline dropped, blanks kept. */
export function translationLines(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The new-token limit of a batch whose longest source has `longest` tokens. */
export function translationTokenLimit(longest: number, maxPositions: number, maxLength?: number): number {
  const limit = Math.min((maxLength ?? maxPositions) - 1, maxPositions - 1);
  return Math.max(1, Math.min(limit, 2 * longest + 10));
}

interface Batch {
  start: number;
  sources: number[][];
  maxNewTokens: number;
}

/** Seconds between running-BLEU updates: each recomputes the corpus so far. */
const BLEU_EVERY_MS = 2000;

function details(score: BleuScore, cut: number): BleuDetails {
  return { precisions: score.precisions, bp: score.bp, sysLen: score.sysLen, refLen: score.refLen, cutByLength: cut };
}

/**
 * INT8 (and, given a float session factory, FP32) translations of `sources`, scored against
 * `references` (line i with line i). Each batch is translated by INT8 then FP32, so progress can
 * report both BLEUs over the same sentences; each precision's time is its own searches only.
 */
export async function evaluateTranslation(
  int8: SessionFactory,
  fp32: SessionFactory | undefined,
  tokenizer: TranslationTokenizer,
  config: TranslateRules & { maxPositions: number },
  sources: readonly string[],
  references: readonly string[],
  options: TranslationEvaluationOptions = {},
): Promise<TranslationEvaluation> {
  const what = options.what ?? 'source';
  if (sources.length === 0) throw new RangeError('translation evaluation needs at least one sentence');
  if (references.length !== sources.length)
    throw new RangeError(`translation evaluation: ${sources.length} sources and ${references.length} references`);
  const numBeams = options.numBeams ?? 1;
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`translation evaluation: batchSize = ${batchSize} must be a positive integer`);
  const { maxPositions } = config;
  const ids = sources.map((text, i) => {
    const s = tokenizer.encodeSource(text);
    if (s.length > maxPositions)
      throw new RangeError(
        `${what}: line ${i + 1} has ${s.length} tokens; the model reads at most ${maxPositions} positions (max_position_embeddings)`,
      );
    return s;
  });
  const batches: Batch[] = [];
  for (let i = 0; i < ids.length; i += batchSize) {
    const b = ids.slice(i, i + batchSize);
    const longest = Math.max(...b.map((s) => s.length));
    batches.push({
      start: i,
      sources: b,
      maxNewTokens: translationTokenLimit(longest, maxPositions, options.maxLength),
    });
  }
  const size = {
    sequences: Math.min(batchSize, ids.length) * numBeams,
    capacity: Math.max(...batches.map((b) => b.maxNewTokens)),
    sourceLength: Math.max(...ids.map((s) => s.length)),
  };

  const n = sources.length;
  const out = {
    int8: { texts: [] as string[], cut: 0, ms: 0 },
    fp32: fp32 ? { texts: [] as string[], cut: 0, ms: 0 } : undefined,
  };
  const run = async (session: TranslatorSession, batch: Batch, into: typeof out.int8) => {
    const t0 = performance.now();
    const results: TranslatedTokens[] = await translateTokens(session, batch.sources, config, {
      numBeams,
      maxNewTokens: batch.maxNewTokens,
    });
    const texts = results.map((r) => tokenizer.decode(r.tokens, { skipSpecialTokens: true }));
    into.ms += performance.now() - t0;
    into.texts.push(...texts);
    into.cut += results.filter((r) => r.finishReason === 'length').length;
  };

  const q = await int8(size);
  let f: TranslatorSession | undefined;
  try {
    f = fp32 ? await fp32(size) : undefined;
    let lastBleu = performance.now();
    let running: Pick<TranslationProgress, 'int8Bleu' | 'fp32Bleu'> = {};
    for (const batch of batches) {
      await run(q, batch, out.int8);
      if (f && out.fp32) await run(f, batch, out.fp32);
      const done = out.int8.texts.length;
      if (performance.now() - lastBleu >= BLEU_EVERY_MS || done === n) {
        const refs = references.slice(0, done);
        running = {
          int8Bleu: corpusBleu(out.int8.texts, refs).score,
          fp32Bleu: out.fp32 ? corpusBleu(out.fp32.texts, refs).score : null,
        };
        lastBleu = performance.now();
      }
      options.onProgress?.({ done, total: n, ...running });
    }
  } finally {
    q.dispose();
    f?.dispose();
  }

  const qBleu = corpusBleu(out.int8.texts, references);
  const fBleu = out.fp32 ? corpusBleu(out.fp32.texts, references) : undefined;
  const fTexts = out.fp32?.texts;
  const agree = fTexts ? out.int8.texts.filter((t, i) => t === fTexts[i]).length : 0;
  const cap = Math.min((options.maxLength ?? maxPositions) - 1, maxPositions - 1);
  return {
    task: 'translation',
    n,
    fp32Bleu: fBleu ? fBleu.score : null,
    int8Bleu: qBleu.score,
    agreement: fTexts ? agree / n : null,
    msPerSentence: out.int8.ms / n,
    fp32MsPerSentence: out.fp32 ? out.fp32.ms / n : null,
    beams: numBeams,
    batch: batchSize,
    maxNewTokens: `min(${cap}, 2 x longest source in the batch (tokens, eos included) + 10)`,
    int8: details(qBleu, out.int8.cut),
    fp32: fBleu && out.fp32 ? details(fBleu, out.fp32.cut) : null,
    examples: sources.slice(0, options.examples ?? 3).map((source, i) => ({
      source,
      reference: references[i],
      int8: out.int8.texts[i],
      fp32: fTexts ? fTexts[i] : null,
    })),
  };
}

export function formatTranslationEvaluation(
  r: TranslationEvaluation & { model: string; backend?: string; reference?: string | null },
): string {
  const bleu = (v: number | null, d: BleuDetails | null) =>
    v === null || d === null
      ? 'n/a (no float weights: pass --reference <hf-folder>)'
      : `BLEU ${v.toFixed(2)}  (${d.precisions.map((p) => p.toFixed(1)).join('/')}, BP ${d.bp.toFixed(3)}, ${d.sysLen}/${d.refLen} tokens${d.cutByLength ? `, ${d.cutByLength} cut at the limit` : ''})`;
  const pct = (v: number | null) => (v === null ? 'n/a (no FP32)' : `${(100 * v).toFixed(1)}% identical`);
  const lines = [
    `model      ${r.model}${r.backend ? ` (${r.backend})` : ''}`,
    `task       translation, ${r.n} sentences, ${r.beams > 1 ? `beam ${r.beams}` : 'greedy'}, batch ${r.batch}, new tokens ${r.maxNewTokens}`,
    `FP32       ${bleu(r.fp32Bleu, r.fp32)}`,
    `INT8       ${bleu(r.int8Bleu, r.int8)}`,
    `agreement  ${pct(r.agreement)}`,
    `time       INT8 ${r.msPerSentence.toFixed(1)} ms/sentence${r.fp32MsPerSentence !== null ? `, FP32 ${r.fp32MsPerSentence.toFixed(1)} ms/sentence` : ''}`,
  ];
  for (const e of r.examples) {
    lines.push('', `  source    ${e.source}`, `  reference ${e.reference}`, `  INT8      ${e.int8}`);
    if (e.fp32 !== null) lines.push(`  FP32      ${e.fp32}`);
  }
  return lines.join('\n');
}
