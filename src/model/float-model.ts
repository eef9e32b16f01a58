/**
 * The float32 encoder on WebGPU: Hugging Face transformers' forward pass (BERT, DistilBERT,
 * RoBERTa, bare BertModel with mean pooling), the accuracy reference of the integer model and the
 * float speed baseline. The semantics are specified by src/reference/float-encoder.ts.
 *
 * Weights are uploaded once (linear weights rows padded to vec4, Q|K|V concatenated into one
 * projection). Activation buffers are sized for the largest (batch, seqLen) seen so far and reused;
 * each (batch, seqLen) gets its bound programs once (a few are kept). A forward is one command
 * submission whose only read-back is the output (or, with `capture`, the captured activations).
 *
 * Per layer: qkv GEMM -> head split (q scaled by 1/sqrt(d), q/k/v^T per head, padded) -> batched
 * Q.K^T GEMM -> masked softmax -> batched P.V GEMM straight into [tokens, H] -> output GEMM ->
 * LayerNorm(x + residual) -> GEMM with fused GELU -> GEMM -> LayerNorm(x + residual).
 * Activations are [tokens, H] rows padded to a multiple of 4 (the GEMMs read vec4 words), token =
 * b * seqLen + s; the padding is zero and nothing writes it.
 *
 * Captures (forward(batch, { capture: true }).captures), each a Float32Array in the shape given
 * (T = batch * seqLen tokens, padding tokens included; row-major, no padding columns):
 *   embeddings.sum                 [T, H]  word + token type + position, before LayerNorm
 *   embeddings.norm                [T, H]  after the embedding LayerNorm (input of layer 0)
 *   layer.{i}.query / .key / .value [T, H] the projections (query not yet scaled)
 *   layer.{i}.scores               [batch, heads, seqLen, seqLen]  Q.K^T / sqrt(d), before the mask
 *   layer.{i}.probs                [batch, heads, seqLen, seqLen]  softmax, 0 at padding keys
 *   layer.{i}.context              [T, H]  probs . V, heads concatenated
 *   layer.{i}.attention_output     [T, H]  the attention output projection, before the residual
 *   layer.{i}.attention_residual   [T, H]  attention_output + layer input (what LayerNorm sees)
 *   layer.{i}.attention_norm       [T, H]
 *   layer.{i}.intermediate         [T, intermediateSize]  before GELU
 *   layer.{i}.gelu                 [T, intermediateSize]
 *   layer.{i}.output               [T, H]  the FFN output projection, before the residual
 *   layer.{i}.output_residual      [T, H]  output + attention_norm
 *   layer.{i}.output_norm          [T, H]  the layer's output
 *   head.dense                     [batch, denseOut]  after tanh / ReLU (classifiers with a dense)
 * The two *_residual sums are formed on the CPU from the captured terms with one f32 addition,
 * which is what the fused LayerNorm kernel computes. With capture, GELU runs as its own pass so that
 * its input can be read.
 */
import type { Gpu } from '../gpu/gpu.js';
import { type BoundProgram, type KernelTime, encodePrograms, readKernelTimes } from '../gpu/program.js';
import { type GpuMemory, profilingTimer, sumSizes } from '../gpu/profile.js';
import { bindEmbeddingF32 } from '../kernels/embedding-f32.js';
import { checkEmbeddingIds, checkTokenBatch } from '../core/token-batch.js';
import { bindGeluF32 } from '../kernels/gelu-f32.js';
import { bindGemmF32 } from '../kernels/gemm-f32.js';
import { TILE_WARMUP_LENGTHS } from '../kernels/gemm-shape.js';
import { bindLayerNormF32 } from '../kernels/layernorm-f32.js';
import { bindMeanPoolF32 } from '../kernels/mean-pool-f32.js';
import { bindSoftmaxF32 } from '../kernels/softmax-f32.js';
import { bindSplitHeadsF32, splitHeadsF32Sizes } from '../kernels/split-heads-f32.js';
import { padRowsF32, wordsPerRow } from '../quant/pack.js';
import type { EncoderModel, LayerNormWeights, Linear, TokenBatch } from './types.js';

export interface FloatForwardOptions {
  /** Read back every activation the integer model quantizes (see the module header). */
  capture?: boolean;
  /** Time every dispatch with GPU timestamps (needs 'timestamp-query'; not with `capture`). */
  profile?: boolean;
}

export interface FloatForwardResult {
  /** [batch, numLabels], for sequence classification. */
  logits?: Float32Array;
  /** [batch, hidden], mean over real tokens, for task 'embedding'. */
  embeddings?: Float32Array;
  captures?: Map<string, Float32Array>;
  /** With `profile`: GPU time of every dispatch, in order. */
  kernels?: KernelTime[];
}

const MAP_READ = 0x01;
const COPY_DST = 0x08;
const MAP_MODE_READ = 0x01;
/** Bound plans kept for recent (batch, seqLen, capture) shapes. */
const PLAN_CACHE = 4;

interface GpuLinear {
  weight: GPUBuffer;
  bias: GPUBuffer;
  out: number;
  in: number;
}

interface GpuNorm {
  gamma: GPUBuffer;
  beta: GPUBuffer;
}

interface GpuLayer {
  qkv: GpuLinear;
  attentionOutput: GpuLinear;
  attentionNorm: GpuNorm;
  intermediate: GpuLinear;
  output: GpuLinear;
  outputNorm: GpuNorm;
}

/** Activation buffers for up to `batch` sequences of up to `seq` tokens. */
interface Activations {
  batch: number;
  seq: number;
  buffers: GPUBuffer[];
  inputIds: GPUBuffer;
  positionIds: GPUBuffer;
  tokenTypeIds: GPUBuffer;
  mask: GPUBuffer;
  hiddenA: GPUBuffer;
  hiddenB: GPUBuffer;
  /** Embedding sum, attention output and FFN output (each consumed before the next is written). */
  temp: GPUBuffer;
  context: GPUBuffer;
  qkv: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  vT: GPUBuffer;
  scores: GPUBuffer;
  probs: GPUBuffer;
  intermediate: GPUBuffer;
  gelu: GPUBuffer;
  zeroBias: GPUBuffer;
  headPre: GPUBuffer;
  headAct: GPUBuffer;
  output: GPUBuffer;
  staging: GPUBuffer;
}

/** A read-back of `floats` values of `buffer`, reshaped by `post`. */
interface CaptureStep {
  name: string;
  buffer: GPUBuffer;
  floats: number;
  post: (raw: Float32Array) => Float32Array;
}

type Step = { program: BoundProgram } | { capture: CaptureStep };

interface Plan {
  key: string;
  batch: number;
  seq: number;
  steps: Step[];
  /** Floats of the result in activations.output. */
  outputFloats: number;
}

export class FloatEncoder {
  private activations: Activations | undefined;
  private readonly plans = new Map<string, Plan>();
  private disposed = false;

  private constructor(
    readonly gpu: Gpu,
    readonly model: EncoderModel,
    private readonly weightBuffers: GPUBuffer[],
    private readonly embeddings: { word: GPUBuffer; position: GPUBuffer; tokenType?: GPUBuffer; norm: GpuNorm },
    private readonly layers: GpuLayer[],
    private readonly head: { dense?: GpuLinear; activation?: 'tanh' | 'relu'; output: GpuLinear } | undefined,
  ) {}

  static async create(gpu: Gpu, model: EncoderModel): Promise<FloatEncoder> {
    const { config, weights } = model;
    const H = config.hiddenSize;
    if (!Number.isInteger(H / config.numHeads)) throw new RangeError(`FloatEncoder: hidden size ${H} is not a multiple of ${config.numHeads} heads`);
    if (config.hiddenAct !== 'gelu') throw new RangeError(`FloatEncoder: activation ${String(config.hiddenAct)} is not supported (exact GELU only)`);
    if (weights.layers.length !== config.numLayers) throw new RangeError(`FloatEncoder: ${weights.layers.length} layers of weights, config says ${config.numLayers}`);
    if (config.task === 'sequence-classification' && !weights.head) throw new RangeError('FloatEncoder: a classification model without head weights');
    const created: GPUBuffer[] = [];
    const upload = (label: string, data: Float32Array) => {
      const b = gpu.storage(label, data);
      created.push(b);
      return b;
    };
    try {
      const checkShape = (what: string, shape: number[], want: number[]) => {
        if (shape.length !== want.length || shape.some((v, i) => v !== want[i])) {
          throw new RangeError(`FloatEncoder: ${what} has shape [${shape}], expected [${want}]`);
        }
      };
      const linear = (label: string, parts: Linear[], inF: number): GpuLinear => {
        let out = 0;
        for (const p of parts) {
          checkShape(`${label}.weight`, p.weight.shape, [p.weight.shape[0], inF]);
          checkShape(`${label}.bias`, p.bias.shape, [p.weight.shape[0]]);
          out += p.weight.shape[0];
        }
        const w = new Float32Array(out * inF);
        const b = new Float32Array(out);
        let row = 0;
        for (const p of parts) {
          w.set(p.weight.data, row * inF);
          b.set(p.bias.data, row);
          row += p.weight.shape[0];
        }
        return { weight: upload(`${label}.weight`, padRowsF32(w, out, inF)), bias: upload(`${label}.bias`, b), out, in: inF };
      };
      const norm = (label: string, n: LayerNormWeights): GpuNorm => {
        checkShape(`${label}.gamma`, n.gamma.shape, [H]);
        checkShape(`${label}.beta`, n.beta.shape, [H]);
        return { gamma: upload(`${label}.gamma`, n.gamma.data), beta: upload(`${label}.beta`, n.beta.data) };
      };
      checkShape('word embeddings', weights.wordEmbeddings.shape, [config.vocabSize, H]);
      checkShape('position embeddings', weights.positionEmbeddings.shape, [config.maxPositions, H]);
      if (weights.tokenTypeEmbeddings) checkShape('token type embeddings', weights.tokenTypeEmbeddings.shape, [config.typeVocabSize, H]);
      const embeddings = {
        word: upload('embeddings.word', weights.wordEmbeddings.data),
        position: upload('embeddings.position', weights.positionEmbeddings.data),
        tokenType: weights.tokenTypeEmbeddings && config.typeVocabSize > 0 ? upload('embeddings.token_type', weights.tokenTypeEmbeddings.data) : undefined,
        norm: norm('embeddings.norm', weights.embeddingNorm),
      };
      const I = config.intermediateSize;
      const layers = weights.layers.map((l, i): GpuLayer => {
        const p = `layer.${i}`;
        return {
          qkv: linear(`${p}.qkv`, [l.query, l.key, l.value], H),
          attentionOutput: linear(`${p}.attention_output`, [l.attentionOutput], H),
          attentionNorm: norm(`${p}.attention_norm`, l.attentionNorm),
          intermediate: linear(`${p}.intermediate`, [l.intermediate], H),
          output: linear(`${p}.output`, [l.output], I),
          outputNorm: norm(`${p}.output_norm`, l.outputNorm),
        };
      });
      for (const l of layers) {
        if (l.qkv.out !== 3 * H || l.attentionOutput.out !== H || l.intermediate.out !== I || l.output.out !== H) {
          throw new RangeError('FloatEncoder: layer weights do not match hidden / intermediate sizes');
        }
      }
      let head: FloatEncoder['head'];
      if (config.task === 'sequence-classification') {
        const h = weights.head!;
        const dense = h.dense ? linear('head.dense', [h.dense], H) : undefined;
        head = { dense, activation: h.dense ? (h.activation ?? 'tanh') : undefined, output: linear('head.output', [h.output], dense ? dense.out : H) };
      }
      const encoder = new FloatEncoder(gpu, model, created, embeddings, layers, head);
      // Compile every pipeline now (short plans that between them use every GEMM tile), so that
      // the first forward only dispatches.
      try {
        for (const seq of TILE_WARMUP_LENGTHS.map((n) => Math.min(n, config.maxPositions))) await encoder.plan(encoder.ensureActivations(1, seq), 1, seq, false);
      } catch (e) {
        encoder.dispose();
        throw e;
      }
      return encoder;
    } catch (e) {
      for (const b of created) b.destroy();
      throw e;
    }
  }

  /** Runs the encoder on a padded batch. */
  async forward(batch: TokenBatch, options: FloatForwardOptions = {}): Promise<FloatForwardResult> {
    checkTokenBatch(batch);
    if (this.disposed) throw new Error('FloatEncoder: used after dispose()');
    this.checkBatch(batch);
    const capture = !!options.capture;
    const acts = this.ensureActivations(batch.batch, batch.seqLen);
    const plan = await this.plan(acts, batch.batch, batch.seqLen, capture);
    const gpu = this.gpu;
    const T = batch.batch * batch.seqLen;
    gpu.write(acts.inputIds, batch.inputIds.subarray(0, T));
    gpu.write(acts.positionIds, batch.positionIds.subarray(0, T));
    if (this.embeddings.tokenType) gpu.write(acts.tokenTypeIds, batch.tokenTypeIds.subarray(0, T));
    gpu.write(acts.mask, batch.attentionMask.subarray(0, T));

    const captureSteps = plan.steps.flatMap((s) => ('capture' in s ? [s.capture] : []));
    const captureFloats = captureSteps.reduce((n, c) => n + c.floats, 0);
    const readBytes = (plan.outputFloats + captureFloats) * 4;
    if (capture && options.profile) throw new Error('FloatEncoder: profile and capture cannot be combined');
    // The result buffer is persistent; captures get a one-off buffer sized for this forward.
    const staging = capture ? gpu.device.createBuffer({ label: 'float-model.captures', size: readBytes, usage: MAP_READ | COPY_DST }) : acts.staging;
    const programs = plan.steps.flatMap((s) => ('program' in s ? [s.program] : []));
    const timer = options.profile ? profilingTimer(gpu, programs.length) : undefined;
    try {
      gpu.assertAlive();
      const encoder = gpu.device.createCommandEncoder({ label: 'float-model.forward' });
      let offset = plan.outputFloats * 4;
      const offsets: number[] = [];
      if (!capture) {
        encodePrograms(encoder, programs, 'float-model', timer);
      } else {
        let pass: GPUComputePassEncoder | undefined;
        for (const step of plan.steps) {
          if ('program' in step) {
            pass ??= encoder.beginComputePass({ label: 'float-model' });
            step.program.encode(pass);
          } else {
            pass?.end();
            pass = undefined;
            encoder.copyBufferToBuffer(step.capture.buffer, 0, staging, offset, step.capture.floats * 4);
            offsets.push(offset);
            offset += step.capture.floats * 4;
          }
        }
        pass?.end();
      }
      encoder.copyBufferToBuffer(acts.output, 0, staging, 0, plan.outputFloats * 4);
      gpu.device.queue.submit([encoder.finish()]);
      await gpu.wait(() => staging.mapAsync(MAP_MODE_READ, 0, readBytes));
      const all = new Float32Array(staging.getMappedRange(0, readBytes).slice(0));
      staging.unmap();

      const result: FloatForwardResult = {};
      const out = all.slice(0, plan.outputFloats);
      if (this.model.config.task === 'embedding') result.embeddings = out;
      else result.logits = out;
      if (capture) result.captures = this.collectCaptures(captureSteps, offsets, all);
      if (timer) result.kernels = await readKernelTimes(timer, programs);
      return result;
    } finally {
      if (capture) staging.destroy();
      timer?.destroy();
    }
  }

  /** GPU bytes held: weights for the model's life, activations for the largest shape run so far. */
  memory(): GpuMemory {
    return { weightBytes: sumSizes(this.weightBuffers), activationBytes: sumSizes(this.activations?.buffers ?? []) };
  }

  /** Releases every GPU buffer this encoder created (the Gpu itself stays). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dropPlans();
    this.activations?.buffers.forEach((b) => b.destroy());
    this.activations = undefined;
    for (const b of this.weightBuffers) b.destroy();
  }

  private checkBatch(batch: TokenBatch): void {
    const { config } = this.model;
    const { batch: B, seqLen: S } = batch;
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(S) || S < 1) throw new RangeError(`FloatEncoder: batch ${B} x seqLen ${S} must be positive integers`);
    const T = B * S;
    const vocabTypes = this.embeddings.tokenType ? config.typeVocabSize : 0;
    checkEmbeddingIds(batch.inputIds, config.vocabSize, 'token');
    checkEmbeddingIds(batch.positionIds, config.maxPositions, 'position');
    if (vocabTypes > 0) checkEmbeddingIds(batch.tokenTypeIds, vocabTypes, 'token type');
    if (batch.attentionMask.length < T) throw new RangeError(`FloatEncoder: attentionMask has ${batch.attentionMask.length} values for ${T} tokens`);
    for (let b = 0; b < B; b++) {
      let real = 0;
      for (let s = 0; s < S; s++) {
        const m = batch.attentionMask[b * S + s];
        if (m !== 0 && m !== 1) throw new RangeError(`FloatEncoder: attentionMask[${b * S + s}] = ${m} must be 0 or 1`);
        real += m;
      }
      if (real === 0) throw new RangeError(`FloatEncoder: sequence ${b} has no real token`);
    }
  }

  private dropPlans(): void {
    for (const p of this.plans.values()) for (const s of p.steps) if ('program' in s) s.program.destroy();
    this.plans.clear();
  }

  /** Buffers for at least (batch, seq); grown (and plans rebound) only when a larger shape comes. */
  private ensureActivations(batch: number, seq: number): Activations {
    const a = this.activations;
    if (a && batch <= a.batch && seq <= a.seq) return a;
    const B = Math.max(batch, a?.batch ?? 0);
    const S = Math.max(seq, a?.seq ?? 0);
    this.dropPlans();
    a?.buffers.forEach((b) => b.destroy());
    this.activations = undefined;

    const { config } = this.model;
    const gpu = this.gpu;
    const H = config.hiddenSize;
    const heads = config.numHeads;
    const d = H / heads;
    const Hp = wordsPerRow(H) * 4;
    const Ip = wordsPerRow(config.intermediateSize) * 4;
    const T = B * S;
    const split = splitHeadsF32Sizes({ batch: B, seq: S, heads, headDim: d });
    const denseOut = this.head?.dense?.out ?? H;
    const outputFloats = this.head ? B * this.head.output.out : B * H;
    const buffers: GPUBuffer[] = [];
    const f32 = (label: string, floats: number) => {
      const b = gpu.storage(`float-model.${label}`, floats * 4);
      buffers.push(b);
      return b;
    };
    try {
      const acts: Activations = {
        batch: B,
        seq: S,
        buffers,
        inputIds: f32('input_ids', T),
        positionIds: f32('position_ids', T),
        tokenTypeIds: f32('token_type_ids', T),
        mask: f32('mask', T),
        hiddenA: f32('hidden_a', T * Hp),
        hiddenB: f32('hidden_b', T * Hp),
        temp: f32('temp', T * Hp),
        context: f32('context', T * Hp),
        qkv: f32('qkv', T * 3 * H),
        q: f32('q', split.qk),
        k: f32('k', split.qk),
        vT: f32('vT', split.v),
        scores: f32('scores', B * heads * S * S),
        probs: f32('probs', B * heads * S * split.seqPad),
        intermediate: f32('intermediate', T * Ip),
        gelu: f32('gelu', T * Ip),
        zeroBias: f32('zero_bias', Math.max(S, d)),
        headPre: f32('head_pre', B * wordsPerRow(denseOut) * 4),
        headAct: f32('head_act', B * wordsPerRow(denseOut) * 4),
        output: f32('output', outputFloats),
        staging: gpu.device.createBuffer({ label: 'float-model.staging', size: Math.ceil((outputFloats * 4) / 4) * 4, usage: MAP_READ | COPY_DST }),
      };
      buffers.push(acts.staging);
      this.activations = acts;
      return acts;
    } catch (e) {
      buffers.forEach((b) => b.destroy());
      throw e;
    }
  }

  private async plan(acts: Activations, batch: number, seq: number, capture: boolean): Promise<Plan> {
    const key = `${batch}x${seq}${capture ? '+capture' : ''}`;
    const hit = this.plans.get(key);
    if (hit) {
      // Most recently used last.
      this.plans.delete(key);
      this.plans.set(key, hit);
      return hit;
    }
    const plan = await this.buildPlan(acts, batch, seq, capture, key);
    if (this.plans.size >= PLAN_CACHE) {
      const [oldKey, old] = this.plans.entries().next().value as [string, Plan];
      for (const s of old.steps) if ('program' in s) s.program.destroy();
      this.plans.delete(oldKey);
    }
    this.plans.set(key, plan);
    return plan;
  }

  private async buildPlan(a: Activations, B: number, S: number, capture: boolean, key: string): Promise<Plan> {
    const gpu = this.gpu;
    const { config } = this.model;
    const H = config.hiddenSize;
    const I = config.intermediateSize;
    const heads = config.numHeads;
    const d = H / heads;
    const Hp = wordsPerRow(H) * 4;
    const Ip = wordsPerRow(I) * 4;
    const T = B * S;
    const seqPad = wordsPerRow(S) * 4;
    const steps: Step[] = [];
    const run = (p: BoundProgram) => steps.push({ program: p });
    const take = (name: string, buffer: GPUBuffer, floats: number, post: (raw: Float32Array) => Float32Array = (r) => r) => {
      if (capture) steps.push({ capture: { name, buffer, floats, post } });
    };
    const unpad = (rows: number, cols: number, stride: number) => (raw: Float32Array) => {
      if (cols === stride) return raw;
      const out = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) out.set(raw.subarray(r * stride, r * stride + cols), r * cols);
      return out;
    };
    const tokensH = unpad(T, H, Hp);
    const linear = (x: GPUBuffer, rows: number, w: { weight: GPUBuffer; bias: GPUBuffer; out: number; in: number }, c: GPUBuffer, cRow: number, activation?: 'gelu', aRow?: number) =>
      bindGemmF32(gpu, { bias: true, activation }, { M: rows, N: w.out, K: w.in, cRow, ...(aRow ? { aRow } : {}) }, { a: x, b: w.weight, bias: w.bias, c });
    const eps = config.layerNormEps;

    const tokenTypes = this.embeddings.tokenType ? config.typeVocabSize : 0;
    run(
      await bindEmbeddingF32(
        gpu,
        { tokens: T, H, stride: Hp, vocab: config.vocabSize, positions: config.maxPositions, types: tokenTypes },
        {
          inputIds: a.inputIds,
          positionIds: a.positionIds,
          tokenTypeIds: tokenTypes ? a.tokenTypeIds : undefined,
          word: this.embeddings.word,
          position: this.embeddings.position,
          tokenType: this.embeddings.tokenType,
          out: a.temp,
        },
      ),
    );
    take('embeddings.sum', a.temp, T * Hp, tokensH);
    run(await bindLayerNormF32(gpu, { eps }, { rows: T, H, stride: Hp }, { x: a.temp, ...this.embeddings.norm, y: a.hiddenA }));
    take('embeddings.norm', a.hiddenA, T * Hp, tokensH);

    for (let li = 0; li < this.layers.length; li++) {
      const l = this.layers[li];
      const p = `layer.${li}.`;
      run(await linear(a.hiddenA, T, l.qkv, a.qkv, 3 * H));
      take(`${p}qkv`, a.qkv, T * 3 * H);
      run(await bindSplitHeadsF32(gpu, { batch: B, seq: S, heads, headDim: d, qScale: 1 / Math.sqrt(d) }, { qkv: a.qkv, q: a.q, k: a.k, vT: a.vT }));
      // The bias-free products use the bias pipeline with zeros (x + 0 = x): one GEMM pipeline fewer to compile.
      run(await bindGemmF32(gpu, { bias: true }, { M: S, N: S, K: d, batchOuter: B, batchInner: heads }, { a: a.q, b: a.k, bias: a.zeroBias, c: a.scores }));
      take(`${p}scores`, a.scores, B * heads * S * S);
      run(await bindSoftmaxF32(gpu, { batch: B, heads, queries: S, seq: S, probStride: seqPad }, { scores: a.scores, mask: a.mask, probs: a.probs }));
      take(`${p}probs`, a.probs, B * heads * S * seqPad, unpad(B * heads * S, S, seqPad));
      run(
        await bindGemmF32(
          gpu,
          { bias: true },
          { M: S, N: d, K: S, batchOuter: B, batchInner: heads, cRow: Hp, cInner: d, cOuter: S * Hp },
          { a: a.probs, b: a.vT, bias: a.zeroBias, c: a.context },
        ),
      );
      take(`${p}context`, a.context, T * Hp, tokensH);
      run(await linear(a.context, T, l.attentionOutput, a.temp, Hp));
      take(`${p}attention_output`, a.temp, T * Hp, tokensH);
      run(await bindLayerNormF32(gpu, { eps, residual: true }, { rows: T, H, stride: Hp }, { x: a.temp, residual: a.hiddenA, ...l.attentionNorm, y: a.hiddenB }));
      take(`${p}attention_norm`, a.hiddenB, T * Hp, tokensH);
      if (capture) {
        run(await linear(a.hiddenB, T, l.intermediate, a.intermediate, Ip));
        take(`${p}intermediate`, a.intermediate, T * Ip, unpad(T, I, Ip));
        run(await bindGeluF32(gpu, T * Ip, { x: a.intermediate, y: a.gelu }));
      } else {
        run(await linear(a.hiddenB, T, l.intermediate, a.gelu, Ip, 'gelu'));
      }
      take(`${p}gelu`, a.gelu, T * Ip, unpad(T, I, Ip));
      run(await linear(a.gelu, T, l.output, a.temp, Hp));
      take(`${p}output`, a.temp, T * Hp, tokensH);
      run(await bindLayerNormF32(gpu, { eps, residual: true }, { rows: T, H, stride: Hp }, { x: a.temp, residual: a.hiddenB, ...l.outputNorm, y: a.hiddenA }));
      take(`${p}output_norm`, a.hiddenA, T * Hp, tokensH);
    }

    let outputFloats: number;
    if (!this.head) {
      run(await bindMeanPoolF32(gpu, { batch: B, seq: S, H, stride: Hp }, { x: a.hiddenA, mask: a.mask, out: a.output }));
      outputFloats = B * H;
    } else {
      // The first token of each sequence: rows S * Hp values apart in the hidden states.
      const firstRow = (S * Hp) / 4;
      let x = a.hiddenA;
      let aRow: number | undefined = firstRow;
      const dense = this.head.dense;
      if (dense) {
        const stride = wordsPerRow(dense.out) * 4;
        run(await linear(a.hiddenA, B, dense, a.headPre, stride, undefined, firstRow));
        run(await bindGeluF32(gpu, B * stride, { x: a.headPre, y: a.headAct }, this.head.activation ?? 'tanh'));
        take('head.dense', a.headAct, B * stride, unpad(B, dense.out, stride));
        x = a.headAct;
        aRow = undefined;
      }
      const out = this.head.output;
      run(await linear(x, B, out, a.output, out.out, undefined, aRow));
      outputFloats = B * out.out;
    }
    return { key, batch: B, seq: S, steps, outputFloats };
  }

  private collectCaptures(steps: CaptureStep[], offsets: number[], all: Float32Array): Map<string, Float32Array> {
    const { config } = this.model;
    const H = config.hiddenSize;
    const captures = new Map<string, Float32Array>();
    steps.forEach((s, i) => {
      const raw = all.subarray(offsets[i] / 4, offsets[i] / 4 + s.floats);
      const value = s.post(raw);
      captures.set(s.name, value === raw ? raw.slice() : value);
    });
    const add = (x: Float32Array, y: Float32Array) => {
      const out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i];
      return out;
    };
    for (let li = 0; li < this.layers.length; li++) {
      const p = `layer.${li}.`;
      const qkv = captures.get(`${p}qkv`)!;
      captures.delete(`${p}qkv`);
      const T = qkv.length / (3 * H);
      ['query', 'key', 'value'].forEach((name, part) => {
        const out = new Float32Array(T * H);
        for (let t = 0; t < T; t++) out.set(qkv.subarray(t * 3 * H + part * H, t * 3 * H + (part + 1) * H), t * H);
        captures.set(p + name, out);
      });
      const input = captures.get(li === 0 ? 'embeddings.norm' : `layer.${li - 1}.output_norm`)!;
      captures.set(`${p}attention_residual`, add(captures.get(`${p}attention_output`)!, input));
      captures.set(`${p}output_residual`, add(captures.get(`${p}output`)!, captures.get(`${p}attention_norm`)!));
    }
    return captures;
  }
}
