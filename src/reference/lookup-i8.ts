/** CPU reference of shaders/lookup-i8.ts: y = table[x + 128]. */
export function lookupI8Ref(x: Int8Array, table: Int8Array): Int8Array {
  if (table.length !== 256) throw new RangeError(`lookupI8Ref: a table needs 256 entries, got ${table.length}`);
  return Int8Array.from(x, (v) => table[v + 128]);
}
