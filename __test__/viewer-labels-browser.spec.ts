/**
 * Tags, a note and archiving in the runs table, in headless Chromium (see ./chromium): a tag and a
 * note added in the page are saved in the run's metadata (and /api/runs), archiving hides a run
 * until "show archived" is ticked, a tag chip filters the table to that tag, a reload keeps the
 * toggle and the tag filter, and a refused save shows the server's message. Screenshot:
 * __test__/artifacts/viewer-labels.png.
 */
import test from 'ava'
import { basename, join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { Board, listRuns } from '../src/index'
import type { Viewer } from '../src/viewer/server'
import { ARTIFACTS, hasChromium } from './chromium'
import { browserTest, closeViewerPage, openViewerPage, tempBase } from './viewer-fixtures'

const btest = browserTest('viewer-labels-browser')

let viewer: Viewer
let ctx: BrowserContext
let page: Page
let base: string
const pageErrors: string[] = []
const keys: string[] = []

async function logRun(name: string, lr: number): Promise<string> {
  const board = new Board({ baseDir: base, project: 'lab', name, config: { lr }, captureOutput: false, systemMetrics: false })
  for (let i = 0; i < 5; i++) {
    board.log({ loss: 1 / (i + 1) })
    board.step()
  }
  await board.finish()
  return `lab/${basename(board.runDir)}`
}

test.before(async () => {
  if (!hasChromium) return
  base = tempBase('viewer-labels')
  for (const [i, lr] of [0.1, 0.01, 0.001].entries()) keys.push(await logRun(`run-${i}`, lr))
  ;({ viewer, ctx, page } = await openViewerPage(base, pageErrors, { liveIntervalMs: 200 }))
})
test.after.always(async () => {
  await closeViewerPage({ ctx, viewer }, base)
})

const row = (key: string) => `tr.run-row[data-key="${key}"]`
const waitKeys = (want: string[]) =>
  page.waitForFunction((w) => Array.from(document.querySelectorAll('tr.run-row'), (tr) => (tr as HTMLElement).dataset.key).sort().join('\n') === w, [...want].sort().join('\n'))
const metaOf = (key: string) => {
  const run = listRuns(base).find((r) => `${r.project}/${basename(r.runDir)}` === key)
  return run?.metadata as unknown as { tags?: string[]; note?: string | null; archived?: boolean }
}
const apiRow = async (key: string) => {
  const rows = (await (await fetch(`${viewer.url}api/runs`)).json()) as { key: string; tags: string[]; note: string | null; archived: boolean }[]
  return rows.find((r) => r.key === key)
}

btest('a tag and a note added in the page are saved in the run', async (t) => {
  await page.goto(viewer.url)
  await waitKeys(keys)
  const [a, b] = keys
  for (const [key, tag] of [
    [a, 'baseline'],
    [b, 'baseline'],
    [b, 'lr-sweep'],
  ]) {
    await page.click(`${row(key)} button.tag-add`)
    await page.fill(`${row(key)} input.tag-input`, tag)
    await page.press(`${row(key)} input.tag-input`, 'Enter')
    await page.waitForSelector(`${row(key)} .tag-chip[data-tag="${tag}"]`)
  }
  // Escape cancels: nothing saved.
  await page.click(`${row(a)} button.tag-add`)
  await page.fill(`${row(a)} input.tag-input`, 'not-saved')
  await page.press(`${row(a)} input.tag-input`, 'Escape')
  t.is(await page.$(`${row(a)} input.tag-input`), null)

  const note = 'warmup was too short; the loss spikes at step 3 and then recovers, rerun with 500 warmup steps'
  await page.click(`${row(a)} button.note-edit`)
  await page.fill(`${row(a)} input.note-input`, note)
  await page.press(`${row(a)} input.note-input`, 'Enter')
  await page.waitForSelector(`${row(a)} .run-note:not([hidden])`)
  t.is(await page.getAttribute(`${row(a)} .run-note`, 'title'), note)

  t.deepEqual(metaOf(a).tags, ['baseline'])
  t.is(metaOf(a).note, note)
  t.deepEqual(metaOf(b).tags, ['baseline', 'lr-sweep'])
  const fromApi = await apiRow(a)
  t.deepEqual(fromApi?.tags, ['baseline'])
  t.is(fromApi?.note, note)

  // A note over the server's limit is refused: the message shows and the input stays open.
  await page.click(`${row(b)} button.note-edit`)
  await page.$eval(`${row(b)} input.note-input`, (el) => {
    const input = el as HTMLInputElement
    input.removeAttribute('maxlength')
    input.value = 'x'.repeat(10_001)
  })
  await page.press(`${row(b)} input.note-input`, 'Enter')
  await page.waitForSelector(`${row(b)} .label-error:not([hidden])`)
  t.regex((await page.textContent(`${row(b)} .label-error`)) ?? '', /note/)
  await page.press(`${row(b)} input.note-input`, 'Escape')
  t.is(metaOf(b).note ?? null, null)

  // Removing a tag with its ×.
  await page.click(`${row(b)} .tag-chip[data-tag="lr-sweep"] .chip-x`)
  await page.waitForFunction((sel) => !document.querySelector(sel), `${row(b)} .tag-chip[data-tag="lr-sweep"]`)
  t.deepEqual(metaOf(b).tags, ['baseline'])
})

btest('archive hides a run; "show archived" lists it again', async (t) => {
  const c = keys[2]
  await page.click(`${row(c)} button.archive-toggle`)
  await waitKeys(keys.slice(0, 2))
  t.is(metaOf(c).archived, true)
  t.is((await apiRow(c))?.archived, true)
  await page.check('input.show-archived')
  await waitKeys(keys)
  t.true(await page.$eval(row(c), (tr) => tr.classList.contains('archived')))
  t.is(await page.textContent(`${row(c)} button.archive-toggle`), 'unarchive')
  t.regex(page.url(), /archived=1/)
})

btest('a tag chip filters the table; a reload keeps the filter and the toggle', async (t) => {
  // A tag on the archived run too: shown while archived runs are.
  const c = keys[2]
  await page.click(`${row(c)} button.tag-add`)
  await page.fill(`${row(c)} input.tag-input`, 'lr-sweep')
  await page.press(`${row(c)} input.tag-input`, 'Enter')
  await page.waitForSelector(`${row(c)} .tag-chip[data-tag="lr-sweep"]`)
  await page.click(`${row(c)} .tag-chip[data-tag="lr-sweep"] button.tag-name`)
  await waitKeys([c])
  t.regex(page.url(), /tag=lr-sweep/)
  await page.reload()
  await waitKeys([c])
  t.true(await page.isChecked('input.show-archived'))
  t.regex((await page.textContent('.tag-filter')) ?? '', /lr-sweep/)

  // Another tag; then hiding archived runs again hides the archived one.
  await page.click('.tag-filter .chip-x')
  await waitKeys(keys)
  await page.click(`${row(keys[0])} .tag-chip[data-tag="baseline"] button.tag-name`)
  await waitKeys(keys.slice(0, 2))
  await page.uncheck('input.show-archived')
  await page.click('.tag-filter .chip-x')
  await waitKeys(keys.slice(0, 2))
  await page.reload()
  await waitKeys(keys.slice(0, 2))
  t.false(await page.isChecked('input.show-archived'))

  // Unarchive from the page.
  await page.check('input.show-archived')
  await waitKeys(keys)
  await page.click(`${row(c)} button.archive-toggle`)
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent === 'archive', `${row(c)} button.archive-toggle`)
  t.is(metaOf(c).archived, false)
  await page.uncheck('input.show-archived')
  await waitKeys(keys)
  await page.hover(row(keys[0]))
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-labels.png') })
  t.deepEqual(pageErrors, [])
})
