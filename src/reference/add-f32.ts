/**
 * Reference of the elementwise f32 add (shaders/add-f32.ts): one IEEE single-precision addition
 * per value, which Math.fround of the float64 sum of two f32 values reproduces exactly (the
 * float64 sum of two f32 is exact, so rounding it once to f32 is the f32 addition).
 */
export function addF32Ref(a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new RangeError(`add-f32: operands of ${a.length} and ${b.length} values`);
  const y = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i] + b[i];
  return y;
}
