/**
 * Cached single appends to an unsized msgpack column, held in JS until the column drains them.
 * Each document is encoded here at its own `append` call (so a later change to the value does
 * not leak in), by the same encoder as every other document (src/msgpack.ts), and the batch goes
 * to the core in one call, which checks and re-emits every document as it does for any packed
 * batch (packed.rs). What the encoder writes always passes that check, so nothing held can be
 * refused later. For a value it refuses, or one with no document form at the top (undefined, a
 * bigint), `add` says NOT_PLAIN and the column sends the value on its own, where it is accepted
 * or refused at its own call.
 */
import { MsgpackWriter, NO_ROOM as FULL } from './msgpack'

/** Bytes held before the column drains (a larger document goes on its own). */
const STAGE_BYTES = 1 << 20
/** Documents held before the column drains. */
export const STAGE_DOCS = 8192

export const HELD = 0
/** Not enough room left: drain and try again (a document alone never fits: send it on its own). */
export const NO_ROOM = 1
export const NOT_PLAIN = 2

export class DocStage {
  readonly #w = new MsgpackWriter(STAGE_BYTES, true)
  readonly #ends = new Uint32Array(STAGE_DOCS)
  /** Documents held. */
  count = 0

  /** Encode `v` after the held documents. Nothing is held unless this returns HELD. */
  add(v: unknown): number {
    if (v === undefined || typeof v === 'bigint') return NOT_PLAIN
    try {
      this.#ends[this.count] = this.#w.append(v)
    } catch (e) {
      return e === FULL ? NO_ROOM : NOT_PLAIN
    }
    this.count++
    return HELD
  }

  /** The held documents and their ends (views, valid until the next `add`); empties the stage. */
  take(): { bytes: Buffer; ends: Uint32Array } {
    const n = this.count
    const bytes = this.#w.bytes()
    this.count = 0
    this.#w.clear()
    return { bytes, ends: this.#ends.subarray(0, n) }
  }
}
