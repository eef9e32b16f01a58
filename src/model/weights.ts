/**
 * Checkpoint tensor names -> EncoderWeights. Knows the transformers naming of BERT, DistilBERT and
 * RoBERTa (with the base-model prefix, or without it as bare BertModel checkpoints are often saved)
 * and checks every shape against the config before converting, so a mismatched checkpoint fails
 * with the tensor's name instead of being misread.
 */

import type {
  ClassifierHead,
  DecoderConfig,
  EncoderConfig,
  EncoderLayerWeights,
  EncoderWeights,
  LayerNormWeights,
  Linear,
  MarianConfig,
  Tensor,
} from '../core/types.js';
import { sinusoidalRow } from '../graph/sinusoidal.js';

/** What the mapping needs from a checkpoint; a parsed safetensors file provides it. */
export interface TensorStore {
  has(name: string): boolean;
  info(name: string): { shape: number[] };
  tensor(name: string): Tensor;
  /** All tensor names, when the store can list them: lets the layer count be checked up front. */
  names?(): string[];
}

/**
 * Index of the first NaN or infinity in `data`, or -1. One pass at load (the weights are read
 * once anyway): a non-finite weight would otherwise surface much later and far away, as NaN
 * logits with label undefined, or as "head logit scales must be positive" from the planner.
 * Cost (bench/integrity.ts, shared 2-core machine under load): 2-4 ns per value, e.g. 10-18 ms for
 * sst2-bert-tiny's 4.4 M weights, 60-160 ms for MiniLM-L6's 22.7 M; about as much as converting
 * them to float32, and far less than reading the file.
 */
export function firstNonFinite(data: Float32Array): number {
  // x * 0 is +-0 for finite x and NaN for NaN and +-Infinity, and a NaN survives the sum: a
  // branch-free pass (4 values per step, ~1.8x faster than a compare per value) finds whether
  // there is one; only then is it located.
  const n = data.length;
  const end4 = n - (n % 4);
  let acc = 0;
  let i = 0;
  for (; i < end4; i += 4) acc += data[i] * 0 + data[i + 1] * 0 + data[i + 2] * 0 + data[i + 3] * 0;
  for (; i < n; i++) acc += data[i] * 0;
  if (acc === 0) return -1;
  for (i = 0; i < n; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

function checkFinite(t: Tensor, name: string, what: string): void {
  const i = firstNonFinite(t.data);
  if (i < 0) return;
  let count = 0;
  for (let j = i; j < t.data.length; j++) if (!Number.isFinite(t.data[j])) count++;
  const at: number[] = [];
  let rest = i;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    at.unshift(rest % t.shape[d]);
    rest = Math.floor(rest / t.shape[d]);
  }
  throw new Error(
    `${what}: tensor "${name}" holds ${t.data[i]} at [${at.join(', ')}] (${count} non-finite value${count > 1 ? 's' : ''} in all); a checkpoint's weights must be finite`,
  );
}

/**
 * The highest layer index the checkpoint holds under the base model's layer stack, or -1. Compared
 * with the config before anything is sized from num_hidden_layers.
 */
function layersInStore(store: TensorStore, layerPrefix: string): number | undefined {
  if (!store.names) return undefined;
  let max = -1;
  for (const n of store.names()) {
    if (!n.startsWith(layerPrefix)) continue;
    const m = /^(\d+)\./.exec(n.slice(layerPrefix.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** How many missing names to list before summarising; a wrong family misses hundreds. */
const MAX_LISTED = 12;

export function mapWeights(store: TensorStore, config: EncoderConfig, what = 'model.safetensors'): EncoderWeights {
  const prefix = findPrefix(store, config, what);
  const distil = config.family === 'distilbert';
  const stack = prefix.resolve(distil ? '~transformer.layer.' : '~encoder.layer.');
  const inFile = layersInStore(store, stack);
  if (inFile !== undefined && inFile !== config.numLayers) {
    throw new Error(
      `${what}: config.json says ${config.numLayers} layers ("${distil ? 'n_layers' : 'num_hidden_layers'}"), the checkpoint holds ${inFile} under "${stack}"`,
    );
  }
  const missing: string[] = [];
  const placeholder: Tensor = { shape: [], data: new Float32Array(0) };

  const take = (name: string, shape: number[]): Tensor => {
    const full = prefix.resolve(name);
    if (!store.has(full)) {
      missing.push(full);
      return placeholder;
    }
    const actual = store.info(full).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${what}: tensor "${full}" has shape [${actual.join(', ')}], expected [${shape.join(', ')}] from config.json`,
      );
    }
    const t = store.tensor(full);
    checkFinite(t, full, what);
    return t;
  };
  const linear = (base: string, out: number, inp: number): Linear => ({
    weight: take(`${base}.weight`, [out, inp]),
    bias: take(`${base}.bias`, [out]),
  });
  // Checkpoints converted from TF-era code name LayerNorm parameters gamma/beta.
  const norm = (base: string): LayerNormWeights => {
    const h = config.hiddenSize;
    const old = !store.has(prefix.resolve(`${base}.weight`)) && store.has(prefix.resolve(`${base}.gamma`));
    return old
      ? { gamma: take(`${base}.gamma`, [h]), beta: take(`${base}.beta`, [h]) }
      : { gamma: take(`${base}.weight`, [h]), beta: take(`${base}.bias`, [h]) };
  };

  const h = config.hiddenSize;
  const ffn = config.intermediateSize;
  const weights: EncoderWeights = {
    wordEmbeddings: take('~embeddings.word_embeddings.weight', [config.vocabSize, h]),
    positionEmbeddings: take('~embeddings.position_embeddings.weight', [config.maxPositions, h]),
    tokenTypeEmbeddings:
      config.typeVocabSize > 0
        ? take('~embeddings.token_type_embeddings.weight', [config.typeVocabSize, h])
        : undefined,
    embeddingNorm: norm('~embeddings.LayerNorm'),
    layers: [],
  };
  for (let i = 0; i < config.numLayers; i++) {
    let layer: EncoderLayerWeights;
    if (distil) {
      const p = `~transformer.layer.${i}`;
      layer = {
        query: linear(`${p}.attention.q_lin`, h, h),
        key: linear(`${p}.attention.k_lin`, h, h),
        value: linear(`${p}.attention.v_lin`, h, h),
        attentionOutput: linear(`${p}.attention.out_lin`, h, h),
        attentionNorm: norm(`${p}.sa_layer_norm`),
        intermediate: linear(`${p}.ffn.lin1`, ffn, h),
        output: linear(`${p}.ffn.lin2`, h, ffn),
        outputNorm: norm(`${p}.output_layer_norm`),
      };
    } else {
      const p = `~encoder.layer.${i}`;
      layer = {
        query: linear(`${p}.attention.self.query`, h, h),
        key: linear(`${p}.attention.self.key`, h, h),
        value: linear(`${p}.attention.self.value`, h, h),
        attentionOutput: linear(`${p}.attention.output.dense`, h, h),
        attentionNorm: norm(`${p}.attention.output.LayerNorm`),
        intermediate: linear(`${p}.intermediate.dense`, ffn, h),
        output: linear(`${p}.output.dense`, h, ffn),
        outputNorm: norm(`${p}.output.LayerNorm`),
      };
    }
    weights.layers.push(layer);
  }
  if (config.task === 'sequence-classification') weights.head = mapHead(config, linear);
  // Every family's token classifier is one linear named `classifier` (RoBERTa's too: no dense, no out_proj).
  if (config.task === 'token-classification')
    weights.head = { output: linear('classifier', config.labels.length, config.hiddenSize) };

  if (missing.length > 0) {
    const listed = missing.slice(0, MAX_LISTED).join(', ');
    const more = missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : '';
    throw new Error(
      `${what}: missing ${missing.length} tensor(s) required by ${config.architecture}: ${listed}${more}`,
    );
  }
  return weights;
}

/** The head sits outside the base model, so its names carry no prefix (except BERT's pooler). */
function mapHead(config: EncoderConfig, linear: (base: string, out: number, inp: number) => Linear): ClassifierHead {
  const h = config.hiddenSize;
  const labels = config.labels.length;
  switch (config.family) {
    case 'bert':
      return { dense: linear('~pooler.dense', h, h), activation: 'tanh', output: linear('classifier', labels, h) };
    case 'distilbert':
      return { dense: linear('pre_classifier', h, h), activation: 'relu', output: linear('classifier', labels, h) };
    case 'roberta':
      return {
        dense: linear('classifier.dense', h, h),
        activation: 'tanh',
        output: linear('classifier.out_proj', labels, h),
      };
  }
}

interface Prefix {
  /** Replaces a leading "~" (the base model's namespace) with the prefix found in the file. */
  resolve(name: string): string;
}

function findPrefix(store: TensorStore, config: EncoderConfig, what: string): Prefix {
  const probe = 'embeddings.word_embeddings.weight';
  const candidates = [`${config.family}.`, ''];
  const found = candidates.find((p) => store.has(p + probe));
  if (found === undefined) {
    const other = ['bert.', 'distilbert.', 'roberta.'].find((p) => store.has(p + probe));
    const hint = other ? ` (the file has "${other}${probe}": a ${other.slice(0, -1)} checkpoint?)` : '';
    throw new Error(
      `${what}: missing tensor "${candidates[0]}${probe}" (or "${probe}") required by ${config.architecture}${hint}`,
    );
  }
  return { resolve: (name) => (name.startsWith('~') ? found + name.slice(1) : name) };
}

/** [rows, cols] row-major -> [cols, rows], columns [from, from + cols) of a wider [rows, width] matrix. */
function transposeColumns(t: Tensor, from: number, cols: number): Tensor {
  const [rows, width] = t.shape;
  const out = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    const row = r * width + from;
    for (let c = 0; c < cols; c++) out[c * rows + r] = t.data[row + c];
  }
  return { shape: [cols, rows], data: out };
}

function slice1d(t: Tensor, from: number, count: number): Tensor {
  return { shape: [count], data: t.data.slice(from, from + count) };
}

/**
 * A GPT-2 checkpoint (GPT2LMHeadModel's names, with the `transformer.` prefix or without it as
 * GPT2Model saves them) -> parameters under the graph's names. GPT-2's linears are Conv1D, weight
 * stored [in, out]: transposed here to the [out, in] every other linear has. c_attn is q|k|v fused
 * along its output columns: split into the three projections the graph names. A tied LM head is
 * the word embeddings' Tensor (not a copy) with a zero bias, as GPT2LMHeadModel has no lm_head bias.
 * The attention's stored causal-mask buffers (attn.bias, attn.masked_bias in older files) are not
 * weights and are ignored.
 */
export function mapDecoderWeights(
  store: TensorStore,
  config: DecoderConfig,
  what = 'model.safetensors',
): Map<string, Tensor> {
  const probe = 'wte.weight';
  const prefix = ['transformer.', ''].find((p) => store.has(p + probe));
  if (prefix === undefined) {
    throw new Error(
      `${what}: missing tensor "transformer.${probe}" (or "${probe}") required by ${config.architecture}`,
    );
  }
  const inFile = layersInStore(store, `${prefix}h.`);
  if (inFile !== undefined && inFile !== config.numLayers) {
    throw new Error(
      `${what}: config.json says ${config.numLayers} layers ("n_layer"), the checkpoint holds ${inFile} under "${prefix}h."`,
    );
  }
  const missing: string[] = [];
  const placeholder = (shape: number[]): Tensor => ({
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
  });
  const take = (name: string, shape: number[], base = prefix): Tensor => {
    const full = base + name;
    if (!store.has(full)) {
      missing.push(full);
      return placeholder(shape);
    }
    const actual = store.info(full).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${what}: tensor "${full}" has shape [${actual.join(', ')}], expected [${shape.join(', ')}] from config.json`,
      );
    }
    const t = store.tensor(full);
    checkFinite(t, full, what);
    return t;
  };
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const params = new Map<string, Tensor>();
  const set = (name: string, t: Tensor) => params.set(name, t);
  const conv1d = (name: string, base: string, inF: number, outF: number) => {
    set(`${name}.weight`, transposeColumns(take(`${base}.weight`, [inF, outF]), 0, outF));
    set(`${name}.bias`, take(`${base}.bias`, [outF]));
  };
  const norm = (name: string, base: string) => {
    set(`${name}.gamma`, take(`${base}.weight`, [H]));
    set(`${name}.beta`, take(`${base}.bias`, [H]));
  };

  const word = take('wte.weight', [config.vocabSize, H]);
  set('embeddings.word', word);
  set('embeddings.position', take('wpe.weight', [config.maxPositions, H]));
  for (let i = 0; i < config.numLayers; i++) {
    const p = `h.${i}`;
    const x = `layer.${i}`;
    norm(`${x}.attention_norm`, `${p}.ln_1`);
    const w = take(`${p}.attn.c_attn.weight`, [H, 3 * H]);
    const b = take(`${p}.attn.c_attn.bias`, [3 * H]);
    ['query', 'key', 'value'].forEach((part, j) => {
      set(`${x}.${part}.weight`, transposeColumns(w, j * H, H));
      set(`${x}.${part}.bias`, slice1d(b, j * H, H));
    });
    conv1d(`${x}.attention_output`, `${p}.attn.c_proj`, H, H);
    norm(`${x}.output_norm`, `${p}.ln_2`);
    conv1d(`${x}.intermediate`, `${p}.mlp.c_fc`, H, I);
    conv1d(`${x}.output`, `${p}.mlp.c_proj`, I, H);
  }
  norm('final_norm', 'ln_f');
  // lm_head sits outside the base model: never prefixed. Tied heads are not stored (save_pretrained drops them).
  set('lm_head.weight', config.tiedEmbeddings ? word : take('lm_head.weight', [config.vocabSize, H], ''));
  set('lm_head.bias', { shape: [config.vocabSize], data: new Float32Array(config.vocabSize) });

  if (missing.length > 0) {
    const listed = missing.slice(0, MAX_LISTED).join(', ');
    const more = missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : '';
    throw new Error(
      `${what}: missing ${missing.length} tensor(s) required by ${config.architecture}: ${listed}${more}`,
    );
  }
  return params;
}

/**
 * A MarianMTModel checkpoint (`model.` prefix, or none as MarianModel saves it) -> parameters
 * under buildEncoderDecoderGraph's names. model.shared.weight is the one embedding of both stacks
 * and, tied, the LM head (save_pretrained drops the tied copies; stored copies
 * model.{encoder,decoder}.embed_tokens.weight are ignored). final_logits_bias [1, vocab] is the LM
 * head's bias. Stored sinusoidal tables (older conversions keep embed_positions.weight) must be
 * the table transformers builds, which the graph computes itself.
 */
export function mapMarianWeights(
  store: TensorStore,
  config: MarianConfig,
  what = 'model.safetensors',
): Map<string, Tensor> {
  const probe = 'shared.weight';
  const prefix = ['model.', ''].find((p) => store.has(p + probe));
  if (prefix === undefined) {
    throw new Error(`${what}: missing tensor "model.${probe}" (or "${probe}") required by ${config.architecture}`);
  }
  for (const [stack, key, layers] of [
    ['encoder', 'encoder_layers', config.encoderLayers],
    ['decoder', 'decoder_layers', config.decoderLayers],
  ] as const) {
    const inFile = layersInStore(store, `${prefix}${stack}.layers.`);
    if (inFile !== undefined && inFile !== layers) {
      throw new Error(
        `${what}: config.json says ${layers} layers ("${key}"), the checkpoint holds ${inFile} under "${prefix}${stack}.layers."`,
      );
    }
  }
  const missing: string[] = [];
  const take = (name: string, shape: number[], base = prefix): Tensor => {
    const full = base + name;
    if (!store.has(full)) {
      missing.push(full);
      return { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    }
    const actual = store.info(full).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new Error(
        `${what}: tensor "${full}" has shape [${actual.join(', ')}], expected [${shape.join(', ')}] from config.json`,
      );
    }
    const t = store.tensor(full);
    checkFinite(t, full, what);
    return t;
  };
  const H = config.hiddenSize;
  const V = config.vocabSize;
  const params = new Map<string, Tensor>();
  const linear = (name: string, base: string, outF: number, inF: number) => {
    params.set(`${name}.weight`, take(`${base}.weight`, [outF, inF]));
    params.set(`${name}.bias`, take(`${base}.bias`, [outF]));
  };
  const norm = (name: string, base: string) => {
    params.set(`${name}.gamma`, take(`${base}.weight`, [H]));
    params.set(`${name}.beta`, take(`${base}.bias`, [H]));
  };
  const attention = (x: string, base: string, names: readonly string[]) => {
    ['q_proj', 'k_proj', 'v_proj', 'out_proj'].forEach((proj, j) => {
      linear(`${x}.${names[j]}`, `${base}.${proj}`, H, H);
    });
  };

  const shared = take('shared.weight', [V, H]);
  params.set('encoder.embeddings.word', shared);
  params.set('decoder.embeddings.word', shared);
  for (const stack of ['encoder', 'decoder'] as const) {
    const layers = stack === 'encoder' ? config.encoderLayers : config.decoderLayers;
    const I = stack === 'encoder' ? config.encoderFfnSize : config.decoderFfnSize;
    const table = `${prefix}${stack}.embed_positions.weight`;
    if (store.has(table))
      checkSinusoidalTable(take(`${stack}.embed_positions.weight`, [config.maxPositions, H]), table, what);
    for (let i = 0; i < layers; i++) {
      const p = `${stack}.layers.${i}`;
      const x = `${stack}.layer.${i}`;
      attention(x, `${p}.self_attn`, ['query', 'key', 'value', 'attention_output']);
      norm(`${x}.attention_norm`, `${p}.self_attn_layer_norm`);
      if (stack === 'decoder') {
        attention(x, `${p}.encoder_attn`, ['cross_query', 'cross_key', 'cross_value', 'cross_output']);
        norm(`${x}.cross_norm`, `${p}.encoder_attn_layer_norm`);
      }
      linear(`${x}.intermediate`, `${p}.fc1`, I, H);
      linear(`${x}.output`, `${p}.fc2`, H, I);
      norm(`${x}.output_norm`, `${p}.final_layer_norm`);
    }
  }
  // lm_head and final_logits_bias sit outside the base model: never prefixed.
  params.set('lm_head.weight', config.tiedEmbeddings ? shared : take('lm_head.weight', [V, H], ''));
  const bias = take('final_logits_bias', [1, V], '');
  params.set('lm_head.bias', { shape: [V], data: bias.data });

  if (missing.length > 0) {
    const listed = missing.slice(0, MAX_LISTED).join(', ');
    const more = missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : '';
    throw new Error(
      `${what}: missing ${missing.length} tensor(s) required by ${config.architecture}: ${listed}${more}`,
    );
  }
  return params;
}

/** A stored position table must be transformers' sinusoidal one (the graph never reads it). */
function checkSinusoidalTable(t: Tensor, name: string, what: string): void {
  const [rows, dim] = t.shape;
  for (let pos = 0; pos < rows; pos++) {
    const want = sinusoidalRow(pos, dim);
    for (let c = 0; c < dim; c++) {
      if (Math.abs(t.data[pos * dim + c] - want[c]) > 1e-5) {
        throw new Error(
          `${what}: tensor "${name}" holds ${t.data[pos * dim + c]} at [${pos}, ${c}], not transformers' sinusoidal value ${want[c]}; learned positions are not supported`,
        );
      }
    }
  }
}
