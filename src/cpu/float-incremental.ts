/**
 * The float64 graph run one token at a time with kept keys and values: what runFloatGraphCpu
 * (src/cpu/float-graph.ts) computes over whole target sequences, at the cost of the new position
 * only. Generic over the graph (no model is written out here): it reads the ops of
 * src/graph/types.ts and sorts them once.
 *
 *   source ops   tensors over 'source' positions (an encoder-decoder's encoder, and the decoder's
 *                cross-attention keys and values): run once per start() for each distinct source
 *                (beams share it) at its own length, right padding dropped, by FloatGraphEvaluation
 *                as the whole pass runs them.
 *   target ops   everything else, run by step() over one new row per sequence. Row-wise ops (embed
 *                with position id = the step index, linear, add, layerNorm, activation) go to
 *                FloatGraphEvaluation unchanged; the LM head is such a linear, so it runs on the
 *                new rows only. Causal self-attention appends the new rows of its k and v to each
 *                sequence's cache and attends the new query over all of them; cross-attention
 *                attends it over the kept k and v of the sequence's source (sequence i belongs to
 *                source floor(i / beams)).
 *
 * The arithmetic is the whole pass's: the same row-wise functions, scores summed in the same
 * order and divided by sqrt(d), softmaxF32Ref over the allowed keys, context summed over keys in
 * order. The whole pass also visits the keys a query may not see, with probability exactly 0,
 * adding only zeros, so the logits agree (test/float-incremental.test.ts measures it).
 *
 * Refused: graphs whose output is not per-token logits; target tensors of one row per sequence
 * (pool, linear over first tokens); non-causal self-attention over the target (a new token would
 * change earlier rows); target ops reading source tensors other than as cross-attention keys and
 * values. Every sequence advances one position per step, all at the same position (no padding), so
 * a decoder-only graph's prompts are fed token by token and must have one length.
 */
import { checkEmbeddingIds, checkTokenBatch } from '../core/token-batch.js';
import { checkBeamParents } from '../core/translation.js';
import type { TokenBatch } from '../core/types.js';
import { type Params, param } from '../graph/architectures.js';
import { type AttentionOp, type GraphOp, type ModelGraph, opInputs, tensorSpec, widthOf } from '../graph/types.js';
import { softmaxF32Ref } from '../reference/softmax-f32.js';
import { checkFloatParams, FloatGraphEvaluation } from './float-graph.js';

/** One distinct source's kept tensors (cross-attention keys and values) over its `length` positions. */
interface Encoded {
  values: Map<string, Float64Array>;
  mask: Int32Array;
  length: number;
}

/** Keys and values of one causal self-attention: [sequences, room, width] each, `room` rows per sequence. */
interface KvCache {
  op: AttentionOp;
  k: Float64Array;
  v: Float64Array;
  room: number;
}

type TargetStep = { kind: 'rows'; op: GraphOp } | { kind: 'self'; cache: number } | { kind: 'cross'; op: AttentionOp };

const INITIAL_ROOM = 16;

export class FloatGraphIncremental {
  readonly usesSource: boolean;
  private readonly sourceOps: GraphOp[] = [];
  private readonly steps: TargetStep[] = [];
  private readonly selfOps: AttentionOp[] = [];
  /** The source tensors target ops read (cross-attention keys and values). */
  private readonly kept = new Set<string>();
  private readonly wordTables: { name: string; rows: number }[] = [];

  private encoded: Encoded[] = [];
  private caches: KvCache[] = [];
  private groups = 0;
  private beamCount = 0;
  private position = 0;

  constructor(
    readonly graph: ModelGraph,
    readonly params: Params,
  ) {
    checkFloatParams(graph, params);
    const isSource = (id: string) => tensorSpec(graph, id).shape.includes('source');
    this.usesSource = graph.tensors.some((t) => t.shape.includes('source'));
    if (graph.output.kind !== 'lm-logits')
      throw new RangeError(
        `float incremental: the graph's output "${graph.output.tensor}" is ${graph.output.kind}, not per-token logits`,
      );
    for (const op of graph.ops) {
      const inputs = opInputs(op);
      if (isSource(op.out)) {
        const target = inputs.find((id) => !isSource(id));
        if (target)
          throw new RangeError(
            `float incremental: source tensor "${op.out}" is computed from target tensor "${target}"`,
          );
        this.sourceOps.push(op);
        continue;
      }
      if (!tensorSpec(graph, op.out).shape.includes('query'))
        throw new RangeError(
          `float incremental: "${op.out}" has one row per sequence (${op.kind}); only per-token target tensors run a token at a time`,
        );
      if (op.kind === 'attention') {
        if (isSource(op.q)) throw new RangeError(`float incremental: attention "${op.out}" has source queries`);
        const [k, v] = [isSource(op.k), isSource(op.v)];
        if (k !== v)
          throw new RangeError(`float incremental: attention "${op.out}" takes keys and values from different sides`);
        if (k) {
          if (op.causal) throw new RangeError(`float incremental: cross-attention "${op.out}" is causal`);
          this.kept.add(op.k);
          this.kept.add(op.v);
          this.steps.push({ kind: 'cross', op });
        } else {
          if (!op.causal)
            throw new RangeError(
              `float incremental: self-attention "${op.out}" over the target is not causal (each new token would change every earlier row)`,
            );
          this.steps.push({ kind: 'self', cache: this.selfOps.length });
          this.selfOps.push(op);
        }
        continue;
      }
      const fromSource = inputs.find(isSource);
      if (fromSource)
        throw new RangeError(
          `float incremental: ${op.kind} "${op.out}" reads source tensor "${fromSource}" (only cross-attention may)`,
        );
      if (op.kind === 'embed') this.wordTables.push({ name: op.word, rows: param(params, op.word).shape[0] });
      this.steps.push({ kind: 'rows', op });
    }
  }

  /** Sequences run per step: sources (or prompts) x beams; 0 before start(). */
  get sequences(): number {
    return this.groups * this.beamCount;
  }

  get sources(): number {
    return this.groups;
  }

  get beams(): number {
    return this.beamCount;
  }

  /** Target positions run so far: the next step's position id. */
  get length(): number {
    return this.position;
  }

  /**
   * Begins new sequences, `beams` per source: `source` is the batch of distinct sources for a graph
   * with an encoder over source positions (run here, once each), or the number of prompts for a
   * decoder-only graph. Discards the previous sequences.
   */
  start(source: TokenBatch | number, beams = 1): void {
    if (!Number.isInteger(beams) || beams < 1)
      throw new RangeError(`float incremental start: beams ${beams} must be a positive integer`);
    let groups: number;
    let encoded: Encoded[] = [];
    if (typeof source === 'number') {
      if (this.usesSource) throw new RangeError('float incremental start: this graph needs a source batch');
      if (!Number.isInteger(source) || source < 1)
        throw new RangeError(`float incremental start: ${source} prompts must be a positive integer`);
      groups = source;
    } else {
      if (!this.usesSource)
        throw new RangeError('float incremental start: a source batch was given to a graph without source positions');
      checkTokenBatch(source);
      encoded = Array.from({ length: source.batch }, (_, g) => this.encode(oneSource(source, g)));
      groups = source.batch;
    }
    this.encoded = encoded;
    this.groups = groups;
    this.beamCount = beams;
    this.position = 0;
    const n = groups * beams;
    this.caches = this.selfOps.map((op) => ({
      op,
      k: new Float64Array(n * INITIAL_ROOM * widthOf(tensorSpec(this.graph, op.k))),
      v: new Float64Array(n * INITIAL_ROOM * widthOf(tensorSpec(this.graph, op.v))),
      room: INITIAL_ROOM,
    }));
  }

  /**
   * One token per sequence at position `length`: returns the output rows of that position,
   * [sequences, vocab]. A refused or failed step keeps the state it found (the new key and value
   * rows count only once the step completes).
   */
  step(tokens: ArrayLike<number>): Float64Array {
    const n = this.sequences;
    if (n === 0) throw new Error('float incremental step: start() first');
    if (tokens.length !== n)
      throw new RangeError(
        `float incremental step: ${tokens.length} tokens for ${n} sequences (${this.groups} sources x ${this.beamCount} beams)`,
      );
    // Before anything is written; the index named is the sequence's.
    for (const table of this.wordTables) checkEmbeddingIds(tokens, table.rows, 'token');
    const ids = Int32Array.from(tokens);
    const t = this.position;
    const batch: TokenBatch = {
      batch: n,
      seqLen: 1,
      inputIds: ids,
      attentionMask: new Int32Array(n).fill(1),
      tokenTypeIds: new Int32Array(n),
      positionIds: new Int32Array(n).fill(t),
    };
    const run = new FloatGraphEvaluation(this.graph, this.params, batch);
    for (const c of this.caches) if (t >= c.room) grow(c, n, t, this.graph);
    for (const s of this.steps) {
      if (s.kind === 'rows') run.values.set(s.op.out, run.run(s.op));
      else if (s.kind === 'self') {
        const { op } = this.caches[s.cache];
        run.values.set(op.out, this.selfAttention(this.caches[s.cache], run));
      } else run.values.set(s.op.out, this.crossAttention(s.op, run));
    }
    this.position = t + 1;
    return run.get(this.graph.output.tensor);
  }

  /**
   * Beam search: sequence i continues what sequence parents[i] has run so far (a sequence of the
   * same source). Copies, so two children of one parent diverge freely.
   */
  reorder(parents: readonly number[]): void {
    const n = this.sequences;
    if (n === 0) throw new Error('float incremental reorder: start() first');
    checkBeamParents(parents, n, this.beamCount);
    if (parents.every((p, i) => p === i)) return;
    for (const c of this.caches) {
      for (const key of ['k', 'v'] as const) {
        const old = c[key];
        const rowWidth = old.length / (n * c.room);
        const block = c.room * rowWidth;
        const used = this.position * rowWidth;
        const next = new Float64Array(old.length);
        for (let i = 0; i < n; i++) next.set(old.subarray(parents[i] * block, parents[i] * block + used), i * block);
        c[key] = next;
      }
    }
  }

  /** The source ops over one source; its cross-attention keys and values kept. */
  private encode(source: TokenBatch): Encoded {
    const run = new FloatGraphEvaluation(this.graph, this.params, undefined, source);
    for (const op of this.sourceOps) run.values.set(op.out, run.run(op));
    const values = new Map([...this.kept].map((id) => [id, run.get(id)]));
    return { values, mask: source.attentionMask, length: source.seqLen };
  }

  /** Writes the new k, v rows at position `length`, then attends each new query over rows 0..length. */
  private selfAttention(c: KvCache, run: FloatGraphEvaluation): Float64Array {
    const { op, room } = c;
    const n = this.sequences;
    const t = this.position;
    const qW = run.width(op.q);
    const vW = run.width(op.v);
    const q = run.get(op.q);
    const kNew = run.get(op.k);
    const vNew = run.get(op.v);
    const keys = t + 1;
    const mask = new Int32Array(keys).fill(1);
    const out = new Float64Array(n * vW);
    for (let b = 0; b < n; b++) {
      c.k.set(kNew.subarray(b * qW, (b + 1) * qW), (b * room + t) * qW);
      c.v.set(vNew.subarray(b * vW, (b + 1) * vW), (b * room + t) * vW);
      attendOne(q, b, c.k, c.v, b * room, keys, mask, op.heads, qW, vW, out);
    }
    return out;
  }

  /** Each new query over its source's kept keys and values, under the source's padding mask. */
  private crossAttention(op: AttentionOp, run: FloatGraphEvaluation): Float64Array {
    const n = this.sequences;
    const qW = run.width(op.q);
    const vW = run.width(op.v);
    const q = run.get(op.q);
    const out = new Float64Array(n * vW);
    for (let b = 0; b < n; b++) {
      const s = this.encoded[Math.floor(b / this.beamCount)];
      attendOne(q, b, s.values.get(op.k)!, s.values.get(op.v)!, 0, s.length, s.mask, op.heads, qW, vW, out);
    }
    return out;
  }

  /** Drops the caches and the source's tensors. */
  dispose(): void {
    this.caches = [];
    this.encoded = [];
    this.groups = 0;
    this.beamCount = 0;
    this.position = 0;
  }
}

/** Doubles a cache's rows per sequence (keeping the `used` rows of each) past position `used`. */
function grow(c: KvCache, n: number, used: number, graph: ModelGraph): void {
  const room = Math.max(2 * c.room, used + 1);
  for (const [key, id] of [
    ['k', c.op.k],
    ['v', c.op.v],
  ] as const) {
    const w = widthOf(tensorSpec(graph, id));
    const old = c[key];
    const next = new Float64Array(n * room * w);
    for (let b = 0; b < n; b++) next.set(old.subarray(b * c.room * w, (b * c.room + used) * w), b * room * w);
    c[key] = next;
  }
  c.room = room;
}

/**
 * Source g of a batch as a batch of one, its right padding dropped: the whole pass attends to
 * padding with probability exactly 0, so a source's rows do not depend on how far it is padded.
 * A row whose mask is not ones then zeros is kept whole.
 */
function oneSource(batch: TokenBatch, g: number): TokenBatch {
  const S = batch.seqLen;
  const mask = batch.attentionMask.subarray(g * S, (g + 1) * S);
  let length = 0;
  while (length < S && mask[length]) length++;
  if (length === 0 || mask.subarray(length).some((m) => m !== 0)) length = S;
  const rows = (x: Int32Array) => x.slice(g * S, g * S + length);
  return {
    batch: 1,
    seqLen: length,
    inputIds: rows(batch.inputIds),
    attentionMask: rows(batch.attentionMask),
    tokenTypeIds: rows(batch.tokenTypeIds),
    positionIds: rows(batch.positionIds),
  };
}

/**
 * Query row b of q over `keys` rows of k and v from row k0, into row b of out: per head of size d,
 * scores q.k / sqrt(d), softmaxF32Ref under `mask`, context summed over keys in order (the
 * arithmetic of float-graph.ts's attention for that query).
 */
function attendOne(
  q: Float64Array,
  b: number,
  k: Float64Array,
  v: Float64Array,
  k0: number,
  keys: number,
  mask: ArrayLike<number>,
  heads: number,
  qWidth: number,
  vWidth: number,
  out: Float64Array,
): void {
  const d = qWidth / heads;
  const dv = vWidth / heads;
  const scores = new Float64Array(heads * keys);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < keys; j++) {
      let acc = 0;
      for (let e = 0; e < d; e++) acc += q[b * qWidth + h * d + e] * k[(k0 + j) * qWidth + h * d + e];
      scores[h * keys + j] = acc / Math.sqrt(d);
    }
  }
  const probs = softmaxF32Ref({ scores, mask, batch: 1, heads, queries: 1, seq: keys });
  for (let h = 0; h < heads; h++) {
    for (let e = 0; e < dv; e++) {
      let acc = 0;
      for (let j = 0; j < keys; j++) acc += probs[h * keys + j] * v[(k0 + j) * vWidth + h * dv + e];
      out[b * vWidth + h * dv + e] = acc;
    }
  }
}
