/** One device per test file, released after the file's tests. */
import { afterAll } from 'vitest';
import { requestGpu } from '../src/gpu/device.js';
import type { Gpu } from '../src/gpu/gpu.js';

let shared: Promise<Gpu> | undefined;

export function testGpu(): Promise<Gpu> {
  if (!shared) {
    shared = requestGpu();
    afterAll(async () => (await shared)?.destroy());
  }
  return shared;
}
