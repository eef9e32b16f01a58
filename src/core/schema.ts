/**
 * Structural checks for documents read from files (the .i8t header, a plan, a graph): small
 * combinators that each check one value and throw a SchemaError naming the path of the first bad
 * one, e.g. `plan.layers[3].softmax.rescale: missing`.
 *
 * Why a structural pass before the semantic checks (overflow proofs, shapes against the config):
 * those checks were written for plans this runtime produced, and read fields as if the types were
 * right. On a hostile file they crash inside (`Cannot read properties of undefined (reading 'm')`)
 * or let wrong types through (`negate: "yes"` is truthy, so a string passes where a boolean is
 * meant). Checking every field's type first lets the semantic checks stay simple.
 *
 * Objects are closed: a key the schema does not name is refused, so a `__proto__`, `constructor` or
 * misspelt key never reaches code that would read it. Fields are read with Object.hasOwn only.
 */

export class SchemaError extends RangeError {
  override name = 'SchemaError';
}

/** Checks `v`, found at `path`; throws a SchemaError naming the path. */
export type Schema = (v: unknown, path: string) => void;

export function fail(path: string, problem: string): never {
  throw new SchemaError(`${path}: ${problem}`);
}

export function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as ArrayLike<number>).length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** `a.b`, or `a["odd key"]` when the key is not an identifier. */
export function member(path: string, key: string): string {
  const k = /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
  return path === '' ? k.replace(/^\./, '') : path + k;
}

export const integer =
  (lo = Number.MIN_SAFE_INTEGER, hi = Number.MAX_SAFE_INTEGER): Schema =>
  (v, path) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `expected an integer, got ${describe(v)}`);
    if (v < lo || v > hi) fail(path, lo === hi ? `${v}, expected ${lo}` : `${v} is outside [${lo}, ${hi}]`);
  };

export const finite: Schema = (v, path) => {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `expected a finite number, got ${describe(v)}`);
};

export const positive: Schema = (v, path) => {
  finite(v, path);
  if (!((v as number) > 0)) fail(path, `expected a positive number, got ${v}`);
};

export const boolean: Schema = (v, path) => {
  if (typeof v !== 'boolean') fail(path, `expected true or false, got ${describe(v)}`);
};

export const string: Schema = (v, path) => {
  if (typeof v !== 'string') fail(path, `expected a string, got ${describe(v)}`);
};

export const oneOf =
  (...values: (string | number | boolean)[]): Schema =>
  (v, path) => {
    if (!values.includes(v as string))
      fail(path, `${describe(v)} is not one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
  };

export const equals =
  (expected: string | number | boolean, why: string): Schema =>
  (v, path) => {
    if (v !== expected) fail(path, `${describe(v)}, expected ${JSON.stringify(expected)} (${why})`);
  };

type TypedArrayClass = { new (n: number): ArrayLike<number>; readonly name: string };

/** A typed array of exactly this class (an Int8Array is not a Uint8Array); `length` when known. */
export const typedArray =
  (type: TypedArrayClass, length?: number, element?: Schema): Schema =>
  (v, path) => {
    if (!(v instanceof type)) fail(path, `expected ${type.name}, got ${describe(v)}`);
    const a = v as ArrayLike<number>;
    if (length !== undefined && a.length !== length) fail(path, `${a.length} values, expected ${length}`);
    if (element) for (let i = 0; i < a.length; i++) element(a[i], `${path}[${i}]`);
  };

export const arrayOf =
  (item: Schema, length?: number): Schema =>
  (v, path) => {
    if (!Array.isArray(v)) fail(path, `expected an array, got ${describe(v)}`);
    if (length !== undefined && v.length !== length) fail(path, `${v.length} entries, expected ${length}`);
    v.forEach((x, i) => item(x, `${path}[${i}]`));
  };

const OPTIONAL = Symbol('optional');
type Field = Schema & { [OPTIONAL]?: true };

/** A field that may be absent (or undefined: in-memory plans carry `tokenType: undefined`). */
export function optional(s: Schema): Schema {
  const f: Field = (v, path) => {
    if (v !== undefined) s(v, path);
  };
  f[OPTIONAL] = true;
  return f;
}

/** A field that must be absent (`why` says why, e.g. what makes it meaningless). */
export function absent(why: string): Schema {
  return optional((_, path) => fail(path, `present, but ${why}`));
}

/** A plain object with exactly these fields (optional ones may be absent) and no others. */
export const object =
  (fields: Record<string, Schema>): Schema =>
  (v, path) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || ArrayBuffer.isView(v))
      fail(path, `expected an object, got ${describe(v)}`);
    const o = v as Record<string, unknown>;
    // JSON.parse makes "__proto__" an own key (Object.keys lists it), so it is refused here like any other.
    for (const key of Object.keys(o)) {
      if (!Object.hasOwn(fields, key)) fail(member(path, key), 'unexpected field');
    }
    for (const [key, s] of Object.entries(fields)) {
      // An own field holding undefined (in-memory objects have them; JSON has none) counts as absent.
      const present = Object.hasOwn(o, key) && o[key] !== undefined;
      if (!present && !(s as Field)[OPTIONAL]) fail(member(path, key), 'missing');
      s(present ? o[key] : undefined, member(path, key));
    }
  };

/** Runs `s` and adds a context prefix (the file's name) to a SchemaError's message. */
export function check(s: Schema, v: unknown, path: string, what?: string): void {
  try {
    s(v, path);
  } catch (e) {
    if (e instanceof SchemaError && what) throw new SchemaError(`${what}: ${e.message}`);
    throw e;
  }
}
