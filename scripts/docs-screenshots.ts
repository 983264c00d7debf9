/**
 * The screenshots in docs/ (`npm run docs:screenshots`), made on purpose and committed, never by
 * the test suite: a small hyperparameter sweep logged with Board into a temp base dir, the viewer
 * on it, and Debian's chromium (__test__/chromium.ts) shooting the runs table with the compare view.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Board } from '../src/index'
import { startViewer } from '../src/viewer/server'
import { launchWatchedPage } from '../__test__/chromium'

const OUT = join(__dirname, '..', 'docs', 'images')

/** A loss curve whose floor and speed depend on the settings, as a sweep's would. */
function loss(lr: number, opt: string, i: number): number {
  const floor = 0.05 + Math.abs(Math.log10(lr) + 2.2) * 0.1 + (opt === 'sgd' ? 0.07 : 0)
  return floor + 1.5 * Math.exp(-i / (2 + 6 * (-1 - Math.log10(lr)))) + 0.01 * Math.sin(i * 0.7)
}

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), 'amber-docs-'))
  try {
    for (const opt of ['adam', 'sgd']) {
      for (const lr of [0.1, 0.03, 0.01, 0.003, 0.001]) {
        for (const batch of [32, 64]) {
          const board = new Board({ baseDir: base, project: 'sweep', name: `${opt}-${lr}-${batch}`, config: { optimizer: { name: opt, lr }, batch, model: 'mlp' }, captureOutput: false, systemMetrics: false })
          for (let i = 0; i < 60; i++) {
            const v = loss(lr, opt, i) * (batch === 64 ? 1.03 : 1)
            board.log({ 'train/loss': v, 'val/acc': 1 - v / 2 })
            board.step()
          }
          await board.finish()
        }
      }
    }
    const viewer = await startViewer({ baseDir: base })
    const errors: string[] = []
    const { ctx, page } = await launchWatchedPage(errors)
    try {
      await page.goto(`${viewer.url}#/?m=train%2Floss&view=compare&group=optimizer.name`)
      await page.waitForSelector('.chart-card canvas, canvas', { timeout: 30_000 })
      await page.waitForTimeout(1500) // the summaries and grouped curves arrive after the table
      mkdirSync(OUT, { recursive: true })
      await page.screenshot({ path: join(OUT, 'compare.png'), fullPage: true })
      if (errors.length) throw new Error(`the page reported: ${errors.join('; ')}`)
      process.stdout.write(`wrote ${join(OUT, 'compare.png')}\n`)
    } finally {
      await ctx.close()
      await viewer.close()
    }
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error)?.stack ?? e}\n`)
  process.exit(1)
})
