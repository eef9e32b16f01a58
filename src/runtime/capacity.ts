/**
 * What both GPU interpreters (integer program, float graph) share about sizes: the capacity their
 * activation buffers are bound for, how it grows, and the lengths whose pipeline variants are
 * compiled at creation so that no forward waits for a compile.
 */
import type { Gpu } from '../gpu/gpu.js';
import type { ProgramInfo } from '../gpu/program.js';
import { TILE_WARMUP_LENGTHS } from '../kernels/gemm-shape.js';

export interface Capacity {
  batch: number;
  seq: number;
}

/** GPU objects created so far, to state (and test) what a forward at a new length costs. */
export interface CreationCounts {
  pipelines: number;
  bindGroups: number;
}

export function creationCounts(gpu: Gpu): CreationCounts {
  return { pipelines: gpu.pipelineCount, bindGroups: gpu.bindGroupCount };
}

/**
 * The capacity for a run of (batch, seq): the current one when it fits; else each dimension that
 * must grow at least doubles (sequence length capped at the model's positions), so a series of
 * ever larger inputs rebinds a logarithmic number of times.
 */
export function grownCapacity(
  current: Capacity | undefined,
  batch: number,
  seq: number,
  maxPositions: number,
): Capacity {
  if (!current) return { batch, seq };
  if (batch <= current.batch && seq <= current.seq) return current;
  return {
    batch: batch > current.batch ? Math.max(batch, 2 * current.batch) : current.batch,
    seq: seq > current.seq ? Math.max(seq, Math.min(maxPositions, 2 * current.seq)) : current.seq,
  };
}

/**
 * Sequence lengths that between them reach every GEMM tile and softmax bucket variant, ascending:
 * requested in this order, the variants of short texts (the common first input) compile first.
 */
export function warmupLengths(maxPositions: number): number[] {
  const lengths = new Set<number>(TILE_WARMUP_LENGTHS);
  for (let s = 1; s <= maxPositions; s *= 2) lengths.add(s);
  lengths.add(maxPositions);
  return [...lengths].filter((s) => s <= maxPositions).sort((a, b) => a - b);
}

/** Compiles (in parallel) the pipeline of every launch at every warm-up length, batch 1 by default. */
export async function compileVariants(
  gpu: Gpu,
  infos: ((batch: number, seq: number) => ProgramInfo)[],
  maxPositions: number,
  batch = 1,
): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (const seq of warmupLengths(maxPositions)) {
    for (const info of infos) {
      const p = info(batch, seq);
      pending.push(gpu.pipeline(p.key, p.code, p.name));
    }
  }
  await Promise.all(pending);
}
