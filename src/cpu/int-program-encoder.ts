/**
 * The integer encoder on the CPU, in the place of IntProgramGpu (the `device: 'cpu'` backend of
 * loadModel): the interpreter of src/cpu/int-program.ts with the fast kernels, so its output is the
 * specification's integers, which the GPU interpreter equals bit for bit.
 */
import { checkTokenBatch } from '../core/token-batch.js';
import type { TokenBatch } from '../core/types.js';
import type { GpuMemory } from '../gpu/profile.js';
import type { IntProgram } from '../plan/int-program.js';
import { createFastKernels } from './fast-kernels.js';
import { type IntKernels, runIntProgramCpu } from './int-program.js';

export class IntProgramCpu {
  /** No device: DeviceModel skips device-loss checks and recovery for it. */
  readonly gpu = undefined;
  private disposed = false;
  /** This model's kernels: the WebAssembly GEMM's memory keeps its weights once seen. */
  readonly kernels: IntKernels & { gemmEngine: 'wasm-simd' | 'js' };

  constructor(
    readonly program: IntProgram,
    options: { wasm?: boolean } = {},
  ) {
    this.kernels = createFastKernels(options);
    if (program.output.kind === 'lm-logits')
      throw new Error('IntProgramCpu: the program is a decoder (LM logits); it runs incrementally, not as an encoder');
  }

  async forward(
    batch: TokenBatch,
    options: { profile?: boolean; pooling?: 'mean' | 'cls' } = {},
  ): Promise<{ output: Int32Array; kernels?: undefined }> {
    if (this.disposed) throw new Error('integer model: used after dispose()');
    if (options.profile)
      throw new Error('profile: kernel times are GPU timestamps; this model runs on the CPU (device: cpu)');
    checkTokenBatch(batch);
    return {
      output: runIntProgramCpu(this.program, batch, { pooling: options.pooling, kernels: this.kernels }).output,
    };
  }

  /** GPU bytes held: none (the weights live in the program, in ordinary memory). */
  memory(): GpuMemory {
    return { weightBytes: 0, activationBytes: 0 };
  }

  dispose(): void {
    this.disposed = true;
  }
}
