/**
 * CRC-32C (Castagnoli), the checksum of TFRecord framing, and its "masked" form. A table
 * implementation: Node's zlib has only the IEEE CRC-32, and at a few hundred MB/s this is not
 * what limits an import (the writer is).
 */
const TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/**
 * The masked CRC TFRecord stores: rotated right by 15 bits plus a constant, so that a CRC of
 * bytes that themselves hold CRCs does not come out trivially (tensorflow/core/lib/hash/crc32c.h).
 */
export function maskedCrc32c(data: Uint8Array, start = 0, end = data.length): number {
  const c = crc32c(data, start, end)
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0
}
