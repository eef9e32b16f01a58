/**
 * INT8 GEMM: C[M, N] = A[M, K] . B[N, K]^T (+ bias[N]), int32 accumulation, batched over z.
 *
 * Layout: int8 tensors are row-major with 4 values packed per u32 along the row (lane j of a word is
 * bits 8j..8j+7), rows padded with zero lanes to a multiple of 4; K4 = ceil(K / 4) words per row.
 * Tiling: see gemm-tiled.ts.
 *
 * Inner product strategies:
 *  - 'dot4':   dot4I8Packed(a, b) on the packed words (native on GPUs with int8 dot instructions).
 *  - 'unpack': bytes sign-extended with shifts into vec4<i32> once per k-step and per register, then
 *              integer dot(). SwiftShader runs dot4I8Packed lane by lane, so this is faster there.
 *
 * aUnsigned: A holds uint8 (attention probabilities). 'unpack' zero-extends; 'dot4' uses
 * (a - 128) . b + 128 * sum(b), where a ^ 0x80 is a - 128 as a signed byte and sum(b) is one more
 * dot4I8Packed with 0x01010101 per B register. Integer addition wraps modulo 2^32 identically in
 * every order, so all strategies equal the reference bit for bit.
 *
 * Epilogues: 'i32' writes acc + bias; 'i8' rescales acc + bias by a dyadic multiplier per output
 * channel (or one per tensor), saturates to [-128, 127], and writes packed words (zero lanes past N).
 * 'gelu-i8' (FFN1 in one dispatch) writes the same packed words, with igelu(acc + bias) of
 * shaders/gelu-i8.ts in place of the plain rescale: the per-tensor GeluI8 constants come from an
 * extra binding; with perChannel the requant array rescales each channel into GELU's fixed point
 * (per-channel weight scales), otherwise the constants' own input rescale does.
 * 'silu-i8' is the same with isilu of shaders/silu-i8.ts and its SiluI8 constants (the swish FFNs).
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { range, unroll, unroll2 } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';
import { igeluWgsl } from './gelu-i8.js';
import { columnIndices, elementwiseEpilogue, type GemmTile, gemmSkeleton } from './gemm-tiled.js';
import { isiluWgsl } from './silu-i8.js';

export type GemmI8Strategy = 'dot4' | 'unpack';

export interface GemmI8ShaderOptions {
  strategy: GemmI8Strategy;
  output: 'i32' | 'i8' | GemmI8Activation;
  /**
   * For output 'i8': one (m, e) per output column, or one for the whole tensor. For an activation
   * ('gelu-i8', 'silu-i8'): a requant array of per-column input rescales, or none (the activation
   * constants' input rescale).
   */
  perChannel: boolean;
  bias: boolean;
  aUnsigned: boolean;
  tile: GemmTile;
}

/** Activation epilogues: int32 accumulator -> activation -> int8, constants in one extra binding. */
export type GemmI8Activation = 'gelu-i8' | 'silu-i8';

/** The WGSL of an activation epilogue: its constants binding and struct, function and helpers. */
export const GEMM_I8_ACTIVATIONS: Record<
  GemmI8Activation,
  { binding: string; struct: string; fn: string; wgsl: () => string }
> = {
  'gelu-i8': { binding: 'gelu', struct: 'GeluI8', fn: 'igelu', wgsl: igeluWgsl },
  'silu-i8': { binding: 'silu', struct: 'SiluI8', fn: 'isilu', wgsl: isiluWgsl },
};

export function isGemmI8Activation(output: GemmI8ShaderOptions['output']): output is GemmI8Activation {
  return output === 'gelu-i8' || output === 'silu-i8';
}

function widen(word: string, unsigned: boolean): string {
  return unsigned
    ? `vec4<i32>(i32(${word} & 0xffu), i32((${word} >> 8u) & 0xffu), i32((${word} >> 16u) & 0xffu), i32(${word} >> 24u))`
    : `vec4<i32>(i32(${word} << 24u) >> 24u, i32(${word} << 16u) >> 24u, i32(${word} << 8u) >> 24u, i32(${word}) >> 24u)`;
}

function inner(o: GemmI8ShaderOptions): string {
  const { threadM: TM, threadN: TN } = o.tile;
  if (o.strategy === 'unpack') {
    return [
      unroll(TM, (i) => `      let av_${i} = ${widen(`aw_${i}`, o.aUnsigned)};`),
      unroll(TN, (j) => `      let bv_${j} = ${widen(`bw_${j}`, false)};`),
      unroll2(TM, TN, (i, j) => `      acc_${i}_${j} = acc_${i}_${j} + dot(av_${i}, bv_${j});`),
    ].join('\n');
  }
  if (o.aUnsigned) {
    return [
      unroll(TN, (j) => `      bsum_${j} = bsum_${j} + dot4I8Packed(0x01010101u, bw_${j});`),
      unroll2(TM, TN, (i, j) => `      acc_${i}_${j} = acc_${i}_${j} + dot4I8Packed(aw_${i} ^ 0x80808080u, bw_${j});`),
    ].join('\n');
  }
  return unroll2(TM, TN, (i, j) => `      acc_${i}_${j} = acc_${i}_${j} + dot4I8Packed(aw_${i}, bw_${j});`);
}

function packedEpilogue(o: GemmI8EpilogueOptions, value: (i: number, j: number) => string): string {
  const { threadM: TM, threadN: TN } = o.tile;
  return unroll(TM, (i) => {
    const words = range(TN / 4).map((g) => {
      const lanes = range(4).map((l) => {
        const j = g * 4 + l;
        return `(select(0u, u32(${value(i, j)}) & 0xffu, col_${j} < params.N) << ${8 * l}u)`;
      });
      return `      {
        let word = (colBase + tCol) / 4u + ${g}u;
        if (word < (params.N + 3u) / 4u) { c[cBase + row * params.cRow + word] = ${lanes.join(' |\n          ')}; }
      }`;
    });
    return `  {
    let row = rowBase + tRow + ${i}u;
    if (row < params.M) {
${words.join('\n')}
    }
  }`;
  });
}

function activationEpilogue(o: GemmI8EpilogueOptions, act: GemmI8Activation): string {
  const { binding, fn } = GEMM_I8_ACTIVATIONS[act];
  const rq = (j: number) => (o.perChannel ? `requant[ch_${j}]` : 'vec2<u32>(g.in_m, g.in_e)');
  return [
    `  let g = ${binding};`,
    unroll(o.tile.threadN, (j) => `  let rq_${j} = ${rq(j)};`),
    packedEpilogue(o, (i, j) => `${fn}(acc_${i}_${j} + bias_${j}, rq_${j}, g)`),
  ].join('\n');
}

/** What an epilogue depends on: the output, its bindings, and the thread tile holding acc_i_j. */
export type GemmI8EpilogueOptions = Pick<GemmI8ShaderOptions, 'output' | 'perChannel' | 'bias' | 'tile'>;

/**
 * The epilogue's bindings after A and B (bias, requant, activation constants, C) and its helpers.
 * Shared with the subgroup-matrix kernel (shaders/gemm-i8-matrix.ts), whose threads read their
 * acc_i_j out of workgroup memory and then run the same epilogue.
 */
export function gemmI8EpilogueDeclarations(o: GemmI8EpilogueOptions): string {
  const i8 = o.output === 'i8';
  const act = isGemmI8Activation(o.output) ? o.output : undefined;
  // 'gelu' names any activation epilogue below: the 'gelu-i8' module text is unchanged by 'silu-i8'.
  const gelu = act !== undefined;
  const packed = i8 || gelu;
  const requant = i8 || (gelu && o.perChannel);
  const geluBinding = 3 + (o.bias ? 1 : 0) + (requant ? 1 : 0);
  const cBinding = geluBinding + (gelu ? 1 : 0);
  // Spliced in as text (not #if) so that the 'i32' and 'i8' modules stay identical to before 'gelu-i8'.
  const geluDeclarations = act
    ? `${o.perChannel ? '' : dyadicWgsl()}
@group(0) @binding(${geluBinding}) var<storage, read> ${GEMM_I8_ACTIVATIONS[act].binding}: ${GEMM_I8_ACTIVATIONS[act].struct};
${GEMM_I8_ACTIVATIONS[act].wgsl()}
`
    : '';
  return wgsl`
#if ${o.bias}
@group(0) @binding(3) var<storage, read> bias: array<i32>;
#endif
#if ${requant}
// (multiplier, shift) per output channel, or one for the tensor.
@group(0) @binding(${o.bias ? 4 : 3}) var<storage, read> requant: array<vec2<u32>>;
${dyadicWgsl()}
#endif
${geluDeclarations}@group(0) @binding(${cBinding}) var<storage, read_write> c: array<${packed ? 'u32' : 'i32'}>;
`;
}

/**
 * The epilogue statements: acc_i_j (the thread's tile.threadM x tile.threadN accumulators, final),
 * rowBase + tRow, colBase + tCol and cBase in scope; bias, rescale or activation, and the write.
 */
export function gemmI8Epilogue(o: GemmI8EpilogueOptions): string {
  const { threadN: TN } = o.tile;
  const i8 = o.output === 'i8';
  const act = isGemmI8Activation(o.output) ? o.output : undefined;
  return wgsl`${columnIndices(o.tile)}
${unroll(TN, (j) => `  let bias_${j} = ${o.bias ? `bias[ch_${j}]` : '0i'};`)}
#if ${i8}
${unroll(TN, (j) => `  let rq_${j} = requant[${o.perChannel ? `ch_${j}` : '0u'}];`)}
${packedEpilogue(o, (i, j) => `dyadic_scale(acc_${i}_${j} + bias_${j}, rq_${j}.x, rq_${j}.y, -128i, 127i)`)}
#else
${act ? activationEpilogue(o, act) : elementwiseEpilogue(o.tile, (i, j) => `acc_${i}_${j} + bias_${j}`)}
#endif
`;
}

export function gemmI8Shader(o: GemmI8ShaderOptions): string {
  const { threadM: TM, threadN: TN } = o.tile;
  const dot4Unsigned = o.strategy === 'dot4' && o.aUnsigned;
  const epilogue = wgsl`
#if ${dot4Unsigned}
${unroll2(TM, TN, (i, j) => `  acc_${i}_${j} = acc_${i}_${j} + 128i * bsum_${j};`)}
#endif
${gemmI8Epilogue(o)}`;
  return gemmSkeleton({
    tile: o.tile,
    word: 'u32',
    acc: 'i32',
    accZero: '0i',
    declarations: gemmI8EpilogueDeclarations(o),
    prologue: dot4Unsigned ? unroll(TN, (j) => `  var bsum_${j} = 0i;`) : '',
    inner: inner(o),
    epilogue,
  });
}
