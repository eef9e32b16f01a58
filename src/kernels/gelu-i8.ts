/**
 * Host side of the integer GELU (shaders/gelu-i8.ts): shape validation, the overflow proof of the
 * constants, and the dispatch of the standalone kernel. The same constants buffer feeds the GEMM's
 * fused 'gelu-i8' epilogue (src/kernels/gemm-i8.ts).
 *
 * Enforcement: the wrappers accept only constants buffers made by uploadGeluI8Constants, which runs
 * checkGeluI8Constants first, so constants that could overflow an int32 intermediate never reach
 * a dispatch. Any int32 input value is accepted: the first step saturates.
 */

import { GELU_PARAM_FIELDS, GELU_WORKGROUP, type GeluI8ShaderOptions, geluI8Shader } from '../../shaders/gelu-i8.js';
import type { Gpu } from '../gpu/gpu.js';
import type { BoundProgram, KernelProgram, ProgramInfo, RunData } from '../gpu/program.js';
import { checkGeluI8Constants, type GeluI8Constants, packGeluI8Constants } from '../reference/gelu-i8.js';
import { type ActivationI8Buffers, type ActivationI8Shape, activationI8 } from './activation-i8.js';

export {
  checkGeluI8Constants,
  deriveGeluI8Constants,
  geluInputRescale,
  packGeluI8Constants,
} from '../reference/gelu-i8.js';

export type { GeluI8Constants, GeluI8ShaderOptions };

export type GeluI8Options = GeluI8ShaderOptions;
export type GeluI8Shape = ActivationI8Shape;

export interface GeluI8Buffers extends Omit<ActivationI8Buffers, 'constants'> {
  /** From uploadGeluI8Constants. */
  gelu: GPUBuffer;
}

const family = activationI8<GeluI8Constants>({
  family: 'gelu-i8',
  uploadName: 'uploadGeluI8Constants',
  display: 'i-GELU',
  shader: geluI8Shader,
  paramFields: GELU_PARAM_FIELDS,
  workgroup: GELU_WORKGROUP,
  check: (c, what) => checkGeluI8Constants(c, what),
  pack: packGeluI8Constants,
  copy: (c) => ({ ...c, input: { ...c.input }, corr: { ...c.corr }, output: { ...c.output } }),
});

/** Uploads i-GELU constants after proving them; the only buffers the wrappers bind as `gelu`. */
export function uploadGeluI8Constants(gpu: Gpu, constants: GeluI8Constants, label = 'gelu-i8.constants'): GPUBuffer {
  return family.upload(gpu, constants, label);
}

/** The proven constants of a buffer, or a RangeError for a buffer that did not come from the upload. */
export function provenGeluConstants(buffer: GPUBuffer, what: string): GeluI8Constants {
  return family.provenConstants(buffer, what);
}

/** What to compile: one pipeline per input-rescale kind (the constants are a buffer, sizes uniforms). */
export function geluI8Kernel(options: GeluI8Options): KernelProgram {
  return family.kernel(options);
}

export function geluI8RunData(options: GeluI8Options, shape: GeluI8Shape): RunData {
  return family.runData(options, shape);
}

export function geluI8Program(options: GeluI8Options, shape: GeluI8Shape): ProgramInfo {
  return family.program(options, shape);
}

/**
 * The buffers in binding order, checked against the options and to hold `shape` (the largest a
 * Dispatch will run); refuses a constants buffer whose bounds were not proven on upload.
 */
export function geluI8Bindings(options: GeluI8Options, shape: GeluI8Shape, buffers: GeluI8Buffers): GPUBuffer[] {
  return family.bindings(options, shape, { ...buffers, constants: buffers.gelu });
}

export function bindGeluI8(
  gpu: Gpu,
  options: GeluI8Options,
  shape: GeluI8Shape,
  buffers: GeluI8Buffers,
): Promise<BoundProgram> {
  return family.bind(gpu, options, shape, { ...buffers, constants: buffers.gelu });
}
