/**
 * What the command line shows on stderr: Dawn's native adapter messages filtered (shown with
 * --verbose), progress as a bar on a terminal and as whole lines on a pipe, errors as one line,
 * eval's progress in sentences, and long input reported when it is truncated.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { formatDuration, type ProgressSink, stderrSink, TerminalProgress } from '../src/cli/progress.js';
import { NativeLogFilter, TTY_COLUMNS_ENV } from '../src/cli/quiet-stderr.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/int8-transformer.mjs', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 400_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What Dawn 0.6.2 writes to fd 2 when it rejects Mesa's lavapipe driver (copied from a run here). */
const DAWN_BLOCK = [
  'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.',
  ' - While initializing adapter (backend=BackendType::Vulkan)',
  '    at InitializeImpl (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)',
  '',
  '',
].join('\n');
const LOADER_LINE =
  'Error: Loader Message: setup_loader_term_phys_devs:  Failed to detect any valid GPUs in the current config\n';
const NATIVE = /\.(cpp|h):\d+\)|Loader Message/;

function filtered(chunks: string[]): { out: string; writes: string[]; dropped: number } {
  const writes: string[] = [];
  const filter = new NativeLogFilter((t) => writes.push(t));
  for (const c of chunks) filter.push(c);
  filter.end();
  return { out: writes.join(''), writes, dropped: filter.dropped };
}

describe('the stderr filter', () => {
  it("drops Dawn's message blocks and the Vulkan loader's lines, keeping everything around them", () => {
    const text = `compile: compiling kernels\n${DAWN_BLOCK}${LOADER_LINE}ready: done\n`;
    const r = filtered([text]);
    expect(r.out).toBe('compile: compiling kernels\nready: done\n');
    expect(r.dropped).toBe(5);
    // The same text in pieces of every size.
    for (const size of [1, 3, 7, 40]) {
      const pieces = text.match(new RegExp(`[^]{1,${size}}`, 'g'))!;
      expect(filtered(pieces).out).toBe('compile: compiling kernels\nready: done\n');
    }
  });

  it('keeps our errors, JavaScript stacks and warnings without a C++ frame', () => {
    const ours = [
      'int8-transformer: no such model: x.i8t',
      'Error: something broke',
      '    at main (file:///work/src/cli/main.ts:12:34)',
      'Warning: calibrating on the built-in sentences',
      'the end',
      '',
    ].join('\n');
    const r = filtered([ours]);
    expect(r.out).toBe(ours);
    expect(r.dropped).toBe(0);
  });

  it('forwards a partial line at once (a terminal bar redrawn in place), holding only what may start a block', () => {
    const r = filtered(['\r\x1b[2Kcompile [##--] 10%', '\r\x1b[2Kcompile [####] 100%\n']);
    expect(r.writes[0]).toBe('\r\x1b[2Kcompile [##--] 10%');
    expect(r.out).toBe('\r\x1b[2Kcompile [##--] 10%\r\x1b[2Kcompile [####] 100%\n');
    const writes: string[] = [];
    const filter = new NativeLogFilter((t) => writes.push(t));
    filter.push('Warn');
    expect(writes).toEqual([]);
    filter.end();
    expect(writes).toEqual(['Warn']);
  });
});

function fakeSink(tty: boolean) {
  const writes: string[] = [];
  let now = 0;
  const sink: ProgressSink = { write: (t) => writes.push(t), tty, columns: 100, now: () => now };
  return { sink, writes, advance: (ms: number) => (now += ms) };
}

describe('progress', () => {
  afterEach(() => {
    delete process.env[TTY_COLUMNS_ENV];
  });

  it('on a pipe writes whole lines: one per tenth of a stage and the last, with elapsed time and ETA', () => {
    const { sink, writes, advance } = fakeSink(false);
    const p = new TerminalProgress(sink);
    for (let done = 0; done <= 1000; done++) {
      p.count('evaluating', done, 1000, 'sentences');
      advance(10);
    }
    expect(writes.every((w) => w.endsWith('\n') && !w.slice(0, -1).includes('\n') && !w.includes('\r'))).toBe(true);
    expect(writes).toHaveLength(11);
    expect(writes[5]).toMatch(/^evaluating: 500\/1000 sentences \(50%\), 0:05 elapsed, ETA 0:05\n$/);
    expect(writes.at(-1)).toBe('evaluating: 1000/1000 sentences (100%), 0:10 elapsed\n');
  });

  it('on a terminal redraws one line with a bar, elapsed and ETA, and ends it with a newline', () => {
    const { sink, writes, advance } = fakeSink(true);
    const p = new TerminalProgress(sink);
    p.load({ stage: 'convert', fraction: 0, message: 'calibrating' });
    advance(4000);
    p.load({ stage: 'convert', fraction: 0.5, message: 'calibrating 64/128' });
    advance(50);
    p.load({ stage: 'convert', fraction: 0.6, message: 'too soon to redraw' });
    p.load({ stage: 'ready', fraction: 1, message: 'BertForSequenceClassification' });
    const CLEAR = '\r\x1b[2K';
    expect(writes[0]).toBe(`${CLEAR}convert [${'-'.repeat(20)}]   0% calibrating  0:00 elapsed`);
    expect(writes[1]).toBe(
      `${CLEAR}convert [${'#'.repeat(10)}${'-'.repeat(10)}]  50% calibrating 64/128  0:04 elapsed, ETA 0:04`,
    );
    expect(writes.slice(2)).toEqual(['\n', 'ready: BertForSequenceClassification\n']);
  });

  it('ends an open bar before a note or an error', () => {
    const { sink, writes, advance } = fakeSink(true);
    const p = new TerminalProgress(sink);
    p.count('evaluating', 1, 3);
    p.note('3 of 3 texts were truncated');
    advance(500);
    p.count('evaluating', 2, 3);
    p.endLine();
    p.endLine();
    expect(writes.filter((w) => w === '\n')).toHaveLength(2);
    expect(writes[2]).toBe('3 of 3 texts were truncated\n');
  });

  it("takes the parent's terminal width from the environment behind the filter", () => {
    expect(stderrSink().tty).toBe(!!process.stderr.isTTY);
    process.env[TTY_COLUMNS_ENV] = '123';
    expect(stderrSink().tty).toBe(true);
    expect(formatDuration(3_723_000)).toBe('1:02:03');
  });
});

describe('the CLI on stderr', { timeout: 600_000 }, () => {
  it('hides Dawn adapter messages unless --verbose, which shows them', () => {
    const quiet = cli('device');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toMatch(/adapter/i);
    expect(quiet.stderr).not.toMatch(NATIVE);
    const loud = cli('device', '--verbose');
    expect(loud.code, loud.stderr).toBe(0);
    // Dawn prints its blocks where it rejects a driver (here Mesa's lavapipe); elsewhere there is nothing to hide.
    if (NATIVE.test(loud.stderr)) expect(loud.stderr).toMatch(/^Warning: .*\n - While initializing adapter/m);
  });

  it('prints usage errors and bad data as one line, exit 2 and 1, without a stack', () => {
    const usage = cli('eval', '--data', 'README.md');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^int8-transformer: usage: eval --model [^\n]*\n$/);
    const layout = cli('eval', '--model', 'models/sst2-bert-tiny.i8t', '--data', 'README.md');
    expect(layout.code).toBe(1);
    expect(layout.stderr).toMatch(/^int8-transformer: README\.md: unrecognised layout[^\n]*\n$/);
  });

  it('evaluates with progress in sentences as whole lines, and says how many texts it truncated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-terminal-'));
    const long = Array.from({ length: 200 }, () => 'a gorgeous , witty movie').join(' ');
    const rows = ['a gorgeous , witty , seductive movie .\t1', 'dull , lifeless and far too long\t0', `${long}\t1`];
    const tsv = join(dir, 'rows.tsv');
    writeFileSync(tsv, ['sentence\tlabel', ...rows, ...rows, 'fine\t1'].join('\n'));
    const r = cli(
      'eval',
      '--model',
      'models/sst2-bert-tiny.i8t',
      '--reference',
      'models/sst2-bert-tiny',
      '--data',
      tsv,
      '--batch',
      '2',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(report.n).toBe(7);
    expect(report.truncated).toBe(2);
    expect(r.stderr).not.toMatch(/\r/);
    expect(r.stderr).not.toMatch(NATIVE);
    const counts = [...r.stderr.matchAll(/^evaluating: (\d+)\/(\d+) sentences/gm)].map((m) => [+m[1], +m[2]]);
    expect(counts.at(-1)).toEqual([7, 7]);
    expect(counts.every(([done, total]) => total === 7 && done <= 7)).toBe(true);
    expect(r.stderr).toMatch(/^2 of 7 texts were longer than the model's positions and were truncated to fit$/m);
  });
});
