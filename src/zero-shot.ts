/**
 * Zero-shot classification through a natural-language-inference head, as transformers.js'
 * ZeroShotClassificationPipeline does it: the text is the premise, each candidate label put in a
 * hypothesis template the hypothesis; the NLI model's entailment logits decide. Here only the
 * labels' roles and the arithmetic; the model runs the pairs (session.ts classifyZeroShot).
 */

export interface ZeroShotOptions {
  /** The hypothesis, with `{}` where the label goes; default 'This example is {}.'. */
  hypothesisTemplate?: string;
  /**
   * false (default): the labels compete, softmax of their entailment logits (scores sum to 1).
   * true: each label on its own, softmax of its entailment against its contradiction logit.
   */
  multiLabel?: boolean;
}

/** One text's answer, labels best first (transformers.js' shape). */
export interface ZeroShotResult {
  sequence: string;
  labels: string[];
  scores: number[];
}

export const DEFAULT_HYPOTHESIS_TEMPLATE = 'This example is {}.';

/**
 * The entailment and contradiction outputs of an NLI classifier, found by label name as
 * transformers.js finds them (case-insensitive; 'not_entailment' stands for contradiction in
 * two-way NLI heads), or undefined when the head is not an NLI head.
 */
export function nliLabels(labels: readonly string[]): { entailment: number; contradiction: number } | undefined {
  const lower = labels.map((l) => l.toLowerCase());
  const entailment = lower.indexOf('entailment');
  let contradiction = lower.indexOf('contradiction');
  if (contradiction < 0) contradiction = lower.indexOf('not_entailment');
  return entailment >= 0 && contradiction >= 0 ? { entailment, contradiction } : undefined;
}

/** The template with the label in place of its first `{}` (as transformers.js replaces it). */
export function hypothesis(template: string, label: string): string {
  return template.replace('{}', () => label);
}

/**
 * Scores from the logits of the (text, hypothesis) pairs, one row of `width` logits per label in
 * label order. A single label is scored on its own, as transformers.js does (softmax over one
 * entailment logit would always be 1).
 */
export function zeroShotScores(
  rows: readonly (readonly number[])[],
  roles: { entailment: number; contradiction: number },
  multiLabel: boolean,
): number[] {
  if (multiLabel || rows.length === 1) {
    return rows.map((r) => {
      const e = r[roles.entailment];
      const c = r[roles.contradiction];
      const m = Math.max(e, c);
      return Math.exp(e - m) / (Math.exp(e - m) + Math.exp(c - m));
    });
  }
  const e = rows.map((r) => r[roles.entailment]);
  const m = Math.max(...e);
  const exps = e.map((v) => Math.exp(v - m));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

/** Labels and scores, best first (a stable sort: ties keep the caller's order). */
export function rankLabels(sequence: string, labels: readonly string[], scores: readonly number[]): ZeroShotResult {
  const order = labels.map((_, i) => i).sort((a, b) => scores[b] - scores[a]);
  return { sequence, labels: order.map((i) => labels[i]), scores: order.map((i) => scores[i]) };
}
