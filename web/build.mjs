// Builds the viewer's front end (web/src) into web/dist: one JS bundle, one CSS file, index.html.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const out = join(here, 'dist')
mkdirSync(out, { recursive: true })
await build({
  entryPoints: [join(here, 'src', 'main.ts')],
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ['es2020'],
  format: 'iife',
  outdir: out,
  logLevel: 'warning',
})
copyFileSync(join(here, 'index.html'), join(out, 'index.html'))
