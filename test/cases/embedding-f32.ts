/**
 * Embedding sum and mean pooling against their float64 references. Embedding: two f32 additions,
 * each rounding by eps relative to the partial sum: tolerance 2 eps * (|w| + |t| + |p|).
 * Mean pooling: a sequential f32 sum over up to seq tokens then one division:
 * (seq + 1) eps * sum |x| / count.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindEmbeddingF32 } from '../../src/kernels/embedding-f32.js';
import { bindMeanPoolF32 } from '../../src/kernels/mean-pool-f32.js';
import { embeddingF32Ref } from '../../src/reference/embedding-f32.js';
import { meanPoolF32Ref } from '../../src/reference/mean-pool-f32.js';
import { Random } from '../../src/util/random.js';
import { compareWithin, F32_EPS, readF32 } from './float-compare.js';
import type { CheckCase, CheckResult, CheckSuite } from './suite.js';

interface EmbeddingCase {
  tokens: number;
  H: number;
  stride: number;
  vocab: number;
  positions: number;
  types: number;
  seed: number;
}

async function runEmbedding(gpu: Gpu, c: EmbeddingCase): Promise<CheckResult> {
  const rng = new Random(c.seed);
  const word = rng.float32Array(c.vocab * c.H);
  const position = rng.float32Array(c.positions * c.H, 0.5);
  const tokenType = c.types ? rng.float32Array(c.types * c.H, 0.2) : undefined;
  const inputIds = rng.int32Array(c.tokens, 0, c.vocab - 1);
  const positionIds = rng.int32Array(c.tokens, 0, c.positions - 1);
  const tokenTypeIds = c.types ? rng.int32Array(c.tokens, 0, c.types - 1) : undefined;
  const buffers = {
    inputIds: gpu.storage('ids', inputIds),
    positionIds: gpu.storage('pos ids', positionIds),
    tokenTypeIds: tokenTypeIds ? gpu.storage('type ids', tokenTypeIds) : undefined,
    word: gpu.storage('word', word),
    position: gpu.storage('position', position),
    tokenType: tokenType ? gpu.storage('type', tokenType) : undefined,
    out: gpu.storage('out', c.tokens * c.stride * 4),
  };
  try {
    const shape = {
      tokens: c.tokens,
      H: c.H,
      stride: c.stride,
      vocab: c.vocab,
      positions: c.positions,
      types: c.types,
    };
    const program = await bindEmbeddingF32(gpu, shape, buffers);
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.out, c.tokens * c.stride);
    program.destroy();
    const want = embeddingF32Ref({
      inputIds,
      positionIds,
      tokenTypeIds,
      word,
      position,
      tokenType,
      tokens: c.tokens,
      H: c.H,
      stride: c.stride,
    });
    return compareWithin(`embedding ${c.tokens}x${c.H}`, got, want, (i) => {
      const t = Math.floor(i / c.stride);
      const col = i % c.stride;
      if (col >= c.H) return 0;
      const mag =
        Math.abs(word[inputIds[t] * c.H + col]) +
        Math.abs(position[positionIds[t] * c.H + col]) +
        (tokenType ? Math.abs(tokenType[tokenTypeIds![t] * c.H + col]) : 0);
      return 2 * F32_EPS * mag;
    });
  } finally {
    for (const b of Object.values(buffers)) b?.destroy();
  }
}

async function runMeanPool(
  gpu: Gpu,
  batch: number,
  seq: number,
  H: number,
  stride: number,
  seed: number,
): Promise<CheckResult> {
  const rng = new Random(seed);
  const x = rng.float32Array(batch * seq * stride);
  const mask = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) mask.fill(1, b * seq, b * seq + Math.max(1, seq - 3 * b));
  const buffers = { x: gpu.storage('x', x), mask: gpu.storage('mask', mask), out: gpu.storage('out', batch * H * 4) };
  try {
    const program = await bindMeanPoolF32(gpu, { batch, seq, H, stride }, buffers);
    submitPrograms(gpu, [program]);
    const got = await readF32(gpu, buffers.out, batch * H);
    program.destroy();
    const want = meanPoolF32Ref(x, mask, batch, seq, H, stride);
    const absMean = meanPoolF32Ref(x.map(Math.abs), mask, batch, seq, H, stride);
    return compareWithin(`mean pool ${batch}x${seq}x${H}`, got, want, (i) => (seq + 1) * F32_EPS * absMean[i]);
  } finally {
    for (const b of Object.values(buffers)) b.destroy();
  }
}

const EMBEDDINGS: EmbeddingCase[] = [
  { tokens: 1, H: 1, stride: 4, vocab: 1, positions: 1, types: 0, seed: 1 },
  { tokens: 37, H: 200, stride: 200, vocab: 50, positions: 64, types: 2, seed: 2 },
  { tokens: 70, H: 130, stride: 132, vocab: 300, positions: 514, types: 1, seed: 3 },
  { tokens: 9, H: 64, stride: 64, vocab: 99, positions: 16, types: 0, seed: 4 },
];

export const suite: CheckSuite = {
  name: 'f32 embeddings and pooling',
  cases: (): CheckCase[] => [
    ...EMBEDDINGS.map((c) => ({
      name: `embedding ${c.tokens} tokens x ${c.H}, ${c.types} token types`,
      run: (gpu: Gpu) => runEmbedding(gpu, c),
    })),
    { name: 'mean pool 3x11x37', run: (gpu) => runMeanPool(gpu, 3, 11, 37, 40, 5) },
    { name: 'mean pool 2x130x200', run: (gpu) => runMeanPool(gpu, 2, 130, 200, 200, 6) },
  ],
};
