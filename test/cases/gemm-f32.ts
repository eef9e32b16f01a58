/**
 * The f32 GEMM against a float64 reference. Float sums differ by order, so a value "mismatches"
 * when it is outside the worst-case f32 summation bound K * 2^-23 * sum |a * b| (plus input
 * rounding), not when its bits differ.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindGemmF32 } from '../../src/kernels/gemm-f32.js';
import type { GemmTile } from '../../src/kernels/gemm-shape.js';
import { padRowsF32 } from '../../src/quant/pack.js';
import { gemmF32Ref } from '../../src/reference/gemm-f32.js';
import { Random } from '../../src/util/random.js';
import type { CheckResult, CheckSuite } from './suite.js';

interface GemmF32Case {
  M: number;
  N: number;
  K: number;
  bias: boolean;
  tile?: GemmTile;
  seed: number;
}

export async function runGemmF32Case(gpu: Gpu, c: GemmF32Case): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const a = rng.float32Array(c.M * c.K);
  const b = rng.float32Array(c.N * c.K, 0.05);
  const bias = c.bias ? rng.float32Array(c.N) : undefined;
  const buffers = {
    a: gpu.storage('a', padRowsF32(a, c.M, c.K)),
    b: gpu.storage('b', padRowsF32(b, c.N, c.K)),
    bias: bias ? gpu.storage('bias', bias) : undefined,
    c: gpu.storage('c', c.M * c.N * 4),
  };
  try {
    const program = await bindGemmF32(gpu, { bias: c.bias, tile: c.tile }, { M: c.M, N: c.N, K: c.K }, buffers);
    submitPrograms(gpu, [program]);
    const got = new Float32Array(await gpu.read(buffers.c));
    program.destroy();
    const ref = gemmF32Ref({ a, b, bias, M: c.M, N: c.N, K: c.K });
    let mismatches = 0;
    let firstMismatch: string | undefined;
    for (let i = 0; i < ref.c.length; i++) {
      const tol = (c.K + 2) * 2 ** -23 * ref.magnitude[i] + 1e-30;
      if (!(Math.abs(got[i] - ref.c[i]) <= tol)) {
        mismatches++;
        firstMismatch ??= `row ${Math.floor(i / c.N)} col ${i % c.N}: got ${got[i]}, want ${ref.c[i]} (tolerance ${tol})`;
      }
    }
    return { name: `f32 ${c.M}x${c.N}x${c.K}`, elements: ref.c.length, mismatches, firstMismatch };
  } finally {
    for (const buf of Object.values(buffers)) buf?.destroy();
  }
}

const CASES: GemmF32Case[] = [
  { M: 1, N: 1, K: 1, bias: true, seed: 1 },
  { M: 7, N: 5, K: 3, bias: false, seed: 2 },
  { M: 65, N: 63, K: 130, bias: true, seed: 3 },
  { M: 128, N: 200, K: 192, bias: true, seed: 4 },
  { M: 37, N: 70, K: 199, bias: true, tile: { m: 32, n: 64, k4: 16, threadM: 4, threadN: 8 }, seed: 5 },
];

export const suite: CheckSuite = {
  name: 'f32 GEMM',
  cases: () =>
    CASES.map((c) => ({
      name: `${c.M}x${c.N}x${c.K}${c.bias ? '+bias' : ''}${c.tile ? ' wide tile' : ''}`,
      run: (gpu) => runGemmF32Case(gpu, c),
    })),
};
