import { describe, expect, it } from 'vitest';
import { GpuUnavailableError, requestGpu } from '../src/gpu/device.js';
import { formatDeviceReport } from '../src/gpu/report.js';
import { testGpu } from './gpu.js';

/** A stand-in navigator.gpu for the failure paths no real machine here has. */
function fakeGpu(adapter: GPUAdapter | null, languageFeatures: string[] = ['packed_4x8_integer_dot_product']): GPU {
  return {
    requestAdapter: async () => adapter,
    wgslLanguageFeatures: new Set(languageFeatures),
    getPreferredCanvasFormat: () => 'rgba8unorm',
  } as unknown as GPU;
}

describe('device acquisition', () => {
  it('reports the adapter, the features that matter and its real limits', async () => {
    const gpu = await testGpu();
    expect(gpu.features.packed4x8IntegerDotProduct).toBe(true);
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThan(128 * 1024 * 1024);
    expect(gpu.device.limits.maxStorageBufferBindingSize).toBe(gpu.limits.maxStorageBufferBindingSize);
    const report = formatDeviceReport(gpu);
    expect(report).toMatch(/packed_4x8_integer_dot_product\s+yes/);
    expect(report).toMatch(/timestamp-query/);
    expect(report).toMatch(/chromium-experimental-subgroup-matrix/);
  });
  it('fails clearly when there is no adapter', async () => {
    await expect(requestGpu({ gpu: fakeGpu(null) })).rejects.toThrow(GpuUnavailableError);
    await expect(requestGpu({ gpu: fakeGpu(null) })).rejects.toThrow(/No WebGPU adapter/);
  });
  it('fails clearly when the WGSL packed dot product is missing', async () => {
    const adapter = { features: new Set(), limits: {}, info: {} } as unknown as GPUAdapter;
    await expect(requestGpu({ gpu: fakeGpu(adapter, []) })).rejects.toThrow(/packed_4x8_integer_dot_product/);
  });
  it('names the shader when WGSL does not compile, and keeps working after it', async () => {
    const gpu = await testGpu();
    await expect(
      gpu.pipeline('broken', '@compute @workgroup_size(1) fn main() { let x: u32 = -1i; }', 'broken shader'),
    ).rejects.toThrow(/Shader "broken shader"/);
    // Keeps working: a shader compiled after the failure runs and writes what it should.
    const fine = await gpu.pipeline(
      'fine',
      '@group(0) @binding(0) var<storage, read_write> out: array<u32>;\n@compute @workgroup_size(1) fn main() { out[0] = 42u; }',
      'fine shader',
    );
    const out = gpu.storage('out', 4);
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(fine);
    pass.setBindGroup(
      0,
      gpu.device.createBindGroup({
        layout: fine.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: out } }],
      }),
    );
    pass.dispatchWorkgroups(1);
    pass.end();
    gpu.device.queue.submit([encoder.finish()]);
    expect(Array.from(new Uint32Array(await gpu.read(out)))).toEqual([42]);
    out.destroy();
  });
  it('turns a lost device into an error instead of a hang', async () => {
    const gpu = await requestGpu();
    const buffer = gpu.storage('x', new Int32Array([1, 2, 3]));
    gpu.device.destroy();
    await gpu.device.lost;
    expect(gpu.lost?.reason).toBe('destroyed');
    expect(() => gpu.storage('y', 16)).toThrow(/device was lost/);
    await expect(gpu.read(buffer)).rejects.toThrow(/device was lost/);
  });
});
