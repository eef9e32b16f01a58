/**
 * Headless Chromium with WebGPU on machines without a GPU: Debian's chromium (a test tool's own
 * browser download is not possible here), SwiftShader as the WebGPU adapter, pages served on
 * 127.0.0.1 because navigator.gpu exists only in secure contexts.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? CHROMIUM_PATHS.find((p) => existsSync(p));
  if (!path)
    throw new Error(
      `No Chromium found (looked for ${CHROMIUM_PATHS.join(', ')}); run \`npm run setup\` or set CHROMIUM_PATH.`,
    );
  return path;
}

export function chromiumArgs(adapter: 'swiftshader' | 'hardware' = 'swiftshader'): string[] {
  const common = [
    '--enable-unsafe-webgpu',
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--no-first-run',
  ];
  return adapter === 'swiftshader'
    ? [...common, '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader']
    : [...common, '--enable-features=Vulkan', '--use-angle=vulkan'];
}

export async function launchChromium(adapter: 'swiftshader' | 'hardware' = 'swiftshader'): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: chromiumArgs(adapter) });
}

/** Forwards the page's console errors and crashes to the Node log, so failures are visible. */
export function pipePageLogs(page: Page, prefix = 'page'): void {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') console.log(`[${prefix}] ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => console.log(`[${prefix}] uncaught: ${e.message}`));
  page.on('crash', () => console.log(`[${prefix}] crashed`));
}
