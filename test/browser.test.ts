/**
 * The kernel check suites in a real browser: Debian's chromium (WebGPU on SwiftShader) driven by
 * Playwright, the page served by Vite on 127.0.0.1.
 */

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertModel } from '../src/convert.js';
import { parseGlueTsv } from '../src/data/glue.js';
import { folderSource } from '../src/model/sources-node.js';
import { Int8Model } from '../src/session.js';
import { launchChromium, pipePageLogs } from './browser/chromium.js';
import { testGpu } from './gpu.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const shared = fileURLToPath(new URL('../../shared', import.meta.url));
const hasShared = existsSync(`${shared}/models/sst2-bert-tiny`);
const SENTENCES = ['a gorgeous , witty , seductive movie .', 'the worst film of the year , dull and lifeless .'];
let server: ViteDevServer;
let browser: Browser;

beforeAll(async () => {
  server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      fs: { allow: [root, ...(hasShared ? [shared] : [])] },
    },
  });
  await server.listen();
  browser = await launchChromium();
});

function pageUrl(path: string): string {
  const address = server.httpServer!.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://127.0.0.1:${port}${path}`;
}

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('kernel checks in headless Chromium', () => {
  it('every check suite passes on the browser WebGPU', { timeout: 900_000 }, async () => {
    const page = await browser.newPage();
    pipePageLogs(page, 'checks');
    await page.goto(pageUrl('/test/browser/checks.html'));
    await page.waitForFunction(() => window.__checks?.done, null, { timeout: 850_000, polling: 500 });
    const checks = await page.evaluate(() => window.__checks);
    expect(checks.error ?? 'no error').toBe('no error');
    expect(checks.device).toMatch(/packed_4x8_integer_dot_product\s+yes/);
    const suites = new Set(checks.results.map((r) => r.suite));
    expect(suites.has('INT8 GEMM')).toBe(true);
    const failures = checks.results.filter((r) => r.failure).map((r) => r.failure);
    expect(failures).toEqual([]);
    const compared = checks.results.reduce((n, r) => n + r.elements, 0);
    console.log(
      `browser: ${checks.results.length} checks over ${suites.size} suites, ${compared} values compared, 0 mismatches`,
    );
  });
});

describe('the library in headless Chromium', () => {
  it('runs the built-in integer model and converts a Hugging Face folder from URLs, with the logits of Node', {
    timeout: 600_000,
  }, async () => {
    const page = await browser.newPage();
    pipePageLogs(page, 'model');
    const query = hasShared ? `?shared=${encodeURIComponent(`/@fs${shared}`)}` : '';
    await page.goto(pageUrl(`/test/browser/model.html${query}`));
    await page.waitForFunction(() => window.__model?.done, null, { timeout: 580_000, polling: 500 });
    const result = await page.evaluate(() => window.__model);
    expect(result.error ?? 'no error').toBe('no error');
    expect(result.builtIn!.labels).toEqual(['POSITIVE', 'NEGATIVE']);
    // Overlapping calls on one model in the browser: every one gets the answer it gets alone.
    expect(result.overlap).toEqual({ calls: 50, mismatched: [], errors: [] });
    expect(result.generateOverlap).toEqual({ calls: 50, mismatched: [], errors: [] });
    // The same integer model in Node gives the same logits, bit for bit (they are int32 * scale).
    const gpu = await testGpu();
    const node = await Int8Model.fromBytes(gpu, new Uint8Array(readFileSync(`${root}/models/sst2-bert-tiny.i8t`)));
    const nodePreds = await node.classify(SENTENCES);
    node.dispose();
    expect(result.builtIn!.logits).toEqual(nodePreds.map((p) => p.logits));
    if (hasShared) {
      // Converted in the browser with the same calibration text as here: the same plan, the same logits.
      const calibration = parseGlueTsv(readFileSync(`${shared}/data/glue/sst2/train_calib1000.tsv`, 'utf8'))
        .rows.slice(0, 8)
        .map((r) => r.input);
      const file = await convertModel(gpu, folderSource(`${shared}/models/sst2-bert-tiny`), { calibration });
      const converted = await Int8Model.fromFile(gpu, file);
      const preds = await converted.classify(SENTENCES);
      converted.dispose();
      expect(result.converted!.calibration).toBe(8);
      expect(result.converted!.logits).toEqual(preds.map((p) => p.logits));
    }
  });
});
