/**
 * Exact-erf GELU in f32 against the float64 reference (src/reference/gelu-f32.ts), both as the
 * elementwise kernel (with GPT-2's tanh GELU and the heads' tanh and ReLU) and fused into the f32 GEMM epilogue (with
 * tanh, ReLU and the scale alpha). Inputs sweep [-12, 12] densely, around the erf pieces' seams
 * (|x| / sqrt(2) = 1 and 4) and zero. GEMM tolerance: the product's f32 summation bound, as in
 * the plain GEMM check, carried through the activation's slope (<= 1.13), plus the activation's
 * own error (geluF32Tolerance; 2e-7 absolute for tanh).
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { type ActivationF32, bindGeluF32 } from '../../src/kernels/gelu-f32.js';
import { bindGemmF32, type GemmF32Activation } from '../../src/kernels/gemm-f32.js';
import { padRowsF32 } from '../../src/quant/pack.js';
import { gelu64, geluF32Tolerance, geluTanh64, geluTanhF32Tolerance } from '../../src/reference/gelu-f32.js';
import { gemmF32Ref } from '../../src/reference/gemm-f32.js';
import { Random } from '../../src/util/random.js';
import { compareWithin, F32_EPS, readF32 } from './float-compare.js';
import type { CheckCase, CheckResult, CheckSuite } from './suite.js';

export function geluInputs(): Float32Array {
  const values: number[] = [0, -0, 1e-30, -1e-30, 1e-8, -1e-8];
  for (let i = -12000; i <= 12000; i++) values.push(i / 1000);
  for (const seam of [Math.SQRT2, 4 * Math.SQRT2]) {
    for (let i = -200; i <= 200; i++) values.push(seam * (1 + i * 2 ** -22), -seam * (1 + i * 2 ** -22));
  }
  for (const big of [20, 50, 1e4, -20, -50, -1e4]) values.push(big);
  return Float32Array.from(values);
}

async function runElementwise(gpu: Gpu, activation: ActivationF32): Promise<CheckResult> {
  const x = geluInputs();
  const buffers = { x: gpu.storage('x', x), y: gpu.storage('y', x.length * 4) };
  try {
    const program = await bindGeluF32(gpu, x.length, buffers, activation);
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.y, x.length);
    program.destroy();
    const want = Float64Array.from(x, (v) => activate(activation, v));
    return compareWithin(
      `${activation} of ${x.length} values`,
      got,
      want,
      (i) => activationTolerance(activation, x[i], want[i]),
      (i) => `x = ${x[i]}`,
    );
  } finally {
    buffers.x.destroy();
    buffers.y.destroy();
  }
}

interface EpilogueCase {
  M: number;
  N: number;
  K: number;
  alpha?: number;
  activation?: GemmF32Activation;
  seed: number;
}

function activate(a: GemmF32Activation | undefined, v: number): number {
  if (a === 'gelu') return gelu64(v);
  if (a === 'gelu_tanh') return geluTanh64(v);
  if (a === 'tanh') return Math.tanh(v);
  if (a === 'relu') return Math.max(v, 0);
  return v;
}

/** The activation's own error on an exact f32 input: see gelu64 / the tanh note in the shader. */
function activationTolerance(a: GemmF32Activation | undefined, x: number, exact: number): number {
  if (a === 'gelu') return geluF32Tolerance(x, exact);
  if (a === 'gelu_tanh') return geluTanhF32Tolerance(x, exact);
  if (a === 'tanh') return 2e-7 + 4 * F32_EPS * Math.abs(exact);
  return 0;
}

async function runEpilogue(gpu: Gpu, c: EpilogueCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  // Products of std ~3: the activations see their whole range.
  const a = rng.float32Array(c.M * c.K, 1);
  const b = rng.float32Array(c.N * c.K, 3 / Math.sqrt(c.K));
  const bias = rng.float32Array(c.N, 0.5);
  const buffers = {
    a: gpu.storage('a', padRowsF32(a, c.M, c.K)),
    b: gpu.storage('b', padRowsF32(b, c.N, c.K)),
    bias: gpu.storage('bias', bias),
    c: gpu.storage('c', c.M * c.N * 4),
  };
  try {
    const program = await bindGemmF32(
      gpu,
      { bias: true, alpha: c.alpha, activation: c.activation },
      { M: c.M, N: c.N, K: c.K },
      buffers,
    );
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.c, c.M * c.N);
    program.destroy();
    const ref = gemmF32Ref({ a, b, M: c.M, N: c.N, K: c.K });
    const alpha = c.alpha ?? 1;
    const pre = Float64Array.from(ref.c, (v, i) => v * alpha + bias[i % c.N]);
    const want = pre.map((v) => activate(c.activation, v));
    return compareWithin(
      `${c.M}x${c.N}x${c.K} ${c.activation ?? 'none'} alpha ${c.alpha ?? '-'}`,
      got,
      want,
      (i) => {
        const mag = Math.abs(alpha) * ref.magnitude[i] + Math.abs(bias[i % c.N]);
        const inputError = (c.K + 4) * 2 * F32_EPS * mag;
        const own = activationTolerance(c.activation, pre[i], want[i]);
        return inputError * (c.activation === 'gelu' || c.activation === 'gelu_tanh' ? 1.13 : 1) + own + 1e-30;
      },
      (i) => `row ${Math.floor(i / c.N)} col ${i % c.N}`,
    );
  } finally {
    for (const buf of Object.values(buffers)) buf.destroy();
  }
}

const EPILOGUES: EpilogueCase[] = [
  { M: 33, N: 70, K: 40, activation: 'gelu', seed: 1 },
  { M: 65, N: 130, K: 129, activation: 'gelu', seed: 2 },
  { M: 3, N: 200, K: 200, activation: 'tanh', seed: 3 },
  { M: 33, N: 70, K: 40, activation: 'gelu_tanh', seed: 6 },
  { M: 5, N: 63, K: 64, activation: 'relu', seed: 4 },
  { M: 17, N: 17, K: 40, alpha: 1 / Math.sqrt(40), seed: 5 },
];

export const suite: CheckSuite = {
  name: 'f32 GELU and GEMM epilogues',
  cases: (): CheckCase[] => [
    { name: 'elementwise GELU over [-12, 12] and the erf seams', run: (gpu) => runElementwise(gpu, 'gelu') },
    { name: 'elementwise tanh GELU (gelu_new) over [-12, 12]', run: (gpu) => runElementwise(gpu, 'gelu_tanh') },
    { name: 'elementwise tanh', run: (gpu) => runElementwise(gpu, 'tanh') },
    { name: 'elementwise ReLU', run: (gpu) => runElementwise(gpu, 'relu') },
    ...EPILOGUES.map((c) => ({
      name: `GEMM ${c.M}x${c.N}x${c.K} + ${c.activation ?? `alpha ${c.alpha?.toFixed(4)}`}`,
      run: (gpu: Gpu) => runEpilogue(gpu, c),
    })),
  ],
};
