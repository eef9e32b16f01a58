/**
 * Element-wise int8 -> int8 function by table: y = table[x + 128], for activations of the small
 * classification head (tanh, ReLU) where a 256-entry table is exact to the output rounding and
 * costs one load per element. One thread per packed word; padding lanes map to zero.
 */
import { unroll } from './codegen.js';
import { int8LanesWgsl, wordGridEntry } from './int8-lanes.js';

export function lookupI8Shader(): string {
  return `
struct Params { rows: u32, cols: u32, cols4: u32, words: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<i32, 256>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
${int8LanesWgsl()}
${wordGridEntry()}
  if (index >= params.words) { return; }
  let col0 = (index % params.cols4) * 4u;
  let w = x[index];
  var lanes = vec4<i32>(0i);
${unroll(4, (l) => `  if (col0 + ${l}u < params.cols) { lanes[${l}] = table[u32(lane_i8(w, ${l}u) + 128i)]; }`)}
  y[index] = pack_lanes(lanes);
}
`;
}
