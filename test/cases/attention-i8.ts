/**
 * Fused attention cases checked bit for bit against the CPU reference (the unfused chain's
 * references composed): output words of every query row, the words outside the heads untouched.
 * Shapes cover one key, odd row lengths around word and block edges, head dims that are not powers
 * of two, a fused QKV tensor (one buffer, three offsets), padding, causal runs with and without
 * cached positions, cross-attention (queries != keys), a batch with no present key, saturating
 * values, the 512-key edge, and both inner-product strategies and launch shapes (GPU and CPU
 * emulation) on whatever adapter runs the suite. KV-cache cases read K and V^T in a decoder's cache
 * layout (after junk words, with junk in the positions past the keys) for prefills and steps. Shared by the Node tests and the browser page.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import {
  type AttentionI8Launch,
  type AttentionI8Shape,
  attentionI8Variant,
  bindAttentionI8,
} from '../../src/kernels/attention-i8.js';
import { packRows, wordsPerRow } from '../../src/quant/pack.js';
import { attentionI8Ref } from '../../src/reference/attention-i8.js';
import { toDyadic } from '../../src/reference/dyadic.js';
import { deriveSoftmaxI8Constants } from '../../src/reference/softmax-i8.js';
import { Random } from '../../src/util/random.js';
import type { CheckResult, CheckSuite } from './suite.js';

type Mask = 'none' | 'padding' | 'leftPadding' | 'holes' | 'firstBatchEmpty';
type Values = 'random' | 'extreme';

export interface AttentionI8Case {
  name: string;
  batch: number;
  heads: number;
  headDim: number;
  queries: number;
  keys: number;
  causal?: boolean;
  past?: number;
  /** Q, K and V as slices of one [rows, 3 H + extra] tensor (self-attention only). */
  fusedQkv?: boolean;
  /** Extra mask values per row (a KV cache's capacity). */
  maskRow?: number;
  /** K and V^T in the KV cache layout of this capacity (maskRow = capacity). */
  cacheCapacity?: number;
  mask: Mask;
  values: Values;
  /** Launch of the GPU ('gpu') or CPU-emulation ('software') picker, whatever the adapter. */
  launch: 'gpu' | 'software';
  strategy: AttentionI8Launch['strategy'];
  seed: number;
}

export function attentionI8Cases(): AttentionI8Case[] {
  const cases: AttentionI8Case[] = [];
  let seed = 15000;
  const add = (c: Omit<AttentionI8Case, 'name' | 'seed'>) => {
    const kind = c.causal ? ` causal past ${c.past ?? 0}` : '';
    const name = `${c.batch}x${c.heads}x${c.queries}x${c.keys} d${c.headDim}${kind}${c.fusedQkv ? ' qkv' : ''}${c.cacheCapacity ? ` kv cache ${c.cacheCapacity}` : ''} mask ${c.mask} ${c.values} ${c.launch}/${c.strategy}`;
    cases.push({ ...c, name, seed: seed++ });
  };
  const base = { causal: false, values: 'random', launch: 'software', strategy: 'unpack' } as const;
  add({ ...base, batch: 1, heads: 2, headDim: 4, queries: 1, keys: 1, mask: 'none' });
  add({ ...base, batch: 2, heads: 3, headDim: 20, queries: 7, keys: 7, mask: 'padding', fusedQkv: true });
  add({
    ...base,
    batch: 2,
    heads: 3,
    headDim: 20,
    queries: 7,
    keys: 7,
    mask: 'padding',
    launch: 'gpu',
    strategy: 'dot4',
  });
  add({
    ...base,
    batch: 2,
    heads: 2,
    headDim: 12,
    queries: 33,
    keys: 33,
    mask: 'leftPadding',
    causal: true,
    fusedQkv: true,
  });
  add({
    ...base,
    batch: 2,
    heads: 2,
    headDim: 12,
    queries: 5,
    keys: 33,
    mask: 'holes',
    causal: true,
    past: 28,
    maskRow: 40,
  });
  add({ ...base, batch: 1, heads: 2, headDim: 12, queries: 33, keys: 33, mask: 'holes', causal: true, launch: 'gpu' });
  add({ ...base, batch: 2, heads: 2, headDim: 8, queries: 10, keys: 7, mask: 'padding' });
  add({ ...base, batch: 3, heads: 1, headDim: 8, queries: 9, keys: 9, mask: 'firstBatchEmpty' });
  add({ ...base, batch: 1, heads: 2, headDim: 16, queries: 130, keys: 130, mask: 'padding', strategy: 'dot4' });
  add({ ...base, batch: 1, heads: 2, headDim: 16, queries: 130, keys: 130, mask: 'holes', launch: 'gpu' });
  add({ ...base, batch: 2, heads: 2, headDim: 4, queries: 6, keys: 6, mask: 'padding', values: 'extreme' });
  add({ ...base, batch: 1, heads: 1, headDim: 8, queries: 3, keys: 1, mask: 'none', values: 'extreme', launch: 'gpu' });
  add({ ...base, batch: 1, heads: 1, headDim: 8, queries: 40, keys: 512, mask: 'padding', launch: 'gpu' });
  add({ ...base, batch: 1, heads: 1, headDim: 4, queries: 512, keys: 512, mask: 'none', causal: true });
  // Decoder runs against the KV cache: a prefill, a step after 28 positions, a full cache of odd capacity.
  const cache = { ...base, causal: true, maskRow: undefined } as const;
  add({ ...cache, batch: 2, heads: 3, headDim: 12, queries: 9, keys: 9, mask: 'leftPadding', cacheCapacity: 21 });
  add({
    ...cache,
    batch: 3,
    heads: 2,
    headDim: 8,
    queries: 1,
    keys: 29,
    past: 28,
    mask: 'holes',
    cacheCapacity: 32,
    launch: 'gpu',
    strategy: 'dot4',
  });
  add({
    ...cache,
    batch: 1,
    heads: 2,
    headDim: 16,
    queries: 4,
    keys: 37,
    past: 33,
    mask: 'padding',
    cacheCapacity: 37,
  });
  add({
    ...cache,
    batch: 2,
    heads: 1,
    headDim: 4,
    queries: 6,
    keys: 6,
    mask: 'padding',
    values: 'extreme',
    cacheCapacity: 8,
    launch: 'gpu',
  });
  return cases;
}

function maskOf(c: AttentionI8Case, rng: Random): Uint32Array {
  const row = c.cacheCapacity ?? c.maskRow ?? c.keys;
  const mask = new Uint32Array(c.batch * row);
  for (let b = 0; b < c.batch; b++) {
    // Each batch row keeps at least one key (all but 'firstBatchEmpty''s first).
    const real = b === 0 ? c.keys : Math.max(1, c.keys - 1 - ((b * 3) % c.keys));
    for (let j = 0; j < row; j++) {
      let on = true;
      if (c.mask === 'padding') on = j < real;
      else if (c.mask === 'leftPadding') on = j >= c.keys - real;
      else if (c.mask === 'holes') on = j === 0 || rng.next() < 0.7;
      else if (c.mask === 'firstBatchEmpty') on = b !== 0;
      // Values past the keys read by nothing: set to catch a kernel that reads them as keys.
      mask[b * row + j] = j >= c.keys ? 1 : on ? 1 : 0;
    }
  }
  return mask;
}

function values(n: number, c: AttentionI8Case, rng: Random): Int8Array {
  if (c.values === 'extreme') return Int8Array.from({ length: n }, () => (rng.next() < 0.5 ? -128 : 127));
  return rng.int8Array(n, -90, 90);
}

export async function runAttentionI8Case(gpu: Gpu, c: AttentionI8Case): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const { batch: B, heads, headDim: D, queries: Sq, keys: Sk } = c;
  const H = heads * D;
  // Scores of random int8 Q.K spread over about +-8 real units; the context ratio keeps outputs in range.
  const scale = 8 / (D * 90 * 90 * 0.3);
  const softmax = deriveSoftmaxI8Constants(c.values === 'extreme' ? 2 ** -8 : scale);
  const context = toDyadic(c.values === 'extreme' ? 0.5 : 1 / 120);
  // Operand layouts: one fused tensor with Q|K|V after 4 extra columns, or three tensors with
  // their heads at different offsets (so that strides and offsets are all exercised).
  const extra = 4;
  let qCols: number;
  let kCols: number;
  let vCols: number;
  let offsets: [number, number, number];
  if (c.fusedQkv) {
    qCols = kCols = vCols = 3 * H + extra;
    offsets = [extra, extra + H, extra + 2 * H];
  } else {
    [qCols, kCols, vCols] = [H, H + 8, H + 4];
    offsets = [0, 8, 4];
  }
  const qv = values(B * Sq * qCols, c, rng);
  const kv = c.fusedQkv ? qv : values(B * Sk * kCols, c, rng);
  const vv = c.fusedQkv ? qv : values(B * Sk * vCols, c, rng);
  const mask = maskOf(c, rng);
  const maskRow = c.cacheCapacity ?? c.maskRow ?? Sk;
  const want = attentionI8Ref({
    q: { values: qv, cols: qCols, channel: offsets[0] },
    k: { values: kv, cols: kCols, channel: offsets[1] },
    v: { values: vv, cols: vCols, channel: offsets[2] },
    mask,
    maskRow,
    batch: B,
    heads,
    headDim: D,
    queries: Sq,
    keys: Sk,
    causal: c.causal,
    past: c.past,
    softmax,
    context,
  });
  // Output rows one word wider than the heads: that word must stay as it was.
  const outRow = wordsPerRow(H) + 1;
  const shape: AttentionI8Shape = {
    batch: B,
    heads,
    headDim: D,
    queries: Sq,
    keys: Sk,
    causal: c.causal,
    past: c.past,
    qRow: wordsPerRow(qCols),
    kRow: wordsPerRow(kCols),
    vRow: wordsPerRow(vCols),
    outRow,
    qOffset: offsets[0] / 4,
    kOffset: offsets[1] / 4,
    vOffset: offsets[2] / 4,
    maskRow,
  };
  const qBuf = gpu.storage('q', packRows(qv, B * Sq, qCols));
  let kBuf: GPUBuffer;
  let vBuf: GPUBuffer;
  if (c.cacheCapacity) {
    const caches = cacheLayout(
      c,
      rng,
      { values: kv, cols: kCols, channel: offsets[1] },
      { values: vv, cols: vCols, channel: offsets[2] },
    );
    Object.assign(shape, { kvCache: { capacity: c.cacheCapacity }, kOffset: caches.kOffset, vOffset: caches.vOffset });
    kBuf = gpu.storage('k cache', caches.k);
    vBuf = gpu.storage('v cache', caches.v);
  } else {
    kBuf = c.fusedQkv ? qBuf : gpu.storage('k', packRows(kv, B * Sk, kCols));
    vBuf = c.fusedQkv ? qBuf : gpu.storage('v', packRows(vv, B * Sk, vCols));
  }
  const maskBuf = gpu.storage('mask', mask);
  const POISON = 0xa5a5a5a5;
  const outBuf = gpu.storage('out', new Uint32Array(B * Sq * outRow).fill(POISON));
  const owned = [...new Set([qBuf, kBuf, vBuf]), maskBuf, outBuf];
  try {
    const launch = attentionI8Variant({ keys: Sk, kvCache: shape.kvCache }, c.strategy, c.launch === 'software');
    const program = await bindAttentionI8(
      gpu,
      shape,
      softmax,
      context,
      { q: qBuf, k: kBuf, v: vBuf, mask: maskBuf, out: outBuf },
      launch,
    );
    submitPrograms(gpu, [program]);
    const got = new Uint32Array(await gpu.read(outBuf));
    program.destroy();
    const words = wordsPerRow(H);
    const wantWords = packRows(want, B * Sq, H);
    let mismatches = 0;
    let elements = 0;
    let firstMismatch: string | undefined;
    for (let r = 0; r < B * Sq; r++) {
      for (let w = 0; w < outRow; w++) {
        const g = got[r * outRow + w];
        const e = w < words ? wantWords[r * words + w] : POISON;
        elements += 4;
        if (g !== e) {
          mismatches++;
          firstMismatch ??= `row ${r} word ${w}: got 0x${g.toString(16)}, want 0x${e.toString(16)}`;
        }
      }
    }
    return { name: c.name, elements, mismatches, firstMismatch };
  } finally {
    owned.forEach((b) => b.destroy());
  }
}

/**
 * K and V of the keys in the decoder's cache layout (src/runtime/kv-cache.ts): K [batch, heads,
 * capacity, headDim] and V^T [batch, heads, headDim, capacity] packed along their last axis, after
 * a few junk words; positions past the keys hold junk too (a longer cache's earlier contents).
 */
function cacheLayout(
  c: AttentionI8Case,
  rng: Random,
  k: { values: Int8Array; cols: number; channel: number },
  v: { values: Int8Array; cols: number; channel: number },
): { k: Uint32Array; v: Uint32Array; kOffset: number; vOffset: number } {
  const { batch: B, heads, headDim: D, keys: Sk } = c;
  const cap = c.cacheCapacity!;
  const kLogical = rng.int8Array(B * heads * cap * D);
  const vLogical = rng.int8Array(B * heads * D * cap);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let j = 0; j < Sk; j++)
        for (let d = 0; d < D; d++) {
          kLogical[((b * heads + h) * cap + j) * D + d] = k.values[(b * Sk + j) * k.cols + k.channel + h * D + d];
          vLogical[((b * heads + h) * D + d) * cap + j] = v.values[(b * Sk + j) * v.cols + v.channel + h * D + d];
        }
  const [kOffset, vOffset] = [3, 5];
  const junk = (n: number) => Uint32Array.from({ length: n }, () => rng.int(0, 2 ** 32 - 1));
  const kWords = packRows(kLogical, B * heads * cap, D);
  const vWords = packRows(vLogical, B * heads * D, cap);
  const out = (offset: number, words: Uint32Array) => {
    const all = junk(offset + words.length + 2);
    all.set(words, offset);
    return all;
  };
  return { k: out(kOffset, kWords), v: out(vOffset, vWords), kOffset, vOffset };
}

export const suite: CheckSuite = {
  name: 'attention-i8',
  cases: () => attentionI8Cases().map((c) => ({ name: c.name, run: (gpu) => runAttentionI8Case(gpu, c) })),
};
