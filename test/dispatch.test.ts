import { describe, expect, it } from 'vitest';
import { bindingSignature, checkBufferBytes, uniformStructBytes } from '../src/gpu/bindings.js';
import { Dispatch } from '../src/gpu/program.js';
import { gemmI8Kernel } from '../src/kernels/gemm-i8.js';
import { gemmTileFor } from '../src/kernels/gemm-shape.js';
import { lookupI8Kernel, lookupI8RunData } from '../src/kernels/lookup-i8.js';
import { deriveSoftmaxI8Constants, softmaxI8Kernel, softmaxI8RunData } from '../src/kernels/softmax-i8.js';
import { transposeHeadsI8Kernel, transposeHeadsI8RunData } from '../src/kernels/transpose-heads-i8.js';
import { suite } from './cases/dispatch.js';
import { testGpu } from './gpu.js';
import { runSuite } from './run-suite.js';

runSuite(suite);

describe('binding signatures read from WGSL', () => {
  it('maps uniform, read and read_write declarations to layout kinds in binding order', () => {
    const code = `
      struct P { a: u32, b: i32, c: f32 }
      @group(0) @binding(0) var<uniform> params: P;
      // @group(0) @binding(5) var<storage, read_write> commented: array<u32>;
      @group(0) @binding(2) var<storage, read_write> out: array<u32>;
      @group(0) @binding(1) var<storage> x: array<u32>;`;
    expect(bindingSignature(code)).toEqual(['uniform', 'read-only-storage', 'storage']);
    expect(uniformStructBytes(code)).toBe(16);
  });
  it('refuses gaps, duplicates and other groups, naming the shader', () => {
    expect(() => bindingSignature('@group(0) @binding(1) var<storage, read> x: array<u32>;', 'gap')).toThrow(
      /gap: bindings are not contiguous \(binding 0 is missing\)/,
    );
    expect(() =>
      bindingSignature(
        '@group(0) @binding(0) var<storage, read> x: array<u32>; @group(0) @binding(0) var<storage, read> y: array<u32>;',
        'dup',
      ),
    ).toThrow(/binding 0 is declared twice/);
    expect(() => bindingSignature('@group(1) @binding(0) var<storage, read> x: array<u32>;', 'g1')).toThrow(/group 1/);
  });
  it('every GEMM tile of one epilogue declares the same bindings, so one bind group fits them all', () => {
    const options = { strategy: 'unpack', output: 'i8', perChannel: true, bias: true, aUnsigned: false } as const;
    const signatures = [1, 17, 33].map((M) => bindingSignature(gemmI8Kernel(options, gemmTileFor(M)).code).join());
    expect(new Set(signatures).size).toBe(1);
  });
});

describe('buffer sizes checked against the shape', () => {
  // Only .size is read, so stand-ins do.
  const buffer = (size: number) => ({ size }) as GPUBuffer;
  it('refuses a short buffer, naming the kernel, the buffer and both sizes', () => {
    const needs = [
      ['x', buffer(64), 64],
      ['y', buffer(60), 64],
    ] as const;
    expect(() => checkBufferBytes('some kernel', needs)).toThrow(RangeError);
    expect(() => checkBufferBytes('some kernel', needs)).toThrow(
      /^some kernel: buffer y has 60 bytes, the shape needs 64$/,
    );
  });
  it('accepts buffers of exactly or more than the bytes needed', () => {
    expect(() =>
      checkBufferBytes('k', [
        ['x', buffer(64), 64],
        ['y', buffer(65), 64],
      ]),
    ).not.toThrow();
  });
  it('refuses an absent buffer unless told to skip absent ones, which are still refused when short', () => {
    const needs = [
      ['x', buffer(16), 16],
      ['requant', undefined, 8],
    ] as const;
    expect(() => checkBufferBytes('residual add', needs)).toThrow(/^residual add: no requant buffer$/);
    expect(() => checkBufferBytes('top-k', needs, { skipAbsent: true })).not.toThrow();
    expect(() => checkBufferBytes('top-k', [...needs, ['out', buffer(4), 8]], { skipAbsent: true })).toThrow(
      /top-k: buffer out has 4 bytes, the shape needs 8/,
    );
  });
});

describe('pipeline cache', () => {
  it('keys whose generators emit the same WGSL share one compile; other code compiles apart', async () => {
    const gpu = await testGpu();
    const kernel = lookupI8Kernel();
    const before = gpu.pipelineCompiles.length;
    const a = await gpu.pipeline(`${kernel.key}#dedupe-a`, kernel.code, 'a');
    const b = await gpu.pipeline(`${kernel.key}#dedupe-b`, kernel.code, 'b');
    expect(b).toBe(a);
    // A comment is enough to make other code: it must not be served the first pipeline.
    const c = await gpu.pipeline(`${kernel.key}#dedupe-c`, `${kernel.code}\n// other`, 'c');
    expect(c).not.toBe(a);
    const compiles = gpu.pipelineCompiles.slice(before);
    expect(compiles.map((r) => r.label)).toEqual(expect.arrayContaining(['c']));
    expect(compiles.some((r) => r.label === 'b')).toBe(false);
    expect(compiles.every((r) => r.endMs !== undefined && r.endMs >= r.startMs)).toBe(true);
    expect(gpu.readyPipeline(`${kernel.key}#dedupe-b`)).toBe(a);
  });
});

describe('Dispatch refuses misuse with a clear error', () => {
  it('a program of another binding signature, params that do not fit, encode before prepare', async () => {
    const gpu = await testGpu();
    const x = gpu.storage('x', 64);
    const table = gpu.storage('table', 1024);
    const y = gpu.storage('y', 64);
    const dispatch = await Dispatch.create(gpu, lookupI8Kernel(), [x, table, y]);
    try {
      const pass = { setPipeline() {}, setBindGroup() {}, dispatchWorkgroups() {} } as unknown as GPUComputePassEncoder;
      expect(() => dispatch.encode(pass)).toThrow(/encode before prepare/);
      const launch = { workgroupSize: 4, keysPerThread: 1 };
      const softmax = softmaxI8RunData({ batch: 1, heads: 1, seq: 4 }, deriveSoftmaxI8Constants(0.01), launch);
      // softmax-i8 declares the same bindings as lookup-i8, transpose-heads-i8 others.
      expect(() => dispatch.prepare(softmaxI8Kernel(launch), softmax)).toThrow(
        /was bound for kernel family lookup-i8, not softmax-i8/,
      );
      const transpose = { batch: 1, seq: 4, heads: 1, headDim: 4, rowWords: 1, colOffset: 0 };
      expect(() =>
        dispatch.prepare({ ...transposeHeadsI8Kernel(), key: 'lookup-i8:other' }, transposeHeadsI8RunData(transpose)),
      ).toThrow(
        /declares bindings \(uniform,read-only-storage,storage\), but dispatch "lookup-i8" was bound for \(uniform,read-only-storage,read-only-storage,storage\)/,
      );
      expect(() =>
        dispatch.prepare(lookupI8Kernel(), { ...lookupI8RunData(4, 4), params: new Uint32Array(8) }),
      ).toThrow(/32 bytes of params exceed the 16-byte uniform/);
      expect(() => dispatch.prepare(lookupI8Kernel(), { workgroups: [1, 1, 1] })).toThrow(/the run has no params/);
      await expect(Dispatch.create(gpu, lookupI8Kernel(), [x, y])).rejects.toThrow(
        /2 buffers given, the shader declares 3 storage bindings after the uniform/,
      );
    } finally {
      dispatch.destroy();
      for (const b of [x, table, y]) b.destroy();
    }
  });
});
