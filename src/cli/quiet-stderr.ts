/**
 * Dawn (the `webgpu` binding) and the Vulkan loader write their adapter-discovery messages from
 * native code straight to file descriptor 2, e.g. for every Vulkan driver they probe and reject:
 *
 *   Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.
 *    - While initializing adapter (backend=BackendType::Vulkan)
 *       at InitializeImpl (/.../dawn/native/vulkan/PhysicalDeviceVk.cpp:257)
 *
 * Node cannot redirect its own descriptor 2 and dawn.node has no logging hook, so patching
 * process.stderr sees none of it. The CLI therefore runs itself as a child whose stderr is a pipe,
 * and the parent copies that pipe to its own stderr without these blocks (`--verbose` runs in one
 * process and shows everything). Only blocks that carry a C++ source frame, or the loader's own
 * prefixes, are dropped: our messages, JavaScript stacks and anything unknown pass unchanged.
 */
import { spawn } from 'node:child_process';

/** Set in the child: it runs the CLI itself instead of supervising. */
export const CHILD_ENV = 'INT8_TRANSFORMER_CLI_CHILD';
/** Set in the child when the parent's stderr is a terminal: its width, since the child's stderr is a pipe. */
export const TTY_COLUMNS_ENV = 'INT8_TRANSFORMER_STDERR_COLUMNS';

/** The first line of a native message block. */
const HEAD = /^(Warning|Error|Info): \S/;
/** Lines Dawn adds under a head: the error's context and its C++ source frames. */
const CONTINUATION = /^( - While |\s+at \S.*\)$)/;
const CPP_FRAME = /^\s+at \S.*\(.*\.(cpp|cc|h|hpp|mm):\d+\)$/;
/** One-line messages of the Vulkan loader. */
const LOADER_LINE = /^((Error|Warning|Info): Loader Message: |error: XDG_RUNTIME_DIR )/;
/** Prefixes a line must be seen whole for: it may begin one of the blocks above. */
const HELD_PREFIXES = ['Warning: ', 'Error: ', 'Info: ', 'error: XDG_RUNTIME_DIR '];

/**
 * A stream filter over text chunks: `push` what arrives, `end` when the stream closes. Text that
 * cannot start a native block is forwarded at once, partial lines included (a progress bar
 * redraws one line without a newline); a possible block is held until it is complete.
 */
export class NativeLogFilter {
  /** Lines dropped so far. */
  dropped = 0;
  private held: string[] = [];
  private partial = '';
  /** The current line's beginning was forwarded: forward the rest up to its newline. */
  private midLine = false;

  constructor(private readonly forward: (text: string) => void) {}

  push(chunk: string): void {
    let text = chunk;
    if (this.midLine) {
      const nl = text.indexOf('\n');
      if (nl < 0) {
        this.forward(text);
        return;
      }
      this.forward(text.slice(0, nl + 1));
      this.midLine = false;
      text = text.slice(nl + 1);
    }
    text = this.partial + text;
    this.partial = '';
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    const rest = text.slice(start);
    if (!rest) return;
    if (this.held.length === 0 && !HELD_PREFIXES.some((p) => p.startsWith(rest) || rest.startsWith(p))) {
      this.forward(rest);
      this.midLine = true;
    } else {
      this.partial = rest;
    }
  }

  /** The stream ended (or went quiet): decides what is held, and forwards an unfinished line. */
  end(): void {
    this.settle();
    if (this.partial) {
      if (!LOADER_LINE.test(this.partial)) this.forward(this.partial);
      else this.dropped++;
      this.partial = '';
    }
  }

  private line(line: string): void {
    if (LOADER_LINE.test(line)) {
      this.settle();
      this.dropped++;
      return;
    }
    if (HEAD.test(line)) {
      this.settle();
      this.held.push(line);
      return;
    }
    if (this.held.length && CONTINUATION.test(line)) {
      this.held.push(line);
      return;
    }
    // Dawn ends each message with an empty line.
    if (this.held.length && line === '' && this.isNative()) {
      this.held.push(line);
      this.settle();
      return;
    }
    this.settle();
    this.forward(`${line}\n`);
  }

  private isNative(): boolean {
    return this.held.some((l) => CPP_FRAME.test(l));
  }

  private settle(): void {
    if (!this.held.length) return;
    if (this.isNative()) this.dropped += this.held.length;
    else this.forward(`${this.held.join('\n')}\n`);
    this.held = [];
  }
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Runs this same command line (`process.argv`) in a child process with its stderr filtered, and
 * exits as the child did: same exit code, or the same signal. A signal sent to this process alone
 * is passed on (Ctrl-C on a terminal reaches both; the child decides).
 */
export function runFiltered(): void {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: '1' };
  if (process.stderr.isTTY) env[TTY_COLUMNS_ENV] = String(process.stderr.columns || 80);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env,
  });
  const filter = new NativeLogFilter((text) => process.stderr.write(text));
  // Held text waits for its next line; if none comes soon, it is decided on what arrived.
  let quiet: ReturnType<typeof setTimeout> | undefined;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    filter.push(chunk);
    clearTimeout(quiet);
    quiet = setTimeout(() => filter.end(), 250);
  });
  const relay = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED_SIGNALS) process.on(s, relay);
  child.on('error', (e) => {
    process.stderr.write(`int8-transformer: cannot start ${process.execPath}: ${e.message}\n`);
    process.exit(1);
  });
  child.on('close', (code, signal) => {
    clearTimeout(quiet);
    filter.end();
    for (const s of FORWARDED_SIGNALS) process.off(s, relay);
    // A note, not a second error line: the error itself stays the one "int8-transformer: " line.
    if (code !== 0 && filter.dropped > 0)
      process.stderr.write(
        `(${filter.dropped} line${filter.dropped === 1 ? '' : 's'} of Dawn/Vulkan start-up messages hidden; --verbose shows them)\n`,
      );
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
