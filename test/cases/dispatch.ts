/**
 * Dispatch slots reused across shapes: for each kernel family, ONE Dispatch over buffers sized for
 * the largest shape is prepared and run for three shapes in turn (two of them on the same variant,
 * and for GEMM and softmax-i8 on different variants in between, so one bind group serves several
 * pipelines). Each run is checked bit for bit: integer kernels against the CPU reference (packed
 * words, padding lanes included), float kernels against the same kernel bound the single-shape way
 * (bindXxx, a fresh bind group and uniform), which is what the float suites check against float64.
 * Outputs are poisoned before every run so that a stale result of the previous shape cannot pass.
 *
 * Around every prepare + submit the Gpu's counters must show no new bind group and no new uniform
 * buffer, and no new pipeline once a variant has been prepared: a new length costs only uniform writes.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import {
  type BoundProgram,
  Dispatch,
  type KernelProgram,
  type RunData,
  submitPrograms,
} from '../../src/gpu/program.js';
import {
  bindEmbeddingF32,
  type EmbeddingF32Shape,
  embeddingF32Bindings,
  embeddingF32Kernel,
  embeddingF32RunData,
  embeddingF32Variant,
} from '../../src/kernels/embedding-f32.js';
import { embeddingI8Bindings, embeddingI8Kernel, embeddingI8RunData } from '../../src/kernels/embedding-i8.js';
import { bindGeluF32, geluF32Bindings, geluF32Kernel, geluF32RunData } from '../../src/kernels/gelu-f32.js';
import {
  deriveGeluI8Constants,
  geluI8Bindings,
  geluI8Kernel,
  geluI8RunData,
  geluInputRescale,
  uploadGeluI8Constants,
} from '../../src/kernels/gelu-i8.js';
import {
  bindGemmF32,
  type GemmF32Options,
  gemmF32Bindings,
  gemmF32Kernel,
  gemmF32RunData,
  gemmF32Variant,
} from '../../src/kernels/gemm-f32.js';
import {
  type GemmI8Options,
  gemmI8Bindings,
  gemmI8Kernel,
  gemmI8RunData,
  gemmI8Variant,
  packRequant,
  preferredStrategy,
} from '../../src/kernels/gemm-i8.js';
import type { GemmShape } from '../../src/kernels/gemm-shape.js';
import {
  bindLayerNormF32,
  type LayerNormF32Options,
  layerNormF32Bindings,
  layerNormF32Kernel,
  layerNormF32RunData,
  layerNormF32Variant,
} from '../../src/kernels/layernorm-f32.js';
import {
  defaultWorkgroupSize,
  layerNormI8Bindings,
  layerNormI8Kernel,
  layerNormI8RunData,
  layerNormI8Variant,
  packLayerNormChannels,
} from '../../src/kernels/layernorm-i8.js';
import { lookupI8Bindings, lookupI8Kernel, lookupI8RunData, lookupTableWords } from '../../src/kernels/lookup-i8.js';
import {
  bindMeanPoolF32,
  type MeanPoolF32Shape,
  meanPoolF32Bindings,
  meanPoolF32Kernel,
  meanPoolF32RunData,
} from '../../src/kernels/mean-pool-f32.js';
import { requantizeBindings, requantizeKernel, requantizeRunData } from '../../src/kernels/requantize.js';
import { residualAddBindings, residualAddKernel, residualAddRunData } from '../../src/kernels/residual-add.js';
import {
  bindSoftmaxF32,
  softmaxF32Bindings,
  softmaxF32Kernel,
  softmaxF32RunData,
  softmaxF32Variant,
} from '../../src/kernels/softmax-f32.js';
import {
  deriveSoftmaxI8Constants,
  softmaxI8Bindings,
  softmaxI8Kernel,
  softmaxI8OutputWords,
  softmaxI8RunData,
  softmaxI8Variant,
} from '../../src/kernels/softmax-i8.js';
import {
  bindSplitHeadsF32,
  type SplitHeadsF32Shape,
  splitHeadsF32Bindings,
  splitHeadsF32Kernel,
  splitHeadsF32RunData,
  splitHeadsF32Sizes,
} from '../../src/kernels/split-heads-f32.js';
import {
  type TransposeHeadsShape,
  transposeHeadsI8Bindings,
  transposeHeadsI8Kernel,
  transposeHeadsI8RunData,
  transposeHeadsOutputWords,
} from '../../src/kernels/transpose-heads-i8.js';
import { packRows, padRowsF32, wordsPerRow } from '../../src/quant/pack.js';
import { type Dyadic, toDyadic } from '../../src/reference/dyadic.js';
import { embeddingI8Ref } from '../../src/reference/embedding-i8.js';
import { igeluRef } from '../../src/reference/gelu-i8.js';
import { gemmI8Ref } from '../../src/reference/gemm-i8.js';
import { deriveLayerNormI8, layerNormI8Ref } from '../../src/reference/layernorm-i8.js';
import { lookupI8Ref } from '../../src/reference/lookup-i8.js';
import { requantizeRef } from '../../src/reference/requantize.js';
import { residualAddRef } from '../../src/reference/residual-add.js';
import { softmaxI8Ref } from '../../src/reference/softmax-i8.js';
import { transposeHeadsI8Ref } from '../../src/reference/transpose-heads-i8.js';
import { Random } from '../../src/util/random.js';
import type { CheckResult, CheckSuite } from './suite.js';

/** One shape of a slot's sequence of runs. */
interface Step {
  program: KernelProgram;
  run: RunData;
  /** Writes this shape's inputs into the slot's buffers and poisons its outputs. */
  upload(): void;
  /** The words the run wrote (read back right after it). */
  got(): Promise<Uint32Array>;
  /** What they must equal: the CPU reference, or for floats the single-shape binding's output. */
  want(): Promise<Uint32Array> | Uint32Array;
}

interface Slot {
  bindings: GPUBuffer[];
  steps: Step[];
  owned: GPUBuffer[];
}

const POISON = 0xdeadbeef;

function counters(gpu: Gpu): [number, number, number] {
  return [gpu.pipelineCount, gpu.bindGroupCount, gpu.uniformBufferCount];
}

async function readWords(gpu: Gpu, buffer: GPUBuffer, words: number): Promise<Uint32Array> {
  return new Uint32Array(await gpu.read(buffer, words * 4));
}

function poison(gpu: Gpu, buffer: GPUBuffer): void {
  gpu.write(buffer, new Uint32Array(buffer.size / 4).fill(POISON));
}

function bits(values: Int32Array | Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/** Runs the single-shape binding of a float kernel and reads its output words: the float oracle. */
async function fresh(
  gpu: Gpu,
  bind: () => Promise<BoundProgram>,
  outputs: [GPUBuffer, number][],
): Promise<Uint32Array> {
  for (const [b] of outputs) poison(gpu, b);
  const program = await bind();
  submitPrograms(gpu, [program]);
  program.destroy();
  const words = concat(await Promise.all(outputs.map(([b, n]) => readWords(gpu, b, n))));
  // bindXxx runs on Dispatch too: an output it left unwritten would make this oracle agree with anything.
  const unwritten = words.indexOf(POISON);
  if (unwritten >= 0) throw new Error(`the single-shape binding left output word ${unwritten} unwritten`);
  return words;
}

function concat(parts: Uint32Array[]): Uint32Array {
  const out = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function runSlot(gpu: Gpu, name: string, make: (gpu: Gpu) => Slot | Promise<Slot>): Promise<CheckResult> {
  const slot = await make(gpu);
  let elements = 0;
  let mismatches = 0;
  let firstMismatch: string | undefined;
  const fail = (what: string) => {
    mismatches++;
    firstMismatch ??= what;
  };
  const before = counters(gpu);
  const dispatch = await Dispatch.create(gpu, slot.steps[0].program, slot.bindings);
  try {
    const made = counters(gpu);
    elements += 2;
    if (made[1] - before[1] !== 1) fail(`Dispatch.create made ${made[1] - before[1]} bind groups, not 1`);
    if (made[2] - before[2] !== 1) fail(`Dispatch.create made ${made[2] - before[2]} uniform buffers, not 1`);
    const prepared = new Set<string>();
    for (const [i, step] of slot.steps.entries()) {
      const what = `run ${i} (${step.run.label})`;
      step.upload();
      const [p0, g0, u0] = counters(gpu);
      await dispatch.prepare(step.program, step.run);
      submitPrograms(gpu, [dispatch]);
      const [p1, g1, u1] = counters(gpu);
      elements += 3;
      if (g1 !== g0) fail(`${what}: ${g1 - g0} bind groups created`);
      if (u1 !== u0) fail(`${what}: ${u1 - u0} uniform buffers created`);
      if (p1 - p0 > (prepared.has(step.program.key) ? 0 : 1))
        fail(
          `${what}: ${p1 - p0} pipelines created for ${step.program.name}${prepared.has(step.program.key) ? ', prepared before' : ''}`,
        );
      prepared.add(step.program.key);
      const got = await step.got();
      const want = await step.want();
      elements += want.length;
      if (got.length !== want.length) {
        fail(`${what}: ${got.length} words read, ${want.length} expected`);
        continue;
      }
      for (let j = 0; j < want.length; j++) {
        if (got[j] !== want[j]) fail(`${what}: word ${j} is 0x${got[j].toString(16)}, want 0x${want[j].toString(16)}`);
      }
    }
    if (prepared.size === slot.steps.length) fail('no variant was prepared twice: the case checks no reuse');
  } finally {
    dispatch.destroy();
    for (const b of slot.owned) b.destroy();
  }
  return { name, elements, mismatches, firstMismatch };
}

function requantFor(rng: Random, count: number, K: number): Dyadic[] {
  // |acc| is about sqrt(K) * 2^13 for random int8 data: this maps it near the int8 range.
  const ratio = 100 / (Math.sqrt(K) * 5000);
  return Array.from({ length: count }, () => toDyadic(ratio * (0.5 + rng.next())));
}

// ---------------------------------------------------------------- INT8 GEMM

const GELU_S_IN = 1e-4;
const GELU_S_OUT = 8 / 127;
const BIAS_MAX = 2 ** 20;

interface GemmI8Config {
  output: 'i32' | 'i8' | 'gelu-i8';
  perChannel: boolean;
  bias: boolean;
  aUnsigned: boolean;
}

/**
 * M varies the variant (GEMV up to 8 rows, the 16x32 tile up to 16, 32x64 or 64x64 beyond; 5 and 7
 * share the 8-row GEMV); N and K vary the uniform too.
 */
const GEMM_SHAPES: [number, number, number][] = [
  [13, 40, 70],
  [40, 24, 33],
  [5, 37, 70],
  [7, 20, 33],
];

function gemmI8Slot(config: GemmI8Config) {
  return (gpu: Gpu): Slot => {
    const rng = new Random(31);
    const options: GemmI8Options = { strategy: preferredStrategy(gpu), ...config };
    const maxM = Math.max(...GEMM_SHAPES.map((s) => s[0]));
    const maxN = Math.max(...GEMM_SHAPES.map((s) => s[1]));
    const maxK4 = Math.max(...GEMM_SHAPES.map((s) => wordsPerRow(s[2])));
    const gelu = deriveGeluI8Constants(GELU_S_IN, GELU_S_OUT);
    const requantCount =
      config.output === 'i32' || (config.output === 'gelu-i8' && !config.perChannel) ? 0 : config.perChannel ? maxN : 1;
    const buffers = {
      a: gpu.storage('a', maxM * maxK4 * 4),
      b: gpu.storage('b', maxN * maxK4 * 4),
      bias: config.bias ? gpu.storage('bias', maxN * 4) : undefined,
      requant: requantCount ? gpu.storage('requant', requantCount * 8) : undefined,
      gelu: config.output === 'gelu-i8' ? uploadGeluI8Constants(gpu, gelu) : undefined,
      c: gpu.storage('c', maxM * maxN * 4),
    };
    const owned = Object.values(buffers).filter((b): b is GPUBuffer => !!b);
    const steps = GEMM_SHAPES.map(([M, N, K]): Step => {
      const shape: GemmShape = { M, N, K };
      const tile = gemmI8Variant(options, shape, gpu.adapter.isSoftware);
      const a = config.aUnsigned ? rng.int8Array(M * K, 0, 127) : rng.int8Array(M * K);
      const aValues = config.aUnsigned ? Uint8Array.from(a, (v) => v * 2 + (v & 1)) : a;
      const b = rng.int8Array(N * K);
      const bias = config.bias ? rng.int32Array(N, -BIAS_MAX, BIAS_MAX) : undefined;
      const requant =
        config.output === 'gelu-i8'
          ? Array.from({ length: N }, () => geluInputRescale(GELU_S_IN * (0.5 + rng.next())))
          : requantFor(rng, config.perChannel ? N : 1, K);
      const packed = config.output !== 'i32';
      const cWords = M * (packed ? wordsPerRow(N) : N);
      return {
        program: gemmI8Kernel(options, tile),
        run: gemmI8RunData(options, shape, tile, config.bias ? BIAS_MAX : 0),
        upload() {
          gpu.write(buffers.a, packRows(aValues, M, K));
          gpu.write(buffers.b, packRows(b, N, K));
          if (buffers.bias && bias) gpu.write(buffers.bias, bias);
          if (buffers.requant) gpu.write(buffers.requant, packRequant(requant));
          poison(gpu, buffers.c);
        },
        got: () => readWords(gpu, buffers.c, cWords),
        want() {
          const acc = gemmI8Ref({ a: aValues, b, bias, M, N, K });
          if (config.output === 'i32') return bits(acc);
          if (config.output === 'i8') return packRows(requantizeRef(acc, M, N, requant) as Int8Array, M, N);
          return packRows(igeluRef(acc, M, N, gelu, config.perChannel ? requant : undefined), M, N);
        },
      };
    });
    return { bindings: gemmI8Bindings(options, buffers), steps, owned };
  };
}

/** Attention shapes: (batch, heads, seq); head dim 16. Seq 13 and 5 share the small tile, 40 does not. */
const ATTENTION_SHAPES: [number, number, number][] = [
  [2, 3, 13],
  [1, 3, 40],
  [2, 3, 5],
  [1, 2, 7],
];
const HEAD_DIM = 16;

/**
 * Q.K^T per (sequence, head) on [batch, seq, heads * D] tensors (i32 scores [batch, heads, seq, seq]),
 * or P.V^T with uint8 P [batch, heads, seq, seq] into the context [batch, seq, heads * D] (int8).
 */
function attentionSlot(kind: 'qk' | 'pv') {
  return (gpu: Gpu): Slot => {
    const rng = new Random(kind === 'qk' ? 41 : 42);
    const options: GemmI8Options =
      kind === 'qk'
        ? { strategy: preferredStrategy(gpu), output: 'i32', perChannel: false, bias: false, aUnsigned: false }
        : { strategy: preferredStrategy(gpu), output: 'i8', perChannel: false, bias: false, aUnsigned: true };
    const D = HEAD_DIM;
    const words = (f: (b: number, h: number, s: number) => number) =>
      Math.max(...ATTENTION_SHAPES.map(([b, h, s]) => f(b, h, s)));
    const buffers = {
      a: gpu.storage('a', 4 * words((b, h, s) => (kind === 'qk' ? b * s * h * (D / 4) : b * h * s * wordsPerRow(s)))),
      b: gpu.storage('b', 4 * words((b, h, s) => (kind === 'qk' ? b * s * h * (D / 4) : b * h * D * wordsPerRow(s)))),
      requant: kind === 'pv' ? gpu.storage('requant', 8) : undefined,
      c: gpu.storage('c', 4 * words((b, h, s) => (kind === 'qk' ? b * h * s * s : b * s * h * (D / 4)))),
    };
    const owned = Object.values(buffers).filter((b): b is GPUBuffer => !!b);
    const steps = ATTENTION_SHAPES.map(([batch, heads, seq]): Step => {
      const z = batch * heads;
      const row = (heads * D) / 4;
      let shape: GemmShape;
      let aWords: Uint32Array;
      let bWords: Uint32Array;
      let want: () => Uint32Array;
      let cWords: number;
      const requant = requantFor(rng, 1, seq * 4);
      if (kind === 'qk') {
        shape = {
          M: seq,
          N: seq,
          K: D,
          batchOuter: batch,
          batchInner: heads,
          aRow: row,
          bRow: row,
          aInner: D / 4,
          bInner: D / 4,
          aOuter: seq * row,
          bOuter: seq * row,
        };
        // [batch * seq, heads * D]: head h of token t is columns h * D .. h * D + D - 1.
        const q = rng.int8Array(batch * seq * heads * D);
        const k = rng.int8Array(batch * seq * heads * D);
        aWords = packRows(q, batch * seq, heads * D);
        bWords = packRows(k, batch * seq, heads * D);
        const head = (x: Int8Array, i: number) => {
          const out = new Int8Array(seq * D);
          const [b, h] = [Math.floor(i / heads), i % heads];
          for (let s = 0; s < seq; s++)
            out.set(x.subarray((b * seq + s) * heads * D + h * D, (b * seq + s) * heads * D + h * D + D), s * D);
          return out;
        };
        cWords = z * seq * seq;
        want = () => {
          const out = new Int32Array(cWords);
          for (let i = 0; i < z; i++)
            out.set(gemmI8Ref({ a: head(q, i), b: head(k, i), M: seq, N: seq, K: D }), i * seq * seq);
          return bits(out);
        };
      } else {
        const cRow = (heads * D) / 4;
        shape = { M: seq, N: D, K: seq, batchOuter: batch, batchInner: heads, cRow, cInner: D / 4, cOuter: seq * cRow };
        const p = Uint8Array.from(rng.int8Array(z * seq * seq, 0, 127), (v) => v * 2 + (v & 1));
        const vT = rng.int8Array(z * D * seq);
        aWords = packRows(p, z * seq, seq);
        bWords = packRows(vT, z * D, seq);
        cWords = batch * seq * cRow;
        want = () => {
          const context = new Int8Array(batch * seq * heads * D);
          for (let i = 0; i < z; i++) {
            const acc = gemmI8Ref({
              a: p.subarray(i * seq * seq, (i + 1) * seq * seq),
              b: vT.subarray(i * D * seq, (i + 1) * D * seq),
              M: seq,
              N: D,
              K: seq,
            });
            const out = requantizeRef(acc, seq, D, requant) as Int8Array;
            const [b, h] = [Math.floor(i / heads), i % heads];
            for (let s = 0; s < seq; s++)
              context.set(out.subarray(s * D, (s + 1) * D), (b * seq + s) * heads * D + h * D);
          }
          return packRows(context, batch * seq, heads * D);
        };
      }
      const tile = gemmI8Variant(options, shape, gpu.adapter.isSoftware);
      return {
        program: gemmI8Kernel(options, tile),
        run: gemmI8RunData(options, shape, tile),
        upload() {
          gpu.write(buffers.a, aWords);
          gpu.write(buffers.b, bWords);
          if (buffers.requant) gpu.write(buffers.requant, packRequant(requant));
          poison(gpu, buffers.c);
        },
        got: () => readWords(gpu, buffers.c, cWords),
        want,
      };
    });
    return { bindings: gemmI8Bindings(options, buffers), steps, owned };
  };
}

// ---------------------------------------------------------------- other integer kernels

/** Rows per run of the row-wise and element-wise kernels; cols vary where the kernel allows. */
const ROW_SHAPES: [number, number][] = [
  [7, 40],
  [20, 33],
  [3, 40],
];
const maxWords = (cols4: (rows: number, cols: number) => number) =>
  Math.max(...ROW_SHAPES.map(([r, c]) => cols4(r, c)));

function softmaxI8Slot(gpu: Gpu): Slot {
  const rng = new Random(51);
  // (batch, heads, seq): 13 and 11 share a keys-per-thread bucket, 40 needs a larger one.
  const shapes = [
    { batch: 2, heads: 2, seq: 13 },
    { batch: 1, heads: 3, seq: 40 },
    { batch: 2, heads: 1, seq: 11 },
  ];
  const constants = deriveSoftmaxI8Constants((0.05 * 0.05) / 8);
  const max = (f: (s: (typeof shapes)[number]) => number) => Math.max(...shapes.map(f));
  const buffers = {
    scores: gpu.storage('scores', 4 * max((s) => s.batch * s.heads * s.seq * s.seq)),
    mask: gpu.storage('mask', 4 * max((s) => s.batch * s.seq)),
    probs: gpu.storage('probs', 4 * max((s) => softmaxI8OutputWords(s))),
  };
  const steps = shapes.map((shape): Step => {
    const rows = shape.batch * shape.heads * shape.seq;
    const scores = rng.int32Array(rows * shape.seq, -6000, 6000);
    const mask = new Uint32Array(shape.batch * shape.seq);
    for (let b = 0; b < shape.batch; b++)
      mask.fill(1, b * shape.seq, b * shape.seq + (b === 0 ? shape.seq : rng.int(1, shape.seq)));
    const launch = softmaxI8Variant(shape, gpu.adapter.isSoftware);
    return {
      program: softmaxI8Kernel(launch),
      run: softmaxI8RunData(shape, constants, launch),
      upload() {
        gpu.write(buffers.scores, scores);
        gpu.write(buffers.mask, mask);
        poison(gpu, buffers.probs);
      },
      got: () => readWords(gpu, buffers.probs, softmaxI8OutputWords(shape)),
      want: () => packRows(softmaxI8Ref({ scores, mask, ...shape }, constants), rows, shape.seq),
    };
  });
  return { bindings: softmaxI8Bindings(shapes[1], buffers), steps, owned: Object.values(buffers) };
}

function layerNormI8Slot(gpu: Gpu): Slot {
  const rng = new Random(61);
  // H is a model constant (it picks the variant); the rows are the sequence's tokens.
  const H = 40;
  const rowsList = [7, 20, 3];
  const gamma = Array.from({ length: H }, () => 0.5 + rng.next());
  const beta = Array.from({ length: H }, () => rng.next() - 0.5);
  const constants = deriveLayerNormI8({
    gamma,
    beta,
    eps: 1e-12,
    inputScale: 1e-3,
    outputScale: 4 / 127,
    inputMaxAbs: 2 ** 21 - 1,
  });
  const maxRows = Math.max(...rowsList);
  const buffers = {
    x: gpu.storage('x', maxRows * H * 4),
    channels: gpu.storage('channels', packLayerNormChannels(constants)),
    out: gpu.storage('out', maxRows * wordsPerRow(H) * 4),
  };
  const options = { workgroupSize: defaultWorkgroupSize(H, gpu.adapter.isSoftware) };
  const variant = layerNormI8Variant(H, options);
  const steps = rowsList.map((rows): Step => {
    const x = rng.int32Array(rows * H, -50000, 50000);
    return {
      program: layerNormI8Kernel(variant),
      run: layerNormI8RunData(constants, { rows, H }, variant, options),
      upload() {
        gpu.write(buffers.x, x);
        poison(gpu, buffers.out);
      },
      got: () => readWords(gpu, buffers.out, rows * wordsPerRow(H)),
      want: () => packRows(layerNormI8Ref(x, rows, constants), rows, H),
    };
  });
  return { bindings: layerNormI8Bindings({ rows: maxRows, H }, buffers), steps, owned: Object.values(buffers) };
}

function residualAddSlot(gpu: Gpu): Slot {
  const rng = new Random(71);
  const options = { a: 'i8', b: 'i32' } as const;
  const constants = { a: toDyadic(0.7), b: toDyadic(0.01), bits: 22 };
  const bounds = { b: 2 ** 21 };
  const buffers = {
    a: gpu.storage('a', 4 * maxWords((r, c) => r * wordsPerRow(c))),
    b: gpu.storage('b', 4 * maxWords((r, c) => r * c)),
    output: gpu.storage('output', 4 * maxWords((r, c) => r * c)),
  };
  const steps = ROW_SHAPES.map(([rows, cols]): Step => {
    const a = rng.int8Array(rows * cols);
    const b = rng.int32Array(rows * cols, -(2 ** 21), 2 ** 21);
    return {
      program: residualAddKernel(options),
      run: residualAddRunData(options, { rows, cols }, constants, bounds),
      upload() {
        gpu.write(buffers.a, packRows(a, rows, cols));
        gpu.write(buffers.b, b);
        poison(gpu, buffers.output);
      },
      got: () => readWords(gpu, buffers.output, rows * cols),
      want: () => bits(residualAddRef(a, b, constants)),
    };
  });
  return {
    bindings: residualAddBindings(options, { rows: 20, cols: 33 }, buffers),
    steps,
    owned: Object.values(buffers),
  };
}

function embeddingI8Slot(gpu: Gpu): Slot {
  const rng = new Random(81);
  const hidden = 40;
  const [vocab, positions, types] = [50, 32, 2];
  const tables = {
    word: rng.int8Array(vocab * hidden),
    position: rng.int8Array(positions * hidden),
    tokenType: rng.int8Array(types * hidden),
    hidden,
  };
  const constants = { word: toDyadic(0.5), position: toDyadic(0.25), tokenType: toDyadic(0.125), bits: 22 };
  const options = { tokenTypes: true };
  const tokensList = [7, 20, 3];
  const maxTokens = Math.max(...tokensList);
  const buffers = {
    word: gpu.storage('word', packRows(tables.word, vocab, hidden)),
    position: gpu.storage('position', packRows(tables.position, positions, hidden)),
    tokenType: gpu.storage('tokenType', packRows(tables.tokenType, types, hidden)),
    tokenIds: gpu.storage('tokenIds', maxTokens * 4),
    positionIds: gpu.storage('positionIds', maxTokens * 4),
    tokenTypeIds: gpu.storage('tokenTypeIds', maxTokens * 4),
    output: gpu.storage('output', maxTokens * hidden * 4),
  };
  const steps = tokensList.map((tokens): Step => {
    const ids = {
      token: Uint32Array.from({ length: tokens }, () => rng.int(0, vocab - 1)),
      position: Uint32Array.from({ length: tokens }, (_, i) => i),
      tokenType: Uint32Array.from({ length: tokens }, () => rng.int(0, types - 1)),
    };
    const shape = { tokens, hidden, vocab, positions, types };
    return {
      program: embeddingI8Kernel(options),
      run: embeddingI8RunData(options, shape, constants),
      upload() {
        gpu.write(buffers.tokenIds, ids.token);
        gpu.write(buffers.positionIds, ids.position);
        gpu.write(buffers.tokenTypeIds, ids.tokenType);
        poison(gpu, buffers.output);
      },
      got: () => readWords(gpu, buffers.output, tokens * hidden),
      want: () => bits(embeddingI8Ref(tables, ids, constants)),
    };
  });
  return {
    bindings: embeddingI8Bindings(options, { tokens: maxTokens, hidden, vocab, positions, types }, buffers),
    steps,
    owned: Object.values(buffers),
  };
}

function transposeHeadsSlot(gpu: Gpu): Slot {
  const rng = new Random(91);
  // V of a fused Q|K|V tensor with H = 16: 2 heads of 8, V at columns 32..47 of 48.
  const base = { heads: 2, headDim: 8, rowWords: 12, colOffset: 32 };
  const shapes: TransposeHeadsShape[] = [
    { batch: 2, seq: 13, ...base },
    { batch: 1, seq: 40, ...base },
    { batch: 2, seq: 5, ...base },
  ];
  const max = (f: (s: TransposeHeadsShape) => number) => Math.max(...shapes.map(f));
  const buffers = {
    x: gpu.storage('x', 4 * max((s) => s.batch * s.seq * s.rowWords)),
    y: gpu.storage('y', 4 * max(transposeHeadsOutputWords)),
  };
  const steps = shapes.map((s): Step => {
    const cols = s.rowWords * 4;
    const x = rng.int8Array(s.batch * s.seq * cols);
    return {
      program: transposeHeadsI8Kernel(),
      run: transposeHeadsI8RunData(s),
      upload() {
        gpu.write(buffers.x, packRows(x, s.batch * s.seq, cols));
        poison(gpu, buffers.y);
      },
      got: () => readWords(gpu, buffers.y, transposeHeadsOutputWords(s)),
      want: () =>
        packRows(
          transposeHeadsI8Ref(x, s.batch, s.seq, cols, s.heads, s.headDim, s.colOffset),
          s.batch * s.heads * s.headDim,
          s.seq,
        ),
    };
  });
  return { bindings: transposeHeadsI8Bindings(shapes[1], buffers), steps, owned: Object.values(buffers) };
}

function lookupSlot(gpu: Gpu): Slot {
  const rng = new Random(101);
  const table = rng.int8Array(256);
  const words = maxWords((r, c) => r * wordsPerRow(c));
  const buffers = {
    x: gpu.storage('x', words * 4),
    table: gpu.storage('table', lookupTableWords(table)),
    y: gpu.storage('y', words * 4),
  };
  const steps = ROW_SHAPES.map(([rows, cols]): Step => {
    const x = rng.int8Array(rows * cols);
    return {
      program: lookupI8Kernel(),
      run: lookupI8RunData(rows, cols),
      upload() {
        gpu.write(buffers.x, packRows(x, rows, cols));
        poison(gpu, buffers.y);
      },
      got: () => readWords(gpu, buffers.y, rows * wordsPerRow(cols)),
      want: () => packRows(lookupI8Ref(x, table), rows, cols),
    };
  });
  return { bindings: lookupI8Bindings(20, 33, buffers), steps, owned: Object.values(buffers) };
}

function requantizeSlot(gpu: Gpu): Slot {
  const rng = new Random(111);
  const options = { output: 'i8' as const, perChannel: true };
  const buffers = {
    input: gpu.storage('input', 4 * maxWords((r, c) => r * c)),
    requant: gpu.storage('requant', 40 * 8),
    output: gpu.storage('output', 4 * maxWords((r, c) => r * wordsPerRow(c))),
  };
  const steps = ROW_SHAPES.map(([rows, cols]): Step => {
    const x = rng.int32Array(rows * cols, -(2 ** 20), 2 ** 20);
    const requant = requantFor(rng, cols, 2 ** 14);
    return {
      program: requantizeKernel(options),
      run: requantizeRunData(options, { rows, cols }),
      upload() {
        gpu.write(buffers.input, x);
        gpu.write(buffers.requant, packRequant(requant));
        poison(gpu, buffers.output);
      },
      got: () => readWords(gpu, buffers.output, rows * wordsPerRow(cols)),
      want: () => packRows(requantizeRef(x, rows, cols, requant) as Int8Array, rows, cols),
    };
  });
  return {
    bindings: requantizeBindings(options, { rows: 20, cols: 33 }, buffers),
    steps,
    owned: Object.values(buffers),
  };
}

function geluI8Slot(gpu: Gpu): Slot {
  const rng = new Random(121);
  const options = { perChannel: false };
  const constants = deriveGeluI8Constants(GELU_S_IN, GELU_S_OUT);
  const buffers = {
    x: gpu.storage('x', 4 * maxWords((r, c) => r * c)),
    gelu: uploadGeluI8Constants(gpu, constants),
    y: gpu.storage('y', 4 * maxWords((r, c) => r * wordsPerRow(c))),
  };
  const steps = ROW_SHAPES.map(([rows, cols]): Step => {
    const x = rng.int32Array(rows * cols, -60000, 60000);
    return {
      program: geluI8Kernel(options),
      run: geluI8RunData(options, { rows, cols }),
      upload() {
        gpu.write(buffers.x, x);
        poison(gpu, buffers.y);
      },
      got: () => readWords(gpu, buffers.y, rows * wordsPerRow(cols)),
      want: () => packRows(igeluRef(x, rows, cols, constants), rows, cols),
    };
  });
  return { bindings: geluI8Bindings(options, { rows: 20, cols: 33 }, buffers), steps, owned: Object.values(buffers) };
}

// ---------------------------------------------------------------- float kernels

function gemmF32Slot(gpu: Gpu): Slot {
  const rng = new Random(131);
  const options: GemmF32Options = { bias: true };
  const maxM = Math.max(...GEMM_SHAPES.map((s) => s[0]));
  const maxN = Math.max(...GEMM_SHAPES.map((s) => s[1]));
  const maxK = Math.max(...GEMM_SHAPES.map((s) => wordsPerRow(s[2]) * 4));
  const buffers = {
    a: gpu.storage('a', maxM * maxK * 4),
    b: gpu.storage('b', maxN * maxK * 4),
    bias: gpu.storage('bias', maxN * 4),
    c: gpu.storage('c', maxM * maxN * 4),
  };
  const steps = GEMM_SHAPES.map(([M, N, K]): Step => {
    const shape: GemmShape = { M, N, K };
    const tile = gemmF32Variant(options, shape, gpu.adapter.isSoftware);
    const a = padRowsF32(rng.float32Array(M * K), M, K);
    const b = padRowsF32(rng.float32Array(N * K), N, K);
    const bias = rng.float32Array(N);
    return {
      program: gemmF32Kernel(options, tile),
      run: gemmF32RunData(options, shape, tile),
      upload() {
        gpu.write(buffers.a, a);
        gpu.write(buffers.b, b);
        gpu.write(buffers.bias, bias);
        poison(gpu, buffers.c);
      },
      got: () => readWords(gpu, buffers.c, M * N),
      want: () => fresh(gpu, () => bindGemmF32(gpu, options, shape, buffers), [[buffers.c, M * N]]),
    };
  });
  return { bindings: gemmF32Bindings(options, buffers), steps, owned: Object.values(buffers) };
}

function softmaxF32Slot(gpu: Gpu): Slot {
  const rng = new Random(141);
  const shapes = [
    { batch: 2, heads: 2, queries: 13, seq: 13, probStride: 16 },
    { batch: 1, heads: 3, queries: 40, seq: 40, probStride: 40 },
    { batch: 2, heads: 1, queries: 11, seq: 11, probStride: 12 },
  ];
  const max = (f: (s: (typeof shapes)[number]) => number) => Math.max(...shapes.map(f));
  const buffers = {
    scores: gpu.storage('scores', 4 * max((s) => s.batch * s.heads * s.queries * s.seq)),
    mask: gpu.storage('mask', 4 * max((s) => s.batch * s.seq)),
    probs: gpu.storage('probs', 4 * max((s) => s.batch * s.heads * s.queries * s.probStride)),
  };
  // One workgroup size for every length, as a model would fix it: any size serves any row.
  const variant = softmaxF32Variant(shapes[1]);
  const steps = shapes.map((shape): Step => {
    const rows = shape.batch * shape.heads * shape.queries;
    const scores = rng.float32Array(rows * shape.seq, 4);
    const mask = new Int32Array(shape.batch * shape.seq);
    for (let b = 0; b < shape.batch; b++)
      mask.fill(1, b * shape.seq, b * shape.seq + (b === 0 ? shape.seq : rng.int(1, shape.seq)));
    return {
      program: softmaxF32Kernel(variant),
      run: softmaxF32RunData(shape),
      upload() {
        gpu.write(buffers.scores, scores);
        gpu.write(buffers.mask, mask);
        poison(gpu, buffers.probs);
      },
      got: () => readWords(gpu, buffers.probs, rows * shape.probStride),
      want: () =>
        fresh(gpu, () => bindSoftmaxF32(gpu, shape, buffers, variant), [[buffers.probs, rows * shape.probStride]]),
    };
  });
  return { bindings: softmaxF32Bindings(shapes[1], buffers), steps, owned: Object.values(buffers) };
}

function layerNormF32Slot(gpu: Gpu): Slot {
  const rng = new Random(151);
  const H = 40;
  const options: LayerNormF32Options = { eps: 1e-12, residual: true };
  const rowsList = [7, 20, 3];
  const maxRows = Math.max(...rowsList);
  const buffers = {
    x: gpu.storage('x', maxRows * H * 4),
    residual: gpu.storage('residual', maxRows * H * 4),
    gamma: gpu.storage('gamma', rng.float32Array(H)),
    beta: gpu.storage('beta', rng.float32Array(H)),
    y: gpu.storage('y', maxRows * H * 4),
  };
  const variant = layerNormF32Variant(options, H);
  const steps = rowsList.map((rows): Step => {
    const x = rng.float32Array(rows * H, 3);
    const residual = rng.float32Array(rows * H, 3);
    return {
      program: layerNormF32Kernel(variant),
      run: layerNormF32RunData(options, { rows, H }),
      upload() {
        gpu.write(buffers.x, x);
        gpu.write(buffers.residual, residual);
        poison(gpu, buffers.y);
      },
      got: () => readWords(gpu, buffers.y, rows * H),
      want: () => fresh(gpu, () => bindLayerNormF32(gpu, options, { rows, H }, buffers), [[buffers.y, rows * H]]),
    };
  });
  return {
    bindings: layerNormF32Bindings(options, { rows: maxRows, H }, buffers),
    steps,
    owned: Object.values(buffers),
  };
}

function geluF32Slot(gpu: Gpu): Slot {
  const rng = new Random(161);
  const counts = [280, 800, 120];
  const max = Math.max(...counts);
  const buffers = { x: gpu.storage('x', max * 4), y: gpu.storage('y', max * 4) };
  const steps = counts.map((count): Step => {
    const x = rng.float32Array(count, 3);
    return {
      program: geluF32Kernel('gelu'),
      run: geluF32RunData(count, 'gelu'),
      upload() {
        gpu.write(buffers.x, x);
        poison(gpu, buffers.y);
      },
      got: () => readWords(gpu, buffers.y, count),
      want: () => fresh(gpu, () => bindGeluF32(gpu, count, buffers, 'gelu'), [[buffers.y, count]]),
    };
  });
  return { bindings: geluF32Bindings(max, buffers), steps, owned: Object.values(buffers) };
}

function embeddingF32Slot(gpu: Gpu): Slot {
  const rng = new Random(171);
  const [H, vocab, positions, types] = [40, 50, 32, 2];
  const tokensList = [7, 20, 3];
  const maxTokens = Math.max(...tokensList);
  const buffers = {
    inputIds: gpu.storage('inputIds', maxTokens * 4),
    positionIds: gpu.storage('positionIds', maxTokens * 4),
    tokenTypeIds: gpu.storage('tokenTypeIds', maxTokens * 4),
    word: gpu.storage('word', rng.float32Array(vocab * H)),
    position: gpu.storage('position', rng.float32Array(positions * H)),
    tokenType: gpu.storage('tokenType', rng.float32Array(types * H)),
    out: gpu.storage('out', maxTokens * H * 4),
  };
  const shapeOf = (tokens: number): EmbeddingF32Shape => ({ tokens, H, vocab, positions, types });
  const variant = embeddingF32Variant(shapeOf(1));
  const steps = tokensList.map((tokens): Step => {
    const ids = Int32Array.from({ length: tokens }, () => rng.int(0, vocab - 1));
    const pos = Int32Array.from({ length: tokens }, (_, i) => i);
    const typ = Int32Array.from({ length: tokens }, () => rng.int(0, types - 1));
    return {
      program: embeddingF32Kernel(variant),
      run: embeddingF32RunData(shapeOf(tokens)),
      upload() {
        gpu.write(buffers.inputIds, ids);
        gpu.write(buffers.positionIds, pos);
        gpu.write(buffers.tokenTypeIds, typ);
        poison(gpu, buffers.out);
      },
      got: () => readWords(gpu, buffers.out, tokens * H),
      want: () => fresh(gpu, () => bindEmbeddingF32(gpu, shapeOf(tokens), buffers), [[buffers.out, tokens * H]]),
    };
  });
  return { bindings: embeddingF32Bindings(shapeOf(maxTokens), buffers), steps, owned: Object.values(buffers) };
}

function splitHeadsF32Slot(gpu: Gpu): Slot {
  const rng = new Random(181);
  // Head dim 6: heads do not start on vec4 boundaries, so the padding is written too.
  const base = { heads: 2, headDim: 6, qScale: 0.4 };
  const shapes: SplitHeadsF32Shape[] = [
    { batch: 2, seq: 13, ...base },
    { batch: 1, seq: 40, ...base },
    { batch: 2, seq: 5, ...base },
  ];
  const max = (f: (s: SplitHeadsF32Shape) => number) => Math.max(...shapes.map(f));
  const buffers = {
    qkv: gpu.storage('qkv', 4 * max((s) => s.batch * s.seq * 3 * s.heads * s.headDim)),
    q: gpu.storage('q', 4 * max((s) => splitHeadsF32Sizes(s).qk)),
    k: gpu.storage('k', 4 * max((s) => splitHeadsF32Sizes(s).qk)),
    vT: gpu.storage('vT', 4 * max((s) => splitHeadsF32Sizes(s).v)),
  };
  const steps = shapes.map((s): Step => {
    const qkv = rng.float32Array(s.batch * s.seq * 3 * s.heads * s.headDim);
    const z = splitHeadsF32Sizes(s);
    const outputs: [GPUBuffer, number][] = [
      [buffers.q, z.qk],
      [buffers.k, z.qk],
      [buffers.vT, z.v],
    ];
    return {
      program: splitHeadsF32Kernel(),
      run: splitHeadsF32RunData(s),
      upload() {
        gpu.write(buffers.qkv, qkv);
        for (const [b] of outputs) poison(gpu, b);
      },
      got: async () => concat(await Promise.all(outputs.map(([b, n]) => readWords(gpu, b, n)))),
      want: () => fresh(gpu, () => bindSplitHeadsF32(gpu, s, buffers), outputs),
    };
  });
  return { bindings: splitHeadsF32Bindings(shapes[1], buffers), steps, owned: Object.values(buffers) };
}

function meanPoolF32Slot(gpu: Gpu): Slot {
  const rng = new Random(191);
  const H = 40;
  const shapes: MeanPoolF32Shape[] = [
    { batch: 2, seq: 13, H },
    { batch: 1, seq: 40, H },
    { batch: 3, seq: 5, H },
  ];
  const max = (f: (s: MeanPoolF32Shape) => number) => Math.max(...shapes.map(f));
  const buffers = {
    x: gpu.storage('x', 4 * max((s) => s.batch * s.seq * H)),
    mask: gpu.storage('mask', 4 * max((s) => s.batch * s.seq)),
    out: gpu.storage('out', 4 * max((s) => s.batch * H)),
  };
  const steps = shapes.map((s): Step => {
    const x = rng.float32Array(s.batch * s.seq * H);
    const mask = new Int32Array(s.batch * s.seq);
    for (let b = 0; b < s.batch; b++) mask.fill(1, b * s.seq, b * s.seq + rng.int(1, s.seq));
    return {
      program: meanPoolF32Kernel(),
      run: meanPoolF32RunData(s),
      upload() {
        gpu.write(buffers.x, x);
        gpu.write(buffers.mask, mask);
        poison(gpu, buffers.out);
      },
      got: () => readWords(gpu, buffers.out, s.batch * H),
      want: () => fresh(gpu, () => bindMeanPoolF32(gpu, s, buffers), [[buffers.out, s.batch * H]]),
    };
  });
  return { bindings: meanPoolF32Bindings({ batch: 1, seq: 40, H }, buffers), steps, owned: Object.values(buffers) };
}

const SLOTS: [string, (gpu: Gpu) => Slot | Promise<Slot>][] = [
  ['gemm-i8 i32 + bias', gemmI8Slot({ output: 'i32', perChannel: false, bias: true, aUnsigned: false })],
  ['gemm-i8 i8 per channel + bias', gemmI8Slot({ output: 'i8', perChannel: true, bias: true, aUnsigned: false })],
  ['gemm-i8 i8 per tensor, uint8 A', gemmI8Slot({ output: 'i8', perChannel: false, bias: false, aUnsigned: true })],
  [
    'gemm-i8 gelu-i8 per channel + bias',
    gemmI8Slot({ output: 'gelu-i8', perChannel: true, bias: true, aUnsigned: false }),
  ],
  ['gemm-i8 gelu-i8 per tensor', gemmI8Slot({ output: 'gelu-i8', perChannel: false, bias: false, aUnsigned: false })],
  ['gemm-i8 attention Q.K^T (batched layout)', attentionSlot('qk')],
  ['gemm-i8 attention P.V (batched layout)', attentionSlot('pv')],
  ['softmax-i8', softmaxI8Slot],
  ['layernorm-i8', layerNormI8Slot],
  ['residual-add i8 + i32', residualAddSlot],
  ['embedding-i8 with token types', embeddingI8Slot],
  ['transpose-heads-i8', transposeHeadsSlot],
  ['lookup-i8', lookupSlot],
  ['requantize per channel', requantizeSlot],
  ['gelu-i8', geluI8Slot],
  ['gemm-f32 + bias', gemmF32Slot],
  ['softmax-f32', softmaxF32Slot],
  ['layernorm-f32 + residual', layerNormF32Slot],
  ['gelu-f32', geluF32Slot],
  ['embedding-f32 with token types', embeddingF32Slot],
  ['split-heads-f32', splitHeadsF32Slot],
  ['mean-pool-f32', meanPoolF32Slot],
];

export const suite: CheckSuite = {
  name: 'Dispatch slots reused across shapes',
  cases: () => SLOTS.map(([name, make]) => ({ name, run: (gpu) => runSlot(gpu, name, make) })),
};
