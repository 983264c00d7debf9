/**
 * Reading the TFRecord framing of TensorBoard event files: each record is a u64 LE length, the
 * masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data
 * (tensorflow/core/lib/io/record_writer.cc). Records are read in order with a small buffer, so a
 * file of any size costs the memory of its largest record.
 *
 * What the end of a file may look like decides how it is treated:
 * - a record cut short (a writer still writing, or killed mid-write) is where reading stops, and
 *   `truncated` says so; TensorBoard's reader skips such a tail the same way;
 * - a checksum that does not match is corruption, a CorruptDataError naming the file and byte;
 *   at byte 0 it means the file is not a record file at all (it only has an event file's name).
 */
import * as fs from 'node:fs'
import { CorruptDataError, VaultIoError } from '../../errors'
import { maskedCrc32c } from './crc32c'

const HEADER = 12
const FOOTER = 4
const INITIAL_BUFFER = 1 << 20

export interface TfRecord {
  /** Byte offset of the record's header in the file. */
  offset: number
  /** The record's data: a copy of its own (decoded messages may keep views into it). */
  data: Buffer
}

export interface Truncation {
  /** Where the incomplete record starts. */
  offset: number
  /** Bytes of it present in the file (up to the read limit). */
  bytes: number
}

export class RecordReader {
  readonly file: string
  /** Set once reading stopped at an incomplete final record. */
  truncated: Truncation | null = null
  private readonly fd: number
  private readonly limit: number
  private buf = Buffer.allocUnsafe(INITIAL_BUFFER)
  private start = 0
  private end = 0
  /** File position of `buf[end]`. */
  private filePos = 0
  /** File offset of the next record (`buf[start]`). */
  private offset = 0
  private done = false

  /**
   * Reads `file` up to `limit` bytes (the size it had when the import looked at it, so a file
   * still being written is read as it was then).
   */
  constructor(file: string, limit?: number) {
    this.file = file
    try {
      this.fd = fs.openSync(file, 'r')
      this.limit = limit ?? fs.fstatSync(this.fd).size
    } catch (e) {
      throw new VaultIoError(`${file}: ${(e as Error).message}`, { cause: e })
    }
  }

  /** Bytes read so far (the end of the last whole record). */
  get position(): number {
    return this.offset
  }

  /** The next record, or null at the end of the file (see `truncated`). */
  next(): TfRecord | null {
    if (this.done) return null
    const at = this.offset
    if (!this.fill(HEADER)) return this.stop(at)
    const b = this.buf
    const s = this.start
    if (maskedCrc32c(b, s, s + 8) !== b.readUInt32LE(s + 8)) {
      throw new CorruptDataError(
        at === 0
          ? `${this.file}: not a TensorBoard event file (its first bytes are not a TFRecord header)`
          : `${this.file}: corrupt record at byte ${at} (the length's checksum does not match)`,
      )
    }
    const high = b.readUInt32LE(s + 4)
    const len = b.readUInt32LE(s)
    // A length that runs past the end is a record still being written, not corruption: its
    // header checksum matched.
    if (high !== 0 || at + HEADER + len + FOOTER > this.limit) return this.stop(at)
    if (!this.fill(HEADER + len + FOOTER)) return this.stop(at)
    const d = this.start + HEADER
    if (maskedCrc32c(this.buf, d, d + len) !== this.buf.readUInt32LE(d + len)) {
      throw new CorruptDataError(`${this.file}: corrupt record at byte ${at} (the data's checksum does not match)`)
    }
    const data = Buffer.allocUnsafe(len)
    this.buf.copy(data, 0, d, d + len)
    this.start += HEADER + len + FOOTER
    this.offset = at + HEADER + len + FOOTER
    return { offset: at, data }
  }

  close(): void {
    this.done = true
    try {
      fs.closeSync(this.fd)
    } catch {
      // already closed
    }
  }

  private stop(at: number): null {
    const rest = this.limit - at
    if (rest > 0) this.truncated = { offset: at, bytes: rest }
    this.done = true
    return null
  }

  /** Have at least `n` unread bytes in the buffer; false when the file (or limit) ends first. */
  private fill(n: number): boolean {
    if (this.end - this.start >= n) return true
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end)
      this.end -= this.start
      this.start = 0
    }
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2))
      this.buf.copy(bigger, 0, 0, this.end)
      this.buf = bigger
    }
    while (this.end < n) {
      const want = Math.min(this.buf.length - this.end, this.limit - this.filePos)
      if (want <= 0) return false
      let got: number
      try {
        got = fs.readSync(this.fd, this.buf, this.end, want, this.filePos)
      } catch (e) {
        throw new VaultIoError(`${this.file}: ${(e as Error).message}`, { cause: e })
      }
      // The file shrank under us: what is missing reads as a truncated tail.
      if (got === 0) return false
      this.end += got
      this.filePos += got
    }
    return true
  }
}
