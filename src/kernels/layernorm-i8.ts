/**
 * Host side of the integer LayerNorm (shaders/layernorm-i8.ts): validates the shape and the integer
 * constants against the ranges the overflow proof covers (docs/kernels/layernorm-i8.md), picks the
 * workgroup shape from H, and binds the buffers. A configuration outside the proof is refused with
 * a RangeError before any GPU work.
 */

import { optionsKey } from '../../shaders/codegen.js';
import {
  LAYERNORM_PARAM_FIELDS,
  type LayerNormI8ShaderOptions,
  layerNormI8Shader,
} from '../../shaders/layernorm-i8.js';
import type { Gpu } from '../gpu/gpu.js';
import {
  type BoundProgram,
  bindProgram,
  cachedKernel,
  type KernelProgram,
  type ProgramInfo,
  type RunData,
} from '../gpu/program.js';
import { wordsPerRow } from '../quant/pack.js';
import {
  checkLayerNormI8Constants,
  type LayerNormI8Constants,
  LN_MAX_H,
  layerNormI8Bounds,
} from '../reference/layernorm-i8.js';

export type { LayerNormI8Constants };

export interface LayerNormI8Shape {
  rows: number;
  H: number;
}

export interface LayerNormI8Options {
  /** Threads per workgroup (a power of two <= 256); by default chosen from H. */
  workgroupSize?: number;
  /** Largest dispatch along x before rows wrap into y; defaults to the adapter's (65535). */
  maxWorkgroupsX?: number;
}

/** Per-layer values the kernel reads from its uniform: a constant's subset without the channels. */
export type LayerNormI8Layer = Omit<LayerNormI8Constants, 'channels'>;

const MAX_WORKGROUP = 256;

/**
 * Threads per row: about two packed words each (so most rows keep every thread busy), between
 * 32 and 256. A row of H = 4096 gives 256 threads with 4 words (16 values) each.
 */
/**
 * GPUs: at least 32 threads, about 2 words each. CPU emulation (SwiftShader): as few threads as
 * keep 16 or fewer words each (from 4), since every barrier and idle lane costs there (2.4x faster
 * at H = 128, measured).
 */
export function defaultWorkgroupSize(H: number, software = false): number {
  const target = Math.ceil(wordsPerRow(H) / (software ? 16 : 2));
  let wg = software ? 4 : 32;
  while (wg < target && wg < MAX_WORKGROUP) wg *= 2;
  return wg;
}

export function layerNormI8ShaderOptions(H: number, workgroupSize = defaultWorkgroupSize(H)): LayerNormI8ShaderOptions {
  if (
    !Number.isInteger(workgroupSize) ||
    workgroupSize < 1 ||
    workgroupSize > MAX_WORKGROUP ||
    (workgroupSize & (workgroupSize - 1)) !== 0
  ) {
    throw new RangeError(
      `layernorm-i8: workgroupSize = ${workgroupSize} must be a power of two in [1, ${MAX_WORKGROUP}].`,
    );
  }
  return { workgroupSize, wordsPerThread: Math.ceil(wordsPerRow(H) / workgroupSize) };
}

function checkShape(shape: LayerNormI8Shape): void {
  if (!Number.isInteger(shape.rows) || shape.rows < 1)
    throw new RangeError(`layernorm-i8: rows = ${shape.rows} must be a positive integer.`);
  if (!Number.isInteger(shape.H) || shape.H < 1 || shape.H > LN_MAX_H) {
    throw new RangeError(
      `layernorm-i8: H = ${shape.H} must be an integer in [1, ${LN_MAX_H}] (the bound of the exact row sum).`,
    );
  }
}

/**
 * The variant rows of H values need: the workgroup size (options, else defaultWorkgroupSize(H);
 * pass the adapter's choice as the runtime does) and the words each thread holds in registers.
 * H is fixed per model, so a model needs one variant per hidden size, whatever the lengths.
 */
export function layerNormI8Variant(H: number, options: LayerNormI8Options = {}): LayerNormI8ShaderOptions {
  return layerNormI8ShaderOptions(H, options.workgroupSize);
}

function checkVariant(v: LayerNormI8ShaderOptions): void {
  const wg = v.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || wg > MAX_WORKGROUP || (wg & (wg - 1)) !== 0) {
    throw new RangeError(`layernorm-i8: workgroupSize = ${wg} must be a power of two in [1, ${MAX_WORKGROUP}].`);
  }
  if (!Number.isInteger(v.wordsPerThread) || v.wordsPerThread < 1)
    throw new RangeError(`layernorm-i8: wordsPerThread = ${v.wordsPerThread} must be a positive integer.`);
}

/** What to compile for one variant: rows up to 4 * workgroupSize * wordsPerThread values, any count. */
export function layerNormI8Kernel(variant: LayerNormI8ShaderOptions): KernelProgram {
  checkVariant(variant);
  const v: LayerNormI8ShaderOptions = { workgroupSize: variant.workgroupSize, wordsPerThread: variant.wordsPerThread };
  return cachedKernel(optionsKey('layernorm-i8', v), () => ({
    name: `layernorm-i8[${v.workgroupSize}x${v.wordsPerThread}]`,
    code: layerNormI8Shader(v),
  }));
}

/**
 * One run of a LayerNorm layer on `variant`. `layer` carries the uniform constants (H, declared
 * bound, shift, epsVar); pass the full constants to have the per-channel values checked too.
 */
export function layerNormI8RunData(
  layer: LayerNormI8Layer | LayerNormI8Constants,
  shape: LayerNormI8Shape,
  variant: LayerNormI8ShaderOptions,
  options: LayerNormI8Options = {},
): RunData {
  checkShape(shape);
  if (layer.H !== shape.H)
    throw new RangeError(`layernorm-i8: constants are for H = ${layer.H}, the shape has H = ${shape.H}.`);
  if ('channels' in layer) checkLayerNormI8Constants(layer);
  // Validates H, the declared bound and the shift against the proof's ranges.
  layerNormI8Bounds(layer.H, layer.inputMaxAbs, layer.shift, layer.epsVar);
  checkVariant(variant);
  if (variant.workgroupSize * variant.wordsPerThread < wordsPerRow(shape.H)) {
    throw new RangeError(
      `layernorm-i8: ${variant.workgroupSize} threads x ${variant.wordsPerThread} words cannot hold a row of H = ${shape.H}.`,
    );
  }
  const maxX = options.maxWorkgroupsX ?? 65535;
  if (!Number.isInteger(maxX) || maxX < 1)
    throw new RangeError(`layernorm-i8: maxWorkgroupsX = ${maxX} must be a positive integer.`);
  const gridX = Math.min(shape.rows, maxX);
  const gridY = Math.ceil(shape.rows / gridX);
  const fields: Record<(typeof LAYERNORM_PARAM_FIELDS)[number], number> = {
    rows: shape.rows,
    H: shape.H,
    words: wordsPerRow(shape.H),
    shift: layer.shift,
    maxAbs: layer.inputMaxAbs,
    epsVar: layer.epsVar,
    gridX,
    pad0: 0,
  };
  return {
    label: `layernorm-i8[${variant.workgroupSize}x${variant.wordsPerThread}] ${shape.rows}x${shape.H}`,
    workgroups: [gridX, gridY, 1],
    params: Uint32Array.from(LAYERNORM_PARAM_FIELDS.map((f) => fields[f])),
  };
}

/**
 * The program for one LayerNorm layer. `layer` carries the uniform constants (H, declared bound,
 * shift, epsVar); pass the full constants to have the per-channel values checked too.
 */
export function layerNormI8Program(
  layer: LayerNormI8Layer | LayerNormI8Constants,
  shape: LayerNormI8Shape,
  options: LayerNormI8Options = {},
): ProgramInfo {
  // Shape and constants are refused before the variant is derived from H.
  checkShape(shape);
  if (layer.H !== shape.H)
    throw new RangeError(`layernorm-i8: constants are for H = ${layer.H}, the shape has H = ${shape.H}.`);
  if ('channels' in layer) checkLayerNormI8Constants(layer);
  layerNormI8Bounds(layer.H, layer.inputMaxAbs, layer.shift, layer.epsVar);
  const variant = layerNormI8Variant(shape.H, options);
  const run = layerNormI8RunData(layer, shape, variant, options);
  return { ...layerNormI8Kernel(variant), ...run, name: run.label! };
}

/** Per-channel constants as the shader reads them: array<vec4<u32>> of (m, e, negate, beta bits). */
export function packLayerNormChannels(c: LayerNormI8Constants): Uint32Array {
  checkLayerNormI8Constants(c);
  const out = new Uint32Array(c.H * 4);
  c.channels.forEach((ch, i) => {
    out[4 * i] = ch.m;
    out[4 * i + 1] = ch.e;
    out[4 * i + 2] = ch.negate ? 1 : 0;
    out[4 * i + 3] = ch.beta >>> 0;
  });
  return out;
}

export interface LayerNormI8Buffers {
  /** int32 [rows, H], row stride H. */
  x: GPUBuffer;
  /** packLayerNormChannels(constants). */
  channels: GPUBuffer;
  /** u32 [rows, ceil(H / 4)]: packed int8. */
  out: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function layerNormI8Bindings(shape: LayerNormI8Shape, buffers: LayerNormI8Buffers): GPUBuffer[] {
  const need = [
    ['x', buffers.x, shape.rows * shape.H * 4],
    ['channels', buffers.channels, shape.H * 16],
    ['out', buffers.out, shape.rows * wordsPerRow(shape.H) * 4],
  ] as const;
  for (const [what, buffer, bytes] of need) {
    if (buffer.size < bytes)
      throw new RangeError(`layernorm-i8: buffer ${what} has ${buffer.size} bytes, the shape needs ${bytes}.`);
  }
  return [buffers.x, buffers.channels, buffers.out];
}

export async function bindLayerNormI8(
  gpu: Gpu,
  constants: LayerNormI8Constants,
  shape: LayerNormI8Shape,
  buffers: LayerNormI8Buffers,
  options: LayerNormI8Options = {},
): Promise<BoundProgram> {
  const info = layerNormI8Program(constants, shape, options);
  return bindProgram(gpu, info, layerNormI8Bindings(shape, buffers));
}
