/**
 * The part of a model object that is about its device rather than its task (see DeviceModel).
 */
import { SerialQueue } from './core/serial-queue.js';
import type { GpuLease } from './gpu/device.js';
import { type Gpu, GpuDeviceLostError } from './gpu/gpu.js';
import type { GpuMemory } from './gpu/profile.js';

/** How a model holds its device, and whether it may replace it after a loss (see BatchedModel.holdGpu). */
export interface DeviceHolding {
  /** Released by dispose(), and on recovery before a new lease is taken. */
  lease: GpuLease;
  /** A new lease after a loss; absent when the device is the caller's (it cannot be replaced). */
  reacquire?: () => Promise<GpuLease>;
  /** Rebuild after a loss (default true); false: calls fail with GpuDeviceLostError saying how to reload. */
  recover?: boolean;
}

/**
 * The runtimes the models run: what they hold, how to release it, and the GPU they are on (none for
 * the CPU backend, which has no device to lose).
 */
export interface Encoder {
  readonly gpu: Gpu | undefined;
  memory(): GpuMemory;
  dispose(): void;
}

/**
 * What every model object shares, whatever it runs: one call at a time in call order (its GPU
 * runtime reuses buffers from one call to the next), its hold on a device and the rebuild after a
 * loss, and dispose().
 */
export abstract class DeviceModel<E extends Encoder = Encoder> {
  abstract readonly kind: 'int8' | 'fp32';
  private holding?: DeviceHolding;
  protected disposed = false;
  private rebuilds = 0;
  /** The encoders reuse their buffers from one forward to the next: one call at a time, in call order. */
  private readonly queue = new SerialQueue();

  constructor(private current: E) {}

  /** The GPU encoder behind the model; replaced when the model recovers from a lost device. */
  get encoder(): E {
    return this.current;
  }

  /** Puts `next` in the place of the current runtime (on the same device), which is disposed. */
  protected replaceEncoder(next: E): void {
    const old = this.current;
    this.current = next;
    old.dispose();
  }

  /** A new encoder on `gpu` from what the model was made from (its program or float weights). */
  protected abstract rebuild(gpu: Gpu): Promise<E>;

  memory(): GpuMemory {
    if (this.disposed) return { weightBytes: 0, activationBytes: 0 };
    return this.current.memory();
  }

  /** Where the model runs: 'webgpu', or 'cpu' (loadModel's device option, or 'auto' without a WebGPU adapter). */
  get device(): 'webgpu' | 'cpu' {
    return this.current.gpu ? 'webgpu' : 'cpu';
  }

  /** Times this model rebuilt itself on a new device after losing one. */
  get recoveries(): number {
    return this.rebuilds;
  }

  /** Makes dispose() destroy `gpu` too: the model owns it (and does not replace it after a loss). */
  ownGpu(gpu: Gpu): this {
    return this.holdGpu({ lease: { gpu, release: () => gpu.destroy() } });
  }

  /**
   * How the model holds its device (loadModel calls this): dispose() releases the lease, and after a
   * loss `reacquire` gives the device to rebuild on. Without a holding the device is the caller's.
   */
  holdGpu(holding: DeviceHolding): this {
    if (holding.lease.gpu !== this.current.gpu)
      throw new Error('holdGpu: the lease is for another device than the model runs on');
    this.holding = holding;
    return this;
  }

  protected usable(method: string): void {
    if (this.disposed) throw new Error(`${method}: this ${this.kind} model was disposed; load it again to use it`);
  }

  /**
   * Every method that touches the GPU runs through here (a future generate or translate too): after
   * the calls made before it have settled, never while the model is disposed, never once `signal`
   * has fired, and on a device that works (rebuilt first if it was lost).
   */
  protected exclusive<T>(method: string, signal: AbortSignal | undefined, job: () => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      this.usable(method);
      await this.ensureDevice(method);
      return job();
    }, signal);
  }

  /**
   * A lost device is noticed at the start of a call (a call in flight at the loss rejects with
   * GpuDeviceLostError from its wait). The model then takes a new device and rebuilds its encoder
   * from the program or weights it kept, unless it may not: recover false, or a device given by the
   * caller, which the model cannot replace. A failed rebuild leaves the model to try again next call.
   */
  private async ensureDevice(method: string): Promise<void> {
    const old = this.current;
    const lost = old.gpu ? await old.gpu.lostNow() : undefined;
    if (!lost) return;
    const why = `${method}: the GPU device of this ${this.kind} model was lost (${lost.reason}${lost.message ? `: ${lost.message}` : ''})`;
    const holding = this.holding;
    if (holding?.recover === false) {
      throw new GpuDeviceLostError(
        `${why}. It was loaded with recover: false, so it does not rebuild itself: dispose() it and call loadModel() again (or load it without recover: false to rebuild automatically).`,
      );
    }
    if (!holding?.reacquire) {
      throw new GpuDeviceLostError(
        `${why}. That device was given by the caller (loadModel's gpu option, or a model made on a Gpu directly), and the model cannot replace a device it does not own: request a new one with requestGpu() and load the model again on it (or load it without a gpu option, so that it recovers by itself).`,
      );
    }
    old.dispose();
    holding.lease.release();
    const lease = await holding.reacquire();
    try {
      this.current = await this.rebuild(lease.gpu);
    } catch (e) {
      lease.release();
      throw e;
    }
    holding.lease = lease;
    this.rebuilds++;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // A forward in flight still uses the encoder's buffers (and the device): release them once it
    // has settled. Calls still queued find the model disposed and reject without running.
    this.queue.whenIdle(() => {
      this.current.dispose();
      this.holding?.lease.release();
    });
  }
}
