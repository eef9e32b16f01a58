/**
 * The generation benchmark's pure logic (bench/generate-plan.ts, bench/generate-report.ts): which
 * cells run where, prompts that survive a text round trip, prefill and step times from streamed
 * token timestamps, the attention / rest split of decode kernels. No timing is measured here.
 */
import { describe, expect, it } from 'vitest';
import {
  exactPrompts,
  fitLine,
  isAttentionKernel,
  kernelSplit,
  planCells,
  powersOfTwo,
  stepTimings,
} from '../bench/generate-plan.js';
import { agreement, cellFigures } from '../bench/generate-report.js';

const ALL = ['int8', 'fp32', 'tjs-webgpu', 'tjs-wasm'] as const;
const SHARED = { name: 'shared', positions: 128, peers: true };
const RANDOM = { name: 'random', positions: 1024, peers: false, fallback: true };

describe('planCells', () => {
  it('runs what fits the shared model there with peers, and only the rest on the fallback model, without peers', () => {
    const { cells, unfit } = planCells([SHARED, RANDOM], {
      prompts: [16, 128],
      batches: [1, 8],
      newTokens: 32,
      runtimes: [...ALL],
    });
    expect(cells.map((c) => `${c.model} ${c.promptLen} ${c.batch}`)).toEqual([
      'shared 16 1',
      'shared 16 8',
      'random 128 1',
      'random 128 8',
    ]);
    expect(cells[0].runtimes).toEqual([...ALL]);
    expect(cells[2].runtimes).toEqual(['int8', 'fp32']);
    // 128 + 32 - 1 = 159 positions do not fit 128; the reason names the numbers.
    expect(unfit).toHaveLength(2);
    expect(unfit[0].reason).toMatch(/prompt 128 \+ 32 new tokens need 159 positions; shared has 128/);
  });

  it('fits exactly at prompt + newTokens - 1 positions (the last token is never fed)', () => {
    const fits = planCells([SHARED], { prompts: [97], batches: [1], newTokens: 32, runtimes: ['int8'] });
    expect(fits.cells).toHaveLength(1);
    const over = planCells([SHARED], { prompts: [98], batches: [1], newTokens: 32, runtimes: ['int8'] });
    expect(over.cells).toHaveLength(0);
    expect(over.unfit).toHaveLength(1);
  });

  it('without a model holding the cell first, a fallback model runs it', () => {
    const { cells } = planCells([RANDOM], { prompts: [16], batches: [1], newTokens: 32, runtimes: [...ALL] });
    expect(cells.map((c) => [c.model, c.runtimes])).toEqual([['random', ['int8', 'fp32']]]);
  });

  it('refuses sizes that are not positive integers', () => {
    const base = { prompts: [16], batches: [1], newTokens: 32, runtimes: ['int8' as const] };
    expect(() => planCells([SHARED], { ...base, prompts: [0] })).toThrow(/prompt length 0/);
    expect(() => planCells([SHARED], { ...base, batches: [2.5] })).toThrow(/batch 2.5/);
    expect(() => planCells([SHARED], { ...base, newTokens: Number.NaN })).toThrow(/newTokens NaN/);
  });
});

describe('exactPrompts', () => {
  // A toy codec in which token 9 decodes to text that encodes as two tokens, [1, 2]: any window
  // holding a 9 does not round-trip.
  const codec = {
    decode: (ids: number[]) => ids.map((t) => String.fromCharCode(97 + t)).join(''),
    encode: (text: string) => [...text].flatMap((ch) => (ch === 'j' ? [1, 2] : [ch.charCodeAt(0) - 97])),
  };

  it('cuts consecutive windows of exactly the length, skipping any that do not round-trip', () => {
    const stream = [0, 1, 2, 9, 3, 4, 5, 6, 7, 8];
    const { ids, texts } = exactPrompts(stream, 3, 2, codec);
    expect(ids).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    for (const [i, t] of texts.entries()) expect(codec.encode(t)).toEqual(ids[i]);
  });

  it('says how many prompts it found when the stream is too short', () => {
    expect(() => exactPrompts([0, 1, 9, 2, 3], 2, 3, codec)).toThrow(/only 2 of 3 prompts of 2 tokens/);
  });
});

describe('stepTimings', () => {
  it('takes the prefill from the first token and each step from its first token, for a batch', () => {
    // Batch 2, 3 tokens: a step delivers sequence 0 then 1.
    const events = [
      { sequence: 0, ms: 100 },
      { sequence: 1, ms: 101 },
      { sequence: 0, ms: 130 },
      { sequence: 1, ms: 131 },
      { sequence: 0, ms: 170 },
      { sequence: 1, ms: 170.5 },
    ];
    expect(stepTimings(events, 2, 3)).toEqual({ prefillMs: 100, stepMs: [30, 40] });
  });

  it('refuses a sequence that streamed too few or too many tokens, or one outside the batch', () => {
    expect(() => stepTimings([{ sequence: 0, ms: 1 }], 2, 1)).toThrow(/sequence 1 streamed 0 tokens, expected 1/);
    expect(() =>
      stepTimings(
        [
          { sequence: 0, ms: 1 },
          { sequence: 0, ms: 2 },
        ],
        1,
        1,
      ),
    ).toThrow(/more than 1 tokens/);
    expect(() => stepTimings([{ sequence: 3, ms: 1 }], 2, 1)).toThrow(/sequence 3 in a batch of 2/);
  });
});

describe('attention kernels', () => {
  // Names as IntProgramGpu's decode launches carry them (one layer of a 4-head model at cache 17).
  const step = [
    ['embedding-i8[word+pos->i22] 1x256', false],
    ['layernorm-i8[4x16] 1x256', false],
    ['gemm-i8[unpack,i8] gemv 1x768x256', false],
    ['kv-append-i8 1x4x1 at 16/520', true],
    ['gemm-i8[unpack,i32] gemv 1x17x64 x4', true],
    ['softmax-i8[wg 4x8] 1x4x17 q1 causal past 16', true],
    ['gemm-i8[unpack,i8,u8] gemv 1x64x17 x4', true],
    ['gemm-i8[unpack,i8] gemv 1x256x256', false],
    ['residual-add[i32+i8->i22] 1x256', false],
    ['gemm-i8[unpack,gelu-i8] gemv 1x1024x256', false],
    ['gemm-i8[unpack,i8] gemv 1x256x1024', false],
    ['gemm-i8[unpack,i32] gemv 1x8000x256', false],
    ['topk-i32[wg 64] 1x8000 k 1', false],
  ] as const;

  it('are the K/V append, the per-head products against the cache and the softmax', () => {
    for (const [name, attention] of step) expect([name, isAttentionKernel(name)]).toEqual([name, attention]);
  });

  it('split a step into attention and the rest', () => {
    const kernels = step.map(([name], i) => ({ name, ms: i + 1 }));
    // Attention: launches 4, 5, 6, 7 (1-based ms values).
    expect(kernelSplit(kernels)).toEqual({ attentionMs: 4 + 5 + 6 + 7, otherMs: 91 - 22 });
  });
});

describe('fitLine, powersOfTwo', () => {
  it('recovers an exact line and refuses a degenerate one', () => {
    const xs = [16, 32, 64, 128];
    const fit = fitLine(
      xs,
      xs.map((x) => 3 + 0.25 * x),
    );
    expect(fit.intercept).toBeCloseTo(3, 12);
    expect(fit.slope).toBeCloseTo(0.25, 12);
    expect(() => fitLine([1], [1])).toThrow(/two or more/);
    expect(() => fitLine([2, 2], [1, 3])).toThrow(/all x equal/);
  });

  it('lists the sweep lengths', () => {
    expect(powersOfTwo(16, 512)).toEqual([16, 32, 64, 128, 256, 512]);
  });
});

describe('report figures', () => {
  it('take the median prefill over runs and the median step over every step of every run', () => {
    const f = cellFigures({
      runs: [
        { prefillMs: 10, stepMs: [1, 2, 3], totalMs: 16 },
        { prefillMs: 30, stepMs: [4, 5], totalMs: 39 },
        { prefillMs: 20, stepMs: [100], totalMs: 120 },
      ],
    });
    expect(f).toMatchObject({ prefillMs: 20, msPerToken: 3.5, runs: 3 });
    expect(cellFigures({ runs: [] })).toBeUndefined();
  });

  it('compare tokens with FP32 over the tokens both generated', () => {
    const fp32 = [
      [1, 2],
      [3, 4],
    ];
    expect(
      agreement(fp32, [
        [1, 2, 9, 9],
        [3, 5, 6, 7],
      ]),
    ).toBe('1/2');
    expect(agreement(undefined, [[1]])).toBe('–');
  });
});
