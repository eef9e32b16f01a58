/**
 * Integer pooling (pool-i8) checked bit for bit against the CPU reference in both modes, on shapes
 * from one token to 130 tokens and 768 channels, with padded masks, single-token sequences and
 * -128 / 127 everywhere (the largest sums); padding lanes and the spare words of strided rows hold
 * garbage, which the kernel must ignore. The 'float' cases also finish the integers with
 * poolToFloat and compare with float pooling of the dequantized rows: it is the same arithmetic, so
 * they must agree to one float32 rounding (plus the float64 reference's own summation error, a
 * stated per-value bound). Shared by the Node tests and the browser page.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { type BoundProgram, submitPrograms } from '../../src/gpu/program.js';
import { bindPoolI8, type PoolI8RunShape, poolI8BufferBytes } from '../../src/kernels/pool-i8.js';
import { wordsPerRow } from '../../src/quant/pack.js';
import { meanPoolF32Ref } from '../../src/reference/mean-pool-f32.js';
import { POOL_MODES, type PoolMode, poolI8Ref, poolOutputStride, poolToFloat } from '../../src/reference/pool-i8.js';
import { Random } from '../../src/util/random.js';
import type { AccuracyReport, CheckResult, CheckSuite } from './suite.js';

type MaskKind = 'full' | 'tail' | 'one';
type Values = 'random' | 'min' | 'max' | 'corners';

export interface PoolI8Case {
  name: string;
  shape: Required<PoolI8RunShape>;
  mask: MaskKind;
  values: Values;
  /** Fill padding lanes and spare row words with garbage instead of zeros. */
  dirty: boolean;
  /** Also compare poolToFloat with float pooling of the dequantized rows at this scale. */
  floatScale?: number;
  seed: number;
}

/** [batch, seq, hidden, spare words per row]. */
const SHAPES: [number, number, number, number][] = [
  [1, 1, 4, 0],
  [1, 1, 768, 0],
  [5, 1, 5, 0],
  [2, 7, 13, 0],
  [2, 17, 6, 3],
  [4, 33, 130, 0],
  [5, 64, 384, 0],
  [3, 128, 383, 1],
  [1, 130, 767, 0],
  [3, 130, 768, 0],
];

export function poolI8Cases(): PoolI8Case[] {
  const cases: PoolI8Case[] = [];
  let seed = 7100;
  const add = (
    batch: number,
    seq: number,
    hidden: number,
    spare: number,
    mask: MaskKind,
    values: Values,
    floatScale?: number,
  ) => {
    const shape = { batch, seq, hidden, rowWords: wordsPerRow(hidden) + spare };
    const dirty = seed % 2 === 0 || spare > 0;
    const name = `${batch}x${seq}x${hidden}${spare ? ` (+${spare} words/row)` : ''} mask ${mask}, ${values}${dirty ? ', dirty padding' : ''}${floatScale ? `, vs float at scale ${floatScale}` : ''}`;
    cases.push({ name, shape, mask, values, dirty, floatScale, seed: seed++ });
  };
  const masks: MaskKind[] = ['tail', 'full', 'one'];
  SHAPES.forEach(([b, s, h, spare], i) => add(b, s, h, spare, s === 1 ? 'full' : masks[i % 3], 'random'));
  // The largest sums: every token real at the longest length, all at one extreme.
  add(5, 130, 768, 0, 'full', 'min');
  add(5, 130, 768, 0, 'full', 'max');
  add(2, 130, 13, 2, 'tail', 'corners');
  add(3, 130, 384, 0, 'one', 'min');
  add(4, 3, 7, 0, 'one', 'max');
  for (const [b, s, h] of [
    [3, 41, 384],
    [5, 130, 768],
    [2, 9, 13],
  ])
    add(b, s, h, 0, 'tail', 'random', 0.0213947);
  return cases;
}

interface Inputs {
  x: Int8Array;
  words: Uint32Array;
  mask: Uint32Array;
}

function values(rng: Random, kind: Values, n: number): Int8Array {
  if (kind === 'min') return new Int8Array(n).fill(-128);
  if (kind === 'max') return new Int8Array(n).fill(127);
  if (kind === 'corners') return Int8Array.from({ length: n }, () => (rng.next() < 0.5 ? -128 : 127));
  // LayerNorm-output-like: mostly small, some at the clip.
  return Int8Array.from({ length: n }, () => Math.max(-128, Math.min(127, Math.round(rng.normal(40)))));
}

function makeMask(rng: Random, kind: MaskKind, batch: number, seq: number): Uint32Array {
  const mask = new Uint32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    // 'tail': padding at the end; the first sequence is full and the last has one token when there are several.
    let real = seq;
    if (kind === 'one') real = 1;
    else if (kind === 'tail') real = b === 0 ? seq : b === batch - 1 ? 1 : rng.int(1, seq);
    mask.fill(1, b * seq, b * seq + real);
  }
  return mask;
}

function prepare(c: PoolI8Case): Inputs {
  const rng = new Random(c.seed);
  const { batch, seq, hidden, rowWords } = c.shape;
  const rows = batch * seq;
  const x = values(rng, c.values, rows * hidden);
  const bytes = new Uint8Array(rows * rowWords * 4);
  if (c.dirty) for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(0, 255);
  for (let t = 0; t < rows; t++) bytes.set(new Uint8Array(x.buffer, t * hidden, hidden), t * rowWords * 4);
  const words = new Uint32Array(rows * rowWords);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < words.length; i++) words[i] = view.getUint32(i * 4, true);
  return { x, words, mask: makeMask(rng, c.mask, batch, seq) };
}

const U = 2 ** -53;
const F32_ROUNDING = 2 ** -24;

/**
 * The float embedding poolToFloat must reproduce, from the dequantized rows x * scale in float64,
 * and the per-value error it may have: one float32 rounding of the result, plus first-order bounds
 * on the float64 roundings of both sides (the reference's products and its n-term sum, poolToFloat's
 * multiply and division, and the norm when normalising), doubled for the higher-order terms.
 */
function floatEmbedding(
  inp: Inputs,
  shape: Required<PoolI8RunShape>,
  scale: number,
  mode: PoolMode,
  normalize: boolean,
): { want: Float64Array; allowed: Float64Array } {
  const { batch, seq, hidden } = shape;
  const deq = Float64Array.from(inp.x, (v) => v * scale);
  const want = new Float64Array(batch * hidden);
  const allowed = new Float64Array(batch * hidden);
  const means = mode === 'mean' ? meanPoolF32Ref(deq, inp.mask, batch, seq, hidden) : undefined;
  for (let b = 0; b < batch; b++) {
    let n = 0;
    for (let s = 0; s < seq; s++) n += inp.mask[b * seq + s] ? 1 : 0;
    const terms = mode === 'mean' ? n : 1;
    const v = new Float64Array(hidden);
    const err = new Float64Array(hidden);
    for (let c = 0; c < hidden; c++) {
      let absSum = 0;
      if (mode === 'mean') {
        for (let s = 0; s < seq; s++) if (inp.mask[b * seq + s]) absSum += Math.abs(deq[(b * seq + s) * hidden + c]);
        v[c] = means![b * hidden + c];
        absSum /= n;
      } else {
        v[c] = deq[b * seq * hidden + c];
        absSum = Math.abs(v[c]);
      }
      err[c] = 2 * (terms + 5) * U * absSum;
    }
    let norm = 1;
    let errNorm = 0;
    if (normalize) {
      norm = Math.hypot(...v);
      errNorm = Math.hypot(...err);
    }
    for (let c = 0; c < hidden; c++) {
      const w = normalize ? (norm > 0 ? v[c] / norm : 0) : v[c];
      want[b * hidden + c] = w;
      const float64 = normalize
        ? norm > 0
          ? 2 * ((err[c] + Math.abs(w) * errNorm) / norm + (hidden + 4) * U * Math.abs(w))
          : 0
        : err[c];
      allowed[b * hidden + c] = F32_ROUNDING * Math.abs(w) + float64;
    }
  }
  return { want, allowed };
}

export async function runPoolI8Case(gpu: Gpu, c: PoolI8Case): Promise<CheckResult> {
  const inp = prepare(c);
  const { batch, seq, hidden } = c.shape;
  const bytes = poolI8BufferBytes(c.shape);
  const xBuf = gpu.storage('x', inp.words);
  const maskBuf = gpu.storage('mask', inp.mask);
  const outputs = POOL_MODES.map(() => gpu.storage('pooled', new Int32Array(bytes.output / 4).fill(0x5a5a5a5a)));
  const programs: BoundProgram[] = [];
  let mismatches = 0;
  let elements = 0;
  let firstMismatch: string | undefined;
  let maxAbs = 0;
  let sum = 0;
  let measured = 0;
  const stride = poolOutputStride(hidden);
  try {
    for (let k = 0; k < POOL_MODES.length; k++) {
      programs.push(
        await bindPoolI8(gpu, { mode: POOL_MODES[k] }, c.shape, { x: xBuf, mask: maskBuf, output: outputs[k] }),
      );
    }
    submitPrograms(gpu, programs);
    for (let k = 0; k < POOL_MODES.length; k++) {
      const mode = POOL_MODES[k];
      const got = new Int32Array(await gpu.read(outputs[k]));
      const want = poolI8Ref(inp.x, inp.mask, { batch, seq, hidden }, mode);
      elements += want.length;
      for (let i = 0; i < want.length; i++) {
        if (got[i] !== want[i]) {
          mismatches++;
          const col = i % stride;
          firstMismatch ??= `${mode}: sequence ${Math.floor(i / stride)} ${col === hidden ? 'count' : `channel ${col}`}: got ${got[i]}, want ${want[i]}`;
        }
      }
      if (c.floatScale === undefined) continue;
      for (const normalize of [false, true]) {
        const embeddings = poolToFloat(got, batch, hidden, c.floatScale, { mode, normalize });
        const ref = floatEmbedding(inp, c.shape, c.floatScale, mode, normalize);
        for (let b = 0; b < batch; b++) {
          for (let ch = 0; ch < hidden; ch++) {
            const i = b * hidden + ch;
            const diff = Math.abs(embeddings[b][ch] - ref.want[i]);
            const ratio = diff === 0 ? 0 : diff / ref.allowed[i];
            maxAbs = Math.max(maxAbs, ratio);
            sum += ratio;
            measured++;
          }
        }
      }
    }
  } finally {
    for (const p of programs) p.destroy();
    for (const b of [xBuf, maskBuf, ...outputs]) b.destroy();
  }
  let accuracy: AccuracyReport | undefined;
  if (measured > 0) {
    accuracy = {
      unit: 'of the float-rounding bound (one f32 rounding + float64 summation error)',
      maxAbs,
      meanAbs: sum / measured,
      maxBound: 1,
      meanBound: 1,
    };
  }
  return { name: c.name, elements, mismatches, firstMismatch, accuracy };
}

export const suite: CheckSuite = {
  name: 'integer pooling',
  cases: () => poolI8Cases().map((c) => ({ name: c.name, run: (gpu) => runPoolI8Case(gpu, c) })),
};
