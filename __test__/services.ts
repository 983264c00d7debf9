/**
 * PostgreSQL and S3 (moto) for the specs of the PostgreSQL + S3 server mode. `npm test` starts one
 * shared pair with scripts/services.sh and exports its settings (AMBER_TEST_PG_URL,
 * AMBER_TEST_S3_ENDPOINT, ...); to run a spec alone:
 *
 *   bash scripts/services.sh start && eval "$(bash scripts/services.sh env)" && npx ava __test__/x.spec.ts
 *
 * Spec files run in parallel against the shared pair, so each test takes a database of its own
 * (`freshDatabase`) and a key prefix of its own (`freshBucketPrefix`), and a test that restarts,
 * stops or pauses a service does it to a private pair started for it alone (`privateServices`),
 * never to the shared one. A missing service makes the tests that need it skip, the reason in
 * their titles and on stderr.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { execFile, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { Client } from 'pg'
import { devCache } from './dev-cache'

export interface Skip { skip: string }
export interface PgService { url: string }
export interface S3Service { endpoint: string; bucket: string; region: string }

const SCRIPT = path.join(__dirname, '..', 'scripts', 'services.sh')
const run = promisify(execFile)
const random = () => crypto.randomBytes(6).toString('hex')

export function isSkip(x: unknown): x is Skip {
  return typeof (x as Skip)?.skip === 'string'
}

/** The shared PostgreSQL (a server URL whose user may create databases), or why there is none. */
export function pgService(): PgService | Skip {
  const url = process.env.AMBER_TEST_PG_URL
  if (url) return { url }
  return { skip: 'no PostgreSQL (AMBER_TEST_PG_URL is not set: npm test starts one, see scripts/services.sh)' }
}

/** The shared S3 server and its bucket, or why there is none. */
export function s3Service(): S3Service | Skip {
  const endpoint = process.env.AMBER_TEST_S3_ENDPOINT
  if (!endpoint) return { skip: 'no S3 server (AMBER_TEST_S3_ENDPOINT is not set: npm test starts one, see scripts/services.sh)' }
  return { endpoint, bucket: process.env.AMBER_TEST_S3_BUCKET || 'amber-test', region: process.env.AWS_REGION || 'us-east-1' }
}

/** `service`, or a failure naming what is missing (for a test body that only runs when it is there). */
export function need<T extends object>(service: T | Skip): T {
  if (isSkip(service)) throw new Error(service.skip)
  return service
}

/**
 * `test` when none of `needs` is a Skip; else a `test` whose tests all skip, their titles ending
 * with the reason (so the TAP line reads `ok N - ... (skipped: why) # SKIP`), and one warning on
 * stderr naming the spec. Hooks stay as they are.
 */
export function serviceTest(spec: string, ...needs: Array<object | Skip>): typeof test {
  const why = needs.filter(isSkip).map((s) => s.skip)
  if (why.length === 0) return test
  const reason = [...new Set(why)].join('; ')
  console.warn(`${spec}: skipped, ${reason}`)
  const skipping = (base: (...a: any[]) => unknown) => (title: string, ...rest: unknown[]) => base(`${title} (skipped: ${reason})`, ...rest)
  const skip = skipping(test.skip)
  const serialSkip = skipping(test.serial.skip)
  const serial = new Proxy(serialSkip, {
    get: (_t, p) => (p === 'skip' || p === 'only' || p === 'failing' ? serialSkip : (test.serial as any)[p]),
  })
  return new Proxy(skip, {
    get: (_t, p) => (p === 'serial' ? serial : p === 'skip' || p === 'only' || p === 'failing' ? skip : (test as any)[p]),
  }) as unknown as typeof test
}

/**
 * A new database `amber_t_<random>` on `server` (default: the shared PostgreSQL), dropped when the
 * test ends; resolves to its URL.
 */
export async function freshDatabase(t: ExecutionContext, server = need(pgService()).url): Promise<string> {
  const name = `amber_t_${random()}`
  await admin(server, `CREATE DATABASE ${name}`)
  t.teardown(async () => {
    try {
      // FORCE: connections a failed test left open do not keep the database.
      await admin(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } catch (e) {
      // A private server may be gone already, and its databases with it.
      if ((e as { code?: string }).code !== 'ECONNREFUSED') process.stderr.write(`could not drop ${name}: ${(e as Error).message}\n`)
    }
  })
  const url = new URL(server)
  url.pathname = `/${name}`
  return url.toString()
}

async function admin(server: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: server, connectionTimeoutMillis: 10_000 })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** `s3://<bucket>/t-<random>`: a key prefix no other test uses, in the shared bucket. */
export function freshBucketPrefix(bucket = need(s3Service()).bucket): string {
  return `s3://${bucket}/t-${random()}`
}

/** A PostgreSQL and/or S3 server of one test's own, to restart, stop or pause. */
export interface PrivateServices {
  pg?: PgService
  s3?: S3Service
  /** `pg_ctl restart -m fast`: open connections are dropped, committed data stays. */
  restartPostgres(): Promise<void>
  stopPostgres(): Promise<void>
  startPostgres(): Promise<void>
  /** SIGSTOP moto: connections are accepted and never answered (clients fail by their timeouts); objects stay. */
  pauseS3(): Promise<void>
  resumeS3(): Promise<void>
  /** Stop moto: connections are refused. moto keeps objects in memory: `startS3` comes back with an empty bucket. */
  stopS3(): Promise<void>
  startS3(): Promise<void>
}

const PG_BINS = () => {
  try {
    return fs.readdirSync('/usr/lib/postgresql').filter((v) => fs.existsSync(`/usr/lib/postgresql/${v}/bin/postgres`))
  } catch {
    return []
  }
}

/**
 * Why `privateServices(t, what)` cannot run here (a Skip), or {} when it can (pass it to
 * `serviceTest`): it needs Debian's PostgreSQL and the moto venv scripts/services.sh keeps in the
 * dev cache.
 */
export function privateServicesSupport(what: { pg?: boolean; s3?: boolean }): Skip | object {
  if (what.pg && PG_BINS().length === 0) return { skip: 'no PostgreSQL to start (apt-get install postgresql)' }
  if (what.s3 && !fs.existsSync(path.join(devCache('venv-moto'), 'bin', 'python'))) {
    return { skip: 'no moto venv (scripts/services.sh start makes it)' }
  }
  return {}
}

/** Env files of private services still running, stopped at exit if a teardown did not run. */
const running = new Set<string>()
process.on('exit', () => {
  for (const env of running) spawnSync('bash', [SCRIPT, 'stop', '--env', env], { stdio: 'ignore' })
})

/** Start the services of `what` for this test alone (about 2 s); they stop when the test ends. */
export async function privateServices(t: ExecutionContext, what: { pg?: boolean; s3?: boolean }): Promise<PrivateServices> {
  const env = path.join(os.tmpdir(), `amber-private-services-${random()}.env`)
  const only = [what.pg && 'pg', what.s3 && 's3'].filter(Boolean).join(',')
  // Without the shared pair's settings, or the script would take them for real services to use.
  const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AMBER_TEST_')))
  const exec = (cmd: string, ...args: string[]) => run('bash', [SCRIPT, cmd, '--env', env, ...args], { env: childEnv, timeout: 120_000 })
  const script = (cmd: string) => exec(cmd).then(() => undefined)
  running.add(env)
  t.teardown(async () => {
    await script('stop')
    running.delete(env)
  })
  // What the script says when a service does not start (one line each, on stderr).
  const { stderr } = await exec('start', '--owner', String(process.pid), '--only', only)
  const vars = readEnvFile(env)
  const services: PrivateServices = {
    restartPostgres: () => script('pg-restart'),
    stopPostgres: () => script('pg-stop'),
    startPostgres: () => script('pg-start'),
    pauseS3: () => script('s3-pause'),
    resumeS3: () => script('s3-resume'),
    stopS3: () => script('s3-stop'),
    startS3: () => script('s3-start'),
  }
  if (what.pg) {
    if (!vars.AMBER_TEST_PG_URL) throw new Error(`private PostgreSQL did not start: ${stderr}`)
    services.pg = { url: vars.AMBER_TEST_PG_URL }
  }
  if (what.s3) {
    if (!vars.AMBER_TEST_S3_ENDPOINT) throw new Error(`private S3 server did not start: ${stderr}`)
    services.s3 = { endpoint: vars.AMBER_TEST_S3_ENDPOINT, bucket: vars.AMBER_TEST_S3_BUCKET, region: vars.AWS_REGION }
  }
  return services
}

/** The KEY=VALUE lines scripts/services.sh writes (a value single-quoted when it needs quoting). */
export function readEnvFile(file: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (!m) continue
    const v = m[2]
    vars[m[1]] = v.startsWith("'") && v.endsWith("'") ? v.slice(1, -1).replaceAll("'\\''", "'") : v
  }
  return vars
}
