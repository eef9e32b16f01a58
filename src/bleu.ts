/**
 * Corpus BLEU as sacrebleu computes it by default (`sacrebleu.corpus_bleu(hyps, refs)` /
 * `BLEU().corpus_score`): mteval-v13a tokenization, n-grams up to 4, clipped counts summed over
 * the corpus, the closest reference length per sentence (the shorter one on ties), the
 * exponential brevity penalty exp(1 - r / c), case-sensitive, and 'exp' smoothing.
 *
 * Smoothing: sacrebleu's default `smooth_method` is 'exp' for corpus BLEU as well as for sentence
 * BLEU (BLEU.__init__ and compat.corpus_bleu both default to 'exp'; the signature prints
 * `smooth:exp`). It is mteval-v13a's: the k-th n-gram order (counting from 1-grams) with no match
 * gets the precision 1 / (2^k total) instead of 0. On a real corpus every order has matches and
 * it changes nothing; it matters for tiny corpora. What sacrebleu does before any smoothing is
 * kept too: a corpus with no matching n-gram at all scores 0, and an order with no n-grams in
 * the hypotheses (total 0) gives precision 0 (so BLEU 0) unless `effectiveOrder` is set.
 * 'effective order' is off by default for corpus BLEU (on for sacrebleu's sentence_bleu).
 *
 * Written from sacrebleu's documented behaviour and its rules (mteval-v13a's regular expressions),
 * checked against its published examples in test/bleu.test.ts.
 */

export type BleuSmoothing = 'exp' | 'none' | 'floor' | 'add-k';

export interface BleuOptions {
  /** 'exp' (sacrebleu's default), 'none', 'floor' (precision smoothValue / total) or 'add-k'. */
  smoothMethod?: BleuSmoothing;
  /** For 'floor' (default 0.1) and 'add-k' (default 1), as sacrebleu's smooth_value. */
  smoothValue?: number;
  /** '13a' (default) or 'none' (split on whitespace only). */
  tokenize?: '13a' | 'none';
  /** Largest n-gram order (default 4). */
  maxNgramOrder?: number;
  /** Average over the orders up to the last one with hypothesis n-grams only (default false). */
  effectiveOrder?: boolean;
}

export interface BleuScore {
  /** BLEU in [0, 100]. */
  score: number;
  /** Clipped n-gram matches per order (1-grams first), before any smoothing. */
  counts: number[];
  /** Hypothesis n-grams per order. */
  totals: number[];
  /** Precision per order in percent, after smoothing (0 for orders not reached). */
  precisions: number[];
  /** Brevity penalty. */
  bp: number;
  /** Hypothesis tokens. */
  sysLen: number;
  /** Closest reference tokens, summed. */
  refLen: number;
}

/**
 * Python's str.isspace characters: what sacrebleu's str.split() and rstrip() treat as whitespace.
 * Not JavaScript's \s, which adds U+FEFF and lacks U+001C..U+001F and U+0085.
 */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPACES = new RegExp(`[${PY_SPACE}]+`, 'g');
const TRAILING_SPACE = new RegExp(`[${PY_SPACE}]+$`);

/** Whitespace-separated tokens, as Python's str.split() with no argument. */
function splitTokens(line: string): string[] {
  return line.split(SPACES).filter((t) => t.length > 0);
}

// mteval-v13a's language-dependent rules, applied in this order, each over the whole line:
// ASCII punctuation and symbols except the apostrophe, hyphen, period and comma become tokens;
// a period or comma becomes one unless it has a digit on both sides; a hyphen after a digit too.
const RULES_13A: [RegExp, string][] = [
  [/([{-~[-` -&(-+:-@/])/g, ' $1 '],
  [/([^0-9])([.,])/g, '$1 $2 '],
  [/([.,])([^0-9])/g, ' $1 $2'],
  [/([0-9])(-)/g, '$1 $2 '],
];

/** sacrebleu's tokenizer_13a of one (already right-stripped) line: tokens joined by one space. */
export function tokenize13a(line: string): string {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  // Sequential, as in mteval: '&amp;lt;' becomes '&lt;' and then '<'.
  if (s.includes('&')) {
    s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  }
  s = ` ${s} `;
  for (const [re, to] of RULES_13A) s = s.replace(re, to);
  return splitTokens(s).join(' ');
}

interface Segment {
  /** n-gram (tokens joined by a space, which no token contains) -> count, all orders together. */
  ngrams: Map<string, number>;
  length: number;
}

function segment(line: string, tokenize: '13a' | 'none', maxOrder: number): Segment {
  const stripped = line.replace(TRAILING_SPACE, '');
  const tokens = splitTokens(tokenize === '13a' ? tokenize13a(stripped) : stripped);
  const ngrams = new Map<string, number>();
  for (let n = 1; n <= maxOrder; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = tokens.slice(i, i + n).join(' ');
      ngrams.set(key, (ngrams.get(key) ?? 0) + 1);
    }
  }
  return { ngrams, length: tokens.length };
}

/** The reference length closest to the hypothesis length; the shorter on ties. */
function closestLength(hypLength: number, refLengths: number[]): number {
  let best = refLengths[0];
  for (const r of refLengths) {
    const d = Math.abs(hypLength - r);
    const bd = Math.abs(hypLength - best);
    if (d < bd || (d === bd && r < best)) best = r;
  }
  return best;
}

function checkOptions(o: BleuOptions): Required<Omit<BleuOptions, 'smoothValue'>> & { smoothValue: number } {
  const smoothMethod = o.smoothMethod ?? 'exp';
  if (!['exp', 'none', 'floor', 'add-k'].includes(smoothMethod))
    throw new RangeError(`BLEU: smoothMethod '${smoothMethod}' is not one of 'exp', 'none', 'floor', 'add-k'`);
  const tokenize = o.tokenize ?? '13a';
  if (tokenize !== '13a' && tokenize !== 'none')
    throw new RangeError(`BLEU: tokenize '${tokenize}' is not one of '13a', 'none'`);
  const maxNgramOrder = o.maxNgramOrder ?? 4;
  if (!Number.isInteger(maxNgramOrder) || maxNgramOrder < 1)
    throw new RangeError(`BLEU: maxNgramOrder = ${maxNgramOrder} must be a positive integer`);
  const smoothValue = o.smoothValue ?? (smoothMethod === 'add-k' ? 1 : 0.1);
  if (!(smoothValue >= 0) || !Number.isFinite(smoothValue))
    throw new RangeError(`BLEU: smoothValue = ${smoothValue} must be a non-negative finite number`);
  return { smoothMethod, tokenize, maxNgramOrder, effectiveOrder: !!o.effectiveOrder, smoothValue };
}

/** log, with sacrebleu's floor for 0 (a huge negative number, so that exp gives 0). */
function floorLog(p: number): number {
  return p === 0 ? -9999999999 : Math.log(p);
}

/**
 * BLEU from corpus statistics (sacrebleu's BLEU.compute_bleu): matched and total n-grams per
 * order, hypothesis and reference lengths. Defaults are corpus_bleu's ('exp' smoothing).
 */
export function bleuFromStatistics(
  counts: readonly number[],
  totals: readonly number[],
  sysLen: number,
  refLen: number,
  options: BleuOptions = {},
): BleuScore {
  const o = checkOptions({ maxNgramOrder: counts.length, ...options });
  const order = o.maxNgramOrder;
  if (counts.length !== order || totals.length !== order)
    throw new RangeError(`BLEU: ${counts.length} counts and ${totals.length} totals for n-gram order ${order}`);
  for (const [what, v] of [
    ['sysLen', sysLen],
    ['refLen', refLen],
    ...counts.map((c, i) => [`counts[${i}]`, c] as const),
    ...totals.map((t, i) => [`totals[${i}]`, t] as const),
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`BLEU: ${what} = ${v} must be a non-negative integer`);
  }
  let bp = 1;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0;
  const precisions = new Array<number>(order).fill(0);
  const result = { counts: [...counts], totals: [...totals], precisions, bp, sysLen, refLen };
  if (counts.every((c) => c === 0)) return { score: 0, ...result };
  let smoothExp = 1;
  let effOrder = order;
  for (let n = 1; n <= order; n++) {
    let correct = counts[n - 1];
    let total = totals[n - 1];
    if (o.smoothMethod === 'add-k' && n > 1) {
      correct += o.smoothValue;
      total += o.smoothValue;
    }
    if (total === 0) break;
    if (o.effectiveOrder) effOrder = n;
    if (correct === 0) {
      if (o.smoothMethod === 'exp') {
        smoothExp *= 2;
        precisions[n - 1] = 100 / (smoothExp * total);
      } else if (o.smoothMethod === 'floor') {
        precisions[n - 1] = (100 * o.smoothValue) / total;
      }
    } else {
      precisions[n - 1] = (100 * correct) / total;
    }
  }
  let logSum = 0;
  for (let n = 0; n < effOrder; n++) logSum += floorLog(precisions[n]);
  return { score: bp * Math.exp(logSum / effOrder), ...result };
}

/**
 * Corpus BLEU of detokenized hypotheses against one or more references per sentence.
 * `references`: one reference per hypothesis (string[]), or sacrebleu's layout, a list of
 * reference streams each aligned with the hypotheses (string[][]; an empty string is a reference
 * of length 0, as in sacrebleu).
 */
export function corpusBleu(
  hypotheses: readonly string[],
  references: readonly string[] | readonly (readonly string[])[],
  options: BleuOptions = {},
): BleuScore {
  const o = checkOptions(options);
  if (!Array.isArray(hypotheses) || hypotheses.length === 0) throw new RangeError('BLEU: no hypotheses');
  if (references.length === 0) throw new RangeError('BLEU: no references');
  const streams = (typeof references[0] === 'string' ? [references] : references) as readonly (readonly string[])[];
  streams.forEach((stream, k) => {
    if (!Array.isArray(stream) || stream.length !== hypotheses.length)
      throw new RangeError(
        `BLEU: reference stream ${k} has ${Array.isArray(stream) ? stream.length : 'no'} sentences for ${hypotheses.length} hypotheses`,
      );
    stream.forEach((r, i) => {
      if (typeof r !== 'string') throw new TypeError(`BLEU: reference ${i} of stream ${k} is not a string`);
    });
  });
  hypotheses.forEach((h, i) => {
    if (typeof h !== 'string') throw new TypeError(`BLEU: hypothesis ${i} is not a string`);
  });
  const order = o.maxNgramOrder;
  const counts = new Array<number>(order).fill(0);
  const totals = new Array<number>(order).fill(0);
  let sysLen = 0;
  let refLen = 0;
  hypotheses.forEach((hyp, i) => {
    const refs = streams.map((s) => segment(s[i], o.tokenize, order));
    // Clip each n-gram by its largest count in any one reference.
    const maxRef = new Map<string, number>();
    for (const r of refs) for (const [g, c] of r.ngrams) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
    const h = segment(hyp, o.tokenize, order);
    for (const [g, c] of h.ngrams) {
      const n = g.split(' ').length - 1;
      totals[n] += c;
      counts[n] += Math.min(c, maxRef.get(g) ?? 0);
    }
    sysLen += h.length;
    refLen += closestLength(
      h.length,
      refs.map((r) => r.length),
    );
  });
  return bleuFromStatistics(counts, totals, sysLen, refLen, o);
}
