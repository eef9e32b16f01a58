/**
 * Outlier channels: the few channels of an activation whose range is far above the others'
 * (pretrained BERT-family residual streams; Bondarenko et al. 2021, LLM.int8()). With one int8
 * scale per tensor they set the scale and leave the other channels a few bits. Found from
 * per-channel maxima (RangeStats.channels), measured against the median channel, which a handful of
 * outliers cannot move.
 */

/**
 * A channel is an outlier when its max |x| exceeds this multiple of the median channel's. The
 * shared checkpoints without planted outliers stay under it on every tensor the planner smooths
 * (largest ratio in docs/accuracy.md's report), with the outlier checkpoint 4-10x above it.
 */
export const OUTLIER_FACTOR = 8;

export function median(values: ArrayLike<number>): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return 0;
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Channels whose max |x| is over `factor` times the median channel's, largest first. */
export function outlierChannels(maxAbs: ArrayLike<number>, factor = OUTLIER_FACTOR): number[] {
  if (!(factor > 1)) throw new RangeError(`outlier factor ${factor} must be above 1`);
  const m = median(maxAbs);
  // A mostly-zero tensor (e.g. after ReLU) has no scale to measure outliers against.
  if (!(m > 0)) return [];
  const out: number[] = [];
  for (let c = 0; c < maxAbs.length; c++) if (maxAbs[c] > factor * m) out.push(c);
  return out.sort((a, b) => maxAbs[b] - maxAbs[a]);
}
