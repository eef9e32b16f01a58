/**
 * What the page's side-by-side panels (generation, translation) share: element lookup, the
 * message box, and one progress bar over the loads of an INT8 and an FP32 model.
 */
import type { Precision } from '../src/index.js';
import type { PairProgress } from './engine.js';

export const PRECISIONS: readonly Precision[] = ['int8', 'fp32'];
const STAGES: PairProgress['stage'][] = ['download', 'convert', 'compile', 'ready'];

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`demo page: no element #${id}`);
  return e as T;
}

/** A column's [data-field] element. */
export function field(column: HTMLElement, name: string): HTMLElement {
  const e = column.querySelector<HTMLElement>(`[data-field="${name}"]`);
  if (!e) throw new Error(`demo page: #${column.id} has no [data-field="${name}"]`);
  return e;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Shows a message in `box`: a bold title, then the detail (text only, never markup). */
export function showMessageIn(box: HTMLElement, title: string, detail: string): void {
  const b = document.createElement('b');
  b.textContent = title;
  const d = document.createElement('span');
  d.textContent = detail;
  box.replaceChildren(b, ' ', d);
  box.hidden = false;
}

export function clearMessageIn(box: HTMLElement): void {
  box.hidden = true;
  box.replaceChildren();
}

/**
 * Moves one bar over both loads: each precision owns its `span` of it, split evenly between the
 * load's stages; the bar never goes back.
 */
export function showPairProgress(
  ui: { progress: HTMLProgressElement; status: HTMLElement },
  span: Record<Precision, [number, number]>,
  p: PairProgress,
): void {
  const [from, to] = span[p.precision];
  const i = STAGES.indexOf(p.stage);
  const within = p.stage === 'ready' ? 1 : (i + Math.max(0, Math.min(1, p.fraction))) / (STAGES.length - 1);
  ui.progress.value = Math.max(ui.progress.value, from + (to - from) * within);
  ui.status.textContent = `${p.precision === 'int8' ? 'INT8' : 'FP32'}: ${p.message}`;
}
