/**
 * Accuracy of the integer model against labels and against the float model on the same texts:
 * accuracy of each, their prediction agreement, the logit differences (the sensitive measure:
 * accuracy moves in whole sentences), and time per sentence.
 */
import type { GlueRow } from './data/glue.js';
import type { Prediction, TextModel } from './session.js';

export interface Evaluation {
  n: number;
  fp32Accuracy: number | null;
  int8Accuracy: number;
  agreement: number | null;
  meanAbsLogitDiff: number | null;
  maxAbsLogitDiff: number | null;
  msPerSentence: number;
  fp32MsPerSentence: number | null;
  /** Rows longer than the model's positions, cut to fit (both models cut the same rows). */
  truncated: number;
}

export interface EvaluateOptions {
  batchSize?: number;
  /** Rows done by every model (each batch runs through INT8, then FP32). */
  onProgress?: (done: number, total: number) => void;
}

async function timedClassify(model: TextModel, inputs: GlueRow['input'][], batchSize: number) {
  const t0 = performance.now();
  const preds = await model.classify(inputs, { batchSize });
  return { preds, ms: performance.now() - t0 };
}

export async function evaluate(
  int8: TextModel,
  fp32: TextModel | undefined,
  rows: GlueRow[],
  o: EvaluateOptions = {},
): Promise<Evaluation> {
  if (rows.length === 0) throw new Error('evaluation needs at least one row');
  const batchSize = o.batchSize ?? 16;
  const q = { preds: [] as Prediction[], ms: 0 };
  const f = fp32 ? { preds: [] as Prediction[], ms: 0 } : undefined;
  for (let i = 0; i < rows.length; i += batchSize) {
    const inputs = rows.slice(i, i + batchSize).map((r) => r.input);
    for (const [model, into] of [[int8, q] as const, ...(fp32 && f ? [[fp32, f] as const] : [])]) {
      const r = await timedClassify(model, inputs, batchSize);
      into.preds.push(...r.preds);
      into.ms += r.ms;
    }
    o.onProgress?.(Math.min(i + batchSize, rows.length), rows.length);
  }
  const acc = (preds: Prediction[]) => preds.filter((p, i) => p.index === rows[i].label).length / rows.length;
  let agree = 0;
  let sum = 0;
  let max = 0;
  let count = 0;
  if (f) {
    q.preds.forEach((p, i) => {
      if (p.index === f.preds[i].index) agree++;
      p.logits.forEach((v, c) => {
        const d = Math.abs(v - f.preds[i].logits[c]);
        sum += d;
        max = Math.max(max, d);
        count++;
      });
    });
  }
  return {
    n: rows.length,
    fp32Accuracy: f ? acc(f.preds) : null,
    int8Accuracy: acc(q.preds),
    agreement: f ? agree / rows.length : null,
    meanAbsLogitDiff: f ? sum / count : null,
    maxAbsLogitDiff: f ? max : null,
    msPerSentence: q.ms / rows.length,
    fp32MsPerSentence: f ? f.ms / rows.length : null,
    truncated: q.preds.filter((p) => p.truncated).length,
  };
}

export function formatEvaluation(r: Evaluation & { model: string; task: string }): string {
  const pct = (v: number | null) => (v === null ? 'n/a (no float reference)' : `${(100 * v).toFixed(2)}%`);
  return [
    `model      ${r.model}`,
    `task       ${r.task}, ${r.n} rows`,
    `FP32       ${pct(r.fp32Accuracy)}`,
    `INT8       ${pct(r.int8Accuracy)}`,
    `agreement  ${pct(r.agreement)}`,
    `|logit diff| mean ${r.meanAbsLogitDiff?.toFixed(4) ?? 'n/a'}, max ${r.maxAbsLogitDiff?.toFixed(4) ?? 'n/a'}`,
    `time       INT8 ${r.msPerSentence.toFixed(1)} ms/sentence${r.fp32MsPerSentence !== null ? `, FP32 ${r.fp32MsPerSentence.toFixed(1)} ms/sentence` : ''}`,
  ].join('\n');
}
