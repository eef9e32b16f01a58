/** Placeholder demo: device report and one INT8 GEMM check, in the browser. */
import { requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { suite } from '../test/cases/gemm-i8.js';
import { checkFailure } from '../test/cases/suite.js';

const out = document.getElementById('out')!;

async function main(): Promise<void> {
  const gpu = await requestGpu();
  out.textContent = `${formatDeviceReport(gpu)}\n\nchecking the INT8 GEMM…`;
  const cases = suite.cases().filter((c) => c.name.includes('96x200x192'));
  const lines: string[] = [];
  for (const c of cases) {
    const r = await c.run(gpu);
    lines.push(`${c.name}: ${checkFailure(r) ?? `${r.elements} outputs equal the CPU reference`}`);
  }
  out.textContent = `${formatDeviceReport(gpu)}\n\n${lines.join('\n')}`;
  gpu.destroy();
}

main().catch((e: Error) => (out.textContent = `WebGPU unavailable: ${e.message}`));
