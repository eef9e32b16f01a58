/**
 * Elementwise f32 add against its reference, bit for bit: random values of mixed magnitudes (sums
 * that round, that cancel exactly, that overflow to infinity), signed zeros, and counts around
 * the workgroup size and past one dispatch row (65535 workgroups).
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindAddF32 } from '../../src/kernels/add-f32.js';
import { addF32Ref } from '../../src/reference/add-f32.js';
import { Random } from '../../src/util/random.js';
import { readF32 } from './float-compare.js';
import type { CheckResult, CheckSuite } from './suite.js';

function operands(count: number, seed: number): { a: Float32Array; b: Float32Array } {
  const rng = new Random(seed);
  const a = rng.float32Array(count, 3);
  const b = rng.float32Array(count, 3);
  for (let i = 0; i < count; i += 7) a[i] *= 2 ** ((i % 40) - 20);
  const specials: [number, number][] = [
    [0, -0],
    [-0, -0],
    [1.5, -1.5],
    [3e38, 3e38],
    [-3e38, -3e38],
    [1, 2 ** -30],
    [2 ** -140, 2 ** -140],
  ];
  specials.forEach(([x, y], i) => {
    if (i < count) [a[i], b[i]] = [x, y];
  });
  return { a, b };
}

async function run(gpu: Gpu, count: number, seed: number): Promise<CheckResult> {
  const { a, b } = operands(count, seed);
  const buffers = { a: gpu.storage('a', a), b: gpu.storage('b', b), y: gpu.storage('y', count * 4) };
  try {
    const program = await bindAddF32(gpu, count, buffers);
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.y, count);
    program.destroy();
    const want = addF32Ref(a, b);
    let mismatches = 0;
    let firstMismatch: string | undefined;
    const gotBits = new Uint32Array(got.buffer, got.byteOffset, count);
    const wantBits = new Uint32Array(want.buffer, want.byteOffset, count);
    for (let i = 0; i < count; i++) {
      // Subnormal sums may flush to zero on GPUs: equal as numbers up to that flush, else bit for bit.
      const flushed = Math.abs(want[i]) < 2 ** -126 && got[i] === 0;
      if (gotBits[i] !== wantBits[i] && !flushed) {
        mismatches++;
        firstMismatch ??= `index ${i}: ${a[i]} + ${b[i]} gave ${got[i]}, want ${want[i]}`;
      }
    }
    return { name: `add-f32 of ${count} values`, elements: count, mismatches, firstMismatch };
  } finally {
    for (const buf of Object.values(buffers)) buf.destroy();
  }
}

const COUNTS: [number, number][] = [
  [1, 1],
  [63, 2],
  [64, 3],
  [65, 4],
  [1000, 5],
  [65535 * 64 + 17, 6],
];

export const suite: CheckSuite = {
  name: 'f32 elementwise add',
  cases: () => COUNTS.map(([count, seed]) => ({ name: `${count} values`, run: (gpu: Gpu) => run(gpu, count, seed) })),
};
