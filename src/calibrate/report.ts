/**
 * The per-tensor calibration report (`convert --report`, and a compact summary in a converted
 * file's provenance): for every calibrated tensor, how far its largest channels are above the
 * rest, which is what one int8 scale per tensor pays for. Read from RangeStats and its per-channel
 * statistics; nothing here changes a plan.
 */
import { median, OUTLIER_FACTOR, outlierChannels } from '../plan/outliers.js';
import type { RangeObserver } from './range-observer.js';

export interface TensorCalibrationReport {
  tensor: string;
  /** max |x| over calibration: the range 'max' calibration maps onto 127. */
  maxAbs: number;
  /** 99.9th percentile of |x| over every value of the tensor. */
  p999: number;
  /** 99.9th percentile (nearest rank) and median of the per-channel maxima. */
  channelMaxP999: number;
  channelMaxMedian: number;
  /** The largest channels by max |x|: index, max and share of the tensor's sum of squares. */
  top: { channel: number; maxAbs: number; share: number }[];
  /** Channels over OUTLIER_FACTOR x the median channel max (what the planner may smooth). */
  outliers: number[];
  /** Share of the sum of squares held by the outlier channels. */
  outlierShare: number;
  /** max |x| over the other channels. */
  restMax: number;
  /** log2(maxAbs / restMax): int8 bits the outlier channels take from every other channel. */
  bitsLost: number;
}

function nearestRank(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** One entry per tensor observed with per-channel statistics, in observation order. */
export function calibrationReport(observer: RangeObserver, topCount = 5): TensorCalibrationReport[] {
  const out: TensorCalibrationReport[] = [];
  for (const [tensor, s] of observer.stats) {
    const ch = s.channels;
    if (!ch || s.count === 0) continue;
    const W = ch.maxAbs.length;
    let total = 0;
    for (let c = 0; c < W; c++) total += ch.sumSquares[c];
    const share = (c: number) => (total > 0 ? ch.sumSquares[c] / total : 0);
    const order = Array.from({ length: W }, (_, c) => c).sort((a, b) => ch.maxAbs[b] - ch.maxAbs[a]);
    const outliers = outlierChannels(ch.maxAbs);
    const isOutlier = new Set(outliers);
    let restMax = 0;
    for (let c = 0; c < W; c++) if (!isOutlier.has(c)) restMax = Math.max(restMax, ch.maxAbs[c]);
    out.push({
      tensor,
      maxAbs: s.maxAbs,
      p999: s.percentile(99.9),
      channelMaxP999: nearestRank(Float64Array.from(ch.maxAbs).sort(), 99.9),
      channelMaxMedian: median(ch.maxAbs),
      top: order.slice(0, topCount).map((c) => ({ channel: c, maxAbs: ch.maxAbs[c], share: share(c) })),
      outliers,
      outlierShare: outliers.reduce((a, c) => a + share(c), 0),
      restMax,
      bitsLost: restMax > 0 ? Math.log2(s.maxAbs / restMax) : 0,
    });
  }
  return out;
}

const num = (x: number) => (x >= 100 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));

export function formatCalibrationReport(report: TensorCalibrationReport[]): string {
  const width = Math.max(6, ...report.map((r) => r.tensor.length));
  const head = `${'tensor'.padEnd(width)} ${'max|x|'.padStart(8)} ${'p99.9|x|'.padStart(8)} ${'ch p99.9'.padStart(8)} ${'ch med'.padStart(8)} ${'bits lost'.padStart(9)}  top channels (max, share of sum x^2)`;
  const lines = [
    `outlier channels: max over ${OUTLIER_FACTOR}x the median channel max; bits lost = log2(max|x| / max of the other channels)`,
    head,
  ];
  for (const r of report) {
    const top = r.top
      .map(
        (t) =>
          `${t.channel}${r.outliers.includes(t.channel) ? '*' : ''} ${num(t.maxAbs)} ${(100 * t.share).toFixed(0)}%`,
      )
      .join(', ');
    lines.push(
      `${r.tensor.padEnd(width)} ${num(r.maxAbs).padStart(8)} ${num(r.p999).padStart(8)} ${num(r.channelMaxP999).padStart(8)} ${num(r.channelMaxMedian).padStart(8)} ${r.bitsLost.toFixed(1).padStart(9)}  ${top}`,
    );
  }
  const flagged = report.filter((r) => r.outliers.length > 0);
  lines.push(
    flagged.length
      ? `${flagged.length} of ${report.length} tensors have outlier channels (* above)`
      : `no outlier channels in ${report.length} tensors`,
  );
  return lines.join('\n');
}

/** What a file's provenance keeps: the tensors with outlier channels, compactly. */
export function calibrationSummary(report: TensorCalibrationReport[]): {
  tensors: number;
  withOutliers: { tensor: string; channels: number[]; ratio: number; bitsLost: number }[];
} {
  return {
    tensors: report.length,
    withOutliers: report
      .filter((r) => r.outliers.length > 0)
      .map((r) => ({
        tensor: r.tensor,
        channels: r.outliers,
        ratio: Number((r.maxAbs / r.channelMaxMedian).toFixed(1)),
        bitsLost: Number(r.bitsLost.toFixed(2)),
      })),
  };
}
