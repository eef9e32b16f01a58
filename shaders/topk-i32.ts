/**
 * Next-token choice on the GPU: per row of int32 logits [batch, vocab] (values comparable across
 * the vocabulary, or made so by an optional per-channel dyadic rescale to one common scale), the
 * top k (value descending, ties by lowest id) ids and values and the argmax, exactly as
 * src/reference/topk-i32.ts specifies. Output per row: [argmax, ids[k], values[k]] words (values as
 * i32 bit patterns), so a decode step reads back batch (1 + 2k) words instead of the vocabulary.
 *
 * One workgroup per row. Phase 1: thread t scans ids t, t + WG, ... (increasing), rescaling each
 * logit once, and keeps its own best k in a sorted private list (insertion; a new value equal to a
 * kept one has a larger id, so it goes after it: the order is (value desc, id asc) by construction).
 * Phase 2: k rounds of a workgroup max over the threads' list heads in that same order; the winner's
 * owner pops its head. The global top k are each within their owner's top k, so this is exact.
 * Values are only compared and copied; the one arithmetic step is dyadic_scale, saturated to int32.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { dyadicWgsl } from './dyadic.js';

export interface TopKShaderOptions {
  /** Logits rescaled per channel by a requant array of (m, e) before comparison. */
  rescale: boolean;
  /** Threads per row: a power of two. */
  workgroupSize: number;
  /** Capacity of each thread's list: k <= kCap <= 64. */
  kCap: number;
}

export const TOPK_PARAM_FIELDS = ['batch', 'vocab', 'k', 'logitRow', 'logitOffset', 'outRow', 'pad0', 'pad1'] as const;
export type TopKParamField = (typeof TOPK_PARAM_FIELDS)[number];

export function topKShader(o: TopKShaderOptions): string {
  const WG = o.workgroupSize;
  const KC = o.kCap;
  return wgsl`
struct Params {
${TOPK_PARAM_FIELDS.map((f) => `  ${f}: u32,`).join('\n')}
}
@group(0) @binding(0) var<uniform> params: Params;
// [batch, logitRow] int32 after logitOffset values; the first vocab of each row are the logits.
@group(0) @binding(1) var<storage, read> logits: array<i32>;
#if ${o.rescale}
// (m, e) per vocabulary entry: its scale onto the common one.
@group(0) @binding(2) var<storage, read> requant: array<vec2<u32>>;
${dyadicWgsl()}
#endif
// [batch, outRow] words: argmax, ids[k], values[k].
@group(0) @binding(${o.rescale ? 3 : 2}) var<storage, read_write> out: array<u32>;

const WG = ${WG}u;
const KC = ${KC}u;

var<workgroup> red_v: array<i32, WG>;
var<workgroup> red_i: array<u32, WG>;

// (v, i) before (w, j) in the output order: larger value, then lower id.
fn before(v: i32, i: u32, w: i32, j: u32) -> bool {
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(${WG}, 1, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let row = wid.x;
  let base = params.logitOffset + row * params.logitRow;
  let k = params.k;
  var tv: array<i32, KC>;
  var ti: array<u32, KC>;
  var n = 0u;
  for (var j = tid; j < params.vocab; j = j + WG) {
#if ${o.rescale}
    let rq = requant[j];
    let v = dyadic_scale(logits[base + j], rq.x, rq.y, -2147483647i - 1i, 2147483647i);
#else
    let v = logits[base + j];
#endif
    // Ids only grow within a thread: an equal kept value has a lower id and stays ahead.
    if (n < k || v > tv[n - 1u]) {
      var p = min(n, k - 1u);
      if (n < k) { n = n + 1u; }
      while (p > 0u && v > tv[p - 1u]) {
        tv[p] = tv[p - 1u];
        ti[p] = ti[p - 1u];
        p = p - 1u;
      }
      tv[p] = v;
      ti[p] = j;
    }
  }

  var head = 0u;
  let ob = row * params.outRow;
  for (var r = 0u; r < k; r = r + 1u) {
    // An exhausted list offers (i32 min, no id), which every real entry precedes.
    var cv = -2147483647i - 1i;
    var ci = 0xffffffffu;
    if (head < n) {
      cv = tv[head];
      ci = ti[head];
    }
    red_v[tid] = cv;
    red_i[tid] = ci;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
      if (tid < s && before(red_v[tid + s], red_i[tid + s], red_v[tid], red_i[tid])) {
        red_v[tid] = red_v[tid + s];
        red_i[tid] = red_i[tid + s];
      }
      workgroupBarrier();
    }
    let wv = red_v[0];
    let wi = red_i[0];
    if (tid == 0u) {
      if (r == 0u) { out[ob] = wi; }
      out[ob + 1u + r] = wi;
      out[ob + 1u + k + r] = u32(wv);
    }
    if (head < n && ti[head] == wi) { head = head + 1u; }
    // Everyone has read the winner before the next round overwrites red_v[0].
    workgroupBarrier();
  }
}
`;
}
