/** Host side of the f32 GEMM (shaders/gemm-f32.ts): the float baseline with the int8 GEMM's shapes. */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type ProgramInfo, bindProgram } from '../gpu/program.js';
import { type GemmF32Activation, type GemmF32ShaderOptions, gemmF32Shader } from '../../shaders/gemm-f32.js';
import { optionsKey } from '../../shaders/codegen.js';
import { type GemmShape, type GemmTile, gemmLabel, gemmParams, gemmTileFor, gemmWorkgroupStorageBytes, gemmWorkgroups, resolveGemmShape } from './gemm-shape.js';

export type { GemmF32Activation };

/** alpha and activation form the optional epilogue act(alpha * A.B^T + bias) (see the shader). */
export type GemmF32Options = { bias: boolean; tile?: GemmTile; alpha?: number; activation?: GemmF32Activation };

export function gemmF32Program(options: GemmF32Options, shape: GemmShape): ProgramInfo {
  if (options.alpha !== undefined && !Number.isFinite(options.alpha)) throw new RangeError(`f32 GEMM: alpha = ${options.alpha} must be finite`);
  // Absent fields stay absent so that the plain kernel keeps its cache key.
  const shaderOptions: GemmF32ShaderOptions = {
    bias: options.bias,
    tile: options.tile ?? gemmTileFor(shape.M),
    ...(options.alpha !== undefined ? { alpha: options.alpha } : {}),
    ...(options.activation ? { activation: options.activation } : {}),
  };
  const s = resolveGemmShape(shape, false);
  return {
    name: gemmLabel(options.activation ? `gemm-f32+${options.activation}` : 'gemm-f32', s),
    key: optionsKey('gemm-f32', shaderOptions),
    code: gemmF32Shader(shaderOptions),
    workgroups: gemmWorkgroups(s, shaderOptions.tile),
    params: gemmParams(s),
    workgroupStorageBytes: gemmWorkgroupStorageBytes(shaderOptions.tile, 16),
  };
}

export interface GemmF32Buffers {
  /** A [M, K] and B [N, K] as f32 rows padded to a multiple of 4 (see padRowsF32). */
  a: GPUBuffer;
  b: GPUBuffer;
  bias?: GPUBuffer;
  c: GPUBuffer;
}

export async function bindGemmF32(gpu: Gpu, options: GemmF32Options, shape: GemmShape, buffers: GemmF32Buffers): Promise<BoundProgram> {
  if (options.bias !== !!buffers.bias) throw new Error('f32 GEMM: options.bias and the bias buffer disagree');
  const list = [buffers.a, buffers.b, ...(buffers.bias ? [buffers.bias] : []), buffers.c];
  return bindProgram(gpu, gemmF32Program({ ...options, tile: options.tile ?? gemmTileFor(shape.M, gpu.adapter.isSoftware) }, shape), list);
}
