/**
 * One prediction panel per precision: label, a score bar and the latency. The figures also go to
 * data- attributes so that tests read numbers, not formatted text.
 */
import { formatMs } from './charts.js';

export interface ShownPrediction {
  label: string;
  score: number;
  latencyMs: number;
}

function field(panel: HTMLElement, name: string): HTMLElement {
  const e = panel.querySelector<HTMLElement>(`[data-field="${name}"]`);
  if (!e) throw new Error(`demo page: panel #${panel.id} has no [data-field="${name}"]`);
  return e;
}

export function showPrediction(panel: HTMLElement, p: ShownPrediction): void {
  const label = field(panel, 'label');
  label.textContent = p.label;
  // Colour only for labels whose polarity is unambiguous; other label sets stay neutral.
  label.className =
    `label ${/^(pos|positive)$/i.test(p.label) ? 'positive' : /^(neg|negative)$/i.test(p.label) ? 'negative' : ''}`.trim();
  field(panel, 'bar').style.width = `${(100 * p.score).toFixed(1)}%`;
  field(panel, 'score').textContent = `score ${(100 * p.score).toFixed(1)}%`;
  field(panel, 'latency').textContent = `latency ${formatMs(p.latencyMs)}`;
  panel.dataset.label = p.label;
  panel.dataset.score = String(p.score);
  panel.dataset.latencyMs = String(p.latencyMs);
}

/**
 * For embedding models (no labels) or a precision not available: a short line instead of a label,
 * and in the figures line the latency or the reason.
 */
export function showNote(panel: HTMLElement, note: string, more: { latencyMs?: number; detail?: string } = {}): void {
  const label = field(panel, 'label');
  label.textContent = note;
  label.className = 'label';
  field(panel, 'bar').style.width = '0';
  field(panel, 'score').textContent = more.detail ?? 'score –';
  field(panel, 'latency').textContent =
    more.latencyMs === undefined ? 'latency –' : `latency ${formatMs(more.latencyMs)}`;
  delete panel.dataset.label;
  delete panel.dataset.score;
  if (more.latencyMs === undefined) delete panel.dataset.latencyMs;
  else panel.dataset.latencyMs = String(more.latencyMs);
}

export function clearPrediction(panel: HTMLElement): void {
  showNote(panel, '–');
}
