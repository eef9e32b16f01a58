/**
 * Host side of the INT8 GEMM (shaders/gemm-i8.ts): shape validation, the overflow proof for the
 * int32 accumulator, strategy choice per adapter (src/kernels/gemm-strategy.ts), and the dispatch.
 * Variants: the tiles (shaders/gemm-tiled.ts), for M <= 8 rows (decoding) the GEMV of
 * shaders/gemv-i8.ts, and the subgroup-matrix kernel (src/kernels/gemm-i8-matrix.ts); all share the
 * uniform, bindings and epilogues, so one Dispatch runs any of them.
 */

import { optionsKey } from '../../shaders/codegen.js';
import { type GemmI8ShaderOptions, type GemmI8Strategy, gemmI8Shader } from '../../shaders/gemm-i8.js';
import { validateTile } from '../../shaders/gemm-tiled.js';
import { type GemvShape, gemvI8Shader, gemvWorkgroupStorageBytes, validateGemvShape } from '../../shaders/gemv-i8.js';
import type { Gpu } from '../gpu/gpu.js';
import {
  type BoundProgram,
  bindProgram,
  cachedKernel,
  type KernelProgram,
  type ProgramInfo,
  type RunData,
} from '../gpu/program.js';
import { checkDyadic, type Dyadic } from '../reference/dyadic.js';
import { provenGeluConstants } from './gelu-i8.js';
import { type GemmMatrixVariant, gemmI8MatrixKernel, gemmI8MatrixRunData } from './gemm-i8-matrix.js';
import {
  checkAccumulatorBound,
  type GemmShape,
  type GemmTile,
  gemmLabel,
  gemmParams,
  gemmTileFor,
  gemmWorkgroupStorageBytes,
  gemmWorkgroups,
  resolveGemmShape,
} from './gemm-shape.js';
import { gemmStrategyOf } from './gemm-strategy.js';

// The planner and validators prove their GEMMs' accumulators through this family's wrapper.
export { checkAccumulatorBound };

import { provenSiluConstants } from './silu-i8.js';

export type { GemmI8Strategy, GemmMatrixVariant, GemmShape, GemmTile, GemvShape };

/**
 * A compiled variant of the family: a tile (shaders/gemm-tiled.ts), the few-row GEMV
 * (shaders/gemv-i8.ts) or the subgroup-matrix kernel (shaders/gemm-i8-matrix.ts).
 */
export type GemmI8Variant = GemmTile | { gemv: GemvShape } | GemmMatrixVariant;

export function isGemvVariant(v: GemmI8Variant): v is { gemv: GemvShape } {
  return 'gemv' in v;
}

export function isMatrixVariant(v: GemmI8Variant): v is GemmMatrixVariant {
  return 'matrix' in v;
}

/** Largest M the picker gives the GEMV variant (decoding: batch rows). */
export const GEMV_MAX_ROWS = 8;

/**
 * The GEMV variant for M <= 8 rows: rows bucketed to 1, 4 or 8 (three pipelines per epilogue, the
 * accumulators are registers). GPUs: 4 column groups (16 columns) x 16 threads splitting K, so that a
 * warp reads 16 consecutive words of one weight row. SwiftShader runs a workgroup's threads as SIMD
 * lanes on one core and pays per barrier and idle lane: no K split, 16 threads of 4 columns each,
 * measured fastest there (bench/gemv.ts --sweep at 1x3072x768 and 1x50257x768: 12-16 ms and
 * 200-300 ms, vs 13-20 ms and 250-1030 ms for splits 2..16).
 */
export function gemvShapeFor(M: number, software = false): GemvShape {
  const rows = M <= 1 ? 1 : M <= 4 ? 4 : 8;
  return software ? { rows, columns: 16, split: 1 } : { rows, columns: 4, split: 16 };
}

/**
 * The inner product of the tiles and the GEMV for this device (gemm-strategy.ts): a measured
 * dot4 / unpack ratio where one was recorded, else unpack on CPU emulation (SwiftShader runs
 * dot4I8Packed lane by lane) and dot4I8Packed on hardware.
 */
export function preferredStrategy(gpu: Gpu): GemmI8Strategy {
  return gemmStrategyOf(gpu).inner;
}

/** `tile` forces a variant (a tile or { gemv }); absent, gemmI8Variant picks one by M. */
export type GemmI8Options = Omit<GemmI8ShaderOptions, 'tile'> & { tile?: GemmI8Variant };

function gemmI8Family(options: GemmI8Options): string {
  return `gemm-i8[${options.strategy},${options.output}${options.aUnsigned ? ',u8' : ''}]`;
}

/**
 * The variant a shape needs: the tile named in the options; else the GEMV variant for M <= 8
 * (gemvShapeFor), else gemmTileFor(M). Pass the adapter's `isSoftware` as the wrappers do; every
 * variant serves every size (the grid covers M and N), so the choice changes speed, never a bit.
 */
export function gemmI8Variant(options: GemmI8Options, shape: Pick<GemmShape, 'M'>, software = false): GemmI8Variant {
  if (options.tile) return options.tile;
  if (shape.M <= GEMV_MAX_ROWS) return { gemv: gemvShapeFor(shape.M, software) };
  return gemmTileFor(shape.M, software);
}

/**
 * The variant this device runs a shape on: the tile named in the options; else the subgroup-matrix
 * kernel where the device's strategy has one (int8 A, M above the GEMV's rows); else gemmI8Variant.
 * What a runtime should call in place of gemmI8Variant(options, shape, isSoftware).
 */
export function gemmI8VariantFor(gpu: Gpu, options: GemmI8Options, shape: Pick<GemmShape, 'M'>): GemmI8Variant {
  if (options.tile) return options.tile;
  const { matrix } = gemmStrategyOf(gpu);
  if (matrix && !options.aUnsigned && shape.M > GEMV_MAX_ROWS) return { matrix };
  return gemmI8Variant(options, shape, gpu.adapter.isSoftware);
}

/** What to compile for one variant: the code depends on the options and the variant only, never on sizes. */
export function gemmI8Kernel(options: GemmI8Options, variant: GemmI8Variant): KernelProgram {
  if (isMatrixVariant(variant)) return gemmI8MatrixKernel(options, variant);
  if (isGemvVariant(variant)) {
    validateGemvShape(variant.gemv);
    const g: GemvShape = { rows: variant.gemv.rows, columns: variant.gemv.columns, split: variant.gemv.split };
    const shaderOptions = {
      strategy: options.strategy,
      output: options.output,
      perChannel: options.perChannel,
      bias: options.bias,
      aUnsigned: options.aUnsigned,
      gemv: g,
    };
    // Same family prefix as the tiles: a Dispatch bound for the family serves both.
    return cachedKernel(optionsKey('gemm-i8', shaderOptions), () => ({
      name: `${gemmI8Family(options)} gemv ${g.rows}x${4 * g.columns}/${g.split}`,
      code: gemvI8Shader(shaderOptions),
      workgroupStorageBytes: gemvWorkgroupStorageBytes(g),
    }));
  }
  const tile = variant;
  const shaderOptions: GemmI8ShaderOptions = {
    strategy: options.strategy,
    output: options.output,
    perChannel: options.perChannel,
    bias: options.bias,
    aUnsigned: options.aUnsigned,
    tile,
  };
  return cachedKernel(optionsKey('gemm-i8', shaderOptions), () => ({
    name: `${gemmI8Family(options)} tile ${tile.m}x${tile.n}x${tile.k4}/${tile.threadM}x${tile.threadN}`,
    code: gemmI8Shader(shaderOptions),
    workgroupStorageBytes: gemmWorkgroupStorageBytes(tile, 4),
  }));
}

/**
 * One run on `tile`: validates the shape, proves the accumulator bound for it (with the largest
 * |bias| of the bias buffer), and gives the uniform and the grid.
 */
export function gemmI8RunData(
  options: GemmI8Options,
  shape: GemmShape,
  variant: GemmI8Variant,
  biasMaxAbs = 0,
): RunData {
  if (isMatrixVariant(variant)) return gemmI8MatrixRunData(options, shape, variant, biasMaxAbs);
  const s = resolveGemmShape(shape, options.output !== 'i32');
  checkAccumulatorBound(s.K, biasMaxAbs, options.aUnsigned);
  if (isGemvVariant(variant)) {
    validateGemvShape(variant.gemv);
    const { rows, columns } = variant.gemv;
    const workgroups: [number, number, number] = [
      Math.ceil(s.N / (4 * columns)),
      Math.ceil(s.M / rows),
      s.batchOuter * s.batchInner,
    ];
    return { label: gemmLabel(`${gemmI8Family(options)} gemv`, s), workgroups, params: gemmParams(s) };
  }
  validateTile(variant);
  return { label: gemmLabel(gemmI8Family(options), s), workgroups: gemmWorkgroups(s, variant), params: gemmParams(s) };
}

export function gemmI8Program(options: GemmI8Options, shape: GemmShape): ProgramInfo {
  const tile = gemmI8Variant(options, shape);
  const run = gemmI8RunData(options, shape, tile);
  return { ...gemmI8Kernel(options, tile), ...run, name: run.label! };
}

/** (m, e) pairs as the shader reads them: array<vec2<u32>>. */
export function packRequant(requant: Dyadic[]): Uint32Array {
  const out = new Uint32Array(requant.length * 2);
  requant.forEach((d, i) => {
    checkDyadic(d, `requant[${i}]`);
    out[2 * i] = d.m;
    out[2 * i + 1] = d.e;
  });
  return out;
}

export interface GemmI8Buffers {
  a: GPUBuffer;
  b: GPUBuffer;
  bias?: GPUBuffer;
  /**
   * array<vec2<u32>> of (m, e), one per output column or one in all ('i8'); for 'gelu-i8' and
   * 'silu-i8' one per column into the activation's fixed point, with perChannel only.
   */
  requant?: GPUBuffer;
  /** 'gelu-i8': the per-tensor constants, from uploadGeluI8Constants (src/kernels/gelu-i8.ts). */
  gelu?: GPUBuffer;
  /** 'silu-i8': the per-tensor constants, from uploadSiluI8Constants (src/kernels/silu-i8.ts). */
  silu?: GPUBuffer;
  c: GPUBuffer;
}

/**
 * The buffers in binding order (after the uniform), checked against the options: for bindGemmI8 and
 * for Dispatch.create with gemmI8Kernel.
 */
export function gemmI8Bindings(options: GemmI8Options, buffers: GemmI8Buffers): GPUBuffer[] {
  if (options.bias !== !!buffers.bias) throw new Error('INT8 GEMM: options.bias and the bias buffer disagree');
  const gelu = options.output === 'gelu-i8';
  const silu = options.output === 'silu-i8';
  if (gelu || silu) {
    if (options.perChannel !== !!buffers.requant)
      throw new Error(`INT8 GEMM: a ${options.output} output takes a requant buffer exactly when perChannel`);
  } else if ((options.output === 'i8') !== !!buffers.requant) {
    throw new Error('INT8 GEMM: an i8 output needs a requant buffer, an i32 output none');
  }
  if (gelu !== !!buffers.gelu)
    throw new Error('INT8 GEMM: a gelu-i8 output needs a gelu constants buffer, other outputs none');
  if (silu !== !!buffers.silu)
    throw new Error('INT8 GEMM: a silu-i8 output needs a silu constants buffer, other outputs none');
  if (buffers.gelu) provenGeluConstants(buffers.gelu, gemmI8Family(options));
  if (buffers.silu) provenSiluConstants(buffers.silu, gemmI8Family(options));
  const list = [buffers.a, buffers.b];
  if (buffers.bias) list.push(buffers.bias);
  if (buffers.requant) list.push(buffers.requant);
  // The activation constants share one binding slot (shaders/gemm-i8.ts).
  if (buffers.gelu) list.push(buffers.gelu);
  if (buffers.silu) list.push(buffers.silu);
  list.push(buffers.c);
  return list;
}

/**
 * Binds a GEMM to its buffers. `biasMaxAbs` is the largest |bias| in the bias buffer: the overflow
 * proof needs it, and the caller (who uploaded the bias) knows it.
 */
export async function bindGemmI8(
  gpu: Gpu,
  options: GemmI8Options,
  shape: GemmShape,
  buffers: GemmI8Buffers,
  biasMaxAbs = 0,
): Promise<BoundProgram> {
  const list = gemmI8Bindings(options, buffers);
  const variant = gemmI8Variant(options, shape, gpu.adapter.isSoftware);
  const run = gemmI8RunData(options, shape, variant, biasMaxAbs);
  return bindProgram(gpu, { ...gemmI8Kernel(options, variant), ...run, name: run.label! }, list);
}
