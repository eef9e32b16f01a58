/**
 * GEMM throughput, the same code in Node and in a browser page: INT8 (each inner-product strategy,
 * and the subgroup-matrix kernel where the device's strategy has one) and f32 on the encoder's
 * projection shapes. Median of several runs after warm-up; GPU timestamps where the adapter has
 * them, wall time around submit-to-done otherwise. A kind the device cannot run is left out and
 * named in `skipped` with the reason.
 */
import type { Gpu } from '../src/gpu/gpu.js';
import { type BoundProgram, submitPrograms } from '../src/gpu/program.js';
import { bindGemmF32 } from '../src/kernels/gemm-f32.js';
import { bindGemmI8, type GemmI8Strategy, type GemmI8Variant, packRequant } from '../src/kernels/gemm-i8.js';
import { DEFAULT_TILE, type GemmTile } from '../src/kernels/gemm-shape.js';
import { gemmStrategyOf } from '../src/kernels/gemm-strategy.js';
import { packRows, padRowsF32, wordsPerRow } from '../src/quant/pack.js';
import { toDyadic } from '../src/reference/dyadic.js';
import { Random } from '../src/util/random.js';

export type GemmKind = `int8-${GemmI8Strategy}` | 'int8-matrix' | 'f32';

export interface GemmBenchOptions {
  shapes: [number, number, number][];
  kinds: GemmKind[];
  warmup: number;
  repeats: number;
  tile?: GemmTile;
  onProgress?: (message: string) => void;
}

export interface GemmBenchRow {
  M: number;
  N: number;
  K: number;
  kind: GemmKind;
  tile: string;
  timing: 'gpu-timestamps' | 'wall';
  runsMs: number[];
  medianMs: number;
  gops: number;
}

export const DEFAULT_SHAPES: [number, number, number][] = [
  [128, 768, 768],
  [128, 3072, 768],
  [128, 768, 3072],
];

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

async function bindKind(gpu: Gpu, kind: GemmKind, M: number, N: number, K: number, tile: GemmTile, rng: Random) {
  const owned: GPUBuffer[] = [];
  const own = (b: GPUBuffer) => {
    owned.push(b);
    return b;
  };
  let program: BoundProgram;
  if (kind === 'f32') {
    program = await bindGemmF32(
      gpu,
      { bias: true, tile },
      { M, N, K },
      {
        a: own(gpu.storage('a', padRowsF32(rng.float32Array(M * K), M, K))),
        b: own(gpu.storage('b', padRowsF32(rng.float32Array(N * K, 0.05), N, K))),
        bias: own(gpu.storage('bias', rng.float32Array(N))),
        c: own(gpu.storage('c', M * N * 4)),
      },
    );
  } else {
    const strategy = kind === 'int8-unpack' ? 'unpack' : 'dot4';
    const matrix = gemmStrategyOf(gpu).matrix;
    const variant: GemmI8Variant = kind === 'int8-matrix' && matrix ? { matrix } : tile;
    const requant = Array.from({ length: N }, () => toDyadic((0.5 + rng.next()) / 2 ** 12));
    program = await bindGemmI8(
      gpu,
      { strategy, output: 'i8', perChannel: true, bias: true, aUnsigned: false, tile: variant },
      { M, N, K },
      {
        a: own(gpu.storage('a', packRows(rng.int8Array(M * K), M, K))),
        b: own(gpu.storage('b', packRows(rng.int8Array(N * K), N, K))),
        bias: own(gpu.storage('bias', rng.int32Array(N, -(2 ** 16), 2 ** 16))),
        requant: own(gpu.storage('requant', packRequant(requant))),
        c: own(gpu.storage('c', M * wordsPerRow(N) * 4)),
      },
      2 ** 16,
    );
  }
  const release = () => {
    program.destroy();
    for (const b of owned) b.destroy();
  };
  return { program, release };
}

/** Milliseconds of one dispatch: GPU timestamps if available, else wall time to completion. */
async function timeOnce(gpu: Gpu, program: BoundProgram): Promise<{ ms: number; timing: GemmBenchRow['timing'] }> {
  const timer = gpu.createTimer(1);
  if (timer) {
    submitPrograms(gpu, [program], timer);
    const [ms] = await timer.read(1);
    timer.destroy();
    if (ms > 0) return { ms, timing: 'gpu-timestamps' };
  }
  const t0 = performance.now();
  submitPrograms(gpu, [program]);
  await gpu.onSubmittedWorkDone();
  return { ms: performance.now() - t0, timing: 'wall' };
}

/** Why the device cannot run a kind, or undefined when it can. */
export function unavailableKind(gpu: Gpu, kind: GemmKind): string | undefined {
  if (kind !== 'int8-matrix') return undefined;
  const s = gemmStrategyOf(gpu);
  return s.matrix ? undefined : s.reasons.filter((r) => r.startsWith('matrix')).join('; ');
}

function tileName(kind: GemmKind, gpu: Gpu, tile: GemmTile): string {
  const matrix = gemmStrategyOf(gpu).matrix;
  if (kind === 'int8-matrix' && matrix) {
    const c = matrix.config;
    return `matrix ${c.M}x${c.N}x${c.K} x ${matrix.tilesM}x${matrix.tilesN}, K ${c.K * matrix.kSteps}/${matrix.threads}`;
  }
  return `${tile.m}x${tile.n}x${tile.k4}/${tile.threadM}x${tile.threadN}`;
}

export async function runGemmBench(gpu: Gpu, o: GemmBenchOptions): Promise<GemmBenchRow[]> {
  const tile = o.tile ?? DEFAULT_TILE;
  const rows: GemmBenchRow[] = [];
  const rng = new Random(1234);
  const kinds = o.kinds.filter((kind) => {
    const why = unavailableKind(gpu, kind);
    if (why) o.onProgress?.(`${kind} skipped: ${why}`);
    return !why;
  });
  for (const [M, N, K] of o.shapes) {
    for (const kind of kinds) {
      o.onProgress?.(`${kind} ${M}x${N}x${K}`);
      const { program, release } = await bindKind(gpu, kind, M, N, K, tile, rng);
      for (let i = 0; i < o.warmup; i++) await timeOnce(gpu, program);
      const runs: { ms: number; timing: GemmBenchRow['timing'] }[] = [];
      for (let i = 0; i < o.repeats; i++) runs.push(await timeOnce(gpu, program));
      release();
      const runsMs = runs.map((r) => r.ms);
      const medianMs = median(runsMs);
      rows.push({
        M,
        N,
        K,
        kind,
        tile: tileName(kind, gpu, tile),
        timing: runs.every((r) => r.timing === 'gpu-timestamps') ? 'gpu-timestamps' : 'wall',
        runsMs,
        medianMs,
        gops: (2 * M * N * K) / (medianMs * 1e6),
      });
    }
  }
  return rows;
}
