/** The model import entry point: config.json + model.safetensors from any ModelFiles source. */

import type { DecoderModel, EncoderModel } from '../core/types.js';
import { DECODER_ARCHITECTURES, parseConfig, parseDecoderConfig } from './config.js';
import { parseSafetensors } from './safetensors.js';
import { type ModelFiles, readJson, readRequired } from './sources.js';
import { mapDecoderWeights, mapWeights } from './weights.js';

export async function loadEncoderModel(files: ModelFiles): Promise<EncoderModel> {
  const config = parseConfig(
    await readJson(files, 'config.json', 'the model configuration'),
    `${files.describe}: config.json`,
  );
  if (!(await files.has('model.safetensors'))) {
    // Name the formats we saw, so the user knows what to convert rather than what is "missing".
    const others = ['model.safetensors.index.json', 'pytorch_model.bin', 'tf_model.h5', 'model.onnx'];
    const found: string[] = [];
    for (const name of others) if (await files.has(name)) found.push(name);
    const hint = found.length
      ? `; found ${found.join(', ')}, but only a single model.safetensors file is supported`
      : '';
    throw new Error(`${files.describe}: model.safetensors not found (the weights)${hint}`);
  }
  const bytes = await readRequired(files, 'model.safetensors', 'the weights');
  const what = `${files.describe}: model.safetensors`;
  const weights = mapWeights(parseSafetensors(bytes, what), config, what);
  return { config, weights };
}

/** A decoder-only language model (GPT2LMHeadModel): config.json + model.safetensors. */
export async function loadDecoderModel(files: ModelFiles): Promise<DecoderModel> {
  const config = parseDecoderConfig(
    await readJson(files, 'config.json', 'the model configuration'),
    `${files.describe}: config.json`,
  );
  if (!(await files.has('model.safetensors'))) {
    throw new Error(
      `${files.describe}: model.safetensors not found (the weights); only a single model.safetensors file is supported`,
    );
  }
  const bytes = await readRequired(files, 'model.safetensors', 'the weights');
  const what = `${files.describe}: model.safetensors`;
  return { config, params: mapDecoderWeights(parseSafetensors(bytes, what), config, what) };
}

/** Whether config.json names a decoder architecture (DECODER_ARCHITECTURES), read before any weights. */
export async function isDecoderCheckpoint(files: ModelFiles): Promise<boolean> {
  const json = await readJson(files, 'config.json', 'the model configuration');
  const archs =
    json !== null && typeof json === 'object' ? (json as { architectures?: unknown }).architectures : undefined;
  const first = Array.isArray(archs) ? archs[0] : undefined;
  return typeof first === 'string' && Object.hasOwn(DECODER_ARCHITECTURES, first);
}

/** Either kind of checkpoint, by its config's architecture. */
export async function loadCheckpoint(files: ModelFiles): Promise<EncoderModel | DecoderModel> {
  return (await isDecoderCheckpoint(files)) ? loadDecoderModel(files) : loadEncoderModel(files);
}
