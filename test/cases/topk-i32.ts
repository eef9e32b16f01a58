/**
 * Next-token choice checked bit for bit against the CPU reference: the output words [argmax,
 * ids[k], values[k]] per row, on GPT-2-sized vocabularies, heavy ties, sorted (worst-case) rows,
 * strided rows with garbage past the vocabulary, and the per-channel rescale planned by
 * planLogitRescale with accumulators at its proven bound.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { bindProgram, submitPrograms } from '../../src/gpu/program.js';
import { packRequant } from '../../src/kernels/gemm-i8.js';
import {
  bindTopK,
  logitAccumulatorBound,
  packTopK,
  planLogitRescale,
  type TopKVariant,
  topKOutputWords,
  topKProgram,
  topKRef,
} from '../../src/kernels/topk-i32.js';
import type { Dyadic } from '../../src/reference/dyadic.js';
import { Random } from '../../src/util/random.js';
import { type CheckResult, type CheckSuite, compareExact } from './suite.js';

type Pattern = 'normal' | 'ties' | 'equal' | 'ascending' | 'descending' | 'extremes' | 'accumulators';

export interface TopKCase {
  name: string;
  batch: number;
  vocab: number;
  k: number;
  pattern: Pattern;
  rescale?: boolean;
  logitRow?: number;
  logitOffset?: number;
  variant?: TopKVariant;
  seed: number;
}

export function topKCases(): TopKCase[] {
  let seed = 9300;
  const c = (x: Omit<TopKCase, 'seed' | 'name'>): TopKCase => ({
    ...x,
    name: `${x.batch}x${x.vocab} k ${x.k} ${x.pattern}${x.rescale ? ' rescaled' : ''}${x.logitRow ? ` row ${x.logitRow}` : ''}${x.logitOffset ? ` offset ${x.logitOffset}` : ''}${x.variant ? ` wg ${x.variant.workgroupSize} cap ${x.variant.kCap}` : ''}`,
    seed: seed++,
  });
  return [
    c({ batch: 1, vocab: 50257, k: 64, pattern: 'normal' }),
    c({ batch: 8, vocab: 50257, k: 1, pattern: 'normal' }),
    c({ batch: 3, vocab: 50257, k: 40, pattern: 'accumulators', rescale: true }),
    c({ batch: 2, vocab: 1000, k: 64, pattern: 'ties' }),
    c({ batch: 2, vocab: 300, k: 64, pattern: 'equal' }),
    c({ batch: 2, vocab: 5000, k: 50, pattern: 'ascending' }),
    c({ batch: 2, vocab: 5000, k: 50, pattern: 'descending' }),
    c({ batch: 4, vocab: 777, k: 9, pattern: 'extremes' }),
    c({ batch: 3, vocab: 1000, k: 17, pattern: 'ties', logitRow: 1030, logitOffset: 7 }),
    c({ batch: 2, vocab: 10, k: 10, pattern: 'ties' }),
    c({ batch: 2, vocab: 333, k: 5, pattern: 'ties', rescale: true }),
    c({ batch: 2, vocab: 600, k: 5, pattern: 'ties', variant: { workgroupSize: 256, kCap: 64 } }),
    c({ batch: 2, vocab: 100, k: 7, pattern: 'normal', variant: { workgroupSize: 1, kCap: 8 } }),
  ];
}

function draw(c: TopKCase, rng: Random): { logits: Int32Array; requant?: Dyadic[] } {
  const row = c.logitRow ?? c.vocab;
  const off = c.logitOffset ?? 0;
  // Past the vocabulary and before the offset: larger than any logit, so a read of it would show.
  const logits = new Int32Array(off + c.batch * row).fill(2 ** 31 - 1);
  let requant: Dyadic[] | undefined;
  const accMax = logitAccumulatorBound(768);
  if (c.rescale) {
    const weightScales = Array.from({ length: c.vocab }, () => 0.002 * (0.25 + rng.next() * 4));
    requant = planLogitRescale({ inputScale: 0.05, weightScales, accMaxAbs: accMax }).requant;
  }
  for (let b = 0; b < c.batch; b++) {
    for (let j = 0; j < c.vocab; j++) {
      const i = off + b * row + j;
      logits[i] =
        c.pattern === 'normal'
          ? Math.round(rng.normal(1e6))
          : c.pattern === 'ties'
            ? rng.int(-3, 3)
            : c.pattern === 'equal'
              ? -(2 ** 31)
              : c.pattern === 'ascending'
                ? j - 100
                : c.pattern === 'descending'
                  ? 100 - j
                  : c.pattern === 'extremes'
                    ? [-(2 ** 31), 2 ** 31 - 1, 0, -1][rng.int(0, 3)]
                    : rng.next() < 0.01
                      ? rng.next() < 0.5
                        ? -accMax
                        : accMax
                      : rng.int(-accMax, accMax);
    }
  }
  return { logits, requant };
}

export async function runTopKCase(gpu: Gpu, c: TopKCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const { logits, requant } = draw(c, rng);
  const shape = { batch: c.batch, vocab: c.vocab, k: c.k, logitRow: c.logitRow, logitOffset: c.logitOffset };
  const off = c.logitOffset ?? 0;
  const want = packTopK(
    topKRef({ logits: logits.subarray(off), batch: c.batch, vocab: c.vocab, k: c.k, logitRow: c.logitRow, requant }),
    c.batch,
    c.k,
  );
  const buffers = {
    logits: gpu.storage('logits', logits),
    requant: requant ? gpu.storage('requant', packRequant(requant)) : undefined,
    out: gpu.storage('out', topKOutputWords(c) * 4),
  };
  gpu.write(buffers.out, new Uint32Array(topKOutputWords(c)).fill(0xa5a5a5a5));
  try {
    const options = { rescale: !!c.rescale };
    const program = c.variant
      ? await bindProgram(gpu, topKProgram(options, shape, c.variant), [
          buffers.logits,
          ...(buffers.requant ? [buffers.requant] : []),
          buffers.out,
        ])
      : await bindTopK(gpu, options, shape, buffers);
    submitPrograms(gpu, [program]);
    const got = new Uint32Array(await gpu.read(buffers.out));
    program.destroy();
    const per = 1 + 2 * c.k;
    return compareExact(c.name, got, want, (i) => {
      const w = i % per;
      return `row ${Math.floor(i / per)} ${w === 0 ? 'argmax' : w <= c.k ? `id #${w - 1}` : `value #${w - 1 - c.k}`}`;
    });
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

export const suite: CheckSuite = {
  name: 'next-token choice (argmax and top-k)',
  cases: () => topKCases().map((c) => ({ name: c.name, run: (gpu: Gpu) => runTopKCase(gpu, c) })),
};
