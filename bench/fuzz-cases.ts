/**
 * The fuzz suite's generators and judge, shared by bench/fuzz.ts (thousands of cases) and
 * test/fuzz.test.ts (a few hundred, fixed seed). A case is (family, seed): the seed alone decides
 * the subject, the mutation and its values, so any case in bench/results/fuzz.json replays with
 * `npx tsx bench/fuzz.ts --replay <family>:<seed>`.
 *
 * Families:
 * - file: a mutated `.i8t` (the built-in version-1 file, the same model rewritten as version 2 with
 *   its integer program, a small synthetic version-2 model): byte flips weighted to the header,
 *   truncations, appended bytes, header JSON rewritten with valid checksums (so the schema and
 *   semantic checks are what must refuse it), blob-table edits, program constants out of range,
 *   swapped ops. Loaded cases run 2 fixed texts on the CPU interpreter and are compared with the
 *   intact model's int32 outputs (plus the output scale and the label count).
 * - folder: a mutated Hugging Face folder (a small synthetic BERT, and the built-in float twin):
 *   config.json values and keys, the safetensors header and data, tokenizer.json. Loaded cases run
 *   the float graph on the CPU and are compared with the intact folder's logits.
 * - text: hostile classify() inputs on an Int8Model whose encoder is the CPU interpreter.
 *
 * Outcomes: ok-equal, refused-clear, refused-unhelpful (a raw engine message), silent-change,
 * changed-by-design (a change the formats document as undetectable: any byte of a version-1 file,
 * which has no checksums, and layers swapped consistently), crash and hang (counted by the forking
 * runner in bench/fuzz-runner.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { calibrationCaptures, observeCaptures } from '../src/calibrate/calibrate.js';
import { RangeObserver } from '../src/calibrate/range-observer.js';
import { runFloatGraphCpu } from '../src/cpu/float-graph.js';
import { runIntProgramCpu } from '../src/cpu/int-program.js';
import { crc32c } from '../src/format/checksum.js';
import { type IntModelFile, readIntModelFile, writeIntModelFile } from '../src/format/int-model-file.js';
import { encoderParams, modelGraph } from '../src/graph/architectures.js';
import { loadEncoderModel } from '../src/model/load.js';
import { writeSafetensors } from '../src/model/safetensors-write.js';
import { memorySource } from '../src/model/sources.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { planGraph } from '../src/plan/plan-graph.js';
import { Int8Model } from '../src/session.js';
import { Random } from '../src/util/random.js';
import { SMALL_BERT as SMALL, syntheticModel } from '../test/synthetic.js';
import { bertSafetensors } from './onnx-bert.js';
import { wordPieceTokenizerJson } from './wordpiece-tokenizer.js';

export type Family = 'file' | 'folder' | 'text' | 'self-test';
export const OUTCOMES = [
  'ok-equal',
  'refused-clear',
  'refused-unhelpful',
  'silent-change',
  'changed-by-design',
  'crash',
  'hang',
] as const;
export type Outcome = (typeof OUTCOMES)[number];
/** Outcomes that are defects. */
export const DEFECTS: Outcome[] = ['refused-unhelpful', 'silent-change', 'crash', 'hang'];

export interface CaseSpec {
  family: Family;
  seed: number;
}

export interface CaseResult extends CaseSpec {
  /** The mutation kind, e.g. `header-value` or `config-value`. */
  kind: string;
  subject: string;
  outcome: Outcome;
  /** What was done, e.g. `program.ops[3].requant[2].m = 2147483648`. */
  detail: string;
  message?: string;
  /** Where an error came from: load (reading the file or folder) or run (tokenizing, running). */
  stage?: 'load' | 'run';
}

/** A seed per case, independent of how cases are split between processes. */
export function caseSeed(master: number, family: Family, index: number): number {
  const f = { file: 1, folder: 2, text: 3, 'self-test': 4 }[family];
  let h = (Math.imul(master >>> 0, 0x9e3779b1) ^ Math.imul(f, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

// ---- judging errors ---------------------------------------------------------------------------

/** Messages the engine writes when code reads a wrong-typed value: they name no file, field or position. */
const RAW_MESSAGES = [
  /Cannot read propert/i,
  /Cannot set propert/i,
  /Cannot destructure/i,
  /Cannot convert/i,
  /Cannot create property/i,
  /is not a function/,
  /is not iterable/,
  /is not a constructor/,
  /is not defined/,
  /(undefined|null) is not an object/,
  /Reduce of empty array/,
  /Invalid (typed )?array length/,
  /Array buffer allocation failed/,
  /Maximum call stack size exceeded/,
  /out of memory/i,
  /is outside the bounds of the DataView/,
  /Offset is outside the bounds/,
  /Start offset -?\d+ is outside the bounds/,
  /should be a multiple of/,
  /^\[object Object\]$/,
];

export function unhelpful(e: unknown): string | undefined {
  if (!(e instanceof Error)) return `threw a non-Error: ${String(e)}`;
  const m = e.message ?? '';
  if (m.trim() === '') return 'empty message';
  const raw = RAW_MESSAGES.find((r) => r.test(m));
  return raw ? `raw engine message (${raw})` : undefined;
}

function refused(e: unknown, stage: 'load' | 'run'): Pick<CaseResult, 'outcome' | 'message' | 'stage'> {
  const message = e instanceof Error ? `${e.name}: ${e.message}` : `non-Error ${String(e)}`;
  return { outcome: unhelpful(e) ? 'refused-unhelpful' : 'refused-clear', message: message.slice(0, 500), stage };
}

// ---- subjects -----------------------------------------------------------------------------------

const root = (p: string) => fileURLToPath(new URL(`../${p}`, import.meta.url));

const SMALL_VOCAB = 60;

const WORDS = [
  'the',
  'a',
  'movie',
  'film',
  'good',
  'bad',
  'great',
  'dull',
  'fun',
  'not',
  'and',
  'is',
  'was',
  'very',
  'witty',
  'boring',
  'plot',
  'acting',
  ',',
  '.',
  '!',
  '?',
  "'",
  'i',
  'it',
  'this',
  'that',
  'of',
  'to',
  'in',
  'love',
  'hate',
  'best',
  'worst',
  'year',
  'charming',
  'story',
  'slow',
  'music',
  'actor',
  'scene',
  'end',
  's',
  '##s',
  '##ing',
  '##ed',
  '##ly',
  '##er',
  '##est',
  'x',
  'y',
  'z',
  'one',
  'two',
  'three',
];

/** A WordPiece tokenizer.json of 60 tokens in the built-in tokenizer's shape. */
export function smallTokenizerJson(): string {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];
  if (tokens.length !== SMALL_VOCAB || new Set(tokens).size !== SMALL_VOCAB)
    throw new Error(`fuzz: small vocabulary has ${tokens.length} tokens`);
  return wordPieceTokenizerJson(tokens, { stripAccents: true });
}

/** Fixed texts every loaded model runs: a sentence, and a pair with a word the small vocabulary lacks. */
const FIXED_TEXTS: (string | [string, string])[] = [
  'the movie was very good and witty .',
  ['a dull film', 'i hate this zebra plot !'],
];

interface IntSubject {
  name: string;
  bytes: Uint8Array;
  version: 1 | 2;
  file: IntModelFile;
  reference: IntOutput;
}

interface IntOutput {
  output: Int32Array;
  scale: number[];
  labels: number;
}

type Files = Record<string, Uint8Array>;

interface FolderSubject {
  name: string;
  files: Files;
  reference: Float64Array;
}

export interface Subjects {
  files: IntSubject[];
  folders: FolderSubject[];
  /** Text inputs run on these (CPU-backed Int8Models). */
  textModels: { name: string; model: Int8Model }[];
}

async function intOutput(file: IntModelFile): Promise<IntOutput> {
  const tokenizer = await loadTokenizer(tokenizerFiles(file), file.config);
  const batch = tokenizer.encodeBatch(FIXED_TEXTS);
  const { output } = runIntProgramCpu(file.program, batch);
  return { output, scale: Array.from(file.program.output.scale), labels: file.config.labels.length };
}

function tokenizerFiles(file: IntModelFile) {
  const files: Record<string, string> = { 'tokenizer.json': file.tokenizer.json };
  if (file.tokenizer.config !== undefined) files['tokenizer_config.json'] = file.tokenizer.config;
  return memorySource(files, 'integer model file');
}

async function floatOutput(files: Files): Promise<Float64Array> {
  const source = memorySource(files, 'fuzz folder');
  const model = await loadEncoderModel(source);
  const tokenizer = await loadTokenizer(source, model.config);
  const result = runFloatGraphCpu(modelGraph(model), encoderParams(model.weights), tokenizer.encodeBatch(FIXED_TEXTS));
  if (!result.logits) throw new Error('fuzz: the folder has no classifier head');
  return result.logits;
}

/**
 * A CPU-backed Int8Model: the public classify() path (checks, batching, tokenizing) on
 * runIntProgramCpu. `maxLength` caps the tokens per text: the CPU interpreter takes seconds per
 * 512-token sequence, and truncation at 64 goes through the same code as at 512.
 */
async function cpuInt8Model(file: IntModelFile, maxLength?: number): Promise<Int8Model> {
  const full = await loadTokenizer(tokenizerFiles(file), file.config);
  const tokenizer: typeof full = {
    ...full,
    encodeBatch: (inputs, options) => full.encodeBatch(inputs, { maxLength, ...options }),
  };
  const encoder = {
    forward: async (batch: Parameters<typeof runIntProgramCpu>[1]) => ({
      output: runIntProgramCpu(file.program, batch).output,
      kernels: [],
    }),
    memory: () => ({ weightBytes: 0, activationBytes: 0 }),
    dispose: () => {},
    // A device that is never lost, so that the session never tries to rebuild on another.
    gpu: { lostNow: async () => undefined },
  };
  // The constructor is private to callers that would pass a GPU encoder; at run time it takes any.
  const Ctor = Int8Model as unknown as new (...args: unknown[]) => Int8Model;
  return new Ctor(file.config, tokenizer, encoder, file, {});
}

/** The small synthetic model, calibrated on the CPU and planned into an integer program. */
async function smallIntFile(): Promise<IntModelFile> {
  const model = syntheticModel(SMALL, 7);
  model.config.vocabSize = SMALL_VOCAB;
  const json = smallTokenizerJson();
  const tokenizer = await loadTokenizer(memorySource({ 'tokenizer.json': json }), model.config);
  const graph = modelGraph(model);
  const params = encoderParams(model.weights);
  const observer = new RangeObserver();
  const texts = [
    'the movie was good',
    'a very dull and boring film !',
    ['i love this story', 'the acting is bad'] as [string, string],
    'one two three x y z , . ! ?',
  ];
  const batch = tokenizer.encodeBatch(texts);
  const { captures } = runFloatGraphCpu(graph, params, batch, { capture: calibrationCaptures(graph) });
  observeCaptures(observer, graph, params, batch, captures);
  const program = planGraph(graph, params, observer.ranges('max'), { maxKeys: model.config.maxPositions });
  return { kind: program.kind, config: model.config, program, tokenizer: { json }, provenance: { name: 'fuzz-small' } };
}

let cached: Promise<Subjects> | undefined;

export function prepareSubjects(): Promise<Subjects> {
  cached ??= (async () => {
    const v1 = new Uint8Array(readFileSync(root('models/sst2-bert-tiny.i8t')));
    const builtIn = await readIntModelFile(v1, 'sst2-bert-tiny.i8t');
    const builtInV2 = await writeIntModelFile(builtIn);
    const small = await smallIntFile();
    const smallBytes = await writeIntModelFile(small);
    const smallRead = await readIntModelFile(smallBytes);
    const files: IntSubject[] = [
      { name: 'small-v2', bytes: smallBytes, version: 2, file: smallRead, reference: await intOutput(smallRead) },
      { name: 'built-in-v2', bytes: builtInV2, version: 2, file: builtIn, reference: await intOutput(builtIn) },
      { name: 'built-in-v1', bytes: v1, version: 1, file: builtIn, reference: await intOutput(builtIn) },
    ];
    const smallModel = syntheticModel(SMALL, 3);
    const smallFolder: Files = {
      'config.json': utf8(
        JSON.stringify({
          architectures: ['BertForSequenceClassification'],
          hidden_size: SMALL.hidden,
          num_hidden_layers: SMALL.layers,
          num_attention_heads: SMALL.heads,
          intermediate_size: SMALL.intermediate,
          vocab_size: SMALL_VOCAB,
          max_position_embeddings: 40,
          type_vocab_size: SMALL.typeVocab,
          hidden_act: 'gelu',
          layer_norm_eps: 1e-12,
          pad_token_id: 0,
          id2label: { 0: 'NEGATIVE', 1: 'POSITIVE' },
        }),
      ),
      'model.safetensors': writeSafetensors(bertSafetensors(smallModel)),
      'tokenizer.json': utf8(smallTokenizerJson()),
    };
    const twin: Files = {};
    for (const n of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
      twin[n] = new Uint8Array(readFileSync(root(`models/sst2-bert-tiny/${n}`)));
    const folders: FolderSubject[] = [
      { name: 'small-folder', files: smallFolder, reference: await floatOutput(smallFolder) },
      { name: 'built-in-float', files: twin, reference: await floatOutput(twin) },
    ];
    return {
      files,
      folders,
      textModels: [
        { name: 'small-v2', model: await cpuInt8Model(smallRead) },
        { name: 'built-in-v2 (64 tokens)', model: await cpuInt8Model(builtIn, 64) },
      ],
    };
  })();
  return cached;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

// ---- value pools ----------------------------------------------------------------------------------

const pick = <T>(rng: Random, list: readonly T[]): T => list[rng.int(0, list.length - 1)];

/** Written into JSON text as is (JSON.stringify cannot write them). */
const LITERALS = { nan: 'NaN', inf: '1e999', ninf: '-1e999' } as const;
const literal = (k: keyof typeof LITERALS) => `\u0000fuzz:${k}\u0000`;
function withLiterals(json: string): string {
  return json.replace(/"\\u0000fuzz:(\w+)\\u0000"/g, (_, k: keyof typeof LITERALS) => LITERALS[k]);
}

/** Keys whose values count things or bound them: -1 and 0 are out of range for every one. */
const COUNT_KEYS = new Set([
  'H',
  'N',
  'K',
  'heads',
  'headDim',
  'hidden',
  'maxPositions',
  'bound',
  'length',
  'offset',
  'version',
  'inFeatures',
  'outFeatures',
  'hiddenSize',
  'numLayers',
  'numHeads',
  'intermediateSize',
  'vocabSize',
  'typeVocabSize',
  'channel',
]);

/** A hostile replacement for `v` found under `key`: wrong types, non-finite or absurd numbers. */
function hostileValue(rng: Random, key: string, v: unknown): unknown {
  const common: unknown[] = [
    null,
    '',
    'x',
    [],
    {},
    literal('nan'),
    literal('inf'),
    literal('ninf'),
    1e300,
    -1e300,
    2 ** 53 + 2,
    { __proto__: null },
  ];
  if (typeof v === 'number') {
    const own: unknown[] = [String(v), true, [v]];
    if (Number.isInteger(v)) own.push(0.5, v + 0.5);
    if (COUNT_KEYS.has(key)) own.push(-1, 2 ** 31, 2 ** 40);
    return pick(rng, [...common, ...own]);
  }
  if (typeof v === 'string')
    return pick(rng, [
      null,
      0,
      1,
      true,
      [],
      {},
      [v],
      literal('nan'),
      '__proto__',
      'constructor',
      'toString',
      `${v}\u0000`,
      'x'.repeat(100_000),
    ]);
  if (typeof v === 'boolean') return pick(rng, [0, 1, 'true', 'false', null, [], {}]);
  if (Array.isArray(v))
    return pick(rng, [
      null,
      {},
      'x',
      0,
      [null],
      v.length ? v.slice(1) : [0],
      [...v, ...v],
      Array.from({ length: 100_000 }, () => 0),
      ...common,
    ]);
  if (v && typeof v === 'object') return pick(rng, [null, [], 'x', 0, Object.values(v), ...common]);
  return pick(rng, common);
}

// ---- JSON paths -------------------------------------------------------------------------------------

type Container = Record<string, unknown> | unknown[];
interface Slot {
  parent: Container;
  key: string | number;
  path: string;
}

const isContainer = (v: unknown): v is Container => !!v && typeof v === 'object';
const childPath = (path: string, key: string | number) =>
  typeof key === 'number'
    ? `${path}[${key}]`
    : /^[A-Za-z_$][\w$]*$/.test(key)
      ? `${path}.${key}`
      : `${path}[${JSON.stringify(key)}]`;
const keysOf = (c: Container): (string | number)[] => (Array.isArray(c) ? c.map((_, i) => i) : Object.keys(c));

/**
 * A random slot below `root`, by a random walk: at each level stop with probability 1/4 or go into
 * a random child, so that shallow fields are hit as often as the thousands of LayerNorm channels.
 */
function randomSlot(
  rng: Random,
  root: Container,
  rootPath: string,
  skip: (path: string) => boolean = () => false,
): Slot | undefined {
  let parent = root;
  let path = rootPath;
  for (let depth = 0; depth < 40; depth++) {
    const keys = keysOf(parent).filter((k) => !skip(childPath(path, k)));
    if (keys.length === 0) return undefined;
    const key = pick(rng, keys);
    const value = (parent as Record<string | number, unknown>)[key];
    const slot = { parent, key, path: childPath(path, key) };
    if (!isContainer(value) || keysOf(value).length === 0 || isBlobRef(value) || rng.next() < 0.25) return slot;
    parent = value;
    path = slot.path;
  }
  return undefined;
}

const isBlobRef = (v: unknown) => isContainer(v) && !Array.isArray(v) && Object.hasOwn(v, '$blob');

function get(slot: Slot): unknown {
  return (slot.parent as Record<string | number, unknown>)[slot.key];
}
function set(slot: Slot, v: unknown): void {
  (slot.parent as Record<string | number, unknown>)[slot.key] = v;
}

/** All slots below `root` whose key satisfies `want`. */
function slotsWhere(root: Container, rootPath: string, want: (key: string | number, v: unknown) => boolean): Slot[] {
  const out: Slot[] = [];
  const walk = (c: Container, path: string) => {
    for (const k of keysOf(c)) {
      const v = (c as Record<string | number, unknown>)[k];
      const p = childPath(path, k);
      if (want(k, v)) out.push({ parent: c, key: k, path: p });
      if (isContainer(v)) walk(v, p);
    }
  };
  walk(root, rootPath);
  return out;
}

const show = (v: unknown) => {
  if (typeof v === 'string')
    return v.length > 40
      ? `"${v.slice(0, 20)}..." (${v.length} chars)`
      : JSON.stringify(v).replace(/\\u0000fuzz:(\w+)\\u0000/, (_, k) => LITERALS[k as keyof typeof LITERALS]);
  if (Array.isArray(v)) return v.length > 8 ? `[${v.length} items]` : JSON.stringify(v);
  if (v && typeof v === 'object' && Object.getPrototypeOf(v) === null) return '{__proto__: null}';
  return JSON.stringify(v) ?? String(v);
};

// ---- the .i8t container ----------------------------------------------------------------------------

interface Layout {
  headerStart: number;
  dataStart: number;
  header: Record<string, unknown> & { blobs: { dtype: string; length: number; offset: number; crc32c?: number }[] };
}

const BYTES: Record<string, number> = { i8: 1, u8: 1, i16: 2, u16: 2, i32: 4, u32: 4, f32: 4, f64: 8 };

function layout(bytes: Uint8Array): Layout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = view.getUint32(8, true) >= 2 ? 20 : 16;
  const headerLength = view.getUint32(12, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength)));
  return { headerStart, dataStart: Math.ceil((headerStart + headerLength) / 8) * 8, header };
}

/**
 * The file with `headerText` as its header and the same data section, every checksum recomputed
 * (the blobs' over their possibly edited spans, when these lie inside the data), as a consistent
 * editor would write it.
 */
function rewrite(bytes: Uint8Array, l: Layout, headerText: string, header: Layout['header'] | undefined): Uint8Array {
  const data = bytes.subarray(l.dataStart);
  if (l.headerStart === 20 && header && Array.isArray(header.blobs)) {
    for (const b of header.blobs) {
      if (!b || typeof b !== 'object') continue;
      // Hostile values may be objects without a primitive value: only numbers count.
      const n = (typeof b.length === 'number' ? b.length : Number.NaN) * (BYTES[b.dtype] ?? 0);
      const at = typeof b.offset === 'number' ? b.offset : Number.NaN;
      if (
        Number.isSafeInteger(n) &&
        Number.isSafeInteger(at) &&
        at >= 0 &&
        n >= 0 &&
        at + n <= data.length &&
        typeof b.crc32c === 'number'
      )
        b.crc32c = crc32c(data.subarray(at, at + n));
    }
    headerText = withLiterals(JSON.stringify(header));
  }
  const hb = utf8(headerText);
  const start = Math.ceil((l.headerStart + hb.length) / 8) * 8;
  const out = new Uint8Array(start + data.length);
  out.set(bytes.subarray(0, 12));
  const view = new DataView(out.buffer);
  view.setUint32(12, hb.length, true);
  out.set(hb, l.headerStart);
  if (l.headerStart === 20) view.setUint32(16, crc32c(hb, crc32c(out.subarray(0, 16))), true);
  out.set(data, start);
  return out;
}

interface Mutation {
  kind: string;
  detail: string;
  bytes: Uint8Array;
  /** A change the format documents as undetectable (see the module header). */
  byDesign?: boolean;
}

export const FILE_KINDS = [
  'byte-flip',
  'truncate',
  'append',
  'header-value',
  'header-delete',
  'header-add-key',
  'header-retype',
  'blob-alias',
  'blob-table',
  'constant',
  'swap',
  'nesting',
  'tokenizer',
] as const;

/** The subject (an index into Subjects.files) and mutation kind a file case's seed draws: its first two draws. */
export function fileCasePlan(rng: Random): { subject: number; kind: (typeof FILE_KINDS)[number] } {
  // The small model gets most cases (a read costs ~1 ms; the built-in ~100-200 ms).
  const r = rng.next();
  return { subject: r < 0.7 ? 0 : r < 0.85 ? 1 : 2, kind: pick(rng, FILE_KINDS) };
}

async function mutateFile(rng: Random, s: IntSubject, kind: (typeof FILE_KINDS)[number]): Promise<Mutation> {
  const bytes = s.bytes;
  const l = layout(bytes);
  const v1 = s.version === 1;
  switch (kind) {
    case 'byte-flip': {
      const out = bytes.slice();
      const flips = rng.next() < 0.7 ? 1 : rng.int(2, 8);
      const at: number[] = [];
      for (let i = 0; i < flips; i++) {
        // Half in the prefix and header (where the structure is), half anywhere (mostly weights).
        const p = rng.next() < 0.5 ? rng.int(0, l.dataStart - 1) : rng.int(0, bytes.length - 1);
        out[p] ^= rng.int(1, 255);
        at.push(p);
      }
      return { kind, detail: `flipped byte(s) ${at.join(', ')} of ${bytes.length}`, bytes: out, byDesign: v1 };
    }
    case 'truncate': {
      const n = rng.next() < 0.4 ? rng.int(0, l.dataStart) : rng.int(0, bytes.length - 1);
      return { kind, detail: `cut to ${n} of ${bytes.length} bytes`, bytes: bytes.slice(0, n) };
    }
    case 'append': {
      const n = pick(rng, [1, 7, 8, 64, 4096]);
      const out = new Uint8Array(bytes.length + n);
      out.set(bytes);
      const zeros = rng.next() < 0.5;
      if (!zeros) for (let i = bytes.length; i < out.length; i++) out[i] = rng.int(0, 255);
      // Version 1 ignores what follows its last blob (docs/integrity.md): equal is what it must give.
      return { kind, detail: `appended ${n} ${zeros ? 'zero' : 'random'} bytes`, bytes: out };
    }
    case 'nesting': {
      const depth = pick(rng, [65, 1000, 100_000]);
      const text = JSON.stringify(l.header).replace(
        '"provenance":',
        `"provenance":${'['.repeat(depth)}${']'.repeat(depth)},"x":`,
      );
      return { kind, detail: `an array nested ${depth} deep`, bytes: rewrite(bytes, l, text, undefined) };
    }
    case 'tokenizer': {
      // Written whole (a version-1 subject comes back as version 2): the stored tokenizer is gzipped.
      const t = mutateTokenizer(rng, s.file.tokenizer.json);
      return {
        kind,
        detail: t.detail,
        bytes: await writeIntModelFile({ ...s.file, tokenizer: { ...s.file.tokenizer, json: t.text } }),
        byDesign: t.byDesign,
      };
    }
    default:
      return mutateHeader(rng, kind, s, l);
  }
}

function mutateHeader(rng: Random, kind: (typeof FILE_KINDS)[number], s: IntSubject, l: Layout): Mutation {
  const h = l.header;
  const doc = s.version === 1 ? 'plan' : 'program';
  const notBlobs = (p: string) => p.startsWith('blobs');
  let detail = '';
  let byDesign = false;
  switch (kind) {
    case 'header-value': {
      const slot = randomSlot(rng, h, '', notBlobs)!;
      const v = hostileValue(rng, String(slot.key), get(slot));
      set(slot, v);
      detail = `${slot.path} = ${show(v)}`;
      break;
    }
    case 'header-delete': {
      const slot = randomSlot(rng, h, '', notBlobs)!;
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else delete slot.parent[slot.key as string];
      detail = `deleted ${slot.path}`;
      break;
    }
    case 'header-add-key': {
      const objects = slotsWhere(
        h,
        '',
        (k, v) => isContainer(v) && !Array.isArray(v) && !isBlobRef(v) && k !== 'blobs',
      );
      const target = pick(rng, [{ parent: { h } as Container, key: 'h', path: '' } as Slot, ...objects]);
      const key = pick(rng, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'extra', '$blob', '']);
      const value = pick(rng, [{ polluted: true }, 1, 'x', null, { $blob: 0 }]);
      Object.defineProperty(get(target), key, { value, enumerable: true, configurable: true, writable: true });
      detail = `${target.path || '(header)'}[${JSON.stringify(key)}] = ${show(value)}`;
      break;
    }
    case 'header-retype': {
      const slot = randomSlot(rng, h, '', notBlobs)!;
      const v = get(slot);
      const nv = Array.isArray(v)
        ? Object.fromEntries(v.map((x, i) => [i, x]))
        : isContainer(v)
          ? Object.values(v)
          : typeof v === 'number'
            ? String(v)
            : typeof v === 'string' && v !== '' && Number.isFinite(Number(v))
              ? Number(v)
              : [v];
      set(slot, nv);
      detail = `${slot.path}: ${Array.isArray(v) ? 'array' : typeof v} -> ${Array.isArray(nv) ? 'array' : typeof nv} ${show(nv)}`;
      break;
    }
    case 'blob-alias': {
      const refs = slotsWhere(h, '', (_, v) => isBlobRef(v));
      const slot = pick(rng, refs);
      const count = h.blobs.length;
      const target = pick(rng, [
        { $blob: rng.int(0, count - 1) },
        { $blob: -1 },
        { $blob: count },
        { $blob: 0.5 },
        { $blob: '0' },
        { $blob: 1e300 },
        { $blob: null },
        { $blob: 0, x: 1 },
      ]);
      const was = JSON.stringify(get(slot));
      set(slot, target);
      detail = `${slot.path} = ${JSON.stringify(target)} (was ${was})`;
      break;
    }
    case 'blob-table': {
      const i = rng.int(0, h.blobs.length - 1);
      const b = h.blobs[i] as Record<string, unknown>;
      const field = pick(rng, ['dtype', 'length', 'offset', 'crc32c', 'extra', 'entry']);
      let v: unknown;
      if (field === 'dtype')
        v = pick(rng, [
          ...Object.keys(BYTES).filter((d) => d !== b.dtype),
          '__proto__',
          'toString',
          'constructor',
          'f16',
          'I8',
          5,
          null,
        ]);
      else if (field === 'length')
        v = pick(rng, [
          0,
          (b.length as number) + 1,
          (b.length as number) - 1,
          2 ** 31,
          2 ** 40,
          2 ** 53,
          -1,
          1.5,
          1e300,
          literal('nan'),
          '8',
        ]);
      else if (field === 'offset')
        v = pick(rng, [
          (b.offset as number) + 8,
          (b.offset as number) - 8,
          (b.offset as number) + 1,
          0,
          2 ** 40,
          -8,
          1e300,
          literal('inf'),
          h.blobs[rng.int(0, h.blobs.length - 1)].offset,
        ]);
      else if (field === 'crc32c') v = pick(rng, [-1, 2 ** 32, 0.5, 'x', null]);
      else if (field === 'extra') v = 1;
      else v = pick(rng, [null, [], 'x', 0]);
      if (field === 'entry') h.blobs[i] = v as Layout['header']['blobs'][number];
      else b[field] = v;
      // A recomputed CRC would undo this edit's point.
      if (field === 'crc32c')
        return {
          kind,
          detail: `blobs[${i}].crc32c = ${show(v)}`,
          bytes: rewrite(s.bytes, l, withLiterals(JSON.stringify(h)), undefined),
        };
      detail = field === 'entry' ? `blobs[${i}] = ${show(v)}` : `blobs[${i}].${field} = ${show(v)}`;
      break;
    }
    case 'constant': {
      // Kernel constants pushed out of the ranges their proofs allow.
      const OUT: Record<string, unknown[]> = {
        m: [-1, 2 ** 31, 2 ** 32, 2 ** 53, 0.5],
        e: [-1, 64, 65, 1000, 0.5],
        shift: [-1, 32, 63, 64, 1000],
        bits: [0, 1, 32, 33, 64],
        bound: [-1, 2 ** 31 + 1, 2 ** 32, 0.5],
        tMax: [-1, 2 ** 32, 2 ** 31, 0.5],
        ln2: [-1, 0, 2 ** 32, 2 ** 31],
        b: [-1, 2 ** 32, 2 ** 31],
        c: [-1, 2 ** 32, 2 ** 31],
        clip: [-1, 2 ** 31, 2 ** 53],
        inputMaxAbs: [-1, 0, 2 ** 31, 2 ** 53],
        epsVar: [-1, 2 ** 31, 2 ** 53],
        channel: [-1, 1, 2 ** 24, 2 ** 31],
        maxPositions: [0, -1, 2 ** 16 + 1, 2 ** 31],
      };
      const slots = slotsWhere(
        h[doc] as Container,
        doc,
        (k, v) => typeof k === 'string' && Object.hasOwn(OUT, k) && typeof v === 'number',
      );
      const slot = pick(rng, slots);
      const was = get(slot);
      const v = pick(
        rng,
        OUT[slot.key as string].filter((x) => x !== was),
      );
      set(slot, v);
      detail = `${slot.path} = ${show(v)} (was ${show(was)})`;
      break;
    }
    case 'swap': {
      if (s.version === 1) {
        // Two layers of the same shape, swapped consistently: undetectable by design (docs/integrity.md).
        const plan = h.plan as { layers: unknown[] };
        [plan.layers[0], plan.layers[1]] = [plan.layers[1], plan.layers[0]];
        detail = 'plan.layers[0] <-> plan.layers[1]';
        byDesign = true;
      } else {
        const list = pick(rng, ['ops', 'ops', 'tensors']);
        const arr = (h.program as Record<string, unknown[]>)[list];
        const i = rng.int(0, arr.length - 1);
        const j = rng.next() < 0.5 ? Math.min(arr.length - 1, i + 1) : rng.int(0, arr.length - 1);
        [arr[i], arr[j]] = [arr[j], arr[i]];
        detail = `program.${list}[${i}] <-> [${j}]`;
      }
      break;
    }
  }
  return { kind, detail, bytes: rewrite(s.bytes, l, withLiterals(JSON.stringify(h)), h), byDesign };
}

const sameInts = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));

async function runFileCase(rng: Random, subjects: Subjects): Promise<Omit<CaseResult, keyof CaseSpec>> {
  const plan = fileCasePlan(rng);
  const s = subjects.files[plan.subject];
  const m = await mutateFile(rng, s, plan.kind);
  const base = { kind: m.kind, subject: s.name, detail: m.detail };
  let file: IntModelFile;
  try {
    file = await readIntModelFile(m.bytes, 'fuzz.i8t');
  } catch (e) {
    return { ...base, ...refused(e, 'load') };
  }
  let got: IntOutput;
  try {
    got = await intOutput(file);
  } catch (e) {
    return { ...base, ...refused(e, 'run') };
  }
  const ref = s.reference;
  if (sameInts(got.output, ref.output) && sameInts(got.scale, ref.scale) && got.labels === ref.labels)
    return { ...base, outcome: 'ok-equal' };
  const diff = `int32 outputs [${Array.from(got.output.slice(0, 4))}] vs [${Array.from(ref.output.slice(0, 4))}], scales ${got.scale.slice(0, 2)} vs ${ref.scale.slice(0, 2)}, labels ${got.labels} vs ${ref.labels}`;
  return { ...base, outcome: m.byDesign ? 'changed-by-design' : 'silent-change', message: diff };
}

// ---- folders ----------------------------------------------------------------------------------------

export const FOLDER_KINDS = [
  'config-value',
  'config-delete',
  'config-architecture',
  'config-broken',
  'st-header',
  'st-data',
  'st-truncate',
  'st-length',
  'tokenizer',
] as const;

/** config.json keys a hostile value goes into (those the loader reads, and a few it ignores). */
const CONFIG_KEYS = [
  'architectures',
  'hidden_size',
  'num_hidden_layers',
  'num_attention_heads',
  'intermediate_size',
  'vocab_size',
  'max_position_embeddings',
  'type_vocab_size',
  'hidden_act',
  'layer_norm_eps',
  'pad_token_id',
  'id2label',
  'label2id',
  'num_labels',
  'model_type',
  'position_embedding_type',
  'torch_dtype',
];

const CONFIG_VALUES: unknown[] = [
  null,
  -1,
  0,
  0.5,
  1e9,
  2 ** 31,
  1e300,
  -1e300,
  literal('nan'),
  literal('inf'),
  '12',
  '',
  [],
  {},
  true,
  [2],
  { 0: 'x' },
  'x'.repeat(100_000),
];

interface StHeader {
  [name: string]: { dtype: string; shape: number[]; data_offsets: number[] } | Record<string, string>;
}

function readSt(bytes: Uint8Array): { header: StHeader; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

function writeSt(headerText: string, data: Uint8Array): Uint8Array {
  const hb = utf8(headerText);
  const out = new Uint8Array(8 + hb.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

function mutateFolder(
  rng: Random,
  s: FolderSubject,
): { kind: string; detail: string; files: Files; byDesign: boolean } {
  const kind = pick(rng, FOLDER_KINDS);
  const files: Files = { ...s.files };
  const json = (name: string) => JSON.parse(new TextDecoder().decode(files[name]));
  let detail = '';
  let byDesign = false;
  switch (kind) {
    case 'config-value': {
      const c = json('config.json');
      const key = pick(rng, CONFIG_KEYS);
      const v = pick(rng, CONFIG_VALUES);
      c[key] = v;
      files['config.json'] = utf8(withLiterals(JSON.stringify(c)));
      detail = `config.json ${key} = ${show(v)}`;
      break;
    }
    case 'config-delete': {
      const c = json('config.json');
      const key = pick(rng, Object.keys(c));
      delete c[key];
      files['config.json'] = utf8(JSON.stringify(c));
      detail = `config.json without ${key}`;
      break;
    }
    case 'config-architecture': {
      const c = json('config.json');
      const v = pick(rng, [
        ['GPT2LMHeadModel'],
        ['__proto__'],
        ['toString'],
        ['constructor'],
        [],
        'BertForSequenceClassification',
        [null],
        [['BertModel']],
        ['BertForSequenceClassification', 'x'],
      ]);
      c.architectures = v;
      files['config.json'] = utf8(JSON.stringify(c));
      detail = `config.json architectures = ${show(v)}`;
      break;
    }
    case 'config-broken': {
      const v = pick(rng, [
        '',
        '{',
        'null',
        '[]',
        '42',
        '"x"',
        '{"__proto__": {"hidden_size": 16}}',
        '\u00ff\u00fe',
        'NaN',
      ]);
      files['config.json'] = utf8(v);
      detail = `config.json is ${JSON.stringify(v)}`;
      break;
    }
    case 'st-header': {
      const { header, data } = readSt(files['model.safetensors']);
      const names = Object.keys(header).filter((n) => n !== '__metadata__');
      const name = pick(rng, names);
      const t = header[name] as { dtype: unknown; shape: unknown; data_offsets: unknown };
      const field = pick(rng, ['dtype', 'shape', 'data_offsets', 'entry', 'delete', 'metadata', 'add']);
      const [a, b] = t.data_offsets as number[];
      let v: unknown;
      const before = t.dtype;
      if (field === 'dtype')
        v = t.dtype = pick(rng, [
          'F16',
          'BF16',
          'F64',
          'I8',
          'I32',
          'U8',
          'BOOL',
          'f32',
          '__proto__',
          'toString',
          5,
          null,
        ]);
      else if (field === 'shape')
        v = t.shape = pick(rng, [
          [],
          [0],
          [-1],
          [1e9, 1e9],
          [2 ** 31],
          [0.5],
          ['2'],
          null,
          'x',
          [...(t.shape as number[]), 1],
          [(t.shape as number[])[0] + 1, ...(t.shape as number[]).slice(1)],
        ]);
      else if (field === 'data_offsets')
        v = t.data_offsets = pick(rng, [
          [b, a],
          [a, b + 4],
          [a - 4, b - 4],
          [a + 4, b + 4],
          [a, 2 ** 53],
          [-8, b],
          [a + 0.5, b],
          [a],
          [a, b, b],
          'x',
          null,
          [0, b - a],
        ]);
      else if (field === 'entry') v = header[name] = pick(rng, [null, [], 'x', 0, {}] as never[]);
      else if (field === 'delete') delete header[name];
      else if (field === 'metadata')
        v = header.__metadata__ = pick(rng, [null, [], 'x', 0, { a: 1 }, { a: {} }] as never[]);
      else
        v = header[pick(rng, ['__proto__', 'constructor', 'extra'])] = pick(rng, [
          null,
          { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          { polluted: true },
        ] as never[]);
      let text = withLiterals(JSON.stringify(header));
      if (field === 'add' && rng.next() < 0.5)
        text = text.replace(/^\{/, '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},');
      files['model.safetensors'] = writeSt(text, data);
      // safetensors carry no checksum: relabelling a tensor with another dtype of the same width (F16 <-> BF16)
      // reinterprets its bits consistently, which no reader can tell from a real checkpoint (docs/integrity.md).
      const width = (d: unknown) => ({ F16: 2, BF16: 2, F32: 4, I32: 4, F64: 8, I8: 1, U8: 1 })[String(d)] ?? -1;
      if (field === 'dtype' && typeof v === 'string' && v !== before && width(v) === width(before) && /^(F|BF)/.test(v))
        byDesign = true;
      detail =
        field === 'delete'
          ? `safetensors without "${name}"`
          : `safetensors "${field === 'metadata' || field === 'add' ? field : name}".${field} = ${show(v)}`;
      break;
    }
    case 'st-data': {
      const { header, data } = readSt(files['model.safetensors']);
      const names = Object.keys(header).filter((n) => n !== '__metadata__');
      const name = pick(rng, names);
      const t = header[name] as { dtype: string; data_offsets: number[] };
      const out = files['model.safetensors'].slice();
      const headerBytes = out.length - data.length;
      const [a, b] = t.data_offsets;
      const v = pick(rng, [Number.NaN, Infinity, -Infinity]);
      const size = t.dtype === 'F32' ? 4 : 2;
      const i = rng.int(0, (b - a) / size - 1);
      const at = headerBytes + a + i * size;
      if (size === 4) new DataView(out.buffer).setFloat32(at, v, true);
      else new DataView(out.buffer).setUint16(at, Number.isNaN(v) ? 0x7e00 : v > 0 ? 0x7c00 : 0xfc00, true);
      files['model.safetensors'] = out;
      detail = `"${name}"[${i}] = ${v}`;
      break;
    }
    case 'st-truncate': {
      const st = files['model.safetensors'];
      const n = rng.next() < 0.3 ? rng.int(0, 2000) : rng.int(0, st.length - 1);
      files['model.safetensors'] = st.slice(0, n);
      detail = `model.safetensors cut to ${n} of ${st.length} bytes`;
      break;
    }
    case 'st-length': {
      const st = files['model.safetensors'].slice();
      const v = pick(rng, [
        0n,
        1n,
        7n,
        2n ** 32n,
        2n ** 63n,
        2n ** 64n - 1n,
        BigInt(st.length),
        BigInt(st.length) * 2n,
      ]);
      new DataView(st.buffer).setBigUint64(0, v, true);
      files['model.safetensors'] = st;
      detail = `safetensors header length = ${v}`;
      break;
    }
    case 'tokenizer': {
      const t = mutateTokenizer(rng, new TextDecoder().decode(files['tokenizer.json']));
      files['tokenizer.json'] = utf8(t.text);
      detail = t.detail;
      byDesign = t.byDesign;
      break;
    }
  }
  return { kind, detail, files, byDesign };
}

/**
 * tokenizer.json broken in one way. A tokenizer without a post-processor is a valid tokenizer that
 * adds no special tokens (src/model/tokenizer.ts supports it): a change, by design.
 */
function mutateTokenizer(rng: Random, json: string): { detail: string; text: string; byDesign: boolean } {
  const t = JSON.parse(json);
  const vocab = t.model.vocab as Record<string, number>;
  const words = Object.keys(vocab);
  const change = pick(rng, [
    'empty-vocab',
    'broken',
    'id-out-of-range',
    'negative-id',
    'no-model',
    'model-type',
    'no-post-processor',
    'post-processor-type',
    'no-cls',
    'added-bad',
    'vocab-array',
    'unk-missing',
    'special-id',
  ]);
  let text: string | undefined;
  switch (change) {
    case 'empty-vocab':
      t.model.vocab = {};
      break;
    case 'broken':
      text = pick(rng, ['', '{', '{"model": ', 'null', '[]', '{"model": null}']);
      break;
    case 'id-out-of-range':
      vocab[pick(rng, words)] = pick(rng, [1e9, 2 ** 31, 30522 * 4, Object.keys(vocab).length]);
      break;
    case 'negative-id':
      vocab[pick(rng, words)] = pick(rng, [-1, 0.5, '3', null] as never[]);
      break;
    case 'no-model':
      delete t.model;
      break;
    case 'model-type':
      t.model.type = pick(rng, ['BPE', 'Unigram', 'Nonsense', 5, null]);
      break;
    case 'no-post-processor':
      t.post_processor = null;
      break;
    case 'post-processor-type':
      t.post_processor.type = pick(rng, ['BertProcessing', 'RobertaProcessing', 'Nonsense', null]);
      break;
    case 'no-cls':
      delete vocab['[CLS]'];
      t.added_tokens = t.added_tokens.filter((a: { content: string }) => a.content !== '[CLS]');
      break;
    case 'added-bad':
      t.added_tokens.push(
        pick(rng, [
          { id: 1e9, content: '[X]', special: true },
          { id: -1, content: '[X]' },
          null,
          5,
          { content: '[X]' },
        ]),
      );
      break;
    case 'vocab-array':
      t.model.vocab = words;
      break;
    case 'unk-missing':
      delete vocab['[UNK]'];
      t.added_tokens = t.added_tokens.filter((a: { content: string }) => a.content !== '[UNK]');
      break;
    case 'special-id':
      t.post_processor.special_tokens['[SEP]'].ids = pick(rng, [[1e9], [-1], ['x'], [], null]);
      break;
  }
  return {
    detail: `tokenizer.json: ${change}`,
    text: text ?? withLiterals(JSON.stringify(t)),
    byDesign: change === 'no-post-processor',
  };
}

async function runFolderCase(rng: Random, subjects: Subjects): Promise<Omit<CaseResult, keyof CaseSpec>> {
  const s = rng.next() < 0.85 ? subjects.folders[0] : subjects.folders[1];
  const m = mutateFolder(rng, s);
  const base = { kind: m.kind, subject: s.name, detail: m.detail };
  const source = memorySource(m.files, 'fuzz folder');
  let model: Awaited<ReturnType<typeof loadEncoderModel>>;
  let tokenizer: Awaited<ReturnType<typeof loadTokenizer>>;
  try {
    // What Fp32Model.fromFiles and loadModel do before touching a GPU.
    model = await loadEncoderModel(source);
    tokenizer = await loadTokenizer(source, model.config);
  } catch (e) {
    return { ...base, ...refused(e, 'load') };
  }
  let logits: Float64Array;
  try {
    const r = runFloatGraphCpu(modelGraph(model), encoderParams(model.weights), tokenizer.encodeBatch(FIXED_TEXTS));
    if (!r.logits) throw new Error('the model has no classifier head');
    logits = r.logits;
  } catch (e) {
    return { ...base, ...refused(e, 'run') };
  }
  if (sameInts(logits, s.reference)) return { ...base, outcome: 'ok-equal' };
  return {
    ...base,
    outcome: m.byDesign ? 'changed-by-design' : 'silent-change',
    message: `logits [${Array.from(logits.slice(0, 4), (x) => x.toPrecision(6))}] vs [${Array.from(s.reference.slice(0, 4), (x) => x.toPrecision(6))}]`,
  };
}

// ---- texts ----------------------------------------------------------------------------------------

const GOOD = ['the movie was good', 'a very dull film !', 'i love this story , the acting is great'];
const HOSTILE_STRINGS: [string, () => string][] = [
  ['empty', () => ''],
  ['spaces', () => '   \t\n '],
  ['NUL', () => 'the\u0000movie\u0000'],
  ['lone high surrogate', () => 'good \ud800 film'],
  ['lone low surrogate', () => '\udc00bad'],
  ['reversed surrogates', () => '\udc00\ud800'],
  ['zero-width', () => 'go\u200bod\u200c \u200d\ufeffmovie'],
  ['RTL marks', () => '\u202ethe movie\u202c \u200f\u061c good'],
  ['emoji ZWJ sequence', () => '👨‍👩‍👧‍👦 🏳️‍🌈 good'.repeat(3)],
  ['combining marks', () => `g${'\u0301'.repeat(500)}ood`],
  ['control characters', () => Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join('')],
  ['1e6 chars', () => 'a'.repeat(1_000_000)],
  ['1e5 words', () => 'good '.repeat(100_000)],
  ['one 1e5-char word', () => 'x'.repeat(100_000)],
  ['CJK', () => '这部电影很好看'],
  ['specials as text', () => '[CLS] [SEP] [PAD] [MASK] [UNK]'],
  ['private use and noncharacters', () => '\ue000\uffff\ufffe'],
];
type Bad = [string, () => unknown];
const BAD_ITEMS: Bad[] = [
  ['null', () => null],
  ['undefined', () => undefined],
  ['a number', () => 42],
  ['NaN', () => Number.NaN],
  ['a boolean', () => true],
  ['an object', () => ({ text: 'good' })],
  ['a String object', () => new String('good')],
  ['a symbol', () => Symbol('x')],
  ['a function', () => () => 'good'],
  ['a bigint', () => 10n],
  ['a Uint8Array', () => new Uint8Array(3)],
  ['a pair of 1', () => ['good']],
  ['a pair of 3', () => ['good', 'bad', 'dull']],
  ['a pair with null', () => ['good', null]],
  ['a pair with a number', () => [1, 'good']],
  ['a nested pair', () => [['good', 'bad'], 'x']],
  ['an empty array', () => []],
  ['a pair holding an object', () => ['good', {}]],
];
const BAD_TOP: Bad[] = [
  ['null', () => null],
  ['undefined', () => undefined],
  ['a number', () => 3],
  ['an object', () => ({ 0: 'good', length: 1 })],
  ['a Set', () => new Set(['good'])],
  ['an empty list', () => []],
  // biome-ignore lint/suspicious/noSparseArray: a hole is the case
  ['a sparse list', () => [, 'good']],
];

interface TextCase {
  detail: string;
  texts: unknown;
  /** The first position whose item is not a string or pair, if any. */
  bad?: number;
  /** The refusal must say this (the top-level value is wrong). */
  top?: boolean;
}

function textCase(rng: Random): TextCase {
  if (rng.next() < 0.12) {
    const [name, make] = pick(rng, BAD_TOP);
    const texts = make();
    const bad =
      Array.isArray(texts) && texts.length > 0
        ? [...texts.keys()].find((i) => typeof texts[i] !== 'string')
        : undefined;
    return { detail: `texts = ${name}`, texts, top: bad === undefined, bad };
  }
  const n = rng.int(1, 6);
  const items: unknown[] = [];
  const names: string[] = [];
  let bad: number | undefined;
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.35) {
      const t = pick(rng, GOOD);
      items.push(rng.next() < 0.2 ? [t, pick(rng, GOOD)] : t);
      names.push('good');
    } else if (r < 0.75) {
      const [name, make] = pick(rng, HOSTILE_STRINGS);
      items.push(rng.next() < 0.2 ? [pick(rng, GOOD), make()] : make());
      names.push(name);
    } else {
      const [name, make] = pick(rng, BAD_ITEMS);
      items.push(make());
      names.push(`<${name}>`);
      bad ??= i;
    }
  }
  // A single string also goes in alone, not in a list.
  if (n === 1 && typeof items[0] === 'string' && rng.next() < 0.3)
    return { detail: `one string: ${names[0]}`, texts: items[0] };
  return { detail: `[${names.join(', ')}]`, texts: items, bad };
}

/** Each item's logits classified alone, cached by the item's text. */
const aloneCache = new Map<string, number[]>();

async function runTextCase(rng: Random, subjects: Subjects): Promise<Omit<CaseResult, keyof CaseSpec>> {
  const t = rng.next() < 0.8 ? subjects.textModels[0] : subjects.textModels[1];
  const c = textCase(rng);
  const base = {
    kind: c.top ? 'bad-list' : c.bad !== undefined ? 'bad-item' : 'hostile-strings',
    subject: t.name,
    detail: c.detail,
  };
  const batchSize = pick(rng, [1, 2, 8]);
  let preds: Awaited<ReturnType<Int8Model['classify']>>;
  try {
    preds = await t.model.classify(c.texts as string[], { batchSize });
  } catch (e) {
    const r = refused(e, 'run');
    if (r.outcome === 'refused-clear' && c.bad === undefined && !c.top) {
      // Every item was a string or a pair: this had to classify.
      return { ...base, outcome: 'refused-unhelpful', message: `refused a valid list: ${r.message}` };
    }
    const at = c.bad !== undefined ? `texts[${c.bad}]` : 'texts';
    if (
      r.outcome === 'refused-clear' &&
      !(r.message ?? '').includes(at) &&
      !(c.top && /no input texts/.test(r.message ?? ''))
    ) {
      return { ...base, outcome: 'refused-unhelpful', message: `does not name ${at}: ${r.message}` };
    }
    return { ...base, ...r };
  }
  if (c.bad !== undefined || c.top)
    return { ...base, outcome: 'silent-change', message: `accepted ${c.detail}: ${preds.length} predictions` };
  const items = typeof c.texts === 'string' ? [c.texts] : (c.texts as (string | [string, string])[]);
  if (preds.length !== items.length)
    return { ...base, outcome: 'silent-change', message: `${preds.length} predictions for ${items.length} texts` };
  for (let i = 0; i < items.length; i++) {
    const key = `${t.name}\u0001${JSON.stringify(items[i])}`;
    let alone = aloneCache.get(key);
    if (!alone) {
      alone = (await t.model.classify([items[i]]))[0].logits;
      if (aloneCache.size > 500) aloneCache.clear();
      aloneCache.set(key, alone);
    }
    const got = preds[i].logits;
    if (!sameInts(got, alone) || !got.every(Number.isFinite))
      return { ...base, outcome: 'silent-change', message: `texts[${i}]: logits ${got} in the list, ${alone} alone` };
  }
  return { ...base, outcome: 'ok-equal' };
}

// ---- one case ----------------------------------------------------------------------------------------

/** Runs one case in this process. `self-test` cases crash or hang on purpose (the runner's own test). */
export async function runCase(spec: CaseSpec): Promise<CaseResult> {
  const rng = new Random(spec.seed);
  if (spec.family === 'self-test') {
    const what = ['ok', 'crash', 'hang', 'exit'][spec.seed % 4];
    if (what === 'crash') process.kill(process.pid, 'SIGSEGV');
    if (what === 'exit') process.exit(3);
    if (what === 'hang') for (;;);
    return { ...spec, kind: 'self-test', subject: '-', detail: 'returns', outcome: 'ok-equal' };
  }
  const subjects = await prepareSubjects();
  const run = { file: runFileCase, folder: runFolderCase, text: runTextCase }[spec.family];
  try {
    return { ...spec, ...(await run(rng, subjects)) };
  } catch (e) {
    // The harness itself failed on this case (a generator bug): reported, not hidden.
    return {
      ...spec,
      kind: 'harness',
      subject: '-',
      detail: 'the fuzz harness threw',
      outcome: 'refused-unhelpful',
      message: `harness: ${(e as Error)?.stack ?? String(e)}`.slice(0, 800),
    };
  }
}
