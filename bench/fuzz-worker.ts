/**
 * A child process of bench/fuzz-runner.ts: runs the cases it is sent, one at a time, and reports
 * each result as soon as it has it, so that a crash or a hang is charged to the case in flight.
 */
import { type CaseSpec, prepareSubjects, runCase } from './fuzz-cases.js';

process.on('message', async (message: { cases: CaseSpec[] }) => {
  // Before the first case, so that its timeout does not include building the subjects.
  if (message.cases.some((c) => c.family !== 'self-test')) await prepareSubjects();
  for (const spec of message.cases) {
    process.send!({ start: spec });
    process.send!({ result: await runCase(spec) });
  }
  process.send!({ done: true });
});
process.send!({ ready: true });
