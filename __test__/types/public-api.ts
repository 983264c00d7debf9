/**
 * The published types, as a user compiles against them (`dist/*.d.ts`, through the `ambervault`
 * path in tsconfig.json). Documented uses must compile; every `@ts-expect-error` below names
 * something internal that must stay out of the declarations: if it becomes public, the directive
 * is unused and the compile (the `public-types` spec) fails.
 */
import * as api from 'ambervault'
import { Board, Column, ColumnVault, DataPacker, KVault, openRun, VarSizeColumn } from 'ambervault'

export function documentedUses(): void {
  const kv = new KVault('x.db', { retries: 2, backoffMs: 5, cache: { flushIntervalMs: 100 } })
  kv.put('k', { a: 1 })
  const v: unknown = kv.get('k')
  const has: boolean = kv.has('k')
  kv.close()

  const cv = new ColumnVault('c.db', { minChunkBytes: 1024 })
  const col: Column = cv.ensure('loss', 'f64')
  col.append(0.5)
  col.extend(new Float64Array([1, 2]))
  const n: number = col.length
  const first: number = col.get(0)
  const all = col.slice(0, n)
  const text = cv.ensure('notes', 'str')
  if (text instanceof VarSizeColumn) text.compact()
  cv.enableCache({ flushIntervalMs: 50 })
  cv.flushCache()
  cv.close()

  const p = new DataPacker('f64')
  const x: number = p.unpack(p.pack(1.5))

  const board = new Board({ name: 'demo', config: { lr: 0.1 } })
  board.log({ loss: 0.25 })
  void board.finish()
  const run = openRun(board.runDir)
  const names: string[] = run.metrics()
  run.close()
  const version: string = api.nativeVersion()
  void [v, has, first, all, x, names, version]
}

export function internalsStayHidden(col: Column, cv: ColumnVault, kv: KVault, p: DataPacker, board: Board): void {
  // @ts-expect-error a column's native handle is internal
  void col.n
  // @ts-expect-error staged appends are handed over internally
  col.drain()
  // @ts-expect-error internal
  col.settleStaged()
  // @ts-expect-error columns come from a ColumnVault, not from user code with native handles
  void new Column({} as never, {} as never)
  // @ts-expect-error the vault's native handle is internal
  void cv.n
  // @ts-expect-error the store's native handle is internal
  void kv.n
  // @ts-expect-error the packer's native handle is internal
  void p.p
  // @ts-expect-error the Board's log writer is internal
  void board.writer
  // @ts-expect-error the HTTP client of sync is internal (syncRun and Board({ remote }) are the API)
  void api.SyncClient
  // @ts-expect-error batch packing is internal
  void api.packBatch
  // @ts-expect-error the native module is internal
  void api.binding
  // @ts-expect-error internal helpers of the error mapping
  void api.toVaultError
}
