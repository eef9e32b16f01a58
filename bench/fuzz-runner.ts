/**
 * Runs fuzz cases in child processes (child_process.fork with tsx), so that a case which kills its
 * process (a segfault, an abort, running out of memory) is counted as a crash and one that does not
 * finish within the per-case timeout is counted as a hang; the runner replaces the child and goes on.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CaseResult, CaseSpec } from './fuzz-cases.js';

export interface RunnerOptions {
  /** Child processes at once (default 1). */
  workers?: number;
  /** Per case, in ms (default 20 s). */
  timeoutMs?: number;
  /** Time for a fresh child to load its modules and build the subjects, until its first case starts, in ms (default 180 s). */
  startupMs?: number;
  /** Cases sent to a child at a time (default 50). */
  batch?: number;
  onResult?: (r: CaseResult) => void;
}

const WORKER = fileURLToPath(new URL('./fuzz-worker.ts', import.meta.url));

export async function runInChildren(cases: CaseSpec[], options: RunnerOptions = {}): Promise<CaseResult[]> {
  const { workers = 1, timeoutMs = 20_000, startupMs = 180_000, batch = 50, onResult } = options;
  const queue = [...cases];
  const results: CaseResult[] = [];
  const record = (r: CaseResult) => {
    results.push(r);
    onResult?.(r);
  };

  const slot = async (): Promise<void> => {
    let failedStarts = 0;
    while (queue.length) {
      const work = queue.splice(0, batch);
      // Runs `work` in one child; what a dead child left undone goes back to the front of the queue.
      const rest = await runBatch(work, timeoutMs, startupMs, record);
      queue.unshift(...rest);
      if (rest.length !== work.length) failedStarts = 0;
      // A child that cannot start is the harness's problem (or the machine's), not a case's.
      else if (++failedStarts === 3) throw new Error(`fuzz: three child processes in a row ran none of their cases`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, workers) }, slot));
  if (results.length !== cases.length) throw new Error(`fuzz: ${results.length} results for ${cases.length} cases`);
  return results;
}

function runBatch(
  work: CaseSpec[],
  timeoutMs: number,
  startupMs: number,
  record: (r: CaseResult) => void,
): Promise<CaseSpec[]> {
  return new Promise((resolve) => {
    const child: ChildProcess = fork(WORKER, [], {
      execArgv: ['--import', 'tsx', '--stack-size=984'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    let current: CaseSpec | undefined;
    let pending = [...work];
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, onExpire: () => void) => {
      clearTimeout(timer);
      timer = setTimeout(onExpire, ms);
    };
    const finish = (rest: CaseSpec[]) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      child.removeAllListeners();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(rest);
    };
    const charge = (spec: CaseSpec, outcome: 'crash' | 'hang', message: string) => {
      record({ ...spec, kind: 'unknown (replay it)', subject: '-', detail: '', outcome, message });
      pending = pending.filter((p) => p !== spec);
    };
    const broken = (why: string) => {
      console.error(`fuzz: a child process ${why}: ${stderr.slice(-600)}`);
      finish(pending);
    };
    arm(startupMs, () => broken(`did not start within ${startupMs} ms`));
    child.on('message', (m: { ready?: true; start?: CaseSpec; result?: CaseResult; done?: true }) => {
      if (m.ready) {
        child.send({ cases: work });
        return;
      }
      if (m.start) {
        current = pending.find((p) => p.family === m.start!.family && p.seed === m.start!.seed);
        arm(timeoutMs, () => {
          charge(current!, 'hang', `no result within ${timeoutMs / 1000} s`);
          finish(pending);
        });
      } else if (m.result) {
        record(m.result);
        pending = pending.filter((p) => p !== current);
        current = undefined;
      } else if (m.done) finish([]);
    });
    child.on('exit', (code, signal) => {
      if (finished) return;
      if (current)
        charge(
          current,
          'crash',
          `the process died (${signal ? `signal ${signal}` : `exit code ${code}`}): ${stderr.slice(-600)}`,
        );
      else if (pending.length === work.length) return broken(`died before its first case (${signal ?? code})`);
      finish(pending);
    });
  });
}
