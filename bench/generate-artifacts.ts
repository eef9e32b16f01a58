/**
 * What the generation benchmark builds before timing, cached under bench/.cache (gitignored): a
 * GPT-2 with the shared multi30k-gpt2-tiny's sizes but 1024 positions and seeded random weights
 * (the shared model's 128 positions hold neither prompt 128 + 32 new tokens nor a 512-token cache),
 * with the shared model's tokenizer files, and its INT8 conversion.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { convertDecoderModel } from '../src/convert.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { ensureConverted } from './compare-artifacts.js';
import { type Gpt2Sizes, randomGpt2Weights } from './random-gpt2.js';

export const RANDOM_GPT2_SEED = 20261130;
export const RANDOM_GPT2_NAME = 'random-gpt2-tiny-1024';

/** multi30k-gpt2-tiny's sizes with GPT-2's 1024 positions. */
export const RANDOM_GPT2_SIZES: Gpt2Sizes = { n_embd: 256, n_head: 4, n_layer: 4, n_positions: 1024, vocab_size: 8000 };

const TOKENIZER_FILES = ['tokenizer.json', 'generation_config.json'];

/** The random 1024-position GPT-2 folder (written once); its tokenizer is the shared model's (same 8000 ids). */
export function ensureRandomGpt2(cacheDir: string, sharedModel: string, log: (m: string) => void): string {
  const dir = `${cacheDir}/${RANDOM_GPT2_NAME}`;
  if (existsSync(`${dir}/model.safetensors`) && existsSync(`${dir}/tokenizer_config.json`)) return dir;
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  // The shared model's config with the positions changed: every other field as a hub GPT-2 has it.
  const config = JSON.parse(readFileSync(`${sharedModel}/config.json`, 'utf8'));
  Object.assign(config, RANDOM_GPT2_SIZES, { n_ctx: RANDOM_GPT2_SIZES.n_positions });
  writeFileSync(`${dir}/config.json`, JSON.stringify(config, null, 2));
  writeFileSync(`${dir}/model.safetensors`, randomGpt2Weights(RANDOM_GPT2_SEED, RANDOM_GPT2_SIZES));
  for (const f of TOKENIZER_FILES) writeFileSync(`${dir}/${f}`, readFileSync(`${sharedModel}/${f}`));
  const tokenizerConfig = JSON.parse(readFileSync(`${sharedModel}/tokenizer_config.json`, 'utf8'));
  tokenizerConfig.model_max_length = RANDOM_GPT2_SIZES.n_positions;
  writeFileSync(`${dir}/tokenizer_config.json`, JSON.stringify(tokenizerConfig, null, 2));
  log(`random GPT-2 (1024 positions) written to ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

/**
 * Calibration documents long enough to reach the late positions: captions joined into lines of
 * about `tokens` tokens (a line is one document to the converter). Ranges only set accuracy, not
 * latency, but positions never calibrated would run saturated.
 */
export function longDocuments(lines: readonly string[], count: number, wordsPerDocument: number): string[] {
  const words = lines.join(' ').split(/\s+/).filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < count && (i + 1) * wordsPerDocument <= words.length; i++)
    out.push(words.slice(i * wordsPerDocument, (i + 1) * wordsPerDocument).join(' '));
  return out;
}

/** The .i8t of a GPT-2 folder ('max' ranges), converted once per (weights file, calibration text). */
export function ensureInt8Decoder(
  gpu: Gpu,
  name: string,
  folder: string,
  calibration: string[],
  cacheDir: string,
  log: (m: string) => void,
): Promise<string> {
  return ensureConverted(gpu, name, folder, calibration, cacheDir, log, {
    method: 'max',
    items: 'documents',
    convert: (g, files, onProgress) => convertDecoderModel(g, files, { calibration, batchSize: 2, onProgress }),
  });
}
