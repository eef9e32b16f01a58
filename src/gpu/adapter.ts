/**
 * What a WebGPU adapter offers, as plain data: device.ts fills it in when it acquires a device, and
 * Gpu carries it for the kernels that choose their strategy by it.
 */

export interface SubgroupMatrixConfigInfo {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU emulation (SwiftShader): dot4I8Packed is run lane by lane there. */
  isSoftware: boolean;
}

export interface GpuFeatureReport {
  packed4x8IntegerDotProduct: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  shaderF16: boolean;
  subgroupMatrix: boolean;
  subgroupMatrixConfigs: SubgroupMatrixConfigInfo[];
}

export interface GpuLimitsReport {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX: number;
  maxComputeWorkgroupSizeY: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBuffersPerShaderStage: number;
}

export type GpuRuntime = 'browser' | 'node';
