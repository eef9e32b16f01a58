/**
 * KV cache append checked bit for bit against the CPU reference (whole cache buffers read back:
 * the new positions, the cached ones and the other layer), and one decoder attention step end to
 * end against the CPU references: append -> Q.K^T against the K cache -> causal softmax with the
 * past -> P.V against the V^T cache, in one command buffer, every intermediate compared.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { type BoundProgram, submitPrograms } from '../../src/gpu/program.js';
import { bindGemmI8, packRequant, preferredStrategy } from '../../src/kernels/gemm-i8.js';
import {
  bindKvAppend,
  type KvAttentionLayout,
  kvAttentionShapes,
  kvCacheWords,
  resolveKvAttentionLayout,
} from '../../src/kernels/kv-append-i8.js';
import { bindSoftmaxI8, deriveSoftmaxI8Constants } from '../../src/kernels/softmax-i8.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import { toDyadic } from '../../src/reference/dyadic.js';
import { gemmI8Ref } from '../../src/reference/gemm-i8.js';
import { kvAppendRef } from '../../src/reference/kv-append-i8.js';
import { requantizeRef } from '../../src/reference/requantize.js';
import { softmaxI8Ref } from '../../src/reference/softmax-i8.js';
import { Random } from '../../src/util/random.js';
import { type CheckResult, type CheckSuite, compareExact } from './suite.js';

export interface KvCase {
  name: string;
  layout: KvAttentionLayout;
  /** Layers in the cache buffers; the run writes the last one. */
  layers: number;
  /** Extra words at the end of each q|k|v row (a wider fused tensor), with Q after qPad words. */
  qPad?: number;
  rowPad?: number;
  seed: number;
}

export function kvAppendCases(): KvCase[] {
  let seed = 9100;
  const c = (name: string, layout: KvAttentionLayout, layers = 1, qPad?: number, rowPad?: number): KvCase => ({
    name,
    layout,
    layers,
    qPad,
    rowPad,
    seed: seed++,
  });
  return [
    c('decode step, past a multiple of 4', { batch: 2, heads: 3, headDim: 8, queries: 1, past: 12, capacity: 32 }),
    c('decode step into a shared V word', { batch: 2, heads: 3, headDim: 8, queries: 1, past: 13, capacity: 32 }),
    c('decode step at the last position', { batch: 1, heads: 2, headDim: 12, queries: 1, past: 30, capacity: 31 }),
    c(
      'prefill of 9 from an odd past, second layer',
      { batch: 2, heads: 2, headDim: 16, queries: 9, past: 5, capacity: 40 },
      2,
    ),
    c('first prompt', { batch: 3, heads: 4, headDim: 4, queries: 7, past: 0, capacity: 7 }),
    c('padded fused rows', { batch: 2, heads: 2, headDim: 8, queries: 3, past: 2, capacity: 9 }, 3, 5, 3),
    c('GPT-2 head size, 1024 positions', { batch: 2, heads: 12, headDim: 64, queries: 1, past: 1022, capacity: 1024 }),
  ];
}

interface Prepared {
  l: Required<KvAttentionLayout>;
  qkv: Int8Array;
  qkvCols: number;
  kLayers: Int8Array[];
  vLayers: Int8Array[];
}

function prepare(c: KvCase): Prepared {
  const rng = new Random(c.seed);
  const { batch, heads, headDim, queries, capacity } = c.layout;
  const H = heads * headDim;
  const qPad = c.qPad ?? 0;
  const qkvCols = 4 * qPad + 3 * H + 4 * (c.rowPad ?? 0);
  const cache = batch * heads * capacity * headDim;
  const words = kvCacheWords(c.layout);
  const l = resolveKvAttentionLayout({
    ...c.layout,
    qkvRow: qkvCols / 4,
    qOffset: qPad,
    kCacheOffset: (c.layers - 1) * words.k,
    vCacheOffset: (c.layers - 1) * words.v,
  });
  return {
    l,
    qkv: rng.int8Array(batch * queries * qkvCols),
    qkvCols,
    kLayers: Array.from({ length: c.layers }, () => rng.int8Array(cache)),
    vLayers: Array.from({ length: c.layers }, () => rng.int8Array(cache)),
  };
}

function packLayers(layers: Int8Array[], rows: number, cols: number): Uint32Array {
  const per = rows * wordsPerRow(cols);
  const out = new Uint32Array(layers.length * per);
  layers.forEach((x, i) => out.set(packRows(x, rows, cols), i * per));
  return out;
}

export async function runKvAppendCase(gpu: Gpu, c: KvCase): Promise<CheckResult> {
  const p = prepare(c);
  const { batch, heads, headDim: D, capacity, queries } = p.l;
  const rows = batch * heads;
  const buffers = {
    qkv: gpu.storage('qkv', packRows(p.qkv, batch * queries, p.qkvCols)),
    kCache: gpu.storage('kCache', packLayers(p.kLayers, rows * capacity, D)),
    vCache: gpu.storage('vCache', packLayers(p.vLayers, rows * D, capacity)),
  };
  try {
    const program = await bindKvAppend(gpu, p.l, buffers);
    submitPrograms(gpu, [program]);
    const k = new Uint32Array(await gpu.read(buffers.kCache));
    const v = new Uint32Array(await gpu.read(buffers.vCache));
    program.destroy();
    const last = c.layers - 1;
    const want = kvAppendRef(p.qkv, p.kLayers[last], p.vLayers[last], {
      ...p.l,
      qkvCols: p.qkvCols,
      kCol: 4 * p.l.kSrc,
      vCol: 4 * p.l.vSrc,
    });
    const wantK = packLayers([...p.kLayers.slice(0, last), want.k], rows * capacity, D);
    const wantV = packLayers([...p.vLayers.slice(0, last), want.v], rows * D, capacity);
    const rk = compareExact(`${c.name} K`, k, wantK, (i) => `K word ${i}`);
    const rv = compareExact(`${c.name} V`, v, wantV, (i) => `V^T word ${i}`);
    return {
      name: c.name,
      elements: rk.elements + rv.elements,
      mismatches: rk.mismatches + rv.mismatches,
      firstMismatch: rk.firstMismatch ?? rv.firstMismatch,
    };
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

export interface DecodeCase {
  name: string;
  layout: KvAttentionLayout;
  /** Left padding of the second batch element (masked positions at the start of its cache). */
  leftPad: number;
  seed: number;
}

export function decodeCases(): DecodeCase[] {
  return [
    {
      name: 'one decode step, 2 sequences x 4 heads, head dim 16, past 21 of 48',
      layout: { batch: 2, heads: 4, headDim: 16, queries: 1, past: 21, capacity: 48 },
      leftPad: 3,
      seed: 9200,
    },
    {
      name: 'prefill of 5 after a past of 10 (GEMV rows), capacity 30',
      layout: { batch: 2, heads: 2, headDim: 8, queries: 5, past: 10, capacity: 30 },
      leftPad: 2,
      seed: 9201,
    },
    {
      name: 'first prompt of 13 (tiles)',
      layout: { batch: 1, heads: 3, headDim: 12, queries: 13, past: 0, capacity: 16 },
      leftPad: 0,
      seed: 9202,
    },
    {
      name: 'GPT-2 decode step at 700 of 1024 positions',
      layout: { batch: 1, heads: 12, headDim: 64, queries: 1, past: 699, capacity: 1024 },
      leftPad: 0,
      seed: 9203,
    },
  ];
}

/** S_q S_k / sqrt(headDim) for activations at scale 0.05. */
function scoreScale(D: number): number {
  return (0.05 * 0.05) / Math.sqrt(D);
}

export async function runDecodeCase(gpu: Gpu, c: DecodeCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const l = resolveKvAttentionLayout(c.layout);
  const { batch, heads, headDim: D, queries, past, capacity } = l;
  const H = heads * D;
  const keys = past + queries;
  const qkv = rng.int8Array(batch * queries * 3 * H);
  const cacheSize = batch * heads * capacity * D;
  const k0 = rng.int8Array(cacheSize);
  const v0 = rng.int8Array(cacheSize);
  const mask = new Uint32Array(batch * capacity);
  for (let b = 0; b < batch; b++) mask.fill(1, b * capacity + (b === 1 ? c.leftPad : 0), b * capacity + keys);
  const softmaxConstants = deriveSoftmaxI8Constants(scoreScale(D), Math.max(512, capacity));
  const requant = [toDyadic(1 / 300)];
  const shapes = kvAttentionShapes(l, capacity);

  // CPU: the append, then per (batch, head) the three steps on gathered matrices.
  const cache = kvAppendRef(qkv, k0, v0, l);
  const scores = new Int32Array(batch * heads * queries * keys);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const q = new Int8Array(queries * D);
      for (let i = 0; i < queries; i++)
        q.set(qkv.subarray((b * queries + i) * 3 * H + h * D, (b * queries + i) * 3 * H + h * D + D), i * D);
      const bh = b * heads + h;
      const kRows = cache.k.subarray(bh * capacity * D, (bh * capacity + keys) * D);
      scores.set(gemmI8Ref({ a: q, b: kRows, M: queries, N: keys, K: D }), bh * queries * keys);
    }
  }
  const denseMask = new Uint32Array(batch * keys);
  for (let b = 0; b < batch; b++) denseMask.set(mask.subarray(b * capacity, b * capacity + keys), b * keys);
  const probs = softmaxI8Ref(
    { scores, mask: denseMask, batch, heads, seq: keys, queries, past, causal: true },
    softmaxConstants,
  );
  const context = new Int8Array(batch * queries * H);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const bh = b * heads + h;
      const vt = new Int8Array(D * keys);
      for (let d = 0; d < D; d++)
        vt.set(cache.v.subarray((bh * D + d) * capacity, (bh * D + d) * capacity + keys), d * keys);
      const acc = gemmI8Ref({
        a: probs.subarray(bh * queries * keys, (bh + 1) * queries * keys),
        b: vt,
        M: queries,
        N: D,
        K: keys,
      });
      const out = requantizeRef(acc, queries, D, requant) as Int8Array;
      for (let i = 0; i < queries; i++) context.set(out.subarray(i * D, (i + 1) * D), (b * queries + i) * H + h * D);
    }
  }

  const strategy = preferredStrategy(gpu);
  const buffers = {
    qkv: gpu.storage('qkv', packRows(qkv, batch * queries, 3 * H)),
    kCache: gpu.storage('kCache', packRows(k0, batch * heads * capacity, D)),
    vCache: gpu.storage('vCache', packRows(v0, batch * heads * D, capacity)),
    scores: gpu.storage('scores', batch * heads * queries * l.scoreRow * 4),
    mask: gpu.storage('mask', mask),
    probs: gpu.storage('probs', batch * heads * queries * l.probRow * 4),
    requant: gpu.storage('requant', packRequant(requant)),
    context: gpu.storage('context', batch * queries * l.contextRow * 4),
  };
  const programs: BoundProgram[] = [];
  try {
    programs.push(await bindKvAppend(gpu, l, buffers));
    programs.push(
      await bindGemmI8(
        gpu,
        { strategy, output: 'i32', perChannel: false, bias: false, aUnsigned: false },
        shapes.scores,
        { a: buffers.qkv, b: buffers.kCache, c: buffers.scores },
      ),
    );
    programs.push(
      await bindSoftmaxI8(gpu, shapes.softmax, softmaxConstants, {
        scores: buffers.scores,
        mask: buffers.mask,
        probs: buffers.probs,
      }),
    );
    programs.push(
      await bindGemmI8(
        gpu,
        { strategy, output: 'i8', perChannel: false, bias: false, aUnsigned: true },
        shapes.context,
        { a: buffers.probs, b: buffers.vCache, requant: buffers.requant, c: buffers.context },
      ),
    );
    submitPrograms(gpu, programs);
    const gotScores = new Int32Array(await gpu.read(buffers.scores));
    const gotProbs = new Uint32Array(await gpu.read(buffers.probs));
    const gotContext = new Uint32Array(await gpu.read(buffers.context));
    const rowsQ = batch * heads * queries;
    const denseScores = new Int32Array(rowsQ * keys);
    for (let r = 0; r < rowsQ; r++)
      denseScores.set(gotScores.subarray(r * l.scoreRow, r * l.scoreRow + keys), r * keys);
    const denseProbs = unpackRows(gotProbs, rowsQ, 4 * l.probRow, false);
    const probsKeys = new Uint8Array(rowsQ * keys);
    for (let r = 0; r < rowsQ; r++)
      probsKeys.set(denseProbs.subarray(r * 4 * l.probRow, r * 4 * l.probRow + keys), r * keys);
    const results = [
      compareExact('scores', denseScores, scores, (i) => `scores row ${Math.floor(i / keys)} key ${i % keys}`),
      compareExact('probabilities', probsKeys, probs, (i) => `probs row ${Math.floor(i / keys)} key ${i % keys}`),
      compareExact(
        'context',
        unpackRows(gotContext, batch * queries, H),
        context,
        (i) => `context token ${Math.floor(i / H)} channel ${i % H}`,
      ),
    ];
    return {
      name: c.name,
      elements: results.reduce((s, r) => s + r.elements, 0),
      mismatches: results.reduce((s, r) => s + r.mismatches, 0),
      firstMismatch: results.find((r) => r.mismatches)?.firstMismatch,
    };
  } finally {
    for (const p of programs) p.destroy();
    for (const b of Object.values(buffers)) b.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'KV cache append and decoder attention',
  cases: () => [
    ...kvAppendCases().map((c) => ({ name: `append: ${c.name}`, run: (gpu: Gpu) => runKvAppendCase(gpu, c) })),
    ...decodeCases().map((c) => ({ name: `attention step: ${c.name}`, run: (gpu: Gpu) => runDecodeCase(gpu, c) })),
  ],
};
