#!/usr/bin/env node
/**
 * `amber`: the command-line tool of ambervault's experiment tracker. Commands read runs through
 * the Board read side (listRuns / openRun); `open` and `demo` serve the web viewer.
 * Exit codes: see ./errors (0 ok, 1 failure, 2 usage, 3 not found, 4 storage).
 */
import { Command, CommanderError, InvalidArgumentError as CommanderArgError, Option } from 'commander'
import { existsSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { listRuns, openRun, upgradeRun, withRun } from '../board'
import type { Run, RunInfo } from '../board'
import { isLoopbackHost } from '../viewer/hosts'
import { startViewer } from '../viewer/server'
import { lastPoints, metricStats } from '../viewer/summary'
import { openBrowser } from './browser'
import { runDemoTraining } from './demo'
import { CliError, EXIT, exitCodeFor } from './errors'
import { exportRun } from './export'
import type { ExportFormat } from './export'
import { duration, fmt, table, text } from './format'
import { list, listenOptions, port } from './options'
import type { ListenOptions } from './options'
import { progress } from './progress'
import { DEFAULT_BASE_DIR, resolveBaseDir, resolveRun } from './resolve'
import { registerMigrateCommand } from './migrate'
import { registerImportCommand } from './import'
import { registerLabelCommands } from './labels'
import { registerSyncCommands } from './sync'

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) throw new CommanderArgError('expected a positive integer')
  return n
}

function fraction(value: string): number {
  const n = Number(value)
  if (!(n >= 0 && n < 1)) throw new CommanderArgError('expected a number in [0, 1)')
  return n
}

/** The metrics a command works on: all, or the ones named (each must exist). */
function chooseMetrics(run: Run, wanted: string[] | undefined, where: string): string[] {
  const all = run.metrics()
  if (!wanted || wanted.length === 0) return all
  const missing = wanted.filter((m) => !all.includes(m))
  if (missing.length) throw new CliError(`no metric ${missing.map((m) => JSON.stringify(m)).join(', ')} in ${where} (it has: ${all.slice(0, 20).join(', ')}${all.length > 20 ? ', …' : ''})`, EXIT.notFound)
  return wanted
}

/** The metrics a table shows by default: training and validation ones before the rest, sys/ last. */
function headlineMetrics(all: string[], count = 3): string[] {
  const rank = (n: string) => (n.startsWith('train/') ? 0 : /^(val|valid|eval|test)\//.test(n) ? 1 : n.startsWith('sys/') ? 3 : 2)
  return [...all].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, count)
}

function meta(info: RunInfo['metadata']): Record<string, unknown> {
  return info as unknown as Record<string, unknown>
}

function runDuration(m: Record<string, unknown>): number {
  const c = Date.parse(String(m.createdAt ?? ''))
  const f = Date.parse(String(m.finishedAt ?? ''))
  return (Number.isFinite(f) ? f : Date.now()) - c
}

async function serve(baseDir: string, o: ListenOptions & { browser?: boolean }): Promise<void> {
  const viewer = await startViewer({ baseDir, host: o.host, port: o.port, allowedHosts: o.allowedHosts, trustProxy: o.trustProxy })
  if (!isLoopbackHost(o.host)) process.stderr.write(`warning: listening on ${o.host}: anyone who can reach it can read these runs\n`)
  process.stdout.write(`amber viewer for ${baseDir}\n  ${viewer.url}\n(Ctrl-C to stop)\n`)
  if (o.browser) openBrowser(viewer.url)
  await new Promise<void>((done) => {
    const stop = () => void viewer.close().then(done)
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}

export function buildProgram(): Command {
  const program = new Command('amber')
  program
    .description('Look at ambervault Board runs: serve the web viewer, list, summarize, analyze and export runs.')
    .version(require('../../package.json').version as string)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (s, write) => write(s) })

  const open = program
    .command('open')
    .description('serve the web viewer for a base dir (127.0.0.1, a free port unless --port)')
    .argument('[dir]', 'base dir holding {project}/{run} folders', DEFAULT_BASE_DIR)
  listenOptions(open, 0, 'address to bind (only change it on a trusted network)')
    .option('--browser', 'open the viewer in the default browser')
    .action(async (dir: string, o: ListenOptions & { browser?: boolean }) => serve(resolveBaseDir(dir), o))

  program
    .command('runs')
    .description('print a table of the runs in a base dir')
    .argument('[dir]', 'base dir', DEFAULT_BASE_DIR)
    .option('--project <name>', 'only this project')
    .option('--metrics <names>', 'comma-separated metrics whose last values to show (default: the first three)', list)
    .option('--json', 'print JSON instead of a table')
    .action((dir: string, o: { project?: string; metrics?: string[]; json?: boolean }) => {
      const base = resolveBaseDir(dir)
      const infos = listRuns(base, o.project ? { project: o.project } : undefined)
      const bar = progress('runs', infos.length)
      const rows = infos.map((info) => {
        const m = meta(info.metadata)
        const row = withRun(info.runDir, (run) => {
          const names = o.metrics ?? headlineMetrics(run.metrics())
          const points = lastPoints(run)
          const last: Record<string, number | null> = {}
          let steps = 0
          for (const n of names) {
            const p = points.get(n)
            last[n] = p ? p.value : null
            if (p) steps = Math.max(steps, p.step + 1)
          }
          return { project: info.project, runId: info.runId, folder: basename(info.runDir), name: info.name, status: info.status, steps, last, durationMs: runDuration(m), createdAt: m.createdAt ?? null }
        })
        bar.tick()
        return row
      })
      bar.stop()
      if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
      if (rows.length === 0) return void process.stdout.write(`no runs in ${base}\n`)
      process.stdout.write(
        table(
          ['project', 'id', 'name', 'status', 'steps', 'last values', 'duration'],
          // Metadata is whatever the run's metadata.json holds: a cell never assumes a string.
          rows.map((r) => [text(r.project), text(r.runId), text(r.name), text(r.status), String(r.steps), Object.entries(r.last).map(([k, v]) => `${k}=${fmt(v)}`).join(' '), duration(r.durationMs)]),
        ) + '\n',
      )
    })

  program
    .command('show')
    .description("print a run's summary: metadata, config, metrics and logged media/tables/histograms")
    .argument('<run>', 'a run folder, or project/folder, run id or name under --dir')
    .option('--dir <dir>', 'base dir to look the run up in', DEFAULT_BASE_DIR)
    .option('--json', 'print JSON')
    .action((ref: string, o: { dir: string; json?: boolean }) => {
      const dir = resolveRun(ref, o.dir)
      withRun(dir, (run) => {
        const m = meta(run.metadata)
        const points = lastPoints(run)
        const metrics = run.metrics().map((n) => ({ name: n, last: points.get(n) ?? null }))
        if (o.json) return void process.stdout.write(JSON.stringify({ runDir: dir, metadata: m, metrics }, null, 2) + '\n')
        const lines = [
          `run       ${m.name} (${m.project}/${basename(dir)})`,
          `status    ${m.status}${m.exitCode !== undefined && m.exitCode !== null ? ` (exit ${m.exitCode})` : ''}`,
          `created   ${m.createdAt ?? '-'}`,
          `finished  ${m.finishedAt ?? '-'}`,
          `duration  ${duration(runDuration(m))}`,
          `host      ${m.host ?? '-'}  pid ${m.pid ?? '-'}`,
          `folder    ${dir}`,
          '',
          'config',
          ...JSON.stringify(m.config ?? {}, null, 2).split('\n').map((l) => '  ' + l),
          '',
          `metrics (${metrics.length})`,
        ]
        process.stdout.write(lines.join('\n') + '\n')
        if (metrics.length) {
          process.stdout.write(
            table(
              ['metric', 'points', 'last step', 'last value'],
              metrics.map((x) => [x.name, String(x.last?.count ?? 0), x.last ? String(x.last.step) : '-', fmt(x.last?.value)]),
            ).replace(/^/gm, '  ') + '\n',
          )
        }
      })
    })

  program
    .command('analyze')
    .description('print summary statistics per metric; with --plot, draw the curves into a PNG (no browser needed)')
    .argument('<run>', 'a run folder, or project/folder, run id or name under --dir')
    .option('--dir <dir>', 'base dir to look the run up in', DEFAULT_BASE_DIR)
    .option('--metrics <names>', 'comma-separated metrics (default: all)', list)
    .option('--plot <file.png>', 'write the chosen metrics (default: the first 8) as a PNG')
    .addOption(new Option('--smoothing <w>', 'EMA weight for the plotted line, as in the viewer').argParser(fraction).default(0.6))
    .addOption(new Option('--width <px>', 'PNG width').argParser(positiveInt).default(1200))
    .option('--json', 'print the statistics as JSON')
    .action((ref: string, o: { dir: string; metrics?: string[]; plot?: string; smoothing: number; width: number; json?: boolean }) => {
      const dir = resolveRun(ref, o.dir)
      withRun(dir, (run) => {
        const names = chooseMetrics(run, o.metrics, dir)
        const bar = progress('analyze', names.length)
        const stats = names.map((n) => {
          const s = metricStats(n, run.scalars(n))
          bar.tick()
          return s
        })
        bar.stop()
        if (o.json) process.stdout.write(JSON.stringify(stats, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n')
        else {
          process.stdout.write(
            table(
              ['metric', 'points', 'first', 'last', 'min', '@step', 'max', '@step', 'mean', 'std', 'nan/inf'],
              stats.map((s) => [s.name, String(s.count), fmt(s.first), fmt(s.last), fmt(s.min), fmt(s.minStep), fmt(s.max), fmt(s.maxStep), fmt(s.mean), fmt(s.std), String(s.nonFinite)]),
            ) + '\n',
          )
        }
        if (o.plot) {
          const chosen = o.metrics ?? names.slice(0, 8)
          const cols = chosen.length > 1 ? 2 : 1
          const px = Math.round(o.width / cols)
          const series = chosen.map((n) => ({ name: n, ...run.scalars(n, { maxPoints: px }) }))
          // Loaded on use: the drawing library (a native Skia build) is only needed for --plot.
          const { plotToPng } = require('./plot') as typeof import('./plot')
          const res = plotToPng(o.plot, series, { width: o.width, columns: cols, smoothing: o.smoothing, title: `${meta(run.metadata).name} (${basename(dir)})` })
          process.stderr.write(`wrote ${o.plot} (${res.width}x${res.height}, ${chosen.length} metric${chosen.length === 1 ? '' : 's'})\n`)
        }
      })
    })

  program
    .command('export')
    .description("write a run's scalar metrics as CSV or JSON")
    .argument('<run>', 'a run folder, or project/folder, run id or name under --dir')
    .option('--dir <dir>', 'base dir to look the run up in', DEFAULT_BASE_DIR)
    .addOption(new Option('--format <format>', 'output format').choices(['csv', 'json']).default('csv'))
    .option('--metrics <names>', 'comma-separated metrics (default: all)', list)
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (ref: string, o: { dir: string; format: ExportFormat; metrics?: string[]; out?: string }) => {
      const dir = resolveRun(ref, o.dir)
      const run = openRun(dir)
      try {
        const rows = await exportRun(run, chooseMetrics(run, o.metrics, dir), o.format, o.out)
        if (o.out) process.stderr.write(`wrote ${rows} points to ${o.out}\n`)
      } finally {
        run.close()
      }
    })

  program
    .command('upgrade')
    .description('convert runs written by ambervault 0.1 (a file per metric) to the current layout, in place')
    .argument('<run|dir>', 'a run folder, a base dir (every 0.1 run under it), or project/folder, run id or name under --dir')
    .option('--dir <dir>', 'base dir to look the run up in', DEFAULT_BASE_DIR)
    .action((ref: string, o: { dir: string }) => {
      const isRun = existsSync(join(ref, 'metadata.json'))
      const dirs = !isRun && existsSync(ref) && statSync(ref).isDirectory() ? listRuns(ref).map((r) => r.runDir) : [isRun ? ref : resolveRun(ref, o.dir)]
      let upgraded = 0
      for (const dir of dirs) {
        if (upgradeRun(dir)) {
          upgraded++
          process.stdout.write(`upgraded ${dir}\n`)
        }
      }
      process.stdout.write(`${upgraded} of ${dirs.length} run(s) upgraded; the others were already current\n`)
    })

  const demo = program
    .command('demo')
    .description('log a simulated training run and open the viewer on it while it trains')
    .option('--dir <dir>', 'base dir to log into', DEFAULT_BASE_DIR)
    .addOption(new Option('--steps <n>', 'training steps').argParser(positiveInt).default(300))
    .addOption(new Option('--delay <ms>', 'pause between steps, to watch it live').argParser(port).default(20))
  listenOptions(demo, 0)
    .option('--browser', 'open the viewer in the default browser')
    .option('--no-serve', 'only log the run, do not start the viewer')
    .action(async (o: ListenOptions & { dir: string; steps: number; delay: number; browser?: boolean; serve: boolean }) => {
      const { mkdirSync } = await import('node:fs')
      mkdirSync(o.dir, { recursive: true })
      const base = resolveBaseDir(o.dir)
      const viewer = o.serve ? await startViewer({ baseDir: base, host: o.host, port: o.port, allowedHosts: o.allowedHosts, trustProxy: o.trustProxy }) : null
      if (viewer) {
        process.stderr.write(`amber viewer: ${viewer.url}\n`)
        if (o.browser) openBrowser(viewer.url)
      }
      const bar = progress('demo', o.steps)
      const { runDir } = await runDemoTraining({ baseDir: base, steps: o.steps, delayMs: o.delay, onStep: () => bar.tick() })
      bar.stop()
      process.stderr.write(`logged ${runDir}\n`)
      if (!viewer) return
      process.stderr.write(`still serving ${viewer.url} (Ctrl-C to stop)\n`)
      await new Promise<void>((done) => {
        const stop = () => void viewer.close().then(done)
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })

  registerSyncCommands(program)
  registerMigrateCommand(program)
  registerImportCommand(program)
  registerLabelCommands(program)
  return program
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram()
  program.exitOverride()
  for (const c of program.commands) c.exitOverride()
  try {
    await program.parseAsync(argv)
    return EXIT.ok
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and --version "fail" with exit code 0; real usage errors are already printed.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage
    }
    process.stderr.write(`amber: ${(e as Error).message ?? e}\n`)
    return exitCodeFor(e)
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code
  })
}
