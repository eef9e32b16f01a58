/** Registers a check suite's cases as vitest tests on the shared test device. */
import { describe, expect, it } from 'vitest';
import { type CheckSuite, checkFailure } from './cases/suite.js';
import { testGpu } from './gpu.js';

export function runSuite(suite: CheckSuite): void {
  describe(`${suite.name}: GPU equals the CPU reference`, () => {
    for (const c of suite.cases()) {
      it(c.name, async () => {
        const r = await c.run(await testGpu());
        expect(checkFailure(r) ?? 'passed').toBe('passed');
      });
    }
  });
}
