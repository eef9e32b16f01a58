/**
 * The kernel check suites in a real browser: Debian's chromium (WebGPU on SwiftShader) driven by
 * Playwright, the page served by Vite on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { type ViteDevServer, createServer } from 'vite';
import { launchChromium, pipePageLogs } from './browser/chromium.js';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
let server: ViteDevServer;
let browser: Browser;

beforeAll(async () => {
  server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null },
  });
  await server.listen();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('kernel checks in headless Chromium', () => {
  it('every check suite passes on the browser WebGPU', { timeout: 900_000 }, async () => {
    const address = server.httpServer!.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const page = await browser.newPage();
    pipePageLogs(page, 'checks');
    await page.goto(`http://127.0.0.1:${port}/test/browser/checks.html`);
    await page.waitForFunction(() => window.__checks?.done, null, { timeout: 850_000, polling: 500 });
    const checks = await page.evaluate(() => window.__checks);
    expect(checks.error ?? 'no error').toBe('no error');
    expect(checks.device).toMatch(/packed_4x8_integer_dot_product\s+yes/);
    const suites = new Set(checks.results.map((r) => r.suite));
    expect(suites.has('INT8 GEMM')).toBe(true);
    const failures = checks.results.filter((r) => r.failure).map((r) => r.failure);
    expect(failures).toEqual([]);
    const compared = checks.results.reduce((n, r) => n + r.elements, 0);
    console.log(`browser: ${checks.results.length} checks over ${suites.size} suites, ${compared} values compared, 0 mismatches`);
  });
});
