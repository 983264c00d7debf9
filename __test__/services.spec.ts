/**
 * The test services (scripts/services.sh through __test__/services.ts) work, and the S3 bucket
 * wrapper of the PostgreSQL + S3 server mode (src/server/pg/bucket.ts) behaves: round trips,
 * create-only writes, missing keys, an unreachable server, and the message for missing packages.
 */
import test from 'ava'
import { Client } from 'pg'
import { Bucket, parseBucketUrl } from '../src/server/pg/bucket'
import { INSTALL_COMMAND, loadPg, loadS3 } from '../src/server/pg/deps'
import { ClosedError, InvalidArgumentError, NotFoundError, StorageUnavailableError, VaultIoError } from '../src/errors'
import {
  freshBucketPrefix, freshDatabase, need, pgService, privateServices, privateServicesSupport, s3Service, serviceTest,
} from './services'

const pg = pgService()
const s3 = s3Service()
const pgTest = serviceTest('services', pg)
const s3Test = serviceTest('services', s3)
const privatePgTest = serviceTest('services', privateServicesSupport({ pg: true }))
const privateS3Test = serviceTest('services', privateServicesSupport({ s3: true }))

/** A bucket at a fresh prefix of the shared S3 server, closed when the test ends. */
function freshBucket(t: { teardown(fn: () => void): void }, options: { timeoutMs?: number; maxAttempts?: number } = {}): Bucket {
  const { endpoint } = need(s3)
  const bucket = new Bucket(freshBucketPrefix(), { endpoint, ...options })
  t.teardown(() => bucket.close())
  return bucket
}

pgTest('PostgreSQL: each test gets a database of its own, dropped at its end', async (t) => {
  const url = await freshDatabase(t)
  const other = await freshDatabase(t)
  t.not(url, other)
  const client = new Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query('SELECT current_database() AS db, 1 + 1 AS two')
    t.is(rows[0].two, 2)
    t.is(`/${rows[0].db}`, new URL(url).pathname)
    await client.query('CREATE TABLE t (k text PRIMARY KEY, v bytea)')
    await client.query('INSERT INTO t VALUES ($1, $2)', ['a', Buffer.from([1, 2, 3])])
    t.deepEqual((await client.query('SELECT v FROM t')).rows[0].v, Buffer.from([1, 2, 3]))
  } finally {
    await client.end()
  }
})

s3Test('Bucket: put, get, getRange, exists, list and delete under a prefix of its own', async (t) => {
  const b = freshBucket(t)
  t.true(await b.put('chunks/a', Buffer.from('alpha'), { contentType: 'application/octet-stream' }))
  await b.put('chunks/b', Buffer.from('beta'))
  await b.put('media/c', Buffer.alloc(0))
  t.deepEqual(await b.get('chunks/a'), Buffer.from('alpha'))
  t.deepEqual(await b.get('media/c'), Buffer.alloc(0))
  t.deepEqual(await b.getRange('chunks/a', 1, 4), Buffer.from('lph'))
  t.deepEqual(await b.getRange('chunks/a', 2, 2), Buffer.alloc(0))
  t.true(await b.exists('chunks/b'))
  t.false(await b.exists('chunks/z'))

  const listed = []
  for await (const o of b.list('chunks/')) listed.push(o)
  t.deepEqual(listed.map((o) => [o.key, o.size]), [['chunks/a', 5], ['chunks/b', 4]])
  t.true(listed[0].lastModified instanceof Date)
  // Another prefix of the same bucket sees none of it.
  const neighbour = freshBucket(t)
  for await (const o of neighbour.list()) t.fail(`unexpected ${o.key}`)

  await b.delete(['chunks/a', 'chunks/never-there'])
  t.false(await b.exists('chunks/a'))
  t.true(await b.exists('chunks/b'))
  await b.delete([])
})

s3Test('Bucket: listing and deleting more than one S3 page (1000 keys)', async (t) => {
  const b = freshBucket(t)
  const keys = Array.from({ length: 1003 }, (_, i) => `k/${String(i).padStart(4, '0')}`)
  for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => b.put(k, Buffer.from(k))))
  const listed: string[] = []
  for await (const o of b.list('k/')) listed.push(o.key)
  t.deepEqual(listed, keys)
  await b.delete(keys)
  for await (const o of b.list()) t.fail(`left over: ${o.key}`)
})

s3Test('Bucket: a create-only put of an existing key keeps the first bytes and is no error', async (t) => {
  const b = freshBucket(t)
  t.true(await b.put('sha256/abc', Buffer.from('first'), { createOnly: true }))
  t.false(await b.put('sha256/abc', Buffer.from('second'), { createOnly: true }))
  t.deepEqual(await b.get('sha256/abc'), Buffer.from('first'))
  // A plain put overwrites.
  t.true(await b.put('sha256/abc', Buffer.from('third')))
  t.deepEqual(await b.get('sha256/abc'), Buffer.from('third'))
})

s3Test('Bucket: a missing key is NotFoundError; bad URLs, keys and ranges are InvalidArgumentError; closed is ClosedError', async (t) => {
  const b = freshBucket(t)
  const e = await t.throwsAsync(b.get('nope'), { instanceOf: NotFoundError })
  t.regex(e!.message, /nope/)
  await t.throwsAsync(b.getRange('nope', 0, 10), { instanceOf: NotFoundError })
  await t.throwsAsync(b.get(''), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(b.getRange('x', 5, 2), { instanceOf: InvalidArgumentError })
  t.throws(() => new Bucket('http://example.com/x'), { instanceOf: InvalidArgumentError })
  t.throws(() => new Bucket('s3://'), { instanceOf: InvalidArgumentError })
  t.deepEqual(parseBucketUrl('s3://b'), { name: 'b', prefix: '' })
  t.deepEqual(parseBucketUrl('s3://b/x//y/'), { name: 'b', prefix: 'x/y/' })

  const missing = new Bucket('s3://no-such-bucket', { endpoint: need(s3).endpoint })
  const gone = await t.throwsAsync(missing.check(), { instanceOf: VaultIoError })
  t.false(gone instanceof StorageUnavailableError)
  t.regex(gone!.message, /no-such-bucket does not exist/)
  missing.close()

  await b.check()
  b.close()
  await t.throwsAsync(b.get('x'), { instanceOf: ClosedError })
})

privateS3Test('Bucket: a paused S3 server fails calls with StorageUnavailableError in bounded time; resumed, it works with its data', async (t) => {
  const svc = await privateServices(t, { s3: true })
  const b = new Bucket('s3://amber-test/p', { endpoint: svc.s3!.endpoint, timeoutMs: 500, maxAttempts: 2 })
  t.teardown(() => b.close())
  await b.put('kept', Buffer.from('still here'))
  await svc.pauseS3()
  try {
    const started = Date.now()
    const e = await t.throwsAsync(b.get('kept'), { instanceOf: StorageUnavailableError })
    t.true(e!.retryAfterSeconds > 0)
    await t.throwsAsync(b.check(), { instanceOf: StorageUnavailableError })
    // Two attempts of 500 ms each per call, and the SDK's short backoff: far from hanging.
    t.true(Date.now() - started < 15_000, `took ${Date.now() - started} ms`)
  } finally {
    await svc.resumeS3()
  }
  t.deepEqual(await b.get('kept'), Buffer.from('still here'))
})

privateS3Test('Bucket: a stopped S3 server is StorageUnavailableError at once; started again it works (with an empty bucket)', async (t) => {
  const svc = await privateServices(t, { s3: true })
  const b = new Bucket('s3://amber-test', { endpoint: svc.s3!.endpoint, timeoutMs: 2000, maxAttempts: 2 })
  t.teardown(() => b.close())
  await b.put('x', Buffer.from('1'))
  await svc.stopS3()
  await t.throwsAsync(b.put('y', Buffer.from('2')), { instanceOf: StorageUnavailableError })
  await t.throwsAsync(b.check(), { instanceOf: StorageUnavailableError })
  await svc.startS3()
  await b.check()
  t.false(await b.exists('x'))
  t.true(await b.put('y', Buffer.from('2'), { createOnly: true }))
})

privatePgTest('PostgreSQL: a private server restarts; committed rows stay, a new connection works', async (t) => {
  const svc = await privateServices(t, { pg: true })
  const url = await freshDatabase(t, svc.pg!.url)
  const before = new Client({ connectionString: url })
  before.on('error', () => {}) // the restart ends this connection; its error is expected
  await before.connect()
  await before.query('CREATE TABLE t (n int)')
  await before.query('INSERT INTO t VALUES (42)')
  await svc.restartPostgres()
  await t.throwsAsync(before.query('SELECT 1'))
  const after = new Client({ connectionString: url })
  await after.connect()
  t.is((await after.query('SELECT n FROM t')).rows[0].n, 42)
  await after.end()
  await before.end().catch(() => {})
})

test('deps: the server packages load lazily; a missing one names the install command', (t) => {
  t.is(typeof loadPg().Pool, 'function')
  const { s3: s3mod, presigner } = loadS3()
  t.is(typeof s3mod.S3Client, 'function')
  t.is(typeof presigner.getSignedUrl, 'function')

  const without = (...absent: string[]) => (id: string) => {
    if (absent.includes(id)) throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' })
    return require(id)
  }
  const e = t.throws(() => loadPg(without('pg')), { instanceOf: InvalidArgumentError })
  t.true(e!.message.includes('npm install pg @aws-sdk/client-s3 @aws-sdk/s3-request-presigner'), e!.message)
  t.is(INSTALL_COMMAND, 'npm install pg @aws-sdk/client-s3 @aws-sdk/s3-request-presigner')
  const both = t.throws(() => loadS3(without('@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner')), { instanceOf: InvalidArgumentError })
  t.regex(both!.message, /needs @aws-sdk\/client-s3, @aws-sdk\/s3-request-presigner, which are not installed/)
  // A package that is there but fails to load is not reported as missing.
  const broken = (id: string) => {
    throw Object.assign(new Error(`Cannot find module 'pg-protocol'\nRequire stack:\n- /x/node_modules/${id}/lib/index.js`), { code: 'MODULE_NOT_FOUND' })
  }
  const e2 = t.throws(() => loadPg(broken), { message: /pg-protocol/ })
  t.false(e2 instanceof InvalidArgumentError)
})
