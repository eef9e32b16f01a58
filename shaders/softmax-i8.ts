/**
 * Integer softmax over the key axis of attention scores (I-BERT's i-exp), exactly as specified in
 * src/reference/softmax-i8.ts: int32 scores [rows, seq] -> uint8 probabilities at scale 2^-8,
 * packed 4 per u32 along the keys, [rows, ceil(seq / 4)] words with zero padding lanes.
 *
 * Decoder runs use the same pipelines through the uniform: rows are [batch, heads, queries] with
 * `queries` independent of the key count `seq` (a decode step: 1 query over past + 1 keys), score
 * rows `scoreRow` apart (a KV cache's capacity), mask rows `maskRow` apart, output rows `outRow`
 * words apart, and with `causal` set query i of a run after `past` cached positions sees keys
 * j <= past + i only. The encoder's values (queries = scoreRow = maskRow = seq, outRow =
 * ceil(seq / 4), causal 0) give the same arithmetic as before these fields existed.
 *
 * One workgroup per row. Thread `tid` owns keys tid + k * WG (k < KPT), so every global read and
 * every output word write of a workgroup is contiguous; the row's exps are staged in workgroup
 * memory because an output word needs 4 neighbouring keys that belong to different threads.
 * Max and sum are tree reductions in workgroup memory (no subgroups: SwiftShader and many adapters
 * lack them). Scale-dependent constants come in the uniform, so one pipeline serves every layer.
 *
 * Bounds (proved on the host by softmaxI8Bounds before anything runs, u32 unless noted):
 *   d = qmax - q in [0, 2^32 - 1]: exact as u32(qmax) - u32(q), since qmax >= q
 *   t <= tMax by saturation; d * m < 2^63 is formed in two words by dyadic_magnitude
 *   rem < ln2 <= b, so b - rem does not wrap; poly <= b^2 + c < 2^32
 *   E <= expMax; sum <= keys * expMax; 2^9 E + sum and 2 sum < 2^32
 * Every quotient is a true u32 division, which WGSL defines exactly; sum = 0 (no present key) is
 * kept away from the divider.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { i32Lit, unroll } from './codegen.js';
import { dyadicWgsl } from './dyadic.js';

export interface SoftmaxI8ShaderOptions {
  /** Threads per workgroup (one row): a power of two. */
  workgroupSize: number;
  /** Keys per thread: rows of up to workgroupSize * keysPerThread keys. */
  keysPerThread: number;
}

/** Uniform layout (u32 words), shared with the host wrapper. */
export const SOFTMAX_I8_PARAM_FIELDS = [
  'rows',
  'seq',
  'rowsPerBatch',
  'outRow',
  'gridX',
  'rescaleM',
  'rescaleE',
  'tMax',
  'ln2',
  'polyB',
  'polyC',
  'expShift',
  'scoreRow',
  'queries',
  'past',
  'causal',
  'maskRow',
  'outWords',
  'pad0',
  'pad1',
] as const;

export type SoftmaxI8ParamField = (typeof SOFTMAX_I8_PARAM_FIELDS)[number];

/**
 * The Params uniform at @binding(0) and the integer functions (i-exp, rounding shift, probability),
 * shared by the kernel and the test probe that checks them one value at a time.
 */
export function softmaxI8Functions(): string {
  return wgsl`
struct Params {
${SOFTMAX_I8_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
${softmaxI8IntegerFunctions()}`;
}

/**
 * dyadic_magnitude, shr_round, i_exp and prob: the arithmetic of one key, for any module whose
 * uniform "params" has the softmax constant fields (rescaleM, rescaleE, tMax, ln2, polyB, polyC,
 * expShift). The fused attention (shaders/attention-i8.ts) shares it, so both run one algorithm.
 */
export function softmaxI8IntegerFunctions(): string {
  return wgsl`${dyadicWgsl()}

// round(p / 2^k), ties up, for any k: shifts of 32 or more are not defined in WGSL, and
// (y >> 1) + (y & 1) rounds without the carry that p + 2^(k-1) could overflow.
fn shr_round(p: u32, k: u32) -> u32 {
  if (k == 0u) { return p; }
  if (k > 32u) { return 0u; }
  let y = p >> (k - 1u);
  return (y >> 1u) + (y & 1u);
}

// exp(-d S_in) at the fixed scale of E: x = -z ln2 + r, exp(r) by I-BERT's polynomial, one rounded shift.
fn i_exp(d: u32) -> u32 {
  let t = dyadic_magnitude(d, params.rescaleM, params.rescaleE, params.tMax);
  let z = t / params.ln2;
  let rem = t - z * params.ln2;
  let u = params.polyB - rem;
  return shr_round(u * u + params.polyC, params.expShift + z);
}

// round(2^8 e / sum) clamped to 255 (a lone key would give 256).
fn prob(e: u32, sum: u32) -> u32 {
  if (sum == 0u) { return 0u; }
  return min(((e << 9u) + sum) / (sum << 1u), 255u);
}
`;
}

export function softmaxI8Shader(o: SoftmaxI8ShaderOptions): string {
  const WG = o.workgroupSize;
  const KPT = o.keysPerThread;
  return wgsl`
${softmaxI8Functions()}
// [rows, scoreRow] int32 scores (the first seq of each row read); rows = batch * heads * queries.
@group(0) @binding(1) var<storage, read> scores: array<i32>;
// [batch, maskRow], nonzero = key present.
@group(0) @binding(2) var<storage, read> mask: array<u32>;
// [rows, outRow] words of 4 uint8 probabilities (the first outWords = ceil(seq / 4) written).
@group(0) @binding(3) var<storage, read_write> probs: array<u32>;

const WG = ${WG}u;
const KEYS = ${WG * KPT}u;
// Identity of max; a present key equal to it still gives d = 0 at the row max.
const NO_KEY = ${i32Lit(-(2 ** 31))};

var<workgroup> red_max: array<i32, WG>;
var<workgroup> red_sum: array<u32, WG>;
var<workgroup> exps: array<u32, KEYS>;

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  // Rows can exceed the 65535 workgroups of one dimension: the grid is 2-D. The test is uniform
  // per workgroup, so returning before the barriers is allowed.
  let row = wid.y * params.gridX + wid.x;
  if (row >= params.rows) { return; }
  let base = row * params.scoreRow;
  let maskBase = (row / params.rowsPerBatch) * params.maskRow;
  // Keys past the causal limit are absent; the host proves past + queries <= seq when causal.
  var limit = params.seq;
  if (params.causal != 0u) { limit = min(limit, params.past + row % params.queries + 1u); }

  var local_max = NO_KEY;
${unroll(
  KPT,
  (k) => `  let j_${k} = tid + ${k * WG}u;
  var q_${k} = NO_KEY;
  var on_${k} = false;
  if (j_${k} < limit) {
    q_${k} = scores[base + j_${k}];
    on_${k} = mask[maskBase + j_${k}] != 0u;
  }
  if (on_${k}) { local_max = max(local_max, q_${k}); }`,
)}
  red_max[tid] = local_max;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (tid < s) { red_max[tid] = max(red_max[tid], red_max[tid + s]); }
    workgroupBarrier();
  }
  let row_max = u32(red_max[0]);

  var local_sum = 0u;
${unroll(
  KPT,
  (k) => `  {
    var e = 0u;
    if (on_${k}) { e = i_exp(row_max - u32(q_${k})); }
    exps[j_${k}] = e;
    local_sum = local_sum + e;
  }`,
)}
  red_sum[tid] = local_sum;
  // Also publishes exps to the whole workgroup.
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) {
    if (tid < s) { red_sum[tid] = red_sum[tid] + red_sum[tid + s]; }
    workgroupBarrier();
  }
  let sum = red_sum[0];

  // 4 * outWords <= KEYS (KEYS is a multiple of 4 and >= seq), and exps of absent keys were written as 0.
  let outBase = row * params.outRow;
  for (var w = tid; w < params.outWords; w = w + WG) {
    let k = 4u * w;
    probs[outBase + w] = prob(exps[k], sum) | (prob(exps[k + 1u], sum) << 8u) |
      (prob(exps[k + 2u], sum) << 16u) | (prob(exps[k + 3u], sum) << 24u);
  }
}
`;
}
