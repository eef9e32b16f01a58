/**
 * The WGSL dyadic rescale (shaders/dyadic.ts) against its BigInt specification on the corners of
 * its domain: x over all of int32, m up to 2^31 - 1, every shift 0..63, narrow and full clamps.
 */

import { dyadicWgsl } from '../../shaders/dyadic.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { bindProgram, submitPrograms } from '../../src/gpu/program.js';
import { dyadicScale } from '../../src/reference/dyadic.js';
import { Random } from '../../src/util/random.js';
import { type CheckResult, type CheckSuite, compareExact } from './suite.js';

const PROBE = `
${dyadicWgsl()}
struct Probe { x: i32, m: u32, e: u32, lo: i32, hi: i32 }
@group(0) @binding(0) var<storage, read> probes: array<Probe>;
@group(0) @binding(1) var<storage, read_write> out: array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= arrayLength(&probes)) { return; }
  let p = probes[id.x];
  out[id.x] = dyadic_scale(p.x, p.m, p.e, p.lo, p.hi);
}`;

export function dyadicProbes(seed = 7): Int32Array {
  const rng = new Random(seed);
  const xs = [0, 1, -1, 2, -2, 3, -3, 127, -128, 2 ** 31 - 1, -(2 ** 31), 2 ** 30, -(2 ** 30), 65535, -65536, 46341];
  for (let i = 0; i < 40; i++) xs.push(rng.int(-(2 ** 31), 2 ** 31 - 1), rng.int(-70000, 70000));
  const ms = [0, 1, 2, 0x7fffffff, 0x40000000, 0xffff, 0x10000, 0x12345678];
  for (let i = 0; i < 6; i++) ms.push(rng.int(0, 0x7fffffff));
  const clamps: [number, number][] = [
    [-128, 127],
    [-(2 ** 31), 2 ** 31 - 1],
    [0, 255],
    [-32768, 32767],
  ];
  const rows: number[] = [];
  for (const x of xs) {
    for (const m of ms) {
      for (let e = 0; e <= 63; e++) {
        const [lo, hi] = clamps[(x + m + e) & 3];
        rows.push(x, m, e, lo, hi);
      }
    }
  }
  return Int32Array.from(rows);
}

export async function runDyadicProbe(gpu: Gpu): Promise<CheckResult> {
  const probes = dyadicProbes();
  const n = probes.length / 5;
  const inBuf = gpu.storage('probes', probes);
  const outBuf = gpu.storage('out', n * 4);
  try {
    const program = await bindProgram(
      gpu,
      { name: 'dyadic-probe', key: 'dyadic-probe', code: PROBE, workgroups: [Math.ceil(n / 64), 1, 1] },
      [inBuf, outBuf],
    );
    submitPrograms(gpu, [program]);
    const got = new Int32Array(await gpu.read(outBuf));
    const want = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const [x, m, e, lo, hi] = probes.subarray(5 * i, 5 * i + 5);
      want[i] = dyadicScale(x, m, e, lo, hi);
    }
    const describe = (i: number) => {
      const [x, m, e, lo, hi] = probes.subarray(5 * i, 5 * i + 5);
      return `x=${x} m=${m} e=${e} clamp [${lo}, ${hi}]`;
    };
    return compareExact('dyadic rescale corners', got, want, describe);
  } finally {
    inBuf.destroy();
    outBuf.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'dyadic rescale',
  cases: () => [{ name: 'dyadic rescale corners (x, m, e, clamp)', run: runDyadicProbe }],
};
