/**
 * Host side of the integer LayerNorm (shaders/layernorm-i8.ts): validates the shape and the integer
 * constants against the ranges the overflow proof covers (docs/kernels/layernorm-i8.md), picks the
 * workgroup shape from H, and binds the buffers. A configuration outside the proof is refused with
 * a RangeError before any GPU work.
 *
 * The residual variant (options.residual) reads a residual add's operands instead of its int32 sum
 * and adds them as residual-add does; its constants go through the residual add's own term proof
 * (checkResidualAddBounds), and the sum it makes lies within 2^30, inside the LayerNorm's proof.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { checkElementwiseShape } from '../../shaders/int8-lanes.js';
import {
  LAYERNORM_PARAM_FIELDS,
  LAYERNORM_RESIDUAL_PARAM_FIELDS,
  type LayerNormI8ShaderOptions,
  layerNormI8Shader,
} from '../../shaders/layernorm-i8.js';
import type { ResidualOperandKind } from '../../shaders/residual-add.js';
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
import { wordsPerRow } from '../quant/pack.js';
import {
  checkLayerNormI8Constants,
  checkWideOutputBound,
  type LayerNormI8Constants,
  LN_MAX_H,
  layerNormI8Bounds,
} from '../reference/layernorm-i8.js';
import { type ResidualAddConstants, signedRange } from '../reference/residual-add.js';
import { checkResidualAddBounds, type ResidualAddBounds, type ResidualAddOptions } from './residual-add.js';

export type { LayerNormI8Constants };

/**
 * The residual add whose sum the LayerNorm reads, computed in its input read: operand kinds, the
 * add's constants and declared bounds (as residual-add takes them), and whether the sum is also
 * stored for other readers.
 */
export interface LayerNormI8Residual {
  operands: ResidualAddOptions;
  constants: ResidualAddConstants;
  bounds?: ResidualAddBounds;
  writeSum?: boolean;
}

export interface LayerNormI8Shape {
  rows: number;
  H: number;
}

export interface LayerNormI8Options {
  /** Threads per workgroup (a power of two <= 256); by default chosen from H. */
  workgroupSize?: number;
  /** Largest dispatch along x before rows wrap into y; defaults to the adapter's (65535). */
  maxWorkgroupsX?: number;
  /** Read the residual add's operands and add them in place of the int32 input (one dispatch, not two). */
  residual?: LayerNormI8Residual;
  /** Write int32 [rows, H] saturated at +-maxAbs (layerNormWideRef) instead of packed int8. */
  wideOutput?: { maxAbs: number };
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
  const v: LayerNormI8ShaderOptions = layerNormI8ShaderOptions(H, options.workgroupSize);
  if (options.wideOutput) v.wideOutput = true;
  const r = options.residual;
  if (!r) return v;
  return { ...v, residual: { a: r.operands?.a, b: r.operands?.b, writeSum: r.writeSum ?? false } };
}

function checkKind(side: 'a' | 'b', kind: unknown): asserts kind is ResidualOperandKind {
  if (kind !== 'i8' && kind !== 'i32' && kind !== 'i8m')
    throw new RangeError(`layernorm-i8: residual operand ${side} kind ${String(kind)} is not 'i8', 'i32' or 'i8m'.`);
}

function checkVariant(v: LayerNormI8ShaderOptions): void {
  const wg = v.workgroupSize;
  if (!Number.isInteger(wg) || wg < 1 || wg > MAX_WORKGROUP || (wg & (wg - 1)) !== 0) {
    throw new RangeError(`layernorm-i8: workgroupSize = ${wg} must be a power of two in [1, ${MAX_WORKGROUP}].`);
  }
  if (!Number.isInteger(v.wordsPerThread) || v.wordsPerThread < 1)
    throw new RangeError(`layernorm-i8: wordsPerThread = ${v.wordsPerThread} must be a positive integer.`);
  if (v.wideOutput !== undefined && typeof v.wideOutput !== 'boolean')
    throw new RangeError(`layernorm-i8: wideOutput = ${String(v.wideOutput)} must be true, false or absent.`);
  if (v.residual) {
    checkKind('a', v.residual.a);
    checkKind('b', v.residual.b);
    if (typeof v.residual.writeSum !== 'boolean')
      throw new RangeError(`layernorm-i8: residual writeSum = ${String(v.residual.writeSum)} must be true or false.`);
  }
}

/** The variant's options as compiled (unknown fields dropped, so the cache key is the kernel's). */
function variantOf(variant: LayerNormI8ShaderOptions): LayerNormI8ShaderOptions {
  checkVariant(variant);
  const v: LayerNormI8ShaderOptions = { workgroupSize: variant.workgroupSize, wordsPerThread: variant.wordsPerThread };
  if (variant.wideOutput) v.wideOutput = true;
  const r = variant.residual;
  if (r) v.residual = { a: r.a, b: r.b, writeSum: r.writeSum };
  return v;
}

/** What to compile for one variant: rows up to 4 * workgroupSize * wordsPerThread values, any count. */
export function layerNormI8Kernel(variant: LayerNormI8ShaderOptions): KernelProgram {
  const v = variantOf(variant);
  const r = v.residual;
  const input = r ? `${r.a}+${r.b}${r.writeSum ? ',sum' : ''}` : '';
  return cachedKernel(optionsKey('layernorm-i8', v), () => ({
    name: `layernorm-i8[${input ? `${input},` : ''}${v.wideOutput ? 'wide,' : ''}${v.workgroupSize}x${v.wordsPerThread}]`,
    code: layerNormI8Shader(v),
  }));
}

/**
 * The residual constants' checks, as residual-add makes them (the term proof over the declared
 * bounds, the output width), and that they are the variant's kinds. Returns the uniform words.
 */
function residualParams(variant: LayerNormI8ShaderOptions, residual: LayerNormI8Residual | undefined): number[] {
  const r = variant.residual;
  if (!r && !residual) return [];
  if (!r) throw new RangeError('layernorm-i8: residual constants given for a variant without a residual input.');
  if (!residual) throw new RangeError('layernorm-i8: the residual variant needs the residual add (options.residual).');
  const { operands, constants: c, bounds } = residual;
  if (operands?.a !== r.a || operands?.b !== r.b || (residual.writeSum ?? false) !== r.writeSum)
    throw new RangeError(
      `layernorm-i8: residual ${operands?.a}+${operands?.b}${residual.writeSum ? ' writing the sum' : ''} does not match the variant's ${r.a}+${r.b}${r.writeSum ? ' writing the sum' : ''}.`,
    );
  checkResidualAddBounds(operands, c, bounds);
  const [lo, hi] = signedRange(c.bits);
  return [c.a.m, c.a.e, c.b.m, c.b.e, lo >>> 0, hi, 0, 0];
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
    outMax: wideOutputBound(variant, options),
  };
  const residual = residualParams(variant, options.residual);
  if (residual.length) checkResidualShape(shape);
  const r = variant.residual;
  const input = r ? `${r.a}+${r.b}${r.writeSum ? ',sum' : ''},` : '';
  const params = [...LAYERNORM_PARAM_FIELDS.map((f) => fields[f]), ...residual];
  if (params.length !== (r ? LAYERNORM_RESIDUAL_PARAM_FIELDS : LAYERNORM_PARAM_FIELDS).length)
    throw new Error('layernorm-i8: uniform layout out of step with the shader');
  return {
    label: `layernorm-i8[${input}${variant.wideOutput ? 'wide,' : ''}${variant.workgroupSize}x${variant.wordsPerThread}] ${shape.rows}x${shape.H}`,
    workgroups: [gridX, gridY, 1],
    params: Uint32Array.from(params),
  };
}

/** The wide variant's output bound (0, unused, for int8 output); options and variant must agree. */
function wideOutputBound(variant: LayerNormI8ShaderOptions, options: LayerNormI8Options): number {
  const w = options.wideOutput;
  if (!!variant.wideOutput !== !!w)
    throw new RangeError(
      `layernorm-i8: ${w ? 'a wide output bound' : 'no wide output bound'} for a variant with ${variant.wideOutput ? 'a wide' : 'an int8'} output.`,
    );
  if (!w) return 0;
  checkWideOutputBound(w.maxAbs);
  return w.maxAbs;
}

/** The residual add's element-index bound (its shader's u32 arithmetic), which the fused read shares. */
function checkResidualShape(shape: LayerNormI8Shape): void {
  checkElementwiseShape('layernorm-i8 residual input', shape.rows, shape.H);
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
  /** u32 [rows, ceil(H / 4)]: packed int8; int32 [rows, H] for a wide output. */
  out: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function layerNormI8Bindings(
  shape: LayerNormI8Shape,
  buffers: LayerNormI8Buffers,
  wideOutput = false,
): GPUBuffer[] {
  checkBufferBytes('layernorm-i8', [
    ['x', buffers.x, shape.rows * shape.H * 4],
    ['channels', buffers.channels, shape.H * 16],
    ['out', buffers.out, shape.rows * (wideOutput ? shape.H : wordsPerRow(shape.H)) * 4],
  ]);
  return [buffers.x, buffers.channels, buffers.out];
}

export interface ResidualLayerNormI8Buffers {
  /** The residual add's operands as residual-add binds them: packed int8 ('i8', 'i8m') or int32 [rows, H] ('i32'). */
  a: GPUBuffer;
  b: GPUBuffer;
  /** int32 [H]: the column multipliers of an 'i8m' operand (and only of one). */
  aMultipliers?: GPUBuffer;
  bMultipliers?: GPUBuffer;
  /** packLayerNormChannels(constants). */
  channels: GPUBuffer;
  /** u32 [rows, ceil(H / 4)]: packed int8. */
  out: GPUBuffer;
  /** int32 [rows, H]: the residual sum, for a variant with writeSum (and only for one). */
  sum?: GPUBuffer;
}

/** The residual variant's buffers in binding order, checked to hold `shape`. */
export function residualLayerNormI8Bindings(
  variant: LayerNormI8ShaderOptions,
  shape: LayerNormI8Shape,
  buffers: ResidualLayerNormI8Buffers,
): GPUBuffer[] {
  const r = variantOf(variant).residual;
  if (!r) throw new RangeError('layernorm-i8: residualLayerNormI8Bindings is for a variant with a residual input.');
  const { rows, H } = shape;
  const need: [string, GPUBuffer | undefined, number][] = [];
  for (const side of ['a', 'b'] as const) {
    need.push([side, buffers[side], (r[side] === 'i32' ? rows * H : rows * wordsPerRow(H)) * 4]);
    const multipliers = buffers[`${side}Multipliers`];
    if (r[side] === 'i8m') need.push([`${side}Multipliers`, multipliers, H * 4]);
    else if (multipliers)
      throw new RangeError(
        `layernorm-i8: residual operand ${side} is ${r[side]}; only an 'i8m' operand has multipliers.`,
      );
  }
  need.push(['channels', buffers.channels, H * 16], ['out', buffers.out, rows * wordsPerRow(H) * 4]);
  if (r.writeSum) need.push(['sum', buffers.sum, rows * H * 4]);
  else if (buffers.sum) throw new RangeError('layernorm-i8: a sum buffer for a variant that does not write the sum.');
  checkBufferBytes('layernorm-i8', need);
  return need.map(([, buffer]) => buffer!);
}

/** The residual add and the LayerNorm of its sum in one dispatch (options.residual says how to add). */
export async function bindResidualLayerNormI8(
  gpu: Gpu,
  constants: LayerNormI8Constants,
  shape: LayerNormI8Shape,
  buffers: ResidualLayerNormI8Buffers,
  options: LayerNormI8Options & { residual: LayerNormI8Residual },
): Promise<BoundProgram> {
  const info = layerNormI8Program(constants, shape, options);
  return bindProgram(gpu, info, residualLayerNormI8Bindings(layerNormI8Variant(shape.H, options), shape, buffers));
}

export async function bindLayerNormI8(
  gpu: Gpu,
  constants: LayerNormI8Constants,
  shape: LayerNormI8Shape,
  buffers: LayerNormI8Buffers,
  options: LayerNormI8Options = {},
): Promise<BoundProgram> {
  if (options.residual) throw new RangeError('layernorm-i8: a residual input binds with bindResidualLayerNormI8.');
  const info = layerNormI8Program(constants, shape, options);
  return bindProgram(gpu, info, layerNormI8Bindings(shape, buffers, !!options.wideOutput));
}
