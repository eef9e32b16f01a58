/**
 * Check suites: the GPU-vs-reference checks every kernel family defines once, in test/cases/<kernel>.ts
 * (exporting `suite`), and that run unchanged in Node (vitest) and in a browser page (test/browser).
 */
import type { Gpu } from '../../src/gpu/gpu.js';

export interface AccuracyReport {
  /** What the error is measured in, e.g. "output steps" or "probability". */
  unit: string;
  maxAbs: number;
  meanAbs: number;
  /** The bounds this check asserts (and the docs state). */
  maxBound: number;
  meanBound: number;
}

export interface CheckResult {
  name: string;
  /** Values compared bit for bit against the CPU reference. */
  elements: number;
  mismatches: number;
  firstMismatch?: string;
  accuracy?: AccuracyReport;
}

export interface CheckCase {
  name: string;
  run(gpu: Gpu): Promise<CheckResult>;
}

export interface CheckSuite {
  name: string;
  cases(): CheckCase[];
}

/** Why a result fails, or undefined when it passes. A result that compared nothing fails. */
export function checkFailure(r: CheckResult): string | undefined {
  if (r.elements <= 0) return `${r.name}: compared no values`;
  if (r.mismatches !== 0)
    return `${r.name}: ${r.mismatches} of ${r.elements} values differ from the reference; first: ${r.firstMismatch}`;
  const a = r.accuracy;
  if (a && !(a.maxAbs <= a.maxBound && a.meanAbs <= a.meanBound)) {
    return `${r.name}: error vs float max ${a.maxAbs} / mean ${a.meanAbs} ${a.unit} exceeds the bound ${a.maxBound} / ${a.meanBound}`;
  }
  return undefined;
}

/** Counts mismatches between two integer arrays, describing the first. */
export function compareExact(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  describe: (i: number) => string = (i) => `index ${i}`,
): CheckResult {
  let mismatches = 0;
  let firstMismatch: string | undefined;
  if (got.length !== want.length) {
    return {
      name,
      elements: want.length,
      mismatches: want.length,
      firstMismatch: `length ${got.length}, want ${want.length}`,
    };
  }
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      mismatches++;
      firstMismatch ??= `${describe(i)}: got ${got[i]}, want ${want[i]}`;
    }
  }
  return { name, elements: want.length, mismatches, firstMismatch };
}
