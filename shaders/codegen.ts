/** Small helpers for generating WGSL: unrolled loops and literal formatting. */

/** [0, 1, ..., n-1] */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Repeats a line template for each index, joined by newlines (an unrolled loop). */
export function unroll(n: number, line: (i: number) => string): string {
  return range(n).map(line).join('\n');
}

/** Repeats a line template over a 2-D index space, row-major. */
export function unroll2(rows: number, cols: number, line: (i: number, j: number) => string): string {
  return range(rows)
    .flatMap((i) => range(cols).map((j) => line(i, j)))
    .join('\n');
}

/** A WGSL i32 literal; -2^31 cannot be written directly. */
export function i32Lit(v: number): string {
  if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new RangeError(`${v} is not an i32`);
  return v === -(2 ** 31) ? 'i32(-2147483647 - 1)' : `${v}i`;
}

/** Stable cache key for a kernel's options. */
export function optionsKey(name: string, options: object): string {
  const sorted = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, x]) => [k, sorted(x)]),
        )
      : v;
  return `${name}:${JSON.stringify(sorted(options))}`;
}
