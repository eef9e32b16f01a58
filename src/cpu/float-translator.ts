/**
 * The float model as translation sees it (the TranslatorSession of
 * src/generate/translator-session.ts): the host side shared by the float32 GPU session
 * (src/runtime/float-translator.ts) and its float64 CPU twin here, the FP32 side of INT8-vs-FP32
 * comparisons.
 *
 * The base keeps the target prefixes on the host, one per sequence (sources x beams, sequence i of
 * source floor(i / beams)), checks every call and asks a subclass for the last position's logits.
 * The GPU session keeps no cache: every start() and step() runs the whole model again over the
 * sources (each repeated for its beams) and the prefixes, encoder included, so a step's cost grows
 * with max(source, target) length. The CPU twin is incremental (FloatGraphIncremental): each
 * distinct source encoded once per start(), then one new position per sequence per step over kept
 * keys and values, and reorder() permutes those caches along with the prefixes.
 *
 * Both answer on float32 logits (the contract's Float32Array): the CPU twin rounds its float64 rows
 * to float32 before ranking, so that candidates are ordered, and ties broken to the lowest id, on
 * exactly the values it returns.
 *
 * The interface types are restated structurally (as src/runtime/float-decoder.ts does) rather than
 * imported from src/generate, which sits above the interpreters.
 */
import { marianBatch } from '../core/token-batch.js';
import type { MarianConfig, MarianModel } from '../core/types.js';
import type { ModelGraph } from '../graph/types.js';
import { FloatGraphIncremental } from './float-incremental.js';

/** TokenCandidates of src/generate/decoder-session.ts. */
export type FloatCandidates = { ids: Int32Array; logits: Float32Array; restBelow: number };

/** NextTokens of src/generate/translator-session.ts, float side. */
export type FloatNextTokens =
  | { kind: 'candidates'; candidates: FloatCandidates[] }
  | { kind: 'logits'; logits: Float32Array; scale: number };

/** Above this many candidates a whole sort beats insertion into the kept best (O(vocab k)). */
const SORT_ABOVE = 32;

/**
 * The `k` best tokens of one logit row: logit descending, ties to the lowest id (the integer
 * top-k's order); k >= the row's length gives it whole, sorted, with restBelow -Infinity, else
 * restBelow is the last candidate's logit. A small k keeps the best k in one pass instead of
 * sorting the vocabulary every step. NaN is refused: it has no place in that order.
 */
export function floatCandidates(row: Float32Array, k: number, what = 'logit row'): FloatCandidates {
  const V = row.length;
  const n = Math.min(k, V);
  for (let c = 0; c < V; c++) if (Number.isNaN(row[c])) throw new RangeError(`${what}: the logit of token ${c} is NaN`);
  const restBelow = (logits: Float32Array) => (n === V ? Number.NEGATIVE_INFINITY : logits[n - 1]);
  if (n > SORT_ABOVE) {
    const order = Array.from({ length: V }, (_, c) => c).sort((x, y) => row[y] - row[x] || x - y);
    const ids = Int32Array.from(order.slice(0, n));
    const logits = Float32Array.from(ids, (c) => row[c]);
    return { ids, logits, restBelow: restBelow(logits) };
  }
  const ids = new Int32Array(n);
  const logits = new Float32Array(n);
  let filled = 0;
  for (let c = 0; c < V; c++) {
    const x = row[c];
    // Ids arrive in increasing order, so a later equal logit goes after the earlier: strict >.
    if (filled === n && !(x > logits[n - 1])) continue;
    let at = filled < n ? filled : n - 1;
    while (at > 0 && x > logits[at - 1]) {
      ids[at] = ids[at - 1];
      logits[at] = logits[at - 1];
      at--;
    }
    ids[at] = c;
    logits[at] = x;
    if (filled < n) filled++;
  }
  return { ids, logits, restBelow: restBelow(logits) };
}

/**
 * What start(), step() and reorder() check and keep, whatever computes the logits. Subclasses give
 * the last position's logits of every sequence, [sequences, vocab] float32.
 */
export abstract class FloatTranslatorBase {
  readonly vocab: number;
  private sourceIds: number[][] = [];
  /** Each sequence's source, repeated `beams` times (what the batch runs). */
  private perSequence: number[][] = [];
  private prefixes: number[][] = [];
  private beamCount = 0;

  constructor(
    readonly config: MarianConfig,
    /** Target tokens per sequence: decoder_start_token_id and the generated ones. */
    readonly capacity: number,
  ) {
    this.vocab = config.vocabSize;
    checkCapacity(config, capacity);
  }

  get sources(): number {
    return this.sourceIds.length;
  }

  get beams(): number {
    return this.beamCount;
  }

  get length(): number {
    return this.prefixes.length === 0 ? 0 : this.prefixes[0].length;
  }

  /** The target prefixes held (decoder_start_token_id first), copies. */
  targets(): number[][] {
    return this.prefixes.map((p) => [...p]);
  }

  async start(
    sources: readonly (readonly number[])[],
    beams: number,
    want: number | 'logits',
  ): Promise<FloatNextTokens> {
    checkWant(want, 'start');
    if (!Number.isInteger(beams) || beams < 1)
      throw new RangeError(`float translator start: beams ${beams} must be a positive integer`);
    if (!Array.isArray(sources) || sources.length === 0)
      throw new RangeError('float translator start: no sources (give at least one)');
    const { vocabSize: V, maxPositions, eosTokenId: eos } = this.config;
    sources.forEach((s, i) => {
      if (!Array.isArray(s) || s.length === 0) throw new RangeError(`float translator start: source ${i} is empty`);
      if (s.length > maxPositions)
        throw new RangeError(
          `float translator start: source ${i} has ${s.length} tokens, more than the model's ${maxPositions} positions (max_position_embeddings)`,
        );
      s.forEach((id, t) => {
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new RangeError(
            `float translator start: source ${i} has id ${id} at index ${t}, outside the vocabulary of ${V}`,
          );
      });
      if (s[s.length - 1] !== eos)
        throw new RangeError(`float translator start: source ${i} does not end with eos (id ${eos})`);
    });
    // Checked first, so that a refused start leaves the previous translation as it was.
    this.sourceIds = sources.map((s) => [...s]);
    this.beamCount = beams;
    this.perSequence = this.sourceIds.flatMap((s) => Array.from({ length: beams }, () => s));
    this.prefixes = this.perSequence.map(() => [this.config.decoderStartTokenId]);
    return this.run(want);
  }

  async step(tokens: readonly number[], want: number | 'logits'): Promise<FloatNextTokens> {
    checkWant(want, 'step');
    const n = this.prefixes.length;
    if (n === 0) throw new Error('float translator step: start() a translation first');
    if (!Array.isArray(tokens) || tokens.length !== n)
      throw new RangeError(
        `float translator step: ${tokens?.length} tokens for ${n} sequences (${this.sources} sources x ${this.beams} beams)`,
      );
    tokens.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab)
        throw new RangeError(
          `float translator step: token ${id} of sequence ${i} is outside the vocabulary of ${this.vocab}`,
        );
    });
    if (this.length >= this.capacity)
      throw new RangeError(
        `float translator step: the sequences hold ${this.capacity} target tokens (the capacity), all used`,
      );
    this.prefixes.forEach((p, i) => p.push(tokens[i]));
    return this.run(want);
  }

  reorder(parents: readonly number[]): void {
    const n = this.prefixes.length;
    if (n === 0) throw new Error('float translator reorder: start() a translation first');
    if (!Array.isArray(parents) || parents.length !== n)
      throw new RangeError(`float translator reorder: ${parents?.length} parents for ${n} sequences`);
    const beams = this.beams;
    parents.forEach((p, i) => {
      if (!Number.isInteger(p) || p < 0 || p >= n)
        throw new RangeError(`float translator reorder: parent ${p} of sequence ${i} is not a sequence (0..${n - 1})`);
      if (Math.floor(p / beams) !== Math.floor(i / beams))
        throw new RangeError(
          `float translator reorder: sequence ${i} (source ${Math.floor(i / beams)}) cannot continue sequence ${p} of source ${Math.floor(p / beams)}`,
        );
    });
    const old = this.prefixes;
    this.prefixes = parents.map((p) => [...old[p]]);
  }

  abstract dispose(): void;

  /**
   * [sequences, vocab] float32 logits at each prefix's last position. `sources[i]` is sequence i's
   * source; all prefixes have one length.
   */
  protected abstract lastLogits(sources: number[][], prefixes: number[][]): Promise<Float32Array>;

  private async run(want: number | 'logits'): Promise<FloatNextTokens> {
    const logits = await this.lastLogits(this.perSequence, this.prefixes);
    const V = this.vocab;
    if (logits.length !== this.prefixes.length * V)
      throw new Error(`float translator: ${logits.length} logits for ${this.prefixes.length} rows of ${V}`);
    if (want === 'logits') return { kind: 'logits', logits, scale: 1 };
    return {
      kind: 'candidates',
      candidates: this.prefixes.map((_, i) =>
        floatCandidates(logits.subarray(i * V, (i + 1) * V), want, `float translator: sequence ${i}`),
      ),
    };
  }
}

export function checkCapacity(config: MarianConfig, capacity: number): void {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > config.maxPositions)
    throw new RangeError(
      `float translator: capacity ${capacity} must be an integer in [1, ${config.maxPositions}] (the model's max_position_embeddings)`,
    );
}

function checkWant(want: unknown, where: string): void {
  if (want === 'logits') return;
  if (typeof want !== 'number' || !Number.isInteger(want) || want < 1)
    throw new RangeError(
      `float translator ${where}: next tokens ${JSON.stringify(want)} must be 'logits' or a positive integer k`,
    );
}

/**
 * The float64 CPU twin, incremental: FloatGraphIncremental over the graph
 * (src/cpu/float-incremental.ts) encodes each distinct source once per start() and runs one new
 * position per sequence per step, with the self-attention keys and values kept per sequence; its
 * rows, rounded to float32, are runFloatGraphCpu's last-position rows (the specification of the
 * GPU session's numbers). Greedy on multi30k-marian-en-de (bench/float-translator.ts --session
 * cpu): 9-11 ms of CPU per generated token at batch 1 and 8, start (the encoder) included; 36-47 ms
 * wall on the loaded 2-core machine, where greedyTranslateCpu's whole pass per token took 229 ms.
 */
export class FloatTranslatorCpu extends FloatTranslatorBase {
  private readonly runner: FloatGraphIncremental;

  constructor(
    readonly model: MarianModel,
    /** marianGraph(model.config) (src/model/, above the interpreters, so given rather than built). */
    graph: ModelGraph,
    capacity: number,
  ) {
    super(model.config, capacity);
    this.runner = new FloatGraphIncremental(graph, model.params);
  }

  protected async lastLogits(sources: number[][], prefixes: number[][]): Promise<Float32Array> {
    const length = prefixes[0].length;
    // The base calls with one token per prefix only right after start(): a new translation.
    if (length === 1) {
      const distinct = Array.from({ length: this.sources }, (_, s) => sources[s * this.beams]);
      const { padTokenId, maxPositions } = this.config;
      this.runner.start(marianBatch(distinct, padTokenId, maxPositions, undefined, 'source'), this.beams);
    } else if (this.runner.length !== length - 1) {
      throw new Error(
        `float translator: the cache holds ${this.runner.length} positions for prefixes of ${length} (disposed, or a step failed part way: start again)`,
      );
    }
    return Float32Array.from(this.runner.step(prefixes.map((p) => p[length - 1])));
  }

  override reorder(parents: readonly number[]): void {
    super.reorder(parents);
    this.runner.reorder(parents);
  }

  dispose(): void {
    this.runner.dispose();
  }
}

/** Row `length - 1` of every sequence of [batch * seqLen, vocab] logits, as float32. */
export function lastRows(
  all: Float32Array | Float64Array,
  batch: number,
  seqLen: number,
  length: number,
  vocab: number,
): Float32Array {
  const out = new Float32Array(batch * vocab);
  for (let b = 0; b < batch; b++) {
    const at = (b * seqLen + length - 1) * vocab;
    out.set(all.subarray(at, at + vocab), b * vocab);
  }
  return out;
}
