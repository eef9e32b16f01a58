/**
 * The attention head split against its reference, bit for bit (a permutation, zero padding, and
 * one f32 multiply of q, which WGSL rounds correctly). Output buffers start full of garbage, as
 * reused buffers are, so padding must be rewritten.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindSplitHeadsF32, type SplitHeadsF32Shape, splitHeadsF32Sizes } from '../../src/kernels/split-heads-f32.js';
import { splitHeadsF32Ref } from '../../src/reference/split-heads-f32.js';
import { Random } from '../../src/util/random.js';
import { readF32 } from './float-compare.js';
import { type CheckResult, type CheckSuite, compareExact } from './suite.js';

async function run(gpu: Gpu, shape: SplitHeadsF32Shape, seed: number): Promise<CheckResult> {
  const rng = new Random(seed);
  const qkv = rng.float32Array(shape.batch * shape.seq * 3 * shape.heads * shape.headDim);
  const z = splitHeadsF32Sizes(shape);
  const garbage = (n: number) => new Float32Array(n).fill(-5);
  const buffers = {
    qkv: gpu.storage('qkv', qkv),
    q: gpu.storage('q', garbage(z.qk)),
    k: gpu.storage('k', garbage(z.qk)),
    vT: gpu.storage('vT', garbage(z.v)),
  };
  try {
    const program = await bindSplitHeadsF32(gpu, shape, buffers);
    submitPrograms(gpu, [program]);
    const got = [
      ...(await readF32(gpu, buffers.q, z.qk)),
      ...(await readF32(gpu, buffers.k, z.qk)),
      ...(await readF32(gpu, buffers.vT, z.v)),
    ];
    program.destroy();
    const ref = splitHeadsF32Ref(qkv, shape);
    return compareExact(`split ${shape.batch}x${shape.seq}x${shape.heads}x${shape.headDim}`, got, [
      ...ref.q,
      ...ref.k,
      ...ref.vT,
    ]);
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

const CASES: [SplitHeadsF32Shape, number][] = [
  [{ batch: 1, seq: 1, heads: 1, headDim: 1 }, 1],
  [{ batch: 3, seq: 7, heads: 5, headDim: 40, qScale: 1 / Math.sqrt(40) }, 2],
  [{ batch: 2, seq: 13, heads: 8, headDim: 25, qScale: 0.2 }, 3],
  [{ batch: 1, seq: 130, heads: 2, headDim: 64, qScale: 0.125 }, 4],
];

export const suite: CheckSuite = {
  name: 'f32 attention head split',
  cases: () =>
    CASES.map(([s, seed]) => ({
      name: `${s.batch}x${s.seq} tokens, ${s.heads} heads of ${s.headDim}`,
      run: (gpu) => run(gpu, s, seed),
    })),
};
