/**
 * Programs and their runs. A kernel is split in two faces:
 *  - KernelProgram, what to compile: WGSL source and a pipeline key that depend on the kernel's
 *    options and on a shape *variant* (GEMM tile, softmax keys-per-thread bucket), never on sizes;
 *  - RunData, what changes from one run to the next: the uniform words at @binding(0) and the grid.
 * A Dispatch is one slot of a model: its bind group over fixed buffers is created once, and each run
 * only picks the pipeline of a variant and rewrites the uniform, so a new sequence length compiles
 * nothing and creates no GPU object. `bindProgram` (one program, one shape) is built on it.
 */

import { uniformStructBytes } from './bindings.js';
import type { Gpu, GpuTimer } from './gpu.js';

/** What to compile: depends on kernel options and a shape variant, never on sizes. */
export interface KernelProgram {
  /** Human-readable name of the variant, used in labels and errors. */
  name: string;
  /** Identifies the compiled pipeline: equal keys must mean equal code. */
  key: string;
  code: string;
  /** Workgroup memory the shader declares, checked against the adapter's limit before compiling. */
  workgroupStorageBytes?: number;
}

/** What changes per run: the uniform words at @binding(0) and the grid. */
export interface RunData {
  /** Contents of the uniform buffer at @binding(0), if the shader declares one. */
  params?: Uint32Array;
  workgroups: [number, number, number];
  /** Name of this run in labels and per-kernel timings (e.g. with its sizes); the program's name if absent. */
  label?: string;
}

/** A program and one run of it: what the per-shape `xxxProgram` functions of src/kernels return. */
export interface ProgramInfo extends KernelProgram, RunData {}

export interface BoundProgram {
  readonly name: string;
  encode(pass: GPUComputePassEncoder): void;
  destroy(): void;
}

/**
 * Builds a KernelProgram once per key: the WGSL of a variant is a pure function of its options, so
 * per-shape calls (every new length) reuse the string instead of generating it again.
 */
const kernelCache = new Map<string, KernelProgram>();
export function cachedKernel(key: string, build: () => Omit<KernelProgram, 'key'>): KernelProgram {
  let program = kernelCache.get(key);
  if (!program) {
    program = { ...build(), key };
    kernelCache.set(key, program);
  }
  return program;
}

export function checkWorkgroupStorage(gpu: Gpu, program: KernelProgram): void {
  const storage = program.workgroupStorageBytes ?? 0;
  if (storage > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(
      `${program.name}: needs ${storage} bytes of workgroup memory; this adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize}. Use a smaller tile.`,
    );
  }
}

export function checkRunWorkgroups(gpu: Gpu, name: string, workgroups: [number, number, number]): void {
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  for (const n of workgroups) {
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new RangeError(
        `${name}: dispatch of ${workgroups.join('x')} workgroups exceeds this adapter's ${max} per dimension.`,
      );
    }
  }
}

export function checkWorkgroups(gpu: Gpu, info: ProgramInfo): void {
  checkWorkgroupStorage(gpu, info);
  checkRunWorkgroups(gpu, info.name, info.workgroups);
}

/**
 * The kernel family of a pipeline key: the part before the first ':' (optionsKey's prefix). Two
 * families can declare the same bindings (lookup-i8 and softmax-i8 do), so a Dispatch checks both.
 */
export function kernelFamily(key: string): string {
  const i = key.indexOf(':');
  return i < 0 ? key : key.slice(0, i);
}

/**
 * One dispatch slot of a model: a bind group over fixed buffers, created once, and its uniform
 * buffer. Every program prepared on it must declare the same bindings as the one it was created
 * with (the variants of one kernel family do), so the bind group fits all their pipelines.
 *
 * They must also be of its kernel family (see kernelFamily).
 *
 * Per run, `prepare(program, run)` picks the pipeline of that variant (compiled already, or awaited
 * once) and writes the uniform with queue.writeBuffer; `encode(pass)` records the dispatch. The
 * uniform is written on the queue timeline, so a Dispatch holds one run per submitted command
 * buffer: prepare, encode, submit, then prepare the next run. A model that runs one kernel several
 * times in one command buffer (one per layer) needs one Dispatch per occurrence.
 */
export class Dispatch implements BoundProgram {
  private pipeline: GPUComputePipeline | undefined;
  private workgroups: [number, number, number] = [0, 0, 0];
  private runName: string;
  private readonly family: string;

  private constructor(
    private readonly gpu: Gpu,
    private readonly signature: string,
    private readonly bindGroup: GPUBindGroup,
    private readonly uniform: GPUBuffer | undefined,
    /** Name of the slot: the program it was created with. */
    readonly slot: string,
    key: string,
  ) {
    this.runName = slot;
    this.family = kernelFamily(key);
  }

  /**
   * Compiles (or reuses) `program`'s pipeline and binds `buffers` after the uniform, once.
   * `uniformBytes` sizes the uniform buffer; by default the size of the struct the shader declares
   * at @binding(0) (0 or absent there: no uniform).
   */
  static async create(
    gpu: Gpu,
    program: KernelProgram,
    buffers: GPUBuffer[],
    uniformBytes?: number,
  ): Promise<Dispatch> {
    checkWorkgroupStorage(gpu, program);
    const layout = gpu.layoutOf(program.key, program.code, program.name);
    const hasUniform = layout.kinds[0] === 'uniform';
    const bytes = hasUniform ? (uniformBytes ?? uniformStructBytes(program.code)) : 0;
    if (hasUniform && (bytes === undefined || !(bytes > 0))) {
      throw new RangeError(
        `${program.name}: the shader declares a uniform at binding 0 whose size could not be read from its struct; pass uniformBytes`,
      );
    }
    if (!hasUniform && uniformBytes) {
      throw new RangeError(
        `${program.name}: uniformBytes = ${uniformBytes} given, but the shader declares no uniform at binding 0`,
      );
    }
    if (buffers.length + (hasUniform ? 1 : 0) !== layout.kinds.length) {
      throw new RangeError(
        `${program.name}: ${buffers.length} buffers given, the shader declares ${layout.kinds.length - (hasUniform ? 1 : 0)} storage bindings after ${hasUniform ? 'the uniform' : 'none'}`,
      );
    }
    await gpu.pipeline(program.key, program.code, program.name);
    const uniform = hasUniform ? gpu.uniformBuffer(`${program.name}.params`, bytes!) : undefined;
    try {
      const bindGroup = gpu.bindGroup(program.name, layout, uniform ? [uniform, ...buffers] : buffers);
      return new Dispatch(gpu, layout.signature, bindGroup, uniform, program.name, program.key);
    } catch (e) {
      uniform?.destroy();
      throw e;
    }
  }

  /** The current run's label (for timings), else the program the slot was created with. */
  get name(): string {
    return this.runName;
  }

  /**
   * Selects `program`'s pipeline and writes `run`'s uniform words. Synchronous (returns undefined)
   * when the pipeline is compiled already; otherwise a promise that resolves once it is, and
   * `encode` refuses to record until then.
   */
  prepare(program: KernelProgram, run: RunData): Promise<void> | void {
    this.gpu.assertAlive();
    if (kernelFamily(program.key) !== this.family) {
      throw new RangeError(
        `${program.name}: dispatch "${this.slot}" was bound for kernel family ${this.family}, not ${kernelFamily(program.key)}`,
      );
    }
    const layout = this.gpu.layoutOf(program.key, program.code, program.name);
    if (layout.signature !== this.signature) {
      throw new RangeError(
        `${program.name}: declares bindings (${layout.signature || 'none'}), but dispatch "${this.slot}" was bound for (${this.signature || 'none'}); a Dispatch serves the variants of one kernel family`,
      );
    }
    checkWorkgroupStorage(this.gpu, program);
    const label = run.label ?? program.name;
    checkRunWorkgroups(this.gpu, label, run.workgroups);
    if (run.params) {
      if (!this.uniform)
        throw new RangeError(`${label}: run has uniform params, but the shader declares no uniform at binding 0`);
      if (run.params.byteLength > this.uniform.size) {
        throw new RangeError(
          `${label}: ${run.params.byteLength} bytes of params exceed the ${this.uniform.size}-byte uniform of "${this.slot}"`,
        );
      }
    } else if (this.uniform) {
      throw new RangeError(`${label}: the shader reads a uniform at binding 0, but the run has no params`);
    }
    this.pipeline = undefined;
    this.workgroups = [...run.workgroups];
    this.runName = label;
    if (run.params) this.gpu.write(this.uniform!, run.params);
    const ready = this.gpu.readyPipeline(program.key);
    if (ready) {
      this.pipeline = ready;
      return;
    }
    const workgroups = this.workgroups;
    return this.gpu.pipeline(program.key, program.code, program.name).then((p) => {
      // A later prepare replaced this run while it compiled: keep that one.
      if (this.workgroups === workgroups) this.pipeline = p;
    });
  }

  encode(pass: GPUComputePassEncoder): void {
    if (!this.pipeline)
      throw new Error(`dispatch "${this.runName}": encode before prepare finished (await prepare's promise)`);
    const [x, y, z] = this.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(x, y, z);
  }

  destroy(): void {
    this.uniform?.destroy();
  }
}

/** Compiles (or reuses) the pipeline and creates the bind group: storage buffers follow the uniform. */
export async function bindProgram(gpu: Gpu, info: ProgramInfo, buffers: GPUBuffer[]): Promise<BoundProgram> {
  checkWorkgroups(gpu, info);
  const dispatch = await Dispatch.create(gpu, info, buffers, info.params?.byteLength);
  try {
    await dispatch.prepare(info, { params: info.params, workgroups: info.workgroups, label: info.name });
  } catch (e) {
    dispatch.destroy();
    throw e;
  }
  return dispatch;
}

/** GPU time of one dispatch, from timestamp queries around its own pass. */
export interface KernelTime {
  name: string;
  ms: number;
}

/**
 * Records programs into a command encoder. With a timer, each program gets its own pass so that
 * its GPU time can be read (the extra pass boundaries cost a little, so profiled totals run
 * slightly above unprofiled ones); without, all share one pass.
 */
export function encodePrograms(
  encoder: GPUCommandEncoder,
  programs: BoundProgram[],
  label: string,
  timer?: GpuTimer,
): void {
  if (timer) {
    programs.forEach((p, i) => {
      const pass = encoder.beginComputePass({ label: p.name, timestampWrites: timer.timestampWrites(i) });
      p.encode(pass);
      pass.end();
    });
    timer.resolve(encoder, programs.length);
  } else {
    const pass = encoder.beginComputePass({ label });
    for (const p of programs) p.encode(pass);
    pass.end();
  }
}

/** Reads a timer filled by `encodePrograms` and names each duration after its program. */
export async function readKernelTimes(timer: GpuTimer, programs: BoundProgram[]): Promise<KernelTime[]> {
  const ms = await timer.read(programs.length);
  return programs.map((p, i) => ({ name: p.name, ms: ms[i] }));
}

/** Records programs into one command buffer and submits it (see `encodePrograms` for the timer). */
export function submitPrograms(gpu: Gpu, programs: BoundProgram[], timer?: GpuTimer): void {
  gpu.assertAlive();
  const encoder = gpu.device.createCommandEncoder();
  encodePrograms(encoder, programs, 'programs', timer);
  gpu.device.queue.submit([encoder.finish()]);
}
