/**
 * WGSL for the dyadic rescale of src/reference/dyadic.ts:
 *   dyadic(x, m, e) = sign(x) * floor((|x| * m + 2^(e-1)) / 2^e), saturated.
 *
 * WGSL has no 64-bit integers. |x| < 2^31+1 and m < 2^31, so |x| * m < 2^62 is built exactly as a
 * (lo, hi) pair of u32 from four 16x16-bit partial products; rounding adds 2^(e-1) with carry and
 * the shift moves across the word boundary. Working on the magnitude makes the rounding symmetric
 * (ties away from zero) and avoids 64-bit two's complement. This costs ~25 integer ops per output
 * element, paid once per result, never per multiply-accumulate.
 */
import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';

export function dyadicWgsl(): string {
  return wgsl`
// Full 64-bit product of two u32, as (lo, hi).
fn mul_u32_wide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  // Below 3 * 2^16 + 2^16: no overflow.
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let lo = (p00 & 0xffffu) | (mid << 16u);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(lo, hi);
}

// round(|x| * m / 2^e), ties away from zero, as a magnitude saturated at lim; e in [0, 63].
fn dyadic_magnitude(mag: u32, m: u32, e: u32, lim: u32) -> u32 {
  var p = mul_u32_wide(mag, m);
  if (e > 0u) {
    let r = e - 1u;
    if (r < 32u) {
      let add = 1u << r;
      let lo = p.x + add;
      p = vec2<u32>(lo, p.y + select(0u, 1u, lo < add));
    } else {
      p.y = p.y + (1u << (r - 32u));
    }
  }
  var qlo: u32;
  var qhi: u32;
  if (e == 0u) {
    qlo = p.x;
    qhi = p.y;
  } else if (e < 32u) {
    qlo = (p.x >> e) | (p.y << (32u - e));
    qhi = p.y >> e;
  } else {
    qlo = p.y >> (e - 32u);
    qhi = 0u;
  }
  return select(qlo, lim, qhi != 0u || qlo > lim);
}

// dyadic(x, m, e) saturated to [lo, hi]; requires lo <= 0 <= hi.
fn dyadic_scale(x: i32, m: u32, e: u32, lo: i32, hi: i32) -> i32 {
  let neg = x < 0;
  // Two's complement negation in u32 also covers x = -2^31.
  let mag = select(u32(x), 0u - u32(x), neg);
  let lim = select(u32(hi), 0u - u32(lo), neg);
  let q = dyadic_magnitude(mag, m, e, lim);
  return select(i32(q), i32(0u - q), neg);
}
`;
}
