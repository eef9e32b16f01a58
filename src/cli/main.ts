/**
 * The main job on a fresh clone. For now: report the WebGPU device and check the INT8 GEMM on it
 * (a BERT-base-sized projection, both inner-product strategies) against the CPU reference.
 */
import { GpuUnavailableError, requestGpu } from '../gpu/device.js';
import { formatDeviceReport } from '../gpu/report.js';
import { submitPrograms } from '../gpu/program.js';
import { bindGemmI8, packRequant, preferredStrategy } from '../kernels/gemm-i8.js';
import { packRows, unpackRows } from '../quant/pack.js';
import { toDyadic } from '../reference/dyadic.js';
import { gemmI8Ref, requantizeToInt8Ref } from '../reference/gemm-i8.js';
import { Random } from '../util/random.js';

async function main(): Promise<number> {
  const gpu = await requestGpu();
  console.log(formatDeviceReport(gpu));
  console.log(`\npreferred INT8 strategy on this adapter: ${preferredStrategy(gpu)}`);
  const [M, N, K] = [128, 768, 768];
  const rng = new Random(42);
  const a = rng.int8Array(M * K);
  const b = rng.int8Array(N * K);
  const bias = rng.int32Array(N, -(2 ** 16), 2 ** 16);
  const requant = Array.from({ length: N }, () => toDyadic((0.5 + rng.next()) / 2 ** 12));
  const want = requantizeToInt8Ref(gemmI8Ref({ a, b, bias, M, N, K }), M, N, requant);
  const buffers = {
    a: gpu.storage('a', packRows(a, M, K)),
    b: gpu.storage('b', packRows(b, N, K)),
    bias: gpu.storage('bias', bias),
    requant: gpu.storage('requant', packRequant(requant)),
    c: gpu.storage('c', M * (N / 4) * 4),
  };
  let failures = 0;
  for (const strategy of ['dot4', 'unpack'] as const) {
    const program = await bindGemmI8(gpu, { strategy, output: 'i8', perChannel: true, bias: true, aUnsigned: false }, { M, N, K }, buffers, 2 ** 16);
    const t0 = performance.now();
    submitPrograms(gpu, [program]);
    const got = unpackRows(new Uint32Array(await gpu.read(buffers.c)), M, N);
    const ms = performance.now() - t0;
    let mismatches = 0;
    for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) mismatches++;
    failures += mismatches;
    console.log(
      `INT8 GEMM ${M}x${N}x${K} (${strategy}, bias + per-channel requant): ${mismatches} of ${want.length} outputs differ from the CPU reference; ${ms.toFixed(1)} ms including read-back (first run, compiles)`,
    );
  }
  gpu.destroy();
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(e instanceof GpuUnavailableError ? `WebGPU unavailable: ${e.message}` : e.stack ?? e.message);
    process.exit(2);
  },
);
