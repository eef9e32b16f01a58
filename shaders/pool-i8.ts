/**
 * Pooling of int8 hidden states into one int32 vector per sequence (see src/reference/pool-i8.ts
 * for the exact rule): 'mean' sums the rows of real tokens and counts them, 'cls' copies the first
 * row. Output int32 [batch, hidden + 1]: the channels, then the number of tokens pooled, so the one
 * division of a mean happens on the host, after the read-back.
 *
 * Input x: int8 packed 4 per u32 along the row, row t = b * seq + s starting at word t * rowWords
 * (rowWords >= ceil(hidden / 4); padding lanes are never written to the output, whatever they
 * hold). mask: one u32 per token, non-zero = real.
 *
 * One thread per (sequence, word of four channels), numbered on the word grid so that neighbouring
 * threads read neighbouring words of a row; each walks the sequence and keeps four int32 sums.
 * The threads of one sequence read the same mask entries, so the branch on the mask is uniform
 * across them, and padding rows are never loaded.
 *
 * Bounds (checked by the host wrapper, src/kernels/pool-i8.ts):
 *  - each lane is in [-128, 127], so after n <= seq terms -128 seq <= sum <= 127 seq. The wrapper
 *    refuses seq > 2^24, hence sum >= -2^31 and sum <= 127 * 2^24 < 2^31: no int32 wrap. The count
 *    is at most seq.
 *  - indices: the largest word read is batch * seq * rowWords - 1, the largest output index
 *    batch * (hidden + 1) - 1, the largest thread index batch * ceil(hidden / 4) + 63; the wrapper
 *    refuses shapes where any reaches 2^32.
 * Every size comes from the uniform, so one pipeline per mode serves every shape.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { unroll } from './codegen.js';
import { int8LanesWgsl, wordGridEntry } from './int8-lanes.js';

export type PoolI8Mode = 'mean' | 'cls';

export interface PoolI8ShaderOptions {
  mode: PoolI8Mode;
}

/** Uniform layout (u32 words). */
export const POOL_I8_PARAM_FIELDS = [
  'batch',
  'seq',
  'hidden',
  'rowWords',
  'hiddenWords',
  'threads',
  'pad0',
  'pad1',
] as const;

export function poolI8Shader(o: PoolI8ShaderOptions): string {
  const mean = o.mode === 'mean';
  return wgsl`
struct Params {
  batch: u32, seq: u32, hidden: u32, rowWords: u32,
  hiddenWords: u32, threads: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<i32>;
${int8LanesWgsl()}

fn lanes(w: u32) -> vec4<i32> {
  return vec4<i32>(lane_i8(w, 0u), lane_i8(w, 1u), lane_i8(w, 2u), lane_i8(w, 3u));
}

${wordGridEntry()}
  if (index >= params.threads) { return; }
  let b = index / params.hiddenWords;
  let word = index - b * params.hiddenWords;
  let first = b * params.seq;
#if ${mean}
  var sum = vec4<i32>(0i);
  var count = 0i;
  for (var s = 0u; s < params.seq; s = s + 1u) {
    if (mask[first + s] != 0u) {
      sum = sum + lanes(x[(first + s) * params.rowWords + word]);
      count = count + 1i;
    }
  }
#else
  let sum = lanes(x[first * params.rowWords + word]);
  let count = select(0i, 1i, mask[first] != 0u);
#endif
  let base = b * (params.hidden + 1u);
  let col0 = word * 4u;
${unroll(4, (l) => `  if (col0 + ${l}u < params.hidden) { out[base + col0 + ${l}u] = sum[${l}]; }`)}
  if (word == 0u) { out[base + params.hidden] = count; }
}
`;
}
