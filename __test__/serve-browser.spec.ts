/**
 * The team server's viewer in headless Chromium (Debian's /usr/bin/chromium via playwright-core),
 * behind its login cookie: without a token the page cannot load runs (401); after logging in on
 * the /login form the run list and a run's chart render from the synced copy (with no
 * Content-Security-Policy refusal); the cookie reads but never uploads, and other cookie writes
 * need JSON. Screenshots go to __test__/artifacts/.
 */
import test from 'ava'
import { basename, join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { syncRun } from '../src/index'
import { startServer } from '../src/server'
import type { TeamServer } from '../src/server'
import { browserTest, logRun, tempBase } from './viewer-fixtures'
import { ARTIFACTS, launchChromium, hasChromium } from './chromium'

const btest = browserTest('serve-browser')

let server: TeamServer
let writeToken: string
let readToken: string
let runKey: string
const contexts: BrowserContext[] = []

async function browser(): Promise<BrowserContext> {
  const ctx = await launchChromium()
  contexts.push(ctx)
  return ctx
}

/** Log in the way a person does: the /login form, token typed in, submitted (a POST). */
async function logIn(page: Page, token: string): Promise<number> {
  await page.goto(`${server.url}login`)
  await page.fill('input[name="token"]', token)
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${server.url}login` && r.request().method() === 'POST'),
    page.click('button[type="submit"]'),
  ])
  return res.status()
}

test.before(async () => {
  if (!hasChromium) return
  server = await startServer({ dataDir: tempBase('serve-browser-data') })
  writeToken = (await server.tokens.create({ name: 'writer', projects: ['team'] })).token
  readToken = (await server.tokens.create({ name: 'reader', projects: ['team'], readOnly: true })).token
  const run = await logRun(tempBase('serve-browser'), { project: 'team', name: 'alpha', steps: 120 })
  await syncRun(run.runDir, { url: server.url, token: writeToken })
  runKey = `team/${basename(run.runDir)}`
})
test.after.always(async () => {
  for (const c of contexts) await c.close()
  await server?.close()
})

btest('without a token the viewer cannot load runs: the page reports 401 and the API answers 401', async (t) => {
  const ctx = await browser()
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  await page.goto(server.url)
  await page.waitForSelector('p.error')
  t.regex(String(await page.textContent('p.error')), /401/)
  t.is(await page.locator('tr.run-row').count(), 0)
  const api = await page.evaluate(async () => (await fetch('/api/runs')).status)
  t.is(api, 401)
  t.is(await logIn(page, 'amb_not_a_token'), 401)
  await page.waitForSelector('p.error')
  t.regex(String(await page.textContent('p.error')), /Unknown or revoked token/)
  t.is((await ctx.cookies()).length, 0)
  await page.screenshot({ path: join(ARTIFACTS, 'serve-no-token.png') })
})

btest('after logging in with a token the run list and a run chart render from the synced copy', async (t) => {
  const ctx = await browser()
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) errors.push(m.text())
  })
  t.is(await logIn(page, writeToken), 303)
  const cookie = (await ctx.cookies()).find((c) => c.name === 'amber_token')
  t.truthy(cookie)
  t.true(cookie!.httpOnly, 'the token cookie is HttpOnly')
  t.false(await page.evaluate(() => document.cookie.includes('amber_token')), 'page scripts cannot read it')
  await page.waitForSelector('tr.run-row')
  t.is(await page.locator('tr.run-row').count(), 1)
  t.is(await page.locator('tr.run-row').getAttribute('data-key'), runKey)
  await page.screenshot({ path: join(ARTIFACTS, 'serve-list.png') })
  await page.click(`tr.run-row[data-key="${runKey}"] a.run-link`)
  await page.waitForSelector('.chart-card[data-metric="train/loss"][data-drawn="1"]')
  t.is(Number(await page.getAttribute('.chart-card[data-metric="train/loss"]', 'data-points')), 120)
  const inked = await page.$eval('.chart-card[data-metric="train/loss"] canvas', (canvas) => {
    const c = canvas as HTMLCanvasElement
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data
    let n = 0
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] > 60 || d[i + 1] > 60 || d[i + 2] > 60)) n++
    return n
  })
  t.true(inked > 200, 'the chart has lines drawn')
  await page.screenshot({ path: join(ARTIFACTS, 'serve-run.png') })
  t.deepEqual(errors, [])
})

btest('the login cookie reads but cannot upload (even a write token), and cookie writes need JSON', async (t) => {
  const ctx = await browser()
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  t.is(await logIn(page, readToken), 303)
  await page.waitForSelector('tr.run-row')
  t.is(await page.locator('tr.run-row').count(), 1)
  const tries = async () =>
    page.evaluate(async (key) => {
      const put = await fetch(`/api/sync/runs/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'x' } }) })
      const fin = await fetch(`/api/sync/runs/${key}/finish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'crashed' }) })
      const post = await fetch(`/api/runs/${key}`, { method: 'POST' })
      const postJson = await fetch(`/api/runs/${key}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      return { put: put.status, putError: ((await put.json()) as { error: string }).error, finish: fin.status, post: post.status, postJson: postJson.status }
    }, runKey)
  for (const token of [readToken, writeToken]) {
    if (token === writeToken) t.is(await logIn(page, writeToken), 303)
    const r = await tries()
    t.is(r.put, 401)
    t.regex(r.putError, /Bearer/)
    t.is(r.finish, 401)
    t.is(r.post, 403, 'a cookie POST without JSON')
    t.is(r.postJson, 405, 'same origin and JSON pass; the read route refuses POST')
  }
  // Nothing changed: the run is still finished, still 120 points.
  const after = await page.evaluate(async (key) => (await (await fetch(`/api/runs/${key}/scalars?name=train%2Floss`)).json()) as { value: number[] }, runKey)
  t.is(after.value.length, 120)
  const meta = await page.evaluate(async () => (await (await fetch('/api/runs')).json()) as Array<{ status: string }>)
  t.is(meta[0].status, 'finished')
  await page.screenshot({ path: join(ARTIFACTS, 'serve-read-only.png') })
})
