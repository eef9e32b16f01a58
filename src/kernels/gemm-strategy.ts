/**
 * Which INT8 GEMM an adapter gets, decided from what is known of it rather than from `isSoftware`
 * alone. The facts: the subgroup-matrix feature and the adapter's configurations, its largest
 * subgroup, whether it emulates the GPU on the CPU, its limits, and optionally a measured ratio of
 * the dot4I8Packed and unpack GEMMs on this very device (bench/gemm-core.ts measures it; nothing
 * measures at device setup, so tests and loads never pay for a micro-benchmark).
 *
 * The rule (chooseGemmStrategy):
 *  1. Inner product of the tiled and GEMV kernels: if the dot4 / unpack ratio was measured on this
 *     device, the faster one. Else 'unpack' on a software adapter (SwiftShader runs dot4I8Packed
 *     lane by lane: bench/results/gemm.json, 128x768x768, 2.1 GOPS dot4 vs 3.3 unpack) and 'dot4'
 *     on hardware, where WGSL's packed dot product maps to the int8 dot instructions.
 *  2. The subgroup-matrix kernel (shaders/gemm-i8-matrix.ts) for the GEMMs it serves (int8 A, more
 *     rows than the GEMV variant takes) when all hold: the device has
 *     'chromium-experimental-subgroup-matrix', the adapter lists a configuration with componentType
 *     'i8' and resultComponentType 'i32' whose K is a multiple of 16 and N of 4 (the first such, in
 *     the adapter's order of preference), subgroupMaxSize is known (the workgroup's width must be a
 *     multiple of it), its tile fits the workgroup limits, and the adapter is hardware: a software
 *     adapter offering matrices (lavapipe) emulates them as it does dot4, and nothing here has
 *     measured them faster than unpacking.
 * Every refusal is kept as a reason, so a report can say why the matrix kernel did not run.
 */
import type { GemmI8Strategy } from '../../shaders/gemm-i8.js';
import { type GemmMatrixTile, matrixTileGeometry, type SubgroupMatrixShape } from '../../shaders/gemm-i8-matrix.js';
import type { SubgroupMatrixConfigInfo } from '../gpu/adapter.js';
import type { Gpu } from '../gpu/gpu.js';

export interface GemmAdapterFacts {
  isSoftware: boolean;
  /** The device was created with 'chromium-experimental-subgroup-matrix'. */
  subgroupMatrix: boolean;
  subgroupMatrixConfigs: SubgroupMatrixConfigInfo[];
  /** GPUAdapterInfo.subgroupMaxSize; undefined where the implementation does not say. */
  subgroupMaxSize?: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  /** Measured on this device: dot4I8Packed GEMM throughput / unpack GEMM throughput. */
  dot4OverUnpack?: number;
}

export interface GemmStrategy {
  /** Inner product of the tiled and GEMV kernels. */
  inner: GemmI8Strategy;
  /** The subgroup-matrix tile, when the adapter gets that kernel. */
  matrix?: GemmMatrixTile;
  /** Why each choice was made (and why the matrix kernel was not, if it was not). */
  reasons: string[];
}

/** Result rows and columns a workgroup aims at, and K bytes staged per barrier. */
const TARGET_BLOCK = 64;
const TARGET_BK = 64;
const THREADS = 128;

/** The workgroup tile for a configuration: about 64 x 64 results, 64 bytes of K per step, 128 threads (or one subgroup, if wider). */
export function matrixTileFor(config: SubgroupMatrixShape, subgroupMaxSize: number): GemmMatrixTile {
  return {
    config: { M: config.M, N: config.N, K: config.K },
    tilesM: Math.max(1, Math.floor(TARGET_BLOCK / config.M)),
    tilesN: Math.max(1, Math.floor(TARGET_BLOCK / config.N)),
    kSteps: Math.max(1, Math.floor(TARGET_BK / config.K)),
    threads: Math.max(THREADS, subgroupMaxSize),
    subgroupMaxSize,
  };
}

function isUsableI8(c: SubgroupMatrixConfigInfo): boolean {
  return c.componentType === 'i8' && c.resultComponentType === 'i32' && c.K % 16 === 0 && c.N % 4 === 0;
}

function chooseMatrix(f: GemmAdapterFacts, reasons: string[]): GemmMatrixTile | undefined {
  if (!f.subgroupMatrix) {
    reasons.push("matrix: no (the device lacks 'chromium-experimental-subgroup-matrix')");
    return undefined;
  }
  const config = f.subgroupMatrixConfigs.find(isUsableI8);
  if (!config) {
    const listed = f.subgroupMatrixConfigs.map(
      (c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`,
    );
    reasons.push(
      `matrix: no (no i8->i32 configuration with K a multiple of 16 and N of 4 among [${listed.join(', ')}])`,
    );
    return undefined;
  }
  if (!f.subgroupMaxSize) {
    reasons.push('matrix: no (subgroupMaxSize unknown: the workgroup width must be a multiple of it)');
    return undefined;
  }
  if (f.isSoftware) {
    reasons.push('matrix: no (software adapter: its matrices are emulated on the CPU like dot4)');
    return undefined;
  }
  const tile = matrixTileFor(config, f.subgroupMaxSize);
  try {
    const g = matrixTileGeometry(tile);
    if (g.sharedWords * 4 > f.maxComputeWorkgroupStorageSize || tile.threads > f.maxComputeInvocationsPerWorkgroup) {
      reasons.push(
        `matrix: no (the ${g.BM}x${g.BN} tile needs ${g.sharedWords * 4} bytes and ${tile.threads} threads per workgroup; the device allows ${f.maxComputeWorkgroupStorageSize} and ${f.maxComputeInvocationsPerWorkgroup})`,
      );
      return undefined;
    }
    reasons.push(
      `matrix: i8->i32 ${config.M}x${config.N}x${config.K}, ${g.BM}x${g.BN} results per workgroup of ${tile.threads}`,
    );
    return tile;
  } catch (e) {
    reasons.push(`matrix: no (${(e as Error).message})`);
    return undefined;
  }
}

export function chooseGemmStrategy(f: GemmAdapterFacts): GemmStrategy {
  const reasons: string[] = [];
  let inner: GemmI8Strategy;
  if (f.dot4OverUnpack !== undefined) {
    inner = f.dot4OverUnpack >= 1 ? 'dot4' : 'unpack';
    reasons.push(`inner: ${inner} (measured dot4 / unpack = ${f.dot4OverUnpack.toFixed(2)})`);
  } else {
    inner = f.isSoftware ? 'unpack' : 'dot4';
    reasons.push(
      f.isSoftware
        ? 'inner: unpack (software adapter: dot4I8Packed emulated lane by lane)'
        : 'inner: dot4 (hardware adapter, not measured)',
    );
  }
  return { inner, matrix: chooseMatrix(f, reasons), reasons };
}

/** The facts of a Gpu, as device.ts reported them, plus a measurement if one was recorded. */
export function gemmFactsOf(gpu: Gpu): GemmAdapterFacts {
  const info = (gpu.device as { adapterInfo?: { subgroupMaxSize?: number } }).adapterInfo;
  return {
    isSoftware: gpu.adapter.isSoftware,
    subgroupMatrix: gpu.features.subgroupMatrix,
    subgroupMatrixConfigs: gpu.features.subgroupMatrixConfigs,
    subgroupMaxSize: info?.subgroupMaxSize || undefined,
    maxComputeWorkgroupStorageSize: gpu.limits.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: gpu.limits.maxComputeInvocationsPerWorkgroup,
    dot4OverUnpack: measured.get(gpu),
  };
}

const strategies = new WeakMap<Gpu, GemmStrategy>();
const measured = new WeakMap<Gpu, number>();

/** The strategy of a device, decided once per Gpu (and again after recordDot4Measurement). */
export function gemmStrategyOf(gpu: Gpu): GemmStrategy {
  let s = strategies.get(gpu);
  if (!s) {
    s = chooseGemmStrategy(gemmFactsOf(gpu));
    strategies.set(gpu, s);
  }
  return s;
}

/**
 * Records a measured dot4 / unpack throughput ratio for this device (GEMMs of the same shape and
 * tile); later strategy lookups use it. Kernels already bound keep theirs.
 */
export function recordDot4Measurement(gpu: Gpu, dot4OverUnpack: number): void {
  if (!(dot4OverUnpack > 0) || !Number.isFinite(dot4OverUnpack))
    throw new RangeError(`recordDot4Measurement: ratio ${dot4OverUnpack} must be a positive finite number`);
  measured.set(gpu, dot4OverUnpack);
  strategies.delete(gpu);
}
