/** A small seeded PRNG (mulberry32) so that tests and benchmarks draw the same values every run. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer uniform in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  int8Array(n: number, lo = -128, hi = 127): Int8Array {
    const out = new Int8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(lo, hi);
    return out;
  }

  int32Array(n: number, lo: number, hi: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(lo, hi);
    return out;
  }

  /** Approximately normal (sum of uniforms), mean 0, given standard deviation. */
  normal(std = 1): number {
    let s = 0;
    for (let i = 0; i < 4; i++) s += this.next();
    return (s - 2) * Math.sqrt(3) * std;
  }

  float32Array(n: number, std = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal(std);
    return out;
  }
}
