/**
 * Per-token latency against the cache length, in the benchmark page. INT8: one prefill, then steps
 * up to the longest length; at each length the step that reached it is replayed with GPU timestamps
 * (to split its kernels into attention and the rest), then a few steps are timed (wall clock,
 * read-back included).
 * FP32 has no cache: its token at cache length L is one forward over L + 1 tokens (what its step
 * runs), timed as such.
 */
import type { Gpu } from '../src/gpu/gpu.js';
import { type BoundProgram, encodePrograms, type KernelTime, readKernelTimes } from '../src/gpu/program.js';
import type { IntProgram } from '../src/plan/int-program.js';
import type { FloatDecoderGpu } from '../src/runtime/float-decoder.js';
import { IntDecoderGpu } from '../src/runtime/int-decoder.js';
import { median } from './compare-stats.js';
import { kernelSplit } from './generate-plan.js';

export interface SweepPoint {
  /** Tokens in the cache (INT8: the profiled step attends to `length` keys, the timed ones to length + 1, ...). */
  length: number;
  /** Wall time of each timed step (INT8: the steps after the cache holds `length`; FP32: repeated forwards of length + 1 tokens). */
  stepMs: number[];
  medianMs: number;
  /** INT8: GPU time of the step that filled the cache to `length`, per kernel group (median over replays), when timestamps exist. */
  attentionMs?: number;
  otherMs?: number;
  kernels?: KernelTime[];
}

export interface SweepResult {
  runtime: 'int8' | 'fp32';
  batch: number;
  promptLen: number;
  points: SweepPoint[];
  error?: string;
}

/**
 * The launches of the step just run, replayed with timestamps. A replay repeats that step exactly
 * (same uniforms, same token, its K and V rewritten into the same cache slot), so it leaves the
 * cache as it was. IntProgramGpu.decode has no profile option, hence the read of its launches.
 */
async function replayProfiled(gpu: Gpu, decoder: IntDecoderGpu): Promise<KernelTime[] | undefined> {
  const internals = decoder.runtime as unknown as {
    launches?: { dispatch: BoundProgram }[];
    topkLaunch?: { dispatch: BoundProgram };
  };
  if (!internals.launches?.length || !internals.topkLaunch) return undefined;
  const programs = [...internals.launches.map((l) => l.dispatch), internals.topkLaunch.dispatch];
  const timer = gpu.createTimer(programs.length);
  if (!timer) return undefined;
  try {
    const encoder = gpu.device.createCommandEncoder({ label: 'bench.replay' });
    encodePrograms(encoder, programs, 'bench.replay', timer);
    gpu.device.queue.submit([encoder.finish()]);
    return await readKernelTimes(timer, programs);
  } finally {
    timer.destroy();
  }
}

export async function sweepInt8(
  gpu: Gpu,
  program: IntProgram,
  options: { batch: number; prompt: number[]; lengths: number[]; steps: number; replays: number; padId: number },
  say: (m: string) => void,
): Promise<SweepResult> {
  const { batch, prompt, lengths, steps, replays } = options;
  // A replay repeats the last step: the first length must be reached by a step, not the prefill.
  if (!(prompt.length < Math.min(...lengths)))
    throw new RangeError(`sweepInt8: the prompt (${prompt.length} tokens) must be shorter than the first length`);
  const last = Math.max(...lengths);
  const capacity = last + steps;
  const result: SweepResult = { runtime: 'int8', batch, promptLen: prompt.length, points: [] };
  const decoder = await IntDecoderGpu.create(gpu, program, { batch, capacity }, { padId: options.padId });
  try {
    // A first pass to the first length compiles and warms everything the timed one uses.
    for (const warm of [true, false]) {
      decoder.reset();
      let next = (
        await decoder.prefill(
          Array.from({ length: batch }, () => prompt),
          1,
        )
      ).map((c) => c.ids[0]);
      const targets = warm ? [lengths[0]] : lengths;
      for (const length of targets) {
        while (decoder.length < length) next = (await decoder.step(next, 1)).map((c) => c.ids[0]);
        if (warm) {
          for (let i = 0; i < steps; i++) next = (await decoder.step(next, 1)).map((c) => c.ids[0]);
          await replayProfiled(gpu, decoder);
          continue;
        }
        const point: SweepPoint = { length, stepMs: [], medianMs: 0 };
        // The step that filled the cache to `length`, replayed before the timed steps so that
        // timestamp passes never sit between them.
        const profiles: KernelTime[][] = [];
        for (let r = 0; r < replays; r++) {
          const k = await replayProfiled(gpu, decoder);
          if (k) profiles.push(k);
        }
        for (let i = 0; i < steps; i++) {
          const t0 = performance.now();
          next = (await decoder.step(next, 1)).map((c) => c.ids[0]);
          point.stepMs.push(performance.now() - t0);
        }
        point.medianMs = median(point.stepMs);
        if (profiles.length) {
          const splits = profiles.map(kernelSplit);
          point.attentionMs = median(splits.map((s) => s.attentionMs));
          point.otherMs = median(splits.map((s) => s.otherMs));
          // Each kernel's median over the replays, for the JSON.
          point.kernels = profiles[0].map((k, i) => ({ name: k.name, ms: median(profiles.map((p) => p[i].ms)) }));
        }
        say(
          `int8 sweep batch ${batch} length ${length}: ${point.medianMs.toFixed(1)} ms/token` +
            (point.attentionMs !== undefined ? ` (attention ${point.attentionMs.toFixed(2)} ms GPU)` : ''),
        );
        result.points.push(point);
      }
    }
  } finally {
    decoder.dispose();
  }
  return result;
}

export async function sweepFp32(
  decoder: FloatDecoderGpu,
  options: { batch: number; stream: number[]; lengths: number[]; runs: number },
  say: (m: string) => void,
): Promise<SweepResult> {
  const { batch, stream, lengths, runs } = options;
  const result: SweepResult = { runtime: 'fp32', batch, promptLen: 0, points: [] };
  for (const length of lengths) {
    const prompts = Array.from({ length: batch }, () => stream.slice(0, length + 1));
    const point: SweepPoint = { length, stepMs: [], medianMs: 0 };
    // The first forward of a length may grow the buffers: untimed.
    for (let i = 0; i <= runs; i++) {
      decoder.reset();
      const t0 = performance.now();
      await decoder.prefill(prompts, 1);
      if (i > 0) point.stepMs.push(performance.now() - t0);
    }
    decoder.reset();
    point.medianMs = median(point.stepMs);
    say(`fp32 sweep batch ${batch} length ${length}: ${point.medianMs.toFixed(1)} ms/token`);
    result.points.push(point);
  }
  return result;
}
