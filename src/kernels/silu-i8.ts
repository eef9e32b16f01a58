/**
 * Host side of the integer SiLU (shaders/silu-i8.ts): shape validation, the overflow proof of the
 * constants, and the dispatch of the standalone kernel. The same constants buffer feeds the GEMM's
 * fused 'silu-i8' epilogue (src/kernels/gemm-i8.ts).
 *
 * Enforcement: the wrappers accept only constants buffers made by uploadSiluI8Constants, which runs
 * checkSiluI8Constants first, so constants that could overflow a u32 or int32 intermediate never reach
 * a dispatch. Any int32 input value is accepted: the first step saturates.
 */

import { SILU_PARAM_FIELDS, SILU_WORKGROUP, type SiluI8ShaderOptions, siluI8Shader } from '../../shaders/silu-i8.js';
import type { Gpu } from '../gpu/gpu.js';
import type { BoundProgram, KernelProgram, ProgramInfo, RunData } from '../gpu/program.js';
import { checkSiluI8Constants, packSiluI8Constants, type SiluI8Constants } from '../reference/silu-i8.js';
import { type ActivationI8Buffers, type ActivationI8Shape, activationI8 } from './activation-i8.js';

export {
  checkSiluI8Constants,
  deriveSiluI8Constants,
  packSiluI8Constants,
  siluInputRescale,
} from '../reference/silu-i8.js';

export type { SiluI8Constants, SiluI8ShaderOptions };

export type SiluI8Options = SiluI8ShaderOptions;
export type SiluI8Shape = ActivationI8Shape;

export interface SiluI8Buffers extends Omit<ActivationI8Buffers, 'constants'> {
  /** From uploadSiluI8Constants. */
  silu: GPUBuffer;
}

const family = activationI8<SiluI8Constants>({
  family: 'silu-i8',
  uploadName: 'uploadSiluI8Constants',
  display: 'i-SiLU',
  shader: siluI8Shader,
  paramFields: SILU_PARAM_FIELDS,
  workgroup: SILU_WORKGROUP,
  check: (c, what) => checkSiluI8Constants(c, what),
  pack: packSiluI8Constants,
  copy: (c) => ({ ...c, input: { ...c.input }, output: { ...c.output } }),
});

/** Uploads i-SiLU constants after proving them; the only buffers the wrappers bind as `silu`. */
export function uploadSiluI8Constants(gpu: Gpu, constants: SiluI8Constants, label = 'silu-i8.constants'): GPUBuffer {
  return family.upload(gpu, constants, label);
}

/** The proven constants of a buffer, or a RangeError for a buffer that did not come from the upload. */
export function provenSiluConstants(buffer: GPUBuffer, what: string): SiluI8Constants {
  return family.provenConstants(buffer, what);
}

/** What to compile: one pipeline per input-rescale kind (the constants are a buffer, sizes uniforms). */
export function siluI8Kernel(options: SiluI8Options): KernelProgram {
  return family.kernel(options);
}

export function siluI8RunData(options: SiluI8Options, shape: SiluI8Shape): RunData {
  return family.runData(options, shape);
}

export function siluI8Program(options: SiluI8Options, shape: SiluI8Shape): ProgramInfo {
  return family.program(options, shape);
}

/**
 * The buffers in binding order, checked against the options and to hold `shape` (the largest a
 * Dispatch will run); refuses a constants buffer whose bounds were not proven on upload.
 */
export function siluI8Bindings(options: SiluI8Options, shape: SiluI8Shape, buffers: SiluI8Buffers): GPUBuffer[] {
  return family.bindings(options, shape, { ...buffers, constants: buffers.silu });
}

export function bindSiluI8(
  gpu: Gpu,
  options: SiluI8Options,
  shape: SiluI8Shape,
  buffers: SiluI8Buffers,
): Promise<BoundProgram> {
  return family.bind(gpu, options, shape, { ...buffers, constants: buffers.silu });
}
