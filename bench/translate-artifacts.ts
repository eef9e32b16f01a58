/**
 * What the translation benchmark builds before timing, cached under bench/.cache (gitignored): the
 * INT8 conversion of the shared multi30k-marian-en-de. Conversion runs on the CPU (float64 greedy
 * translations of the calibration lines, then calibration) and takes minutes on a loaded machine.
 */
import { convertTranslatorModel } from '../src/convert.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { ensureConverted } from './compare-artifacts.js';

/** Calibration lines: the first 64 of val.en, as test/int-translator-file.test.ts converts it. */
export const TRANSLATOR_CALIBRATION_LINES = 64;

/** A translator converts without a device: any use of this one is a bug worth an error. */
const NO_GPU = new Proxy({} as Gpu, {
  get: () => {
    throw new Error('ensureInt8Translator: a translation model is converted on the CPU, not on a GPU');
  },
});

/** The .i8t of a Marian folder ('max' ranges), converted once per (weights file, calibration text). */
export function ensureInt8Translator(
  name: string,
  folder: string,
  calibration: string[],
  cacheDir: string,
  log: (m: string) => void,
): Promise<string> {
  return ensureConverted(NO_GPU, name, folder, calibration, cacheDir, log, {
    method: 'max',
    items: 'source sentences',
    convert: (_gpu, files, onProgress) => convertTranslatorModel(files, { calibration, onProgress }),
  });
}
