/**
 * f32 LayerNorm (optionally of x + residual) against the float64 reference. Tolerance per value,
 * from f32 rounding with L = log2(H) levels of the tree sums: the mean is off by ~(L + 1) eps
 * mean|v|, which shifts v - mean; the variance is off by ~(L + 4) eps relative (inverseSqrt adds
 * 2 ulp); the final multiply-adds round 3 times. Inputs include a large common offset (mean >> std),
 * where a one-pass variance would fail.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindLayerNormF32 } from '../../src/kernels/layernorm-f32.js';
import { layerNormF32Ref } from '../../src/reference/layernorm-f32.js';
import { Random } from '../../src/util/random.js';
import { compareWithin, F32_EPS, readF32 } from './float-compare.js';
import type { CheckResult, CheckSuite } from './suite.js';

interface Case {
  rows: number;
  H: number;
  stride: number;
  residual: boolean;
  offset: number;
  eps: number;
  seed: number;
}

async function run(gpu: Gpu, c: Case): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const n = c.rows * c.stride;
  const x = rng.float32Array(n, 2).map((v) => v + c.offset);
  const residual = c.residual ? rng.float32Array(n, 1) : undefined;
  const gamma = rng.float32Array(c.H, 1).map((v) => 1 + v * 0.3);
  const beta = rng.float32Array(c.H, 0.5);
  const buffers = {
    x: gpu.storage('x', x),
    residual: residual ? gpu.storage('residual', residual) : undefined,
    gamma: gpu.storage('gamma', gamma),
    beta: gpu.storage('beta', beta),
    y: gpu.storage('y', n * 4),
  };
  try {
    const program = await bindLayerNormF32(
      gpu,
      { eps: c.eps, residual: c.residual },
      { rows: c.rows, H: c.H, stride: c.stride },
      buffers,
    );
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.y, n);
    program.destroy();
    // The kernel's input is the f32 sum, as in transformers (hidden + residual in f32).
    const v = residual ? x.map((a, i) => a + residual[i]) : x;
    const want = layerNormF32Ref({ x: v, gamma, beta, rows: c.rows, H: c.H, stride: c.stride, eps: c.eps });
    const L = Math.ceil(Math.log2(c.H)) + 1;
    const rowStats = Array.from({ length: c.rows }, (_, r) => {
      let mean = 0;
      let meanAbs = 0;
      for (let j = 0; j < c.H; j++) {
        mean += v[r * c.stride + j];
        meanAbs += Math.abs(v[r * c.stride + j]);
      }
      mean /= c.H;
      let variance = 0;
      for (let j = 0; j < c.H; j++) variance += (v[r * c.stride + j] - mean) ** 2;
      return { meanAbs: meanAbs / c.H, inv: 1 / Math.sqrt(variance / c.H + c.eps) };
    });
    const pad = (i: number) => i % c.stride >= c.H;
    return compareWithin(
      `${c.rows}x${c.H}`,
      got,
      want,
      (i) => {
        if (pad(i)) return 1e-30;
        const col = i % c.stride;
        const { meanAbs, inv } = rowStats[Math.floor(i / c.stride)];
        const centered = Math.abs(want[i] - beta[col]);
        return (
          F32_EPS *
          (Math.abs(gamma[col]) * inv * (L + 1) * (meanAbs + Math.abs(v[i])) +
            centered * (L + 8) +
            3 * (Math.abs(want[i]) + Math.abs(beta[col])))
        );
      },
      (i) => `row ${Math.floor(i / c.stride)} col ${i % c.stride}`,
    );
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

const CASES: Case[] = [
  { rows: 1, H: 1, stride: 4, residual: false, offset: 0, eps: 1e-12, seed: 1 },
  { rows: 7, H: 128, stride: 128, residual: true, offset: 0, eps: 1e-12, seed: 2 },
  { rows: 13, H: 200, stride: 200, residual: false, offset: 0, eps: 1e-5, seed: 3 },
  { rows: 5, H: 201, stride: 204, residual: true, offset: 30, eps: 1e-12, seed: 4 },
  { rows: 3, H: 768, stride: 768, residual: true, offset: -1000, eps: 1e-12, seed: 5 },
  { rows: 130, H: 37, stride: 40, residual: false, offset: 5, eps: 1e-12, seed: 6 },
];

export const suite: CheckSuite = {
  name: 'f32 LayerNorm',
  cases: () =>
    CASES.map((c) => ({
      name: `${c.rows}x${c.H} stride ${c.stride}${c.residual ? ' +residual' : ''} offset ${c.offset}`,
      run: (gpu) => run(gpu, c),
    })),
};
