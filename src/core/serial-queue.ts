/**
 * One job at a time, in call order. A model's GPU encoder reuses its activation and read-back
 * buffers from one forward to the next, so two calls in flight on one model would overwrite each
 * other's inputs and map one read-back buffer twice; every public call on a model goes through its
 * queue. A job waiting its turn can be cancelled with an AbortSignal and then never starts.
 */

/** The error a cancelled call rejects with: the signal's reason, or an AbortError when it has none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('the operation was aborted', 'AbortError');
}

/** Throws the signal's reason when it has fired (AbortSignal.throwIfAborted, for runtimes without it). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

interface Waiter {
  start(): void;
}

export class SerialQueue {
  private readonly waiting: Waiter[] = [];
  private busy = false;
  private idleCallbacks: (() => void)[] = [];

  /** True when no job runs and none waits. */
  get idle(): boolean {
    return !this.busy && this.waiting.length === 0;
  }

  /**
   * Runs `job` after every job queued before it has settled. An aborted `signal` rejects the call
   * with its reason: at once if it fired before, and without running `job` if it fires while the
   * job waits. Once the job runs, stopping it is the job's business (check the signal between steps).
   */
  run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i < 0) return;
        this.waiting.splice(i, 1);
        reject(abortReason(signal!));
        if (this.idle) this.settle();
      };
      const waiter: Waiter = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          let result: Promise<T>;
          try {
            result = job();
          } catch (e) {
            result = Promise.reject(e);
          }
          result.then(resolve, reject).finally(() => this.next());
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      if (!this.busy) this.next();
    });
  }

  /** Calls `callback` once the queue is idle: now if it is, else after the last queued job settles. */
  whenIdle(callback: () => void): void {
    if (this.idle) callback();
    else this.idleCallbacks.push(callback);
  }

  private next(): void {
    const waiter = this.waiting.shift();
    this.busy = waiter !== undefined;
    if (waiter) waiter.start();
    else this.settle();
  }

  private settle(): void {
    const callbacks = this.idleCallbacks;
    this.idleCallbacks = [];
    for (const c of callbacks) c();
  }
}
