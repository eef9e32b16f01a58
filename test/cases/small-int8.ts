/** Checks of the small int8 layout kernels the integer encoder needs: per-head transpose and table lookup. */
import type { Gpu } from '../../src/gpu/gpu.js';
import { submitPrograms } from '../../src/gpu/program.js';
import { bindLookupI8, lookupTableWords } from '../../src/kernels/lookup-i8.js';
import {
  bindTransposeHeadsI8,
  type TransposeHeadsShape,
  transposeHeadsOutputWords,
} from '../../src/kernels/transpose-heads-i8.js';
import { activationTable } from '../../src/plan/plan-graph.js';
import { packRows, unpackRows, wordsPerRow } from '../../src/quant/pack.js';
import { lookupI8Ref } from '../../src/reference/lookup-i8.js';
import { transposeHeadsI8Ref } from '../../src/reference/transpose-heads-i8.js';
import { Random } from '../../src/util/random.js';
import { type CheckCase, type CheckResult, type CheckSuite, compareExact } from './suite.js';

async function runTranspose(gpu: Gpu, s: TransposeHeadsShape, seed: number): Promise<CheckResult> {
  const rng = new Random(seed);
  const cols = s.rowWords * 4;
  const x = rng.int8Array(s.batch * s.seq * cols);
  const xb = gpu.storage('x', packRows(x, s.batch * s.seq, cols));
  const yb = gpu.storage('y', transposeHeadsOutputWords(s) * 4);
  try {
    const p = await bindTransposeHeadsI8(gpu, s, { x: xb, y: yb });
    submitPrograms(gpu, [p]);
    const got = unpackRows(new Uint32Array(await gpu.read(yb)), s.batch * s.heads * s.headDim, s.seq);
    const want = transposeHeadsI8Ref(x, s.batch, s.seq, cols, s.heads, s.headDim, s.colOffset);
    p.destroy();
    return compareExact(`transpose heads ${JSON.stringify(s)}`, got, want);
  } finally {
    xb.destroy();
    yb.destroy();
  }
}

async function runLookup(gpu: Gpu, rows: number, cols: number, table: Int8Array, seed: number): Promise<CheckResult> {
  const rng = new Random(seed);
  const x = rng.int8Array(rows * cols);
  x[0] = -128;
  x[x.length - 1] = 127;
  const xb = gpu.storage('x', packRows(x, rows, cols));
  const tb = gpu.storage('table', lookupTableWords(table));
  const yb = gpu.storage('y', rows * wordsPerRow(cols) * 4);
  try {
    const p = await bindLookupI8(gpu, rows, cols, { x: xb, table: tb, y: yb });
    submitPrograms(gpu, [p]);
    const words = new Uint32Array(await gpu.read(yb));
    const got = unpackRows(words, rows, cols);
    // Padding lanes must be zero: repack the expected values and compare whole words too.
    const want = lookupI8Ref(x, table);
    const exact = compareExact(`lookup ${rows}x${cols}`, got, want);
    const packed = compareExact(`lookup ${rows}x${cols} words`, words, packRows(want, rows, cols));
    p.destroy();
    return exact.mismatches ? exact : { ...exact, mismatches: packed.mismatches, firstMismatch: packed.firstMismatch };
  } finally {
    xb.destroy();
    tb.destroy();
    yb.destroy();
  }
}

const TRANSPOSES: TransposeHeadsShape[] = [
  { batch: 1, seq: 1, heads: 1, headDim: 4, rowWords: 1, colOffset: 0 },
  { batch: 2, seq: 13, heads: 3, headDim: 40, rowWords: 90, colOffset: 240 },
  { batch: 3, seq: 70, heads: 2, headDim: 64, rowWords: 32, colOffset: 0 },
  { batch: 1, seq: 5, heads: 5, headDim: 8, rowWords: 30, colOffset: 80 },
];

export const suite: CheckSuite = {
  name: 'int8 layout kernels',
  cases: (): CheckCase[] => [
    ...TRANSPOSES.map((s, i) => ({
      name: `transpose heads ${s.batch}x${s.seq}, ${s.heads} heads of ${s.headDim}, offset ${s.colOffset}`,
      run: (gpu: Gpu) => runTranspose(gpu, s, 10 + i),
    })),
    { name: 'lookup tanh 7x130', run: (gpu) => runLookup(gpu, 7, 130, activationTable('tanh', 0.05, 1 / 127), 20) },
    { name: 'lookup relu 3x5', run: (gpu) => runLookup(gpu, 3, 5, activationTable('relu', 0.1, 0.1), 21) },
    {
      name: 'lookup reversing table 1x1',
      run: (gpu) =>
        runLookup(
          gpu,
          1,
          1,
          Int8Array.from({ length: 256 }, (_, i) => 127 - i),
          22,
        ),
    },
  ],
};
