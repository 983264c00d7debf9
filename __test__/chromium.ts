/**
 * Debian's chromium (/usr/bin/chromium, installed by .ci/run) driven by playwright-core, for the
 * browser tests and the viewer bench; never a browser a tool downloads. Each launch gets its own
 * throwaway profile, removed on close (best effort).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import type { BrowserContext } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const hasChromium = existsSync(CHROMIUM)
/** Where screenshots go (CI keeps them as artifacts). */
export const ARTIFACTS = join(__dirname, 'artifacts')

/** A headless 1280x900 browser context; closing it also removes its profile folder. */
export async function launchChromium(): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'amber-chromium-'))
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  })
  ctx.on('close', () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    } catch {
      // The browser may still be writing its cache as it goes: a leftover temp profile is harmless.
    }
  })
  return ctx
}
