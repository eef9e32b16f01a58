/** The device report printed by the CLI and the demo: adapter, features that matter, limits. */
import type { Gpu } from './gpu.js';

export function formatDeviceReport(gpu: Gpu): string {
  const a = gpu.adapter;
  const f = gpu.features;
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
  const configs = f.subgroupMatrixConfigs.length
    ? f.subgroupMatrixConfigs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ')
    : 'none';
  const rows: [string, string][] = [
    ['runtime', gpu.runtime],
    ['adapter', [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ') || '(no info)'],
    ['software emulation', yes(a.isSoftware)],
    ['packed_4x8_integer_dot_product', yes(f.packed4x8IntegerDotProduct)],
    ['subgroups', yes(f.subgroups)],
    ['timestamp-query', yes(f.timestampQuery)],
    ['shader-f16', yes(f.shaderF16)],
    ['chromium-experimental-subgroup-matrix', `${yes(f.subgroupMatrix)} (configs: ${configs})`],
    ['maxStorageBufferBindingSize', mib(gpu.limits.maxStorageBufferBindingSize)],
    ['maxBufferSize', mib(gpu.limits.maxBufferSize)],
    ['maxComputeWorkgroupStorageSize', `${gpu.limits.maxComputeWorkgroupStorageSize} B`],
    ['maxComputeInvocationsPerWorkgroup', String(gpu.limits.maxComputeInvocationsPerWorkgroup)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
