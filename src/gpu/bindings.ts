/**
 * The binding signature of a WGSL module, read from its declarations: which buffer kind sits at each
 * @binding of group 0. Pipelines are created with an explicit layout built from it (Gpu.bindingLayout)
 * rather than layout 'auto', because an 'auto' layout belongs to its own pipeline: a bind group made
 * for one GEMM tile would not fit the pipeline of another tile of the same kernel.
 */

export type BindingKind = 'uniform' | 'read-only-storage' | 'storage';

/** Comments removed, so that a commented-out declaration does not count. */
function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
}

const DECLARATION =
  /@group\(\s*(\d+)\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<([^>]*)>|@binding\(\s*(\d+)\s*\)\s*@group\(\s*(\d+)\s*\)\s*var\s*<([^>]*)>/g;

function kindOf(addressSpace: string, what: string): BindingKind {
  const [space, access] = addressSpace.split(',').map((t) => t.trim());
  if (space === 'uniform') return 'uniform';
  if (space !== 'storage') throw new Error(`${what}: address space <${addressSpace}> is not a buffer binding`);
  if (access === undefined || access === 'read') return 'read-only-storage';
  if (access === 'read_write') return 'storage';
  throw new Error(`${what}: storage access '${access}' is not read or read_write`);
}

/**
 * Kinds of bindings 0..n-1 of group 0, in binding order. Refuses other groups, gaps and duplicates:
 * the wrappers bind a plain list of buffers, so binding i must be the i-th buffer.
 */
export function bindingSignature(code: string, label = 'shader'): BindingKind[] {
  const kinds: BindingKind[] = [];
  for (const m of stripComments(code).matchAll(DECLARATION)) {
    const group = Number(m[1] ?? m[5]);
    const binding = Number(m[2] ?? m[4]);
    const space = m[3] ?? m[6];
    if (group !== 0) throw new Error(`${label}: binding ${binding} is in group ${group}; kernels use group 0 only`);
    if (kinds[binding] !== undefined) throw new Error(`${label}: binding ${binding} is declared twice`);
    kinds[binding] = kindOf(space, `${label} binding ${binding}`);
  }
  for (let i = 0; i < kinds.length; i++) {
    if (kinds[i] === undefined) throw new Error(`${label}: bindings are not contiguous (binding ${i} is missing)`);
  }
  return kinds;
}

const SCALAR_BYTES: Record<string, number> = { u32: 4, i32: 4, f32: 4 };

/**
 * Bytes of the struct behind the uniform at binding 0, or undefined when the module has no uniform
 * there or its struct holds anything but 32-bit scalars (then the caller must say the size).
 * The size is rounded up to 16, the struct alignment of the uniform address space.
 */
export function uniformStructBytes(code: string): number | undefined {
  const text = stripComments(code);
  const decl = /@group\(\s*0\s*\)\s*@binding\(\s*0\s*\)\s*var\s*<\s*uniform\s*>\s*\w+\s*:\s*(\w+)\s*;/.exec(text);
  if (!decl) return undefined;
  const body = new RegExp(`struct\\s+${decl[1]}\\s*\\{([^}]*)\\}`).exec(text);
  if (!body) return undefined;
  let bytes = 0;
  for (const field of body[1]
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean)) {
    const type = /^\w+\s*:\s*(\w+)$/.exec(field)?.[1];
    const size = type && SCALAR_BYTES[type];
    if (!size) return undefined;
    bytes += size;
  }
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** One buffer a wrapper binds: its name in messages, the buffer (undefined when not given), the bytes the shape touches. */
export type BufferNeed = readonly [what: string, buffer: GPUBuffer | undefined, bytes: number];

export interface BufferNeedOptions {
  /** Pass over buffers not given (optional bindings whose presence the caller checks against its options). */
  skipAbsent?: boolean;
}

/**
 * Refuses a buffer smaller than the largest shape a Dispatch will run over it: shaders index past
 * the end silently (WebGPU clamps or drops out-of-bounds accesses), so a short buffer would give
 * wrong numbers instead of an error. Absent buffers are refused too unless options.skipAbsent.
 */
export function checkBufferBytes(kernel: string, needs: readonly BufferNeed[], options: BufferNeedOptions = {}): void {
  for (const [what, buffer, bytes] of needs) {
    if (!buffer) {
      if (options.skipAbsent) continue;
      throw new RangeError(`${kernel}: no ${what} buffer`);
    }
    if (buffer.size < bytes)
      throw new RangeError(`${kernel}: buffer ${what} has ${buffer.size} bytes, the shape needs ${bytes}`);
  }
}
