/**
 * Real runs for the viewer and CLI specs, logged with Board into a temp base dir (no stand-ins):
 * scalars in two namespaces with a NaN and a one-point spike, a histogram, an image, a table.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { Board, Histogram, Media, Table } from '../src/index'
import { startViewer } from '../src/viewer/server'
import type { Viewer, ViewerOptions } from '../src/viewer/server'
import { CHROMIUM, hasChromium, launchWatchedPage } from './chromium'
import { tempDir } from './temp-dirs'

/** The test function of a browser spec: serial with chromium, else a skip that says why. */
export function browserTest(spec: string): typeof test.serial {
  if (hasChromium) return test.serial
  console.warn(`${spec}: skipped, ${CHROMIUM} is missing (apt-get install chromium)`)
  return test.skip as typeof test.serial
}

/** A viewer over a base dir and a watched browser page for it (a browser spec's set-up). */
export interface ViewerPage {
  viewer: Viewer
  ctx: BrowserContext
  page: Page
}

/** Start the viewer on `baseDir` and a page whose errors go to `pageErrors`. */
export async function openViewerPage(baseDir: string, pageErrors: string[], options: Omit<ViewerOptions, 'baseDir'> = {}): Promise<ViewerPage> {
  const viewer = await startViewer({ ...options, baseDir })
  const { ctx, page } = await launchWatchedPage(pageErrors)
  return { viewer, ctx, page }
}

/** Close what `openViewerPage` opened (whatever of it exists) and remove the base dir. */
export async function closeViewerPage(s: Partial<ViewerPage>, baseDir: string | undefined): Promise<void> {
  await s.ctx?.close()
  await s.viewer?.close()
  if (baseDir) rmSync(baseDir, { recursive: true, force: true })
}

/**
 * Start viewer-live-child.ts logging `steps` points into a run named `name` of project `live`,
 * one every `delayMs` (and with `logsEvery` > 0 a histogram, image and table every that many
 * steps); resolves with its run key (`live/folder`) once the run exists. The
 * child is killed when the test ends.
 */
export async function startLiveChild(
  t: { teardown(fn: () => void): void },
  baseDir: string,
  name: string,
  steps: number,
  delayMs: number,
  logsEvery = 0,
): Promise<{ key: string }> {
  const args = [join(__dirname, 'viewer-live-child.ts'), baseDir, name, String(steps), String(delayMs), String(logsEvery)]
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => child.kill('SIGKILL'))
  const runDir = await new Promise<string>((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (c) => {
      buf += c
      const m = /RUNDIR (.+)\n/.exec(buf)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`child exited ${code}`)))
  })
  return { key: `live/${runDir.split(/[\\/]/).pop()}` }
}

/** A temp base dir `amber-<tag>-XXXXXX`, removed after the spec file's tests. */
export function tempBase(tag: string): string {
  return tempDir(`amber-${tag}-`)
}

export interface LoggedRun {
  runDir: string
  key: string
  loss: number[]
}

/** A 4x4 RGB checkerboard: small, valid pixels for a Media entry. */
export function checker(): { data: Uint8Array; width: number; height: number; channels: number } {
  const data = new Uint8Array(4 * 4 * 3)
  for (let i = 0; i < 16; i++) data.fill((i + (i >> 2)) % 2 ? 255 : 30, i * 3, i * 3 + 3)
  return { data, width: 4, height: 4, channels: 3 }
}

export async function logRun(baseDir: string, opts: { project?: string; name: string; steps?: number; lr?: number; spikeAt?: number }): Promise<LoggedRun> {
  const steps = opts.steps ?? 50
  const board = new Board({ baseDir, project: opts.project ?? 'proj', name: opts.name, config: { lr: opts.lr ?? 0.01, layers: 3 }, captureOutput: false, systemMetrics: false })
  const loss: number[] = []
  for (let i = 0; i < steps; i++) {
    const v = i === opts.spikeAt ? 1000 : 1 / (1 + i) + (i % 3) * 0.01
    loss.push(v)
    board.log({ 'train/loss': v, 'val/acc': i / steps, lr: opts.lr ?? 0.01 })
    board.step()
  }
  board.log({ 'train/nan': NaN })
  board.log({
    'params/w': new Histogram(Float64Array.from({ length: 500 }, (_, k) => Math.sin(k) * 2)),
    samples: new Media(checker(), { caption: 'checker' }),
    preds: new Table([
      { id: 1, label: 'cat', score: 0.9 },
      { id: 2, label: 'dog', score: 0.4 },
    ]),
  })
  const runDir = board.runDir
  await board.finish()
  return { runDir, key: `${opts.project ?? 'proj'}/${runDir.split(/[\\/]/).pop()}`, loss }
}
