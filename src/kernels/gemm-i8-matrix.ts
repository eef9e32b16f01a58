/**
 * Host side of the subgroup-matrix INT8 GEMM (shaders/gemm-i8-matrix.ts): a variant of the gemm-i8
 * family ({ matrix: tile }), with its uniform, bindings, epilogues and overflow proof, so that
 * gemmI8Kernel / gemmI8RunData / gemmI8Bindings of gemm-i8.ts serve it and one Dispatch runs it or
 * the tiles. K is padded to the configuration's K inside the kernel (zero words staged past K4),
 * so the accumulator bound is the one of K itself.
 */
import { optionsKey } from '../../shaders/codegen.js';
import type { GemmI8ShaderOptions } from '../../shaders/gemm-i8.js';
import { type GemmMatrixTile, gemmI8MatrixShader, matrixTileGeometry } from '../../shaders/gemm-i8-matrix.js';
import { cachedKernel, type KernelProgram, type RunData } from '../gpu/program.js';
import { checkAccumulatorBound, type GemmShape, gemmLabel, gemmParams, resolveGemmShape } from './gemm-shape.js';

/** The gemm-i8 family's options without a variant (the matrix tile is the variant). */
type GemmI8Options = Omit<GemmI8ShaderOptions, 'tile'>;

export type { GemmMatrixTile };

/** The subgroup-matrix variant; `emulate` runs its plain-WGSL stand-in (any adapter, for checks). */
export interface GemmMatrixVariant {
  matrix: GemmMatrixTile;
  emulate?: boolean;
}

function family(options: GemmI8Options, v: GemmMatrixVariant): string {
  return `gemm-i8[matrix${v.emulate ? '-emulated' : ''},${options.output}]`;
}

function checkSigned(options: GemmI8Options): void {
  if (options.aUnsigned)
    throw new RangeError(
      'INT8 GEMM: the subgroup-matrix variant takes int8 A only (i8 components); uint8 A runs on the tiles or the GEMV',
    );
}

export function gemmI8MatrixKernel(options: GemmI8Options, v: GemmMatrixVariant): KernelProgram {
  checkSigned(options);
  const g = matrixTileGeometry(v.matrix);
  const t = v.matrix;
  const shaderOptions = {
    output: options.output,
    perChannel: options.perChannel,
    bias: options.bias,
    tile: {
      config: { M: t.config.M, N: t.config.N, K: t.config.K },
      tilesM: t.tilesM,
      tilesN: t.tilesN,
      kSteps: t.kSteps,
      threads: t.threads,
      subgroupMaxSize: t.subgroupMaxSize,
    },
    emulate: !!v.emulate,
  };
  // The gemm-i8 family prefix: a Dispatch bound for the family serves this variant as well.
  return cachedKernel(optionsKey('gemm-i8', { matrix: shaderOptions }), () => ({
    name: `${family(options, v)} ${t.config.M}x${t.config.N}x${t.config.K} tile ${g.BM}x${g.BN}x${4 * g.BKW}/${t.threads}`,
    code: gemmI8MatrixShader(shaderOptions),
    workgroupStorageBytes: g.sharedWords * 4,
  }));
}

export function gemmI8MatrixRunData(
  options: GemmI8Options,
  shape: GemmShape,
  v: GemmMatrixVariant,
  biasMaxAbs = 0,
): RunData {
  checkSigned(options);
  const s = resolveGemmShape(shape, options.output !== 'i32');
  checkAccumulatorBound(s.K, biasMaxAbs, false);
  const g = matrixTileGeometry(v.matrix);
  return {
    label: gemmLabel(family(options, v), s),
    workgroups: [Math.ceil(s.N / g.BN), Math.ceil(s.M / g.BM), s.batchOuter * s.batchInner],
    params: gemmParams(s),
  };
}
