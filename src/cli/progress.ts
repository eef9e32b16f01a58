/**
 * Progress on stderr. On a terminal: one line per stage redrawn in place, a bar with the count or
 * percentage, elapsed time and an estimate of the time left. Elsewhere (a pipe, a log file, CI):
 * whole lines only, one when a stage starts, one per tenth of it and one when it ends, so logs read
 * line by line and never run together as `\r`-separated updates do.
 */
import { TTY_COLUMNS_ENV } from './quiet-stderr.js';

export interface ProgressSink {
  write(text: string): void;
  /** Redraw in place (a terminal) or write whole lines. */
  readonly tty: boolean;
  readonly columns: number;
  /** Milliseconds, monotonic. */
  now(): number;
}

/** This process's stderr; a child behind the CLI's stderr filter is told by its parent that the far end is a terminal. */
export function stderrSink(): ProgressSink {
  const columns = Number(process.env[TTY_COLUMNS_ENV]);
  const tty = !!process.stderr.isTTY || columns > 0;
  return {
    write: (text) => process.stderr.write(text),
    tty,
    columns: process.stderr.columns || columns || 80,
    now: () => performance.now(),
  };
}

/** "0:07", "12:34", "1:02:03". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const [h, m, sec] = hms;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

const BAR_WIDTH = 20;
/** Terminal redraws at most this often (the last update of a stage is always drawn). */
const REDRAW_MS = 100;

interface Stage {
  name: string;
  start: number;
  /** The last tenth written as a line (pipes). */
  tenth: number;
  lastDraw: number;
}

export class TerminalProgress {
  private stage: Stage | undefined;
  /** A terminal line is drawn without its newline. */
  private lineOpen = false;

  constructor(private readonly sink: ProgressSink = stderrSink()) {}

  /** `done` of `total` items of a stage (e.g. 120 of 872 sentences). */
  count(name: string, done: number, total: number, unit = ''): void {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const what = `${done}/${total}${unit ? ` ${unit}` : ''}`;
    this.update(name, fraction, what, done >= total);
  }

  /** A loadModel progress event; 'ready' ends the load. */
  load(p: { stage: string; fraction: number; message: string }): void {
    if (p.stage === 'ready') {
      this.finishStage();
      this.line(`ready: ${p.message}`);
      this.stage = undefined;
      return;
    }
    this.update(p.stage, p.fraction, p.message, false);
  }

  /** A line of its own (a note), after ending any bar being drawn. */
  note(text: string): void {
    this.endLine();
    this.sink.write(`${text}\n`);
  }

  /** Ends a bar drawn without its newline, so that what follows (an error) starts on its own line. */
  endLine(): void {
    if (!this.lineOpen) return;
    this.sink.write('\n');
    this.lineOpen = false;
  }

  private update(name: string, fraction: number, what: string, last: boolean): void {
    const now = this.sink.now();
    if (this.stage?.name !== name) {
      this.finishStage();
      this.stage = { name, start: now, tenth: -1, lastDraw: -Infinity };
    }
    const stage = this.stage;
    const elapsed = now - stage.start;
    const f = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
    // An estimate needs some progress and some time to go on.
    const eta = !last && f > 0.01 && f < 1 && elapsed > 1000 ? `, ETA ${formatDuration((elapsed * (1 - f)) / f)}` : '';
    const times = `${formatDuration(elapsed)} elapsed${eta}`;
    if (this.sink.tty) {
      if (!last && now - stage.lastDraw < REDRAW_MS) return;
      stage.lastDraw = now;
      const filled = Math.round(f * BAR_WIDTH);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
      const text = `${name} ${bar} ${Math.floor(f * 100)
        .toString()
        .padStart(3)}% ${what}  ${times}`;
      // Clip to the terminal: a wrapped line cannot be redrawn by \r.
      this.sink.write(`\r\x1b[2K${text.slice(0, Math.max(10, this.sink.columns - 1))}`);
      this.lineOpen = true;
      if (last) {
        this.endLine();
        this.stage = undefined;
      }
      return;
    }
    const tenth = Math.floor(f * 10);
    if (last || tenth > stage.tenth) {
      stage.tenth = tenth;
      this.sink.write(`${name}: ${what} (${Math.floor(f * 100)}%), ${times}\n`);
    }
    if (last) this.stage = undefined;
  }

  /** A stage left for another: a terminal keeps its last drawn line. */
  private finishStage(): void {
    this.endLine();
  }

  private line(text: string): void {
    this.endLine();
    this.sink.write(`${text}\n`);
  }
}
