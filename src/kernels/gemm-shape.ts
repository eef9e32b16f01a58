/**
 * Shapes and uniform parameters of the tiled GEMMs (int8 and f32 share the skeleton of
 * shaders/gemm-tiled.ts). Operands are rows of "words" of 4 values along K.
 */
import { GEMM_PARAM_FIELDS, type GemmParamField, type GemmTile } from '../../shaders/gemm-tiled.js';
import { wordsPerRow } from '../quant/pack.js';

export type { GemmTile };

/**
 * 8x8 accumulators per thread, 64 threads: the fastest of the tiles measured on SwiftShader
 * (scratch sweep at 128x768x768: 3.4 GOPS unpack vs 1.7-3.1 for 4x4/4x8/8x8 with 128-256 threads);
 * a common shape for real GPUs too. Tiles are options: benchmarks can sweep them per adapter.
 */
export const DEFAULT_TILE: GemmTile = { m: 64, n: 64, k4: 8, threadM: 8, threadN: 8 };

/**
 * The tile for M rows when the caller names none. Short inputs (a sentence of 13 tokens, attention
 * of one head) would leave most of a 64-row tile idle: measured on SwiftShader, M = 16 runs 2.9x
 * faster with 16x32 tiles and M = 32 1.7x faster with 32x64. From M = 64, 64x64 and 32x64 tie there
 * (2.6-2.75 GOPS), but SwiftShader's JIT takes ~10 s to compile the 64x64 kernels (64 accumulators
 * unrolled), so software adapters stay at 32x64; GPUs get 64x64 register blocking for long inputs.
 * At most three tiles, so three pipelines per kernel variant.
 */
export function gemmTileFor(M: number, software = false): GemmTile {
  if (M <= 16) return { m: 16, n: 32, k4: 8, threadM: 4, threadN: 4 };
  if (M <= 32 || software) return { m: 32, n: 64, k4: 8, threadM: 4, threadN: 8 };
  return DEFAULT_TILE;
}

/** Sequence lengths that between them use every tile gemmTileFor picks: compile them up front. */
export const TILE_WARMUP_LENGTHS = [1, 17, 33];

export function gemmWorkgroupStorageBytes(tile: GemmTile, wordBytes: number): number {
  return (tile.m + tile.n) * tile.k4 * wordBytes;
}

/**
 * One (batched) GEMM, strides in words. Defaults describe contiguous tensors: A [batch, M, K4],
 * B [batch, N, K4], C [batch, M, cRow] with cRow = N (one value per element) or ceil(N / 4) (packed
 * int8). Batch index z = outer * batchInner + inner, e.g. (sequence, head) for attention.
 */
export interface GemmShape {
  M: number;
  N: number;
  K: number;
  batchOuter?: number;
  batchInner?: number;
  aRow?: number;
  bRow?: number;
  cRow?: number;
  aOuter?: number;
  aInner?: number;
  bOuter?: number;
  bInner?: number;
  cOuter?: number;
  cInner?: number;
  /** Words before element (0, 0) of batch 0, e.g. to address K inside a fused Q|K|V tensor. */
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
}

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`GEMM: ${name} = ${v} must be a positive integer`);
}

export function resolveGemmShape(shape: GemmShape, packedOutput: boolean): Required<GemmShape> {
  positiveInt('M', shape.M);
  positiveInt('N', shape.N);
  positiveInt('K', shape.K);
  const K4 = wordsPerRow(shape.K);
  const aRow = shape.aRow ?? K4;
  const bRow = shape.bRow ?? K4;
  const cRow = shape.cRow ?? (packedOutput ? wordsPerRow(shape.N) : shape.N);
  if (aRow < K4 || bRow < K4) throw new RangeError(`GEMM: row strides (${aRow}, ${bRow}) are shorter than K4 = ${K4}`);
  const batchOuter = shape.batchOuter ?? 1;
  const batchInner = shape.batchInner ?? 1;
  positiveInt('batchOuter', batchOuter);
  positiveInt('batchInner', batchInner);
  const aInner = shape.aInner ?? shape.M * aRow;
  const bInner = shape.bInner ?? shape.N * bRow;
  const cInner = shape.cInner ?? shape.M * cRow;
  return {
    M: shape.M,
    N: shape.N,
    K: shape.K,
    batchOuter,
    batchInner,
    aRow,
    bRow,
    cRow,
    aInner,
    bInner,
    cInner,
    aOffset: shape.aOffset ?? 0,
    bOffset: shape.bOffset ?? 0,
    cOffset: shape.cOffset ?? 0,
    aOuter: shape.aOuter ?? batchInner * aInner,
    bOuter: shape.bOuter ?? batchInner * bInner,
    cOuter: shape.cOuter ?? batchInner * cInner,
  };
}

export function gemmParams(s: Required<GemmShape>): Uint32Array {
  const values: Record<GemmParamField, number> = {
    M: s.M,
    N: s.N,
    K4: wordsPerRow(s.K),
    batchInner: s.batchInner,
    aRow: s.aRow,
    bRow: s.bRow,
    cRow: s.cRow,
    aOffset: s.aOffset,
    aOuter: s.aOuter,
    aInner: s.aInner,
    bOuter: s.bOuter,
    bInner: s.bInner,
    cOuter: s.cOuter,
    cInner: s.cInner,
    bOffset: s.bOffset,
    cOffset: s.cOffset,
  };
  return new Uint32Array(GEMM_PARAM_FIELDS.map((f) => values[f]));
}

export function gemmWorkgroups(s: Required<GemmShape>, tile: GemmTile): [number, number, number] {
  return [Math.ceil(s.N / tile.n), Math.ceil(s.M / tile.m), s.batchOuter * s.batchInner];
}

export function gemmLabel(kind: string, s: Required<GemmShape>): string {
  const batch = s.batchOuter * s.batchInner;
  return `${kind} ${s.M}x${s.N}x${s.K}${batch > 1 ? ` x${batch}` : ''}`;
}
