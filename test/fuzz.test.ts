/**
 * The fuzz suite at a fixed seed and a few hundred cases (bench/fuzz.ts runs the same generators
 * by the thousand): mutated .i8t files, mutated Hugging Face folders and hostile classify() inputs
 * each end equal to the intact model's result or refused with a message that names the problem;
 * none crashes its process, hangs, changes the result silently or is refused with a raw engine
 * message. The harness's own parts are tested to be able to fail: the runner counts a process that
 * dies and a case that never returns, the judge flags raw TypeError messages, and the comparison
 * sees a consistent change (layers swapped in a version-1 file).
 */
import { describe, expect, it } from 'vitest';
import {
  type CaseResult,
  type CaseSpec,
  caseSeed,
  DEFECTS,
  type Family,
  FILE_KINDS,
  FOLDER_KINDS,
  fileCasePlan,
  runCase,
  smallTokenizerJson,
  unhelpful,
} from '../bench/fuzz-cases.js';
import { runInChildren } from '../bench/fuzz-runner.js';
import { memorySource } from '../src/model/sources.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { Random } from '../src/util/random.js';
import { SYNTHETIC, syntheticModel } from './synthetic.js';

const SEED = 20240607;
const COUNTS: Record<Exclude<Family, 'self-test'>, number> = { file: 100, folder: 40, text: 30 };

describe('the judge', () => {
  it('flags raw engine messages, empty messages and thrown non-Errors', () => {
    const raw = [
      new TypeError("Cannot read properties of undefined (reading 'm')"),
      new TypeError('x.map is not a function'),
      new TypeError('text is not iterable'),
      new Error("tokenizer.json: cannot be loaded (Cannot read properties of null (reading 'content'))"),
      new RangeError('Invalid typed array length: -4'),
      new RangeError('Maximum call stack size exceeded'),
      new Error(''),
      new Error('[object Object]'),
    ];
    for (const e of raw) expect(unhelpful(e), e.message).toBeDefined();
    expect(unhelpful('a string')).toMatch(/non-Error/);
    expect(unhelpful({ message: 'looks like an error' })).toMatch(/non-Error/);
  });
  it('accepts messages that name the problem', () => {
    expect(
      unhelpful(new RangeError('fuzz.i8t: program.ops[3].requant[2].m: 2147483648 is outside [0, 2147483647]')),
    ).toBeUndefined();
    expect(
      unhelpful(new TypeError('classify: texts[2] is null; expected a string or a [string, string] pair')),
    ).toBeUndefined();
  });
});

describe('tokenizer.json defects the fuzzer found are refused, naming the field', () => {
  const config = { ...syntheticModel(SYNTHETIC[0], 1).config, vocabSize: 60, padTokenId: 0 };
  /** tokenizer.json, as loosely typed as a hostile file is. */
  type Json = {
    model: { type?: string; vocab: Record<string, unknown> };
    added_tokens: unknown[];
    post_processor: unknown;
  };
  const load = (edit: (t: Json) => void) => {
    const t = JSON.parse(smallTokenizerJson());
    edit(t);
    return loadTokenizer(memorySource({ 'tokenizer.json': JSON.stringify(t) }, 'tok'), config);
  };
  const cases: [string, (t: Json) => void, RegExp][] = [
    // Were: loaded, every word mapped to nothing (silent change).
    ['an empty vocabulary', (t) => (t.model.vocab = {}), /tok: tokenizer\.json: model\.vocab is empty/],
    [
      'a WordPiece vocabulary that is a list',
      (t) => (t.model.vocab = Object.keys(t.model.vocab) as unknown as Record<string, unknown>),
      /model\.vocab is \["\[PAD\]".*expected an object of token: id \(a WordPiece vocabulary\)/,
    ],
    // Was: loaded, unknown words became id 0 (silent change).
    [
      'no [UNK] token',
      (t) => {
        delete t.model.vocab['[UNK]'];
        t.added_tokens.splice(1, 1);
      },
      /the unknown token "\[UNK\]" is not in the vocabulary/,
    ],
    [
      'a token id that is a string',
      (t) => (t.model.vocab.movie = '7'),
      /token "movie" has the id "7", not an integer in 0\.\.59/,
    ],
    // Were: "Cannot read properties of null (reading 'content')", "text is not iterable", "... (reading '0')".
    ['an added token that is null', (t) => t.added_tokens.push(null), /added_tokens\[5\] is null, expected \{"id"/],
    [
      'an added token without an id',
      (t) => t.added_tokens.push({ content: '[X]' }),
      /added_tokens\[5\] is \{"content":"\[X\]"\}/,
    ],
    [
      'a BPE model without merges',
      (t) => (t.model.type = 'BPE'),
      /model\.merges is undefined, expected a list of merges/,
    ],
    [
      'a Unigram model with an object vocabulary',
      (t) => (t.model.type = 'Unigram'),
      /model\.vocab is \{.*expected a list of \[token, score\] pairs/,
    ],
    [
      'BertProcessing without its fields',
      (t) => (t.post_processor = { type: 'BertProcessing' }),
      /post_processor\.sep is undefined, expected a \[token, id\] pair \(BertProcessing\)/,
    ],
  ];
  it.each(cases)('%s', async (_, edit, want) => {
    await expect(load(edit)).rejects.toThrow(want);
  });
  it('loads the intact tokenizer', async () => {
    expect((await load(() => {})).encodeBatch(['the movie']).seqLen).toBe(4);
  });
});

describe('the runner', () => {
  it('counts a process that dies as a crash and a case without a result as a hang, and goes on', async () => {
    // self-test seeds: 0 returns, 1 raises SIGSEGV, 2 loops forever, 3 exits.
    const specs: CaseSpec[] = [0, 1, 4, 2, 8, 3, 12].map((seed) => ({ family: 'self-test', seed }));
    const results = await runInChildren(specs, { timeoutMs: 2000, batch: 10 });
    const outcome = new Map(results.map((r) => [r.seed, r.outcome]));
    expect(specs.map((s) => outcome.get(s.seed))).toEqual([
      'ok-equal',
      'crash',
      'ok-equal',
      'hang',
      'ok-equal',
      'crash',
      'ok-equal',
    ]);
  }, 60_000);
});

describe(`${COUNTS.file} model files, ${COUNTS.folder} folders and ${COUNTS.text} text inputs (seed ${SEED})`, () => {
  let results: CaseResult[] = [];
  const run = async () => {
    if (results.length) return results;
    const specs: CaseSpec[] = [];
    for (const [family, n] of Object.entries(COUNTS) as [Family, number][])
      for (let i = 0; i < n; i++) specs.push({ family, seed: caseSeed(SEED, family, i) });
    results = await runInChildren(specs, { workers: 2, timeoutMs: 30_000, batch: 40 });
    return results;
  };
  const show = (rs: CaseResult[]) =>
    rs.map((r) =>
      `${r.family}:${r.seed} ${r.kind} ${r.subject} ${r.detail} -> ${r.outcome}: ${r.message ?? ''}`.slice(0, 300),
    );

  it('no crash, hang, silent change or unhelpful refusal', async () => {
    const rs = await run();
    expect(rs).toHaveLength(COUNTS.file + COUNTS.folder + COUNTS.text);
    expect(show(rs.filter((r) => DEFECTS.includes(r.outcome)))).toEqual([]);
  }, 150_000);

  it('reaches every mutation kind, and most cases are refused (the mutations reach the checks)', async () => {
    const rs = await run();
    const kinds = new Set(rs.map((r) => `${r.family} ${r.kind}`));
    for (const k of FILE_KINDS) expect(kinds).toContain(`file ${k}`);
    for (const k of FOLDER_KINDS) expect(kinds).toContain(`folder ${k}`);
    for (const k of ['hostile-strings', 'bad-item']) expect(kinds).toContain(`text ${k}`);
    const refusedShare = rs.filter((r) => r.outcome === 'refused-clear').length / rs.length;
    expect(refusedShare).toBeGreaterThan(0.5);
    // Hostile strings that are strings all classify, each as it does alone (checked per case).
    expect(rs.filter((r) => r.kind === 'hostile-strings').every((r) => r.outcome === 'ok-equal')).toBe(true);
  }, 150_000);
});

describe('the comparison', () => {
  it('sees a consistent change: layers swapped in a version-1 file (which has no checksums) change the int32 logits', async () => {
    let seed = 0;
    while (!(({ subject, kind }) => subject === 2 && kind === 'swap')(fileCasePlan(new Random(seed)))) seed++;
    const r = await runCase({ family: 'file', seed });
    expect([r.subject, r.kind, r.detail]).toEqual(['built-in-v1', 'swap', 'plan.layers[0] <-> plan.layers[1]']);
    expect(r.outcome).toBe('changed-by-design');
  }, 60_000);
});
