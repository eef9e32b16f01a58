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

/**
 * 'max': the largest |x| seen; 'percentile-P': the P-th percentile of |x|; 'mse': the clipping range
 * that minimises the expected squared int8 quantization error over the observed |x| (clipped values
 * cost (|x| - r)^2, the others the rounding error), searched between the 99th percentile and max.
 */
export type RangeMethod = 'max' | 'mse' | `percentile-${number}`;

/** Per-channel statistics of a [rows, width] tensor: what outlier channels are found from. */
export interface ChannelStats {
  /** max |x| per channel. */
  maxAbs: Float64Array;
  /** sum of x^2 per channel (over `rows` rows): mean squares weigh a GEMM input's channels. */
  sumSquares: Float64Array;
  rows: number;
}

export class RangeStats {
  maxAbs = 0;
  count = 0;
  /** Present when the values were observed with their row width. */
  channels?: ChannelStats;
  private readonly bins = new Float64Array(BIN_COUNT + 1);

  /**
   * `name` (the activation's) goes into the error message of a non-finite value; `width`, the
   * length of a row, adds per-channel statistics (values are row-major [rows, width]).
   */
  observe(values: ArrayLike<number>, name = 'an activation', width?: number): void {
    // Checked before counting anything, so that a caller who catches the error keeps clean statistics.
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new RangeError(
          `calibration saw a non-finite value (${values[i]}) in ${name} at index ${i} of ${values.length}: the float model overflowed or its weights are not finite`,
        );
      }
    }
    if (width !== undefined) {
      if (!Number.isInteger(width) || width < 1 || values.length % width !== 0)
        throw new RangeError(`calibration: ${values.length} values of ${name} are not whole rows of ${width}`);
      if (this.channels && this.channels.maxAbs.length !== width)
        throw new RangeError(
          `calibration: ${name} was observed ${this.channels.maxAbs.length} wide, now ${width} wide`,
        );
      if (!this.channels && this.count > 0)
        throw new RangeError(`calibration: ${name} was observed without its width before`);
      this.channels ??= { maxAbs: new Float64Array(width), sumSquares: new Float64Array(width), rows: 0 };
      const ch = this.channels;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        const c = i % width;
        if (Math.abs(v) > ch.maxAbs[c]) ch.maxAbs[c] = Math.abs(v);
        ch.sumSquares[c] += v * v;
      }
      ch.rows += values.length / width;
    } else if (this.channels) {
      throw new RangeError(`calibration: ${name} was observed with per-channel statistics before; give its width`);
    }
    for (let i = 0; i < values.length; i++) {
      const a = Math.abs(values[i]);
      if (a > this.maxAbs) this.maxAbs = a;
      this.bins[binOf(a)]++;
    }
    this.count += values.length;
  }

  /**
   * The clipping range with the least expected squared error of symmetric int8 quantization
   * (127 steps each side) over the histogram: candidates are the bin edges from the 99th
   * percentile up to max. Values under half a step round to 0 (error x^2), others are off by a
   * uniform rounding error (step^2 / 12), clipped ones by |x| - r.
   */
  mseRange(): number {
    if (this.count === 0) return 0;
    const lo = binOf(this.percentile(99));
    const hi = binOf(this.maxAbs);
    let best = this.maxAbs;
    let bestErr = this.quantizationError(this.maxAbs);
    for (let b = lo; b < hi; b++) {
      const r = upperEdge(b);
      const err = this.quantizationError(r);
      if (err < bestErr) {
        bestErr = err;
        best = r;
      }
    }
    return best;
  }

  /** Expected sum of squared errors when |x| is quantized to 127 steps over [0, r] (bin centres stand for their values). */
  quantizationError(r: number): number {
    const step = r / 127;
    let err = 0;
    for (let b = 0; b <= BIN_COUNT; b++) {
      const n = this.bins[b];
      if (n === 0) continue;
      const v = Math.min(this.maxAbs, b === 0 ? 0 : 2 ** (MIN_EXP + (b - 0.5) / BINS_PER_OCTAVE));
      err += n * (v > r ? (v - r) ** 2 : v < step / 2 ? v * v : (step * step) / 12);
    }
    return err;
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
    if (method === 'mse') return this.mseRange();
    const p = Number(method.slice('percentile-'.length));
    return this.percentile(p);
  }

  merge(other: RangeStats): void {
    if (!!this.channels !== !!other.channels && this.count > 0 && other.count > 0)
      throw new RangeError('calibration: merging statistics with and without per-channel data');
    if (this.channels && other.channels && this.channels.maxAbs.length !== other.channels.maxAbs.length)
      throw new RangeError('calibration: merging per-channel statistics of different widths');
    if (other.channels) {
      this.channels ??= {
        maxAbs: new Float64Array(other.channels.maxAbs.length),
        sumSquares: new Float64Array(other.channels.maxAbs.length),
        rows: 0,
      };
      const ch = this.channels;
      for (let c = 0; c < ch.maxAbs.length; c++) {
        ch.maxAbs[c] = Math.max(ch.maxAbs[c], other.channels.maxAbs[c]);
        ch.sumSquares[c] += other.channels.sumSquares[c];
      }
      ch.rows += other.channels.rows;
    }
    this.maxAbs = Math.max(this.maxAbs, other.maxAbs);
    this.count += other.count;
    for (let b = 0; b <= BIN_COUNT; b++) this.bins[b] += other.bins[b];
  }

  /** Plain data (for saving a calibration and replanning later without the float model). */
  toJSON(): RangeStatsJson {
    const bins: [number, number][] = [];
    this.bins.forEach((n, b) => {
      if (n) bins.push([b, n]);
    });
    const ch = this.channels;
    return {
      maxAbs: this.maxAbs,
      count: this.count,
      bins,
      channels: ch && { maxAbs: [...ch.maxAbs], sumSquares: [...ch.sumSquares], rows: ch.rows },
    };
  }

  static fromJSON(j: RangeStatsJson): RangeStats {
    const s = new RangeStats();
    s.maxAbs = j.maxAbs;
    s.count = j.count;
    for (const [b, n] of j.bins) {
      if (!Number.isInteger(b) || b < 0 || b > BIN_COUNT)
        throw new RangeError(`calibration statistics: bin ${b} is outside [0, ${BIN_COUNT}]`);
      s.bins[b] = n;
    }
    if (j.channels)
      s.channels = {
        maxAbs: Float64Array.from(j.channels.maxAbs),
        sumSquares: Float64Array.from(j.channels.sumSquares),
        rows: j.channels.rows,
      };
    return s;
  }
}

export interface RangeStatsJson {
  maxAbs: number;
  count: number;
  bins: [number, number][];
  channels?: { maxAbs: number[]; sumSquares: number[]; rows: number };
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

  /** `width`: the row length of [rows, width] values, for per-channel statistics. */
  observe(name: string, values: ArrayLike<number>, width?: number): void {
    let s = this.stats.get(name);
    if (!s) {
      s = new RangeStats();
      this.stats.set(name, s);
    }
    s.observe(values, `activation "${name}"`, width);
  }

  get(name: string): RangeStats {
    const s = this.stats.get(name);
    if (!s) throw new Error(`calibration has no statistics for "${name}"`);
    return s;
  }

  ranges(method: RangeMethod): Map<string, number> {
    return new Map([...this.stats].map(([k, s]) => [k, s.range(method)]));
  }

  /** Per-channel statistics of every tensor observed with its width (the planner's outlier evidence). */
  channelStats(): Map<string, ChannelStats> {
    const out = new Map<string, ChannelStats>();
    for (const [k, s] of this.stats) if (s.channels) out.set(k, s.channels);
    return out;
  }

  toJSON(): Record<string, RangeStatsJson> {
    return Object.fromEntries([...this.stats].map(([k, s]) => [k, s.toJSON()]));
  }

  static fromJSON(j: Record<string, RangeStatsJson>): RangeObserver {
    const o = new RangeObserver();
    for (const [k, s] of Object.entries(j)) o.stats.set(k, RangeStats.fromJSON(s));
    return o;
  }
}
