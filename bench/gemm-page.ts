/** The GEMM benchmark inside a browser page; bench/gemm.ts reads window.__bench. */
import { requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { type GemmBenchOptions, type GemmBenchRow, runGemmBench } from './gemm-core.js';

declare global {
  interface Window {
    __bench: { done: boolean; device?: string; rows?: GemmBenchRow[]; error?: string };
    __benchOptions?: GemmBenchOptions;
  }
}

window.__bench = { done: false };
const log = document.getElementById('log')!;

async function main(): Promise<void> {
  const options = JSON.parse(new URLSearchParams(location.search).get('options') ?? '{}') as GemmBenchOptions;
  const gpu = await requestGpu();
  window.__bench.device = formatDeviceReport(gpu);
  window.__bench.rows = await runGemmBench(gpu, { ...options, onProgress: (m) => (log.textContent = m) });
  gpu.destroy();
}

main()
  .catch((e: Error) => (window.__bench.error = e.message))
  .finally(() => {
    window.__bench.done = true;
    log.textContent = window.__bench.error ?? 'done';
  });
