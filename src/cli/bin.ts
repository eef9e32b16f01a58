/**
 * The `int8-transformer` command (package.json "bin": dist/cli.js, built from this file; in a clone,
 * bin/int8-transformer.mjs runs it through tsx). Runs the CLI (main.ts) in a child process behind
 * the stderr filter of quiet-stderr.ts; `--verbose`, or being that child, runs it here.
 */
import { CHILD_ENV, runFiltered } from './quiet-stderr.js';

if (process.env[CHILD_ENV] || process.argv.slice(2).includes('--verbose')) {
  (await import('./main.js')).run();
} else {
  runFiltered();
}
