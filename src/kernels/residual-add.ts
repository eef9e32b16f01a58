/**
 * Host side of the residual add (shaders/residual-add.ts): shape and constant validation, the
 * proof that neither rescaled term can reach the int32 overflow guard, and the dispatch.
 * Multipliers and the output range travel in the uniform, so one pipeline per operand-kind pair.
 * An 'i8m' operand's column multipliers are a buffer; they are checked where they are made
 * (checkColumnMultipliers: validateProgram, the test cases), and the bound of q m_c declared here is
 * what the term proof uses.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { checkElementwiseShape, wordGridWorkgroups } from '../../shaders/int8-lanes.js';
import {
  RESIDUAL_ADD_PARAM_FIELDS,
  type ResidualAddShaderOptions,
  type ResidualOperandKind,
  residualAddShader,
} from '../../shaders/residual-add.js';
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
import { checkDyadic } from '../reference/dyadic.js';
import {
  dyadicTermBound,
  operandMaxAbs,
  RESIDUAL_TERM_MAX,
  type ResidualAddConstants,
  signedRange,
} from '../reference/residual-add.js';

export type ResidualAddOptions = ResidualAddShaderOptions;
export type { ResidualAddConstants };

export interface ResidualAddShape {
  rows: number;
  cols: number;
}

/**
 * Declared bounds on |a| and |b| for int32 operands (e.g. 2^21 for a 22-bit residual stream) and on
 * |q m_c| for 'i8m' ones (128 max |m_c|); int8 operands are bounded by 128 and a missing bound
 * means the full range of the kind (int32; 128 (2^23 - 1) for 'i8m').
 */
export interface ResidualAddBounds {
  a?: number;
  b?: number;
}

/**
 * Proves that, for inputs within their bounds, neither term reaches the guard 2^30 - 1, so the
 * int32 sum is exact; refuses the plan otherwise.
 */
export function checkResidualAddBounds(
  options: ResidualAddOptions,
  c: ResidualAddConstants,
  bounds: ResidualAddBounds = {},
): void {
  signedRange(c.bits);
  for (const side of ['a', 'b'] as const) {
    const kind = options[side];
    checkKind(side, kind);
    if (kind === 'i8' && bounds[side] !== undefined)
      throw new RangeError(`residual add: operand ${side} is int8; its bound is 128, not declared`);
    checkDyadic(c[side], `residual add multiplier ${side}`);
    const maxAbs = operandMaxAbs(kind, bounds[side]);
    const t = dyadicTermBound(maxAbs, c[side]);
    if (t > RESIDUAL_TERM_MAX) {
      throw new RangeError(
        `residual add: operand ${side} (${kind}, |${side}| <= ${maxAbs}) times ${c[side].m} / 2^${c[side].e} can reach ${t}, over the int32-safe term bound 2^30 - 1; ` +
          `declare a tighter bound or plan a larger output scale`,
      );
    }
  }
}

function checkKind(side: 'a' | 'b', kind: unknown): void {
  if (kind !== 'i8' && kind !== 'i32' && kind !== 'i8m')
    throw new RangeError(`residual add: operand ${side} kind ${String(kind)} is not 'i8', 'i32' or 'i8m'`);
}

function checkKinds(options: ResidualAddOptions): void {
  for (const side of ['a', 'b'] as const) checkKind(side, options[side]);
}

/** What to compile: one pipeline per operand-kind pair (multipliers, widths and sizes are uniforms). */
export function residualAddKernel(options: ResidualAddOptions): KernelProgram {
  checkKinds(options);
  const shaderOptions: ResidualAddShaderOptions = { a: options.a, b: options.b };
  return cachedKernel(optionsKey('residual-add', shaderOptions), () => ({
    name: `residual-add[${options.a}+${options.b}]`,
    code: residualAddShader(shaderOptions),
  }));
}

/** One run: validates the shape, proves the terms' bounds, and gives the uniform and the grid. */
export function residualAddRunData(
  options: ResidualAddOptions,
  shape: ResidualAddShape,
  c: ResidualAddConstants,
  bounds?: ResidualAddBounds,
): RunData {
  const { rows, cols } = shape;
  checkElementwiseShape('residual add', rows, cols);
  checkResidualAddBounds(options, c, bounds);
  const [lo, hi] = signedRange(c.bits);
  const cols4 = wordsPerRow(cols);
  const values: Record<(typeof RESIDUAL_ADD_PARAM_FIELDS)[number], number> = {
    rows,
    cols,
    cols4,
    words: rows * cols4,
    ma: c.a.m,
    ea: c.a.e,
    mb: c.b.m,
    eb: c.b.e,
    lo: lo >>> 0,
    hi,
    pad0: 0,
    pad1: 0,
  };
  return {
    label: `residual-add[${options.a}+${options.b}->i${c.bits}] ${rows}x${cols}`,
    workgroups: wordGridWorkgroups(rows * cols4),
    params: new Uint32Array(RESIDUAL_ADD_PARAM_FIELDS.map((f) => values[f])),
  };
}

export function residualAddProgram(
  options: ResidualAddOptions,
  shape: ResidualAddShape,
  c: ResidualAddConstants,
  bounds?: ResidualAddBounds,
): ProgramInfo {
  const run = residualAddRunData(options, shape, c, bounds);
  return { ...residualAddKernel(options), ...run, name: run.label! };
}

export interface ResidualAddBuffers {
  /** int8 packed [rows, ceil(cols / 4)] words ('i8', 'i8m') or int32 [rows, cols] ('i32'), as options.a says. */
  a: GPUBuffer;
  b: GPUBuffer;
  /** int32 [cols]: the column multipliers of an 'i8m' operand (and only of one). */
  aMultipliers?: GPUBuffer;
  bMultipliers?: GPUBuffer;
  /** int32 [rows, cols]. */
  output: GPUBuffer;
}

/** The buffers in binding order, checked to hold `shape` (the largest a Dispatch will run). */
export function residualAddBindings(
  options: ResidualAddOptions,
  shape: ResidualAddShape,
  buffers: ResidualAddBuffers,
): GPUBuffer[] {
  checkKinds(options);
  const operandBytes = (kind: ResidualOperandKind) =>
    (kind === 'i32' ? shape.rows * shape.cols : shape.rows * wordsPerRow(shape.cols)) * 4;
  const need: [string, GPUBuffer | undefined, number][] = [];
  for (const side of ['a', 'b'] as const) {
    need.push([side, buffers[side], operandBytes(options[side])]);
    const multipliers = buffers[`${side}Multipliers`];
    if (options[side] === 'i8m') need.push([`${side}Multipliers`, multipliers, shape.cols * 4]);
    else if (multipliers)
      throw new RangeError(`residual add: operand ${side} is ${options[side]}; only an 'i8m' operand has multipliers`);
  }
  need.push(['output', buffers.output, shape.rows * shape.cols * 4]);
  checkBufferBytes('residual add', need);
  return need.map(([, buffer]) => buffer!);
}

export async function bindResidualAdd(
  gpu: Gpu,
  options: ResidualAddOptions,
  shape: ResidualAddShape,
  constants: ResidualAddConstants,
  buffers: ResidualAddBuffers,
  bounds?: ResidualAddBounds,
): Promise<BoundProgram> {
  const info = residualAddProgram(options, shape, constants, bounds);
  return bindProgram(gpu, info, residualAddBindings(options, shape, buffers));
}
