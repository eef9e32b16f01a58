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
}

export interface EvaluateOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

async function predictAll(
  model: TextModel,
  rows: GlueRow[],
  o: EvaluateOptions,
  offset: number,
  total: number,
): Promise<{ preds: Prediction[]; ms: number }> {
  const preds: Prediction[] = [];
  const batchSize = o.batchSize ?? 16;
  let ms = 0;
  for (let i = 0; i < rows.length; i += batchSize) {
    const t0 = performance.now();
    preds.push(
      ...(await model.classify(
        rows.slice(i, i + batchSize).map((r) => r.input),
        { batchSize },
      )),
    );
    ms += performance.now() - t0;
    o.onProgress?.(offset + Math.min(i + batchSize, rows.length), total);
  }
  return { preds, ms };
}

export async function evaluate(
  int8: TextModel,
  fp32: TextModel | undefined,
  rows: GlueRow[],
  o: EvaluateOptions = {},
): Promise<Evaluation> {
  if (rows.length === 0) throw new Error('evaluation needs at least one row');
  const total = rows.length * (fp32 ? 2 : 1);
  const q = await predictAll(int8, rows, o, 0, total);
  const f = fp32 ? await predictAll(fp32, rows, o, rows.length, total) : undefined;
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
