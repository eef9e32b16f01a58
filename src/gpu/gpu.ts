/**
 * A GPUDevice with what every kernel needs around it: a pipeline cache keyed by shader options,
 * buffer creation and read-back, waits that do not starve SwiftShader in Node, and device-loss
 * tracking so that work on a lost device fails with a clear error instead of hanging.
 */
import type { AdapterSummary, GpuFeatureReport, GpuLimitsReport, GpuRuntime } from './adapter.js';
import { type BindingKind, bindingSignature } from './bindings.js';

export class GpuDeviceLostError extends Error {
  override name = 'GpuDeviceLostError';
}

export type TypedArray = Int8Array | Uint8Array | Int32Array | Uint32Array | Float32Array | Uint16Array | Int16Array;

const STORAGE = 0x80; // GPUBufferUsage.STORAGE
const COPY_SRC = 0x04;
const COPY_DST = 0x08;
const MAP_READ = 0x01;
const UNIFORM = 0x40;
const QUERY_RESOLVE = 0x200;
const MAP_MODE_READ = 0x01;
const COMPUTE = 0x4; // GPUShaderStage.COMPUTE

/** A bind group layout and the one-group pipeline layout over it, shared by every pipeline of one binding signature. */
export interface BindingLayout {
  readonly signature: string;
  readonly kinds: readonly BindingKind[];
  readonly bindGroupLayout: GPUBindGroupLayout;
  readonly pipelineLayout: GPUPipelineLayout;
}

/** One pipeline compile: when it was asked for and when it finished, in performance.now() ms. */
export interface PipelineCompile {
  key: string;
  label: string;
  startMs: number;
  /** Undefined while compiling (or when it failed). */
  endMs?: number;
}

export class Gpu {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /**
   * Compiles by WGSL text: two keys whose generators emit the same module (options that do not
   * reach the code) share one compile, which on SwiftShader costs 0.1-5 s of CPU per pipeline.
   */
  private readonly byCode = new Map<string, Promise<GPUComputePipeline>>();
  private readonly compiles: PipelineCompile[] = [];
  /** Pipelines whose compile finished, for the synchronous lookup of Dispatch.prepare. */
  private readonly ready = new Map<string, GPUComputePipeline>();
  /** Binding signature of each pipeline key (equal keys mean equal code, so equal signatures). */
  private readonly signatures = new Map<string, string>();
  private readonly layouts = new Map<string, BindingLayout>();
  private bindGroups = 0;
  private uniforms = 0;
  private lostInfo: GPUDeviceLostInfo | undefined;
  private destroyed = false;
  /** Rejections of the waits in progress, called if the device is lost meanwhile. */
  private readonly lostWaiters = new Set<(error: GpuDeviceLostError) => void>();

  constructor(
    readonly device: GPUDevice,
    readonly runtime: GpuRuntime,
    readonly adapter: AdapterSummary,
    readonly features: GpuFeatureReport,
    readonly limits: GpuLimitsReport,
  ) {
    device.lost.then((info) => {
      this.lostInfo = info;
      const error = new GpuDeviceLostError(`The GPU device was lost (${info.reason}) while waiting: ${info.message}`);
      for (const reject of this.lostWaiters) reject(error);
      this.lostWaiters.clear();
    });
  }

  /** Why the device is gone, or undefined while it works. */
  get lost(): GPUDeviceLostInfo | undefined {
    return this.lostInfo;
  }

  /**
   * The loss as seen now, including a loss whose notification is still queued (the device was
   * destroyed earlier in this task, and `lost` is set only once its promise's callbacks have run).
   */
  async lostNow(): Promise<GPUDeviceLostInfo | undefined> {
    if (this.lostInfo) return this.lostInfo;
    // An already settled device.lost wins the race: its reaction is queued first.
    return Promise.race([this.device.lost, Promise.resolve(undefined)]);
  }

  assertAlive(): void {
    if (this.lostInfo && !this.destroyed) {
      throw new GpuDeviceLostError(
        `The GPU device was lost (${this.lostInfo.reason}): ${this.lostInfo.message || 'no message'}. Create a new runtime to continue.`,
      );
    }
    if (this.destroyed) throw new GpuDeviceLostError('This GPU context was destroyed.');
  }

  /**
   * Compiles (once per key) a compute pipeline; WGSL errors surface as exceptions naming the shader.
   * The pipeline layout is explicit, derived from the shader's binding declarations (see
   * bindingLayout), so a bind group made for one pipeline fits every pipeline of the same signature:
   * one bind group serves all the variants (tiles, key buckets) of a kernel family.
   */
  async pipeline(key: string, code: string, label = key): Promise<GPUComputePipeline> {
    this.assertAlive();
    let pending = this.pipelines.get(key);
    if (!pending) {
      // The promise is cached, so concurrent requests for one key (or one code) compile once.
      pending = this.byCode.get(code);
      if (!pending) {
        // Equal code means equal bindings, so the first key's layout serves every key of this code.
        const layout = this.layoutOf(key, code, label);
        const record: PipelineCompile = { key, label, startMs: performance.now() };
        this.compiles.push(record);
        pending = this.compile(code, label, layout.pipelineLayout);
        this.byCode.set(code, pending);
        pending.then(
          () => {
            record.endMs = performance.now();
          },
          () => this.byCode.delete(code),
        );
      }
      this.pipelines.set(key, pending);
      pending.then(
        (p) => this.ready.set(key, p),
        () => this.pipelines.delete(key),
      );
    }
    return pending;
  }

  /** Every compile started on this device, in order (keys sharing another key's code not repeated). */
  get pipelineCompiles(): readonly PipelineCompile[] {
    return this.compiles;
  }

  /** The compiled pipeline of a key, or undefined while it is compiling or was never requested. */
  readyPipeline(key: string): GPUComputePipeline | undefined {
    return this.ready.get(key);
  }

  /** The binding layout of a shader, parsed once per pipeline key. */
  layoutOf(key: string, code: string, label = key): BindingLayout {
    let signature = this.signatures.get(key);
    if (signature === undefined) {
      signature = bindingSignature(code, label).join(',');
      this.signatures.set(key, signature);
    }
    return this.bindingLayout(signature === '' ? [] : (signature.split(',') as BindingKind[]));
  }

  /**
   * The bind group layout for bindings 0..n-1 of group 0 with these kinds, and a pipeline layout
   * over it; created once per signature.
   */
  bindingLayout(kinds: readonly BindingKind[]): BindingLayout {
    this.assertAlive();
    const signature = kinds.join(',');
    let layout = this.layouts.get(signature);
    if (!layout) {
      const bindGroupLayout = this.device.createBindGroupLayout({
        label: `bindings(${signature})`,
        entries: kinds.map((type, binding) => ({ binding, visibility: COMPUTE, buffer: { type } })),
      });
      const pipelineLayout = this.device.createPipelineLayout({
        label: `layout(${signature})`,
        bindGroupLayouts: [bindGroupLayout],
      });
      layout = { signature, kinds, bindGroupLayout, pipelineLayout };
      this.layouts.set(signature, layout);
    }
    return layout;
  }

  private async compile(code: string, label: string, layout: GPUPipelineLayout): Promise<GPUComputePipeline> {
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label });
    let pipeline: GPUComputePipeline;
    let scopeError: GPUError | null = null;
    try {
      pipeline = await this.wait(() =>
        this.device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' }, label }),
      );
    } catch (e) {
      // A lost device answers no compilation-info request: its loss is the error.
      if (e instanceof GpuDeviceLostError) throw e;
      const info = await module.getCompilationInfo();
      const messages = info.messages.map((m) => `${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n');
      throw new Error(`Shader "${label}" failed to compile: ${(e as Error).message}\n${messages}`);
    } finally {
      // Nor does it settle error scopes reliably: do not wait on one once the device is gone.
      scopeError = this.lostInfo
        ? null
        : await Promise.race([this.device.popErrorScope(), this.device.lost.then(() => null)]);
    }
    if (scopeError) throw new Error(`Shader "${label}": ${scopeError.message}`);
    return pipeline;
  }

  /** A bind group over whole buffers at bindings 0..n-1; counted in bindGroupCount. */
  bindGroup(label: string, layout: BindingLayout, buffers: GPUBuffer[]): GPUBindGroup {
    this.assertAlive();
    if (buffers.length !== layout.kinds.length) {
      throw new RangeError(
        `${label}: ${buffers.length} buffers given, the shader declares ${layout.kinds.length} bindings (${layout.signature || 'none'})`,
      );
    }
    const group = this.device.createBindGroup({
      label,
      layout: layout.bindGroupLayout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    this.bindGroups++;
    return group;
  }

  /** Pipeline keys compiled or compiling (keys of equal code counted apart; see pipelineCompiles). */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /** Bind groups created through `bindGroup` since this Gpu was made. */
  get bindGroupCount(): number {
    return this.bindGroups;
  }

  /** Uniform buffers created through `uniform` / `uniformBuffer` since this Gpu was made. */
  get uniformBufferCount(): number {
    return this.uniforms;
  }

  /** A storage buffer, optionally filled; sizes are padded to 4 bytes as WebGPU requires. */
  storage(label: string, sizeOrData: number | TypedArray, extraUsage = 0): GPUBuffer {
    this.assertAlive();
    const byteLength = typeof sizeOrData === 'number' ? sizeOrData : sizeOrData.byteLength;
    const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
    if (size > this.limits.maxBufferSize) {
      throw new RangeError(`Buffer "${label}" needs ${size} bytes; this adapter allows ${this.limits.maxBufferSize}.`);
    }
    // Storage buffers are bound whole: a larger one would only fail later, at its bind group.
    if (size > this.limits.maxStorageBufferBindingSize) {
      throw new RangeError(
        `Buffer "${label}" needs ${size} bytes; this adapter binds at most ${this.limits.maxStorageBufferBindingSize} (maxStorageBufferBindingSize).`,
      );
    }
    const buffer = this.device.createBuffer({ label, size, usage: STORAGE | COPY_SRC | COPY_DST | extraUsage });
    if (typeof sizeOrData !== 'number') this.write(buffer, sizeOrData);
    return buffer;
  }

  uniform(label: string, data: Uint32Array | Int32Array | Float32Array): GPUBuffer {
    const buffer = this.uniformBuffer(label, data.byteLength);
    this.write(buffer, data);
    return buffer;
  }

  /** An empty uniform buffer of at least `byteLength` bytes (rounded up to 16), written later. */
  uniformBuffer(label: string, byteLength: number): GPUBuffer {
    this.assertAlive();
    const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
    const buffer = this.device.createBuffer({ label, size, usage: UNIFORM | COPY_DST });
    this.uniforms++;
    return buffer;
  }

  write(buffer: GPUBuffer, data: TypedArray, byteOffset = 0): void {
    const padded = data.byteLength % 4 === 0 ? data : padTo4(data);
    this.device.queue.writeBuffer(buffer, byteOffset, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** Reads a buffer back (one copy and one map); use only for final results and tests. */
  async read(buffer: GPUBuffer, byteLength = buffer.size): Promise<ArrayBuffer> {
    this.assertAlive();
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({ label: 'readback', size, usage: MAP_READ | COPY_DST });
    const encoder = this.device.createCommandEncoder({ label: 'readback' });
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    try {
      await this.wait(() => staging.mapAsync(MAP_MODE_READ));
      return staging.getMappedRange().slice(0, byteLength);
    } finally {
      staging.destroy();
    }
  }

  async onSubmittedWorkDone(): Promise<void> {
    await this.wait(() => this.device.queue.onSubmittedWorkDone());
  }

  /**
   * Awaits a GPU promise. In Node, Dawn polls with setImmediate while a promise is pending; the
   * poll is throttled so the JS thread does not take a core from SwiftShader. A device lost during
   * the wait turns into a GpuDeviceLostError instead of a promise that never settles.
   */
  async wait<T>(start: () => Promise<T>): Promise<T> {
    this.assertAlive();
    // Not a race with device.lost: every reaction added to that promise lives as long as the
    // device, which for a long-lived model is a leak of a few hundred bytes per call.
    const run = () =>
      new Promise<T>((resolve, reject) => {
        this.lostWaiters.add(reject);
        const done = () => this.lostWaiters.delete(reject);
        let pending: Promise<T>;
        try {
          pending = start();
        } catch (e) {
          pending = Promise.reject(e);
        }
        pending.then(resolve, reject).finally(done);
      });
    if (this.runtime === 'node') {
      const { withGentlePolling } = await import('./node-webgpu.js');
      return withGentlePolling(run);
    }
    return run();
  }

  /** A query set and buffers for timestamp pairs, or undefined when the feature is missing. */
  createTimer(capacityPairs: number): GpuTimer | undefined {
    if (!this.features.timestampQuery) return undefined;
    return new GpuTimer(this, capacityPairs);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pipelines.clear();
    this.byCode.clear();
    this.ready.clear();
    this.layouts.clear();
    this.device.destroy();
  }
}

function padTo4(data: TypedArray): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.byteLength / 4) * 4);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}

/** GPU timestamps around compute passes: pass `timestampWrites(i)` to beginComputePass. */
export class GpuTimer {
  readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;

  constructor(
    private readonly gpu: Gpu,
    readonly capacityPairs: number,
  ) {
    this.querySet = gpu.device.createQuerySet({ type: 'timestamp', count: capacityPairs * 2 });
    this.resolveBuffer = gpu.device.createBuffer({
      size: capacityPairs * 16,
      usage: QUERY_RESOLVE | COPY_SRC,
    });
  }

  timestampWrites(pair: number): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: pair * 2, endOfPassWriteIndex: pair * 2 + 1 };
  }

  resolve(encoder: GPUCommandEncoder, pairs = this.capacityPairs): void {
    encoder.resolveQuerySet(this.querySet, 0, pairs * 2, this.resolveBuffer, 0);
  }

  /** Durations in milliseconds of the first `pairs` passes. */
  async read(pairs = this.capacityPairs): Promise<number[]> {
    const raw = new BigInt64Array(await this.gpu.read(this.resolveBuffer, pairs * 16));
    const out: number[] = [];
    for (let i = 0; i < pairs; i++) out.push(Number(raw[2 * i + 1] - raw[2 * i]) / 1e6);
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
