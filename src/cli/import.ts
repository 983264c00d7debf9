/**
 * `amber import tensorboard <logdir>`: TensorBoard event files into runs of a base dir
 * (src/import/tensorboard). Per-run lines and warnings are printed once the progress bar is
 * gone, so they do not tear it; a run that fails is reported and the others are still imported.
 */
import type { Command } from 'commander'
import * as path from 'node:path'
import { importTensorBoard } from '../import/tensorboard/importer'
import type { ImportCounts, ImportedRun } from '../import/tensorboard/importer'
import { CliError, exitCodeFor } from './errors'
import { progress } from './progress'
import type { Progress } from './progress'
import { DEFAULT_BASE_DIR } from './resolve'

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}

function describe(c: ImportCounts): string {
  const parts = [plural(c.scalars, 'scalar point'), plural(c.histograms, 'histogram'), plural(c.images, 'image'), plural(c.audio, 'audio clip'), plural(c.text, 'text row')]
  return parts.filter((p) => !p.startsWith('0 ')).join(', ') || 'no values'
}

function line(r: ImportedRun): string {
  const rel = path.relative(process.cwd(), r.runDir)
  const where = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : r.runDir
  if (r.status === 'up-to-date') return `up to date  ${r.name} (${where})`
  const verb = r.status === 'replaced' ? 'updated   ' : 'imported  '
  return `${verb}  ${r.name} → ${where} (${describe(r.counts!)})`
}

export function registerImportCommand(program: Command): void {
  const cmd = program.command('import').description('bring runs logged by other tools into a base dir')
  cmd
    .command('tensorboard')
    .exitOverride()
    .description('import TensorBoard event files: each folder of events.out.tfevents.* files under <logdir> becomes a run named after its path (scalars, histograms, images, audio, text); importing again skips unchanged runs')
    .argument('<logdir>', 'folder holding the event files (searched recursively)')
    .option('--dir <dir>', 'base dir to import into', DEFAULT_BASE_DIR)
    .option('--project <name>', 'project of the imported runs', 'tensorboard')
    .action(async (logdir: string, o: { dir: string; project: string }) => {
      let bar: Progress | null = null
      let shown = 0
      const warnings: string[] = []
      const results = await importTensorBoard(logdir, {
        baseDir: o.dir,
        project: o.project,
        onWarning: (m) => warnings.push(m),
        onProgress: (done, total) => {
          bar ??= progress('import', total)
          bar.tick(done - shown)
          shown = done
        },
      }).finally(() => (bar as Progress | null)?.stop())
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`)
      for (const r of results) {
        if (r.status === 'failed') process.stderr.write(`amber: ${r.name}: ${r.error?.message}\n`)
        else process.stdout.write(line(r) + '\n')
      }
      const count = (s: ImportedRun['status']) => results.filter((r) => r.status === s).length
      const summary = [
        `${count('imported')} imported`, `${count('replaced')} updated`, `${count('up-to-date')} up to date`, `${count('failed')} failed`,
      ].filter((s) => !s.startsWith('0 '))
      process.stdout.write(`${plural(results.length, 'run')}: ${summary.join(', ')}\n`)
      const failed = results.filter((r) => r.status === 'failed')
      if (failed.length) throw new CliError(`${plural(failed.length, 'run')} of ${results.length} not imported (see above)`, exitCodeFor(failed[0].error))
    })
}
