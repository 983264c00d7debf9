/**
 * Debian's chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core, for the
 * browser tests and the viewer bench; never a browser a tool downloads. Each launch gets its own
 * throwaway profile, removed once the browser has exited (at process exit for one never closed).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { BrowserContext, Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)
/** Where screenshots go (CI keeps them as artifacts). */
export const ARTIFACTS = join(__dirname, 'artifacts')

/** Profiles not removed yet: removed when the process exits, for a context that was never closed. */
const profiles = new Set<string>()
process.on('exit', () => profiles.forEach(removeProfile))

function removeProfile(profile: string): void {
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    profiles.delete(profile)
  } catch {
    // Left for the exit sweep.
  }
}

/** A headless 1280x900 browser context; closing it also removes its profile folder. */
export async function launchChromium(): Promise<BrowserContext> {
  mkdirSync(ARTIFACTS, { recursive: true }) // for the specs' screenshots
  const profile = mkdtempSync(join(tmpdir(), 'amber-chromium-'))
  profiles.add(profile)
  let ctx: BrowserContext
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    })
  } catch (e) {
    removeProfile(profile)
    throw e
  }
  // The context's 'close' event comes while the browser still writes to its profile; close()
  // resolves once the browser process has exited, so the folder is removed after that.
  const close = ctx.close.bind(ctx)
  ctx.close = async (...args: Parameters<BrowserContext['close']>) => {
    try {
      await close(...args)
    } finally {
      removeProfile(profile)
    }
  }
  return ctx
}

/**
 * A browser context and its first page, with `errors` collecting the page's uncaught errors and
 * Content-Security-Policy refusals (the pages' CSP must allow everything the bundle does).
 */
export async function launchWatchedPage(errors: string[]): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await launchChromium()
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) errors.push(m.text())
  })
  return { ctx, page }
}
