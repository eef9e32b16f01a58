/**
 * The float reference as text generation sees it (the DecoderSession of
 * src/generate/decoder-session.ts), for INT8 vs FP32 side by side. It has no KV cache: each step
 * runs the whole (left-padded) sequences again and reads the last position's logits, so its
 * per-token cost grows with the length, unlike the integer decoder's. Candidates are ordered as the
 * integer ones (logit descending, ties to the lowest id).
 */
import { decoderPromptBatch } from '../core/token-batch.js';
import type { Gpu } from '../gpu/gpu.js';
import type { GpuMemory } from '../gpu/profile.js';
import type { FloatGraphGpu } from './float-graph.js';

type Candidates = { ids: Int32Array; logits: Float32Array; restBelow: number };

export class FloatDecoderGpu {
  private sequences: number[][] = [];
  private fed = 0;

  constructor(
    readonly runtime: FloatGraphGpu,
    readonly batch: number,
    readonly capacity: number,
    readonly vocab: number,
    private readonly padId = 0,
  ) {}

  get gpu(): Gpu {
    return this.runtime.gpu;
  }

  get length(): number {
    return this.fed;
  }

  async prefill(prompts: readonly (readonly number[])[], k: number): Promise<Candidates[]> {
    if (this.fed !== 0) throw new Error(`prefill: ${this.fed} tokens per sequence already fed; reset() first`);
    if (prompts.length !== this.batch)
      throw new RangeError(`prefill: ${prompts.length} prompts for a decoder of batch ${this.batch}`);
    this.sequences = prompts.map((p) => [...p]);
    return this.run(k);
  }

  async step(tokens: readonly number[], k: number): Promise<Candidates[]> {
    if (this.fed === 0) throw new Error('step: prefill a prompt first');
    if (tokens.length !== this.batch)
      throw new RangeError(`step: ${tokens.length} tokens for a decoder of batch ${this.batch}`);
    if (this.fed >= this.capacity) throw new RangeError(`step: the decoder is full (${this.capacity} tokens)`);
    tokens.forEach((t, b) => this.sequences[b].push(t));
    return this.run(k);
  }

  reset(): void {
    this.sequences = [];
    this.fed = 0;
  }

  memory(): GpuMemory {
    return this.runtime.memory();
  }

  dispose(): void {
    this.runtime.dispose();
  }

  private async run(k: number): Promise<Candidates[]> {
    const batch = decoderPromptBatch(this.sequences, this.padId);
    if (batch.seqLen > this.capacity)
      throw new RangeError(`decoder: ${batch.seqLen} tokens exceed the capacity of ${this.capacity}`);
    const logits = (await this.runtime.forward(batch)).logits!;
    this.fed = batch.seqLen;
    const V = this.vocab;
    const S = batch.seqLen;
    return Array.from({ length: this.batch }, (_, b) => {
      const row = logits.subarray((b * S + S - 1) * V, (b * S + S) * V);
      const order = Array.from({ length: V }, (_, c) => c).sort((x, y) => row[y] - row[x] || x - y);
      const n = Math.min(k, V);
      const ids = Int32Array.from(order.slice(0, n));
      const values = Float32Array.from(ids, (c) => row[c]);
      return { ids, logits: values, restBelow: n === V ? -Infinity : values[n - 1] };
    });
  }
}
