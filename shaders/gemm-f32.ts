/**
 * The f32 GEMM of the same shapes and layout as the int8 one (C = A . B^T + bias), the float
 * baseline for speed and the building block of the float reference model. Operands are arrays of
 * vec4<f32> along K, rows padded with zeros to a multiple of 4. Tiling: see gemm-tiled.ts.
 */
import { unroll, unroll2 } from './codegen.js';
import { type GemmTile, columnIndices, elementwiseEpilogue, gemmSkeleton } from './gemm-tiled.js';

export interface GemmF32ShaderOptions {
  bias: boolean;
  tile: GemmTile;
}

export function gemmF32Shader(o: GemmF32ShaderOptions): string {
  const { threadM: TM, threadN: TN } = o.tile;
  const declarations = [
    o.bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : '',
    `@group(0) @binding(${o.bias ? 4 : 3}) var<storage, read_write> c: array<f32>;`,
  ].join('\n');
  return gemmSkeleton({
    tile: o.tile,
    word: 'vec4<f32>',
    acc: 'f32',
    accZero: '0.0',
    declarations,
    inner: unroll2(TM, TN, (i, j) => `      acc_${i}_${j} = acc_${i}_${j} + dot(aw_${i}, bw_${j});`),
    epilogue: [
      columnIndices(o.tile),
      unroll(TN, (j) => `  let bias_${j} = ${o.bias ? `bias[ch_${j}]` : '0.0'};`),
      elementwiseEpilogue(o.tile, (i, j) => `acc_${i}_${j} + bias_${j}`),
    ].join('\n'),
  });
}
