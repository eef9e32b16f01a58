/**
 * Activation range statistics gathered while the float model runs on calibration text. Each
 * observed tensor keeps its max |x| and a log-spaced histogram of |x|, from which a percentile
 * range is read without storing the values (calibration sees millions of them).
 *
 * Histogram: 64 bins per octave over [2^-40, 2^24): a percentile is located to within 1.1% of its
 * value, far below the int8 step it determines.
 */

const BINS_PER_OCTAVE = 64;
const MIN_EXP = -40;
const MAX_EXP = 24;
const BIN_COUNT = (MAX_EXP - MIN_EXP) * BINS_PER_OCTAVE;

export type RangeMethod = 'max' | `percentile-${number}`;

export class RangeStats {
  maxAbs = 0;
  count = 0;
  private readonly bins = new Float64Array(BIN_COUNT + 1);

  /** `name` (the activation's) goes into the error message of a non-finite value. */
  observe(values: ArrayLike<number>, name = 'an activation'): void {
    // Checked before counting anything, so that a caller who catches the error keeps clean statistics.
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new RangeError(`calibration saw a non-finite value (${values[i]}) in ${name} at index ${i} of ${values.length}: the float model overflowed or its weights are not finite`);
      }
    }
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      if (a > this.maxAbs) this.maxAbs = a;
      this.bins[binOf(a)]++;
    }
    this.count += values.length;
  }

  /** The smallest bound that at least `p` percent of |x| lie under (upper edge of its bin, at most max). */
  percentile(p: number): number {
    if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in (0, 100]`);
    if (this.count === 0) return 0;
    const target = (p / 100) * this.count;
    let seen = 0;
    for (let b = 0; b <= BIN_COUNT; b++) {
      seen += this.bins[b];
      if (seen >= target) return Math.min(this.maxAbs, upperEdge(b));
    }
    return this.maxAbs;
  }

  range(method: RangeMethod): number {
    if (method === 'max') return this.maxAbs;
    const p = Number(method.slice('percentile-'.length));
    return this.percentile(p);
  }

  merge(other: RangeStats): void {
    this.maxAbs = Math.max(this.maxAbs, other.maxAbs);
    this.count += other.count;
    for (let b = 0; b <= BIN_COUNT; b++) this.bins[b] += other.bins[b];
  }
}

function binOf(a: number): number {
  if (a < 2 ** MIN_EXP) return 0;
  const b = Math.floor((Math.log2(a) - MIN_EXP) * BINS_PER_OCTAVE) + 1;
  return Math.min(b, BIN_COUNT);
}

function upperEdge(bin: number): number {
  if (bin === 0) return 2 ** MIN_EXP;
  return 2 ** (MIN_EXP + bin / BINS_PER_OCTAVE);
}

/** Statistics per named activation (names as the float model's captures). */
export class RangeObserver {
  readonly stats = new Map<string, RangeStats>();

  observe(name: string, values: ArrayLike<number>): void {
    let s = this.stats.get(name);
    if (!s) {
      s = new RangeStats();
      this.stats.set(name, s);
    }
    s.observe(values, `activation "${name}"`);
  }

  get(name: string): RangeStats {
    const s = this.stats.get(name);
    if (!s) throw new Error(`calibration has no statistics for "${name}"`);
    return s;
  }

  ranges(method: RangeMethod): Map<string, number> {
    return new Map([...this.stats].map(([k, s]) => [k, s.range(method)]));
  }
}
