/**
 * Integer softmax cases checked bit for bit against the CPU reference (output words, padding lanes
 * included), and for realistic scores against float64 softmax of the same integers times S_in.
 * Shared by the Node tests and the browser page.
 */

import { softmaxI8Functions } from '../../shaders/softmax-i8.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { bindProgram, submitPrograms } from '../../src/gpu/program.js';
import {
  bindSoftmaxI8,
  deriveSoftmaxI8Constants,
  type SoftmaxI8Constants,
  type SoftmaxI8Launch,
  type SoftmaxI8Shape,
  softmaxI8Bounds,
  softmaxI8OutputWords,
  softmaxI8Params,
} from '../../src/kernels/softmax-i8.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import { iExpRef, probabilityRef, softmaxI8Ref } from '../../src/reference/softmax-i8.js';
import { Random } from '../../src/util/random.js';
import { type AccuracyReport, type CheckResult, type CheckSuite, compareExact } from './suite.js';

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** A BERT-like scale: S_q = S_k = 0.05, head dim 64: S_q S_k / sqrt(64). */
const REALISTIC_SCALE = (0.05 * 0.05) / 8;

export type ScorePattern =
  /** Real scores uniform in [-range, range]. */
  | { kind: 'uniform'; range: number }
  /** Real scores ~ normal with this standard deviation. */
  | { kind: 'normal'; std: number }
  /** Uniform [-10, 10] with one key per row `lead` real units above all others. */
  | { kind: 'dominant'; lead: number }
  /** Every key of a row equal (rows draw different values, int32 extremes included). */
  | { kind: 'equal' }
  /** Integers uniform in [lo, hi], with lo and hi themselves in every row. */
  | { kind: 'ints'; lo: number; hi: number };

export type MaskPattern = 'none' | 'padding' | 'holes' | 'onlyOne' | 'onlyFirst' | 'onlyLast' | 'firstBatchEmpty';

export interface SoftmaxI8Case extends SoftmaxI8Shape {
  name: string;
  scale: number;
  scores: ScorePattern;
  mask: MaskPattern;
  launch?: SoftmaxI8Launch;
  /** Rows the constants are derived for (default: max(512, seq)). */
  maxKeys?: number;
  /** Assert error against float softmax (realistic scores only; encoder layout only). */
  accuracy?: boolean;
  seed: number;
}

/** Max error 2 output steps; the mean bound holds for rows of >= 13 keys, below the 255 clamp dominates. */
export function accuracyBounds(seq: number): { maxBound: number; meanBound: number } {
  return { maxBound: 2, meanBound: seq >= 13 ? 0.25 : 1 };
}

export function softmaxI8Cases(): SoftmaxI8Case[] {
  const cases: SoftmaxI8Case[] = [];
  let seed = 3000;
  const add = (c: Omit<SoftmaxI8Case, 'seed' | 'name' | 'scale'> & { name?: string; scale?: number }) => {
    const s = c.scores;
    const what =
      s.kind === 'uniform'
        ? `uniform +-${s.range}`
        : s.kind === 'normal'
          ? `normal sd ${s.std}`
          : s.kind === 'dominant'
            ? `dominant +${s.lead}`
            : s.kind === 'ints'
              ? `ints [${s.lo}, ${s.hi}]`
              : 'all equal';
    const dec =
      c.queries !== undefined || c.causal
        ? ` q${c.queries ?? c.seq}${c.causal ? ` causal past ${c.past ?? 0}` : ''}${c.scoreRow ? ` scoreRow ${c.scoreRow}` : ''}${c.maskRow ? ` maskRow ${c.maskRow}` : ''}${c.outRow ? ` outRow ${c.outRow}` : ''}`
        : '';
    const desc = `${c.batch}x${c.heads}x${c.seq}${dec} ${what} mask ${c.mask}${c.launch ? ` wg ${c.launch.workgroupSize}x${c.launch.keysPerThread}` : ''}`;
    cases.push({ scale: REALISTIC_SCALE, ...c, name: c.name ? `${c.name}: ${desc}` : desc, seed: seed++ });
  };
  const shapes: [number, number, number][] = [
    [1, 3, 4],
    [2, 3, 4],
    [3, 3, 3],
    [13, 3, 4],
    [64, 2, 3],
    [100, 2, 3],
    [128, 2, 2],
    [197, 1, 2],
    [384, 1, 2],
    [512, 1, 2],
  ];
  for (const [seq, batch, heads] of shapes) {
    add({ seq, batch, heads, scores: { kind: 'uniform', range: 10 }, mask: 'padding', accuracy: true });
  }
  add({ seq: 128, batch: 2, heads: 2, scores: { kind: 'uniform', range: 30 }, mask: 'holes', accuracy: true });
  add({ seq: 197, batch: 1, heads: 3, scores: { kind: 'uniform', range: 30 }, mask: 'none', accuracy: true });
  add({ seq: 100, batch: 2, heads: 2, scores: { kind: 'normal', std: 3 }, mask: 'padding', accuracy: true });
  add({ seq: 64, batch: 2, heads: 2, scores: { kind: 'dominant', lead: 100 }, mask: 'padding' });
  add({ seq: 100, batch: 2, heads: 2, scores: { kind: 'equal' }, mask: 'none' });
  add({ seq: 37, batch: 2, heads: 2, scores: { kind: 'equal' }, mask: 'holes' });
  add({ seq: 77, batch: 3, heads: 2, scores: { kind: 'uniform', range: 10 }, mask: 'onlyOne' });
  add({ seq: 50, batch: 2, heads: 2, scores: { kind: 'uniform', range: 10 }, mask: 'onlyFirst' });
  add({ seq: 51, batch: 2, heads: 2, scores: { kind: 'uniform', range: 10 }, mask: 'onlyLast' });
  add({ seq: 30, batch: 2, heads: 2, scores: { kind: 'uniform', range: 10 }, mask: 'firstBatchEmpty' });
  // Large magnitudes: d = qmax - q reaches 2^32 - 1 and the rescale product needs 63 bits.
  add({
    name: 'full int32 range',
    seq: 130,
    batch: 1,
    heads: 2,
    scale: 2 ** -28,
    scores: { kind: 'ints', lo: INT32_MIN, hi: INT32_MAX },
    mask: 'holes',
  });
  add({
    name: 'full int32 range',
    seq: 61,
    batch: 1,
    heads: 2,
    scores: { kind: 'ints', lo: INT32_MIN, hi: INT32_MAX },
    mask: 'none',
  });
  add({
    name: 'near int32 max',
    seq: 97,
    batch: 1,
    heads: 2,
    scale: 2 ** -20,
    scores: { kind: 'ints', lo: INT32_MAX - 2 ** 24, hi: INT32_MAX },
    mask: 'padding',
  });
  add({
    name: 'near int32 min',
    seq: 97,
    batch: 1,
    heads: 2,
    scale: 2 ** -20,
    scores: { kind: 'ints', lo: INT32_MIN, hi: INT32_MIN + 2 ** 24 },
    mask: 'padding',
  });
  // The accepted scale range: uniform-looking rows at the smallest scale, one-hot-looking at the largest.
  add({
    name: 'smallest scale',
    seq: 64,
    batch: 1,
    heads: 2,
    scale: 2 ** -40,
    scores: { kind: 'ints', lo: INT32_MIN, hi: INT32_MAX },
    mask: 'padding',
  });
  add({
    name: 'largest scale',
    seq: 64,
    batch: 1,
    heads: 2,
    scale: 2 ** 16 - 1,
    scores: { kind: 'ints', lo: -3, hi: 3 },
    mask: 'padding',
  });
  // At scale 2^-15 one integer step is one unit of t: every z from 0 to 31 (E reaches 0 at z = 23,
  // the shift 10 + z crosses 32 at z = 22).
  add({
    name: 'i-exp over every z',
    seq: 128,
    batch: 1,
    heads: 2,
    scale: 2 ** -15,
    scores: { kind: 'ints', lo: -31 * 22713, hi: 0 },
    mask: 'none',
  });
  // 512 equal keys: 256 / 512 = 0.5 is an exact tie of the final rounding (it goes up, to 1).
  add({ name: 'rounding ties', seq: 512, batch: 1, heads: 1, scores: { kind: 'equal' }, mask: 'none' });
  // Launch shapes other than the default: several keys per thread, more than one output word per thread.
  add({
    seq: 100,
    batch: 2,
    heads: 2,
    scores: { kind: 'uniform', range: 10 },
    mask: 'padding',
    launch: { workgroupSize: 32, keysPerThread: 4 },
    accuracy: true,
  });
  add({
    seq: 13,
    batch: 2,
    heads: 2,
    scores: { kind: 'uniform', range: 10 },
    mask: 'holes',
    launch: { workgroupSize: 4, keysPerThread: 4 },
  });
  add({
    seq: 197,
    batch: 1,
    heads: 2,
    scores: { kind: 'uniform', range: 10 },
    mask: 'padding',
    launch: { workgroupSize: 16, keysPerThread: 16 },
  });
  add({
    seq: 512,
    batch: 1,
    heads: 1,
    scores: { kind: 'normal', std: 4 },
    mask: 'holes',
    launch: { workgroupSize: 256, keysPerThread: 2 },
    accuracy: true,
  });
  // Beyond 512 keys (GPT-2: 1024 positions): shift 11 and 12, the 256-thread launch.
  add({ seq: 1024, batch: 1, heads: 1, scores: { kind: 'uniform', range: 10 }, mask: 'padding', accuracy: true });
  add({ seq: 2048, batch: 1, heads: 1, queries: 8, scores: { kind: 'normal', std: 4 }, mask: 'holes' });
  add({ name: 'rounding ties', seq: 1024, batch: 1, heads: 1, queries: 4, scores: { kind: 'equal' }, mask: 'none' });
  add({
    seq: 700,
    batch: 2,
    heads: 1,
    queries: 3,
    scores: { kind: 'uniform', range: 30 },
    mask: 'padding',
    launch: { workgroupSize: 64, keysPerThread: 16 },
  });
  // Decoder rows: causal masking after `past` cached positions, strided scores / mask / output rows
  // (a KV cache's capacity); the padding after each row's keys holds garbage that must be ignored.
  add({
    name: 'decode step',
    seq: 37,
    batch: 2,
    heads: 3,
    queries: 1,
    past: 36,
    causal: true,
    scoreRow: 64,
    maskRow: 64,
    outRow: 16,
    scores: { kind: 'uniform', range: 10 },
    mask: 'padding',
  });
  add({
    name: 'prefill after a past',
    seq: 12,
    batch: 2,
    heads: 2,
    queries: 5,
    past: 7,
    causal: true,
    scoreRow: 16,
    maskRow: 20,
    outRow: 5,
    scores: { kind: 'uniform', range: 10 },
    mask: 'holes',
  });
  add({
    name: 'first prompt',
    seq: 9,
    batch: 3,
    heads: 2,
    queries: 9,
    causal: true,
    scores: { kind: 'normal', std: 3 },
    mask: 'padding',
  });
  add({
    name: 'causal rows with no visible key',
    seq: 13,
    batch: 2,
    heads: 2,
    queries: 13,
    causal: true,
    scores: { kind: 'uniform', range: 10 },
    mask: 'onlyLast',
  });
  add({
    name: 'causal, masked past',
    seq: 40,
    batch: 2,
    heads: 1,
    queries: 6,
    past: 30,
    causal: true,
    scoreRow: 48,
    scores: { kind: 'ints', lo: INT32_MIN, hi: INT32_MAX },
    mask: 'holes',
  });
  add({
    name: 'decode step at 1024 keys',
    seq: 1024,
    batch: 2,
    heads: 4,
    queries: 1,
    past: 1023,
    causal: true,
    scoreRow: 1100,
    maskRow: 1024,
    scores: { kind: 'uniform', range: 10 },
    mask: 'padding',
  });
  add({
    name: 'decode at 2048 keys',
    seq: 2048,
    batch: 1,
    heads: 2,
    queries: 2,
    past: 2046,
    causal: true,
    scores: { kind: 'normal', std: 3 },
    mask: 'holes',
  });
  add({
    name: 'cross-attention rows',
    seq: 50,
    batch: 2,
    heads: 2,
    queries: 3,
    scores: { kind: 'uniform', range: 10 },
    mask: 'padding',
  });
  add({
    name: 'decode step, small launch',
    seq: 29,
    batch: 1,
    heads: 3,
    queries: 2,
    past: 27,
    causal: true,
    scoreRow: 32,
    scores: { kind: 'uniform', range: 10 },
    mask: 'none',
    launch: { workgroupSize: 4, keysPerThread: 8 },
  });
  // More rows than one grid dimension holds (65535): the 2-D grid.
  add({ name: '2-D grid', seq: 1, batch: 1, heads: 65537, scores: { kind: 'uniform', range: 10 }, mask: 'none' });
  return cases;
}

function drawScores(rng: Random, c: SoftmaxI8Case): Int32Array {
  const stride = c.scoreRow ?? c.seq;
  const rows = c.batch * c.heads * (c.queries ?? c.seq);
  const out = new Int32Array(rows * stride);
  const s = c.scores;
  const fromReal = (x: number) => Math.max(INT32_MIN, Math.min(INT32_MAX, Math.round(x / c.scale)));
  for (let row = 0; row < rows; row++) {
    const off = row * stride;
    const constant = [INT32_MIN, INT32_MAX, 0, rng.int(INT32_MIN, INT32_MAX)][row % 4];
    // Past the keys: larger than every score, so a kernel that read it would change the row.
    for (let j = c.seq; j < stride; j++) out[off + j] = INT32_MAX;
    for (let j = 0; j < c.seq; j++) {
      out[off + j] =
        s.kind === 'uniform' || s.kind === 'dominant'
          ? fromReal((rng.next() * 2 - 1) * (s.kind === 'uniform' ? s.range : 10))
          : s.kind === 'normal'
            ? fromReal(rng.normal(s.std))
            : s.kind === 'equal'
              ? constant
              : rng.int(s.lo, s.hi);
    }
    if (s.kind === 'dominant') out[off + rng.int(0, c.seq - 1)] = fromReal(10 + s.lead);
    if (s.kind === 'ints' && c.seq > 1) {
      out[off + rng.int(0, c.seq - 1)] = s.lo;
      out[off + rng.int(0, c.seq - 1)] = s.hi;
    }
  }
  return out;
}

function drawMask(rng: Random, c: SoftmaxI8Case): Uint32Array {
  const { batch, seq } = c;
  const stride = c.maskRow ?? seq;
  // Keys past seq are marked present: the kernel must not look at them.
  const mask = new Uint32Array(batch * stride).fill(1);
  for (let b = 0; b < batch; b++) {
    const row = mask.subarray(b * stride, b * stride + seq);
    row.fill(0);
    switch (c.mask) {
      case 'none':
        row.fill(1);
        break;
      case 'padding':
        // The first batch element is full length; the others are padded.
        row.fill(1, 0, b === 0 ? seq : rng.int(1, seq));
        break;
      case 'holes':
        for (let j = 0; j < seq; j++) row[j] = rng.next() < 0.7 ? 1 : 0;
        row[rng.int(0, seq - 1)] = 1;
        break;
      case 'onlyOne':
        row[rng.int(0, seq - 1)] = 1;
        break;
      case 'onlyFirst':
        row[0] = 1;
        break;
      case 'onlyLast':
        row[seq - 1] = 1;
        break;
      case 'firstBatchEmpty':
        if (b > 0) row.fill(1);
        break;
    }
  }
  return mask;
}

/** |p - 2^8 softmax(q S_in)| in output steps over present keys, softmax in float64. */
export function errorVsFloat(
  probs: Uint8Array,
  scores: Int32Array,
  mask: ArrayLike<number>,
  c: SoftmaxI8Shape & { scale: number },
): { max: number; mean: number; count: number } {
  const { batch, heads, seq, scale } = c;
  let max = 0;
  let total = 0;
  let count = 0;
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < heads * seq; r++) {
      const off = (b * heads * seq + r) * seq;
      let qmax = -Infinity;
      for (let j = 0; j < seq; j++) if (mask[b * seq + j]) qmax = Math.max(qmax, scores[off + j]);
      if (qmax === -Infinity) continue;
      let z = 0;
      for (let j = 0; j < seq; j++) if (mask[b * seq + j]) z += Math.exp((scores[off + j] - qmax) * scale);
      for (let j = 0; j < seq; j++) {
        if (!mask[b * seq + j]) continue;
        const err = Math.abs(probs[off + j] - (256 * Math.exp((scores[off + j] - qmax) * scale)) / z);
        max = Math.max(max, err);
        total += err;
        count++;
      }
    }
  }
  return { max, mean: count ? total / count : 0, count };
}

export async function runSoftmaxI8Case(gpu: Gpu, c: SoftmaxI8Case): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const scores = drawScores(rng, c);
  const mask = drawMask(rng, c);
  const constants = deriveSoftmaxI8Constants(c.scale, c.maxKeys ?? Math.max(512, c.seq));
  const queries = c.queries ?? c.seq;
  const rows = c.batch * c.heads * queries;
  const words = wordsPerRow(c.seq);
  const outRow = c.outRow ?? words;
  const want = softmaxI8Ref({ ...c, scores, mask }, constants);
  const outWords = softmaxI8OutputWords(c);
  const buffers = {
    scores: gpu.storage('scores', scores),
    mask: gpu.storage('mask', mask),
    probs: gpu.storage('probs', outWords * 4),
  };
  // Poison the output so that a word the kernel fails to write cannot pass as zero padding, and a
  // word past ceil(seq / 4) of a strided row that it writes shows.
  const POISON = 0xa5a5a5a5;
  gpu.write(buffers.probs, new Uint32Array(outWords).fill(POISON));
  try {
    const program = await bindSoftmaxI8(gpu, c, constants, buffers, c.launch);
    submitPrograms(gpu, [program]);
    const got = new Uint32Array(await gpu.read(buffers.probs));
    program.destroy();
    // Whole words, padding lanes included; the words between ceil(seq / 4) and outRow untouched.
    const wantWords = packRows(want, rows, c.seq);
    let mismatches = 0;
    let elements = 0;
    let firstMismatch: string | undefined;
    for (let r = 0; r < rows; r++) {
      for (let w = 0; w < outRow; w++) {
        const g = got[r * outRow + w];
        const e = w < words ? wantWords[r * words + w] : POISON;
        elements += 4;
        for (let l = 0; l < 4; l++) {
          const gb = (g >>> (8 * l)) & 0xff;
          const eb = (e >>> (8 * l)) & 0xff;
          if (gb !== eb) {
            mismatches++;
            firstMismatch ??= `row ${r} key ${4 * w + l}: got ${gb}, want ${eb}${w >= words ? ' (past the row: must stay unwritten)' : ''}`;
          }
        }
      }
    }
    let accuracy: AccuracyReport | undefined;
    if (c.accuracy) {
      const e = errorVsFloat(unpackRows(got, rows, c.seq, false) as Uint8Array, scores, mask, c);
      accuracy = { unit: 'output steps (2^-8)', maxAbs: e.max, meanAbs: e.mean, ...accuracyBounds(c.seq) };
    }
    return { name: c.name, elements, mismatches, firstMismatch, accuracy };
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

/**
 * i_exp and prob one value at a time: a difference of 1 in E (e.g. at z = 22, where the shift
 * reaches 32) moves a sum of millions too little to show in the probabilities.
 */
const PROBE = `
${softmaxI8Functions()}
// (d, e, sum) per probe.
@group(0) @binding(1) var<storage, read> probes: array<u32>;
// (i_exp(d), prob(e, sum)) per probe.
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= arrayLength(&probes) / 3u) { return; }
  out[2u * i] = i_exp(probes[3u * i]);
  out[2u * i + 1u] = prob(probes[3u * i + 1u], probes[3u * i + 2u]);
}`;

/** Constants to probe: derived at the scale limits, a shorter-row shift, and a small hand-made set with shift 0. */
export function probeConstants(): { name: string; c: SoftmaxI8Constants; keys: number }[] {
  return [
    { name: 'scale 2^-15', c: deriveSoftmaxI8Constants(2 ** -15), keys: 512 },
    { name: 'realistic scale', c: deriveSoftmaxI8Constants(REALISTIC_SCALE), keys: 512 },
    { name: 'scale 2^-40', c: deriveSoftmaxI8Constants(2 ** -40), keys: 512 },
    { name: 'scale 2^16 - 1', c: deriveSoftmaxI8Constants(2 ** 16 - 1), keys: 512 },
    { name: 'scale 0.37, 64 keys', c: deriveSoftmaxI8Constants(0.37, 64), keys: 64 },
    {
      name: 'hand-made, shift 0',
      c: { rescale: { m: 2 ** 30, e: 30 }, tMax: 30000, ln2: 1000, b: 1500, c: 100000, shift: 0 },
      keys: 512,
    },
  ];
}

/** d at every z boundary and around the extremes; (e, sum) over the proven domain, ties included. */
export function probeInputs(c: SoftmaxI8Constants, keys: number, rng: Random): Uint32Array {
  const { expMax, sumMax, zMax } = softmaxI8Bounds(c, keys);
  const ratio = c.rescale.m / 2 ** c.rescale.e;
  const ds = [0, 1, 2, 3, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1];
  for (let z = 0; z <= zMax + 1; z++) {
    for (const off of [-1, 0, 1, c.ln2 >> 2, c.ln2 >> 1, c.ln2 - 1]) {
      const d = Math.round((z * c.ln2 + off) / ratio);
      for (const dd of [d - 1, d, d + 1]) if (dd >= 0 && dd < 2 ** 32) ds.push(dd);
    }
  }
  for (let i = 0; i < 200; i++) ds.push(Math.floor(rng.next() * 2 ** rng.int(0, 32)));
  const pairs: [number, number][] = [
    [0, 0],
    [0, 1],
    [1, 1],
    [expMax, expMax],
    [expMax, 2 * expMax],
    [expMax, sumMax],
    [1, sumMax],
    [0, sumMax],
  ];
  for (let k = 1; k <= keys; k *= 2) pairs.push([expMax, k * expMax], [expMax >> 1, k * (expMax >> 1)]);
  while (pairs.length < ds.length) {
    const sum = rng.int(1, sumMax);
    pairs.push([rng.int(0, Math.min(expMax, sum)), sum]);
  }
  const out = new Uint32Array(3 * ds.length);
  ds.forEach((d, i) => out.set([d, ...pairs[i]], 3 * i));
  return out;
}

export async function runSoftmaxI8Probe(gpu: Gpu): Promise<CheckResult> {
  const rng = new Random(77);
  let elements = 0;
  let mismatches = 0;
  let firstMismatch: string | undefined;
  for (const { name, c, keys } of probeConstants()) {
    const probes = probeInputs(c, keys, rng);
    const n = probes.length / 3;
    const inBuf = gpu.storage('probes', probes);
    const outBuf = gpu.storage('out', n * 8);
    try {
      const info = {
        name: `softmax-i8 probe (${name})`,
        key: 'softmax-i8-probe',
        code: PROBE,
        workgroups: [Math.ceil(n / 64), 1, 1] as [number, number, number],
        params: softmaxI8Params({ batch: 1, heads: 1, seq: 1 }, c),
      };
      const program = await bindProgram(gpu, info, [inBuf, outBuf]);
      submitPrograms(gpu, [program]);
      const got = new Uint32Array(await gpu.read(outBuf));
      program.destroy();
      const want = new Uint32Array(2 * n);
      for (let i = 0; i < n; i++) {
        want[2 * i] = iExpRef(probes[3 * i], c);
        want[2 * i + 1] = probabilityRef(probes[3 * i + 1], probes[3 * i + 2]);
      }
      const r = compareExact(name, got, want, (i) =>
        i % 2 === 0
          ? `${name}: i_exp(${probes[(3 * i) / 2]})`
          : `${name}: prob(${probes[(3 * (i - 1)) / 2 + 1]}, ${probes[(3 * (i - 1)) / 2 + 2]})`,
      );
      elements += r.elements;
      mismatches += r.mismatches;
      firstMismatch ??= r.firstMismatch;
    } finally {
      inBuf.destroy();
      outBuf.destroy();
    }
  }
  return { name: 'i-exp and probability probe', elements, mismatches, firstMismatch };
}

export const suite: CheckSuite = {
  name: 'integer softmax',
  cases: () => [
    { name: 'i-exp and probability probe (z boundaries, extremes, ties)', run: runSoftmaxI8Probe },
    ...softmaxI8Cases().map((c) => ({ name: c.name, run: (gpu: Gpu) => runSoftmaxI8Case(gpu, c) })),
  ],
};
