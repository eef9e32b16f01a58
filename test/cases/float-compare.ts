/**
 * Tolerance comparison for the float kernels: GPU f32 results against float64 references, each
 * value allowed an error bound derived from f32 rounding of the operations that produced it.
 * Shared by the f32 check suites (not a suite itself).
 */
import type { CheckResult } from './suite.js';

export const F32_EPS = 2 ** -24;

export function compareWithin(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tolerance: (i: number) => number,
  describe: (i: number) => string = (i) => `index ${i}`,
): CheckResult {
  if (got.length < want.length)
    return {
      name,
      elements: want.length,
      mismatches: want.length,
      firstMismatch: `length ${got.length}, want ${want.length}`,
    };
  let mismatches = 0;
  let firstMismatch: string | undefined;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const tol = tolerance(i);
    const err = Math.abs(got[i] - want[i]);
    if (tol > 0) worst = Math.max(worst, err / tol);
    if (!(err <= tol)) {
      mismatches++;
      firstMismatch ??= `${describe(i)}: got ${got[i]}, want ${want[i]} (error ${err.toExponential(3)}, tolerance ${tol.toExponential(3)})`;
    }
  }
  return {
    name: `${name} (worst error ${worst.toFixed(3)} of its tolerance)`,
    elements: want.length,
    mismatches,
    firstMismatch,
  };
}

/** Reads a whole buffer back as f32. */
export async function readF32(
  gpu: import('../../src/gpu/gpu.js').Gpu,
  buffer: GPUBuffer,
  count: number,
): Promise<Float32Array> {
  return new Float32Array(await gpu.read(buffer, count * 4));
}

/** Largest |a[i] - b[i]|; refuses arrays of different lengths (a length bug is not a small difference). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxAbsDiff: ${a.length} values vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
