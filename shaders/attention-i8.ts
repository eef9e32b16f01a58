/**
 * Fused integer attention: Q.K^T, the padding / causal mask, the integer softmax and P.V with the
 * context requantization in one dispatch per (batch, head, block of QB queries), exactly as
 * src/reference/attention-i8.ts specifies (the unfused gemm-i8 -> softmax-i8 -> transpose-heads-i8
 * -> gemm-i8 chain). The probabilities live only in workgroup memory.
 *
 * Layout: Q, K, V and the output are packed int8 rows (4 lanes per u32); head h of a slice is the
 * headWords words from word offset + h headWords of its row (the host proves headDim % 4 = 0, so
 * heads start on word boundaries). Q rows are [batch, queries], K and V rows [batch, keys].
 *
 * A workgroup has QB rows of TPR threads; row r is query block * QB + r, and its thread t owns keys
 * t, t + TPR, ... Per row:
 *   1. score of each present key (int32, the same sum as the GEMM: integer addition is associative
 *      and the host proves |score| <= headDim 2^14 < 2^31, so no order wraps and no real score is
 *      NO_KEY, which marks absent keys), row max by a tree over the row's threads;
 *   2. E = i_exp(max - score) of softmax-i8 (shared code), row sum by a tree;
 *   3. probabilities prob(E, sum) packed 4 keys per word (keys past the row read as 0, exactly the
 *      zero padding lanes the softmax writes);
 *   4. each thread owns output words dw (4 head dims): acc = sum over keys of p * V (int32, at most
 *      keys 255 128 < 2^31, proven on the host), then dyadic_scale to int8 as the GEMM epilogue.
 * The exps and packed probabilities of the block are QB * KEYS * 5 bytes of workgroup memory: the
 * host picks QB so that everything stays under WebGPU's default 16 KiB.
 *
 * KV-cache variant (options.kvCache): K and V are a decoder's int8 caches (src/runtime/kv-cache.ts):
 * K as [batch, heads, capacity, headWords] words and V transposed, [batch, heads, headDim,
 * capWords] (4 keys per word), each after a word offset. Step 4 then reads, for each of its 4 head
 * dims, one V^T word per 4 keys and adds the 4 products p V: the same int32 sum in another order.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { i32Lit } from './codegen.js';
import { softmaxI8IntegerFunctions } from './softmax-i8.js';

export type AttentionI8Strategy = 'dot4' | 'unpack';

export interface AttentionI8ShaderOptions {
  strategy: AttentionI8Strategy;
  /** Longest key row this pipeline holds (a multiple of 4). */
  keys: number;
  /** Queries per workgroup. */
  queryBlock: number;
  /** Threads per query row: a power of two. */
  rowThreads: number;
  /** K and V^T from a decoder's KV cache layout instead of token rows (absent: rows). */
  kvCache?: boolean;
}

/** Uniform layout (u32 words), shared with the host wrapper. */
export const ATTENTION_I8_PARAM_FIELDS = [
  'heads',
  'headWords',
  'queries',
  'keys',
  'qRow',
  'kRow',
  'vRow',
  'outRow',
  'qOffset',
  'kOffset',
  'vOffset',
  'maskRow',
  'causal',
  'past',
  'contextM',
  'contextE',
  'rescaleM',
  'rescaleE',
  'tMax',
  'ln2',
  'polyB',
  'polyC',
  'expShift',
  /** KV-cache variant: positions per (batch, head) of the caches and V^T words per head dim. */
  'capacity',
  'capWords',
  'pad0',
  'pad1',
] as const;

export type AttentionI8ParamField = (typeof ATTENTION_I8_PARAM_FIELDS)[number];

/** Workgroup memory of a launch: exps (u32) and packed probabilities per key of each row, two reductions. */
export function attentionI8WorkgroupBytes(o: Pick<AttentionI8ShaderOptions, 'keys' | 'queryBlock' | 'rowThreads'>) {
  return o.queryBlock * o.keys * 4 + o.queryBlock * (o.keys / 4) * 4 + 2 * 4 * o.queryBlock * o.rowThreads;
}

function widen(word: string): string {
  return `vec4<i32>(i32(${word} << 24u) >> 24u, i32(${word} << 16u) >> 24u, i32(${word} << 8u) >> 24u, i32(${word}) >> 24u)`;
}

/** Step 4's accumulation over the keys: V rows (one word of 4 dims per key) or V^T cache rows (one word of 4 keys per dim). */
function contextLoop(kvCache: boolean): string {
  if (!kvCache)
    return `    let vBase = b * nk * params.vRow + params.vOffset + h * hw + dw;
    var acc = vec4<i32>(0i);
    for (var w = 0u; w < words; w = w + 1u) {
      let pw = probs[pBase + w];
      if (pw == 0u) { continue; }
      for (var l = 0u; l < 4u; l = l + 1u) {
        let j = 4u * w + l;
        let p = (pw >> (8u * l)) & 0xffu;
        if (p != 0u) {
          let vw = v[vBase + j * params.vRow];
          acc = acc + i32(p) * ${widen('vw')};
        }
      }
    }`;
  // Lanes of keys past the row hold probability 0, so whatever the cache holds there adds nothing.
  return `    let cw = params.capWords;
    let vBase = ((b * params.heads + h) * hw * 4u + 4u * dw) * cw + params.vOffset;
    var acc = vec4<i32>(0i);
    for (var w = 0u; w < words; w = w + 1u) {
      let pw = probs[pBase + w];
      if (pw == 0u) { continue; }
      let p = vec4<i32>(vec4<u32>(pw, pw >> 8u, pw >> 16u, pw >> 24u) & vec4<u32>(0xffu));
      let v0 = v[vBase + w];
      let v1 = v[vBase + cw + w];
      let v2 = v[vBase + 2u * cw + w];
      let v3 = v[vBase + 3u * cw + w];
      acc = acc + vec4<i32>(dot(p, ${widen('v0')}), dot(p, ${widen('v1')}), dot(p, ${widen('v2')}), dot(p, ${widen('v3')}));
    }`;
}

export function attentionI8Shader(o: AttentionI8ShaderOptions): string {
  const QB = o.queryBlock;
  const TPR = o.rowThreads;
  const dot = o.strategy === 'dot4' ? 'dot4I8Packed(qw, kw)' : `dot(${widen('qw')}, ${widen('kw')})`;
  return wgsl`
struct Params {
${ATTENTION_I8_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
${softmaxI8IntegerFunctions()}
@group(0) @binding(1) var<storage, read> q: array<u32>;
@group(0) @binding(2) var<storage, read> k: array<u32>;
@group(0) @binding(3) var<storage, read> v: array<u32>;
// [batch, maskRow], nonzero = key present.
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<u32>;

const QB = ${QB}u;
const TPR = ${TPR}u;
const KEYS = ${o.keys}u;
const NO_KEY = ${i32Lit(-(2 ** 31))};

var<workgroup> exps: array<u32, ${QB * o.keys}>;
var<workgroup> probs: array<u32, ${(QB * o.keys) / 4}>;
var<workgroup> red_max: array<i32, ${QB * TPR}>;
var<workgroup> red_sum: array<u32, ${QB * TPR}>;

@compute @workgroup_size(${QB * TPR}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let r = tid / TPR;
  let t = tid % TPR;
  let h = wid.y;
  let b = wid.z;
  let i = wid.x * QB + r;
  let nk = params.keys;
  let hw = params.headWords;
  // Rows past the queries see no key (and write nothing) but keep to every barrier.
  var limit = 0u;
  if (i < params.queries) {
    limit = nk;
    if (params.causal != 0u) { limit = min(limit, params.past + i + 1u); }
  }
  let qBase = (b * params.queries + i) * params.qRow + params.qOffset + h * hw;
  let maskBase = b * params.maskRow;
  let eBase = r * KEYS;

  var local_max = NO_KEY;
  for (var j = t; j < nk; j = j + TPR) {
    var s = NO_KEY;
    if (j < limit && mask[maskBase + j] != 0u) {
      let kBase = ${o.kvCache ? '((b * params.heads + h) * params.capacity + j) * hw + params.kOffset' : '(b * nk + j) * params.kRow + params.kOffset + h * hw'};
      var acc = 0i;
      for (var w = 0u; w < hw; w = w + 1u) {
        let qw = q[qBase + w];
        let kw = k[kBase + w];
        acc = acc + ${dot};
      }
      s = acc;
      local_max = max(local_max, s);
    }
    exps[eBase + j] = u32(s);
  }
  red_max[tid] = local_max;
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
    if (t < s) { red_max[tid] = max(red_max[tid], red_max[tid + s]); }
    workgroupBarrier();
  }
  let row_max = u32(red_max[r * TPR]);

  var local_sum = 0u;
  for (var j = t; j < nk; j = j + TPR) {
    let s = exps[eBase + j];
    var e = 0u;
    if (i32(s) != NO_KEY) { e = i_exp(row_max - s); }
    exps[eBase + j] = e;
    local_sum = local_sum + e;
  }
  red_sum[tid] = local_sum;
  // Also publishes the exps to the whole row.
  workgroupBarrier();
  for (var s = TPR / 2u; s > 0u; s = s >> 1u) {
    if (t < s) { red_sum[tid] = red_sum[tid] + red_sum[tid + s]; }
    workgroupBarrier();
  }
  let sum = red_sum[r * TPR];

  let words = (nk + 3u) / 4u;
  let pBase = r * (KEYS / 4u);
  for (var w = t; w < words; w = w + TPR) {
    var word = 0u;
    for (var l = 0u; l < 4u; l = l + 1u) {
      let j = 4u * w + l;
      if (j < nk) { word = word | (prob(exps[eBase + j], sum) << (8u * l)); }
    }
    probs[pBase + w] = word;
  }
  workgroupBarrier();

  if (i >= params.queries) { return; }
  let outBase = (b * params.queries + i) * params.outRow + h * hw;
  for (var dw = t; dw < hw; dw = dw + TPR) {
${contextLoop(o.kvCache ?? false)}
    let m = params.contextM;
    let e = params.contextE;
    out[outBase + dw] = (u32(dyadic_scale(acc.x, m, e, -128i, 127i)) & 0xffu) |
      ((u32(dyadic_scale(acc.y, m, e, -128i, 127i)) & 0xffu) << 8u) |
      ((u32(dyadic_scale(acc.z, m, e, -128i, 127i)) & 0xffu) << 16u) |
      ((u32(dyadic_scale(acc.w, m, e, -128i, 127i)) & 0xffu) << 24u);
  }
}
`;
}
