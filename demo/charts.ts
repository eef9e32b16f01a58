/**
 * The page's two charts, drawn as plain DOM bars (no chart library, so nothing to download and the
 * numbers stay selectable text that screen readers read): GPU time per kernel family, and GPU
 * memory of the two precisions.
 */
import type { GpuMemory, KernelFamilyTime, Precision, Profile } from '../src/index.js';

/** A profile, or why there is none (e.g. an adapter without 'timestamp-query'). */
export type ProfileOutcome = { profile: Profile } | { error: string };

interface BarRow {
  label: string;
  /** Hover text for the label: what the short label leaves out. */
  title?: string;
  value: number;
  text: string;
  className?: string;
  data?: Record<string, string>;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A <dl> of label / bar / value rows, bars scaled to `max` so that several lists share one scale. */
function barList(rows: BarRow[], max: number): HTMLDListElement {
  const dl = el('dl', 'bars');
  for (const r of rows) {
    const dt = el('dt', undefined, r.label);
    if (r.title) dt.title = r.title;
    const track = el('dd', 'track');
    track.setAttribute('aria-hidden', 'true');
    const bar = el('div', `bar ${r.className ?? ''}`.trim());
    bar.style.width = `${max > 0 ? Math.min(100, (100 * r.value) / max) : 0}%`;
    track.append(bar);
    const value = el('dd', 'value', r.text);
    for (const [k, v] of Object.entries(r.data ?? {})) dt.dataset[k] = v;
    dl.append(dt, track, value);
  }
  return dl;
}

export function formatMs(ms: number): string {
  return ms >= 10 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

const NAMES: Record<Precision, string> = { int8: 'INT8', fp32: 'FP32' };

/** One chart per precision, side by side, on a common time scale so that bar lengths compare. */
export function renderKernelCharts(container: HTMLElement, outcomes: Partial<Record<Precision, ProfileOutcome>>): void {
  const grouped = new Map<Precision, KernelFamilyTime[]>();
  for (const [p, o] of Object.entries(outcomes) as [Precision, ProfileOutcome][])
    if ('profile' in o) grouped.set(p, o.profile.families);
  const max = Math.max(0, ...[...grouped.values()].flat().map((f) => f.ms));
  const charts: HTMLElement[] = [];
  for (const [p, o] of Object.entries(outcomes) as [Precision, ProfileOutcome][]) {
    const chart = el('section', `chart ${p}`);
    chart.dataset.precision = p;
    const h = el('h3', undefined, `${NAMES[p]} `);
    chart.append(h);
    if ('error' in o) {
      chart.append(el('p', 'note muted', `No kernel times: ${o.error}`));
    } else {
      const families = grouped.get(p)!;
      const total = o.profile.totalMs;
      h.append(el('span', 'total', `${formatMs(total)} on the GPU, ${o.profile.kernels.length} dispatches`));
      chart.dataset.totalMs = String(total);
      chart.append(
        barList(
          families.map((f) => ({
            label: f.family,
            title: `${f.family}: ${f.dispatches} dispatch${f.dispatches === 1 ? '' : 'es'}`,
            value: f.ms,
            text: formatMs(f.ms),
            data: { family: f.family, ms: String(f.ms) },
          })),
          max,
        ),
      );
    }
    charts.push(chart);
  }
  container.replaceChildren(...charts);
}

/** Weights and activations of both precisions as four bars on one scale, with the INT8/FP32 ratios. */
export function renderMemory(container: HTMLElement, memory: Partial<Record<Precision, GpuMemory>>): void {
  const rows: BarRow[] = [];
  const parts = [
    ['weightBytes', 'weights'],
    ['activationBytes', 'activations'],
  ] as const;
  for (const [field, what] of parts) {
    for (const p of ['int8', 'fp32'] as const) {
      const m = memory[p];
      if (!m) continue;
      rows.push({
        label: `${NAMES[p]} ${what}`,
        value: m[field],
        text: formatBytes(m[field]),
        className: p,
        data: { precision: p, part: what, bytes: String(m[field]) },
      });
    }
  }
  const max = Math.max(0, ...rows.map((r) => r.value));
  const chart = el('div', 'chart');
  chart.append(barList(rows, max));
  const { int8, fp32 } = memory;
  if (int8 && fp32) {
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(3)}x` : 'n/a');
    chart.append(
      el(
        'p',
        'note muted',
        `INT8 / FP32: weights ${ratio(int8.weightBytes, fp32.weightBytes)}, activations ${ratio(int8.activationBytes, fp32.activationBytes)}, ` +
          `total ${ratio(int8.weightBytes + int8.activationBytes, fp32.weightBytes + fp32.activationBytes)}.`,
      ),
    );
  }
  container.replaceChildren(chart);
}
