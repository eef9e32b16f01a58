/**
 * The f32 GEMM of the same shapes and layout as the int8 one (C = A . B^T + bias), the float
 * baseline for speed and the building block of the float reference model. Operands are arrays of
 * vec4<f32> along K, rows padded with zeros to a multiple of 4. Tiling: see gemm-tiled.ts.
 *
 * Optional epilogue, for the float model: C = act(alpha * (A . B^T) + bias). alpha is baked into
 * the code (it is a per-model constant such as 1/sqrt(headDim), and a literal lets the compiler
 * fold it); activations are exact GELU (shaders/gelu-f32.ts) and the classifier heads' tanh and
 * ReLU, applied where the value is still in a register so that no extra pass re-reads C.
 */
import { unroll, unroll2 } from './codegen.js';
import { type ActivationF32, activationF32Call, activationF32Wgsl, f32Lit } from './gelu-f32.js';
import { columnIndices, elementwiseEpilogue, type GemmTile, gemmSkeleton } from './gemm-tiled.js';

export type GemmF32Activation = ActivationF32;

export interface GemmF32ShaderOptions {
  bias: boolean;
  tile: GemmTile;
  /** Scales the product before the bias (absent: no multiply, the original kernel). */
  alpha?: number;
  activation?: GemmF32Activation;
}

function activationCall(activation: GemmF32Activation | undefined, value: string): string {
  return activation ? activationF32Call(activation, value) : value;
}

export function gemmF32Shader(o: GemmF32ShaderOptions): string {
  const { threadM: TM, threadN: TN } = o.tile;
  const declarations = [
    o.bias ? '@group(0) @binding(3) var<storage, read> bias: array<f32>;' : '',
    `@group(0) @binding(${o.bias ? 4 : 3}) var<storage, read_write> c: array<f32>;`,
    o.activation ? activationF32Wgsl(o.activation) : '',
  ].join('\n');
  const product = (i: number, j: number) =>
    o.alpha === undefined ? `acc_${i}_${j}` : `acc_${i}_${j} * ${f32Lit(o.alpha)}`;
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
      elementwiseEpilogue(o.tile, (i, j) => activationCall(o.activation, `${product(i, j)} + bias_${j}`)),
    ].join('\n'),
  });
}
