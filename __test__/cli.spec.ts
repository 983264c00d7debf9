/**
 * The `amber` command line, run as a real child process against runs logged with Board:
 * help, exit codes, `runs`, `show`, `analyze` (statistics and a PNG drawn without a browser),
 * `export` (CSV and JSON, exact values), `open` (serves, stops on SIGTERM) and `demo`.
 */
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { loadImage, createCanvas } from '@napi-rs/canvas'
import { logRun, tempBase } from './viewer-fixtures'
import type { LoggedRun } from './viewer-fixtures'

const AMBER = join(__dirname, '..', 'src', 'cli', 'amber.ts')
let base: string
let a: LoggedRun

function amber(args: string[], opts: { input?: string; cwd?: string } = {}) {
  // tsx by its file, so a command can run in any working directory.
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, AMBER, ...args], { encoding: 'utf8', timeout: 120000, ...opts })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

test.before(async () => {
  base = tempBase('cli')
  a = await logRun(base, { name: 'alpha', steps: 40, lr: 0.1, spikeAt: 7 })
  await logRun(base, { name: 'beta', project: 'other', steps: 10 })
})

test('every command has help; unknown commands and bad options exit 2', (t) => {
  const top = amber(['--help'])
  t.is(top.code, 0)
  for (const cmd of ['open', 'runs', 'show', 'analyze', 'export', 'demo', 'upgrade']) {
    t.regex(top.out, new RegExp(`\\b${cmd}\\b`))
    const h = amber([cmd, '--help'])
    t.is(h.code, 0, cmd)
    t.regex(h.out, /Usage: amber/)
  }
  t.is(amber(['frobnicate']).code, 2)
  t.is(amber(['export', a.runDir, '--format', 'xml']).code, 2)
  t.is(amber(['open', base, '--port', 'seventy']).code, 2)
})

test('missing runs and folders exit 3 with a message that names them', (t) => {
  const r = amber(['show', 'no-such-run', '--dir', base])
  t.is(r.code, 3)
  t.regex(r.err, /no-such-run/)
  const d = amber(['runs', join(base, 'missing')])
  t.is(d.code, 3)
  t.regex(d.err, /missing/)
  t.is(amber(['analyze', a.runDir, '--metrics', 'nope']).code, 3)
  // A path names the folder typed, not the default base dir (./amberboard) it was not looked up in.
  const cwd = tempBase('cli-cwd')
  const missing = join(base, 'proj', 'no-such-folder')
  for (const ref of [missing, './gone/run']) {
    const m = amber(['show', ref], { cwd })
    t.is(m.code, 3, ref)
    t.true(m.err.includes(`no such run folder: ${ref}`), m.err)
    t.false(m.err.includes('amberboard'), m.err)
  }
  const notRun = amber(['show', join(base, 'proj')], { cwd })
  t.is(notRun.code, 3)
  t.regex(notRun.err, /not a run folder \(no metadata\.json\)/)
})

test('amber runs prints a table: project, id, name, status, steps, last values, duration', (t) => {
  const r = amber(['runs', base])
  t.is(r.code, 0, r.err)
  const lines = r.out.trim().split('\n')
  t.regex(lines[0], /project\s+id\s+name\s+status\s+steps\s+last values\s+duration/)
  const alpha = lines.find((l) => l.includes('alpha')) as string
  t.regex(alpha, /proj\s+\S+\s+alpha\s+finished\s+41\s/) // steps 0..40 (the NaN is logged at step 40)
  t.regex(alpha, new RegExp(`train/loss=${String(a.loss[39]).slice(0, 6)}`))
  const j = JSON.parse(amber(['runs', base, '--json', '--project', 'other']).out)
  t.is(j.length, 1)
  t.is(j[0].name, 'beta')
})

test('amber show prints the summary (status, config, metrics) by folder or by project/folder', (t) => {
  for (const ref of [a.runDir, a.key]) {
    const r = amber(['show', ref, '--dir', base])
    t.is(r.code, 0, r.err)
    t.regex(r.out, /status\s+finished/)
    t.regex(r.out, /"lr": 0.1/)
    t.regex(r.out, /train\/loss\s+40\s+39\s/)
  }
})

test('amber analyze prints statistics per metric and --plot draws a PNG without a browser', async (t) => {
  const png = join(base, 'curves.png')
  const r = amber(['analyze', a.key, '--dir', base, '--plot', png, '--metrics', 'train/loss,val/acc', '--json'])
  t.is(r.code, 0, r.err)
  const stats = JSON.parse(r.out)
  const loss = stats.find((s: any) => s.name === 'train/loss')
  t.is(loss.count, 40)
  t.is(loss.max, 1000)
  t.is(loss.maxStep, 7)
  t.is(loss.last, a.loss[39])
  const img = await loadImage(readFileSync(png))
  t.is(img.width, 1200)
  const c = createCanvas(img.width, img.height)
  const ctx = c.getContext('2d')
  ctx.drawImage(img, 0, 0)
  const d = ctx.getImageData(0, 0, img.width, img.height).data
  let coloured = 0
  for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 2]) > 60) coloured++
  t.true(coloured > 500, `only ${coloured} coloured pixels: no curves drawn`)
  const table = amber(['analyze', a.runDir])
  t.regex(table.out, /metric\s+points\s+first\s+last\s+min/)
  t.regex(table.out, /train\/nan\s+1\s+NaN/)
})

test('amber export writes every point exactly as CSV and as JSON', (t) => {
  const csv = amber(['export', a.runDir, '--format', 'csv', '--metrics', 'train/loss,train/nan'])
  t.is(csv.code, 0, csv.err)
  const rows = csv.out.trim().split('\n')
  t.is(rows[0], 'metric,step,global_step,timestamp,value')
  const loss = rows.filter((l) => l.startsWith('train/loss,')).map((l) => l.split(','))
  t.deepEqual(loss.map((c) => Number(c[4])), a.loss)
  t.deepEqual(loss.map((c) => Number(c[1])), a.loss.map((_, i) => i))
  t.truthy(rows.find((l) => l.startsWith('train/nan,') && l.endsWith(',NaN')))
  const out = join(base, 'export.json')
  const js = amber(['export', a.runDir, '--format', 'json', '-o', out])
  t.is(js.code, 0, js.err)
  const doc = JSON.parse(readFileSync(out, 'utf8'))
  t.deepEqual(Object.keys(doc).sort(), ['lr', 'train/loss', 'train/nan', 'val/acc'])
  t.deepEqual(doc['train/loss'].value, a.loss)
  t.deepEqual(doc['train/nan'].value, ['NaN'])
})

test('amber open serves the viewer on 127.0.0.1 and a free port, and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', AMBER, 'open', base], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill('SIGKILL'))
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (c) => {
      buf += c
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(buf)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`exited ${code}`)))
  })
  const runs = (await (await fetch(`${url}api/runs`)).json()) as { name: string }[]
  t.deepEqual(runs.map((r) => r.name).sort(), ['alpha', 'beta'])
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', resolve)
    child.kill('SIGTERM')
  })
  t.is(code, 0)
})

test('amber demo logs a simulated training run with scalars, histograms, media, a table, output and system metrics', (t) => {
  const dir = tempBase('demo')
  const r = amber(['demo', '--dir', dir, '--steps', '40', '--delay', '60', '--no-serve'])
  t.is(r.code, 0, r.err)
  const runDirs = readdirSync(join(dir, 'demo'))
  t.is(runDirs.length, 1)
  const runDir = join(dir, 'demo', runDirs[0])
  const show = JSON.parse(amber(['show', runDir, '--json']).out)
  t.is(show.metadata.status, 'finished')
  const names = show.metrics.map((m: any) => m.name)
  for (const m of ['train/loss', 'train/acc', 'train/lr', 'val/loss']) t.true(names.includes(m), m)
  t.true(names.some((n: string) => n.startsWith('sys/')), `no system metric in ${names}`)
  t.is(show.metrics.find((m: any) => m.name === 'train/loss').last.count, 40)
  t.true(existsSync(join(runDir, 'logs', 'output.log')))
  t.regex(readFileSync(join(runDir, 'logs', 'output.log'), 'utf8'), /demo: training/)
})

test('amber upgrade converts a 0.1 run folder (a file per metric) in place; before that it reads as it is', async (t) => {
  const { ColumnVault, openRun } = await import('../src/index')
  const { mkdirSync, writeFileSync } = await import('node:fs')
  const old = join(tempBase('cli-upgrade'), 'proj', 'old01')
  mkdirSync(join(old, 'data', 'metrics'), { recursive: true })
  writeFileSync(join(old, 'metadata.json'), JSON.stringify({ name: 'old', project: 'proj', runId: 'old01', status: 'finished', createdAt: '2026-01-01T00:00:00Z', config: { lr: 0.1 } }))
  // What 0.1 wrote: one ColumnVault file per metric, '/' as '__' in the file name.
  for (const [file, values] of [['train__loss', [0.5, 0.25, 0.125]], ['acc', [0.1, 0.2, 0.9]]] as const) {
    const cv = new ColumnVault(join(old, 'data', 'metrics', `${file}.db`))
    cv.ensure('step', 'i64').extend([0, 1, 2])
    cv.ensure('global_step', 'i64').extend([0, 0, 1])
    cv.ensure('timestamp', 'i64').extend([1000, 2000, 3000])
    cv.ensure('value', 'f64').extend(new Float64Array(values))
    cv.close()
  }
  const before = openRun(old)
  t.is(before.layoutVersion, 1)
  t.deepEqual(before.metrics(), ['acc', 'train/loss'])
  t.deepEqual([...before.scalars('train/loss').value], [0.5, 0.25, 0.125])
  before.close()

  const r = amber(['upgrade', old])
  t.is(r.code, 0, r.err)
  t.regex(r.out, /1 of 1 run\(s\) upgraded/)
  const after = openRun(old)
  t.is(after.layoutVersion, 2)
  t.is(after.metadata.layoutVersion, 2)
  t.deepEqual(after.metrics(), ['acc', 'train/loss'])
  const s = after.scalars('train/loss')
  t.deepEqual([...s.value], [0.5, 0.25, 0.125])
  t.deepEqual([...s.globalStep], [0, 0, 1])
  t.deepEqual([...s.timestamp], [1000, 2000, 3000])
  t.is(after.summaries().find((x) => x.name === 'acc')?.max, 0.9)
  after.close()
  t.false(existsSync(join(old, 'data', 'metrics')))
  // A second upgrade (of the base dir) finds nothing left to do.
  const again = amber(['upgrade', join(old, '..', '..')])
  t.is(again.code, 0, again.err)
  t.regex(again.out, /0 of 1 run\(s\) upgraded/)
})
