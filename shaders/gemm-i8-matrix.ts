/**
 * INT8 GEMM on subgroup matrices (WGSL `chromium_experimental_subgroup_matrix`, WebGPU feature
 * 'chromium-experimental-subgroup-matrix'): C[M, N] = A[M, K] . B[N, K]^T (+ bias[N]), int32
 * accumulation, batched over z; the same uniform, bindings and epilogues as shaders/gemm-i8.ts, so a
 * Dispatch bound for the gemm-i8 family serves this variant too.
 *
 * One adapter configuration (componentType 'i8', resultComponentType 'i32', M0 x N0 x K0) fixes
 *   subgroup_matrix_left<i8, K0, M0>    (M0 rows x K0 columns of A)
 *   subgroup_matrix_right<i8, N0, K0>   (K0 rows x N0 columns: B^T)
 *   subgroup_matrix_result<i32, N0, M0> (M0 x N0)
 * and subgroupMatrixMultiplyAccumulate(left, right, acc) = left . right + acc.
 *
 * Loads and stores use the majorness-template form, subgroupMatrixLoad<T, row_major | col_major>(
 * &array, offset, stride) and subgroupMatrixStore<row_major>(&array, offset, value, stride), where
 * offset and stride count elements of the array (here i32 words), not matrix components: entry
 * [r, c] of an i8 matrix is byte (c + 4 stride r) (row_major) or (r + 4 stride c) (col_major) of
 * the words from `offset` on, little-endian. So our packed rows (4 int8 per word along K) load as
 * they are: A's staged rows as a row_major left matrix, B's staged rows (one per output column) as
 * a col_major right matrix, i.e. B^T without a transpose.
 *
 * Tiling: a workgroup computes a BM x BN block of C (tilesM x tilesN result matrices) with
 * `threads` invocations. Per step it stages BM rows of A and BN rows of B, BK = K0 kSteps bytes
 * each, as words in workgroup memory: rows and words past M, N and K4 are zero, which pads K to a
 * multiple of K0 with zero products and makes edge tiles exact. Vulkan needs a matrix load's
 * pointer and stride aligned to min(16 bytes, a row), which storage rows of arbitrary K (and head
 * slices) are not; staged rows are BK bytes apart, a multiple of 16. Result matrix t goes to
 * subgroup t mod (subgroups), so any subgroup size from the adapter's minimum to its maximum runs
 * every tile once; each subgroup holds ceil(tiles / (threads / subgroupMaxSize)) accumulators.
 * After the K loop the accumulators are stored (row_major, i32) into the same workgroup memory, and
 * every thread reads its epilogueM x 4 block of them as acc_i_j for the epilogue of gemm-i8.ts.
 *
 * Uniformity: every subgroup-matrix call sits in control flow that depends on workgroup-uniform
 * values and subgroup_id only, so it is subgroup-uniform. Dawn proves that at subgroup scope where
 * it has the `subgroup_uniformity` language feature; older compilers analyse at workgroup scope and
 * would reject the subgroup_id-dependent branches, hence the diagnostic filter.
 *
 * `emulate: true` generates the same module with the subgroup-matrix types and builtins replaced by
 * plain WGSL with the semantics above (every invocation of an emulated subgroup computes the whole
 * matrix), and subgroups of `subgroupMaxSize` invocations numbered from local_invocation_index. It
 * runs anywhere (SwiftShader), so the staging, padding, tile assignment and epilogue of this exact
 * text are checked against the reference on adapters without subgroup matrices. The two modules
 * differ only in those replacements (test/gemm-i8-matrix.test.ts checks it).
 */
import { range, unroll } from './codegen.js';
import { type GemmI8EpilogueOptions, gemmI8Epilogue, gemmI8EpilogueDeclarations } from './gemm-i8.js';
import { GEMM_PARAM_FIELDS, type GemmTile } from './gemm-tiled.js';

/** An adapter's subgroup matrix configuration (GPUSubgroupMatrixConfig) for i8 x i8 -> i32. */
export interface SubgroupMatrixShape {
  M: number;
  N: number;
  K: number;
}

export interface GemmMatrixTile {
  config: SubgroupMatrixShape;
  /** Result matrices per workgroup along M and N: BM = config.M tilesM, BN = config.N tilesN. */
  tilesM: number;
  tilesN: number;
  /** config.K steps staged per barrier: BK = config.K kSteps bytes. */
  kSteps: number;
  /** Invocations per workgroup: a multiple of subgroupMaxSize (WebGPU requires it with subgroup matrices). */
  threads: number;
  /** The adapter's GPUAdapterInfo.subgroupMaxSize. */
  subgroupMaxSize: number;
}

export interface GemmI8MatrixShaderOptions extends Omit<GemmI8EpilogueOptions, 'tile'> {
  tile: GemmMatrixTile;
  /** Plain-WGSL stand-ins for the subgroup-matrix builtins (see the header). */
  emulate?: boolean;
}

/** Sizes derived from a tile, all checked by matrixTileGeometry. */
export interface GemmMatrixGeometry {
  BM: number;
  BN: number;
  /** Words per staged row (BK / 4). */
  BKW: number;
  tiles: number;
  /** Accumulators per subgroup (at the fewest subgroups, threads / subgroupMaxSize). */
  perSubgroup: number;
  /** The epilogue's thread tile: epilogueM rows x 4 columns (one packed word) per thread. */
  epilogueM: number;
  across: number;
  /** i32 words of workgroup memory: the staged A and B, later the BM x BN result. */
  sharedWords: number;
}

function positive(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0)
    throw new RangeError(`subgroup-matrix tile: ${name} = ${v} must be a positive integer`);
}

export function matrixTileGeometry(t: GemmMatrixTile): GemmMatrixGeometry {
  positive('config.M', t.config.M);
  positive('config.N', t.config.N);
  positive('config.K', t.config.K);
  for (const k of ['tilesM', 'tilesN', 'kSteps', 'threads', 'subgroupMaxSize'] as const) positive(k, t[k]);
  if (t.config.K % 16)
    throw new RangeError(
      `subgroup-matrix tile: config.K = ${t.config.K} must be a multiple of 16 (i8 rows staged as words, loads aligned to 16 bytes)`,
    );
  if (t.config.N % 4)
    throw new RangeError(
      `subgroup-matrix tile: config.N = ${t.config.N} must be a multiple of 4 (result rows aligned to 16 bytes)`,
    );
  if (t.threads % t.subgroupMaxSize)
    throw new RangeError(
      `subgroup-matrix tile: threads = ${t.threads} must be a multiple of subgroupMaxSize = ${t.subgroupMaxSize}`,
    );
  if (t.threads > 256) throw new RangeError(`subgroup-matrix tile: threads = ${t.threads}; at most 256 are portable`);
  const BM = t.config.M * t.tilesM;
  const BN = t.config.N * t.tilesN;
  const BKW = (t.config.K * t.kSteps) / 4;
  const tiles = t.tilesM * t.tilesN;
  const across = BN / 4;
  if (t.threads % across || BM % (t.threads / across))
    throw new RangeError(
      `subgroup-matrix tile: ${t.threads} threads cannot split the ${BM}x${BN} result into blocks of whole words (threads must be a multiple of ${across} and BM of threads / ${across})`,
    );
  const epilogueM = BM / (t.threads / across);
  return {
    BM,
    BN,
    BKW,
    tiles,
    perSubgroup: Math.ceil(tiles / (t.threads / t.subgroupMaxSize)),
    epilogueM,
    across,
    sharedWords: Math.max((BM + BN) * BKW, BM * BN),
  };
}

/** The epilogue's view of the tile: a GemmTile whose thread tile is epilogueM x 4. */
function epilogueTile(g: GemmMatrixGeometry): GemmTile {
  return { m: g.BM, n: g.BN, k4: g.BKW, threadM: g.epilogueM, threadN: 4 };
}

/** The four operations, as builtin calls or as calls of the emulation below. */
interface MatrixOps {
  header: string;
  types: string;
  helpers: string;
  builtins: string;
  subgroup: string;
  loadLeft(offset: string, stride: string): string;
  loadRight(offset: string, stride: string): string;
  mma(left: string, right: string, acc: string): string;
  store(offset: string, value: string, stride: string): string;
}

function realOps(c: SubgroupMatrixShape): MatrixOps {
  return {
    header: `enable chromium_experimental_subgroup_matrix;
enable subgroups;
diagnostic(off, chromium.subgroup_matrix_uniformity);
`,
    types: `alias Left = subgroup_matrix_left<i8, ${c.K}, ${c.M}>;
alias Right = subgroup_matrix_right<i8, ${c.N}, ${c.K}>;
alias Result = subgroup_matrix_result<i32, ${c.N}, ${c.M}>;`,
    helpers: '',
    builtins: ', @builtin(subgroup_id) sgid: u32, @builtin(num_subgroups) nsg: u32',
    subgroup: '',
    loadLeft: (o, s) => `subgroupMatrixLoad<Left, row_major>(&smem, ${o}, ${s})`,
    loadRight: (o, s) => `subgroupMatrixLoad<Right, col_major>(&smem, ${o}, ${s})`,
    mma: (l, r, a) => `subgroupMatrixMultiplyAccumulate(${l}, ${r}, ${a})`,
    store: (o, v, s) => `subgroupMatrixStore<row_major>(&smem, ${o}, ${v}, ${s})`,
  };
}

function emulatedOps(c: SubgroupMatrixShape, subgroupSize: number, threads: number): MatrixOps {
  return {
    header: '',
    types: `alias Left = array<i32, ${c.M * c.K}>;
alias Right = array<i32, ${c.K * c.N}>;
alias Result = array<i32, ${c.M * c.N}>;`,
    helpers: `
// Emulated subgroup matrices: byte \`lane\` of a word, sign-extended (i8 components).
fn emu_byte(w: i32, lane: u32) -> i32 { return (w << (24u - 8u * lane)) >> 24u; }
// left [r, k] = byte k of row r (row_major, stride in words).
fn emu_load_left(offset: u32, stride: u32) -> Left {
  var m: Left;
  for (var r = 0u; r < ${c.M}u; r++) {
    for (var k = 0u; k < ${c.K}u; k++) { m[r * ${c.K}u + k] = emu_byte(smem[offset + r * stride + k / 4u], k % 4u); }
  }
  return m;
}
// right [k, n] = byte k of column n (col_major, stride in words).
fn emu_load_right(offset: u32, stride: u32) -> Right {
  var m: Right;
  for (var n = 0u; n < ${c.N}u; n++) {
    for (var k = 0u; k < ${c.K}u; k++) { m[k * ${c.N}u + n] = emu_byte(smem[offset + n * stride + k / 4u], k % 4u); }
  }
  return m;
}
fn emu_mma(l: Left, r: Right, acc: Result) -> Result {
  var out = acc;
  for (var m = 0u; m < ${c.M}u; m++) {
    for (var n = 0u; n < ${c.N}u; n++) {
      var s = out[m * ${c.N}u + n];
      for (var k = 0u; k < ${c.K}u; k++) { s = s + l[m * ${c.K}u + k] * r[k * ${c.N}u + n]; }
      out[m * ${c.N}u + n] = s;
    }
  }
  return out;
}
// Every invocation of the emulated subgroup stores the same values.
fn emu_store(offset: u32, value: Result, stride: u32) {
  for (var r = 0u; r < ${c.M}u; r++) {
    for (var n = 0u; n < ${c.N}u; n++) { smem[offset + r * stride + n] = value[r * ${c.N}u + n]; }
  }
}
`,
    builtins: '',
    subgroup: `  let sgid = tid / ${subgroupSize}u;
  let nsg = ${threads / subgroupSize}u;
`,
    loadLeft: (o, s) => `emu_load_left(${o}, ${s})`,
    loadRight: (o, s) => `emu_load_right(${o}, ${s})`,
    mma: (l, r, a) => `emu_mma(${l}, ${r}, ${a})`,
    store: (o, v, s) => `emu_store(${o}, ${v}, ${s})`,
  };
}

export function gemmI8MatrixShader(o: GemmI8MatrixShaderOptions): string {
  const t = o.tile;
  const g = matrixTileGeometry(t);
  const { M: M0, N: N0, K: K0 } = t.config;
  const ops = o.emulate ? emulatedOps(t.config, t.subgroupMaxSize, t.threads) : realOps(t.config);
  const epilogue: GemmI8EpilogueOptions = {
    output: o.output,
    perChannel: o.perChannel,
    bias: o.bias,
    tile: epilogueTile(g),
  };
  const R = g.perSubgroup;
  // Result matrix t of the workgroup: rows tm = t / tilesN, columns tn = t % tilesN.
  const forTiles = (body: (i: number) => string) =>
    unroll(
      R,
      (i) => `    {
      let t = sgid + ${i}u * nsg;
      if (t < TILES) {
        let tm = t / ${t.tilesN}u;
        let tn = t % ${t.tilesN}u;
${body(i)}
      }
    }`,
    );
  const stage = (
    src: 'a' | 'b',
    rows: string,
    limit: string,
    stride: string,
    base: string,
    at: string,
    first: string,
  ) => `
    for (var i = tid; i < ${rows} * BKW; i = i + THREADS) {
      let r = i / BKW;
      let kk = i % BKW;
      let row = ${first} + r;
      let k = k0 + kk;
      var w = 0u;
      if (row < ${limit} && k < params.K4) { w = ${src}[${base} + row * ${stride} + k]; }
      smem[${at}r * BKW + kk] = bitcast<i32>(w);
    }`;
  return `${ops.header}
struct Params {
${GEMM_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
${gemmI8EpilogueDeclarations(epilogue)}

const BM = ${g.BM}u;
const BN = ${g.BN}u;
const BKW = ${g.BKW}u;
const TILES = ${g.tiles}u;
const THREADS = ${t.threads}u;

${ops.types}

// Staged A rows (BM x BKW words), then B rows (BN x BKW); after the K loop, the BM x BN result.
var<workgroup> smem: array<i32, ${g.sharedWords}>;
${ops.helpers}
@compute @workgroup_size(${t.threads}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32${ops.builtins}) {
${ops.subgroup}  let outer = wid.z / params.batchInner;
  let inner = wid.z % params.batchInner;
  let aBase = params.aOffset + outer * params.aOuter + inner * params.aInner;
  let bBase = params.bOffset + outer * params.bOuter + inner * params.bInner;
  let cBase = params.cOffset + outer * params.cOuter + inner * params.cInner;
  let rowBase = wid.y * BM;
  let colBase = wid.x * BN;

${unroll(R, (i) => `  var acc${i} = Result();`)}

  for (var k0 = 0u; k0 < params.K4; k0 = k0 + BKW) {
${stage('a', 'BM', 'params.M', 'params.aRow', 'aBase', '', 'rowBase')}
${stage('b', 'BN', 'params.N', 'params.bRow', 'bBase', 'BM * BKW + ', 'colBase')}
    workgroupBarrier();
    for (var s = 0u; s < ${t.kSteps}u; s = s + 1u) {
${forTiles(
  (i) => `        let left = ${ops.loadLeft(`tm * ${M0}u * BKW + s * ${K0 / 4}u`, 'BKW')};
        let right = ${ops.loadRight(`BM * BKW + tn * ${N0}u * BKW + s * ${K0 / 4}u`, 'BKW')};
        acc${i} = ${ops.mma('left', 'right', `acc${i}`)};`,
)}
    }
    workgroupBarrier();
  }

${forTiles((i) => `        ${ops.store(`tm * ${M0}u * BN + tn * ${N0}u`, `acc${i}`, 'BN')};`)}
  workgroupBarrier();

  let tRow = (tid / ${g.across}u) * ${g.epilogueM}u;
  let tCol = (tid % ${g.across}u) * 4u;
${range(g.epilogueM)
  .flatMap((i) => range(4).map((j) => `  let acc_${i}_${j} = smem[(tRow + ${i}u) * BN + tCol + ${j}u];`))
  .join('\n')}
${gemmI8Epilogue(epilogue)}
}
`;
}
