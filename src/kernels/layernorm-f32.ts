/** Host side of the f32 LayerNorm (shaders/layernorm-f32.ts): shape checks, row grid, binding. */

import { optionsKey } from '../../shaders/codegen.js';
import {
  LAYERNORM_F32_PARAM_FIELDS,
  type LayerNormF32ShaderOptions,
  layerNormF32Shader,
} from '../../shaders/layernorm-f32.js';
import { checkBufferBytes } from '../gpu/bindings.js';
import type { Gpu } from '../gpu/gpu.js';
import {
  type BoundProgram,
  bindProgram,
  cachedKernel,
  type KernelProgram,
  type ProgramInfo,
  type RunData,
} from '../gpu/program.js';

export interface LayerNormF32Shape {
  rows: number;
  H: number;
  /** Values between row starts (>= H); defaults to H. */
  stride?: number;
}

export interface LayerNormF32Options {
  eps: number;
  /** Normalize x + residual instead of x. */
  residual?: boolean;
  workgroupSize?: number;
}

/** Workgroups for one-workgroup-per-row kernels: rows wrap into y past the portable 65535 along x. */
export function rowGrid(rows: number, maxX = 65535): { workgroups: [number, number, number]; gridX: number } {
  const gridX = Math.max(1, Math.min(rows, maxX));
  return { workgroups: [gridX, Math.ceil(rows / gridX), 1], gridX };
}

/** A power of two in [32, 256] giving each thread about 4 values of the row. */
export function rowWorkgroupSize(cols: number): number {
  let wg = 32;
  while (wg * 4 < cols && wg < 256) wg *= 2;
  return wg;
}

export function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

/** The variant rows of H values get: options.workgroupSize, else rowWorkgroupSize(H); H is fixed per model. */
export function layerNormF32Variant(options: LayerNormF32Options, H: number): LayerNormF32ShaderOptions {
  return { workgroupSize: options.workgroupSize ?? rowWorkgroupSize(H), residual: !!options.residual };
}

export function layerNormF32Kernel(variant: LayerNormF32ShaderOptions): KernelProgram {
  const wg = variant.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || wg > 256 || (wg & (wg - 1)) !== 0)
    throw new RangeError(`layernorm-f32: workgroupSize ${wg} must be a power of two <= 256`);
  const shaderOptions: LayerNormF32ShaderOptions = { workgroupSize: wg, residual: !!variant.residual };
  return cachedKernel(optionsKey('layernorm-f32', shaderOptions), () => ({
    name: `layernorm-f32${shaderOptions.residual ? '+residual' : ''}[wg ${wg}]`,
    code: layerNormF32Shader(shaderOptions),
    workgroupStorageBytes: wg * 4,
  }));
}

/** One run: rows, H, stride and eps (eps is a uniform, so one pipeline serves every model's eps). */
export function layerNormF32RunData(options: LayerNormF32Options, shape: LayerNormF32Shape): RunData {
  const { rows, H } = shape;
  const stride = shape.stride ?? H;
  for (const [k, v] of [
    ['rows', rows],
    ['H', H],
    ['stride', stride],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`layernorm-f32: ${k} = ${v} must be a positive integer`);
  }
  if (stride < H) throw new RangeError(`layernorm-f32: stride ${stride} < H ${H}`);
  if (!(options.eps >= 0) || !Number.isFinite(options.eps))
    throw new RangeError(`layernorm-f32: eps = ${options.eps} must be finite and >= 0`);
  if (rows * stride >= 2 ** 32) throw new RangeError(`layernorm-f32: ${rows}x${stride} values exceed u32 indexing`);
  const grid = rowGrid(rows);
  const values: Record<(typeof LAYERNORM_F32_PARAM_FIELDS)[number], number> = {
    rows,
    H,
    stride,
    gridX: grid.gridX,
    eps: f32Bits(options.eps),
    pad0: 0,
    pad1: 0,
    pad2: 0,
  };
  return {
    label: `layernorm-f32${options.residual ? '+residual' : ''} ${rows}x${H}`,
    workgroups: grid.workgroups,
    params: new Uint32Array(LAYERNORM_F32_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function layerNormF32Program(options: LayerNormF32Options, shape: LayerNormF32Shape): ProgramInfo {
  const run = layerNormF32RunData(options, shape);
  return { ...layerNormF32Kernel(layerNormF32Variant(options, shape.H)), ...run, name: run.label! };
}

export interface LayerNormF32Buffers {
  /** [rows, stride] f32. */
  x: GPUBuffer;
  residual?: GPUBuffer;
  /** [H] f32 each. */
  gamma: GPUBuffer;
  beta: GPUBuffer;
  /** [rows, stride] f32; must not be x or residual. */
  y: GPUBuffer;
}

/** The buffers in binding order, checked against the options and to hold `shape` (the largest a Dispatch will run). */
export function layerNormF32Bindings(
  options: Pick<LayerNormF32Options, 'residual'>,
  shape: LayerNormF32Shape,
  b: LayerNormF32Buffers,
): GPUBuffer[] {
  if (!!options.residual !== !!b.residual)
    throw new Error('layernorm-f32: options.residual and the residual buffer disagree');
  const bytes = shape.rows * (shape.stride ?? shape.H) * 4;
  checkBufferBytes(
    'layernorm-f32',
    [
      ['x', b.x, bytes],
      ['residual', b.residual, bytes],
      ['y', b.y, bytes],
    ],
    { skipAbsent: true },
  );
  return [b.x, ...(b.residual ? [b.residual] : []), b.gamma, b.beta, b.y];
}

export async function bindLayerNormF32(
  gpu: Gpu,
  options: LayerNormF32Options,
  shape: LayerNormF32Shape,
  b: LayerNormF32Buffers,
): Promise<BoundProgram> {
  const list = layerNormF32Bindings(options, shape, b);
  return bindProgram(gpu, layerNormF32Program(options, shape), list);
}
