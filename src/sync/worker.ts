/**
 * The background sync worker (see ./background.ts): sync passes every `intervalMs` until told to
 * finish, then one last pass. Failures are written to the run's `logs/sync.log` and retried on
 * the next pass; they never reach the training thread.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { sleep, syncRun } from './sync'
import type { WorkerData } from './background'

const { runDir, remote } = workerData as WorkerData
const interval = remote.intervalMs ?? 1000
const stop = new AbortController()
let finishing = false
let lastError = ''
const seen = new Map<string, string>()
/** Names already reported in sync.log as refused (reported once). */
const skipped = new Set<string>()

function note(msg: string): void {
  try {
    fs.appendFileSync(path.join(runDir, 'logs', 'sync.log'), `${new Date().toISOString()} ${msg}\n`)
  } catch {
    // diagnostics must never fail the sync
  }
}

/** `quick`: skip metrics whose files did not change; the last pass reads everything. */
async function pass(retryForMs: number, quick: boolean, signal?: AbortSignal): Promise<boolean> {
  try {
    const r = await syncRun(runDir, { url: remote.url, token: remote.token, project: remote.project, retryForMs, signal, seen: quick ? seen : undefined })
    for (const why of r.skipped) {
      if (!skipped.has(why)) note(`not synced, the server refuses the name: ${why}`)
      skipped.add(why)
    }
    if (lastError) note('sync recovered')
    lastError = ''
    return true
  } catch (e) {
    const msg = (e as Error).message
    if (msg !== lastError) note(`sync failed (will retry): ${msg}`)
    lastError = msg
    return false
  }
}

async function loop(): Promise<void> {
  while (!finishing) {
    await pass(0, true, stop.signal)
    if (finishing) break
    await sleep(interval, stop.signal)
  }
}

const running = loop()

parentPort?.on('message', (m: { type: string }) => {
  if (m.type !== 'finish' || finishing) return
  finishing = true
  stop.abort()
  void running.then(async () => {
    const ok = await pass(remote.finishTimeoutMs ?? 30_000, false)
    parentPort?.postMessage({ type: 'finished', ok })
  })
})
