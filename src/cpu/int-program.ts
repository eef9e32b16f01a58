/**
 * The integer program on the CPU: each op is the composition of its kernels' references, in the
 * layouts the GPU uses. This is the specification of the whole integer model: the GPU interpreter
 * (src/runtime/int-program.ts) must give the same output bit for bit.
 */
import type { TokenBatch } from '../core/types.js';
import { type IntAttentionOp, type IntGemmOp, type IntOp, type IntProgram, intTensor, intWidth } from '../plan/int-program.js';
import { embeddingI8Ref } from '../reference/embedding-i8.js';
import { igeluRef } from '../reference/gelu-i8.js';
import { gemmI8Ref } from '../reference/gemm-i8.js';
import { layerNormI8Ref } from '../reference/layernorm-i8.js';
import { lookupI8Ref } from '../reference/lookup-i8.js';
import { requantizeRef } from '../reference/requantize.js';
import { poolI8Ref } from '../reference/pool-i8.js';
import { residualAddRef } from '../reference/residual-add.js';
import { softmaxI8Ref } from '../reference/softmax-i8.js';
import { transposeHeadsI8Ref } from '../reference/transpose-heads-i8.js';

export type IntValues = Int8Array | Uint8Array | Int32Array;

export interface IntProgramResult {
  /** The output tensor's integers: logits [batch, labels] or pooled sums and counts [batch, hidden + 1]. */
  output: Int32Array;
  /** Every tensor's integers, unpacked row-major [rows, width] (with `keep`). */
  values?: Map<string, IntValues>;
}

/** Rows b * seq of a token tensor: the first token of each sequence. */
function firstRows(x: IntValues, batch: number, seq: number, width: number): Int8Array {
  const out = new Int8Array(batch * width);
  for (let b = 0; b < batch; b++) out.set(x.subarray(b * seq * width, b * seq * width + width), b * width);
  return out;
}

/** [seq, D] slice of head h of sequence b out of a [batch * seq, width] tensor, from channel `c0`. */
function headSlice(x: IntValues, b: number, h: number, seq: number, width: number, c0: number, D: number): Int8Array {
  const out = new Int8Array(seq * D);
  const from = c0 + h * D;
  for (let s = 0; s < seq; s++) out.set(x.subarray((b * seq + s) * width + from, (b * seq + s) * width + from + D), s * D);
  return out;
}

class CpuIntInterpreter {
  readonly values = new Map<string, IntValues>();

  constructor(
    readonly program: IntProgram,
    readonly batch: TokenBatch,
    readonly pooling?: 'mean' | 'cls',
  ) {}

  get(id: string): IntValues {
    const v = this.values.get(id);
    if (!v) throw new Error(`integer program: tensor "${id}" is read before it is written`);
    return v;
  }

  width(id: string): number {
    return intWidth(intTensor(this.program, id));
  }

  run(op: IntOp): void {
    const { batch: B, seqLen: S } = this.batch;
    const T = B * S;
    switch (op.kind) {
      case 'embed': {
        const ids = { token: this.batch.inputIds, position: this.batch.positionIds, tokenType: op.tables.tokenType ? this.batch.tokenTypeIds : undefined };
        return void this.values.set(op.out, embeddingI8Ref(op.tables, ids, op.constants));
      }
      case 'layernorm':
        return void this.values.set(op.out, layerNormI8Ref(this.get(op.input) as Int32Array, T, op.constants));
      case 'residual':
        return void this.values.set(op.out, residualAddRef(this.get(op.a), this.get(op.b), op.constants));
      case 'lookup':
        return void this.values.set(op.out, lookupI8Ref(this.get(op.input) as Int8Array, op.table));
      case 'gemm':
        return void this.values.set(op.out, this.gemm(op));
      case 'attention':
        return void this.values.set(op.out, this.attention(op));
      case 'pool': {
        const hidden = this.width(op.input);
        return void this.values.set(op.out, poolI8Ref(this.get(op.input) as Int8Array, this.batch.attentionMask, { batch: B, seq: S, hidden }, this.pooling ?? op.mode));
      }
    }
  }

  private gemm(op: IntGemmOp): IntValues {
    const { batch: B, seqLen: S } = this.batch;
    const x = this.get(op.input);
    const a = op.rows === 'first' ? firstRows(x, B, S, op.K) : (x as Int8Array);
    const rows = op.rows === 'first' ? B : a.length / op.K;
    const acc = gemmI8Ref({ a, b: op.weight, bias: op.bias, M: rows, N: op.N, K: op.K });
    if (op.epilogue === 'i32') return acc;
    if (op.epilogue === 'gelu-i8') return igeluRef(acc, rows, op.N, op.gelu!, op.requant);
    return requantizeRef(acc, rows, op.N, op.requant!);
  }

  private attention(op: IntAttentionOp): Int8Array {
    const { batch: B, seqLen: S } = this.batch;
    const { heads, headDim: D } = op;
    const H = heads * D;
    const q = this.get(op.q.tensor);
    const k = this.get(op.k.tensor);
    const v = this.get(op.v.tensor);
    const [qw, kw, vw] = [op.q, op.k, op.v].map((s) => this.width(s.tensor));
    const scores = new Int32Array(B * heads * S * S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const acc = gemmI8Ref({ a: headSlice(q, b, h, S, qw, op.q.channel, D), b: headSlice(k, b, h, S, kw, op.k.channel, D), M: S, N: S, K: D });
        scores.set(acc, (b * heads + h) * S * S);
      }
    }
    const probs = softmaxI8Ref({ scores, mask: this.batch.attentionMask, batch: B, heads, seq: S }, op.softmax);
    const vt = transposeHeadsI8Ref(v as Int8Array, B, S, vw, heads, D, op.v.channel);
    const context = new Int8Array(B * S * H);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const p = probs.subarray((b * heads + h) * S * S, (b * heads + h + 1) * S * S);
        const vth = vt.subarray((b * heads + h) * D * S, (b * heads + h + 1) * D * S);
        const ctx = requantizeRef(gemmI8Ref({ a: p, b: vth, M: S, N: D, K: S }), S, D, [op.context]);
        for (let s = 0; s < S; s++) context.set(ctx.subarray(s * D, (s + 1) * D), (b * S + s) * H + h * D);
      }
    }
    return context;
  }

}

export interface IntProgramCpuOptions {
  /** Return every tensor's integers. */
  keep?: boolean;
  /** Embedding models: override the program's pooling ('mean' over real tokens, or the first token). */
  pooling?: 'mean' | 'cls';
}

export function runIntProgramCpu(program: IntProgram, batch: TokenBatch, options: IntProgramCpuOptions = {}): IntProgramResult {
  const interpreter = new CpuIntInterpreter(program, batch, options.pooling);
  for (const op of program.ops) interpreter.run(op);
  const output = interpreter.get(program.output.tensor);
  if (!(output instanceof Int32Array)) throw new Error(`integer program: output ${program.output.tensor} is not int32`);
  return { output, values: options.keep ? interpreter.values : undefined };
}
