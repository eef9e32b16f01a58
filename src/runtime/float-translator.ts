/**
 * The float32 Marian model on the GPU as translation sees it (the TranslatorSession of
 * src/generate/translator-session.ts): the FP32 side of INT8-vs-FP32 comparisons. Like
 * FloatDecoderGpu it keeps no cache: each start() and step() runs FloatGraphGpu over the whole
 * target prefixes (held on the host, src/cpu/float-translator.ts) and reads the last position's
 * logits.
 *
 * The encoder runs again at every step too. FloatGraphGpu has one forward for the whole
 * encoder-decoder graph, over a source batch of the target batch's shape (sources and targets
 * padded to one length), and no way to keep the encoder output between forwards; splitting it
 * would be a change to the float graph runtime, not worth it for a reference. So each sequence's
 * source is repeated for its beams, and a step costs a whole forward of sources x beams rows of
 * max(source, target) positions. Measured with GPU timestamps on multi30k-marian-en-de
 * (SwiftShader): the encoder is 23% of a step's kernel time at batch 1 x 12 positions and 31% at
 * 4 x 23; the LM head, run over every position though only each sequence's last row is read, 24%
 * and 21%. bench/float-translator.ts times whole steps.
 */

import { marianBatches } from '../core/token-batch.js';
import type { MarianConfig, MarianModel } from '../core/types.js';
import { checkCapacity, FloatTranslatorBase, lastRows } from '../cpu/float-translator.js';
import type { Gpu } from '../gpu/gpu.js';
import type { GpuMemory } from '../gpu/profile.js';
import type { ModelGraph } from '../graph/types.js';
import { FloatGraphGpu } from './float-graph.js';

export class FloatTranslatorGpu extends FloatTranslatorBase {
  /**
   * `runtime` is FloatGraphGpu over marianGraph(config), created with maxPositions =
   * config.maxPositions; the session owns it from now on (dispose() releases it).
   */
  constructor(
    readonly runtime: FloatGraphGpu,
    config: MarianConfig,
    capacity: number,
  ) {
    super(config, capacity);
  }

  /**
   * A session over a new FloatGraphGpu. `sequences` (sources x beams) and `capacity` size its
   * activation buffers up front; a larger run grows them once.
   */
  static async create(
    gpu: Gpu,
    model: MarianModel,
    graph: ModelGraph,
    options: { capacity: number; sequences?: number; sourceLength?: number },
  ): Promise<FloatTranslatorGpu> {
    const { config } = model;
    // Before the weights go up: creating the runtime is the expensive part.
    checkCapacity(config, options.capacity);
    const seq = Math.min(config.maxPositions, Math.max(options.capacity, options.sourceLength ?? 1));
    const runtime = await FloatGraphGpu.create(gpu, graph, model.params, {
      capacity: { batch: options.sequences ?? 1, seq },
      maxPositions: config.maxPositions,
    });
    return new FloatTranslatorGpu(runtime, config, options.capacity);
  }

  get gpu(): Gpu {
    return this.runtime.gpu;
  }

  memory(): GpuMemory {
    return this.runtime.memory();
  }

  dispose(): void {
    this.runtime.dispose();
  }

  protected async lastLogits(sources: number[][], prefixes: number[][]): Promise<Float32Array> {
    const { source, target } = marianBatches(this.config, sources, prefixes, { sameLength: true });
    const all = (await this.runtime.forward(target, { source })).logits!;
    return lastRows(all, prefixes.length, target.seqLen, prefixes[0].length, this.vocab);
  }
}
