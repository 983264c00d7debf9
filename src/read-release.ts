/**
 * Ending a native read snapshot once the current synchronous run of code is over.
 *
 * KVault and ColumnVault reads keep SQLite's read transaction open between calls (beginning one
 * costs file-lock system calls); a queued release ends it in a microtask, so an idle vault never
 * holds back other connections' checkpoints.
 */

/**
 * Releases queued by the vaults of this thread. A checkpoint runs them first: a TRUNCATE
 * checkpoint waits for every reader of the file, and a vault of this same thread cannot end
 * its snapshot while the checkpoint blocks the thread.
 */
const queued = new Set<ReadRelease>()

export function releaseQueuedReads(): void {
  for (const r of queued) r.now()
}

export class ReadRelease {
  readonly #end: () => void
  #queued = false
  /** Bound once: reads queue it on their hot path. */
  readonly #run = (): void => this.now()

  /** `end` ends the snapshot; it may throw (ending a read transaction cannot lose data). */
  constructor(end: () => void) {
    this.#end = end
  }

  /** Queue the release for the end of this synchronous run (once, however many reads). */
  soon(): void {
    if (this.#queued) return
    this.#queued = true
    queued.add(this)
    queueMicrotask(this.#run)
  }

  /** Release now if a release is queued. */
  now(): void {
    if (!this.#queued) return
    this.#queued = false
    queued.delete(this)
    try {
      this.#end()
    } catch {
      // The next operation ends the read transaction anyway.
    }
  }
}
