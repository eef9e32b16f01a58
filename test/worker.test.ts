/**
 * Models in Web Workers in headless Chromium (Debian's chromium via playwright-core, the page
 * served by Vite on 127.0.0.1): createWorkerModel classifies as the page's own thread does, errors
 * thrown in the worker reach the page with their message, and loadModel in a worker resolves a
 * relative URL against the worker's script.
 */
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, pipePageLogs } from './browser/chromium.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let server: ViteDevServer;
let browser: Browser;

beforeAll(async () => {
  server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, hmr: false, watch: null, fs: { allow: [root] } },
  });
  await server.listen();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('models in Web Workers', () => {
  it('createWorkerModel classifies like the main thread; errors cross with their message; relative URLs in a worker resolve against it', {
    timeout: 600_000,
  }, async () => {
    const page = await browser.newPage();
    pipePageLogs(page, 'worker');
    const address = server.httpServer!.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await page.goto(`http://127.0.0.1:${port}/test/browser/worker.html`);
    await page.waitForFunction(() => window.__worker?.done, null, { timeout: 580_000, polling: 500 });
    const r = await page.evaluate(() => window.__worker);
    expect(r.error ?? 'no error').toBe('no error');
    expect(r.main!.labels).toEqual(['POSITIVE', 'NEGATIVE']);
    // The same integer model in a worker: the same logits, bit for bit.
    expect(r.helper!.labels).toEqual(r.main!.labels);
    expect(r.helper!.logits).toEqual(r.main!.logits);
    expect(r.helper!.kind).toBe('int8');
    expect(r.helper!.capabilities).toEqual(['classify']);
    expect(r.helper!.weightBytes).toBeGreaterThan(1e6);
    expect(r.helper!.stages.at(-1)).toBe('ready');
    expect(r.errors!.wrongMethod).toMatch(/cannot embed; use classify\(\)/);
    expect(r.errors!.aborted).toBe('Error: stopped by the page');
    expect(r.errors!.afterDispose).toMatch(/this worker model was disposed/);
    expect(r.errors!.badSource).toMatch(/no-such-model\.i8t/);
    expect(r.ownWorker).toEqual(r.main);
    // Generation streams across: the pieces make the text, one onToken event per token.
    const g = r.generate!;
    expect(g.tokens.length).toBe(6);
    expect(g.pieces.join('')).toBe(g.text);
    expect(g.tokenEvents).toBe(6);
    expect(g.batch).toEqual([g.tokens]);
    expect(r.relative).toEqual(r.main);
  });
});
