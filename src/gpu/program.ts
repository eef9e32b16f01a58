/**
 * A program is one compute dispatch: WGSL source (a function of the kernel's options), a cache key
 * for its pipeline, its dispatch size, and the uniform parameters of the shape it runs on. Binding
 * it to buffers happens once, when a model is planned; at run time only `encode` is called.
 */
import type { Gpu, GpuTimer } from './gpu.js';

export interface ProgramInfo {
  /** Human-readable name used in labels, errors and per-kernel timings. */
  name: string;
  /** Identifies the compiled pipeline: equal keys must mean equal code. */
  key: string;
  code: string;
  workgroups: [number, number, number];
  /** Contents of the uniform buffer at @binding(0), if the shader declares one. */
  params?: Uint32Array;
  /** Workgroup memory the shader declares, checked against the adapter's limit before compiling. */
  workgroupStorageBytes?: number;
}

export interface BoundProgram {
  readonly name: string;
  encode(pass: GPUComputePassEncoder): void;
  destroy(): void;
}

export function checkWorkgroups(gpu: Gpu, info: ProgramInfo): void {
  const storage = info.workgroupStorageBytes ?? 0;
  if (storage > gpu.limits.maxComputeWorkgroupStorageSize) {
    throw new RangeError(`${info.name}: needs ${storage} bytes of workgroup memory; this adapter allows ${gpu.limits.maxComputeWorkgroupStorageSize}. Use a smaller tile.`);
  }
  const max = gpu.limits.maxComputeWorkgroupsPerDimension;
  for (const n of info.workgroups) {
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new RangeError(`${info.name}: dispatch of ${info.workgroups.join('x')} workgroups exceeds this adapter's ${max} per dimension.`);
    }
  }
}

/** Compiles (or reuses) the pipeline and creates the bind group: storage buffers follow the uniform. */
export async function bindProgram(gpu: Gpu, info: ProgramInfo, buffers: GPUBuffer[]): Promise<BoundProgram> {
  checkWorkgroups(gpu, info);
  const pipeline = await gpu.pipeline(info.key, info.code, info.name);
  const uniform = info.params ? gpu.uniform(`${info.name}.params`, info.params) : undefined;
  const resources = uniform ? [uniform, ...buffers] : buffers;
  const bindGroup = gpu.device.createBindGroup({
    label: info.name,
    layout: pipeline.getBindGroupLayout(0),
    entries: resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const [x, y, z] = info.workgroups;
  return {
    name: info.name,
    encode(pass) {
      if (x === 0 || y === 0 || z === 0) return;
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y, z);
    },
    destroy() {
      uniform?.destroy();
    },
  };
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
export function encodePrograms(encoder: GPUCommandEncoder, programs: BoundProgram[], label: string, timer?: GpuTimer): void {
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
