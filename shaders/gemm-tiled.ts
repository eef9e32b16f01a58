/**
 * The tiled GEMM skeleton shared by the int8 and f32 kernels: C[M, N] = A[M, K] . B[N, K]^T,
 * batched over z. Both operands are arrays of "words" along K (a u32 of four int8, or a vec4<f32>),
 * rows padded to whole words. A workgroup computes a tile.m x tile.n block of C, staging tile.k4
 * words of K at a time in workgroup memory, k-major so that each thread's tile.threadM rows and
 * tile.threadN columns are contiguous. Each thread keeps its accumulators in registers (unrolled).
 * The kernel files supply the word type, the inner product, and the epilogue.
 */
import { unroll, unroll2 } from './codegen.js';

export interface GemmTile {
  /** Rows of C per workgroup. */
  m: number;
  /** Columns of C per workgroup. */
  n: number;
  /** Words of K staged per step. */
  k4: number;
  /** Rows per thread. */
  threadM: number;
  /** Columns per thread (a multiple of 4, so that int8 output is whole words). */
  threadN: number;
}

/** Uniform layout (u32 words), shared with the host wrappers. */
export const GEMM_PARAM_FIELDS = [
  'M',
  'N',
  'K4',
  'batchInner',
  'aRow',
  'bRow',
  'cRow',
  'aOffset',
  'aOuter',
  'aInner',
  'bOuter',
  'bInner',
  'cOuter',
  'cInner',
  'bOffset',
  'cOffset',
] as const;

export type GemmParamField = (typeof GEMM_PARAM_FIELDS)[number];

export function validateTile(tile: GemmTile): void {
  const { m, n, threadM, threadN } = tile;
  for (const [k, v] of Object.entries(tile)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`tile.${k} = ${v} must be a positive integer`);
  }
  if (m % threadM || n % threadN)
    throw new RangeError(`tile ${m}x${n} is not divisible by the thread tile ${threadM}x${threadN}`);
  if (threadN % 4) throw new RangeError(`tile.threadN = ${threadN} must be a multiple of 4`);
  const threads = (m / threadM) * (n / threadN);
  if (threads > 256) throw new RangeError(`tile gives ${threads} threads per workgroup; at most 256 are portable`);
}

export function workgroupSize(tile: GemmTile): [number, number] {
  return [tile.n / tile.threadN, tile.m / tile.threadM];
}

export interface GemmSkeletonParts {
  tile: GemmTile;
  /** WGSL type of one word of A and B. */
  word: string;
  /** WGSL type and zero of one accumulator. */
  acc: string;
  accZero: string;
  /** Bindings and helper functions after the Params uniform and the A/B bindings. */
  declarations: string;
  /** Extra per-thread state before the K loop. */
  prologue?: string;
  /** Statements inside the k-step, given aw_i / bw_j words; must update acc_i_j. */
  inner: string;
  /** Statements after the K loop, with acc_i_j, rowBase + tRow, colBase + tCol and cBase in scope. */
  epilogue: string;
}

export function gemmSkeleton(p: GemmSkeletonParts): string {
  validateTile(p.tile);
  const { m: BM, n: BN, k4: BK4, threadM: TM, threadN: TN } = p.tile;
  const [WX, WY] = workgroupSize(p.tile);
  const stage = (name: 'A' | 'B', src: 'a' | 'b', tileRows: string, limit: string, stride: string, base: string) => `
    for (var i = tid; i < ${tileRows} * BK4; i = i + THREADS) {
      let r = i / BK4;
      let kk = i % BK4;
      let row = ${name === 'A' ? 'rowBase' : 'colBase'} + r;
      let k = k0 + kk;
      var w = ${p.word}();
      if (row < ${limit} && k < params.K4) { w = ${src}[${base} + row * ${stride} + k]; }
      tile${name}[kk * ${tileRows} + r] = w;
    }`;
  return `
struct Params {
${GEMM_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<${p.word}>;
@group(0) @binding(2) var<storage, read> b: array<${p.word}>;
${p.declarations}

const BM = ${BM}u;
const BN = ${BN}u;
const BK4 = ${BK4}u;
const THREADS = ${WX * WY}u;

var<workgroup> tileA: array<${p.word}, ${BM * BK4}>;
var<workgroup> tileB: array<${p.word}, ${BN * BK4}>;

@compute @workgroup_size(${WX}, ${WY}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let outer = wid.z / params.batchInner;
  let inner = wid.z % params.batchInner;
  let aBase = params.aOffset + outer * params.aOuter + inner * params.aInner;
  let bBase = params.bOffset + outer * params.bOuter + inner * params.bInner;
  let cBase = params.cOffset + outer * params.cOuter + inner * params.cInner;
  let rowBase = wid.y * BM;
  let colBase = wid.x * BN;
  let tid = lid.y * ${WX}u + lid.x;
  let tRow = lid.y * ${TM}u;
  let tCol = lid.x * ${TN}u;

${unroll2(TM, TN, (i, j) => `  var acc_${i}_${j}: ${p.acc} = ${p.accZero};`)}
${p.prologue ?? ''}

  for (var k0 = 0u; k0 < params.K4; k0 = k0 + BK4) {
${stage('A', 'a', 'BM', 'params.M', 'params.aRow', 'aBase')}
${stage('B', 'b', 'BN', 'params.N', 'params.bRow', 'bBase')}
    workgroupBarrier();
    for (var kk = 0u; kk < BK4; kk = kk + 1u) {
${unroll(TM, (i) => `      let aw_${i} = tileA[kk * BM + tRow + ${i}u];`)}
${unroll(TN, (j) => `      let bw_${j} = tileB[kk * BN + tCol + ${j}u];`)}
${p.inner}
    }
    workgroupBarrier();
  }

${p.epilogue}
}
`;
}

/** Epilogue that writes one value per (row, col) of C, row-major with row stride cRow. */
export function elementwiseEpilogue(tile: GemmTile, value: (i: number, j: number) => string): string {
  const { threadM: TM, threadN: TN } = tile;
  return unroll(
    TM,
    (i) => `  {
    let row = rowBase + tRow + ${i}u;
    if (row < params.M) {
${unroll(TN, (j) => `      if (col_${j} < params.N) { c[cBase + row * params.cRow + col_${j}] = ${value(i, j)}; }`)}
    }
  }`,
  );
}

/** Column indices of a thread (col_j) and clamped ones safe for indexing per-column arrays (ch_j). */
export function columnIndices(tile: GemmTile): string {
  return unroll(
    tile.threadN,
    (j) => `  let col_${j} = colBase + tCol + ${j}u;
  let ch_${j} = min(col_${j}, params.N - 1u);`,
  );
}
