/**
 * Masked f32 softmax against the float64 reference. Tolerance per probability p: WGSL's exp is
 * within 3 + 2|x| ulp at x = s - max, the row sum adds ~log2(seq) roundings of relative eps, and the
 * divide and multiply one each: p * eps * (2|s - max| + log2(seq) + 12). Masked keys and padding
 * columns must be exactly 0; values below the smallest normal f32 (2^-126) may flush to 0. Cases: heavy padding, a fully masked sequence, seq 512, rows past
 * one dispatch row of the stride, and the causal variant (whole sequences, and queries after cached keys).
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindSoftmaxF32 } from '../../src/kernels/softmax-f32.js';
import { softmaxF32Ref } from '../../src/reference/softmax-f32.js';
import { Random } from '../../src/util/random.js';
import { compareWithin, F32_EPS, readF32 } from './float-compare.js';
import type { CheckResult, CheckSuite } from './suite.js';

interface Case {
  batch: number;
  heads: number;
  seq: number;
  probStride: number;
  /** Real tokens per sequence (the rest is padding). */
  lengths: number[];
  std: number;
  seed: number;
  /** Decoders: the last `queries` keys are the queries, each masking the keys after it. */
  causal?: { queries: number };
}

async function run(gpu: Gpu, c: Case): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const queries = c.causal?.queries ?? c.seq;
  const rows = c.batch * c.heads * queries;
  const scores = rng.float32Array(rows * c.seq, c.std);
  const mask = new Int32Array(c.batch * c.seq);
  c.lengths.forEach((n, b) => mask.fill(1, b * c.seq, b * c.seq + n));
  const shape = {
    batch: c.batch,
    heads: c.heads,
    queries,
    seq: c.seq,
    probStride: c.probStride,
    ...(c.causal ? { causal: true } : {}),
  };
  const buffers = {
    scores: gpu.storage('scores', scores),
    mask: gpu.storage('mask', mask),
    probs: gpu.storage('probs', rows * c.probStride * 4),
  };
  // Garbage in the output, as a reused buffer would hold: padding must be rewritten.
  gpu.write(buffers.probs, new Float32Array(rows * c.probStride).fill(7));
  try {
    const program = await bindSoftmaxF32(gpu, shape, buffers);
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.probs, rows * c.probStride);
    program.destroy();
    const want = softmaxF32Ref({ scores, mask, ...shape });
    const L = Math.log2(c.seq);
    const rowMax = new Float64Array(rows).fill(-Infinity);
    for (let r = 0; r < rows; r++) {
      const b = Math.floor(r / (c.heads * queries));
      const keys = c.causal ? (r % queries) + c.seq - queries + 1 : c.seq;
      for (let t = 0; t < keys; t++) if (mask[b * c.seq + t]) rowMax[r] = Math.max(rowMax[r], scores[r * c.seq + t]);
    }
    return compareWithin(
      `${c.batch}x${c.heads}x${c.seq}x${c.seq}`,
      got,
      want,
      (i) => {
        if (want[i] === 0) return 0;
        const r = Math.floor(i / c.probStride);
        const x = Math.abs(scores[r * c.seq + (i % c.probStride)] - rowMax[r]);
        // Probabilities below the smallest normal f32 may be flushed to zero.
        return want[i] * F32_EPS * (2 * x + L + 12) + 2 ** -126;
      },
      (i) => `row ${Math.floor(i / c.probStride)} key ${i % c.probStride}`,
    );
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

const CASES: Case[] = [
  { batch: 1, heads: 1, seq: 1, probStride: 4, lengths: [1], std: 1, seed: 1 },
  { batch: 3, heads: 2, seq: 13, probStride: 16, lengths: [13, 5, 1], std: 3, seed: 2 },
  { batch: 2, heads: 5, seq: 40, probStride: 40, lengths: [40, 0], std: 8, seed: 3 },
  { batch: 2, heads: 2, seq: 512, probStride: 512, lengths: [300, 512], std: 2, seed: 4 },
  { batch: 1, heads: 12, seq: 67, probStride: 68, lengths: [60], std: 20, seed: 5 },
  // Causal: whole sequences (queries = keys) with padding, and 3 new queries after 17 cached keys.
  { batch: 3, heads: 2, seq: 13, probStride: 16, lengths: [13, 5, 1], std: 3, seed: 6, causal: { queries: 13 } },
  { batch: 2, heads: 3, seq: 20, probStride: 20, lengths: [20, 18], std: 4, seed: 7, causal: { queries: 3 } },
];

export const suite: CheckSuite = {
  name: 'f32 masked softmax',
  cases: () =>
    CASES.map((c) => ({
      name: `${c.batch}x${c.heads}x${c.seq} lengths ${c.lengths.join(',')} std ${c.std}${c.causal ? ` causal, ${c.causal.queries} queries` : ''}`,
      run: (gpu) => run(gpu, c),
    })),
};
