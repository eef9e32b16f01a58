/**
 * What the benchmark generates before timing anything, cached under bench/.cache (gitignored):
 * the random BERT-base folder, an .i8t integer model per benchmarked model, and the peers' int8
 * twin of each ONNX model (a folder transformers.js loads with dtype 'q8'). Conversion
 * calibrates on a few dozen SST-2 train sentences: slow on SwiftShader, and the calibration
 * quality does not change latency.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { convertModel } from '../src/convert.js';
import { type AnyIntFile, writeIntModelFile } from '../src/format/int-model-file.js';
import type { Gpu } from '../src/gpu/gpu.js';
import { folderSource } from '../src/model/sources-node.js';
import { quantizeOnnxDynamic } from './onnx-quantize.js';
import { BERT_BASE, writeRandomBertFolder } from './random-bert.js';

export const RANDOM_SEED = 20261124;

export function ensureRandomBertBase(cacheDir: string, tokenizerFolder: string, log: (m: string) => void): string {
  const dir = `${cacheDir}/random-bert-base`;
  const t0 = performance.now();
  const { created } = writeRandomBertFolder(dir, BERT_BASE, RANDOM_SEED, tokenizerFolder);
  if (created) log(`random BERT-base written to ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

/** How a cached conversion is made: its range method (part of the cache key) and the converter. */
export interface Conversion {
  method: string;
  /** Noun for the calibration items in the log line, e.g. 'sentences'. */
  items: string;
  convert: (
    gpu: Gpu,
    files: ReturnType<typeof folderSource>,
    onProgress: (stage: string, done: number, total: number) => void,
  ) => Promise<AnyIntFile>;
}

/** The .i8t of a model folder made by `conversion`, converted once per (weights file, calibration text, method). */
export async function ensureConverted(
  gpu: Gpu,
  name: string,
  folder: string,
  calibration: string[],
  cacheDir: string,
  log: (m: string) => void,
  conversion: Conversion,
): Promise<string> {
  mkdirSync(`${cacheDir}/int8`, { recursive: true });
  const path = `${cacheDir}/int8/${name}.i8t`;
  const stampPath = `${path}.json`;
  const weights = statSync(`${folder}/model.safetensors`);
  const stamp = JSON.stringify({
    folder,
    bytes: weights.size,
    mtimeMs: weights.mtimeMs,
    calibration: createHash('sha256').update(JSON.stringify(calibration)).digest('hex').slice(0, 16),
    method: conversion.method,
  });
  if (existsSync(path) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) return path;
  const t0 = performance.now();
  const file = await conversion.convert(gpu, folderSource(folder), (stage, done, total) =>
    process.stderr.write(`\r${name}: ${stage} ${done}/${total}   `),
  );
  writeFileSync(path, await writeIntModelFile(file));
  writeFileSync(stampPath, stamp);
  process.stderr.write('\n');
  log(
    `${name}: converted to INT8 with ${calibration.length} calibration ${conversion.items} in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
  return path;
}

/** The .i8t for an encoder folder (percentile-99.99 ranges), converted once per (weights file, calibration text). */
export function ensureInt8Model(
  gpu: Gpu,
  name: string,
  folder: string,
  calibration: string[],
  cacheDir: string,
  log: (m: string) => void,
): Promise<string> {
  return ensureConverted(gpu, name, folder, calibration, cacheDir, log, {
    method: 'percentile-99.99',
    items: 'sentences',
    convert: (g, files, onProgress) => convertModel(g, files, { calibration, batchSize: 8, onProgress }),
  });
}

/**
 * The dynamic-quantized int8 twin of a model folder's onnx/model.onnx (external data in
 * ../model.safetensors), staged as `<cacheDir>/q8/<name>/` with config.json and
 * onnx/model_quantized.onnx: the layout transformers.js reads for dtype 'q8'. Made once per
 * (graph, weights) and quantizer version.
 */
export function ensureQuantizedTwin(cacheDir: string, name: string, folder: string, log: (m: string) => void): string {
  const dir = `${cacheDir}/q8/${name}`;
  const path = `${dir}/onnx/model_quantized.onnx`;
  const stampPath = `${dir}/STAMP.json`;
  const stat = (f: string) => {
    const s = statSync(f);
    return { bytes: s.size, mtimeMs: s.mtimeMs };
  };
  const stamp = JSON.stringify({
    folder,
    graph: stat(`${folder}/onnx/model.onnx`),
    weights: stat(`${folder}/model.safetensors`),
    quantizer: 1,
  });
  if (existsSync(path) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) return dir;
  mkdirSync(`${dir}/onnx`, { recursive: true });
  const t0 = performance.now();
  const twin = quantizeOnnxDynamic(readFileSync(`${folder}/onnx/model.onnx`), {
    externalData: [{ path: '../model.safetensors', data: readFileSync(`${folder}/model.safetensors`) }],
  });
  writeFileSync(path, twin);
  copyFileSync(`${folder}/config.json`, `${dir}/config.json`);
  writeFileSync(stampPath, stamp);
  log(
    `${name}: int8 ONNX twin written (${(twin.length / 1e6).toFixed(1)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return dir;
}
