/**
 * INT8 GEMV-style GEMM for few rows (decoding: M = batch rows, 1..8): C[M, N] = A[M, K] . B[N, K]^T
 * (+ bias[N]), batched over z, with the uniform (GEMM_PARAM_FIELDS), the bindings and the epilogues
 * of shaders/gemm-i8.ts, so it is one more variant of the 'gemm-i8' family: the same bind group
 * serves it and the tiles, and the wrapper's picker chooses it for small M.
 *
 * Why not the tiles: a 16x32 tile at M = 1 computes 16 rows to keep one, and B (the weights, the
 * whole cost of a GEMV) is staged through workgroup memory with a barrier per k-step. Here a
 * workgroup owns `rows` rows (all of M for M <= rows) and `columns` groups of 4 output columns; its
 * threads split K: thread (g, s) accumulates the words k = s, s + split, ... of its 4 columns for
 * every row in registers, reading B straight from memory (neighbouring s read neighbouring words),
 * and one barrier later the split partial sums are added per output word. A rows beyond M and
 * columns beyond N read nothing and are not written.
 *
 * Exactness: i32 addition wraps identically in any order, and the host proves (checkAccumulatorBound)
 * that no partial sum of the true accumulator leaves int32, so splitting K changes no bit. The
 * uint8-A trick of 'dot4' ((a - 128) . b + 128 sum(b)) is linear, so it holds per split.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { range, unroll, unroll2 } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';
import { GEMM_I8_ACTIVATIONS, type GemmI8ShaderOptions, isGemmI8Activation } from './gemm-i8.js';
import { GEMM_PARAM_FIELDS } from './gemm-tiled.js';

export interface GemvShape {
  /** Rows of C per workgroup (M <= rows uses one row of workgroups). */
  rows: number;
  /** Groups of 4 output columns per workgroup. */
  columns: number;
  /** Threads that split K per column group: a power of two. */
  split: number;
}

export type GemvI8ShaderOptions = Omit<GemmI8ShaderOptions, 'tile'> & { gemv: GemvShape };

export function validateGemvShape(g: GemvShape): void {
  for (const [k, v] of Object.entries(g)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`GEMV variant: ${k} = ${v} must be a positive integer`);
  }
  if (g.rows > 8) throw new RangeError(`GEMV variant: rows = ${g.rows} exceeds 8 (accumulators are registers)`);
  if (g.split & (g.split - 1)) throw new RangeError(`GEMV variant: split = ${g.split} must be a power of two`);
  if (g.columns * g.split > 256)
    throw new RangeError(`GEMV variant: ${g.columns} x ${g.split} threads per workgroup; at most 256 are portable`);
}

export function gemvWorkgroupStorageBytes(g: GemvShape): number {
  return g.split * g.rows * g.columns * 4 * 4;
}

function widen(word: string, unsigned: boolean): string {
  return unsigned
    ? `vec4<i32>(i32(${word} & 0xffu), i32((${word} >> 8u) & 0xffu), i32((${word} >> 16u) & 0xffu), i32(${word} >> 24u))`
    : `vec4<i32>(i32(${word} << 24u) >> 24u, i32(${word} << 16u) >> 24u, i32(${word} << 8u) >> 24u, i32(${word}) >> 24u)`;
}

function inner(o: GemvI8ShaderOptions): string {
  const R = o.gemv.rows;
  if (o.strategy === 'unpack') {
    return [
      unroll(R, (i) => `    let av_${i} = ${widen(`aw_${i}`, o.aUnsigned)};`),
      unroll(4, (j) => `    let bv_${j} = ${widen(`bw_${j}`, false)};`),
      unroll2(R, 4, (i, j) => `    acc_${i}_${j} = acc_${i}_${j} + dot(av_${i}, bv_${j});`),
    ].join('\n');
  }
  if (o.aUnsigned) {
    return [
      unroll(4, (j) => `    bsum_${j} = bsum_${j} + dot4I8Packed(0x01010101u, bw_${j});`),
      unroll2(R, 4, (i, j) => `    acc_${i}_${j} = acc_${i}_${j} + dot4I8Packed(aw_${i} ^ 0x80808080u, bw_${j});`),
    ].join('\n');
  }
  return unroll2(R, 4, (i, j) => `    acc_${i}_${j} = acc_${i}_${j} + dot4I8Packed(aw_${i}, bw_${j});`);
}

export function gemvI8Shader(o: GemvI8ShaderOptions): string {
  validateGemvShape(o.gemv);
  const { rows: R, columns: NC, split: KS } = o.gemv;
  const i8 = o.output === 'i8';
  const act = isGemmI8Activation(o.output) ? GEMM_I8_ACTIVATIONS[o.output] : undefined;
  // 'gelu' names any activation epilogue ('gelu-i8', 'silu-i8'): the 'gelu-i8' text is unchanged.
  const gelu = act !== undefined;
  const packed = i8 || gelu;
  const requant = i8 || (gelu && o.perChannel);
  const dot4Unsigned = o.strategy === 'dot4' && o.aUnsigned;
  const geluBinding = 3 + (o.bias ? 1 : 0) + (requant ? 1 : 0);
  const cBinding = geluBinding + (gelu ? 1 : 0);
  // The value written for column lane j of the reduced word: the epilogues of shaders/gemm-i8.ts.
  const value = (j: number) =>
    i8 ? `dyadic_scale(v_${j}, rq_${j}.x, rq_${j}.y, -128i, 127i)` : act ? `${act.fn}(v_${j}, rq_${j}, g)` : `v_${j}`;
  const rq = (j: number) =>
    i8
      ? `requant[${o.perChannel ? `ch_${j}` : '0u'}]`
      : o.perChannel
        ? `requant[ch_${j}]`
        : 'vec2<u32>(g.in_m, g.in_e)';
  return wgsl`
struct Params {
${GEMM_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
#if ${o.bias}
@group(0) @binding(3) var<storage, read> bias: array<i32>;
#endif
#if ${requant}
@group(0) @binding(${o.bias ? 4 : 3}) var<storage, read> requant: array<vec2<u32>>;
#endif
#if ${gelu}
@group(0) @binding(${geluBinding}) var<storage, read> ${act?.binding}: ${act?.struct};
#endif
@group(0) @binding(${cBinding}) var<storage, read_write> c: array<${packed ? 'u32' : 'i32'}>;
#if ${packed}
${dyadicWgsl()}
#endif
${act ? act.wgsl() : ''}

const ROWS = ${R}u;
const NC = ${NC}u;
const KS = ${KS}u;
const THREADS = ${NC * KS}u;

// Partial sums [split][rows][column group][4].
var<workgroup> part: array<i32, ${KS * R * NC * 4}>;

@compute @workgroup_size(${NC * KS}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let outer = wid.z / params.batchInner;
  let inner = wid.z % params.batchInner;
  let aBase = params.aOffset + outer * params.aOuter + inner * params.aInner;
  let bBase = params.bOffset + outer * params.bOuter + inner * params.bInner;
  let cBase = params.cOffset + outer * params.cOuter + inner * params.cInner;
  let rowBase = wid.y * ROWS;
  let colBase = wid.x * NC * 4u;
  // The split index is the fastest, so neighbouring threads read neighbouring words of one B row.
  let s = tid % KS;
  let grp = tid / KS;
  let col0 = colBase + grp * 4u;
${unroll(
  4,
  (j) => `  let on_${j} = col0 + ${j}u < params.N;
  let brow_${j} = bBase + (col0 + ${j}u) * params.bRow;`,
)}
${unroll(
  R,
  (i) => `  let on_a_${i} = rowBase + ${i}u < params.M;
  let arow_${i} = aBase + (rowBase + ${i}u) * params.aRow;`,
)}
${unroll2(R, 4, (i, j) => `  var acc_${i}_${j} = 0i;`)}
${dot4Unsigned ? unroll(4, (j) => `  var bsum_${j} = 0i;`) : ''}
  for (var k = s; k < params.K4; k = k + KS) {
${unroll(
  4,
  (j) => `    var bw_${j} = 0u;
    if (on_${j}) { bw_${j} = b[brow_${j} + k]; }`,
)}
${unroll(
  R,
  (i) => `    var aw_${i} = 0u;
    if (on_a_${i}) { aw_${i} = a[arow_${i} + k]; }`,
)}
${inner(o)}
  }
${dot4Unsigned ? unroll2(R, 4, (i, j) => `  acc_${i}_${j} = acc_${i}_${j} + 128i * bsum_${j};`) : ''}
${unroll2(R, 4, (i, j) => `  part[((s * ROWS + ${i}u) * NC + grp) * 4u + ${j}u] = acc_${i}_${j};`)}
  workgroupBarrier();

${act ? `  let g = ${act.binding};` : ''}
  // One output word (4 columns of one row) per iteration: rows x column groups of them.
  for (var w = tid; w < ROWS * NC; w = w + THREADS) {
    let r = w / NC;
    let gg = w % NC;
    let row = rowBase + r;
    let cc = colBase + gg * 4u;
    if (row < params.M && cc < params.N) {
${unroll(4, (j) => `      var v_${j} = 0i;`)}
      for (var t = 0u; t < KS; t = t + 1u) {
        let p = ((t * ROWS + r) * NC + gg) * 4u;
${unroll(4, (j) => `        v_${j} = v_${j} + part[p + ${j}u];`)}
      }
${unroll(
  4,
  (j) => `      let ch_${j} = min(cc + ${j}u, params.N - 1u);
      v_${j} = v_${j} + ${o.bias ? `bias[ch_${j}]` : '0i'};`,
)}
${requant || gelu ? unroll(4, (j) => `      let rq_${j} = ${rq(j)};`) : ''}
#if ${packed}
      c[cBase + row * params.cRow + cc / 4u] = ${range(4)
        .map((j) => `(select(0u, u32(${value(j)}) & 0xffu, cc + ${j}u < params.N) << ${8 * j}u)`)
        .join(' |\n        ')};
#else
${unroll(4, (j) => `      if (cc + ${j}u < params.N) { c[cBase + row * params.cRow + cc + ${j}u] = ${value(j)}; }`)}
#endif
    }
  }
}
`;
}
