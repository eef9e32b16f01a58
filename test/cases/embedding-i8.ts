/**
 * Int8 embedding cases checked bit for bit against the CPU reference, with and without token-type
 * tables, with the error against the float sum of the three scaled rows measured on every case
 * with valid ids. One case hands the shader out-of-range ids on purpose (bypassing the host check)
 * to exercise its guard. Shared by the Node tests and the browser page.
 */
import type { Gpu } from '../../src/gpu/gpu.js';
import { type BoundProgram, submitPrograms } from '../../src/gpu/program.js';
import { bindEmbeddingI8, type EmbeddingI8Shape, embeddingIdsBuffer } from '../../src/kernels/embedding-i8.js';
import { packRows } from '../../src/quant/pack.js';
import type { Dyadic } from '../../src/reference/dyadic.js';
import {
  type EmbeddingConstants,
  type EmbeddingIds,
  type EmbeddingTables,
  embeddingErrorBound,
  embeddingI8Ref,
  planEmbedding,
} from '../../src/reference/embedding-i8.js';
import { PLANNED_RATIO_PRECISION } from '../../src/reference/requantize.js';
import { signedRange } from '../../src/reference/residual-add.js';
import { Random } from '../../src/util/random.js';
import { ELEMENTWISE_COLS, EXTREME_M, FLOAT_SLACK } from './requantize.js';
import type { AccuracyReport, CheckResult, CheckSuite } from './suite.js';

type Values = 'typical' | 'saturating' | 'extreme' | 'bad-ids';

export interface EmbeddingCase {
  name: string;
  tokens: number;
  hidden: number;
  tokenTypes: boolean;
  bits: number;
  values: Values;
  seed: number;
}

const VOCAB = 53;
const POSITIONS = 40;
const TYPES = 2;
/** Three roundings of spread-out fractions: the mean |error| is about 0.4 step (0.33 for two); asserted on large random cases. */
const MEAN_BOUND = 0.5;
const MEAN_MIN_ELEMENTS = 1024;

export function embeddingCases(): EmbeddingCase[] {
  const cases: EmbeddingCase[] = [];
  let seed = 5000;
  const add = (c: Omit<EmbeddingCase, 'name' | 'seed'>) =>
    cases.push({
      ...c,
      seed: seed++,
      name: `${c.tokens} tokens x ${c.hidden} ${c.tokenTypes ? 'word+pos+type' : 'word+pos'} -> ${c.bits} bits ${c.values}`,
    });
  ELEMENTWISE_COLS.forEach((hidden, i) => {
    const tokens = [45, 19, 9, 7, 5, 3, 3, 2][i];
    add({ tokens, hidden, tokenTypes: true, bits: 22, values: 'typical' });
    add({ tokens, hidden, tokenTypes: false, bits: 16, values: 'typical' });
  });
  for (const tokenTypes of [true, false]) {
    add({ tokens: 9, hidden: 200, tokenTypes, bits: 16, values: 'saturating' });
    add({ tokens: 6, hidden: 13, tokenTypes, bits: 8, values: 'saturating' });
    add({ tokens: 5, hidden: 13, tokenTypes, bits: 31, values: 'extreme' });
    add({ tokens: 2, hidden: 3, tokenTypes, bits: 22, values: 'extreme' });
    add({ tokens: 24, hidden: 13, tokenTypes, bits: 22, values: 'bad-ids' });
  }
  return cases;
}

interface Plan {
  constants: EmbeddingConstants;
  /** Real ratios S_k / S, in table order (word, position, type). */
  ratios: number[];
  /** What the error bound allows for |m_k / 2^e_k - ratio_k|: the planner's precision, or 0 for exact corners. */
  deltas: number[];
}

interface Prepared {
  tables: EmbeddingTables;
  ids: EmbeddingIds & { token: number[]; position: number[]; tokenType?: number[] };
  plans: Plan[];
}

function table(rng: Random, rows: number, hidden: number, values: Values): Int8Array {
  if (values !== 'extreme') return rng.int8Array(rows * hidden);
  const corners = [-128, 127, 0, -1, 1, -127];
  const out = new Int8Array(rows * hidden);
  for (let i = 0; i < out.length; i++)
    out[i] = i % 5 === 4 ? rng.int(-128, 127) : corners[(i * 5 + Math.floor(i / hidden)) % corners.length];
  return out;
}

/** m <= 2^(22 + e) keeps round(128 m / 2^e) <= 2^29, the largest multiplier the host accepts. */
function legal(m: number, e: number): Dyadic {
  return { m: Math.min(m, 2 ** (22 + e)), e };
}

function prepare(c: EmbeddingCase): Prepared {
  const rng = new Random(c.seed);
  const tables: EmbeddingTables = {
    word: table(rng, VOCAB, c.hidden, c.values),
    position: table(rng, POSITIONS, c.hidden, c.values),
    tokenType: c.tokenTypes ? table(rng, TYPES, c.hidden, c.values) : undefined,
    hidden: c.hidden,
  };
  const ids: Prepared['ids'] = {
    token: Array.from({ length: c.tokens }, () => rng.int(0, VOCAB - 1)),
    // Positions of consecutive sequences, as a batch of flattened sequences would have them.
    position: Array.from({ length: c.tokens }, (_, i) => i % Math.min(POSITIONS, 1 + (c.seed % 17))),
    tokenType: c.tokenTypes ? Array.from({ length: c.tokens }, () => rng.int(0, TYPES - 1)) : undefined,
  };
  if (c.values === 'bad-ids') {
    // Every table gets in-range, boundary and far out-of-range ids, independently per token.
    const bad = (rows: number, i: number) => [0, rows - 1, rows, rows + 1, 2 ** 31, 2 ** 32 - 1, 7 % rows][i % 7];
    ids.token = ids.token.map((_, i) => bad(VOCAB, i));
    ids.position = ids.position.map((_, i) => bad(POSITIONS, i + 2));
    if (ids.tokenType) ids.tokenType = ids.tokenType.map((_, i) => bad(TYPES, i + 5));
  }
  if (c.values === 'extreme') {
    const plans: Plan[] = [];
    for (let e = 0; e < 64; e++) {
      const constants: EmbeddingConstants = {
        bits: c.bits,
        word: legal(EXTREME_M[e % EXTREME_M.length], e),
        position: legal(EXTREME_M[(e + 3) % EXTREME_M.length], 63 - e),
        tokenType: c.tokenTypes ? legal(EXTREME_M[(e + 5) % EXTREME_M.length], (e * 7) % 64) : undefined,
      };
      const ds = [constants.word, constants.position, constants.tokenType].filter((d): d is Dyadic => !!d);
      plans.push({ constants, ratios: ds.map((d) => d.m / 2 ** d.e), deltas: ds.map(() => 0) });
    }
    return { tables, ids, plans };
  }
  const scales = [0.02, 0.01, 0.005].map((s) => s * 10 ** rng.next()).slice(0, c.tokenTypes ? 3 : 2);
  const worst = 128 * scales.reduce((s, v) => s + v, 0);
  const plan = planEmbedding({
    wordScale: scales[0],
    positionScale: scales[1],
    tokenTypeScale: c.tokenTypes ? scales[2] : undefined,
    bits: c.bits,
    // 'saturating' maps a fifth of the worst case onto the output range: both ends clip.
    range: c.values === 'saturating' ? 0.2 * worst : undefined,
  });
  const ratios = scales.map((s) => s / plan.scale);
  return { tables, ids, plans: [{ constants: plan, ratios, deltas: ratios.map((r) => r * PLANNED_RATIO_PRECISION) }] };
}

export async function runEmbeddingCase(gpu: Gpu, c: EmbeddingCase): Promise<CheckResult> {
  const p = prepare(c);
  const { hidden, tokens } = c;
  const shape: EmbeddingI8Shape = {
    tokens,
    hidden,
    vocab: VOCAB,
    positions: POSITIONS,
    types: c.tokenTypes ? TYPES : undefined,
  };
  const ids = (values: ArrayLike<number>, rows: number, what: string) =>
    // The bad-ids case skips the host check on purpose: it tests the shader's guard.
    c.values === 'bad-ids'
      ? gpu.storage(`${what} ids`, Uint32Array.from(values))
      : embeddingIdsBuffer(gpu, values, rows, what);
  const buffers = {
    word: gpu.storage('word table', packRows(p.tables.word, VOCAB, hidden)),
    position: gpu.storage('position table', packRows(p.tables.position, POSITIONS, hidden)),
    tokenType: p.tables.tokenType ? gpu.storage('type table', packRows(p.tables.tokenType, TYPES, hidden)) : undefined,
    tokenIds: ids(p.ids.token, VOCAB, 'token'),
    positionIds: ids(p.ids.position, POSITIONS, 'position'),
    tokenTypeIds: p.ids.tokenType ? ids(p.ids.tokenType, TYPES, 'token-type') : undefined,
  };
  const n = tokens * hidden;
  const outputs = p.plans.map(() => gpu.storage('out', new Int32Array(n).fill(0x5a5a5a5a)));
  const programs: BoundProgram[] = [];
  const measure = c.values !== 'bad-ids';
  let mismatches = 0;
  let firstMismatch: string | undefined;
  let maxAbs = 0;
  let sum = 0;
  let maxBound = 0;
  try {
    for (let k = 0; k < p.plans.length; k++) {
      programs.push(
        await bindEmbeddingI8(gpu, { tokenTypes: c.tokenTypes }, shape, p.plans[k].constants, {
          ...buffers,
          output: outputs[k],
        }),
      );
    }
    submitPrograms(gpu, programs);
    for (let k = 0; k < p.plans.length; k++) {
      const { constants, ratios, deltas } = p.plans[k];
      const got = new Int32Array(await gpu.read(outputs[k]));
      const want = embeddingI8Ref(p.tables, p.ids, constants);
      const [lo, hi] = signedRange(constants.bits);
      for (let i = 0; i < n; i++) {
        const t = Math.floor(i / hidden);
        const h = i % hidden;
        if (got[i] !== want[i]) {
          mismatches++;
          firstMismatch ??= `plan ${k} token ${t} (ids ${p.ids.token[t]}, ${p.ids.position[t]}, ${p.ids.tokenType?.[t]}) h ${h}: got ${got[i]}, want ${want[i]}`;
        }
        if (measure) {
          const x = [p.tables.word[p.ids.token[t] * hidden + h], p.tables.position[p.ids.position[t] * hidden + h]];
          if (p.tables.tokenType && p.ids.tokenType) x.push(p.tables.tokenType[p.ids.tokenType[t] * hidden + h]);
          const real = x.reduce((s, v, j) => s + v * ratios[j], 0);
          const err = Math.abs(got[i] - Math.min(hi, Math.max(lo, real)));
          maxAbs = Math.max(maxAbs, err);
          sum += err;
          maxBound = Math.max(maxBound, embeddingErrorBound(x, deltas));
        }
      }
    }
  } finally {
    for (const pr of programs) pr.destroy();
    for (const b of [...Object.values(buffers), ...outputs]) b?.destroy();
  }
  const elements = n * p.plans.length;
  let accuracy: AccuracyReport | undefined;
  if (measure) {
    maxBound += FLOAT_SLACK;
    const statistical = elements >= MEAN_MIN_ELEMENTS && c.values !== 'extreme';
    accuracy = {
      unit: 'output steps',
      maxAbs,
      meanAbs: sum / elements,
      maxBound,
      meanBound: statistical ? MEAN_BOUND : maxBound,
    };
  }
  return { name: c.name, elements, mismatches, firstMismatch, accuracy };
}

export const suite: CheckSuite = {
  name: 'int8 embedding',
  cases: () => embeddingCases().map((c) => ({ name: c.name, run: (gpu) => runEmbeddingCase(gpu, c) })),
};
