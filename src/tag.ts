/**
 * Token classification's answers from per-token logits: each token's best label and its softmax
 * probability, then (aggregation 'simple', as transformers' TokenClassificationPipeline) entities
 * made of consecutive tokens of one type, B-X starting a new one. No GPU here: the model gives the
 * logits, the tokenizer the tokens and their character spans (src/model/token-offsets.ts).
 */

/** One token of the text (special tokens excluded), where it sits and what it says. */
export interface TaggedToken {
  /** Its position in the model's input (special tokens counted, as transformers numbers it). */
  index: number;
  /** The token as the vocabulary spells it ('##ing' for a word piece). */
  word: string;
  id: number;
  /** Characters [start, end) of the text it covers. */
  start: number;
  end: number;
}

/** aggregation 'none': one per token whose label is not ignored. */
export interface TokenEntity {
  entity: string;
  score: number;
  index: number;
  word: string;
  start: number;
  end: number;
}

/** aggregation 'simple': consecutive tokens of one entity type, merged. */
export interface EntityGroup {
  /** The type without its B- / I- prefix ('PER' for B-PER, I-PER). */
  entity_group: string;
  /** Mean of the tokens' scores. */
  score: number;
  /** The tokens' text, word pieces joined (the tokenizer's decoding of their ids). */
  word: string;
  start: number;
  end: number;
}

export type Aggregation = 'simple' | 'none';

/** Each token's argmax label and its softmax probability; `logits` is [tokens.length, labels] row-major. */
export function tagTokens(logits: ArrayLike<number>, labels: readonly string[], tokens: readonly TaggedToken[]) {
  const L = labels.length;
  if (logits.length !== tokens.length * L)
    throw new RangeError(`tag: ${logits.length} logits for ${tokens.length} tokens x ${L} labels`);
  return tokens.map((t, i): TokenEntity => {
    let best = 0;
    let max = -Infinity;
    for (let c = 0; c < L; c++) {
      const v = logits[i * L + c];
      if (v > max) {
        max = v;
        best = c;
      }
    }
    let sum = 0;
    for (let c = 0; c < L; c++) sum += Math.exp(logits[i * L + c] - max);
    return { entity: labels[best], score: 1 / sum, index: t.index, word: t.word, start: t.start, end: t.end };
  });
}

/** 'B-PER' -> ['B', 'PER'], 'I-PER' -> ['I', 'PER'], and a label without the prefix continues: 'O' -> ['I', 'O']. */
export function bioTag(label: string): ['B' | 'I', string] {
  if (label.startsWith('B-')) return ['B', label.slice(2)];
  if (label.startsWith('I-')) return ['I', label.slice(2)];
  return ['I', label];
}

/**
 * transformers' group_entities: a token joins the current group when its type is the group's and
 * it is not a B-; otherwise it starts a group. So I-X after O starts an X entity, and B-X after
 * I-X starts a second one. `join` gives a group's word from its tokens. Groups whose type is
 * ignored (O by default) are dropped afterwards, as transformers drops them.
 */
export function groupEntities(
  tokens: readonly TokenEntity[],
  join: (tokens: readonly TokenEntity[]) => string,
  ignore: readonly string[] = ['O'],
): EntityGroup[] {
  const groups: TokenEntity[][] = [];
  for (const t of tokens) {
    const last = groups.at(-1)?.at(-1);
    const [bi, type] = bioTag(t.entity);
    if (last && bi !== 'B' && bioTag(last.entity)[1] === type) groups.at(-1)!.push(t);
    else groups.push([t]);
  }
  return groups
    .map((g) => ({
      entity_group: bioTag(g[0].entity)[1],
      score: g.reduce((s, t) => s + t.score, 0) / g.length,
      word: join(g),
      start: g[0].start,
      end: g[g.length - 1].end,
    }))
    .filter((g) => !ignore.includes(g.entity_group));
}
