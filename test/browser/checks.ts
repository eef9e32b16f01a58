/// <reference types="vite/client" />
/**
 * Runs every check suite of test/cases in the page, on the browser's WebGPU, and publishes the
 * results on window.__checks for the Playwright test (test/browser.test.ts) to assert.
 */
import { requestGpu } from '../../src/gpu/device.js';
import { formatDeviceReport } from '../../src/gpu/report.js';
import { type CheckResult, type CheckSuite, checkFailure } from '../cases/suite.js';

interface PageChecks {
  done: boolean;
  device?: string;
  error?: string;
  results: (CheckResult & { suite: string; failure?: string })[];
}

declare global {
  interface Window {
    __checks: PageChecks;
  }
}

const modules = import.meta.glob<{ suite?: CheckSuite }>('../cases/*.ts', { eager: true });
const state: PageChecks = { done: false, results: [] };
window.__checks = state;

const status = document.getElementById('status')!;
const table = document.getElementById('results') as HTMLTableElement;

async function main(): Promise<void> {
  const only = new URLSearchParams(location.search).get('suite');
  const suites = Object.values(modules)
    .map((m) => m.suite)
    .filter((s): s is CheckSuite => !!s && (!only || s.name === only));
  const gpu = await requestGpu();
  state.device = formatDeviceReport(gpu);
  for (const suite of suites) {
    for (const c of suite.cases()) {
      status.textContent = `${suite.name}: ${c.name}`;
      let result: CheckResult;
      try {
        result = await c.run(gpu);
      } catch (e) {
        result = { name: c.name, elements: 0, mismatches: 0, firstMismatch: `threw ${(e as Error).message}` };
      }
      const failure = checkFailure(result);
      state.results.push({ ...result, suite: suite.name, failure });
      const row = table.insertRow();
      row.className = failure ? 'fail' : 'pass';
      row.insertCell().textContent = suite.name;
      row.insertCell().textContent = c.name;
      row.insertCell().textContent = failure ?? `${result.elements} values exact`;
    }
  }
  gpu.destroy();
  const failed = state.results.filter((r) => r.failure).length;
  status.textContent = `${state.results.length} checks, ${failed} failed`;
}

main()
  .catch((e: Error) => {
    state.error = e.message;
    status.textContent = `error: ${e.message}`;
  })
  .finally(() => {
    state.done = true;
  });
