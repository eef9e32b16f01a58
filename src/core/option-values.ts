/**
 * What generation and translation options share when they refuse a value: how the value is shown
 * in the message, and the check of an AbortSignal option.
 */

/** A value as an option error shows it: strings quoted, containers by kind, never their contents. */
export function showOptionValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'function') return 'a function';
  return String(v);
}

/** `signal` checked as an AbortSignal option of `method`, or undefined when absent. */
export function checkSignalOption(signal: unknown, method: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  // Duck-typed: an AbortSignal of another realm (a worker, a polyfill) is not `instanceof` ours.
  const s = signal as { aborted?: unknown; addEventListener?: unknown } | null;
  if (s === null || typeof s !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function')
    throw new TypeError(`${method}: signal = ${showOptionValue(signal)} must be an AbortSignal`);
  return signal as AbortSignal;
}
