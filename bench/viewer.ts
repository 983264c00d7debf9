/**
 * Viewer benchmark: time to first chart for a 1M-point metric, and time to list 1,000 runs.
 *   npx tsx bench/viewer.ts [--points 1000000] [--runs 1000] [--repeat 5]
 * Each figure is a median over repeats, measured side by side with a baseline in the same run:
 * the downsampled request (what the viewer sends) against fetching the whole series, and the
 * browser's first drawn chart / rendered list (when /usr/bin/chromium exists).
 */
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Board } from '../src/index'
import { startViewer } from '../src/viewer/server'

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const POINTS = arg('points', 1_000_000)
const RUNS = arg('runs', 1000)
const REPEAT = arg('repeat', 5)
const NAMES = arg('names', 10000)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}
async function med(fn: () => Promise<unknown>): Promise<number> {
  const xs: number[] = []
  for (let i = 0; i < REPEAT; i++) xs.push(await timeIt(fn))
  return median(xs)
}

async function main() {
  const rows: [string, number][] = []
  // ---- a run with one 1M-point metric ----
  const bigBase = mkdtempSync(join(tmpdir(), 'amber-bench-big-'))
  let t0 = performance.now()
  const board = new Board({ baseDir: bigBase, project: 'bench', name: 'big', captureOutput: false, systemMetrics: false })
  for (let i = 0; i < POINTS; i++) {
    board.log({ 'train/loss': Math.exp(-i / POINTS) + 0.01 * Math.sin(i) })
  }
  await board.finish()
  console.error(`logged ${POINTS} points in ${(performance.now() - t0).toFixed(0)} ms`)
  const key = `bench/${board.runDir.split(/[\\/]/).pop()}`
  const v1 = await startViewer({ baseDir: bigBase })
  const api = `${v1.url}api/runs/${key}`
  const first = async (maxPoints: number | null) => {
    await (await fetch(api)).json()
    await (await fetch(`${api}/metrics?namespace=train`)).json()
    const s = (await (await fetch(`${api}/scalars?name=train%2Floss${maxPoints ? `&maxPoints=${maxPoints}` : ''}`)).json()) as { value: unknown[] }
    if (s.value.length === 0) throw new Error('empty series')
  }
  rows.push([`HTTP: first chart data, ${POINTS} points downsampled to 1000 px (median)`, await med(() => first(1000))])
  rows.push([`HTTP: baseline, whole ${POINTS}-point series as JSON (median)`, await med(() => first(null))])

  // ---- 1,000 runs ----
  const manyBase = mkdtempSync(join(tmpdir(), 'amber-bench-many-'))
  t0 = performance.now()
  for (let r = 0; r < RUNS; r++) {
    const b = new Board({ baseDir: manyBase, project: `p${r % 10}`, name: `run-${r}`, config: { lr: 10 ** -(1 + (r % 4)), seed: r }, captureOutput: false, systemMetrics: false })
    b.log({ 'train/loss': 1 / (r + 1) })
    await b.finish()
  }
  console.error(`created ${RUNS} runs in ${(performance.now() - t0).toFixed(0)} ms`)
  const v2 = await startViewer({ baseDir: manyBase })
  rows.push([`HTTP: list ${RUNS} runs (median)`, await med(async () => ((await (await fetch(`${v2.url}api/runs`)).json()) as unknown[]).length)])

  // ---- a run with 10,000 metric names in 100 namespaces ----
  const wideBase = mkdtempSync(join(tmpdir(), 'amber-bench-wide-'))
  t0 = performance.now()
  const wide = new Board({ baseDir: wideBase, project: 'bench', name: 'wide', captureOutput: false, systemMetrics: false })
  for (let k = 0; k < 3; k++) {
    const values: Record<string, number> = {}
    for (let i = 0; i < NAMES; i++) values[`ns${i % 100}/m${i}`] = Math.sin(i + k)
    wide.log(values)
  }
  await wide.finish()
  console.error(`logged ${NAMES} metric names in ${(performance.now() - t0).toFixed(0)} ms`)
  const wideKey = `bench/${wide.runDir.split(/[\\/]/).pop()}`
  const v3 = await startViewer({ baseDir: wideBase })
  rows.push([
    `HTTP: run page data for ${NAMES} metric names (namespaces + one namespace's names + one chart) (median)`,
    await med(async () => {
      const d = (await (await fetch(`${v3.url}api/runs/${wideKey}`)).json()) as { namespaces: unknown[] }
      const names = (await (await fetch(`${v3.url}api/runs/${wideKey}/metrics?namespace=ns0`)).json()) as string[]
      await (await fetch(`${v3.url}api/runs/${wideKey}/scalars?name=${encodeURIComponent(names[0])}&maxPoints=1000`)).json()
      if (d.namespaces.length !== 100) throw new Error('expected 100 namespaces')
    }),
  ])

  // ---- in the browser ----
  if (existsSync('/usr/bin/chromium')) {
    const { chromium } = await import('playwright-core')
    const ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'amber-bench-chromium-')), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    })
    const page = ctx.pages()[0] ?? (await ctx.newPage())
    rows.push([
      `browser: navigation to first drawn chart, ${POINTS}-point metric (median)`,
      await med(async () => {
        await page.goto('about:blank')
        await page.goto(`${v1.url}#/run?runs=${encodeURIComponent(key)}`)
        await page.waitForSelector('.chart-card[data-drawn="1"]', { timeout: 60000 })
      }),
    ])
    rows.push([
      `browser: navigation to rendered list of ${RUNS} runs (median)`,
      await med(async () => {
        await page.goto('about:blank')
        await page.goto(v2.url)
        await page.waitForFunction((n) => document.querySelectorAll('tr.run-row').length === n, RUNS, { timeout: 60000 })
      }),
    ])
    rows.push([
      `browser: navigation to first drawn chart, run with ${NAMES} metric names (median)`,
      await med(async () => {
        await page.goto('about:blank')
        await page.goto(`${v3.url}#/run?runs=${encodeURIComponent(wideKey)}`)
        await page.waitForSelector('.chart-card[data-drawn="1"]', { timeout: 60000 })
      }),
    ])
    await ctx.close()
  } else {
    console.error('browser figures skipped: /usr/bin/chromium is missing')
  }
  await v1.close()
  await v2.close()
  await v3.close()
  console.log('| measurement | ms |\n|---|---|')
  for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(1)} |`)
  const [down, whole] = [rows[0][1], rows[1][1]]
  console.log(`\ndownsampled first chart is ${(whole / down).toFixed(1)}x faster than fetching the whole series`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
