/**
 * The ONNX graph of a BertForSequenceClassification (or, for the token-classification tests, a
 * BertForTokenClassification: the classifier on every token, logits [batch, sequence, labels]; a
 * model without token types, DistilBERT-shaped, has no token_type_ids input), with the weights of one of this project's
 * EncoderModels: the same computation as the float model (exact-erf GELU, LayerNorm, first-token
 * tanh pooler, classifier), in the layout of the shared ONNX twins (inputs input_ids,
 * attention_mask, token_type_ids as int64 [batch, sequence]; output logits [batch, labels]; linear
 * weights kept [out, in] behind a Transpose, which onnxruntime folds once at session creation).
 */
import type { EncoderModel, Tensor } from '../src/core/types.js';
import type { TensorToWrite } from '../src/model/safetensors-write.js';
import {
  DataType,
  float32Bytes,
  int64Bytes,
  type OnnxGraph,
  type OnnxInitializer,
  type OnnxNode,
  type OnnxTensorData,
} from './onnx-writer.js';

/** Every weight of a BERT classifier under its Hugging Face name, in a stable order. */
export function bertTensors(model: EncoderModel): [string, Tensor][] {
  const { config, weights: w } = model;
  const sequence = config.task === 'sequence-classification' && !!w.head?.dense && !!w.tokenTypeEmbeddings;
  const tokens = config.task === 'token-classification' && !!w.head && !w.head.dense;
  if (config.family === 'roberta' || !(sequence || tokens)) {
    throw new Error(
      `bertTensors: only BERT sequence classifiers with a pooler, or BERT / DistilBERT token classifiers (got ${config.architecture})`,
    );
  }
  const out: [string, Tensor][] = [
    ['bert.embeddings.word_embeddings.weight', w.wordEmbeddings],
    ['bert.embeddings.position_embeddings.weight', w.positionEmbeddings],
  ];
  if (w.tokenTypeEmbeddings) out.push(['bert.embeddings.token_type_embeddings.weight', w.tokenTypeEmbeddings]);
  out.push(
    ['bert.embeddings.LayerNorm.weight', w.embeddingNorm.gamma],
    ['bert.embeddings.LayerNorm.bias', w.embeddingNorm.beta],
  );
  w.layers.forEach((l, i) => {
    const p = `bert.encoder.layer.${i}`;
    const linear = (name: string, lin: { weight: Tensor; bias: Tensor }) =>
      out.push([`${p}.${name}.weight`, lin.weight], [`${p}.${name}.bias`, lin.bias]);
    const norm = (name: string, n: { gamma: Tensor; beta: Tensor }) =>
      out.push([`${p}.${name}.weight`, n.gamma], [`${p}.${name}.bias`, n.beta]);
    linear('attention.self.query', l.query);
    linear('attention.self.key', l.key);
    linear('attention.self.value', l.value);
    linear('attention.output.dense', l.attentionOutput);
    norm('attention.output.LayerNorm', l.attentionNorm);
    linear('intermediate.dense', l.intermediate);
    linear('output.dense', l.output);
    norm('output.LayerNorm', l.outputNorm);
  });
  const head = w.head!;
  if (head.dense)
    out.push(['bert.pooler.dense.weight', head.dense.weight], ['bert.pooler.dense.bias', head.dense.bias]);
  out.push(['classifier.weight', head.output.weight], ['classifier.bias', head.output.bias]);
  return out;
}

/** The same weights as safetensors entries (what `writeSafetensors` takes), stored as `dtype`. */
export function bertSafetensors(model: EncoderModel, dtype: 'F32' | 'F16' = 'F32'): TensorToWrite[] {
  return bertTensors(model).map(([name, t]) => ({ name, dtype, shape: t.shape, data: t.data }));
}

/**
 * The graph; `dataOf(name)` says where each weight's float32 bytes are (inside the model, or at
 * an offset of an external file such as ../model.safetensors).
 */
export function bertOnnxGraph(
  model: EncoderModel,
  dataOf: (name: string, tensor: Tensor) => OnnxTensorData,
): OnnxGraph {
  const { config } = model;
  const H = config.hiddenSize;
  const heads = config.numHeads;
  const headDim = H / heads;
  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = bertTensors(model).map(([name, t]) => ({
    name,
    dataType: DataType.FLOAT,
    dims: t.shape,
    data: dataOf(name, t),
  }));
  const constant = (
    name: string,
    dataType: typeof DataType.FLOAT | typeof DataType.INT64,
    dims: number[],
    values: number[],
  ) => {
    initializers.push({
      name,
      dataType,
      dims,
      data: { raw: dataType === DataType.INT64 ? int64Bytes(values) : float32Bytes(values) },
    });
    return name;
  };
  let counter = 0;
  /** Appends a node and returns its (fresh) output name. */
  const op = (type: string, inputs: string[], attributes?: OnnxNode['attributes']): string => {
    const output = `${type.toLowerCase()}_${counter++}`;
    nodes.push({ op: type, inputs, outputs: [output], attributes });
    return output;
  };

  const one = constant('const_one', DataType.FLOAT, [], [1]);
  const half = constant('const_half', DataType.FLOAT, [], [0.5]);
  const sqrt2 = constant('const_sqrt2', DataType.FLOAT, [], [Math.SQRT2]);
  const scoreScale = constant('const_score_scale', DataType.FLOAT, [], [1 / Math.sqrt(headDim)]);
  // Masked keys get -1e9 before the softmax: exp underflows to exactly 0, as if they were absent.
  const maskFill = constant('const_mask_fill', DataType.FLOAT, [], [-1e9]);
  const i64 = (name: string, values: number[]) => constant(name, DataType.INT64, [values.length], values);
  const splitShape = i64('const_split_heads_shape', [0, 0, heads, headDim]);
  const mergeShape = i64('const_merge_heads_shape', [0, 0, H]);
  const firstToken = constant('const_first_token', DataType.INT64, [], [0]);

  const layerNorm = (x: string, base: string) =>
    op('LayerNormalization', [x, `${base}.weight`, `${base}.bias`], {
      axis: -1,
      epsilon: { float: config.layerNormEps },
    });
  const linear = (x: string, base: string) =>
    op('Add', [op('MatMul', [x, op('Transpose', [`${base}.weight`], { perm: [1, 0] })]), `${base}.bias`]);

  // Embeddings: word + position (the first S rows) + token type, then LayerNorm.
  const seqLen = op('Slice', [op('Shape', ['input_ids']), i64('const_1', [1]), i64('const_2', [2])]);
  const positions = op('Slice', [
    'bert.embeddings.position_embeddings.weight',
    i64('const_0', [0]),
    seqLen,
    i64('const_axis0', [0]),
  ]);
  const words = op('Gather', ['bert.embeddings.word_embeddings.weight', 'input_ids'], { axis: 0 });
  const typed = !!model.weights.tokenTypeEmbeddings;
  let sum = op('Add', [words, positions]);
  if (typed)
    sum = op('Add', [
      sum,
      op('Gather', ['bert.embeddings.token_type_embeddings.weight', 'token_type_ids'], { axis: 0 }),
    ]);
  let x = layerNorm(sum, 'bert.embeddings.LayerNorm');

  // Additive mask [B, 1, 1, S]: 0 for real tokens, -1e9 for padding.
  const maskFloat = op('Cast', ['attention_mask'], { to: DataType.FLOAT });
  const additiveMask = op('Unsqueeze', [
    op('Mul', [op('Sub', [one, maskFloat]), maskFill]),
    i64('const_axes12', [1, 2]),
  ]);

  for (let i = 0; i < config.numLayers; i++) {
    const p = `bert.encoder.layer.${i}`;
    const heads4 = (t: string, perm: number[]) => op('Transpose', [op('Reshape', [t, splitShape])], { perm });
    const q = heads4(linear(x, `${p}.attention.self.query`), [0, 2, 1, 3]); // [B, h, S, d]
    const kT = heads4(linear(x, `${p}.attention.self.key`), [0, 2, 3, 1]); // [B, h, d, S]
    const v = heads4(linear(x, `${p}.attention.self.value`), [0, 2, 1, 3]); // [B, h, S, d]
    const scores = op('Add', [op('Mul', [op('MatMul', [q, kT]), scoreScale]), additiveMask]);
    const context = op('MatMul', [op('Softmax', [scores], { axis: -1 }), v]);
    const merged = op('Reshape', [op('Transpose', [context], { perm: [0, 2, 1, 3] }), mergeShape]);
    x = layerNorm(op('Add', [linear(merged, `${p}.attention.output.dense`), x]), `${p}.attention.output.LayerNorm`);
    const pre = linear(x, `${p}.intermediate.dense`);
    // Exact GELU: x * 0.5 * (1 + erf(x / sqrt 2)).
    const gelu = op('Mul', [op('Mul', [pre, op('Add', [op('Erf', [op('Div', [pre, sqrt2])]), one])]), half]);
    x = layerNorm(op('Add', [linear(gelu, `${p}.output.dense`), x]), `${p}.output.LayerNorm`);
  }

  const perToken = config.task === 'token-classification';
  if (perToken) {
    // The classifier on every token.
    const w = op('Transpose', ['classifier.weight'], { perm: [1, 0] });
    nodes.push({ op: 'Add', inputs: [op('MatMul', [x, w]), 'classifier.bias'], outputs: ['logits'] });
  } else {
    // Pooler on the first token, tanh, then the classifier.
    const first = op('Gather', [x, firstToken], { axis: 1 });
    const pooled = op('Tanh', [
      op('Gemm', [first, 'bert.pooler.dense.weight', 'bert.pooler.dense.bias'], { transB: 1 }),
    ]);
    nodes.push({
      op: 'Gemm',
      inputs: [pooled, 'classifier.weight', 'classifier.bias'],
      outputs: ['logits'],
      attributes: { transB: 1 },
    });
  }

  const tokens = { dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] } as const;
  const names = typed ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'];
  const L = config.labels.length;
  return {
    name: perToken ? 'bert_token_classification' : 'bert_sequence_classification',
    nodes,
    initializers,
    inputs: names.map((name) => ({ name, ...tokens, shape: [...tokens.shape] })),
    outputs: [
      {
        name: 'logits',
        dataType: DataType.FLOAT,
        shape: perToken ? ['batch_size', 'sequence_length', L] : ['batch_size', L],
      },
    ],
  };
}
