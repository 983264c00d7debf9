/**
 * The runs table with hyperparameters and the compare view in headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core), on runs logged with Board whose configs nest
 * (optimizer.lr, optimizer.name) and hold numbers and strings: config columns (only the differing
 * keys by default), sorting and filtering (numeric range, text), a metric's last/min/max columns,
 * a run started after the page loaded appearing live with its status changing, parallel
 * coordinates with a brushed axis filtering the table, the scatter, grouped curves with their
 * bands, and the URL restoring the whole view after a reload. Screenshots go to
 * __test__/artifacts/viewer-compare-*.png.
 */
import test from 'ava'
import { basename, join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { Board } from '../src/index'
import type { Viewer } from '../src/viewer/server'
import { ARTIFACTS, hasChromium } from './chromium'
import { browserTest, closeViewerPage, openViewerPage, tempBase } from './viewer-fixtures'

const btest = browserTest('viewer-compare-browser')

let viewer: Viewer
let ctx: BrowserContext
let page: Page
let base: string
const pageErrors: string[] = []

interface Logged {
  key: string
  opt: string
  lr: number
  batch: number
  loss: number[]
}
const runs: Logged[] = []
let liveKey = ''

/**
 * A loss curve that ends lower for a better learning rate (and differently for each run), and
 * falls faster the larger the rate: a group of runs over several rates has a wide band.
 */
function lossCurve(lr: number, opt: string, steps: number): number[] {
  const off = Math.abs(Math.log10(lr) + 2.2)
  const floor = 0.05 + off * 0.1 + (opt === 'sgd' ? 0.07 : 0)
  const tau = 2 + 6 * (-1 - Math.log10(lr))
  return Array.from({ length: steps }, (_, i) => floor + 1.5 * Math.exp(-i / tau) + 0.01 * Math.sin(i))
}

async function logRun(name: string, opt: string, lr: number, batch: number, seed: number): Promise<Logged> {
  const board = new Board({
    baseDir: base,
    project: 'hp',
    name,
    config: { optimizer: { name: opt, lr }, batch, seed, model: 'mlp', data: { path: '/data/mnist' } },
    captureOutput: false,
    systemMetrics: false,
  })
  const loss = lossCurve(lr, opt, 40)
  for (const v of loss) {
    board.log({ 'train/loss': v, 'val/acc': 1 - v / 2 })
    board.step()
  }
  await board.finish()
  return { key: `hp/${basename(board.runDir)}`, opt, lr, batch, loss }
}

test.before(async () => {
  if (!hasChromium) return
  base = tempBase('viewer-compare')
  const grid: [string, number, number][] = [
    ['adam', 0.1, 32],
    ['adam', 0.01, 64],
    ['adam', 0.001, 32],
    ['sgd', 0.1, 64],
    ['sgd', 0.01, 32],
    ['sgd', 0.001, 64],
  ]
  for (const [i, [opt, lr, batch]] of grid.entries()) runs.push(await logRun(`${opt}-${lr}`, opt, lr, batch, i))
  ;({ viewer, ctx, page } = await openViewerPage(base, pageErrors, { liveIntervalMs: 200 }))
})
test.after.always(async () => {
  await closeViewerPage({ ctx, viewer }, base)
})

const shot = (name: string, fullPage = true) => page.screenshot({ path: join(ARTIFACTS, `viewer-compare-${name}.png`), fullPage })
/** The viewer's number format (fmtNum) for values of this size. */
const fmt = (v: number) => String(Math.round(v * 1e4) / 1e4)
const rowKeys = () => page.$$eval('tr.run-row', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key as string))
const headerCols = () => page.$$eval('table.runs tr.titles th[data-col]', (ths) => ths.map((th) => (th as HTMLElement).dataset.col as string).filter((c) => !c.startsWith('field:')))
const cell = (key: string, col: string) => page.textContent(`tr.run-row[data-key="${key}"] td[data-col="${col}"]`)
const column = (col: string) => page.$$eval(`tr.run-row td[data-col="${col}"]`, (tds) => tds.map((td) => td.textContent as string))
const byLr = (lr: number) => runs.filter((r) => r.lr === lr).map((r) => r.key)
const waitRows = (n: number) => page.waitForFunction((k) => document.querySelectorAll('tr.run-row').length === k, n)
/** Waits for the table to show exactly these runs (in any order): a filter applies at the next frame. */
const waitKeys = (keys: string[]) =>
  page.waitForFunction((want) => Array.from(document.querySelectorAll('tr.run-row'), (tr) => (tr as HTMLElement).dataset.key).sort().join('\n') === want, [...keys].sort().join('\n'))

/** Pixels of a canvas drawn in something other than (near-)transparent or the page's background. */
async function inked(selector: string): Promise<number> {
  return page.$eval(selector, (canvas) => {
    const c = canvas as HTMLCanvasElement
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data
    let n = 0
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 40 && (d[i] > 60 || d[i + 1] > 60 || d[i + 2] > 60)) n++
    return n
  })
}

/** Clicks a column's header and waits for the table to show that sort (it refreshes at the next frame). */
async function sortBy(col: string, dir: 'asc' | 'desc'): Promise<void> {
  await page.click(`th[data-col="${col}"]`)
  await page.waitForFunction(([c, a]) => document.querySelector(`th[data-col="${c}"] .arrow`)?.textContent === a, [col, dir === 'asc' ? ' ▲' : ' ▼'] as const)
}

/** Sets a filter box's text the way typing does. */
async function filter(col: string, text: string): Promise<void> {
  await page.fill(`input.col-filter[data-col="${col}"]`, text)
}

btest('config columns: nested keys flattened, only the keys that differ between the runs by default', async (t) => {
  await page.goto(viewer.url)
  await waitRows(6)
  // model and data.path are the same in every run: not shown; the rest are, in key order.
  t.deepEqual(await headerCols(), ['config:batch', 'config:optimizer.lr', 'config:optimizer.name', 'config:seed'])
  const r = runs[0]
  t.is(await cell(r.key, 'config:optimizer.lr'), '0.1')
  t.is(await cell(r.key, 'config:optimizer.name'), 'adam')
  t.is(await cell(r.key, 'config:batch'), '32')
  // The picker offers every key, the constant ones too.
  await page.click('details.column-picker > summary')
  t.true(await page.locator('.pick[data-col="config:data.path"]').isVisible())
  t.true(await page.locator('.pick[data-col="config:model"] input:not(:checked)').isVisible())
  await shot('picker')
  await page.click('details.column-picker > summary')
  t.deepEqual(pageErrors, [])
})

btest('sorted by a header click, filtered by a numeric range and by text', async (t) => {
  await sortBy('config:optimizer.lr', 'asc')
  t.deepEqual(await column('config:optimizer.lr'), ['0.001', '0.001', '0.01', '0.01', '0.1', '0.1'])
  await sortBy('config:optimizer.lr', 'desc')
  t.deepEqual(await column('config:optimizer.lr'), ['0.1', '0.1', '0.01', '0.01', '0.001', '0.001'])
  // A string column sorts too.
  await sortBy('config:optimizer.name', 'asc')
  t.deepEqual(await column('config:optimizer.name'), ['adam', 'adam', 'adam', 'sgd', 'sgd', 'sgd'])

  await filter('config:optimizer.lr', '0.005..0.05')
  await waitRows(2)
  t.deepEqual((await rowKeys()).sort(), byLr(0.01).sort())
  await filter('config:optimizer.name', 'sg')
  await waitRows(1)
  t.deepEqual(await rowKeys(), runs.filter((r) => r.lr === 0.01 && r.opt === 'sgd').map((r) => r.key))
  await shot('filtered')
  // An open range, and a single number.
  await filter('config:optimizer.name', '')
  await filter('config:optimizer.lr', '..0.005')
  await waitKeys(byLr(0.001))
  t.deepEqual((await rowKeys()).sort(), byLr(0.001).sort())
  await filter('config:optimizer.lr', '')
  await filter('config:batch', '64')
  await waitRows(3)
  await filter('config:batch', '')
  await waitRows(6)
  t.deepEqual(pageErrors, [])
})

btest("a metric's last, min and max are columns, from /api/summaries", async (t) => {
  await page.fill('input.metric-input', 'train/loss')
  await page.press('input.metric-input', 'Enter')
  await page.waitForSelector('th[data-col="last:train/loss"]')
  t.deepEqual(await headerCols(), ['config:batch', 'config:optimizer.lr', 'config:optimizer.name', 'config:seed', 'last:train/loss', 'min:train/loss', 'max:train/loss'])
  for (const r of runs) {
    t.is(await cell(r.key, 'last:train/loss'), fmt(r.loss[r.loss.length - 1]))
    t.is(await cell(r.key, 'min:train/loss'), fmt(Math.min(...r.loss)))
    t.is(await cell(r.key, 'max:train/loss'), fmt(Math.max(...r.loss)))
  }
  // Sorted by the last loss, ascending: the best run first.
  await sortBy('last:train/loss', 'asc')
  const best = [...runs].sort((a, b) => a.loss[a.loss.length - 1] - b.loss[b.loss.length - 1])
  t.deepEqual(await rowKeys(), best.map((r) => r.key))
  // A range on a metric column.
  const cut = (best[1].loss[39] + best[2].loss[39]) / 2
  await filter('last:train/loss', `..${cut}`)
  await waitRows(2)
  t.deepEqual(await rowKeys(), best.slice(0, 2).map((r) => r.key))
  await shot('metrics')
  await filter('last:train/loss', '')
  await waitRows(6)
  t.deepEqual(pageErrors, [])
})

btest('a run started after the page loaded appears live, and its status and last value change without a reload', async (t) => {
  await page.evaluate(() => ((window as unknown as { loadedOnce: number }).loadedOnce = 1))
  const board = new Board({ baseDir: base, project: 'hp', name: 'adamw-live', config: { optimizer: { name: 'adamw', lr: 0.003 }, batch: 128, seed: 9, model: 'mlp', data: { path: '/data/mnist' } }, captureOutput: false, systemMetrics: false })
  t.teardown(async () => {
    try {
      await board.finish()
    } catch {
      // Finished already.
    }
  })
  liveKey = `hp/${basename(board.runDir)}`
  const loss = lossCurve(0.003, 'adamw', 40)
  for (const v of loss.slice(0, 10)) {
    board.log({ 'train/loss': v, 'val/acc': 1 - v / 2 })
    board.step()
  }
  await board.flush()
  const row = `tr.run-row[data-key="${liveKey}"]`
  await page.waitForSelector(`${row} .status-running`, { timeout: 20000 })
  await page.waitForFunction(([r, v]) => document.querySelector(`${r} td[data-col="last:train/loss"]`)?.textContent === v, [row, fmt(loss[9])] as const, { timeout: 20000 })
  t.is(await cell(liveKey, 'config:optimizer.name'), 'adamw')
  t.is(await cell(liveKey, 'config:batch'), '128')
  await shot('live')
  // More points, then the run finishes: the row follows.
  for (const v of loss.slice(10)) {
    board.log({ 'train/loss': v, 'val/acc': 1 - v / 2 })
    board.step()
  }
  await board.finish()
  runs.push({ key: liveKey, opt: 'adamw', lr: 0.003, batch: 128, loss })
  await page.waitForSelector(`${row} .status-finished`, { timeout: 20000 })
  await page.waitForFunction(([r, v]) => document.querySelector(`${r} td[data-col="last:train/loss"]`)?.textContent === v, [row, fmt(loss[39])] as const, { timeout: 20000 })
  t.is(await cell(liveKey, 'min:train/loss'), fmt(Math.min(...loss)))
  // Same document all along.
  t.is(await page.evaluate(() => (window as unknown as { loadedOnce?: number }).loadedOnce), 1)
  t.is(await page.locator('tr.run-row').count(), 7)
  t.deepEqual(pageErrors, [])
})

btest('parallel coordinates are drawn, and brushing an axis filters the table', async (t) => {
  await page.click('button.compare-toggle')
  const pc = 'canvas.parcoords'
  await page.waitForSelector(`${pc}[data-lines="7"]`)
  t.deepEqual(JSON.parse(String(await page.getAttribute(pc, 'data-axis-cols'))), ['config:batch', 'config:optimizer.lr', 'config:optimizer.name', 'config:seed', 'last:train/loss'])
  t.true((await inked(pc)) > 3000, 'lines and axes drawn')
  // Brush the top of the learning-rate axis (log scale from 0.001 at the bottom to 0.1 at the top).
  const xs = JSON.parse(String(await page.getAttribute(pc, 'data-axis-x'))) as number[]
  const [top, bottom] = JSON.parse(String(await page.getAttribute(pc, 'data-plot-y'))) as number[]
  const box = await page.locator(pc).boundingBox()
  if (!box) throw new Error('no canvas')
  /** Drag along the axis at `x` from just above its top down to `part` of its height. */
  const brush = async (x: number, part: number) => {
    await page.mouse.move(x, box.y + top - 4)
    await page.mouse.down()
    await page.mouse.move(x, box.y + top + (bottom - top) * part, { steps: 6 })
    await page.mouse.up()
  }
  // Down to a quarter of the lr axis: lr from about 10^-1.5 up.
  await brush(box.x + xs[1], 0.25)
  await waitRows(2)
  t.deepEqual((await rowKeys()).sort(), byLr(0.1).sort())
  t.regex(await page.inputValue('input.col-filter[data-col="config:optimizer.lr"]'), /^0\.0\d+\.\.0\.1\d*$/)
  await page.waitForSelector(`${pc}[data-lines="2"][data-faint="5"]`)
  t.regex(decodeURIComponent(page.url()), /f\.config:optimizer\.lr=0\.0\d+\.\.0\.1/)
  await shot('parcoords')
  // Brushing the top of the metric axis too (the worst last losses): the two filters combine.
  const xm = box.x + xs[4]
  await brush(xm, 0.3)
  await waitRows(1)
  t.deepEqual(await rowKeys(), runs.filter((r) => r.lr === 0.1 && r.opt === 'sgd').map((r) => r.key))
  // A click on the axis clears its brush.
  await page.mouse.click(xm, box.y + top + 10)
  await waitRows(2)
  t.deepEqual(pageErrors, [])
})

btest('the scatter draws the compared runs over two chosen columns', async (t) => {
  await page.click('button.clear-filters')
  await waitRows(7)
  await page.selectOption('select.scatter-x', 'config:optimizer.lr')
  await page.selectOption('select.scatter-y', 'last:train/loss')
  await page.waitForSelector('canvas.scatter[data-points="7"]')
  t.true((await inked('canvas.scatter')) > 500)
  // The dots are filtered like the table.
  await filter('config:optimizer.name', 'adam')
  await page.waitForSelector('canvas.scatter[data-points="4"]')
  await filter('config:optimizer.name', '')
  await page.waitForSelector('canvas.scatter[data-points="7"]')
  await shot('scatter')
  t.deepEqual(pageErrors, [])
})

btest('curves grouped by a config key: a mean line and a min–max band per group', async (t) => {
  await page.selectOption('select.group-by', 'optimizer.name')
  const chart = '.group-chart[data-groups="3"][data-curves="7"]:not([data-loading])'
  await page.waitForSelector(chart)
  t.deepEqual(await page.$$eval('.group-legend .group-item', (els) => els.map((e) => e.textContent)), ['optimizer.name=adam 3 runs', 'optimizer.name=adamw 1 run', 'optimizer.name=sgd 3 runs'])
  // Band pixels: the group's colour at the band's low opacity, over a large area (the lines are
  // opaque and thin). adam's runs span three learning rates, so its band is wide.
  const bands = await page.$eval(`${chart} canvas`, (canvas) => {
    const c = canvas as HTMLCanvasElement
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data
    // PALETTE[0] and PALETTE[2]: the first and third groups (adam, sgd). (No inner functions:
    // the test's transpiler would name them with a helper the page does not have.)
    const colours = [[0x4e, 0x79, 0xa7], [0xe1, 0x57, 0x59]]
    const n = [0, 0]
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] <= 25 || d[i + 3] >= 70) continue
      for (let k = 0; k < 2; k++) if (Math.abs(d[i] - colours[k][0]) < 12 && Math.abs(d[i + 1] - colours[k][1]) < 12 && Math.abs(d[i + 2] - colours[k][2]) < 12) n[k]++
    }
    return { adam: n[0], sgd: n[1] }
  })
  t.true(bands.adam > 2000, `adam band pixels: ${bands.adam}`)
  t.true(bands.sgd > 2000, `sgd band pixels: ${bands.sgd}`)
  t.true((await inked(`${chart} canvas`)) > 3000)
  await page.locator('section.compare-view').screenshot({ path: join(ARTIFACTS, 'viewer-compare-groups.png') })
  t.deepEqual(pageErrors, [])
})

btest('the URL restores the whole view after a reload, and opens it anywhere', async (t) => {
  // Own columns: seed left out, optimizer.name moved first.
  await page.click('details.column-picker > summary')
  await page.click('.pick[data-col="config:seed"] input')
  await page.waitForFunction(() => !document.querySelector('th[data-col="config:seed"]'))
  // Each move re-renders the picker: wait for it before the next.
  const moved = ['config:batch', 'config:optimizer.name', 'config:optimizer.lr']
  await page.click('.pick[data-col="config:optimizer.name"] button.up')
  await page.waitForFunction((c) => document.querySelectorAll('th[data-col^="config:"]')[1]?.getAttribute('data-col') === c, moved[1])
  await page.click('.pick[data-col="config:optimizer.name"] button.up')
  await page.waitForFunction(() => document.querySelector('th[data-col^="config:"]')?.getAttribute('data-col') === 'config:optimizer.name')
  await page.click('details.column-picker > summary')
  const cols = ['config:optimizer.name', 'config:batch', 'config:optimizer.lr', 'last:train/loss', 'min:train/loss', 'max:train/loss']
  t.deepEqual(await headerCols(), cols)
  await sortBy('max:train/loss', 'asc')
  await sortBy('max:train/loss', 'desc')
  await filter('config:batch', '..100')
  await waitRows(6)
  await page.check(`tr.run-row[data-key="${runs[1].key}"] input[type=checkbox]`)
  await page.check(`tr.run-row[data-key="${runs[4].key}"] input[type=checkbox]`)
  await page.waitForSelector('canvas.parcoords[data-lines="2"]')
  const before = { url: page.url(), rows: await rowKeys(), lr: await column('config:optimizer.lr') }
  await shot('before-reload')

  await page.reload()
  // The rows come with the run list, the metric columns (here the sort key) with the summaries.
  await page.waitForSelector('body[data-stats="ready"]')
  await waitRows(6)
  await page.waitForSelector('canvas.parcoords[data-lines="2"]')
  t.is(page.url(), before.url)
  t.deepEqual(await headerCols(), cols)
  t.deepEqual(await rowKeys(), before.rows)
  t.deepEqual(await column('config:optimizer.lr'), before.lr)
  t.regex(String(await page.textContent('th[data-col="max:train/loss"]')), /▼/)
  t.is(await page.inputValue('input.col-filter[data-col="config:batch"]'), '..100')
  t.is(await page.locator('tr.run-row input[type=checkbox]:checked').count(), 2)
  t.is(await page.inputValue('select.group-by'), 'optimizer.name')
  t.is(await page.inputValue('select.scatter-x'), 'config:optimizer.lr')
  await page.waitForSelector('.group-chart[data-groups="2"][data-curves="2"]')
  await shot('restored')

  // A shared link opens the same view in another tab.
  const other = await ctx.newPage()
  await other.goto(before.url)
  await other.waitForSelector('body[data-stats="ready"]')
  await other.waitForFunction(() => document.querySelectorAll('tr.run-row').length === 6)
  t.deepEqual(await other.$$eval('tr.run-row', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key)), before.rows)
  await other.close()

  // Back from a run page lands on the same view.
  await page.click(`tr.run-row[data-key="${runs[1].key}"] a.run-link`)
  await page.waitForSelector('.chart-card[data-drawn="1"]')
  await page.click('a.back')
  await page.waitForSelector('body[data-page="list"][data-stats="ready"]')
  await waitRows(6)
  t.deepEqual(await rowKeys(), before.rows)
  t.is(page.url(), before.url)
  t.deepEqual(pageErrors, [])
})

btest('a table of many runs keeps only the rows near the viewport in the document, sorted and selected as a whole', async (t) => {
  const n = 150
  for (let i = 0; i < n; i++) {
    const board = new Board({ baseDir: base, project: 'many', name: `m${i}`, config: { lr: 10 ** -(1 + (i % 3)), seed: i }, captureOutput: false, systemMetrics: false })
    board.log({ 'train/loss': 1 / (1 + i) })
    await board.finish()
  }
  await page.goto('about:blank')
  await page.goto(`${viewer.url}#/?project=many&sort=config%3Aseed&asc=1`)
  await page.waitForSelector(`body[data-shown="${n}"] tr.run-row`)
  const inDocument = await page.locator('tr.run-row').count()
  t.true(inDocument < n, `${inDocument} rows in the document`)
  t.is(await page.textContent('tr.run-row >> nth=0 >> td[data-col="config:seed"]'), '0')
  // Scrolled to the end, the last runs' rows come in.
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight))
  await page.waitForFunction((last) => Array.from(document.querySelectorAll('tr.run-row td[data-col="config:seed"]')).some((td) => td.textContent === last), String(n - 1))
  t.is(await page.textContent('span.count'), `${n} of ${runs.length + n} runs`)
  // "Select all" takes every run shown, not only the rows in the document.
  await page.check('input.select-all')
  await page.waitForSelector('button.clear-selection:not([hidden])')
  t.is(await page.textContent('button.clear-selection'), `clear selection (${n})`)
  await page.evaluate(() => window.scrollTo(0, 0))
  await page.waitForFunction(() => Array.from(document.querySelectorAll('tr.run-row td[data-col="config:seed"]')).some((td) => td.textContent === '0'))
  t.is(await page.locator('tr.run-row input[type=checkbox]:not(:checked)').count(), 0)
  // The window, not the whole page (below the drawn rows a spacer stands for the others).
  await shot('many', false)
  t.deepEqual(pageErrors, [])
})
