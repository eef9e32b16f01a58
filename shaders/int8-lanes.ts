/**
 * Shared pieces of the element-wise int8 kernels (requantize, residual-add, embedding-i8):
 *  - lane access on packed words (lane j of a u32 is bits 8j..8j+7, src/quant/pack.ts);
 *  - the "word grid": one thread per packed word of a [rows, ceil(cols / 4)] tensor, numbered
 *    linearly so that neighbouring threads touch neighbouring memory whatever the row length
 *    (a 2-D dispatch over rows x words would leave most of a workgroup idle for cols = 1 or 3).
 *    The linear workgroup number is folded into x and y because one dimension of a dispatch is
 *    only guaranteed 65535 workgroups.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

/** Threads per workgroup of the word grid. */
export const WORD_GRID_SIZE = 64;
/** Workgroups per dispatch dimension that every WebGPU adapter supports. */
const MAX_GROUPS_PER_DIMENSION = 65535;

export function int8LanesWgsl(): string {
  return wgsl`
// Lane j (0..3) of a packed int8 word, sign-extended: the shift left puts the lane's sign bit at
// bit 31 so that the arithmetic shift right extends it.
fn lane_i8(w: u32, j: u32) -> i32 {
  return i32(w << (24u - 8u * j)) >> 24u;
}

// Four lanes, each already within [-128, 127] or [0, 255], into one word; only the low byte of
// each lane is kept, which is the two's complement byte for negative lanes.
fn pack_lanes(v: vec4<i32>) -> u32 {
  let b = vec4<u32>(v) & vec4<u32>(0xffu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// Linear index of this thread in the word grid (see wordGridWorkgroups on the host).
fn word_grid_index(wid: vec3<u32>, groups: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * groups.x + wid.x) * ${WORD_GRID_SIZE}u + lid;
}
`;
}

/** The entry point's signature for a word-grid kernel; the body starts with `let index`. */
export function wordGridEntry(): string {
  return `@compute @workgroup_size(${WORD_GRID_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let index = word_grid_index(wid, groups, lid);`;
}

/** Dispatch size covering `threads` word-grid threads (surplus threads return at once). */
export function wordGridWorkgroups(threads: number): [number, number, number] {
  const groups = Math.ceil(threads / WORD_GRID_SIZE);
  if (groups <= MAX_GROUPS_PER_DIMENSION) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS_PER_DIMENSION);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * Validates a [rows, cols] element-wise shape and that every element index (and so every word
 * index) fits the u32 arithmetic of the shaders, including the surplus threads of the last group.
 */
export function checkElementwiseShape(what: string, rows: number, cols: number): void {
  for (const [name, v] of [
    ['rows', rows],
    ['cols', cols],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what}: ${name} = ${v} must be a positive integer`);
  }
  const elements = rows * Math.ceil(cols / 4) * 4;
  if (elements + WORD_GRID_SIZE > 2 ** 32) {
    throw new RangeError(
      `${what}: ${rows}x${cols} has too many elements for u32 indices (at most 2^32 - ${WORD_GRID_SIZE})`,
    );
  }
}
