/**
 * The device: 'cpu' sessions of language and translation models: the CPU interpreter's incremental
 * decoder and translator (src/cpu/int-program.ts) with the fast kernels, shaped as the models hold
 * their GPU runtimes (no device, no GPU memory). Their candidates and logits are the
 * specification's integers, which the GPU's IntDecoderGpu / IntTranslatorGpu equal.
 */
import type { TranslatorTokens } from '../core/translation.js';
import type { GpuMemory } from '../gpu/profile.js';
import type { IntProgram } from '../plan/int-program.js';
import { createFastKernels } from './fast-kernels.js';
import { IntDecoderCpuSession, type IntKernels } from './int-program.js';
import { IntTranslatorCpuSession } from './int-translator-session.js';

/**
 * One kernel set per program: a model makes a new session whenever a call needs more sequences or
 * positions, and the WebAssembly GEMM's memory keeps the weights it has copied across them.
 */
const kernelSets = new WeakMap<IntProgram, IntKernels>();

function kernelsFor(program: IntProgram): IntKernels {
  const known = kernelSets.get(program);
  if (known) return known;
  const made = createFastKernels();
  kernelSets.set(program, made);
  return made;
}

const NO_GPU_MEMORY: GpuMemory = { weightBytes: 0, activationBytes: 0 };

export class CpuDecoderSession extends IntDecoderCpuSession {
  readonly gpu = undefined;

  constructor(program: IntProgram, batch: number, capacity: number, padId: number) {
    super(program, batch, capacity, padId, kernelsFor(program));
  }

  memory(): GpuMemory {
    return NO_GPU_MEMORY;
  }

  dispose(): void {}
}

export class CpuTranslatorSession extends IntTranslatorCpuSession {
  readonly gpu = undefined;

  constructor(program: IntProgram, tokens: TranslatorTokens, capacity: number) {
    super(program, tokens, capacity, kernelsFor(program));
  }

  memory(): GpuMemory {
    return NO_GPU_MEMORY;
  }
}
