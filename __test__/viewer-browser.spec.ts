/**
 * The viewer in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core): run list,
 * a run page with a drawn chart, smoothing, two runs overlaid, a histogram, a media item, a table,
 * and a point appearing live while a child process logs, with no Content-Security-Policy refusal
 * on the way. Screenshots go to __test__/artifacts/.
 */
import test from 'ava'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import type { Viewer } from '../src/viewer/server'
import { Board } from '../src/index'
import { browserTest, closeViewerPage, logRun, openViewerPage, startLiveChild, tempBase } from './viewer-fixtures'
import { ARTIFACTS, hasChromium } from './chromium'
import type { LoggedRun } from './viewer-fixtures'

const btest = browserTest('viewer-browser')

let viewer: Viewer
let ctx: BrowserContext
let page: Page
let base: string
let a: LoggedRun
let b: LoggedRun
const pageErrors: string[] = []

test.before(async () => {
  if (!hasChromium) return
  base = tempBase('viewer-browser')
  a = await logRun(base, { name: 'alpha', steps: 200, lr: 0.1, spikeAt: 120 })
  b = await logRun(base, { name: 'beta', steps: 150, lr: 0.01 })
  ;({ viewer, ctx, page } = await openViewerPage(base, pageErrors, { liveIntervalMs: 200 }))
})
test.after.always(async () => {
  await closeViewerPage({ ctx, viewer }, base)
})

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `viewer-${name}.png`) })

/** True when the chart's canvas has lines drawn in more than a few pixels (not just a blank box). */
async function inkedPixels(selector: string): Promise<number> {
  return page.$eval(selector, (canvas) => {
    const c = canvas as HTMLCanvasElement
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data
    let n = 0
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] > 60 || d[i + 1] > 60 || d[i + 2] > 60)) n++
    return n
  })
}

btest('the run list shows both runs with status, and search filters it', async (t) => {
  await page.goto(viewer.url)
  await page.waitForSelector('tr.run-row')
  t.is(await page.locator('tr.run-row').count(), 2)
  t.is(await page.locator('tr.run-row .status-finished').count(), 2)
  // The list refreshes at the next animation frame after a change: wait for that frame's marks
  // (the row count, the sort arrow) before reading the rows.
  const rowsShown = (n: number) => page.waitForFunction((want) => document.querySelectorAll('tr.run-row').length === want, n)
  await page.fill('input.search', 'bet')
  await rowsShown(1)
  t.is(await page.locator('tr.run-row .run-link').textContent(), 'beta')
  await page.fill('input.search', '')
  await page.selectOption('select.sort-by', 'config:lr')
  await rowsShown(2)
  await page.waitForFunction(() => (document.querySelector('th[data-col="config:lr"] .arrow')?.textContent ?? '') !== '')
  t.is(await page.locator('tr.run-row >> nth=0').getAttribute('data-key'), a.key) // lr 0.1 first (descending)
  await shot('list')
  t.deepEqual(pageErrors, [])
})

btest('opening a run draws its charts grouped by namespace', async (t) => {
  await page.click(`tr.run-row[data-key="${a.key}"] a.run-link`)
  await page.waitForSelector('.chart-card[data-metric="train/loss"][data-drawn="1"]')
  t.true((await page.locator('details.namespace').count()) >= 3)
  t.true(Number(await page.getAttribute('.chart-card[data-metric="train/loss"]', 'data-points')) > 10)
  t.true((await inkedPixels('.chart-card[data-metric="train/loss"] canvas')) > 200)
  await shot('run')
  t.deepEqual(pageErrors, [])
})

btest('changing the smoothing redraws with the new weight', async (t) => {
  const card = '.chart-card[data-metric="train/loss"]'
  await page.$eval('input.smoothing', (el) => {
    const i = el as HTMLInputElement
    i.value = '0.95'
    i.dispatchEvent(new Event('input'))
  })
  await page.waitForSelector(`${card}[data-smoothing="0.95"]`)
  t.is(await page.textContent('.smoothing-value'), '0.95')
  await shot('smoothing')
  await page.selectOption('select.x-axis', 'relative')
  await page.waitForSelector(`${card}[data-x-axis="relative"]`)
  t.pass()
})

btest('two runs overlaid: both chips, both series in each chart, distinct colours', async (t) => {
  await page.goto(`${viewer.url}#/`)
  await page.waitForSelector('tr.run-row')
  await page.check(`tr.run-row[data-key="${a.key}"] input[type=checkbox]`)
  await page.check(`tr.run-row[data-key="${b.key}"] input[type=checkbox]`)
  await page.click('button.compare')
  await page.waitForSelector('.chart-card[data-metric="train/loss"][data-runs="2"]')
  t.is(await page.locator('.run-chip').count(), 2)
  const colours = await page.$$eval('.run-chip .swatch', (els) => els.map((e) => (e as HTMLElement).style.background))
  t.not(colours[0], colours[1])
  await shot('overlay')
})

btest('a histogram opens as a heatmap and as bars at one step', async (t) => {
  await page.goto(`${viewer.url}#/run?runs=${encodeURIComponent(a.key)}&tab=histograms`)
  await page.waitForSelector('.histogram-view[data-loaded="1"]')
  t.true((await inkedPixels('canvas.heatmap')) > 50)
  t.true((await inkedPixels('canvas.bars')) > 50)
  await shot('histogram')
})

btest('a media item loads in the gallery', async (t) => {
  await page.goto(`${viewer.url}#/run?runs=${encodeURIComponent(a.key)}&tab=media`)
  await page.waitForSelector('.media-item img')
  await page.waitForFunction(() => (document.querySelector('.media-item img') as HTMLImageElement).naturalWidth > 0)
  t.is(await page.$eval('.media-item img', (i) => (i as HTMLImageElement).naturalWidth), 4)
  t.regex(String(await page.textContent('.media-item figcaption')), /checker/)
  await shot('media')
})

btest('a table renders its rows', async (t) => {
  await page.goto(`${viewer.url}#/run?runs=${encodeURIComponent(a.key)}&tab=tables`)
  await page.waitForSelector('table.data-table')
  t.deepEqual(await page.$$eval('table.data-table th', (ths) => ths.map((x) => x.textContent)), ['id', 'label', 'score'])
  t.is(await page.locator('table.data-table tbody tr').count(), 2)
  await page.click('a[data-tab=config]')
  await page.waitForSelector('section.config pre.json')
  t.regex(String(await page.textContent('section.config pre.json')), /"lr": 0.1/)
  await shot('table')
})

btest('a new point appears live while a child process logs', async (t) => {
  const { key } = await startLiveChild(t, base, 'livebrowser', 200, 100)
  // The metric file appears with the first flushed point.
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${viewer.url}api/runs/${key}`)
    if (r.ok && ((await r.json()) as { metricCount: number }).metricCount > 0) break
    await new Promise((r) => setTimeout(r, 100))
  }
  await page.goto(`${viewer.url}#/run?runs=${encodeURIComponent(key)}`)
  await page.waitForSelector('.chart-card[data-metric="train/loss"][data-drawn="1"]')
  await t.notThrowsAsync(page.waitForSelector('.status-running'))
  const before = Number(await page.getAttribute('.chart-card[data-metric="train/loss"]', 'data-last-step'))
  await page.waitForFunction(
    (b) => Number(document.querySelector('.chart-card[data-metric="train/loss"]')?.getAttribute('data-last-step')) > b + 3,
    before,
    { timeout: 20000 },
  )
  t.true(Number(await page.getAttribute('body', 'data-live-events')) > 0)
  await shot('live')
  t.deepEqual(pageErrors, [])
})

btest('a new image, histogram step and table entry appear live, without a reload or a refetch', async (t) => {
  const { key } = await startLiveChild(t, base, 'livelogsbrowser', 240, 80, 4)
  const runApi = `${viewer.url}api/runs/${key}`
  for (let i = 0; i < 200; i++) {
    const counts = await Promise.all(
      ['histograms?name=weights%2Fw', 'media?name=samples', 'tables?name=preds'].map(async (q) => {
        const r = await fetch(`${runApi}/${q}`)
        return r.ok ? ((await r.json()) as unknown[]).length : 0
      }),
    )
    if (counts.every((n) => n >= 1)) break
    await new Promise((r) => setTimeout(r, 100))
  }
  // Requests for whole logs made after each tab has rendered: there must be none.
  const refetches: string[] = []
  let watching = false
  page.on('request', (req) => {
    if (watching && /\/api\/runs\/.*\/(histograms|media|tables)\?name=(weights|samples|preds)/.test(req.url())) refetches.push(req.url())
  })
  // Switching tabs is a hash route in the same document: its first fetch is not a refetch.
  const openTab = async (name: string) => {
    watching = false
    await page.click(`a[data-tab=${name}]`)
  }
  /** Waits until a data attribute's number grows past its value now. */
  const grows = async (selector: string, attr: string) => {
    await page.waitForSelector(`${selector}[${attr}]`)
    const before = Number(await page.getAttribute(selector, attr))
    watching = true
    await page.waitForFunction(([s, a, b]) => Number(document.querySelector(s as string)?.getAttribute(a as string)) > (b as number), [selector, attr, before] as const, { timeout: 20000 })
    return before
  }
  await page.goto('about:blank')
  await page.goto(`${viewer.url}#/run?runs=${encodeURIComponent(key)}&tab=media`)
  await page.evaluate(() => ((window as unknown as { loadedOnce: number }).loadedOnce = 1))
  const mediaBefore = await grows('.media-section[data-name="samples"]', 'data-items')
  // The gallery followed the slider to the newest step and shows its image.
  const shown = Number(await page.getAttribute('.media-section[data-name="samples"] .media-item', 'data-step'))
  t.true(shown >= 4 * mediaBefore, `shows step ${shown}`)
  await page.waitForFunction(() => (document.querySelector('.media-section[data-name="samples"] .media-item img') as HTMLImageElement | null)?.naturalWidth === 4)
  // An image under a name first logged while the page is open gets its own section.
  await page.waitForSelector('.media-section[data-name="late"] .media-item img', { timeout: 20000 })
  await shot('live-media')

  await openTab('histograms')
  await grows('.histogram-view', 'data-entries')
  t.true((await inkedPixels('canvas.heatmap')) > 50)
  await shot('live-histogram')

  await openTab('tables')
  await grows('.table-section[data-name="preds"]', 'data-entries')
  const lastStep = Number(await page.getAttribute('.table-section[data-name="preds"] table.data-table', 'data-step'))
  t.true(lastStep > 0)
  await shot('live-table')

  // Same document all along (the tabs are hash routes), and nothing was fetched whole again.
  t.is(await page.evaluate(() => (window as unknown as { loadedOnce?: number }).loadedOnce), 1)
  t.deepEqual(refetches, [])
  t.deepEqual(pageErrors, [])
})

btest('a run with many metric names opens on its namespaces and cards charts a page at a time', async (t) => {
  // 150 names: more than the 60 that open every namespace at once.
  const board = new Board({ baseDir: base, project: 'wide', name: 'wide', captureOutput: false, systemMetrics: false })
  const values: Record<string, number> = {}
  for (let i = 0; i < 120; i++) values[`train/m${String(i).padStart(3, '0')}`] = i
  for (let i = 0; i < 15; i++) values[`zeta/z${i}`] = i
  for (let i = 0; i < 15; i++) values[`sys/s${i}`] = i
  board.log(values)
  await board.finish()
  const key = `wide/${board.runDir.split(/[\\/]/).pop()}`
  const requests: string[] = []
  const onRequest = (req: { url(): string }) => requests.push(req.url())
  page.on('request', onRequest)
  t.teardown(() => page.off('request', onRequest))
  await page.goto('about:blank')
  await page.goto(`${viewer.url}#/run?runs=${encodeURIComponent(key)}`)
  await page.waitForSelector('details.namespace[data-namespace="train"][data-cards="48"]')
  t.is(await page.locator('details.namespace').count(), 3)
  // Only the first namespace is open, with one page of cards; the others have none yet.
  t.is(await page.locator('details.namespace[open]').count(), 1)
  t.is(await page.locator('.chart-card').count(), 48)
  t.is(await page.locator('details.namespace[data-namespace="zeta"] .chart-card').count(), 0)
  // Names are fetched per namespace, never all at once; charts only near the viewport.
  const api = requests.filter((u) => u.includes('/api/'))
  t.deepEqual(api.filter((u) => /\/metrics(\?|$)/.test(u)).map((u) => new URL(u).searchParams.get('namespace')), ['train'])
  t.true(api.filter((u) => u.includes('/scalars?')).length < 48)
  // The button under the grid cards the next page.
  t.regex(String(await page.textContent('details.namespace[data-namespace="train"] button.more')), /show 48 more \(72 not shown\)/)
  await page.click('details.namespace[data-namespace="train"] button.more')
  await page.waitForSelector('details.namespace[data-namespace="train"][data-cards="96"]')
  // Opening a closed namespace fetches its names and draws its charts.
  await page.click('details.namespace[data-namespace="zeta"] > summary')
  await page.waitForSelector('details.namespace[data-namespace="zeta"] .chart-card[data-drawn="1"]')
  t.is(await page.locator('details.namespace[data-namespace="zeta"] .chart-card').count(), 15)
  // The filter reaches names not carded yet.
  await page.fill('input.metric-filter', 'm119')
  await page.waitForSelector('.chart-card[data-metric="train/m119"]')
  t.true(await page.locator('.chart-card[data-metric="train/m119"]').isVisible())
  await shot('many-metrics')
  t.deepEqual(pageErrors, [])
})
