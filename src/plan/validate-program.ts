/**
 * Checks an integer program that came from outside (a model file) before anything runs it: first
 * its structure (every field of the right type, closed objects, typed arrays of the right class and
 * length; src/core/schema.ts), then its meaning: tensors written once and before they are read,
 * each op's operands of the type and width its kernel takes, and every kernel's constants through
 * that kernel's own overflow proof. A failure names the op and field (`ops[7] gemm layer.0.qkv:
 * requant[3].m ...`).
 */

import {
  arrayOf,
  boolean,
  describe,
  fail,
  integer,
  object,
  oneOf,
  optional,
  positive,
  type Schema,
  SchemaError,
  string,
  typedArray,
} from '../core/schema.js';
import { checkEmbeddingConstants } from '../kernels/embedding-i8.js';
import { checkAccumulatorBound } from '../kernels/gemm-i8.js';
import { checkResidualAddBounds } from '../kernels/residual-add.js';
import { checkDyadic } from '../reference/dyadic.js';
import { checkGeluI8Constants } from '../reference/gelu-i8.js';
import { checkLayerNormI8Constants, checkWideOutputBound } from '../reference/layernorm-i8.js';
import { checkColumnMultipliers, dyadicTermBound, type ResidualOperand } from '../reference/residual-add.js';
import { checkSiluI8Constants } from '../reference/silu-i8.js';
import { softmaxI8Bounds } from '../reference/softmax-i8.js';
import { INT_PROGRAM_VERSION, type IntOp, type IntProgram, type IntTensor } from './int-program.js';

const int = integer();
const u32 = integer(0, 2 ** 32 - 1);
const dyadic = object({ m: integer(0, 2 ** 31 - 1), e: integer(0, 63) });
const dim: Schema = (v, path) => {
  if (typeof v === 'string') return oneOf('batch', 'query', 'key', 'source')(v, path);
  integer(1, 2 ** 24)(v, path);
};
const scale: Schema = (v, path) => {
  if (typeof v === 'number') return positive(v, path);
  typedArray(Float64Array, undefined, positive)(v, path);
};
const tensor = object({
  id: string,
  dtype: oneOf('i8', 'u8', 'wide', 'i32'),
  shape: arrayOf(dim),
  scale,
  bound: integer(0, 2 ** 31),
});
const layerNorm = object({
  H: integer(1, 2 ** 16),
  inputMaxAbs: int,
  shift: int,
  epsVar: int,
  channels: arrayOf(object({ m: int, e: int, negate: boolean, beta: int })),
});
const slice = object({ tensor: string, channel: integer(0, 2 ** 24) });

const OPS: Record<IntOp['kind'], Schema> = {
  embed: object({
    kind: string,
    out: string,
    tables: object({
      word: typedArray(Int8Array),
      position: typedArray(Int8Array),
      tokenType: optional(typedArray(Int8Array)),
      hidden: integer(1, 2 ** 16),
    }),
    constants: object({ word: dyadic, position: dyadic, tokenType: optional(dyadic), bits: integer(2, 31) }),
    tableScales: object({ word: positive, position: positive, tokenType: optional(positive) }),
  }),
  layernorm: object({
    kind: string,
    input: string,
    out: string,
    constants: layerNorm,
    outliers: optional(
      object({
        part: oneOf('smoothed', 'outliers'),
        channels: arrayOf(integer(0, 2 ** 16)),
        factors: arrayOf(positive),
        alpha: positive,
        relativeError: positive,
      }),
    ),
  }),
  gemm: object({
    kind: string,
    name: string,
    input: string,
    out: string,
    rows: oneOf('all', 'first'),
    N: integer(1, 2 ** 20),
    K: integer(1, 2 ** 20),
    weight: typedArray(Int8Array),
    bias: typedArray(Int32Array),
    weightScale: typedArray(Float64Array, undefined, positive),
    epilogue: oneOf('i8', 'gelu-i8', 'silu-i8', 'i32'),
    requant: optional(arrayOf(dyadic)),
    gelu: optional(object({ input: dyadic, clip: int, shift: int, corr: dyadic, output: dyadic })),
    silu: optional(
      object({
        input: dyadic,
        clip: int,
        ln2: int,
        b: int,
        c: int,
        shift: int,
        one: int,
        output: dyadic,
      }),
    ),
  }),
  attention: object({
    kind: string,
    q: slice,
    k: slice,
    v: slice,
    out: string,
    heads: integer(1, 1024),
    headDim: integer(4, 2 ** 12),
    causal: boolean,
    softmax: object({ rescale: dyadic, tMax: u32, ln2: u32, b: u32, c: u32, shift: integer(0, 31) }),
    context: dyadic,
    cache: optional(object({ layer: integer(0, 2 ** 16) })),
  }),
  residual: object({
    kind: string,
    a: string,
    b: string,
    out: string,
    constants: object({ scale: positive, bits: integer(2, 31), a: dyadic, b: dyadic }),
    operands: optional(object({ a: oneOf('i8', 'i32', 'i8m'), b: oneOf('i8', 'i32', 'i8m') })),
    bounds: optional(object({ a: optional(integer(0, 2 ** 31)), b: optional(integer(0, 2 ** 31)) })),
    multipliers: optional(object({ a: optional(typedArray(Int32Array)), b: optional(typedArray(Int32Array)) })),
  }),
  lookup: object({ kind: string, input: string, out: string, table: typedArray(Int8Array, 256) }),
  requantize: object({ kind: string, input: string, out: string, requant: dyadic }),
  pool: object({ kind: string, input: string, out: string, mode: oneOf('mean', 'cls') }),
};

const op: Schema = (v, path) => {
  const kind = (v as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(OPS, kind))
    fail(`${path}.kind`, `${describe(kind)} is not an op this runtime knows (${Object.keys(OPS).join(', ')})`);
  OPS[kind as IntOp['kind']](v, path);
};

const programSchema = object({
  version: integer(INT_PROGRAM_VERSION, INT_PROGRAM_VERSION),
  kind: oneOf('encoder', 'decoder', 'encoder-decoder'),
  tensors: arrayOf(tensor),
  ops: arrayOf(op),
  output: object({
    tensor: string,
    kind: oneOf('logits', 'pooled', 'token-logits', 'lm-logits'),
    scale: typedArray(Float64Array, undefined, positive),
    rescale: optional(object({ scale: positive, requant: arrayOf(dyadic), maxAbs: integer(0, 2 ** 31 - 1) })),
  }),
  maxPositions: integer(1, 2 ** 16),
});

function maxAbs(values: Int32Array): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

/** The meaning of each op, once the structure is known to be right. */
function checkOps(p: IntProgram): void {
  const tensors = new Map<string, IntTensor>();
  p.tensors.forEach((t, i) => {
    if (tensors.has(t.id)) fail(`tensors[${i}]`, `tensor "${t.id}" is declared twice`);
    if (typeof t.shape[t.shape.length - 1] !== 'number')
      fail(`tensors[${i}].shape`, 'the last dimension must be a number');
    tensors.set(t.id, t);
  });
  const written = new Set<string>();
  const cacheLayers = new Set<number>();
  p.ops.forEach((o, i) => {
    const where = `ops[${i}] ${o.kind}${'name' in o ? ` ${o.name}` : ''}`;
    const t = (id: string, dtypes: IntTensor['dtype'][], role: string, write = false): IntTensor => {
      const x = tensors.get(id);
      if (!x) fail(where, `${role} "${id}" is not a declared tensor`);
      if (!dtypes.includes(x.dtype)) fail(where, `${role} "${id}" is ${x.dtype}; this op takes ${dtypes.join(' or ')}`);
      if (write) {
        if (written.has(id)) fail(where, `writes "${id}", which an earlier op wrote`);
        written.add(id);
      } else if (!written.has(id)) fail(where, `reads "${id}" before any op writes it`);
      return x;
    };
    const width = (x: IntTensor) => x.shape[x.shape.length - 1] as number;
    const guard = (f: () => void) => {
      try {
        f();
      } catch (e) {
        if (e instanceof SchemaError) throw e;
        fail(where, (e as Error).message);
      }
    };
    switch (o.kind) {
      case 'embed': {
        const out = t(o.out, ['wide'], 'output', true);
        const H = o.tables.hidden;
        if (width(out) !== H) fail(where, `tables are ${H} wide, output "${o.out}" ${width(out)}`);
        for (const [name, table] of [
          ['word', o.tables.word],
          ['position', o.tables.position],
          ['tokenType', o.tables.tokenType],
        ] as const) {
          if (table && (table.length === 0 || table.length % H !== 0))
            fail(`${where}.tables.${name}`, `${table.length} values is not a whole number of ${H}-wide rows`);
        }
        if (o.tables.position.length / H < p.maxPositions)
          fail(where, `the position table has ${o.tables.position.length / H} rows for ${p.maxPositions} positions`);
        if (!!o.tables.tokenType !== !!o.constants.tokenType)
          fail(where, 'the token-type table and its multiplier must both be present or both absent');
        guard(() => checkEmbeddingConstants({ tokenTypes: !!o.tables.tokenType }, o.constants));
        break;
      }
      case 'layernorm': {
        const x = t(o.input, ['wide'], 'input');
        // int8, or the wide stream saturated at the output's declared bound (layerNormWideRef).
        const out = t(o.out, ['i8', 'wide'], 'output', true);
        if (out.dtype === 'wide') guard(() => checkWideOutputBound(out.bound, `bound of the wide output "${o.out}"`));
        if (o.constants.H !== width(x) || o.constants.H !== width(out) || o.constants.channels.length !== o.constants.H)
          fail(
            where,
            `constants for H = ${o.constants.H} (${o.constants.channels.length} channels) on a ${width(x)}-wide input`,
          );
        guard(() => checkLayerNormI8Constants(o.constants));
        // The kernel's proof assumes its declared input bound: it must cover what the producer proves.
        if (o.constants.inputMaxAbs < x.bound)
          fail(
            `${where}.constants.inputMaxAbs`,
            `${o.constants.inputMaxAbs} is below the proven bound ${x.bound} of its input "${o.input}"`,
          );
        // epsVar = round(H eps / (s_in^2 4^shift)): the epsilon it implies must be one a config may hold, (0, 0.1].
        if (typeof x.scale === 'number') {
          const eps = (o.constants.epsVar * x.scale * x.scale * 4 ** o.constants.shift) / o.constants.H;
          const most = Math.round((o.constants.H * 0.1) / (x.scale * x.scale * 4 ** o.constants.shift)) + 1;
          if (o.constants.epsVar > most)
            fail(
              `${where}.constants.epsVar`,
              `${o.constants.epsVar} means a LayerNorm epsilon of ${eps.toExponential(3)}, above 0.1`,
            );
        }
        break;
      }
      case 'residual': {
        const kinds = o.operands ?? { a: 'i8', b: 'i8' };
        // An 'i32' operand is the wide stream or an int32 tensor: its declared bound is what the term proof uses.
        const dtype = (k: ResidualOperand): IntTensor['dtype'][] => (k === 'i32' ? ['wide', 'i32'] : ['i8']);
        const [a, b] = [t(o.a, dtype(kinds.a), 'operand a'), t(o.b, dtype(kinds.b), 'operand b')];
        const out = t(o.out, ['wide'], 'output', true);
        if (width(a) !== width(out) || width(b) !== width(out)) fail(where, 'operands and output differ in width');
        for (const side of ['a', 'b'] as const) {
          const declared = o.bounds?.[side];
          const x = side === 'a' ? a : b;
          const m = o.multipliers?.[side];
          if (kinds[side] !== 'i8m' && m)
            fail(
              `${where}.multipliers.${side}`,
              `operand ${side} is ${kinds[side]}; only an 'i8m' operand has multipliers`,
            );
          if (kinds[side] === 'i8m') {
            if (!m) fail(`${where}.multipliers.${side}`, `the 'i8m' operand "${x.id}" needs its column multipliers`);
            let most = 0;
            guard(() => {
              most = checkColumnMultipliers(m, width(x), `operand ${side}`);
            });
            if (declared === undefined || declared < most)
              fail(
                `${where}.bounds.${side}`,
                `"${x.id}" times its multipliers is bounded by ${most}; declare at least that`,
              );
          }
          if (kinds[side] === 'i32' && (declared === undefined || declared < x.bound))
            fail(
              `${where}.bounds.${side}`,
              `the wide operand "${x.id}" is bounded by ${x.bound}; declare at least that`,
            );
        }
        guard(() => checkResidualAddBounds(kinds, o.constants, o.bounds ?? {}));
        break;
      }
      case 'requantize': {
        const x = t(o.input, ['wide'], 'input');
        const out = t(o.out, ['i8'], 'output', true);
        if (width(x) !== width(out)) fail(where, 'input and output differ in width');
        guard(() => checkDyadic(o.requant, 'requant'));
        break;
      }
      case 'lookup': {
        const x = t(o.input, ['i8'], 'input');
        const out = t(o.out, ['i8'], 'output', true);
        if (width(x) !== width(out)) fail(where, 'input and output differ in width');
        break;
      }
      case 'pool': {
        const x = t(o.input, ['i8'], 'input');
        const out = t(o.out, ['i32'], 'output', true);
        if (width(out) !== width(x) + 1)
          fail(where, `output "${o.out}" must be ${width(x) + 1} wide (sums and the token count)`);
        break;
      }
      case 'gemm': {
        const x = t(o.input, ['i8'], 'input');
        const out = t(o.out, o.epilogue === 'i32' ? ['i32'] : ['i8'], 'output', true);
        if (width(x) !== o.K || width(out) !== o.N)
          fail(where, `${o.N}x${o.K} weights between a ${width(x)}-wide input and a ${width(out)}-wide output`);
        if (o.weight.length !== o.N * o.K) fail(`${where}.weight`, `${o.weight.length} values for ${o.N}x${o.K}`);
        if (o.bias.length !== o.N || o.weightScale.length !== o.N)
          fail(where, `bias and weight scales need ${o.N} values`);
        if (o.rows === 'first' && x.shape.length !== 3) fail(where, 'first-token rows need a token tensor as input');
        if (o.epilogue === 'i32') {
          if (o.requant || o.gelu || o.silu)
            fail(where, 'an int32 output takes no requantization, GELU or SiLU constants');
        } else {
          if (!o.requant || o.requant.length !== o.N) fail(`${where}.requant`, `expected ${o.N} multipliers`);
          o.requant.forEach((d, c) => guard(() => checkDyadic(d, `requant[${c}]`)));
          if ((o.epilogue === 'gelu-i8') !== !!o.gelu)
            fail(where, 'GELU constants go with exactly the gelu-i8 epilogue');
          if (o.gelu) guard(() => checkGeluI8Constants(o.gelu!));
          if ((o.epilogue === 'silu-i8') !== !!o.silu)
            fail(where, 'SiLU constants go with exactly the silu-i8 epilogue');
          if (o.silu) guard(() => checkSiluI8Constants(o.silu!));
        }
        guard(() => checkAccumulatorBound(o.K, maxAbs(o.bias), false, o.name));
        break;
      }
      case 'attention': {
        const H = o.heads * o.headDim;
        if (o.headDim % 4 !== 0) fail(where, `head size ${o.headDim} is not a multiple of 4`);
        for (const [role, s] of [
          ['q', o.q],
          ['k', o.k],
          ['v', o.v],
        ] as const) {
          const x = t(s.tensor, ['i8'], role);
          if (s.channel % 4 !== 0 || s.channel + H > width(x))
            fail(
              `${where}.${role}`,
              `channels ${s.channel}..${s.channel + H} do not fit whole words of "${s.tensor}" (${width(x)} wide)`,
            );
        }
        const out = t(o.out, ['i8'], 'output', true);
        if (width(out) !== H) fail(where, `output "${o.out}" must be ${H} wide`);
        // Queries and output share their rows, keys and values theirs (an encoder-decoder's source).
        const rows = (id: string) => tensors.get(id)!.shape.slice(0, -1).join(',');
        if (rows(o.q.tensor) !== rows(o.out))
          fail(where, `queries "${o.q.tensor}" and output "${o.out}" must have the same rows`);
        if (rows(o.k.tensor) !== rows(o.v.tensor))
          fail(where, `keys "${o.k.tensor}" and values "${o.v.tensor}" must have the same rows`);
        if (o.causal && rows(o.k.tensor) !== rows(o.q.tensor))
          fail(where, 'causal attention needs keys over the same positions as its queries');
        guard(() => softmaxI8Bounds(o.softmax, p.maxPositions));
        guard(() => checkDyadic(o.context, 'context requant'));
        if (o.cache) {
          if (!o.causal) fail(`${where}.cache`, 'only causal self-attention keeps a KV cache');
          if (o.k.tensor !== o.q.tensor || o.v.tensor !== o.q.tensor)
            fail(`${where}.cache`, 'cached K and V must be slices of the fused q|k|v tensor');
          if (cacheLayers.has(o.cache.layer)) fail(`${where}.cache.layer`, `cache slot ${o.cache.layer} is used twice`);
          cacheLayers.add(o.cache.layer);
        }
        break;
      }
    }
  });
  const out = tensors.get(p.output.tensor);
  if (!out || !written.has(out.id)) fail('output.tensor', `"${p.output.tensor}" is not a tensor the program writes`);
  if (out.dtype !== 'i32') fail('output.tensor', `"${out.id}" is ${out.dtype}; the read-back is int32`);
  const want = p.output.kind === 'pooled' ? 1 : (out.shape[out.shape.length - 1] as number);
  const perToken = p.output.kind === 'token-logits' || p.output.kind === 'lm-logits';
  if (perToken !== (out.shape.length === 3))
    fail('output.tensor', `${p.output.kind} "${out.id}" of shape [${out.shape.join(', ')}]`);
  if (p.output.scale.length !== want) fail('output.scale', `${p.output.scale.length} scales, expected ${want}`);
  if (cacheLayers.size > 0 && [...cacheLayers].some((l) => l >= cacheLayers.size))
    fail('ops', `cache slots ${[...cacheLayers].join(', ')} are not 0..${cacheLayers.size - 1}`);
  if ((p.output.kind === 'lm-logits') !== !!p.output.rescale)
    fail('output.rescale', 'LM logits, and only they, carry the common-scale rescale');
  const rescale = p.output.rescale;
  if (rescale) {
    if (rescale.requant.length !== want)
      fail('output.rescale.requant', `${rescale.requant.length} multipliers for ${want} logits`);
    const head = p.ops.find((o) => o.kind === 'gemm' && o.out === out.id);
    if (head?.kind !== 'gemm') fail('output.rescale', `the LM logits "${out.id}" are not a GEMM's output`);
    // The int32 proof: every rescaled accumulator of the head stays within int32.
    const acc = head.K * 128 * 128 + maxAbs(head.bias);
    rescale.requant.forEach((d, c) => {
      guard0(`output.rescale.requant[${c}]`, () => checkDyadic(d, 'logit rescale'));
      if (dyadicTermBound(acc, d) > 2 ** 31 - 1)
        fail(`output.rescale.requant[${c}]`, `|acc| <= ${acc} rescales past int32`);
    });
  }
}

function guard0(where: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    if (e instanceof SchemaError) throw e;
    fail(where, (e as Error).message);
  }
}

/** Throws a SchemaError naming the first problem, prefixed by `what` (the file). */
export function validateProgram(program: unknown, what: string): asserts program is IntProgram {
  try {
    programSchema(program, 'program');
    checkOps(program as IntProgram);
  } catch (e) {
    if (e instanceof SchemaError) throw new SchemaError(`${what}: ${e.message}`);
    throw e;
  }
}
