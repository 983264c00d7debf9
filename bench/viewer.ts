/**
 * Viewer benchmark: time to first chart for a 1M-point metric, time to list 1,000 runs (and the
 * runs table with config columns and a metric's summaries, the parallel coordinates, a brush and
 * grouped curves over them), and a run with 10,000 metric names (first chart, run page open,
 * namespace open).
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
  // Each with a nested config (four keys that differ: the table's default columns and the
  // parallel coordinates' axes; two that do not) and a 50-point loss curve.
  for (let r = 0; r < RUNS; r++) {
    const lr = 10 ** -(1 + (r % 4))
    const opt = ['adam', 'sgd', 'adamw'][r % 3]
    const config = { optimizer: { name: opt, lr }, batch: 32 << (r % 3), seed: r, model: 'mlp', data: { path: '/data' } }
    const b = new Board({ baseDir: manyBase, project: `p${r % 10}`, name: `run-${r}`, config, captureOutput: false, systemMetrics: false })
    for (let i = 0; i < 50; i++) b.log({ 'train/loss': 0.1 + (r % 7) / 20 + Math.exp(-i * lr * 20) })
    await b.finish()
  }
  console.error(`created ${RUNS} runs in ${(performance.now() - t0).toFixed(0)} ms`)
  const v2 = await startViewer({ baseDir: manyBase })
  rows.push([`HTTP: list ${RUNS} runs (median)`, await med(async () => ((await (await fetch(`${v2.url}api/runs`)).json()) as unknown[]).length)])
  // What the runs table asks for a metric's columns (and again at each live refresh while a run logs).
  rows.push([
    `HTTP: one metric's summaries (count, last, min, max) for ${RUNS} runs (median)`,
    await med(async () => Object.keys((await (await fetch(`${v2.url}api/summaries?metric=train%2Floss`)).json()) as object).length),
  ])

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
    // The table keeps only the rows near the viewport in the document (the others come in as
    // they are scrolled to): "rendered" is every run sorted and filtered, the rows in view drawn.
    const tableDrawn = (n: number) =>
      page.waitForFunction((k) => document.body.dataset.shown === String(k) && document.querySelector('tr.run-row') !== null, n, { timeout: 60000 })
    rows.push([
      `browser: navigation to rendered runs table of ${RUNS} runs, 4 config columns (median)`,
      await med(async () => {
        await page.goto('about:blank')
        await page.goto(v2.url)
        await tableDrawn(RUNS)
      }),
    ])
    notes.push(`runs table of ${RUNS} runs: ${await page.$$eval('tr.run-row', (trs) => trs.length)} rows in the document at 1280x900, the rest built when scrolled to`)
    rows.push([
      `browser: scroll the ${RUNS}-run table from top to bottom (to the last run's row drawn) (median)`,
      await med(async () => {
        await page.evaluate(() => window.scrollTo(0, 0))
        await page.waitForFunction(() => document.querySelector('tr.run-row') !== null)
        const t0 = performance.now()
        await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight))
        // The spacer standing for the rows below the drawn ones is gone: the last rows are in.
        await page.waitForFunction(() => (document.querySelector('table.runs tbody tr.spacer:last-child') as HTMLElement).hidden && document.querySelector('tr.run-row') !== null)
        return performance.now() - t0
      }, true),
    ])
    // The runs table with config columns and a metric's last/min/max, and the compare view, on a
    // page of their own that notes in the page when each view is first complete and when the frame
    // after it was painted (ms since the navigation started). In-page, because Playwright's
    // checks of a page that still waits for an answer (/api/summaries) come late.
    const lp = await ctx.newPage()
    // A page in the background gets no animation frames (and the runs page does not poll there).
    await lp.bringToFront()
    const marks: Record<string, string> = {
      table: `body[data-shown="${RUNS}"] tr.run-row`,
      values: `body[data-stats="ready"][data-shown="${RUNS}"] tr.run-row td[data-col="last:train/loss"]:not(:empty)`,
      pc: `canvas.parcoords[data-lines="${RUNS}"]`,
      pcMetric: `canvas.parcoords[data-lines="${RUNS}"][data-target-values="${RUNS}"]`,
      brushed: `body[data-shown="${RUNS / 4}"] canvas.parcoords[data-lines="${RUNS / 4}"]`,
      groups: '.group-chart[data-drawn="1"][data-groups="3"]:not([data-loading])',
    }
    await lp.addInitScript((sels: Record<string, string>) => {
      const w = window as unknown as { painted: Record<string, number>; moveAt: number }
      w.painted = {}
      w.moveAt = 0
      const seen = new Set<string>()
      // No named inner functions here (tsx would wrap them in a helper the page does not have), and
      // window.performance: this module's `performance` is node:perf_hooks'.
      new MutationObserver(() => {
        for (const [name, sel] of Object.entries(sels)) {
          if (seen.has(name) || !document.querySelector(sel)) continue
          seen.add(name)
          requestAnimationFrame(() => setTimeout(() => (w.painted[name] = window.performance.now()), 0))
        }
      }).observe(document, { attributes: true, childList: true, subtree: true })
      // The first move of a drag: when a brush starts.
      addEventListener('pointerdown', () => (w.moveAt = 0), true)
      addEventListener('pointermove', (ev) => {
        if (ev.buttons & 1 && !w.moveAt) w.moveAt = window.performance.now()
      }, true)
    }, marks)
    const openList = async (query: string) => {
      await lp.goto('about:blank')
      await lp.goto(`${v2.url}#/?${query}`, { waitUntil: 'commit' })
    }
    const painted = (name: string) =>
      lp.waitForFunction((n) => (window as unknown as { painted: Record<string, number> }).painted[n], name, { timeout: 60000 }).then(async (h) => Number(await h.jsonValue()))
    /** Navigation to `mark` painted; then to everything asked for in (so the next one does not queue behind it on the server). */
    const firstDraw = (query: string, mark: string, settle = 'values') =>
      med(async () => {
        await openList(query)
        const ms = await painted(mark)
        await painted(settle)
        return ms
      }, true)
    rows.push([`browser: runs table of ${RUNS} runs, 4 config columns + a metric's last/min/max: first draw (metric columns filled in later) (median)`, await firstDraw('m=train%2Floss', 'table')])
    rows.push([`browser: the same, to the metric's values shown (waits for /api/summaries) (median)`, await firstDraw('m=train%2Floss', 'values')])
    notes.push(`runs table of ${RUNS} runs: ${await lp.$$eval('table.runs th[data-col^="config:"]', (ths) => ths.length)} config columns shown by default (the differing keys) + 3 metric columns`)
    rows.push([`browser: parallel coordinates of ${RUNS} runs, 4 config axes: first draw (the table drawn too) (median)`, await firstDraw('m=train%2Floss&view=compare', 'pc', 'pcMetric')])
    rows.push([`browser: the same, to the metric axis drawn (waits for /api/summaries) (median)`, await firstDraw('m=train%2Floss&view=compare', 'pcMetric', 'pcMetric')])
    // Brushing: a drag down the learning-rate axis, from its first move to the table filtered and painted.
    rows.push([
      `browser: brushing an axis of the parallel coordinates over ${RUNS} runs (a drag's first move to the filtered table and lines painted) (median)`,
      await med(async () => {
        await openList('m=train%2Floss&view=compare')
        await painted('pcMetric')
        const pc = lp.locator('canvas.parcoords')
        const box = await pc.boundingBox()
        if (!box) throw new Error('no canvas')
        const xs = JSON.parse(String(await pc.getAttribute('data-axis-x'))) as number[]
        const cols = JSON.parse(String(await pc.getAttribute('data-axis-cols'))) as string[]
        const [top, bottom] = JSON.parse(String(await pc.getAttribute('data-plot-y'))) as number[]
        const x = box.x + xs[cols.indexOf('config:optimizer.lr')]
        // The top fifth of the log axis (0.1 to 10^-1.6): lr 0.1 only, a fourth of the runs.
        await lp.mouse.move(x, box.y + top - 4)
        await lp.mouse.down()
        await lp.mouse.move(x, box.y + top + (bottom - top) * 0.2)
        const done = await painted('brushed')
        await lp.mouse.up()
        return done - (await lp.evaluate(() => (window as unknown as { moveAt: number }).moveAt))
      }, true),
    ])
    rows.push([
      `browser: grouped curves (mean + min–max band by optimizer.name) of ${RUNS} runs, the first 500 fetched one request each (navigation to drawn) (median)`,
      await firstDraw('m=train%2Floss&view=compare&group=optimizer.name', 'groups', 'groups'),
    ])
    await lp.close()
    await page.bringToFront()
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
