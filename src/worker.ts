/**
 * Models in a Web Worker, so that loading (downloads, calibration, compiling) and inference never
 * block the page: `createWorkerModel(source, options)` starts a module worker that runs loadModel
 * and answers the model's methods; the page gets a proxy whose methods are the model's, async.
 *
 *   const model = await createWorkerModel('org/name');
 *   const [p] = await model.classify('a gorgeous movie .');
 *   model.dispose();                                    // terminates the worker
 *
 * The protocol: the page posts {type, id, ...} requests; the worker answers each id with progress,
 * streamed pieces or tokens, then one 'done' or 'error'. Errors are rebuilt in the page with their
 * name and message. Functions cannot cross to a worker: onProgress, onToken and signal stay in the
 * page and travel as messages; `gpu`, `fetch` and ModelFiles sources are refused by name.
 *
 * By default the worker is a small module (a blob: URL) that sets a flag and imports this very
 * module, which then calls serveModelWorker() as it is evaluated (a flag, not an import by name: in dist/ this code may
 * sit in a shared chunk whose export names are the bundler's). That works where the library is
 * served as files of its own (dist/, a dev server, Vite with optimizeDeps.exclude). Apps that bundle the library into their own chunks, or whose CSP
 * forbids blob: workers, write a worker file of two lines and pass it as `worker` (README).
 */
import { builtInModelUrl, type LoadOptions, type LoadProgress, loadModel, type ModelSource } from './api.js';
import type { ModelConfig } from './core/types.js';
import type { GenerationResult } from './generate/generate.js';
import { Generation } from './generate/generation.js';
import type { GenerationOptions, TokenEvent } from './generate/options.js';
import type { TranslationOptions, TranslationResult } from './generate/translation-result.js';
import type { GpuMemory } from './gpu/profile.js';
import { parseHubId } from './model/hub.js';
import type {
  Capability,
  EmbedOptions,
  Prediction,
  Profile,
  ProfileOptions,
  RunOptions,
  TagOptions,
  Texts,
  ZeroShotRunOptions,
} from './session.js';
import type { EntityGroup, TokenEntity } from './tag.js';
import type { ZeroShotResult } from './zero-shot.js';

/** loadModel's options that can cross to a worker, and the worker to use. */
export interface WorkerModelOptions extends Omit<LoadOptions, 'gpu' | 'fetch'> {
  /**
   * The worker to run the model in: a Worker whose script calls serveModelWorker(), or that
   * script's URL (started as a module worker). Default: one importing this module (see above).
   */
  worker?: Worker | string | URL;
}

/** A model in a worker: TextModel's methods, all asynchronous (memory() too). */
export interface WorkerModel {
  readonly kind: 'int8' | 'fp32';
  readonly config: ModelConfig;
  readonly capabilities: readonly Capability[];
  classify(texts: Texts, options?: RunOptions): Promise<Prediction[]>;
  embed(texts: Texts, options?: EmbedOptions): Promise<Float32Array[]>;
  tag(texts: string | readonly string[], options?: TagOptions & { aggregation?: 'simple' }): Promise<EntityGroup[][]>;
  tag(texts: string | readonly string[], options: TagOptions & { aggregation: 'none' }): Promise<TokenEntity[][]>;
  classifyZeroShot(text: string, labels: readonly string[], options?: ZeroShotRunOptions): Promise<ZeroShotResult>;
  classifyZeroShot(
    texts: readonly string[],
    labels: readonly string[],
    options?: ZeroShotRunOptions,
  ): Promise<ZeroShotResult[]>;
  generate(prompt: string, options?: GenerationOptions): Generation;
  generateBatch(prompts: readonly string[], options?: GenerationOptions): Promise<GenerationResult[]>;
  translate(text: string, options?: TranslationOptions): Generation<TranslationResult>;
  translate(texts: readonly string[], options?: TranslationOptions): Promise<TranslationResult[]>;
  profile(texts: Texts, options?: ProfileOptions): Promise<Profile>;
  memory(): Promise<GpuMemory>;
  /** Terminates the worker (which releases its device); calls in flight and later reject. */
  dispose(): void;
}

/** The methods a worker answers; anything else is refused there. */
const METHODS = [
  'classify',
  'embed',
  'tag',
  'classifyZeroShot',
  'generate',
  'generateBatch',
  'translate',
  'profile',
  'memory',
] as const;
type Method = (typeof METHODS)[number];

type Request =
  | { type: 'load'; id: number; source: unknown; options: Record<string, unknown> }
  | { type: 'call'; id: number; method: Method; args: unknown[]; stream: boolean; tokens: boolean }
  | { type: 'abort'; id: number };

type Reply =
  | { type: 'progress'; id: number; progress: LoadProgress }
  | { type: 'piece'; id: number; piece: string }
  | { type: 'token'; id: number; event: unknown }
  | { type: 'done'; id: number; value: unknown }
  | { type: 'error'; id: number; error: { name: string; message: string } };

interface ModelInfo {
  kind: 'int8' | 'fp32';
  config: ModelConfig;
  capabilities: Capability[];
}

/** Set by the default worker script before it imports this module: serve from that worker. */
const SERVE_FLAG = 'int8-transformer.serve-model-worker';

const hasScheme = (s: string) => /^[a-z][a-z0-9+.-]+:/i.test(s);

/**
 * The source as the worker can take it. Relative URLs are resolved here, against the page: the
 * worker's own location is its script's (or a blob: URL), not the page the caller wrote them for.
 */
function workerSource(source: ModelSource | undefined, precision: LoadOptions['precision']): unknown {
  if (source === undefined || source === 'default') return builtInModelUrl(precision).href;
  if (source instanceof URL) return source.href;
  if (typeof source === 'string') {
    if (parseHubId(source) || hasScheme(source)) return source;
    const base =
      typeof document !== 'undefined'
        ? document.baseURI
        : (globalThis as { location?: { href: string } }).location?.href;
    return new URL(source, base).href;
  }
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return source;
  const s = source as { has?: unknown; read?: unknown };
  if (typeof s.has === 'function' && typeof s.read === 'function')
    throw new TypeError(
      'createWorkerModel: a ModelFiles source cannot cross to a worker; pass a URL, a hub id, .i8t bytes or File objects',
    );
  if (source && typeof (source as Iterable<File>)[Symbol.iterator] === 'function')
    return [...(source as Iterable<File>)];
  return source; // loadModel in the worker names what it cannot load
}

function startWorker(worker: WorkerModelOptions['worker']): Worker {
  if (typeof Worker === 'undefined')
    throw new Error('createWorkerModel: this environment has no Web Workers (it runs in browsers); use loadModel');
  if (worker instanceof Worker) return worker;
  if (worker !== undefined) return new Worker(worker, { type: 'module' });
  // Static imports, evaluated in order: the flag first, then this module, whose message listener
  // is then in place before the worker takes messages (a dynamic import would let the page's first
  // message arrive before it, and be lost).
  const flag = `globalThis[Symbol.for(${JSON.stringify(SERVE_FLAG)})] = true;`;
  const script = `import ${JSON.stringify(`data:text/javascript,${encodeURIComponent(flag)}`)};\nimport ${JSON.stringify(import.meta.url)};\n`;
  const url = URL.createObjectURL(new Blob([script], { type: 'text/javascript' }));
  try {
    return new Worker(url, { type: 'module' });
  } finally {
    // The worker has its own reference once constructed; a late revoke would only leak.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}

function rebuildError(e: { name: string; message: string }): Error {
  const error = new Error(e.message);
  error.name = e.name;
  return error;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  onProgress?: (p: LoadProgress) => void;
  onPiece?: (piece: string) => void;
  onToken?: (event: unknown) => void;
}

/** Loads a model in a new module worker; resolves once it is ready there. */
export async function createWorkerModel(source?: ModelSource, options: WorkerModelOptions = {}): Promise<WorkerModel> {
  const { worker: which, onProgress, ...rest } = options as WorkerModelOptions & { gpu?: unknown; fetch?: unknown };
  for (const key of ['gpu', 'fetch'] as const)
    if (rest[key] !== undefined)
      throw new TypeError(`createWorkerModel: the ${key} option cannot cross to a worker; leave it out`);
  const sent = workerSource(source, options.precision);
  const worker = startWorker(which);
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closed: Error | undefined;

  const close = (why: Error) => {
    if (closed) return;
    closed = why;
    worker.terminate();
    for (const p of pending.values()) p.reject(why);
    pending.clear();
  };
  worker.addEventListener('message', (e: MessageEvent<Reply>) => {
    const m = e.data;
    const p = pending.get(m.id);
    if (!p) return; // aborted in the page already
    if (m.type === 'progress') p.onProgress?.(m.progress);
    else if (m.type === 'piece') p.onPiece?.(m.piece);
    else if (m.type === 'token') p.onToken?.(m.event);
    else {
      pending.delete(m.id);
      if (m.type === 'done') p.resolve(m.value);
      else p.reject(rebuildError(m.error));
    }
  });
  worker.addEventListener('error', (e: ErrorEvent) => {
    e.preventDefault();
    close(
      new Error(
        `model worker failed: ${e.message || 'its script did not load (a bundled app or a CSP without blob: workers needs the worker option; see the README)'}`,
      ),
    );
  });
  worker.addEventListener('messageerror', () => close(new Error('model worker: a reply could not be read')));

  const request = <T>(
    message: Record<string, unknown> & { type: Request['type'] },
    handlers: Omit<Pending, 'resolve' | 'reject'> = {},
    signal?: AbortSignal,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (closed) return reject(closed);
      if (signal?.aborted) return reject(signal.reason);
      const id = nextId++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...handlers });
      signal?.addEventListener(
        'abort',
        () => {
          if (!pending.delete(id)) return;
          worker.postMessage({ type: 'abort', id });
          reject(signal.reason);
        },
        { once: true },
      );
      try {
        worker.postMessage({ ...message, id });
      } catch (e) {
        pending.delete(id);
        reject(new TypeError(`createWorkerModel: cannot send ${message.type} to the worker: ${(e as Error).message}`));
      }
    });

  /** A method call: functions in options stay here, the rest crosses. */
  const call = <T>(
    method: Method,
    args: unknown[],
    options: { signal?: AbortSignal; onToken?: (event: never) => void } | undefined,
    onPiece?: (piece: string) => void,
  ): Promise<T> => {
    const { signal, onToken, ...plain } = options ?? {};
    return request<T>(
      { type: 'call', method, args: [...args, plain], stream: !!onPiece, tokens: !!onToken },
      { onPiece, onToken: onToken as ((event: unknown) => void) | undefined },
      signal,
    );
  };

  let info: ModelInfo;
  try {
    info = await request<ModelInfo>({ type: 'load', source: sent, options: rest }, { onProgress });
  } catch (e) {
    close(e as Error);
    throw e;
  }

  function translate(text: string, options?: TranslationOptions): Generation<TranslationResult>;
  function translate(texts: readonly string[], options?: TranslationOptions): Promise<TranslationResult[]>;
  function translate(
    texts: string | readonly string[],
    options?: TranslationOptions,
  ): Generation<TranslationResult> | Promise<TranslationResult[]> {
    if (typeof texts === 'string')
      return new Generation<TranslationResult>((push) => call('translate', [texts], options, push));
    return call('translate', [texts], options);
  }

  return {
    kind: info.kind,
    config: info.config,
    capabilities: info.capabilities,
    classify: (texts, options) => call('classify', [texts], options),
    embed: (texts, options) => call('embed', [texts], options),
    tag: ((texts: string | readonly string[], options?: TagOptions) =>
      call('tag', [texts], options)) as WorkerModel['tag'],
    classifyZeroShot: ((texts: string | readonly string[], labels: readonly string[], options?: ZeroShotRunOptions) =>
      call('classifyZeroShot', [texts, labels], options)) as WorkerModel['classifyZeroShot'],
    generate: (prompt, options) => new Generation((push) => call('generate', [prompt], options, push)),
    generateBatch: (prompts, options) => call('generateBatch', [prompts], options),
    translate,
    profile: (texts, options) => call('profile', [texts], options),
    memory: () => call('memory', [], undefined),
    dispose: () => close(new Error('this worker model was disposed')),
  };
}

interface WorkerScope {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (e: MessageEvent<Request>) => void): void;
}

/**
 * The worker's side: answers createWorkerModel's requests with one model loaded by loadModel.
 * Call it once in a module worker's script.
 */
export function serveModelWorker(): void {
  const scope = globalThis as unknown as WorkerScope;
  let model: Awaited<ReturnType<typeof loadModel>> | undefined;
  const running = new Map<number, AbortController>();
  const post = (reply: Reply, transfer?: Transferable[]) => scope.postMessage(reply, transfer);

  scope.addEventListener('message', async (e) => {
    const m = e.data;
    if (m.type === 'abort') {
      running.get(m.id)?.abort(new DOMException('aborted by the page', 'AbortError'));
      return;
    }
    const controller = new AbortController();
    running.set(m.id, controller);
    try {
      let value: unknown;
      if (m.type === 'load') {
        if (model) throw new Error('this worker holds a model already; create another worker model');
        model = await loadModel(m.source as ModelSource, {
          ...(m.options as LoadOptions),
          onProgress: (progress) => post({ type: 'progress', id: m.id, progress }),
        });
        value = { kind: model.kind, config: model.config, capabilities: [...model.capabilities] } satisfies ModelInfo;
      } else {
        if (!model) throw new Error('no model loaded in this worker');
        if (!METHODS.includes(m.method)) throw new Error(`unknown method ${String(m.method)}`);
        const args = [...m.args];
        const options: Record<string, unknown> = { ...(args.pop() as object), signal: controller.signal };
        if (m.tokens) options.onToken = (event: TokenEvent) => post({ type: 'token', id: m.id, event });
        const result = (model[m.method] as (...a: unknown[]) => unknown)(...args, options);
        if (m.stream) {
          for await (const piece of result as AsyncIterable<string>) post({ type: 'piece', id: m.id, piece });
        }
        value = await result;
      }
      post({ type: 'done', id: m.id, value });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      post({ type: 'error', id: m.id, error: { name: error.name, message: error.message } });
    } finally {
      running.delete(m.id);
    }
  });
}

// The default worker of createWorkerModel imports this module with the flag set (see above).
if ((globalThis as Record<symbol, unknown>)[Symbol.for(SERVE_FLAG)] === true) serveModelWorker();
