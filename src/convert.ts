/**
 * Conversion of a Hugging Face checkpoint into an integer model: load, calibrate the float model
 * on text, plan scales, and package everything as an IntModelFile. Works in Node and browsers.
 */
import type { Gpu } from './gpu/gpu.js';
import { calibrate } from './calibrate/calibrate.js';
import type { RangeMethod, RangeObserver } from './calibrate/range-observer.js';
import type { GlueInput } from './data/glue.js';
import type { IntModelFile } from './format/int-model-file.js';
import { loadEncoderModel } from './model/load.js';
import { type ModelFiles, readRequired } from './model/sources.js';
import { loadTokenizer } from './model/tokenizer.js';
import type { EncoderModel } from './model/types.js';
import { planEncoder } from './plan/encoder-plan.js';
import { validatePlan } from './plan/validate-plan.js';

export interface ConvertOptions {
  /** Calibration text (sentences or pairs). */
  calibration: GlueInput[];
  /** Activation range rule; percentile-99.99 by default (see docs/accuracy.md). */
  method?: RangeMethod;
  batchSize?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
  /** Reuse an already loaded float model. */
  model?: EncoderModel;
}

export async function convertModel(gpu: Gpu, files: ModelFiles, options: ConvertOptions): Promise<IntModelFile> {
  options.onProgress?.('loading', 0, 1);
  const model = options.model ?? (await loadEncoderModel(files));
  const tokenizer = await loadTokenizer(files, model.config);
  const observer = await calibrate(gpu, model, tokenizer, options.calibration, {
    batchSize: options.batchSize,
    onProgress: (done, total) => options.onProgress?.('calibrating', done, total),
  });
  return planModel(files, model, observer, options.method ?? 'percentile-99.99', options.calibration.length);
}

/** The second half of conversion: one calibration can be planned with several range methods. */
export async function planModel(files: ModelFiles, model: EncoderModel, observer: RangeObserver, method: RangeMethod, texts: number): Promise<IntModelFile> {
  const plan = planEncoder(model, observer.ranges(method));
  validatePlan(plan, model.config, 'converted plan');
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  // Minified: the pretty-printed original costs ~10% more even compressed.
  const tokenizerJson = JSON.stringify(JSON.parse(decode(await readRequired(files, 'tokenizer.json', 'the tokenizer'))));
  const tokenizerConfig = (await files.has('tokenizer_config.json')) ? decode(await files.read('tokenizer_config.json')) : undefined;
  return {
    config: model.config,
    plan,
    tokenizer: { json: tokenizerJson, config: tokenizerConfig },
    provenance: { source: files.describe, calibration: { method, texts }, converter: 'int8-transformer' },
  };
}
