/**
 * The generation benchmark's pure logic (tested in test/bench-generate.test.ts): which cells run,
 * prompts of an exact token count that survive a text round trip, prefill and per-token times
 * from the timestamps of streamed tokens, and the attention / rest split of a decode step's kernels.
 */

export type GenRuntimeId = 'int8' | 'fp32' | 'tjs-webgpu' | 'tjs-wasm';

export const GEN_RUNTIMES: Record<GenRuntimeId, string> = {
  int8: 'this project, INT8 (Int8LanguageModel: int8 KV cache, WebGPU)',
  fp32: 'this project, FP32 (Fp32LanguageModel: no KV cache, reruns the sequence per token, WebGPU)',
  'tjs-webgpu': 'transformers.js, device webgpu (ONNX twin, fp32, KV cache)',
  'tjs-wasm': 'transformers.js, device wasm (ONNX twin, fp32, KV cache)',
};

export const PEER_RUNTIMES: readonly GenRuntimeId[] = ['tjs-webgpu', 'tjs-wasm'];

export interface GenModel {
  name: string;
  positions: number;
  /** Whether peers can run it (it has an ONNX twin). */
  peers: boolean;
  /** Runs only the (prompt, batch) cells that no earlier model of the list holds. */
  fallback?: boolean;
}

export interface GenCell {
  model: string;
  promptLen: number;
  batch: number;
  newTokens: number;
  runtimes: GenRuntimeId[];
}

export interface UnfitCell {
  model: string;
  promptLen: number;
  batch: number;
  reason: string;
}

/**
 * Every (model, prompt length, batch) whose prompt and new tokens fit the model's positions (the last
 * new token is chosen but never fed, so prompt + newTokens - 1 positions), each with the runtimes
 * that can run it: peers only where the model has an ONNX twin. A fallback model takes only what
 * no model before it holds.
 */
export function planCells(
  models: readonly GenModel[],
  options: {
    prompts: readonly number[];
    batches: readonly number[];
    newTokens: number;
    runtimes: readonly GenRuntimeId[];
  },
): { cells: GenCell[]; unfit: UnfitCell[] } {
  const { prompts, batches, newTokens, runtimes } = options;
  for (const [what, list] of [
    ['prompt length', prompts],
    ['batch', batches],
  ] as const)
    for (const v of list)
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`planCells: ${what} ${v} is not a positive integer`);
  if (!Number.isInteger(newTokens) || newTokens < 1)
    throw new RangeError(`planCells: newTokens ${newTokens} is not a positive integer`);
  const cells: GenCell[] = [];
  const unfit: UnfitCell[] = [];
  for (const m of models)
    for (const promptLen of prompts)
      for (const batch of batches) {
        const need = promptLen + newTokens - 1;
        if (m.fallback && cells.some((c) => c.promptLen === promptLen && c.batch === batch)) continue;
        if (need > m.positions) {
          unfit.push({
            model: m.name,
            promptLen,
            batch,
            reason: `prompt ${promptLen} + ${newTokens} new tokens need ${need} positions; ${m.name} has ${m.positions}`,
          });
          continue;
        }
        const mine = runtimes.filter((r) => m.peers || !PEER_RUNTIMES.includes(r));
        if (mine.length) cells.push({ model: m.name, promptLen, batch, newTokens, runtimes: mine });
      }
  return { cells, unfit };
}

/**
 * `batch` prompts of exactly `length` tokens cut from consecutive windows of `stream` (token ids
 * of running text), each kept only if its decoded text encodes back to the same ids, so that a
 * runtime given text (ours) and one given ids (transformers.js) see the same prompt.
 */
export function exactPrompts(
  stream: readonly number[],
  length: number,
  batch: number,
  codec: { encode(text: string): number[]; decode(ids: number[]): string },
): { ids: number[][]; texts: string[] } {
  const ids: number[][] = [];
  const texts: string[] = [];
  for (let at = 0; ids.length < batch && at + length <= stream.length; ) {
    const window = stream.slice(at, at + length);
    const text = codec.decode(window);
    const back = codec.encode(text);
    if (back.length === length && back.every((t, i) => t === window[i])) {
      ids.push(window);
      texts.push(text);
      at += length;
    } else at++;
  }
  if (ids.length < batch)
    throw new RangeError(
      `exactPrompts: ${stream.length} tokens give only ${ids.length} of ${batch} prompts of ${length} tokens that round-trip`,
    );
  return { ids, texts };
}

/** One streamed token: its sequence and when it arrived (ms after the generate call). */
export interface TokenTime {
  sequence: number;
  ms: number;
}

/**
 * Prefill (time to the first token) and the interval of each later step, from the arrival times of
 * streamed tokens. A step delivers one token per sequence; its time is its first token's arrival.
 */
export function stepTimings(
  events: readonly TokenTime[],
  batch: number,
  newTokens: number,
): { prefillMs: number; stepMs: number[] } {
  const counts = new Array<number>(batch).fill(0);
  const stepAt = new Array<number>(newTokens).fill(Number.POSITIVE_INFINITY);
  for (const e of events) {
    if (!Number.isInteger(e.sequence) || e.sequence < 0 || e.sequence >= batch)
      throw new RangeError(`stepTimings: a token of sequence ${e.sequence} in a batch of ${batch}`);
    const step = counts[e.sequence]++;
    if (step >= newTokens)
      throw new RangeError(`stepTimings: sequence ${e.sequence} streamed more than ${newTokens} tokens`);
    stepAt[step] = Math.min(stepAt[step], e.ms);
  }
  counts.forEach((c, s) => {
    if (c !== newTokens) throw new RangeError(`stepTimings: sequence ${s} streamed ${c} tokens, expected ${newTokens}`);
  });
  return { prefillMs: stepAt[0], stepMs: stepAt.slice(1).map((t, i) => t - stepAt[i]) };
}

/**
 * Attention's launches in a decode step: appending K and V, Q.K^T and P.V against the cache (the
 * per-head batched GEMMs, named "... x<heads>") and the causal softmax. Their work grows with the
 * cache length; everything else (embedding, projections, FFN, LayerNorm, LM head, top-k) sees one
 * token per sequence whatever the length.
 */
export function isAttentionKernel(name: string): boolean {
  return /^(kv-append|softmax)/.test(name) || /\sx\d+$/.test(name);
}

export function kernelSplit(kernels: readonly { name: string; ms: number }[]): {
  attentionMs: number;
  otherMs: number;
} {
  let attentionMs = 0;
  let otherMs = 0;
  for (const k of kernels) {
    if (isAttentionKernel(k.name)) attentionMs += k.ms;
    else otherMs += k.ms;
  }
  return { attentionMs, otherMs };
}

/** Least-squares line y = intercept + slope x. */
export function fitLine(xs: readonly number[], ys: readonly number[]): { intercept: number; slope: number } {
  if (xs.length !== ys.length || xs.length < 2) throw new RangeError('fitLine: needs two or more (x, y) pairs');
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  if (sxx === 0) throw new RangeError('fitLine: all x equal');
  const slope = sxy / sxx;
  return { intercept: my - slope * mx, slope };
}

/** Cache lengths to sweep: powers of two from `from` to `to`. */
export function powersOfTwo(from: number, to: number): number[] {
  const out: number[] = [];
  for (let l = from; l <= to; l *= 2) out.push(l);
  return out;
}
