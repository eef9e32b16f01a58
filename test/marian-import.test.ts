/**
 * Marian (MarianMTModel) import and its float forward on both interpreters.
 *
 * Random small checkpoints of odd sizes (encoder and decoder of different depths, heads and FFN
 * widths, head sizes not multiples of 4, a vocabulary of 37) are written in memory as
 * save_pretrained writes them (model.shared.weight only, final_logits_bias, no position tables):
 * the CPU interpreter equals a direct float64 forward written here from transformers' Marian
 * semantics (post-LN, sinusoidal positions sin | cos from 0 in both stacks, embeddings times
 * sqrt(d_model), SiLU, source padding masked in the encoder and in cross-attention, causal decoder,
 * tied head + final_logits_bias) to 1e-9; the GPU interpreter equals the CPU one on padded batches.
 * With ../shared: encoder output and decoder logits against onnxruntime-node on the ONNX twins
 * (1e-4, the bound SOURCE.md uses for onnxruntime against torch), and CPU greedy translations
 * against SOURCE.md's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarianModel, TokenBatch } from '../src/core/types.js';
import { runFloatGraphCpu, sinusoidalRow } from '../src/cpu/float-graph.js';
import { CONFIG_LIMITS, parseMarianConfig } from '../src/model/config.js';
import { isMarianCheckpoint, loadCheckpoint, loadMarianModel } from '../src/model/load.js';
import {
  encoderOutputId,
  greedyTranslateCpu,
  loadMarianTokenizer,
  type MarianTokenizer,
  marianBatches,
  marianGraph,
} from '../src/model/marian.js';
import { type TensorToWrite, writeSafetensors } from '../src/model/safetensors-write.js';
import { memorySource } from '../src/model/sources.js';
import { folderSource } from '../src/model/sources-node.js';
import { FloatGraphGpu } from '../src/runtime/float-graph.js';
import { Random } from '../src/util/random.js';
import { maxAbs, maxAbsDiff } from './cases/float-compare.js';
import { testGpu } from './gpu.js';

/** The real rows of each sequence of a [batch * seqLen, width] tensor, concatenated. */
function realRows(x: ArrayLike<number>, batch: TokenBatch, lengths: number[], width: number): Float64Array {
  const out: number[] = [];
  lengths.forEach((n, b) => {
    for (let t = 0; t < n; t++) for (let c = 0; c < width; c++) out.push(x[(b * batch.seqLen + t) * width + c]);
  });
  return Float64Array.from(out);
}

// ---- a tiny random Marian -----------------------------------------------------------------------

/** Odd sizes: encoder 2 layers x 2 heads of 6 and FFN 20, decoder 3 layers x 3 heads of 4 and FFN 28. */
function tinyConfigJson(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['MarianMTModel'],
    model_type: 'marian',
    activation_function: 'swish',
    d_model: 12,
    encoder_layers: 2,
    decoder_layers: 3,
    encoder_attention_heads: 2,
    decoder_attention_heads: 3,
    encoder_ffn_dim: 20,
    decoder_ffn_dim: 28,
    vocab_size: 37,
    decoder_vocab_size: 37,
    max_position_embeddings: 40,
    scale_embedding: true,
    share_encoder_decoder_embeddings: true,
    pad_token_id: 36,
    decoder_start_token_id: 36,
    eos_token_id: 0,
    forced_eos_token_id: 0,
    is_encoder_decoder: true,
    ...extra,
  };
}

type Raw = Record<string, { shape: number[]; data: Float32Array }>;

/** MarianMTModel's tensors as save_pretrained writes them (tied copies and position tables not stored), random. */
function tinyTensors(seed: number, config = tinyConfigJson()): Raw {
  const rng = new Random(seed);
  const H = config.d_model as number;
  const V = config.vocab_size as number;
  const t: Raw = {};
  const make = (name: string, shape: number[], std: number, mean = 0) => {
    const data = rng.float32Array(
      shape.reduce((a, b) => a * b, 1),
      std,
    );
    if (mean) data.forEach((v, i) => (data[i] = v + mean));
    t[name] = { shape, data };
  };
  const linear = (name: string, outF: number, inF: number, std: number) => {
    make(`${name}.weight`, [outF, inF], std);
    make(`${name}.bias`, [outF], 0.1);
  };
  const norm = (name: string) => {
    make(`${name}.weight`, [H], 0.2, 1);
    make(`${name}.bias`, [H], 0.1);
  };
  const attention = (name: string) => {
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${name}.${p}`, H, H, 0.4);
  };
  make('model.shared.weight', [V, H], 0.3);
  for (const stack of ['encoder', 'decoder'] as const) {
    const I = config[`${stack}_ffn_dim`] as number;
    for (let i = 0; i < (config[`${stack}_layers`] as number); i++) {
      const p = `model.${stack}.layers.${i}`;
      attention(`${p}.self_attn`);
      norm(`${p}.self_attn_layer_norm`);
      if (stack === 'decoder') {
        attention(`${p}.encoder_attn`);
        norm(`${p}.encoder_attn_layer_norm`);
      }
      linear(`${p}.fc1`, I, H, 0.5);
      linear(`${p}.fc2`, H, I, 0.3);
      norm(`${p}.final_layer_norm`);
    }
  }
  // A buffer of zeros in transformers; random here so that adding it is tested.
  make('final_logits_bias', [1, V], 0.5);
  return t;
}

function safetensorsOf(raw: Raw): Uint8Array {
  const list: TensorToWrite[] = Object.entries(raw).map(([name, t]) => ({
    name,
    dtype: 'F32',
    shape: t.shape,
    data: t.data,
  }));
  return writeSafetensors(list, { format: 'pt' });
}

function folder(config: Record<string, unknown>, raw: Raw) {
  return memorySource(
    { 'config.json': JSON.stringify(config), 'model.safetensors': safetensorsOf(raw) },
    'tiny-marian',
  );
}

/**
 * Marian's forward in float64 straight from the checkpoint's tensors, one sentence pair:
 * transformers' MarianEncoder / MarianDecoder (embed * sqrt(d) + sinusoidal row of position t, t
 * from 0; post-LN layers: x = LN(x + attn(x)), decoder x = LN(x + cross(x, memory)),
 * x = LN(x + fc2(silu(fc1(x)))); q scaled by d^-0.5; causal decoder), logits = x shared^T + bias.
 */
function marianForward64(
  raw: Raw,
  config: Record<string, unknown>,
  src: number[],
  tgt: number[],
): { memory: Float64Array; logits: Float64Array } {
  const H = config.d_model as number;
  const V = config.vocab_size as number;
  const w = (name: string) => raw[name].data;
  const linear = (x: Float64Array, n: number, name: string, outF: number, inF: number) => {
    const W = w(`${name}.weight`);
    const b = w(`${name}.bias`);
    const y = new Float64Array(n * outF);
    for (let r = 0; r < n; r++)
      for (let o = 0; o < outF; o++) {
        let acc = b[o];
        for (let i = 0; i < inF; i++) acc += x[r * inF + i] * W[o * inF + i];
        y[r * outF + o] = acc;
      }
    return y;
  };
  const norm = (x: Float64Array, n: number, name: string) => {
    const g = w(`${name}.weight`);
    const b = w(`${name}.bias`);
    const y = new Float64Array(n * H);
    for (let r = 0; r < n; r++) {
      const row = x.subarray(r * H, (r + 1) * H);
      const mean = row.reduce((a, v) => a + v, 0) / H;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / H;
      for (let c = 0; c < H; c++) y[r * H + c] = ((row[c] - mean) / Math.sqrt(variance + 1e-5)) * g[c] + b[c];
    }
    return y;
  };
  const attention = (
    x: Float64Array,
    n: number,
    mem: Float64Array,
    m: number,
    name: string,
    heads: number,
    causal: boolean,
  ) => {
    const d = H / heads;
    const q = linear(x, n, `${name}.q_proj`, H, H).map((v) => v * d ** -0.5);
    const k = linear(mem, m, `${name}.k_proj`, H, H);
    const v = linear(mem, m, `${name}.v_proj`, H, H);
    const context = new Float64Array(n * H);
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < n; i++) {
        const keys = causal ? i + 1 : m;
        const scores: number[] = [];
        for (let j = 0; j < keys; j++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += q[i * H + h * d + e] * k[j * H + h * d + e];
          scores.push(s);
        }
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        for (let e = 0; e < d; e++) {
          let acc = 0;
          for (let j = 0; j < keys; j++) acc += (exps[j] / sum) * v[j * H + h * d + e];
          context[i * H + h * d + e] = acc;
        }
      }
    return linear(context, n, `${name}.out_proj`, H, H);
  };
  const embed = (ids: number[]) => {
    const x = new Float64Array(ids.length * H);
    ids.forEach((id, t) => {
      const pos = sinusoidalRow(t, H);
      for (let c = 0; c < H; c++)
        x[t * H + c] = Math.fround(w('model.shared.weight')[id * H + c] * Math.fround(Math.sqrt(H))) + pos[c];
    });
    return x;
  };
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]);
  const ffn = (x: Float64Array, n: number, p: string, I: number) =>
    linear(linear(x, n, `${p}.fc1`, I, H).map(silu), n, `${p}.fc2`, H, I);

  const n = src.length;
  let x = embed(src);
  for (let l = 0; l < (config.encoder_layers as number); l++) {
    const p = `model.encoder.layers.${l}`;
    x = norm(
      add(x, attention(x, n, x, n, `${p}.self_attn`, config.encoder_attention_heads as number, false)),
      n,
      `${p}.self_attn_layer_norm`,
    );
    x = norm(add(x, ffn(x, n, p, config.encoder_ffn_dim as number)), n, `${p}.final_layer_norm`);
  }
  const memory = x;
  const m = tgt.length;
  let y = embed(tgt);
  const heads = config.decoder_attention_heads as number;
  for (let l = 0; l < (config.decoder_layers as number); l++) {
    const p = `model.decoder.layers.${l}`;
    y = norm(add(y, attention(y, m, y, m, `${p}.self_attn`, heads, true)), m, `${p}.self_attn_layer_norm`);
    y = norm(add(y, attention(y, m, memory, n, `${p}.encoder_attn`, heads, false)), m, `${p}.encoder_attn_layer_norm`);
    y = norm(add(y, ffn(y, m, p, config.decoder_ffn_dim as number)), m, `${p}.final_layer_norm`);
  }
  const shared = w('model.shared.weight');
  const bias = w('final_logits_bias');
  const logits = new Float64Array(m * V);
  for (let t = 0; t < m; t++)
    for (let v = 0; v < V; v++) {
      let acc = bias[v];
      for (let c = 0; c < H; c++) acc += y[t * H + c] * shared[v * H + c];
      logits[t * V + v] = acc;
    }
  return { memory, logits };
}

/** opus-mt-en-de's config.json (Helsinki-NLP on the hub), the keys MarianConfig reads and the legacy ones it ignores. */
const OPUS_MT_EN_DE = {
  activation_dropout: 0.0,
  activation_function: 'swish',
  add_bias_logits: false,
  add_final_layer_norm: false,
  architectures: ['MarianMTModel'],
  attention_dropout: 0.0,
  bad_words_ids: [[58100]],
  bos_token_id: 0,
  classif_dropout: 0.0,
  classifier_dropout: 0.0,
  d_model: 512,
  decoder_attention_heads: 8,
  decoder_ffn_dim: 2048,
  decoder_layerdrop: 0.0,
  decoder_layers: 6,
  decoder_start_token_id: 58100,
  decoder_vocab_size: 58101,
  dropout: 0.1,
  encoder_attention_heads: 8,
  encoder_ffn_dim: 2048,
  encoder_layerdrop: 0.0,
  encoder_layers: 6,
  eos_token_id: 0,
  forced_eos_token_id: 0,
  id2label: { '0': 'LABEL_0', '1': 'LABEL_1', '2': 'LABEL_2' },
  init_std: 0.02,
  is_encoder_decoder: true,
  label2id: { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 },
  max_length: 512,
  max_position_embeddings: 512,
  model_type: 'marian',
  normalize_before: false,
  normalize_embedding: false,
  num_beams: 4,
  num_hidden_layers: 6,
  pad_token_id: 58100,
  scale_embedding: true,
  share_encoder_decoder_embeddings: true,
  static_position_embeddings: true,
  transformers_version: '4.22.0.dev0',
  use_cache: true,
  vocab_size: 58101,
};

describe('Marian config', () => {
  it("reads opus-mt-en-de's config.json as it is", () => {
    expect(parseMarianConfig(OPUS_MT_EN_DE)).toEqual({
      architecture: 'MarianMTModel',
      family: 'marian',
      task: 'translation',
      hiddenSize: 512,
      encoderLayers: 6,
      decoderLayers: 6,
      encoderHeads: 8,
      decoderHeads: 8,
      encoderFfnSize: 2048,
      decoderFfnSize: 2048,
      vocabSize: 58101,
      maxPositions: 512,
      layerNormEps: 1e-5,
      activation: 'silu',
      scaleEmbedding: true,
      padTokenId: 58100,
      eosTokenId: 0,
      decoderStartTokenId: 58100,
      forcedEosTokenId: 0,
      tiedEmbeddings: true,
    });
  });

  it("uses MarianConfig's defaults for absent keys", () => {
    const c = parseMarianConfig({ architectures: ['MarianMTModel'] });
    expect(c).toMatchObject({
      hiddenSize: 1024,
      encoderLayers: 12,
      decoderHeads: 16,
      vocabSize: 58101,
      maxPositions: 1024,
      activation: 'gelu',
      scaleEmbedding: false,
      padTokenId: 58100,
      decoderStartTokenId: 58100,
      forcedEosTokenId: 0,
    });
    expect(parseMarianConfig({ ...OPUS_MT_EN_DE, forced_eos_token_id: null }).forcedEosTokenId).toBeUndefined();
  });

  it('refuses what would compute another model or exhaust memory, naming the key', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ d_model: 500 }, /d_model 500 is not divisible by encoder_attention_heads 8/],
      [{ decoder_attention_heads: 7 }, /d_model 512 is not divisible by decoder_attention_heads 7/],
      [
        { encoder_layers: 1e9 },
        new RegExp(`"encoder_layers" = 1000000000 is above ${CONFIG_LIMITS.num_hidden_layers}`),
      ],
      [{ decoder_ffn_dim: 0 }, /"decoder_ffn_dim" must be an integer >= 1, got 0/],
      [{ vocab_size: 2.5 }, /"vocab_size" must be an integer >= 1, got 2.5/],
      [{ max_position_embeddings: 1 << 20 }, /"max_position_embeddings" = 1048576 is above 65536/],
      [{ share_encoder_decoder_embeddings: false }, /share_encoder_decoder_embeddings false is not supported/],
      [{ activation_function: 'tanh' }, /activation_function "tanh" is not supported; supported: swish, silu/],
      [{ pad_token_id: 58101 }, /"pad_token_id" 58101 is outside the vocabulary \(vocab_size 58101\)/],
      [{ decoder_start_token_id: -1 }, /"decoder_start_token_id" must be an integer >= 0, got -1/],
      [{ scale_embedding: 'yes' }, /"scale_embedding" must be true or false/],
      [
        { architectures: ['T5ForConditionalGeneration'] },
        /T5ForConditionalGeneration is not a supported encoder-decoder/,
      ],
    ];
    for (const [patch, message] of bad)
      expect(() => parseMarianConfig({ ...OPUS_MT_EN_DE, ...patch })).toThrow(message);
    expect(() => parseMarianConfig([1], 'x/config.json')).toThrow(/^x\/config.json: not a JSON object/);
  });
});

describe('Marian checkpoint import (tiny random model)', () => {
  const config = tinyConfigJson();
  const raw = tinyTensors(1);
  let model: MarianModel;
  let runtime: FloatGraphGpu | undefined;
  const report: string[] = [];
  beforeAll(async () => {
    model = await loadMarianModel(folder(config, raw));
  });
  afterAll(() => {
    runtime?.dispose();
    if (report.length) console.log(`tiny random Marian:\n${report.join('\n')}`);
  });

  it('maps the tensors: one shared embedding for both stacks and the head, final_logits_bias as its bias', async () => {
    const p = model.params;
    const shared = p.get('encoder.embeddings.word')!;
    expect(shared.data).toBe(p.get('decoder.embeddings.word')!.data);
    expect(shared.data).toBe(p.get('lm_head.weight')!.data);
    expect(p.get('lm_head.bias')!.shape).toEqual([37]);
    expect(Array.from(p.get('lm_head.bias')!.data)).toEqual(Array.from(raw.final_logits_bias.data));
    expect(Array.from(p.get('decoder.layer.2.cross_key.weight')!.data)).toEqual(
      Array.from(raw['model.decoder.layers.2.encoder_attn.k_proj.weight'].data),
    );
    expect(p.get('encoder.layer.1.intermediate.weight')!.shape).toEqual([20, 12]);
    expect(p.get('decoder.layer.0.intermediate.weight')!.shape).toEqual([28, 12]);
    expect(await isMarianCheckpoint(folder(config, raw))).toBe(true);
    expect(((await loadCheckpoint(folder(config, raw))) as MarianModel).config.family).toBe('marian');
    // MarianModel's bare names (no model. prefix) load too.
    const bare: Raw = {};
    for (const [k, v] of Object.entries(raw)) bare[k.replace(/^model\./, '')] = v;
    const fromBare = await loadMarianModel(folder(config, bare));
    expect(fromBare.params.get('lm_head.weight')!.data).toEqual(shared.data);
  });

  it('CPU interpreter == a direct float64 Marian forward (encoder output and decoder logits)', () => {
    const pairs: [number[], number[]][] = [
      [
        [5, 9, 30, 2, 0],
        [36, 4, 7, 11, 3, 0],
      ],
      [
        [3, 0],
        [36, 8],
      ],
    ];
    const graph = marianGraph(model.config);
    for (const [src, tgt] of pairs) {
      const want = marianForward64(raw, config, src, tgt);
      const { source, target } = marianBatches(model.config, [src], [tgt]);
      const got = runFloatGraphCpu(graph, model.params, target, { source, capture: [encoderOutputId(model.config)] });
      expect(maxAbs(want.logits)).toBeGreaterThan(1);
      expect(maxAbsDiff(got.logits!, want.logits)).toBeLessThan(1e-9);
      expect(maxAbsDiff(got.captures.get(encoderOutputId(model.config))!, want.memory)).toBeLessThan(1e-9);
    }
  });

  /** Three pairs of different lengths in one padded batch. */
  const SOURCES = [
    [5, 9, 30, 2, 17, 22, 1, 0],
    [3, 0],
    [12, 13, 14, 0],
  ];
  const TARGETS = [
    [36, 4, 7],
    [36, 8, 21, 25, 26, 9, 10, 11, 0],
    [36, 2],
  ];

  it('padding: every pair in a padded batch has the logits it has alone (CPU)', () => {
    const graph = marianGraph(model.config);
    const { source, target } = marianBatches(model.config, SOURCES, TARGETS);
    expect(source.seqLen).toBe(8);
    expect(target.seqLen).toBe(9);
    const all = runFloatGraphCpu(graph, model.params, target, { source }).logits!;
    const V = model.config.vocabSize;
    SOURCES.forEach((src, b) => {
      const alone = marianBatches(model.config, [src], [TARGETS[b]]);
      const one = runFloatGraphCpu(graph, model.params, alone.target, { source: alone.source }).logits!;
      const rows = all.subarray(b * target.seqLen * V, (b * target.seqLen + TARGETS[b].length) * V);
      expect(maxAbsDiff(rows, one)).toBeLessThan(1e-12);
    });
    // A padded source token changes nothing only because it is masked: unmasked, it would.
    const unmasked = { ...source, attentionMask: new Int32Array(source.attentionMask).fill(1) };
    const changed = runFloatGraphCpu(graph, model.params, target, { source: unmasked }).logits!;
    expect(maxAbsDiff(realRows(changed, target, [3], V), realRows(all, target, [3], V))).toBe(0);
    expect(maxAbsDiff(realRows(changed, target, [0, 9], V), realRows(all, target, [0, 9], V))).toBeGreaterThan(1e-3);
  });

  it('GPU interpreter == CPU interpreter (source and target padded to one length)', async () => {
    const graph = marianGraph(model.config);
    runtime = await FloatGraphGpu.create(await testGpu(), graph, model.params, {
      capacity: { batch: 3, seq: 9 },
      maxPositions: model.config.maxPositions,
    });
    const { source, target } = marianBatches(model.config, SOURCES, TARGETS, { sameLength: true });
    expect(source.seqLen).toBe(9);
    const enc = encoderOutputId(model.config);
    const cpu = runFloatGraphCpu(graph, model.params, target, { source, capture: [enc] });
    const gpu = await runtime.forward(target, { source, capture: [enc] });
    const V = model.config.vocabSize;
    const H = model.config.hiddenSize;
    const lengths = TARGETS.map((t) => t.length);
    const logits = maxAbsDiff(realRows(gpu.logits!, target, lengths, V), realRows(cpu.logits!, target, lengths, V));
    const memory = maxAbsDiff(
      realRows(
        gpu.captures!.get(enc)!,
        source,
        SOURCES.map((s) => s.length),
        H,
      ),
      realRows(
        cpu.captures.get(enc)!,
        source,
        SOURCES.map((s) => s.length),
        H,
      ),
    );
    report.push(`  GPU vs CPU: encoder output ${memory.toExponential(2)}, logits ${logits.toExponential(2)}`);
    expect(logits).toBeLessThan(1e-4);
    expect(memory).toBeLessThan(1e-4);
    // Refusals: sources of another shape, a missing source batch.
    const short = marianBatches(model.config, SOURCES, TARGETS);
    await expect(runtime.forward(short.target, { source: short.source })).rejects.toThrow(/must have one shape/);
    await expect(runtime.forward(target)).rejects.toThrow(/needs the source batch/);
  });

  it('refuses mismatched or damaged checkpoints, naming the tensor', async () => {
    const without = (name: string) => {
      const r = { ...raw };
      delete r[name];
      return r;
    };
    await expect(loadMarianModel(folder(config, without('final_logits_bias')))).rejects.toThrow(
      /missing 1 tensor\(s\) required by MarianMTModel: final_logits_bias/,
    );
    await expect(
      loadMarianModel(folder(config, without('model.decoder.layers.1.encoder_attn.v_proj.bias'))),
    ).rejects.toThrow(/model.decoder.layers.1.encoder_attn.v_proj.bias/);
    await expect(loadMarianModel(folder(config, without('model.shared.weight')))).rejects.toThrow(
      /missing tensor "model.shared.weight"/,
    );
    await expect(loadMarianModel(folder({ ...config, decoder_layers: 2 }, raw))).rejects.toThrow(
      /config.json says 2 layers \("decoder_layers"\), the checkpoint holds 3/,
    );
    await expect(loadMarianModel(folder({ ...config, encoder_ffn_dim: 21 }, raw))).rejects.toThrow(
      /tensor "model.encoder.layers.0.fc1.weight" has shape \[20, 12\], expected \[21, 12\]/,
    );
    const nan = tinyTensors(1);
    nan['model.encoder.layers.1.fc2.weight'].data[5] = Number.NaN;
    await expect(loadMarianModel(folder(config, nan))).rejects.toThrow(
      /tensor "model.encoder.layers.1.fc2.weight" holds NaN at \[0, 5\]/,
    );
    // A stored position table is checked against transformers' sinusoidal one.
    const table = new Float32Array(40 * 12);
    for (let p = 0; p < 40; p++) table.set(sinusoidalRow(p, 12), p * 12);
    const withTable = { ...raw, 'model.encoder.embed_positions.weight': { shape: [40, 12], data: table } };
    await expect(loadMarianModel(folder(config, withTable))).resolves.toBeDefined();
    const learned = table.slice();
    learned[3 * 12 + 7] += 0.01;
    await expect(
      loadMarianModel(
        folder(config, { ...raw, 'model.decoder.embed_positions.weight': { shape: [40, 12], data: learned } }),
      ),
    ).rejects.toThrow(/"model.decoder.embed_positions.weight" holds .* at \[3, 7\], not transformers' sinusoidal/);
    // Untied: lm_head.weight is read.
    await expect(loadMarianModel(folder({ ...config, tie_word_embeddings: false }, raw))).rejects.toThrow(
      /lm_head.weight/,
    );
    const head = { ...raw, 'lm_head.weight': { shape: [37, 12], data: new Random(5).float32Array(37 * 12, 0.3) } };
    const untied = await loadMarianModel(folder({ ...config, tie_word_embeddings: false }, head));
    expect(untied.params.get('lm_head.weight')!.data).toEqual(head['lm_head.weight'].data);
    expect(untied.params.get('lm_head.weight')!.data).not.toBe(untied.params.get('encoder.embeddings.word')!.data);
  });

  it('batches: sources and decoder inputs counted, emptiness and positions refused', () => {
    expect(() => marianBatches(model.config, [[1]], [[36], [36]])).toThrow(/1 sources for 2 decoder inputs/);
    expect(() => marianBatches(model.config, [[]], [[36]])).toThrow(/source 0 is empty/);
    expect(() => marianBatches(model.config, [[1]], [new Array(41).fill(2)])).toThrow(
      /41 positions, more than the model's 40/,
    );
    const graph = marianGraph(model.config);
    const { target } = marianBatches(model.config, [[1]], [[36]]);
    expect(() => runFloatGraphCpu(graph, model.params, target)).toThrow(/needs the source batch/);
  });
});

// ---- the shared model against onnxruntime --------------------------------------------------------

const SHARED = new URL('../../shared/', import.meta.url);
const sharedPath = (p: string) => fileURLToPath(new URL(p, SHARED));
const MODEL = sharedPath('models/multi30k-marian-en-de');
const TEST_EN = sharedPath('data/multi30k/test_2016_flickr.en');
const TEST_DE = sharedPath('data/multi30k/test_2016_flickr.de');
const ONNX_TOLERANCE = 1e-4;

/** SOURCE.md's greedy translations of the first test_2016_flickr sentences (torch, fp32). */
const GREEDY = [
  'Ein Mann in einem roten T-Shirt auf dem Boden.',
  'Ein Mann mit einem roten T-Shirt läuft auf einem weißen Gras.',
  'Ein Mädchen in einem roten T-Shirt mit einem roten T-Shirt steht vor einem Tisch.',
];

describe.skipIf(!existsSync(`${MODEL}/onnx/decoder_model_merged.onnx`) || !existsSync(TEST_EN))(
  'multi30k-marian-en-de (../shared)',
  () => {
    let model: MarianModel;
    let tokenizer: MarianTokenizer;
    let en: string[];
    let de: string[];
    let runtime: FloatGraphGpu | undefined;
    const report: string[] = [];
    const graph = () => marianGraph(model.config);
    const readLines = (path: string) =>
      readFileSync(path, 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l.length > 0);

    beforeAll(async () => {
      const files = folderSource(MODEL);
      model = await loadMarianModel(files);
      tokenizer = await loadMarianTokenizer(files, model.config);
      en = readLines(TEST_EN);
      de = readLines(TEST_DE);
    });
    afterAll(() => {
      runtime?.dispose();
      if (report.length) console.log(`multi30k-marian-en-de:\n${report.join('\n')}`);
    });

    it('imports as SOURCE.md describes it', () => {
      expect(model.config).toMatchObject({
        hiddenSize: 256,
        encoderLayers: 3,
        decoderLayers: 3,
        encoderHeads: 4,
        decoderHeads: 4,
        encoderFfnSize: 1024,
        vocabSize: 8000,
        maxPositions: 512,
        activation: 'silu',
        scaleEmbedding: true,
        padTokenId: 7999,
        decoderStartTokenId: 7999,
        eosTokenId: 0,
      });
      // 7,577,600 trainable parameters, the tied embedding counted once; final_logits_bias is a buffer.
      const seen = new Set<Float32Array>();
      let count = 0;
      for (const [name, t] of model.params) {
        if (name === 'lm_head.bias' || seen.has(t.data)) continue;
        seen.add(t.data);
        count += t.data.length;
      }
      expect(count).toBe(7_577_600);
    });

    it("tokenizer: sources end with one </s> as tokenizer.json's template makes them; decode round-trips", () => {
      for (const line of [...en.slice(0, 50), ...de.slice(0, 50)]) {
        const ids = tokenizer.encodeSource(line);
        expect(ids.at(-1)).toBe(0);
        expect(ids.indexOf(0)).toBe(ids.length - 1);
        expect(ids).toEqual(tokenizer.tokenizer.encode(line).ids);
        expect(tokenizer.decode(ids, { skipSpecialTokens: true })).toBe(line);
      }
      expect(tokenizer.decode([7999, 0])).toBe('<pad></s>');
    });

    const int64 = (ort: typeof import('onnxruntime-node'), v: Int32Array, b: TokenBatch) =>
      new ort.Tensor(
        'int64',
        BigInt64Array.from(v, (x) => BigInt(x)),
        [b.batch, b.seqLen],
      );

    it('float CPU and GPU interpreters equal onnxruntime-node on the twins (encoder output, decoder logits)', async () => {
      const ort = await import('onnxruntime-node');
      const n = 4;
      const sources = en.slice(0, n).map((t) => tokenizer.encodeSource(t));
      // Teacher forcing on the reference translations: decoder_start + target ids (with </s>).
      const inputs = de.slice(0, n).map((t) => [model.config.decoderStartTokenId, ...tokenizer.encodeTarget(t)]);
      const { source, target } = marianBatches(model.config, sources, inputs, { sameLength: true });
      const encoder = await ort.InferenceSession.create(`${MODEL}/onnx/encoder_model.onnx`);
      const decoder = await ort.InferenceSession.create(`${MODEL}/onnx/decoder_model_merged.onnx`);
      const encoded = await encoder.run({
        input_ids: int64(ort, source.inputIds, source),
        attention_mask: int64(ort, source.attentionMask, source),
      });
      const { decoderLayers: L, decoderHeads: heads, hiddenSize: H, vocabSize: V } = model.config;
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
        encoder_attention_mask: int64(ort, source.attentionMask, source),
        input_ids: int64(ort, target.inputIds, target),
        encoder_hidden_states: encoded.last_hidden_state,
      };
      for (let i = 0; i < L; i++)
        for (const part of ['decoder', 'encoder'])
          for (const kv of ['key', 'value'])
            feeds[`past_key_values.${i}.${part}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [
              target.batch,
              heads,
              0,
              H / heads,
            ]);
      expect(new Set(decoder.inputNames)).toEqual(new Set(Object.keys(feeds)));
      const decoded = await decoder.run(feeds);
      await encoder.release();
      await decoder.release();

      const srcLengths = sources.map((s) => s.length);
      const tgtLengths = inputs.map((s) => s.length);
      const wantMemory = realRows(encoded.last_hidden_state.data as Float32Array, source, srcLengths, H);
      // The twin's decoder has no decoder attention mask: compare the rows of real target tokens.
      const wantLogits = realRows(decoded.logits.data as Float32Array, target, tgtLengths, V);
      const enc = encoderOutputId(model.config);
      const cpu = runFloatGraphCpu(graph(), model.params, target, { source, capture: [enc] });
      runtime ??= await FloatGraphGpu.create(await testGpu(), graph(), model.params, {
        capacity: { batch: n, seq: target.seqLen },
        maxPositions: model.config.maxPositions,
      });
      const gpu = await runtime.forward(target, { source, capture: [enc] });
      const d = {
        cpuMemory: maxAbsDiff(realRows(cpu.captures.get(enc)!, source, srcLengths, H), wantMemory),
        gpuMemory: maxAbsDiff(realRows(gpu.captures!.get(enc)!, source, srcLengths, H), wantMemory),
        cpuLogits: maxAbsDiff(realRows(cpu.logits!, target, tgtLengths, V), wantLogits),
        gpuLogits: maxAbsDiff(realRows(gpu.logits!, target, tgtLengths, V), wantLogits),
      };
      expect(maxAbs(wantLogits)).toBeGreaterThan(5);
      report.push(
        `  vs onnxruntime (${n} pairs, source ${source.seqLen} / target ${target.seqLen} positions padded, logits up to ${maxAbs(wantLogits).toFixed(2)}): encoder output CPU ${d.cpuMemory.toExponential(2)}, GPU ${d.gpuMemory.toExponential(2)}; logits CPU ${d.cpuLogits.toExponential(2)}, GPU ${d.gpuLogits.toExponential(2)}`,
      );
      for (const v of Object.values(d)) expect(v).toBeLessThanOrEqual(ONNX_TOLERANCE);
    });

    it("CPU greedy translations (float64, one token per step with kept keys and values) equal SOURCE.md's torch greedy ones", () => {
      const g = graph();
      GREEDY.forEach((want, i) => {
        const ids = greedyTranslateCpu(model, tokenizer.encodeSource(en[i]), { maxNewTokens: 60, graph: g });
        expect(ids.at(-1)).toBe(model.config.eosTokenId);
        const text = tokenizer.decode(ids, { skipSpecialTokens: true });
        report.push(`  greedy ${i}: ${text}`);
        expect(text).toBe(want);
      });
    });
  },
);
