/**
 * A readable dump of a plan for debugging: every tensor with its integer type, real scale and
 * proven bound, and every kernel's key constants, in execution order.
 */
import type { EncoderConfig } from '../model/types.js';
import type { Dyadic } from '../reference/dyadic.js';
import { PROBABILITY_SCALE, RESIDUAL_BITS, type EncoderPlan, type PlannedLinear } from './encoder-plan.js';

const fmt = (x: number) => x.toExponential(4);
const dy = (d: Dyadic) => `${d.m}/2^${d.e} (${fmt(d.m / 2 ** d.e)})`;

function row(tensor: string, type: string, scale: number | string, bound: string, note = ''): string {
  return `${tensor.padEnd(42)} ${type.padEnd(5)} ${(typeof scale === 'number' ? fmt(scale) : scale).padEnd(12)} ${bound.padEnd(14)} ${note}`;
}

function range(d: Dyadic[] | undefined): string {
  if (!d || d.length === 0) return '';
  const v = d.map((x) => x.m / 2 ** x.e);
  return `requant ${fmt(Math.min(...v))}..${fmt(Math.max(...v))}`;
}

function linear(name: string, l: PlannedLinear, out: string): string[] {
  const ws = Array.from(l.weightScale);
  return [
    row(`${name}.weight [${l.outFeatures}x${l.inFeatures}]`, 'i8', `${fmt(Math.min(...ws))}..${fmt(Math.max(...ws))}`, '|q| <= 127', 'per output channel'),
    row(`${name}.bias`, 'i32', 's_in*s_w[c]', `|q| <= ${Math.max(...Array.from(l.bias, Math.abs))}`),
    row(`${name} accumulator`, 'i32', 's_in*s_w[c]', `<= ${l.inFeatures}*2^14+|b|`, range(l.requant)),
    ...(out ? [out] : []),
  ];
}

export function dumpPlan(plan: EncoderPlan, config: EncoderConfig): string {
  const wide = `|q| < 2^${RESIDUAL_BITS - 1}`;
  const lines = [
    `${config.architecture}: ${config.numLayers} layers, hidden ${config.hiddenSize}, ${config.numHeads} heads, FFN ${config.intermediateSize}`,
    row('tensor', 'type', 'scale', 'bound', 'constants'),
  ];
  const e = plan.embeddings;
  lines.push(row('embeddings.word', 'i8', e.tableScales.word, '|q| <= 127', `to sum ${dy(e.constants.word)}`));
  lines.push(row('embeddings.position', 'i8', e.tableScales.position, '|q| <= 127', `to sum ${dy(e.constants.position)}`));
  if (e.constants.tokenType) lines.push(row('embeddings.token_type', 'i8', e.tableScales.tokenType!, '|q| <= 127', `to sum ${dy(e.constants.tokenType)}`));
  lines.push(row('embeddings.sum', `i${e.constants.bits}`, e.scale, wide));
  lines.push(row('embeddings.norm', 'i8', plan.embeddingNormScale, '|q| <= 127', `LayerNorm shift ${plan.embeddingNorm.shift}, input bound ${plan.embeddingNorm.inputMaxAbs}`));
  plan.layers.forEach((l, i) => {
    const p = `layer.${i}`;
    lines.push(...linear(`${p}.query`, l.query, row(`${p}.query`, 'i8', l.query.outputScale!, '|q| <= 127')));
    lines.push(...linear(`${p}.key`, l.key, row(`${p}.key`, 'i8', l.key.outputScale!, '|q| <= 127')));
    lines.push(...linear(`${p}.value`, l.value, row(`${p}.value`, 'i8', l.value.outputScale!, '|q| <= 127')));
    lines.push(row(`${p}.scores`, 'i32', (l.query.outputScale! * l.key.outputScale!) / Math.sqrt(config.hiddenSize / config.numHeads), `<= ${config.hiddenSize / config.numHeads}*2^14`, `softmax rescale ${dy(l.softmax.rescale)}, exp shift ${l.softmax.shift}`));
    lines.push(row(`${p}.probs`, 'u8', PROBABILITY_SCALE, '0..255'));
    lines.push(row(`${p}.context`, 'i8', l.contextScale, '|q| <= 127', `from probs.v ${dy(l.context)}`));
    lines.push(...linear(`${p}.attention_output`, l.attentionOutput, row(`${p}.attention_output`, 'i8', l.attentionOutput.outputScale!, '|q| <= 127')));
    lines.push(row(`${p}.attention_residual`, `i${l.attentionResidual.bits}`, l.attentionResidual.scale, wide, `a ${dy(l.attentionResidual.a)}, b ${dy(l.attentionResidual.b)}`));
    lines.push(row(`${p}.attention_norm`, 'i8', l.attentionNormScale, '|q| <= 127', `LayerNorm shift ${l.attentionNorm.shift}`));
    lines.push(...linear(`${p}.intermediate`, l.intermediate, ''));
    lines.push(row(`${p}.gelu`, 'i8', l.geluScale, '|q| <= 127', `i-GELU clip ${l.gelu.clip}, shift ${l.gelu.shift}, out ${dy(l.gelu.output)}`));
    lines.push(...linear(`${p}.output`, l.output, row(`${p}.output`, 'i8', l.output.outputScale!, '|q| <= 127')));
    lines.push(row(`${p}.output_residual`, `i${l.outputResidual.bits}`, l.outputResidual.scale, wide, `a ${dy(l.outputResidual.a)}, b ${dy(l.outputResidual.b)}`));
    lines.push(row(`${p}.output_norm`, 'i8', l.outputNormScale, '|q| <= 127', `LayerNorm shift ${l.outputNorm.shift}`));
  });
  const h = plan.head;
  if (h) {
    if (h.dense) lines.push(...linear('head.dense', h.dense, row('head.dense', 'i8', h.dense.outputScale!, '|q| <= 127')));
    if (h.activation) lines.push(row(`head.${h.activation.kind}`, 'i8', h.activation.outputScale, '|q| <= 127', '256-entry table'));
    lines.push(...linear('head.output', h.output, row('logits', 'i32', `${fmt(Math.min(...h.logitScale))}..`, 'int32', 'dequantized on read-back')));
  }
  return lines.join('\n');
}
