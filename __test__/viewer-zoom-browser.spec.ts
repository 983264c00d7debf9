/**
 * Zooming a chart in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * dragging over a chart of two overlaid 10k+-point runs asks the server for each run's steps in
 * the window (`start`/`end`) at the chart's resolution and draws that detail, smoothed as before;
 * a double-click goes back to the overview. Screenshots go to __test__/artifacts/.
 */
import test from 'ava'
import { basename, join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { Board } from '../src/index'
import type { Viewer } from '../src/viewer/server'
import { ARTIFACTS, hasChromium } from './chromium'
import { browserTest, closeViewerPage, openViewerPage, tempBase } from './viewer-fixtures'

const btest = browserTest('viewer-zoom-browser')

let viewer: Viewer
let ctx: BrowserContext
let page: Page
let base: string
const keys: string[] = []
const pageErrors: string[] = []

/**
 * A finished run of `steps` noisy points of train/loss: far more than a chart's pixels. The last
 * point is the lowest, so the overview keeps it and the live stream has nothing to add (a chart
 * draws again when it does, which would change the points drawn under the test's feet).
 */
async function longRun(name: string, steps: number, shift: number): Promise<string> {
  const board = new Board({ baseDir: base, project: 'zoom', name, captureOutput: false, systemMetrics: false })
  for (let i = 0; i < steps; i++) board.log({ 'train/loss': i === steps - 1 ? -1 : shift + 1 / (1 + i / 1000) + 0.2 * Math.sin(i * 1.7) * Math.sin(i / 97) })
  await board.finish()
  return `zoom/${basename(board.runDir)}`
}

test.before(async () => {
  if (!hasChromium) return
  base = tempBase('viewer-zoom')
  keys.push(await longRun('long', 20_000, 0), await longRun('shorter', 12_000, 0.3))
  ;({ viewer, ctx, page } = await openViewerPage(base, pageErrors))
})
test.after.always(async () => {
  await closeViewerPage({ ctx, viewer }, base)
})

const card = '.chart-card[data-metric="train/loss"]'
const attr = async (name: string) => Number(await page.getAttribute(card, `data-${name}`))

btest('dragging over a chart fetches the window at full resolution and draws it; a double-click goes back', async (t) => {
  const scalars: URL[] = []
  page.on('request', (req) => {
    if (req.url().includes('/scalars?')) scalars.push(new URL(req.url()))
  })
  await page.goto(`${viewer.url}#/run?runs=${keys.map(encodeURIComponent).join(',')}`)
  await page.waitForSelector(`${card}[data-drawn="1"][data-runs="2"]`)
  await page.$eval('input.smoothing', (el) => {
    const i = el as HTMLInputElement
    i.value = '0.6'
    i.dispatchEvent(new Event('input'))
  })
  await page.waitForSelector(`${card}[data-smoothing="0.6"][data-zoom="none"]`)
  t.is(await attr('last-step'), 19_999)
  const overview = await attr('points')
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-zoom-overview.png') })

  // Drag across 40%–50% of the plot: steps of about 8,000 to 10,000 (both runs have points there).
  const box = await page.locator(`${card} .u-over`).boundingBox()
  if (!box) throw new Error('no plot area')
  const y = box.y + box.height / 2
  scalars.length = 0
  await page.mouse.move(box.x + box.width * 0.4, y)
  await page.mouse.down()
  await page.mouse.move(box.x + box.width * 0.5, y, { steps: 8 })
  await page.mouse.up()
  await page.waitForSelector(`${card}[data-zoom="detail"]`)

  // One ranged request per run, at the overview's resolution.
  const zoomed = scalars.filter((u) => u.searchParams.has('start') && u.searchParams.has('end'))
  t.is(zoomed.length, 2, scalars.map(String).join('\n'))
  const maxPoints = Number(zoomed[0].searchParams.get('maxPoints'))
  t.true(maxPoints >= 200)
  for (const u of zoomed) {
    const [start, end] = [Number(u.searchParams.get('start')), Number(u.searchParams.get('end'))]
    t.true(start > 7000 && start < 9000 && end > 9000 && end < 11_000, `${start}..${end}`)
  }
  // The overview had few of its points in the window; the detail fills it.
  let overviewInWindow = 0
  for (const u of zoomed) {
    const whole = (await (await fetch(new URL(`${u.pathname}?name=train%2Floss&maxPoints=${maxPoints}`, viewer.url))).json()) as { step: number[] }
    const [start, end] = [Number(u.searchParams.get('start')), Number(u.searchParams.get('end'))]
    overviewInWindow += whole.step.filter((s) => s >= start && s <= end).length
  }
  const detail = await attr('points')
  t.true(detail > 3 * overviewInWindow, `detail ${detail} points, the overview had ${overviewInWindow} in the window`)
  t.is(await attr('smoothing'), 0.6)
  t.is(await attr('runs'), 2)
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-zoom-detail.png') })

  // A double-click draws the overview again, with nothing fetched.
  scalars.length = 0
  await page.mouse.dblclick(box.x + box.width * 0.45, y)
  await page.waitForSelector(`${card}[data-zoom="none"]`)
  t.is(await attr('points'), overview)
  t.deepEqual(scalars, [])

  // A zoom is in the units of the x-axis it was made on: another axis shows the overview.
  await page.mouse.move(box.x + box.width * 0.2, y)
  await page.mouse.down()
  await page.mouse.move(box.x + box.width * 0.3, y, { steps: 8 })
  await page.mouse.up()
  await page.waitForSelector(`${card}[data-zoom="detail"]`)
  await page.selectOption('select.x-axis', 'relative')
  await page.waitForSelector(`${card}[data-x-axis="relative"][data-zoom="none"]`)
  await page.selectOption('select.x-axis', 'step')
  await page.waitForSelector(`${card}[data-x-axis="step"][data-zoom="none"]`)
  t.is(await attr('points'), overview)
  t.deepEqual(pageErrors, [])
})
