/**
 * Every test file gets a loading cache of its own in a temporary directory (removed afterwards):
 * tests must neither write to the user's cache directory nor find models converted by an earlier
 * run. CLI children started by the tests inherit the variable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'int8-transformer-cache-'));
process.env.INT8_TRANSFORMER_CACHE = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
