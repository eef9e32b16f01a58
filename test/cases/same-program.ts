/**
 * Deep equality of large documents (integer programs, model files) for tests: typed arrays are
 * compared as bytes (Buffer.equals) instead of element by element, which is what makes vitest's
 * toEqual take minutes on programs with millions of int8 weights. The first difference is reported
 * by its path.
 */
import { expect } from 'vitest';

function firstDifference(a: unknown, b: unknown, path: string): string | undefined {
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) return `${path}: a typed array and something else`;
    if (a.constructor !== b.constructor) return `${path}: ${a.constructor.name} vs ${b.constructor.name}`;
    const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    return x.equals(y) ? undefined : `${path}: ${a.constructor.name} contents differ`;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return `${path}: an array and something else`;
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length || ka.some((k) => !kb.includes(k)))
      return `${path}: keys {${ka.sort().join(', ')}} vs {${kb.sort().join(', ')}}`;
    for (const k of ka) {
      const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return Object.is(a, b) || a === b ? undefined : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

/** Asserts `actual` deep-equals `expected` (as toEqual would, undefined fields ignored), typed arrays by bytes. */
export function expectSameDocument(actual: unknown, expected: unknown, what = 'document'): void {
  expect(firstDifference(actual, expected, what)).toBeUndefined();
}
