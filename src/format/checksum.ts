/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the .i8t container.
 *
 * Why CRC32C rather than a cryptographic hash: the container needs integrity against accidental
 * damage (bit rot, truncated downloads, bad copies, a byte edited by hand), not authenticity: anyone
 * who edits a file can recompute a SHA-256 as easily as a CRC. CRC32C detects every error confined
 * to 32 consecutive bits (so every damaged byte, whatever its new value) and every error of up to 3
 * bits anywhere in a blob under 2^31 bits (Koopman: Hamming distance 4 up to that length); other
 * damage escapes with probability 2^-32. It is the checksum of iSCSI, ext4 metadata and SCTP.
 *
 * Pure TypeScript, table driven ("slicing by 8": eight 256-entry tables, 8 bytes per step) so that
 * it runs unchanged in browsers and Node with no native module or WebCrypto (which has no CRC).
 * Throughput: ~600-800 MB/s in Node 20 (bench/integrity.ts; figures in int-model-file.ts).
 */

const POLY = 0x82f63b78;

const TABLES: Uint32Array[] = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k][n] = (t[0][t[k - 1][n] & 0xff] ^ (t[k - 1][n] >>> 8)) >>> 0;
  }
  return t;
})();

/**
 * Continues a CRC32C over `bytes`; start with `crc = 0` (the default). Feeding a buffer in pieces
 * gives the same value as feeding it whole: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  const end8 = n - (n % 8);
  for (; i < end8; i += 8) {
    const lo = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) ^ c;
    c =
      t7[lo & 0xff] ^
      t6[(lo >>> 8) & 0xff] ^
      t5[(lo >>> 16) & 0xff] ^
      t4[lo >>> 24] ^
      t3[bytes[i + 4]] ^
      t2[bytes[i + 5]] ^
      t1[bytes[i + 6]] ^
      t0[bytes[i + 7]];
  }
  for (; i < n; i++) c = t0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** 0xE3069283 style, for messages. */
export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
}
