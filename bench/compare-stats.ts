/** Summary statistics of repeated timings (nearest-rank percentiles, so values are real runs). */

export interface TimingSummary {
  medianMs: number;
  minMs: number;
  p90Ms: number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile: the smallest run with at least p% of runs at or below it. */
export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function summarize(runsMs: number[]): TimingSummary {
  if (!runsMs.length) throw new Error('summarize: no runs');
  return { medianMs: median(runsMs), minMs: Math.min(...runsMs), p90Ms: percentile(runsMs, 90) };
}
