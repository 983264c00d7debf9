/**
 * Live updates across replicas: each replica keeps one connection LISTENing on the channel every
 * storing commit NOTIFYs (./ingest), and wakes the live streams of that run at once, whichever
 * replica stored the batch. A lost connection is reopened with backoff, and every stream is woken
 * then (notifications sent meanwhile were missed); the streams' own 1 s ticks cover the gap.
 */
import type { Client } from 'pg'
import { loadPg } from './deps'
import { CHANGES } from './ingest'

export class Changes {
  private readonly watchers = new Map<string, Set<() => void>>()
  private client: Client | null = null
  private closed = false
  private retry: NodeJS.Timeout | null = null

  constructor(private readonly url: string) {}

  /** Connect and LISTEN (resolves once listening; a failure is retried in the background). */
  async start(): Promise<void> {
    await this.connect().catch(() => this.reconnectLater(1000))
  }

  private async connect(): Promise<void> {
    const pg = loadPg()
    const client = new pg.Client({ connectionString: this.url, application_name: 'amber serve (changes)', connectionTimeoutMillis: 10_000 })
    client.on('notification', (m) => {
      for (const wake of this.watchers.get(m.payload ?? '') ?? []) wake()
    })
    client.on('error', () => {
      if (this.client === client) this.client = null
      client.end().catch(() => undefined)
      this.reconnectLater(1000)
    })
    await client.connect()
    await client.query(`LISTEN ${CHANGES}`)
    if (this.closed) {
      await client.end()
      return
    }
    this.client = client
    for (const set of this.watchers.values()) for (const wake of set) wake()
  }

  private reconnectLater(ms: number): void {
    if (this.closed || this.retry) return
    this.retry = setTimeout(() => {
      this.retry = null
      this.connect().catch(() => this.reconnectLater(Math.min(ms * 2, 30_000)))
    }, ms)
    this.retry.unref()
  }

  /** Call `wake` when a commit stores into `project/folder`; returns the unsubscribe. */
  watch(project: string, folder: string, wake: () => void): () => void {
    const key = `${project}/${folder}`
    let set = this.watchers.get(key)
    if (!set) this.watchers.set(key, (set = new Set()))
    set.add(wake)
    return () => {
      set.delete(wake)
      if (!set.size) this.watchers.delete(key)
    }
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.retry) clearTimeout(this.retry)
    const c = this.client
    this.client = null
    await c?.end().catch(() => undefined)
  }
}
