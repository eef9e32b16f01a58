/**
 * What integrity checks cost at load: CRC32C verification of .i8t files (the built-in model and a
 * ~100 MB container) and the NaN/Inf scan of float checkpoints (the shared models, when present).
 * Prints medians; the figures quoted in src/format/int-model-file.ts, src/model/weights.ts and
 * docs/integrity.md come from here.
 *
 *   npx tsx bench/integrity.ts [--repeat N]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crc32c } from '../src/format/checksum.js';
import { readContainer, readIntModelFile, writeContainer } from '../src/format/int-model-file.js';
import { parseSafetensors } from '../src/model/safetensors.js';
import { firstNonFinite } from '../src/model/weights.js';

const args = process.argv.slice(2);
const repeat = Number(args[args.indexOf('--repeat') + 1] || 9);

function median(f: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

async function medianAsync(f: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const mbps = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1e3)).toFixed(0)} MB/s`;

const builtIn = fileURLToPath(new URL('../models/sst2-bert-tiny.i8t', import.meta.url));
const v1 = new Uint8Array(readFileSync(builtIn));
const v2 = writeContainer(readContainer(v1).doc);
const crcBuiltIn = median(() => crc32c(v2));
const readV1 = median(() => readContainer(v1));
const readV2 = median(() => readContainer(v2));
const fullV2 = await medianAsync(() => readIntModelFile(v2));
console.log(`built-in model (${(v2.length / 1e6).toFixed(1)} MB)`);
console.log(`  CRC32C over the whole file      ${crcBuiltIn.toFixed(1)} ms (${mbps(v2.length, crcBuiltIn)})`);
console.log(`  readContainer v1 (no checksums) ${readV1.toFixed(1)} ms`);
console.log(`  readContainer v2 (verified)     ${readV2.toFixed(1)} ms (+${(readV2 - readV1).toFixed(1)} ms)`);
console.log(
  `  readIntModelFile v2 (all)       ${fullV2.toFixed(1)} ms: verification ${((100 * crcBuiltIn) / fullV2).toFixed(0)}% of it`,
);

const big = new Int8Array(100 * 2 ** 20);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
const bigFile = writeContainer({ weights: big });
const crcBig = median(() => crc32c(bigFile));
const readBig = median(() => readContainer(bigFile));
console.log(`~100 MB container (${(bigFile.length / 1e6).toFixed(0)} MB)`);
console.log(`  CRC32C                          ${crcBig.toFixed(0)} ms (${mbps(bigFile.length, crcBig)})`);
console.log(`  readContainer (verify + copy)   ${readBig.toFixed(0)} ms`);

const models = fileURLToPath(new URL('../../shared/models/', import.meta.url));
if (existsSync(models)) {
  console.log('NaN/Inf scan of float checkpoints (convert to float32, then scan)');
  for (const name of readdirSync(models).sort()) {
    const path = `${models}${name}/model.safetensors`;
    if (!existsSync(path)) continue;
    const st = parseSafetensors(new Uint8Array(readFileSync(path)), path);
    const names = st.names().filter((n) => ['F32', 'F16', 'BF16'].includes(st.info(n).dtype));
    const tensors = names.map((n) => st.tensor(n).data);
    const values = tensors.reduce((s, t) => s + t.length, 0);
    const convert = median(() => names.forEach((n) => st.tensor(n)));
    const scan = median(() => tensors.forEach((t) => firstNonFinite(t)));
    console.log(
      `  ${name.padEnd(24)} ${(values / 1e6).toFixed(1).padStart(6)} M values: convert ${convert.toFixed(0).padStart(5)} ms, scan ${scan.toFixed(1).padStart(6)} ms (${((100 * scan) / convert).toFixed(0)}% of convert)`,
    );
  }
}
