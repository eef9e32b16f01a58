/**
 * Host side of the INT8 GEMM (shaders/gemm-i8.ts): shape validation, the overflow proof for the
 * int32 accumulator, strategy choice per adapter, and the dispatch.
 */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type ProgramInfo, bindProgram } from '../gpu/program.js';
import { type GemmI8ShaderOptions, type GemmI8Strategy, gemmI8Shader } from '../../shaders/gemm-i8.js';
import { type GemmShape, type GemmTile, gemmLabel, gemmParams, gemmTileFor, gemmWorkgroupStorageBytes, gemmWorkgroups, resolveGemmShape } from './gemm-shape.js';
import { optionsKey } from '../../shaders/codegen.js';
import { type Dyadic, checkDyadic } from '../reference/dyadic.js';
import { provenGeluConstants } from './gelu-i8.js';

export type { GemmI8Strategy, GemmShape, GemmTile };

/**
 * dot4I8Packed where the hardware has it; on CPU emulation (SwiftShader) dot4I8Packed runs lane by
 * lane and unpacking with shifts is faster.
 */
export function preferredStrategy(gpu: Gpu): GemmI8Strategy {
  return gpu.adapter.isSoftware ? 'unpack' : 'dot4';
}

export type GemmI8Options = Omit<GemmI8ShaderOptions, 'tile'> & { tile?: GemmTile };

/** Largest |product| of an int8 (or uint8) by an int8. */
const MAX_PRODUCT = 128 * 128;
const INT32_MAX = 2 ** 31 - 1;

/**
 * Proves that no partial sum of the accumulator can leave int32: |bias| + K * 2^14 <= 2^31 - 1.
 * (uint8 A: |a| <= 255, |a * b| <= 255 * 128 < 2^15, the same bound holds with K * 2^15.)
 */
export function checkAccumulatorBound(K: number, biasMaxAbs: number, aUnsigned: boolean, what = 'INT8 GEMM'): void {
  const perTerm = aUnsigned ? 255 * 128 : MAX_PRODUCT;
  const bound = biasMaxAbs + K * perTerm;
  if (bound > INT32_MAX) {
    throw new RangeError(
      `${what}: K = ${K} with |bias| <= ${biasMaxAbs} can reach ${bound} and overflow the int32 accumulator (max K is ${Math.floor((INT32_MAX - biasMaxAbs) / perTerm)}).`,
    );
  }
}

export function gemmI8Program(options: GemmI8Options, shape: GemmShape): ProgramInfo {
  const tile = options.tile ?? gemmTileFor(shape.M);
  const shaderOptions: GemmI8ShaderOptions = { ...options, tile };
  const s = resolveGemmShape(shape, options.output !== 'i32');
  checkAccumulatorBound(s.K, 0, options.aUnsigned);
  return {
    name: gemmLabel(`gemm-i8[${options.strategy},${options.output}${options.aUnsigned ? ',u8' : ''}]`, s),
    key: optionsKey('gemm-i8', shaderOptions),
    code: gemmI8Shader(shaderOptions),
    workgroups: gemmWorkgroups(s, tile),
    params: gemmParams(s),
    workgroupStorageBytes: gemmWorkgroupStorageBytes(tile, 4),
  };
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
   * array<vec2<u32>> of (m, e), one per output column or one in all ('i8'); for 'gelu-i8' one per
   * column into GELU's fixed point, with perChannel only.
   */
  requant?: GPUBuffer;
  /** 'gelu-i8': the per-tensor constants, from uploadGeluI8Constants (src/kernels/gelu-i8.ts). */
  gelu?: GPUBuffer;
  c: GPUBuffer;
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
  if (options.bias !== !!buffers.bias) throw new Error('INT8 GEMM: options.bias and the bias buffer disagree');
  const gelu = options.output === 'gelu-i8';
  if (gelu) {
    if (options.perChannel !== !!buffers.requant) throw new Error('INT8 GEMM: a gelu-i8 output takes a requant buffer exactly when perChannel');
  } else if ((options.output === 'i8') !== !!buffers.requant) {
    throw new Error('INT8 GEMM: an i8 output needs a requant buffer, an i32 output none');
  }
  if (gelu !== !!buffers.gelu) throw new Error('INT8 GEMM: a gelu-i8 output needs a gelu constants buffer, other outputs none');
  checkAccumulatorBound(shape.K, biasMaxAbs, options.aUnsigned);
  const info = gemmI8Program({ ...options, tile: options.tile ?? gemmTileFor(shape.M, gpu.adapter.isSoftware) }, shape);
  if (buffers.gelu) provenGeluConstants(buffers.gelu, info.name);
  const list = [buffers.a, buffers.b];
  if (buffers.bias) list.push(buffers.bias);
  if (buffers.requant) list.push(buffers.requant);
  if (buffers.gelu) list.push(buffers.gelu);
  list.push(buffers.c);
  return bindProgram(gpu, info, list);
}
