/**
 * Checks of what callers hand to a model's methods, before anything runs: the texts (a string, or a
 * list of strings and [string, string] pairs) and the run options. Errors name the method, the
 * position in the caller's own list and the type expected, because the failures they replace
 * ("Cannot read properties of null", a batch-relative index) came from deep inside tokenization.
 */
import type { GlueInput } from '../data/glue.js';

const EXPECTED_ITEM = 'expected a string or a [string, string] pair';

/** "null", "a number", "an array of 3 items": what a value is, for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array of ${v.length} item${v.length === 1 ? '' : 's'}`;
  const t = typeof v;
  if (t === 'object') return `an object (${Object.prototype.toString.call(v).slice(8, -1)})`;
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

/**
 * The caller's texts as a list. A string is one text; an array is always a list (so a pair goes in
 * a list of its own: `[[premise, hypothesis]]`), because ['a', 'b'] could mean either.
 */
export function checkTexts(texts: unknown, method: string): GlueInput[] {
  if (typeof texts === 'string') return [texts];
  if (!Array.isArray(texts)) {
    throw new TypeError(
      `${method}: texts is ${describeValue(texts)}; expected a string, or a list of strings and [string, string] pairs`,
    );
  }
  if (texts.length === 0) throw new RangeError(`${method}: no input texts (the list is empty)`);
  const out: GlueInput[] = new Array(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const item: unknown = texts[i];
    if (typeof item === 'string') {
      out[i] = item;
      continue;
    }
    if (!Array.isArray(item) || item.length !== 2)
      throw new TypeError(`${method}: texts[${i}] is ${describeValue(item)}; ${EXPECTED_ITEM}`);
    for (let j = 0; j < 2; j++) {
      if (typeof item[j] !== 'string') {
        throw new TypeError(
          `${method}: texts[${i}][${j}] is ${describeValue(item[j])}; expected a string (the ${j ? 'second' : 'first'} text of the pair)`,
        );
      }
    }
    out[i] = [item[0], item[1]];
  }
  return out;
}

export interface CheckedRunOptions {
  batchSize: number;
  signal?: AbortSignal;
}

/** Run options with their defaults; unknown keys are refused so that a misspelt option is not silently ignored. */
export function checkRunOptions(
  options: unknown,
  method: string,
  allowed: readonly string[],
  defaultBatchSize = 8,
): CheckedRunOptions {
  if (options === undefined) return { batchSize: defaultBatchSize };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(
      `${method}: options is ${describeValue(options)}; expected an object such as { ${allowed.join(', ')} }`,
    );
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key))
      throw new TypeError(`${method}: unknown option "${key}"; the options are ${allowed.join(', ')}`);
  }
  let batchSize = defaultBatchSize;
  if (o.batchSize !== undefined) {
    if (typeof o.batchSize !== 'number')
      throw new TypeError(`${method}: batchSize is ${describeValue(o.batchSize)}; expected a positive integer`);
    if (!Number.isSafeInteger(o.batchSize) || o.batchSize < 1)
      throw new RangeError(`${method}: batchSize ${o.batchSize} must be a positive integer`);
    batchSize = o.batchSize;
  }
  const signal = o.signal;
  if (signal !== undefined && !isAbortSignal(signal))
    throw new TypeError(`${method}: signal is ${describeValue(signal)}; expected an AbortSignal`);
  return { batchSize, signal };
}

function isAbortSignal(v: unknown): v is AbortSignal {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as AbortSignal).aborted === 'boolean' &&
    typeof (v as AbortSignal).addEventListener === 'function'
  );
}
