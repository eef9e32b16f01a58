/**
 * The browser side of the benchmarks that drive one page per runtime (bench/generate.ts,
 * bench/translate.ts): a Vite server for the repository and ../shared, cross-origin isolated so
 * that the wasm runtime gets threads; pages opened until their peer module imports; and what the
 * results record about the machine.
 */
import os from 'node:os';
import type { Browser, Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';
import { pipePageLogs } from '../test/browser/chromium.js';

export async function startBenchServer(
  root: string,
  shared: string,
  entry: string,
): Promise<{ server: ViteDevServer; base: string }> {
  const server = await createServer({
    root,
    configFile: false,
    logLevel: 'error',
    optimizeDeps: { include: ['@huggingface/transformers'], entries: [entry] },
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      fs: { allow: [root, shared] },
      // Cross-origin isolation gives the wasm runtime SharedArrayBuffer, hence threads.
      headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' },
    },
  });
  await server.listen();
  const address = server.httpServer!.address();
  return { server, base: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

/** A file's URL on the bench server: under the root as is, elsewhere (../shared) through /@fs. */
export const urlOfPath = (root: string, path: string) =>
  path.startsWith(root) ? `/${path.slice(root.length)}` : `/@fs${path}`;

/**
 * Opens `path` and calls the page's global `warmImports` (it imports the peer module). Vite
 * optimizes dependencies as pages find them; a page importing one from before an optimization
 * fails (HTTP 504): it is retried after a reload.
 */
export async function openBenchPage(
  browser: Browser,
  url: string,
  label: string,
  warmImports: string,
  log: (m: string) => void,
): Promise<Page> {
  for (let attempt = 1; ; attempt++) {
    const page = await browser.newPage();
    pipePageLogs(page, label);
    try {
      await page.goto(url);
      await page.waitForFunction(
        (name) => typeof (window as unknown as Record<string, unknown>)[name] === 'function',
        warmImports,
        { timeout: 120_000 },
      );
      await page.evaluate((name) => (window as unknown as Record<string, () => Promise<string>>)[name](), warmImports);
      return page;
    } catch (e) {
      await page.close();
      if (attempt >= 4) throw e;
      log(`opening the ${label} page: ${(e as Error).message.split('\n')[0]}; retrying`);
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

export interface MachineFacts {
  cpu: string;
  cores: number;
  memoryBytes: number;
  os: string;
  node: string;
  chromium: string;
  loadavgStart: number[];
  loadavgEnd: number[];
  browserAdapter: string;
}

export function machineFacts(browser: Browser, loadavgStart: number[], browserAdapter: string): MachineFacts {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    chromium: browser.version(),
    loadavgStart,
    loadavgEnd: os.loadavg(),
    browserAdapter,
  };
}

export const firstLine = (e: unknown) => ((e as Error).message ?? String(e)).split('\n')[0];
