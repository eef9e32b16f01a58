/** The model import entry point: config.json + model.safetensors from any ModelFiles source. */

import type { DecoderModel, EncoderModel, MarianModel } from '../core/types.js';
import {
  DECODER_ARCHITECTURES,
  ENCODER_DECODER_ARCHITECTURES,
  parseConfig,
  parseDecoderConfig,
  parseMarianConfig,
} from './config.js';
import { parseSafetensors } from './safetensors.js';
import { type ModelFiles, readJson, readRequired } from './sources.js';
import { mapDecoderWeights, mapMarianWeights, mapWeights } from './weights.js';

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

/** An encoder-decoder translation model (MarianMTModel): config.json + model.safetensors. */
export async function loadMarianModel(files: ModelFiles): Promise<MarianModel> {
  const config = parseMarianConfig(
    await readJson(files, 'config.json', 'the model configuration'),
    `${files.describe}: config.json`,
  );
  if (!(await files.has('model.safetensors'))) {
    const hint = (await files.has('pytorch_model.bin'))
      ? '; found pytorch_model.bin, which is not read: convert it to model.safetensors'
      : '';
    throw new Error(
      `${files.describe}: model.safetensors not found (the weights); only a single model.safetensors file is supported${hint}`,
    );
  }
  const bytes = await readRequired(files, 'model.safetensors', 'the weights');
  const what = `${files.describe}: model.safetensors`;
  return { config, params: mapMarianWeights(parseSafetensors(bytes, what), config, what) };
}

async function firstArchitecture(files: ModelFiles): Promise<string | undefined> {
  const json = await readJson(files, 'config.json', 'the model configuration');
  const archs =
    json !== null && typeof json === 'object' ? (json as { architectures?: unknown }).architectures : undefined;
  const first = Array.isArray(archs) ? archs[0] : undefined;
  return typeof first === 'string' ? first : undefined;
}

/** Whether config.json names a decoder architecture (DECODER_ARCHITECTURES), read before any weights. */
export async function isDecoderCheckpoint(files: ModelFiles): Promise<boolean> {
  const first = await firstArchitecture(files);
  return first !== undefined && Object.hasOwn(DECODER_ARCHITECTURES, first);
}

/** Whether config.json names an encoder-decoder architecture (ENCODER_DECODER_ARCHITECTURES). */
export async function isMarianCheckpoint(files: ModelFiles): Promise<boolean> {
  const first = await firstArchitecture(files);
  return first !== undefined && Object.hasOwn(ENCODER_DECODER_ARCHITECTURES, first);
}

/** Any kind of checkpoint, by its config's architecture. */
export async function loadCheckpoint(files: ModelFiles): Promise<EncoderModel | DecoderModel | MarianModel> {
  if (await isMarianCheckpoint(files)) return loadMarianModel(files);
  return (await isDecoderCheckpoint(files)) ? loadDecoderModel(files) : loadEncoderModel(files);
}
