/**
 * Subgroup-matrix INT8 GEMM cases, checked bit for bit against the gemm-i8 reference through the
 * gemm-i8 case runner. Two suites: the emulated module (shaders/gemm-i8-matrix.ts with plain-WGSL
 * stand-ins for the matrix builtins) runs on any adapter and checks this kernel's staging, K padding,
 * tile assignment and epilogue; the real module runs where the device has an i8 configuration.
 */
import type { GemmMatrixTile } from '../../shaders/gemm-i8-matrix.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { GemmMatrixVariant } from '../../src/kernels/gemm-i8.js';
import { gemmStrategyOf } from '../../src/kernels/gemm-strategy.js';
import { type GemmI8Case, runGemmI8Case } from './gemm-i8.js';
import type { CheckSuite } from './suite.js';

/**
 * Emulated tiles: a small configuration with one accumulator per subgroup and K4 staged in two
 * configuration steps, the same with two accumulators per subgroup, and an NVIDIA-like 16x8x32
 * with two subgroups for four result matrices.
 */
export const EMULATED_TILES: GemmMatrixTile[] = [
  { config: { M: 8, N: 8, K: 16 }, tilesM: 2, tilesN: 2, kSteps: 2, threads: 16, subgroupMaxSize: 4 },
  { config: { M: 8, N: 8, K: 16 }, tilesM: 2, tilesN: 2, kSteps: 1, threads: 8, subgroupMaxSize: 4 },
  { config: { M: 16, N: 8, K: 32 }, tilesM: 1, tilesN: 4, kSteps: 1, threads: 32, subgroupMaxSize: 16 },
];

function tileName(t: GemmMatrixTile): string {
  return `${t.config.M}x${t.config.N}x${t.config.K} tiles ${t.tilesM}x${t.tilesN}x${t.kSteps}/${t.threads}`;
}

/**
 * Cases per variant (undefined: the device's own tile, filled in at run time): edge tiles in M and
 * N, K short of, past and far past the configuration's K, both outputs, extreme values, a
 * saturating per-tensor rescale, and attention's head slices. Few pipelines per variant: the
 * emulated module takes seconds to compile on SwiftShader.
 */
export function matrixCases(label: string, variants: (GemmMatrixVariant | undefined)[]): GemmI8Case[] {
  const cases: GemmI8Case[] = [];
  let seed = 5000;
  const base = { values: 'random', bias: true, perChannel: true, requant: 'typical', aUnsigned: false } as const;
  const add = (c: Omit<GemmI8Case, 'strategy' | 'seed' | 'name'>, what: string) => {
    cases.push({ ...c, name: `${label} ${what}`, strategy: 'dot4', seed: seed++ });
  };
  variants.forEach((tile, i) => {
    const name = tile ? tileName(tile.matrix) : 'device tile';
    add({ ...base, M: 17, N: 33, K: 65, output: 'i32', tile }, `${name}: 17x33x65 i32`);
    add({ ...base, M: 40, N: 36, K: 100, output: 'i8', tile }, `${name}: 40x36x100 i8`);
    if (i === 0 || !tile) {
      add(
        { ...base, M: 33, N: 20, K: 771, values: 'min', output: 'i32', bias: false, tile },
        `${name}: all -128 (largest products), K 771`,
      );
      add(
        {
          ...base,
          M: 13,
          N: 13,
          K: 64,
          output: 'i32',
          bias: false,
          tile,
          attention: { kind: 'qk', batch: 2, heads: 3 },
        },
        `${name}: attention Q.K^T 2 seqs x 3 heads, seq 13, head dim 64`,
      );
    }
    if (i === 1 || !tile) {
      add(
        { ...base, M: 9, N: 5, K: 3, output: 'i8', perChannel: false, requant: 'saturating', tile },
        `${name}: 9x5x3 saturating per-tensor i8`,
      );
    }
  });
  return cases;
}

export const emulatedSuite: CheckSuite = {
  name: 'INT8 GEMM, subgroup-matrix kernel emulated in plain WGSL',
  cases: () =>
    matrixCases(
      'emulated',
      EMULATED_TILES.map((matrix) => ({ matrix, emulate: true })),
    ).map((c) => ({ name: c.name, run: (gpu: Gpu) => runGemmI8Case(gpu, c) })),
};

/** The real kernel on the tile the device's strategy chose; a device without one fails (the test skips first, naming why). */
export const hardwareSuite: CheckSuite = {
  name: 'INT8 GEMM, subgroup-matrix kernel',
  cases: () =>
    matrixCases('matrix', [undefined]).map((c) => ({
      name: c.name,
      run: async (gpu: Gpu) => {
        const { matrix, reasons } = gemmStrategyOf(gpu);
        if (!matrix) throw new Error(`no subgroup-matrix kernel on this device: ${reasons.join('; ')}`);
        return runGemmI8Case(gpu, { ...c, tile: { matrix } });
      },
    })),
};
