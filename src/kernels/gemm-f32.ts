/** Host side of the f32 GEMM (shaders/gemm-f32.ts): the float baseline with the int8 GEMM's shapes. */

import { optionsKey } from '../../shaders/codegen.js';
import { type GemmF32Activation, type GemmF32ShaderOptions, gemmF32Shader } from '../../shaders/gemm-f32.js';
import { validateTile } from '../../shaders/gemm-tiled.js';
import type { Gpu } from '../gpu/gpu.js';
import {
  type BoundProgram,
  bindProgram,
  cachedKernel,
  type KernelProgram,
  type ProgramInfo,
  type RunData,
} from '../gpu/program.js';
import {
  type GemmShape,
  type GemmTile,
  gemmLabel,
  gemmParams,
  gemmTileFor,
  gemmWorkgroupStorageBytes,
  gemmWorkgroups,
  resolveGemmShape,
} from './gemm-shape.js';

export type { GemmF32Activation };

/** alpha and activation form the optional epilogue act(alpha * A.B^T + bias) (see the shader). */
export type GemmF32Options = { bias: boolean; tile?: GemmTile; alpha?: number; activation?: GemmF32Activation };

function gemmF32Family(options: GemmF32Options): string {
  return options.activation ? `gemm-f32+${options.activation}` : 'gemm-f32';
}

/** The tile a shape needs: the options' tile, else gemmTileFor(M) (pass the adapter's isSoftware). */
export function gemmF32Variant(options: GemmF32Options, shape: Pick<GemmShape, 'M'>, software = false): GemmTile {
  return options.tile ?? gemmTileFor(shape.M, software);
}

/** What to compile for one tile; alpha is a per-model constant and stays in the code (see the shader). */
export function gemmF32Kernel(options: GemmF32Options, tile: GemmTile): KernelProgram {
  if (options.alpha !== undefined && !Number.isFinite(options.alpha))
    throw new RangeError(`f32 GEMM: alpha = ${options.alpha} must be finite`);
  // Absent fields stay absent so that the plain kernel keeps its cache key.
  const shaderOptions: GemmF32ShaderOptions = {
    bias: options.bias,
    tile,
    ...(options.alpha !== undefined ? { alpha: options.alpha } : {}),
    ...(options.activation ? { activation: options.activation } : {}),
  };
  return cachedKernel(optionsKey('gemm-f32', shaderOptions), () => ({
    name: `${gemmF32Family(options)} tile ${tile.m}x${tile.n}x${tile.k4}/${tile.threadM}x${tile.threadN}`,
    code: gemmF32Shader(shaderOptions),
    workgroupStorageBytes: gemmWorkgroupStorageBytes(tile, 16),
  }));
}

/** One run on `tile`: the shape's uniform and grid. */
export function gemmF32RunData(options: GemmF32Options, shape: GemmShape, tile: GemmTile): RunData {
  validateTile(tile);
  const s = resolveGemmShape(shape, false);
  return { label: gemmLabel(gemmF32Family(options), s), workgroups: gemmWorkgroups(s, tile), params: gemmParams(s) };
}

export function gemmF32Program(options: GemmF32Options, shape: GemmShape): ProgramInfo {
  const tile = gemmF32Variant(options, shape);
  const program = gemmF32Kernel(options, tile);
  const run = gemmF32RunData(options, shape, tile);
  return { ...program, ...run, name: run.label! };
}

export interface GemmF32Buffers {
  /** A [M, K] and B [N, K] as f32 rows padded to a multiple of 4 (see padRowsF32). */
  a: GPUBuffer;
  b: GPUBuffer;
  bias?: GPUBuffer;
  c: GPUBuffer;
}

/** The buffers in binding order, checked against the options. */
export function gemmF32Bindings(options: GemmF32Options, buffers: GemmF32Buffers): GPUBuffer[] {
  if (options.bias !== !!buffers.bias) throw new Error('f32 GEMM: options.bias and the bias buffer disagree');
  return [buffers.a, buffers.b, ...(buffers.bias ? [buffers.bias] : []), buffers.c];
}

export async function bindGemmF32(
  gpu: Gpu,
  options: GemmF32Options,
  shape: GemmShape,
  buffers: GemmF32Buffers,
): Promise<BoundProgram> {
  const list = gemmF32Bindings(options, buffers);
  const tile = gemmF32Variant(options, shape, gpu.adapter.isSoftware);
  const program = gemmF32Kernel(options, tile);
  const run = gemmF32RunData(options, shape, tile);
  return bindProgram(gpu, { ...program, ...run, name: run.label! }, list);
}
