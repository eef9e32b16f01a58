/**
 * Corpus BLEU against sacrebleu's published numbers. Sources (github.com/mjpost/sacrebleu at
 * f615c72, January 2026):
 *   README.md "Using SacreBLEU from Python" and "Variable Number of References"  -> [README]
 *   test/test_bleu.py (test_corpus_bleu_cases, test_bleu_max_order, test_raw_bleu_cases,
 *     test_case_effective_order, test_case_statistics, test_case_scoring, test_case_offset,
 *     test_case_degenerate_stats)                                               -> [test_bleu]
 *   test/test_sentence_bleu.py (the #98 and #141 examples)                      -> [test_sentence_bleu]
 * sacrebleu's raw_corpus_bleu(h, r, v) is corpus BLEU with tokenize 'none', smooth 'floor' (v),
 * effective order; its sentence_bleu is corpus BLEU of one sentence with effective order.
 */
import { describe, expect, it } from 'vitest';
import { type BleuOptions, bleuFromStatistics, corpusBleu, tokenize13a } from '../src/bleu.js';

/** sacrebleu's own tolerances: test_bleu.py EPSILON = 1e-8, test_sentence_bleu.py 1e-3. */
const EPS = 1e-8;

const README_REFS = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const README_SYS = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

const raw = (v: number | undefined): BleuOptions => ({
  tokenize: 'none',
  smoothMethod: 'floor',
  smoothValue: v,
  effectiveOrder: true,
});

describe('corpus BLEU with sacrebleu defaults', () => {
  it('README example: 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)', () => {
    const b = corpusBleu(README_SYS, README_REFS);
    expect(Math.abs(b.score - 48.530827)).toBeLessThan(EPS); // [test_bleu] default settings
    expect(b.precisions.map((p) => p.toFixed(1))).toEqual(['82.4', '50.0', '45.5', '37.5']); // [README]
    expect(b.bp.toFixed(3)).toBe('0.943');
    expect((b.sysLen / b.refLen).toFixed(3)).toBe('0.944');
    expect([b.sysLen, b.refLen]).toEqual([17, 18]);
    expect(b.counts).toEqual([14, 7, 5, 3]); // 82.4% of 17, 50% of 14, 45.5% of 11, 37.5% of 8
    expect(b.totals).toEqual([17, 14, 11, 8]);
  });

  it('README with an empty first reference: 29.44 82.4/42.9/27.3/12.5 (BP = 0.889, 17 / 19)', () => {
    const refs = [['', ...README_REFS[0].slice(1)], README_REFS[1]];
    const b = corpusBleu(README_SYS, refs);
    expect(b.score.toFixed(2)).toBe('29.44');
    expect(b.precisions.map((p) => p.toFixed(1))).toEqual(['82.4', '42.9', '27.3', '12.5']);
    expect(b.bp.toFixed(3)).toBe('0.889');
    expect([b.sysLen, b.refLen]).toEqual([17, 19]);
  });

  it('[test_bleu] tokenize none 49.1919566, smooth none 48.530827, empty hypotheses 0', () => {
    expect(Math.abs(corpusBleu(README_SYS, README_REFS, { tokenize: 'none' }).score - 49.1919566)).toBeLessThan(EPS);
    expect(Math.abs(corpusBleu(README_SYS, README_REFS, { smoothMethod: 'none' }).score - 48.530827)).toBeLessThan(EPS);
    const empty = corpusBleu(['', '', ''], README_REFS);
    expect(empty.score).toBe(0);
    expect([empty.sysLen, empty.bp]).toEqual([0, 0]); // empty hypotheses are kept, not dropped
    expect(empty.refLen).toBe(6 + 5 + 6); // per sentence the reference length closest to 0
  });

  it('[test_bleu] max n-gram order 1..6: 77.65, 60.50, 53.93, 48.53, 46.14, 43.28', () => {
    const want = ['77.65', '60.50', '53.93', '48.53', '46.14', '43.28'];
    want.forEach((w, i) =>
      expect(corpusBleu(README_SYS, README_REFS, { maxNgramOrder: i + 1 }).score.toFixed(2)).toBe(w),
    );
  });

  it('a perfect match scores 100, a disjoint one 0', () => {
    const b = corpusBleu(['The dog bit the man.'], ['The dog bit the man.']);
    expect(Math.abs(b.score - 100)).toBeLessThan(1e-9);
    expect(b.bp).toBe(1);
    // [test_bleu] test_raw_bleu_cases: perfect match 1.0 (as a fraction), no match 0.0.
    expect(Math.abs(corpusBleu(['this is a test'], [['this is a test']], raw(0.01)).score / 100 - 1)).toBeLessThan(EPS);
    expect(corpusBleu(['this is a test', 'another test'], [['ref1', 'ref2']], raw(0.01)).score).toBe(0);
    expect(corpusBleu(['this is a test', 'another test'], ['ref1', 'ref2']).score).toBe(0); // defaults too
  });

  it("'exp' smoothing is corpus BLEU's default: [test_sentence_bleu] #98 gives 8.493, 'none' 0", () => {
    const ref = 'produc\u0163ia de zah\u0103r brut se exprim\u0103 \u00een zah\u0103r alb;';
    const sys =
      'Produc\u021bia de zah\u0103r prim\u0103 va fi exprimat\u0103 \u00een ceea ce prive\u0219te zah\u0103rul alb;';
    const cases: [BleuOptions, number][] = [
      [{ smoothMethod: 'exp' }, 8.493],
      [{ smoothMethod: 'none' }, 0.0],
      [{ smoothMethod: 'floor' }, 4.51688],
      [{ smoothMethod: 'floor', smoothValue: 0.1 }, 4.51688],
      [{ smoothMethod: 'floor', smoothValue: 0.5 }, 10.1],
      [{ smoothMethod: 'add-k' }, 14.882],
      [{ smoothMethod: 'add-k', smoothValue: 1 }, 14.882],
      [{ smoothMethod: 'add-k', smoothValue: 2 }, 21.389],
      [{ smoothMethod: 'exp', tokenize: 'none' }, 7.347],
    ];
    for (const [o, want] of cases) {
      const b = corpusBleu([sys], [ref], { ...o, effectiveOrder: true });
      expect(Math.abs(b.score - want), JSON.stringify(o)).toBeLessThan(1e-3);
    }
    // The hypothesis has 14 tokens, so every order has n-grams and effective order changes nothing:
    // with corpus defaults (no options at all) the same 8.493. Its 3- and 4-grams have no match:
    // mteval's 1 / (2^k total) for the k-th such order.
    const d = corpusBleu([sys], [ref]);
    expect(Math.abs(d.score - 8.493)).toBeLessThan(1e-3);
    expect(d.counts.slice(2)).toEqual([0, 0]);
    expect(d.precisions[2]).toBe(100 / (2 * d.totals[2]));
    expect(d.precisions[3]).toBe(100 / (4 * d.totals[3]));
  });

  it('[test_sentence_bleu] #141: no matching n-gram scores 0 under every smoothing', () => {
    for (const smoothMethod of ['exp', 'none', 'floor', 'add-k'] as const)
      expect(corpusBleu(['this is a cat'], ['okay thanks'], { smoothMethod, effectiveOrder: true }).score).toBe(0);
  });

  it('[test_bleu] statistics, effective order and floor offsets', () => {
    const s = corpusBleu(['am I am a character sequence'], [['I am a symbol string sequence a a']], raw(0.01));
    expect([s.counts, s.totals]).toEqual([
      [4, 2, 1, 0],
      [6, 5, 4, 3],
    ]);
    expect(s.score).toBeGreaterThan(0);
    const hyp = ['am I am a character sequence'];
    const ref = [['I am a symbol string sequence a a']];
    expect(corpusBleu(hyp, ref, raw(0)).score).toBe(0);
    expect(Math.abs(corpusBleu(hyp, ref, raw(undefined)).score / 100 - 0.1555722182)).toBeLessThan(EPS);
    expect(
      Math.abs(corpusBleu(['this is a fest'], [['this is a test']], raw(0.01)).score / 100 - 0.223606797749979),
    ).toBeLessThan(EPS);
    const eff: [string, string, number][] = [
      ['test', 'a test', 0.3678794411714425],
      ['a test', 'a test', 1.0],
      ['a little test', 'a test', 0.03218297948685433],
    ];
    for (const [h, r, want] of eff)
      expect(Math.abs(corpusBleu([h], [[r]], raw(0.01)).score / 100 - want)).toBeLessThan(EPS);
  });

  it('[test_bleu] scores from statistics: 0.8375922397, and the degenerate ones 0', () => {
    const b = bleuFromStatistics([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, { smoothMethod: 'none' });
    expect(Math.abs(b.score / 100 - 0.8375922397)).toBeLessThan(EPS);
    const degenerate: [number[], number[], number, number, number][] = [
      [[0, 0, 0, 0], [4, 4, 2, 1], 0, 1, 0.0],
      [[0, 0, 0, 0], [10, 11, 12, 0], 14, 10, 0.0],
      [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.0],
      [[6, 5, 4, 0], [6, 5, 4, 3], 6, 6, 0.0],
      [[0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.1],
      [[0, 0, 0, 0], [0, 0, 0, 0], 1, 5, 0.01],
    ];
    for (const [c, t, sys, ref, offset] of degenerate)
      expect(bleuFromStatistics(c, t, sys, ref, { smoothMethod: 'floor', smoothValue: offset }).score).toBe(0);
  });
});

describe('13a tokenization (mteval-v13a rules)', () => {
  it('splits punctuation and symbols, keeps apostrophes, hyphens between letters and numbers', () => {
    expect(tokenize13a("It wasn't surprising.")).toBe("It wasn't surprising .");
    expect(tokenize13a('a well-known man, (age 3.5) paid $1,000-2,000!')).toBe(
      'a well-known man , ( age 3.5 ) paid $ 1,000 - 2,000 !',
    );
    expect(tokenize13a('&quot;Hi&quot; &amp;lt; x')).toBe('" Hi " < x');
    expect(tokenize13a('end.\nnext<skipped> line')).toBe('end . next line');
    expect(tokenize13a('  Straße:\u00a0über ')).toBe('Straße : über');
  });
  it("takes the reference length closest to the hypothesis's, the shorter on a tie (sacrebleu's rule)", () => {
    expect(corpusBleu(['a b c d e f'], [['a b c d e'], ['a b c d e f g']]).refLen).toBe(5);
    expect(corpusBleu(['a b c d e f'], [['a b c d e f g'], ['a b c d e']]).refLen).toBe(5);
    expect(corpusBleu(['a b c d e f'], [['a b c d e f g h'], ['a b c d e f g']]).refLen).toBe(7);
  });
  it('is case-sensitive: a case change is a different token', () => {
    expect(corpusBleu(['the dog bit the man.'], ['The dog bit the man.']).counts[0]).toBe(5);
  });
});

describe('BLEU refuses bad input', () => {
  it('names the problem', () => {
    expect(() => corpusBleu([], [])).toThrow(/no hypotheses/);
    expect(() => corpusBleu(['a'], [])).toThrow(/no references/);
    expect(() => corpusBleu(['a', 'b'], ['a'])).toThrow(/reference stream 0 has 1 sentences for 2 hypotheses/);
    expect(() => corpusBleu(['a'], [['a'], ['a', 'b']])).toThrow(/reference stream 1 has 2 sentences/);
    expect(() => corpusBleu(['a'], ['a'], { maxNgramOrder: 0 })).toThrow(/maxNgramOrder = 0/);
    expect(() => corpusBleu(['a'], ['a'], { smoothMethod: 'bogus' as 'exp' })).toThrow(/smoothMethod 'bogus'/);
    expect(() => corpusBleu(['a'], ['a'], { tokenize: 'intl' as '13a' })).toThrow(/tokenize 'intl'/);
    expect(() => corpusBleu([null as unknown as string], ['a'])).toThrow(/hypothesis 0 is not a string/);
    expect(() => bleuFromStatistics([1, 2], [1, 2, 3], 1, 1)).toThrow(/2 counts and 3 totals/);
    expect(() => bleuFromStatistics([1], [1], -1, 1)).toThrow(/sysLen = -1/);
  });
});
