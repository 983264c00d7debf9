/**
 * Viewer benchmark: time to first chart for a 1M-point metric, time to list 1,000 runs, and a run
 * with 10,000 metric names (first chart, run page open, namespace open).
 *   npx tsx bench/viewer.ts [--points 1000000] [--runs 1000] [--names 10000] [--repeat 5]
 * Each figure is a median over repeats, measured side by side with a baseline in the same run:
 * the downsampled request (what the viewer sends) against a read without maxPoints (the server
 * caps it at 10,000 points; it never sends a whole 1M-point series), and the browser's first
 * drawn chart / rendered list (when /usr/bin/chromium exists).
 *
 * The 10,000-name run is written by Board like the others (one store for all names: well under a
 * second, about 10 MB), in a temp folder removed at the end.
 */
import { performance } from 'node:perf_hooks'
import { Board } from '../src/index'
import { MAX_POINTS } from '../src/viewer/routes'
import { startViewer } from '../src/viewer/server'
import { benchTemp, removeTemp } from './lib/temp'
import { median } from './lib/timing'
import { CHROMIUM, hasChromium, launchChromium } from '../__test__/chromium'

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
const POINTS = arg('points', 1_000_000)
const RUNS = arg('runs', 1000)
const REPEAT = arg('repeat', 5)
const NAMES = arg('names', 10000)

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now()
  await fn()
  return performance.now() - t0
}
/** Median over REPEAT runs; with `selfTimed`, fn returns its own duration (setup excluded). */
async function med(fn: () => Promise<unknown>, selfTimed = false): Promise<number> {
  const xs: number[] = []
  for (let i = 0; i < REPEAT; i++) xs.push(selfTimed ? ((await fn()) as number) : await timeIt(fn))
  return median(xs)
}

/** The base dir of a finished Board run with `names` metric names (3 points each). */
async function wideFixture(names: number): Promise<{ baseDir: string; key: string; note: string }> {
  const baseDir = benchTemp('amber-bench-wide-')
  const t0 = performance.now()
  const board = new Board({ baseDir, project: 'bench', name: 'wide', captureOutput: false, systemMetrics: false })
  const half = Math.floor(names / 2)
  const nameOf = (i: number) => (i < half ? `big/m${i}` : `ns${1 + (i % 99)}/m${i}`)
  for (let k = 0; k < 3; k++) {
    const values: Record<string, number> = {}
    for (let i = 0; i < names; i++) values[nameOf(i)] = Math.sin(i + k)
    board.log(values)
    board.step()
  }
  await board.finish()
  const key = `bench/${board.runDir.split(/[\\/]/).pop()}`
  return { baseDir, key, note: `logged the ${names}-name run with Board in ${(performance.now() - t0).toFixed(0)} ms` }
}

async function main() {
  const rows: [string, number][] = []
  const notes: string[] = []
  // ---- a run with one 1M-point metric ----
  const bigBase = benchTemp('amber-bench-big-')
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
  rows.push([`HTTP: no maxPoints, the server's default cap of ${MAX_POINTS.default} points (median)`, await med(() => first(null))])

  // ---- 1,000 runs ----
  const manyBase = benchTemp('amber-bench-many-')
  t0 = performance.now()
  for (let r = 0; r < RUNS; r++) {
    const b = new Board({ baseDir: manyBase, project: `p${r % 10}`, name: `run-${r}`, config: { lr: 10 ** -(1 + (r % 4)), seed: r }, captureOutput: false, systemMetrics: false })
    b.log({ 'train/loss': 1 / (r + 1) })
    await b.finish()
  }
  console.error(`created ${RUNS} runs in ${(performance.now() - t0).toFixed(0)} ms`)
  const v2 = await startViewer({ baseDir: manyBase })
  rows.push([`HTTP: list ${RUNS} runs (median)`, await med(async () => ((await (await fetch(`${v2.url}api/runs`)).json()) as unknown[]).length)])

  // ---- a run with 10,000 metric names: half in one namespace, half over 99 more ----
  const wide = await wideFixture(NAMES)
  console.error(wide.note)
  const wideKey = wide.key
  const v3 = await startViewer({ baseDir: wide.baseDir })
  rows.push([
    `HTTP: run page data for ${NAMES} metric names (namespaces + one namespace's names + one chart) (median)`,
    await med(async () => {
      const d = (await (await fetch(`${v3.url}api/runs/${wideKey}`)).json()) as { namespaces: unknown[] }
      const names = (await (await fetch(`${v3.url}api/runs/${wideKey}/metrics?namespace=ns1`)).json()) as string[]
      await (await fetch(`${v3.url}api/runs/${wideKey}/scalars?name=${encodeURIComponent(names[0])}&maxPoints=1000`)).json()
      if (d.namespaces.length !== 100) throw new Error(`expected 100 namespaces, got ${d.namespaces.length}`)
    }),
  ])
  rows.push([
    `HTTP: for scale, all ${NAMES} metric names in one request (median)`,
    await med(async () => {
      const all = (await (await fetch(`${v3.url}api/runs/${wideKey}/metrics`)).json()) as string[]
      if (all.length !== NAMES) throw new Error(`expected ${NAMES} names, got ${all.length}`)
    }),
  ])

  // ---- in the browser ----
  if (hasChromium) {
    const ctx = await launchChromium()
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
    const openWide = async () => {
      await page.goto('about:blank')
      await page.goto(`${v3.url}#/run?runs=${encodeURIComponent(wideKey)}`)
    }
    rows.push([
      `browser: run page open, ${NAMES} metric names (navigation to all 100 namespaces listed) (median)`,
      await med(async () => {
        await openWide()
        await page.waitForFunction(() => document.querySelectorAll('details.namespace').length === 100, null, { timeout: 60000 })
      }),
    ])
    rows.push([
      `browser: navigation to first drawn chart, run with ${NAMES} metric names (median)`,
      await med(async () => {
        await openWide()
        await page.waitForSelector('.chart-card[data-drawn="1"]', { timeout: 60000 })
      }),
    ])
    // What the open page holds: the first namespace (5,000 names) carded one page at a time.
    const cards = await page.evaluate(() => document.querySelectorAll('.chart-card').length)
    const drawn = await page.evaluate(() => document.querySelectorAll('.chart-card[data-drawn="1"]').length)
    notes.push(`run page with ${NAMES} metric names: ${cards} chart cards in the DOM, ${drawn} drawn (the rest load when scrolled to)`)
    let k = 10
    rows.push([
      `browser: open a closed namespace (~50 metrics) to its first drawn chart, ${NAMES}-name run (median)`,
      await med(async () => {
        await openWide()
        const ns = `ns${k++}`
        await page.waitForSelector(`details.namespace[data-namespace="${ns}"]`, { timeout: 60000 })
        const t0 = performance.now()
        await page.click(`details.namespace[data-namespace="${ns}"] > summary`)
        await page.waitForSelector(`details.namespace[data-namespace="${ns}"] .chart-card[data-drawn="1"]`, { timeout: 60000 })
        return performance.now() - t0
      }, true),
    ])
    await ctx.close()
  } else {
    console.error(`browser figures skipped: ${CHROMIUM} is missing`)
  }
  await v1.close()
  await v2.close()
  await v3.close()
  for (const dir of [bigBase, manyBase, wide.baseDir]) removeTemp(dir)
  console.log('| measurement | ms |\n|---|---|')
  for (const [name, ms] of rows) console.log(`| ${name} | ${ms.toFixed(1)} |`)
  const [down, capped] = [rows[0][1], rows[1][1]]
  console.log(`\ndownsampled first chart is ${(capped / down).toFixed(1)}x faster than a read at the server's default cap`)
  console.log(wide.note)
  for (const n of notes) console.log(n)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
