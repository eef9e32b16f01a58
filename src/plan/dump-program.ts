/**
 * A readable dump of an integer program for debugging (`int8-transformer inspect`): every op in
 * execution order with the tensor it writes (integer type, real scale, proven bound) and its
 * kernel's key constants.
 */
import type { Dyadic } from '../reference/dyadic.js';
import type { IntOp, IntProgram, IntTensor, OutlierSmoothing } from './int-program.js';
import { PROBABILITY_SCALE } from './plan-graph.js';

const fmt = (x: number) => x.toExponential(4);
const dy = (d: Dyadic) => `${d.m}/2^${d.e} (${fmt(d.m / 2 ** d.e)})`;

function scaleText(s: number | Float64Array): string {
  if (typeof s === 'number') return fmt(s);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of s) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo === hi ? fmt(lo) : `${fmt(lo)}..${fmt(hi)}`;
}

function row(
  width: number,
  tensor: string,
  shape: string,
  type: string,
  scale: string,
  bound: string,
  note = '',
): string {
  return `${tensor.padEnd(width)} ${shape.padEnd(20)} ${type.padEnd(5)} ${scale.padEnd(23)} ${bound.padEnd(16)} ${note}`.trimEnd();
}

function requantRange(d: Dyadic[] | undefined): string {
  if (!d || d.length === 0) return '';
  const v = d.map((x) => x.m / 2 ** x.e);
  return `requant ${fmt(Math.min(...v))}..${fmt(Math.max(...v))}`;
}

/** The outlier channels a smoothed LayerNorm divided, keyed by its output (what its GEMM readers multiply back). */
type Smoothed = Map<string, { channels: number[]; factors: number[] }>;

function outlierNote(o: OutlierSmoothing): string {
  // The largest few: later layers can have dozens of channels over the threshold.
  const shown = o.channels.slice(0, 6).map((c, i) => `${c} /${o.factors[i].toPrecision(3)}`);
  const list = `${shown.join(', ')}${o.channels.length > 6 ? ` and ${o.channels.length - 6} more` : ''}`;
  return o.part === 'smoothed'
    ? `; outlier channels smoothed (alpha ${o.alpha}, est. GEMM error x${o.relativeError.toPrecision(2)}): ${list}`
    : `; only the outlier channels' remainder x (1 - 1/f) of ${list}, for the residual (files converted before the wide LayerNorm output)`;
}

function constants(op: IntOp, smoothed: Smoothed, out: IntTensor): string {
  switch (op.kind) {
    case 'embed':
      return `word ${dy(op.constants.word)}, position ${dy(op.constants.position)}${op.constants.tokenType ? `, type ${dy(op.constants.tokenType)}` : ''}`;
    case 'layernorm':
      return `LayerNorm shift ${op.constants.shift}, input bound ${op.constants.inputMaxAbs}${op.outliers ? outlierNote(op.outliers) : ''}${out.dtype === 'wide' ? `; written into the wide stream (saturating at ${out.bound}) for its residual readers` : ''}`;
    case 'gemm': {
      const bias = Math.max(0, ...Array.from(op.bias, Math.abs));
      const gelu = op.gelu
        ? `, i-GELU clip ${op.gelu.clip} shift ${op.gelu.shift} out ${dy(op.gelu.output)}`
        : op.silu
          ? `, i-SiLU clip ${op.silu.clip} shift ${op.silu.shift} out ${dy(op.silu.output)}`
          : '';
      const s = smoothed.get(op.input);
      const folded = s
        ? `, ${s.channels.length} weight columns (${s.channels.slice(0, 6).join(', ')}${s.channels.length > 6 ? ', ...' : ''}) x the input's smoothing factors`
        : '';
      return `${op.name} [${op.N}x${op.K}]${op.rows === 'first' ? ' first tokens' : ''}, acc <= ${op.K}*2^14+${bias}, ${requantRange(op.requant)}${gelu}${folded}`;
    }
    case 'attention':
      return `${op.heads} heads of ${op.headDim}${op.causal ? ', causal' : ''}${op.q.tensor !== op.k.tensor ? `, queries of ${op.q.tensor} over keys of ${op.k.tensor}` : ''}; probs u8 at ${fmt(PROBABILITY_SCALE)}, softmax rescale ${dy(op.softmax.rescale)} shift ${op.softmax.shift}; context ${dy(op.context)}`;
    case 'residual': {
      const side = (x: 'a' | 'b') => {
        const m = op.multipliers?.[x];
        if (!m) return `${x} ${dy(op.constants[x])}`;
        const scaled = Array.from(m, (v, c) => [c, v]).filter(([, v]) => v !== 1);
        const list = scaled.slice(0, 6).map(([c, v]) => `${c}: ${v}`);
        return `${x} x column multipliers (${list.join(', ')}${scaled.length > 6 ? ', ...' : ''}; 1 elsewhere) ${dy(op.constants[x])}`;
      };
      return `${side('a')}, ${side('b')}`;
    }
    case 'lookup':
      return '256-entry table';
    case 'requantize':
      return `wide -> int8 by ${dy(op.requant)}`;
    case 'pool':
      return `${op.mode} pooling: int32 sums and the real-token count, divided on read-back`;
  }
}

export function dumpProgram(program: IntProgram, title = ''): string {
  const tensors = new Map<string, IntTensor>(program.tensors.map((t) => [t.id, t]));
  const width = Math.max(6, ...program.tensors.map((t) => t.id.length));
  const lines = [
    ...(title ? [title] : []),
    `${program.kind}: ${program.ops.length} ops, ${program.tensors.length} tensors, up to ${program.maxPositions} positions`,
    row(width, 'tensor', 'shape', 'type', 'scale', 'bound', 'op and constants'),
  ];
  const smoothed: Smoothed = new Map();
  for (const op of program.ops)
    if (op.kind === 'layernorm' && op.outliers?.part === 'smoothed') smoothed.set(op.out, op.outliers);
  for (const op of program.ops) {
    const t = tensors.get(op.out)!;
    lines.push(
      row(
        width,
        t.id,
        `[${t.shape.join(', ')}]`,
        t.dtype,
        scaleText(t.scale),
        `|q| <= ${t.bound}`,
        `${op.kind}: ${constants(op, smoothed, t)}`,
      ),
    );
  }
  lines.push(`output: ${program.output.tensor} (${program.output.kind}), read back as int32 and scaled to float`);
  return lines.join('\n');
}
