/** `float16`: a Hugging Face folder with its float weights stored as float16 (half the bytes). */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLOAT_DTYPES, parseSafetensors } from '../model/safetensors.js';
import { type TensorToWrite, writeSafetensors } from '../model/safetensors-write.js';

/** Everything a loader reads besides the weights. */
const COPIED = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
];

export function writeFloat16Folder(from: string, to: string): { bytesIn: number; bytesOut: number } {
  const source = join(from, 'model.safetensors');
  const bytes = new Uint8Array(readFileSync(source));
  const st = parseSafetensors(bytes, source);
  const tensors: TensorToWrite[] = st.names().map((name) => {
    const info = st.info(name);
    if (!(FLOAT_DTYPES as readonly string[]).includes(info.dtype))
      throw new Error(`${source}: ${name} is ${info.dtype}; only float tensors can be stored as float16`);
    const t = st.tensor(name);
    return { name, dtype: 'F16', shape: info.shape, data: t.data };
  });
  const out = writeSafetensors(tensors, {
    ...st.metadata,
    format: st.metadata.format ?? 'pt',
    converted: 'int8-transformer float16',
  });
  mkdirSync(to, { recursive: true });
  writeFileSync(join(to, 'model.safetensors'), out);
  // Copied by content: copyFileSync would carry a read-only mode along.
  for (const name of COPIED)
    if (existsSync(join(from, name))) writeFileSync(join(to, name), readFileSync(join(from, name)));
  return { bytesIn: bytes.byteLength, bytesOut: out.byteLength };
}
