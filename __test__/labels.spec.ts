/**
 * Run labels (tags, a note, archived) and deleting runs: set from code, from `amber`, from the
 * local viewer's own pages and through a team server on either backend; checked input; a later
 * sync of the run keeps them.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { existsSync } from 'node:fs'
import { Board, InvalidArgumentError, labelRun, listRuns, syncRun } from '../src/index'
import { openPgStorage } from '../src/server/pg'
import { startServer } from '../src/server/server'
import type { TeamServer } from '../src/server/server'
import { startViewer } from '../src/viewer/server'
import { freshBucketPrefix, freshDatabase, pgService, s3Service, serviceTest } from './services'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { AMBER, amber, temp } from './sync-helpers'

/** `amber` without blocking this process (the servers these tests start run in it). */
async function amberAsync(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', AMBER, ...args], { encoding: 'utf8' })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' }
  }
}

async function oneRun(base = temp('labels-base')): Promise<{ base: string; runDir: string; key: string }> {
  const b = new Board({ baseDir: base, project: 'team', captureOutput: false })
  for (let i = 0; i < 20; i++) b.log({ loss: 1 / (i + 1) })
  await b.finish()
  return { base, runDir: b.runDir, key: `team/${b.runDir.split('/').pop()}` }
}

test('labelRun: tags added, removed and replaced, a note, archived; bad input is InvalidArgumentError and changes nothing', async (t) => {
  const { base, runDir } = await oneRun()
  t.deepEqual(labelRun(runDir, { addTags: ['baseline', 'lr-sweep'] }), { tags: ['baseline', 'lr-sweep'], note: null, archived: false })
  t.deepEqual(labelRun(runDir, { addTags: ['baseline', 'best'], removeTags: ['lr-sweep'], note: 'diverged at 3k ✓' }), { tags: ['baseline', 'best'], note: 'diverged at 3k ✓', archived: false })
  t.deepEqual(labelRun(runDir, { archived: true }), { tags: ['baseline', 'best'], note: 'diverged at 3k ✓', archived: true })
  for (const bad of [{ tags: 'x' }, { tags: [''] }, { tags: ['a\nb'] }, { note: 5 }, { archived: 'yes' }, { color: 'red' }, { addTags: ['x'.repeat(101)] }]) {
    t.throws(() => labelRun(runDir, bad as never), { instanceOf: InvalidArgumentError }, JSON.stringify(bad))
  }
  t.throws(() => labelRun(runDir, { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) }), { instanceOf: InvalidArgumentError })
  const [info] = listRuns(base)
  t.deepEqual([info.metadata.tags, info.metadata.note, info.metadata.archived], [['baseline', 'best'], 'diverged at 3k ✓', true], 'unchanged by the refused patches')
  t.deepEqual(labelRun(runDir, { tags: [], note: '', archived: false }), { tags: [], note: null, archived: false })
})

test('amber tag / note / archive / delete on a local run', async (t) => {
  const { base, runDir, key } = await oneRun()
  const run = (args: string[]) => amber([...args, '--dir', base])
  let r = run(['tag', key, 'a', 'b'])
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /^tags: a, b$/m)
  t.regex(run(['tag', key, 'a', '--remove']).stdout, /^tags: b$/m)
  t.regex(run(['note', key, 'look here']).stdout, /^note: look here$/m)
  t.regex(run(['archive', key]).stdout, /^archived$/m)
  t.notRegex(run(['archive', key, '--undo']).stdout, /archived/)
  r = run(['tag', key, ''])
  t.is(r.code, 2, 'an empty tag is a usage error')
  t.is(run(['tag', 'team/nope', 'x']).code, 3)
  // A running run is not deleted without --force.
  const live = new Board({ baseDir: base, project: 'team', captureOutput: false })
  live.log({ x: 1 })
  await live.flush()
  const liveKey = `team/${live.runDir.split('/').pop()}`
  t.is(run(['delete', liveKey]).code, 2)
  t.true(existsSync(live.runDir))
  await live.finish()
  t.is(run(['delete', liveKey]).code, 0)
  t.false(existsSync(live.runDir))
  t.true(existsSync(runDir), 'the other run stays')
})

test('the local viewer takes label edits from its own pages only', async (t) => {
  const { base, key } = await oneRun()
  const v = await startViewer({ baseDir: base })
  t.teardown(() => v.close())
  const post = (headers: Record<string, string>, body: string) => fetch(new URL(`/api/runs/${key}/labels`, v.url), { method: 'POST', headers, body })
  const origin = v.url.replace(/\/$/, '')
  const json = { 'content-type': 'application/json' }
  t.is((await post({ ...json }, '{"addTags":["x"]}')).status, 403, 'no Origin')
  t.is((await post({ ...json, origin: 'http://evil.example' }, '{"addTags":["x"]}')).status, 403, 'another site')
  t.is((await post({ 'content-type': 'text/plain', origin }, '{"addTags":["x"]}')).status, 403, 'a form-like content type')
  t.is((await post({ ...json, origin }, '{"color":1}')).status, 400)
  t.is((await post({ ...json, origin }, 'not json')).status, 400)
  t.is((await fetch(new URL('/api/runs/team/nope/labels', v.url), { method: 'POST', headers: { ...json, origin }, body: '{}' })).status, 404)
  const ok = await post({ ...json, origin }, '{"addTags":["x","y"],"note":"n"}')
  t.is(ok.status, 200)
  t.deepEqual(await ok.json(), { tags: ['x', 'y'], note: 'n', archived: false })
  const [row] = (await (await fetch(new URL('/api/runs', v.url))).json()) as Array<{ tags: string[]; note: string | null; archived: boolean }>
  t.like(row, { tags: ['x', 'y'], note: 'n', archived: false })
  t.is((await fetch(new URL('/api/runs', v.url), { method: 'POST', headers: { ...json, origin }, body: '{}' })).status, 405, 'nothing else is writable')
})

async function labelsThroughServer(t: ExecutionContext, s: TeamServer): Promise<void> {
  const { runDir, key } = await oneRun()
  const writer = (await s.tokens.create({ projects: ['team'] })).token
  const reader = (await s.tokens.create({ projects: ['team'], readOnly: true })).token
  const other = (await s.tokens.create({ projects: ['elsewhere'] })).token
  await syncRun(runDir, { url: s.url, token: writer })
  const post = (token: string, body: unknown) => fetch(new URL(`/api/runs/${key}/labels`, s.url), { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  t.is((await post(reader, { addTags: ['x'] })).status, 403, 'read-only')
  t.is((await post(other, { addTags: ['x'] })).status, 403, 'another project')
  t.is((await post(writer, { tags: 'x' })).status, 400)
  t.deepEqual(await (await post(writer, { addTags: ['best'], note: 'keep' })).json(), { tags: ['best'], note: 'keep', archived: false })
  // The CLI through the server, then a sync of the run: the labels stay.
  const r = await amberAsync(['archive', key, '--remote', s.url, '--token', writer])
  t.is(r.code, 0, r.stderr)
  await syncRun(runDir, { url: s.url, token: writer })
  const rows = (await (await fetch(new URL('/api/runs', s.url), { headers: { authorization: `Bearer ${reader}` } })).json()) as Array<{ tags: string[]; note: string | null; archived: boolean }>
  t.like(rows[0], { tags: ['best'], note: 'keep', archived: true })
  const d = await amberAsync(['delete', key, '--remote', s.url, '--token', writer])
  t.is(d.code, 0, d.stderr)
  t.deepEqual(await (await fetch(new URL('/api/runs', s.url), { headers: { authorization: `Bearer ${reader}` } })).json(), [])
}

test('labels through a data-dir team server: write tokens only; a later sync keeps them; amber archive and delete --remote', async (t) => {
  const s = await startServer({ dataDir: temp('labels-data') })
  t.teardown(() => s.close())
  await labelsThroughServer(t, s)
})

const pgTest = serviceTest('labels', pgService(), s3Service())
pgTest('labels through a PostgreSQL + S3 team server, the same', async (t) => {
  const storage = await openPgStorage({ db: await freshDatabase(t), bucket: freshBucketPrefix(), s3Endpoint: process.env.AMBER_TEST_S3_ENDPOINT, housekeepingMs: 0 })
  const s = await startServer({ storage })
  t.teardown(() => s.close())
  await labelsThroughServer(t, s)
})
