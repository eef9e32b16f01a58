import { describe, expect, it } from 'vitest';
import { type GemmMatrixTile, gemmI8MatrixShader, matrixTileGeometry } from '../shaders/gemm-i8-matrix.js';
import type { GpuFeatureReport } from '../src/gpu/adapter.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { gemmI8Kernel, gemmI8RunData, gemmI8VariantFor, preferredStrategy } from '../src/kernels/gemm-i8.js';
import {
  chooseGemmStrategy,
  type GemmAdapterFacts,
  gemmStrategyOf,
  recordDot4Measurement,
} from '../src/kernels/gemm-strategy.js';
import { EMULATED_TILES, emulatedSuite, hardwareSuite } from './cases/gemm-i8-matrix.js';
import { testGpu } from './gpu.js';
import { runSuite } from './run-suite.js';

runSuite(emulatedSuite);

// Where the device offers an i8 configuration the real kernel runs the same checks; elsewhere the
// describe block is skipped and its title says why (e.g. the missing feature on SwiftShader).
const device = gemmStrategyOf(await testGpu());
describe.skipIf(!device.matrix)(`subgroup-matrix kernel on this device (${device.reasons.join('; ')})`, () => {
  runSuite(hardwareSuite);
});

/** An adapter as an NVIDIA GPU with cooperative matrices describes itself (the configurations Vulkan lists). */
const GPU_FACTS: GemmAdapterFacts = {
  isSoftware: false,
  subgroupMatrix: true,
  subgroupMatrixConfigs: [
    { componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 },
    { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 },
    { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 8, K: 32 },
  ],
  subgroupMaxSize: 32,
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 1024,
};

/** SwiftShader as Dawn reports it: no subgroup-matrix feature, no configurations, subgroups of 4. */
const SWIFTSHADER_FACTS: GemmAdapterFacts = {
  isSoftware: true,
  subgroupMatrix: false,
  subgroupMatrixConfigs: [],
  subgroupMaxSize: 4,
  maxComputeWorkgroupStorageSize: 32768,
  maxComputeInvocationsPerWorkgroup: 256,
};

describe('GEMM strategy per adapter', () => {
  it('picks the subgroup-matrix kernel on the first usable i8 -> i32 configuration of a hardware adapter', () => {
    const s = chooseGemmStrategy(GPU_FACTS);
    expect(s.inner).toBe('dot4');
    expect(s.matrix).toEqual({
      config: { M: 16, N: 16, K: 32 },
      tilesM: 4,
      tilesN: 4,
      kSteps: 2,
      threads: 128,
      subgroupMaxSize: 32,
    });
    const g = matrixTileGeometry(s.matrix!);
    // The portable minimum of workgroup memory holds the tile.
    expect(g.sharedWords * 4).toBeLessThanOrEqual(16384);
    expect(s.matrix!.threads % 32).toBe(0);
  });

  it('keeps SwiftShader on the unpack tiles, saying why there is no matrix kernel', async () => {
    const s = chooseGemmStrategy(SWIFTSHADER_FACTS);
    expect(s.inner).toBe('unpack');
    expect(s.matrix).toBeUndefined();
    expect(s.reasons.join(' ')).toMatch(/lacks 'chromium-experimental-subgroup-matrix'/);
    // This test device: SwiftShader here, unless the machine has a GPU.
    const gpu = await testGpu();
    if (gpu.adapter.isSoftware && !gpu.features.subgroupMatrix) {
      expect(gemmStrategyOf(gpu)).toMatchObject({ inner: 'unpack', matrix: undefined });
      expect(preferredStrategy(gpu)).toBe('unpack');
    }
  });

  it('uses measured facts, not isSoftware alone', () => {
    expect(chooseGemmStrategy({ ...GPU_FACTS, dot4OverUnpack: 0.6 }).inner).toBe('unpack');
    expect(chooseGemmStrategy({ ...SWIFTSHADER_FACTS, dot4OverUnpack: 1.4 }).inner).toBe('dot4');
    // A software adapter listing i8 matrices (lavapipe) emulates them: no matrix kernel.
    const lavapipe = chooseGemmStrategy({ ...GPU_FACTS, isSoftware: true });
    expect(lavapipe.matrix).toBeUndefined();
    expect(lavapipe.reasons.join(' ')).toMatch(/software adapter/);
  });

  it('refuses the matrix kernel without the feature, a usable configuration, or a known subgroup size', () => {
    const why = (f: Partial<GemmAdapterFacts>) => {
      const s = chooseGemmStrategy({ ...GPU_FACTS, ...f });
      expect(s.matrix).toBeUndefined();
      return s.reasons.join(' ');
    };
    expect(why({ subgroupMatrix: false })).toMatch(/device lacks/);
    expect(
      why({ subgroupMatrixConfigs: [{ componentType: 'i8', resultComponentType: 'i32', M: 8, N: 8, K: 8 }] }),
    ).toMatch(/no i8->i32 configuration .* among \[i8->i32 8x8x8\]/);
    expect(why({ subgroupMatrixConfigs: [GPU_FACTS.subgroupMatrixConfigs[0]] })).toMatch(/f16->f32 16x16x16/);
    expect(why({ subgroupMaxSize: undefined })).toMatch(/subgroupMaxSize unknown/);
    expect(why({ maxComputeInvocationsPerWorkgroup: 64 })).toMatch(/device allows/);
  });

  it('routes int8-A GEMMs above the GEMV rows to the matrix kernel, and the rest to tiles and GEMV', () => {
    const features: GpuFeatureReport = {
      packed4x8IntegerDotProduct: true,
      subgroups: true,
      timestampQuery: true,
      shaderF16: true,
      subgroupMatrix: true,
      subgroupMatrixConfigs: GPU_FACTS.subgroupMatrixConfigs,
    };
    const fake = {
      adapter: { vendor: 'nvidia', architecture: '', device: '', description: '', isSoftware: false },
      features,
      limits: { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024 },
      device: { adapterInfo: { subgroupMaxSize: 32 } },
    } as unknown as Gpu;
    const options = { strategy: 'dot4', output: 'i8', perChannel: true, bias: true, aUnsigned: false } as const;
    const v = gemmI8VariantFor(fake, options, { M: 128 });
    expect(v).toEqual({ matrix: chooseGemmStrategy(GPU_FACTS).matrix });
    expect(gemmI8VariantFor(fake, options, { M: 4 })).toHaveProperty('gemv');
    expect(gemmI8VariantFor(fake, { ...options, aUnsigned: true }, { M: 128 })).toHaveProperty('threadM');
    // The variant compiles to the real module and runs as a gemm-i8 dispatch: grid over BM x BN.
    const kernel = gemmI8Kernel(options, v);
    expect(kernel.key.startsWith('gemm-i8:')).toBe(true);
    expect(kernel.code).toContain('subgroupMatrixMultiplyAccumulate(left, right, acc0)');
    expect(kernel.workgroupStorageBytes).toBe(16384);
    expect(gemmI8RunData(options, { M: 130, N: 768, K: 768 }, v).workgroups).toEqual([12, 3, 1]);
    recordDot4Measurement(fake, 0.8);
    expect(preferredStrategy(fake)).toBe('unpack');
    expect(() => recordDot4Measurement(fake, Number.NaN)).toThrow(/positive finite/);
  });
});

describe('subgroup-matrix module', () => {
  const options = { output: 'i8', perChannel: true, bias: true } as const;

  it('is the emulated module with the builtins in place of their stand-ins', () => {
    // What the emulation checks on SwiftShader is this kernel: mapping the real module's matrix
    // types and calls onto the stand-ins gives the emulated module, helpers aside.
    for (const tile of [...EMULATED_TILES, chooseGemmStrategy(GPU_FACTS).matrix!]) {
      const real = gemmI8MatrixShader({ ...options, tile });
      const emulated = gemmI8MatrixShader({ ...options, tile, emulate: true });
      const mapped = real
        .replace(/^enable .*\n|^diagnostic\(.*\n/gm, '')
        .replace(/^alias .*\n/gm, '')
        .replace(/subgroupMatrixLoad<Left, row_major>\(&smem, /g, 'emu_load_left(')
        .replace(/subgroupMatrixLoad<Right, col_major>\(&smem, /g, 'emu_load_right(')
        .replace(/subgroupMatrixMultiplyAccumulate\(/g, 'emu_mma(')
        .replace(/subgroupMatrixStore<row_major>\(&smem, /g, 'emu_store(')
        .replace(', @builtin(subgroup_id) sgid: u32, @builtin(num_subgroups) nsg: u32', '');
      const stripped = emulated
        .replace(/^alias .*\n/gm, '')
        .replace(/\n\/\/ Emulated subgroup matrices[\s\S]*?\nfn emu_store[\s\S]*?\n}\n/, '')
        .replace(/^ {2}let sgid = .*\n^ {2}let nsg = .*\n/m, '');
      expect(stripped).toBe(mapped);
      expect(real).toMatch(/alias Left = subgroup_matrix_left<i8, \d+, \d+>;/);
      expect(real).toMatch(/alias Result = subgroup_matrix_result<i32, \d+, \d+>;/);
    }
  });

  it('refuses tiles the hardware cannot load or the epilogue cannot split', () => {
    const tile: GemmMatrixTile = EMULATED_TILES[0];
    expect(() => matrixTileGeometry({ ...tile, config: { M: 8, N: 8, K: 8 } })).toThrow(/multiple of 16/);
    expect(() => matrixTileGeometry({ ...tile, config: { M: 8, N: 6, K: 16 } })).toThrow(/multiple of 4/);
    expect(() => matrixTileGeometry({ ...tile, threads: 18 })).toThrow(/multiple of subgroupMaxSize/);
    expect(() => matrixTileGeometry({ ...tile, threads: 512, subgroupMaxSize: 4 })).toThrow(/at most 256/);
    expect(() => matrixTileGeometry({ ...tile, threads: 12 })).toThrow(/blocks of whole words/);
    expect(() => matrixTileGeometry({ ...tile, tilesM: 0 })).toThrow(/tilesM = 0/);
  });

  it('refuses uint8 A and a K that could overflow the accumulator', () => {
    const v = { matrix: EMULATED_TILES[0], emulate: true };
    const o = { strategy: 'dot4', output: 'i32', perChannel: false, bias: false, aUnsigned: false } as const;
    expect(() => gemmI8Kernel({ ...o, aUnsigned: true }, v)).toThrow(/int8 A only/);
    expect(() => gemmI8RunData(o, { M: 1, N: 1, K: 131071 }, v)).not.toThrow();
    expect(() => gemmI8RunData(o, { M: 1, N: 1, K: 131072 }, v)).toThrow(/max K is 131071/);
  });
});
