/**
 * The team commands of `amber`: `serve` (the team server), `token` (create / list / revoke the
 * server's tokens) and `sync` (upload a finished or offline run, resuming where the server's copy
 * ends). Registered on the main program by src/cli/amber.ts.
 */
import { rmSync } from 'node:fs'
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander'
import { openRun } from '../board'
import { startServer } from '../server/server'
import type { Tokens } from '../server/storage'
import { TokenStore } from '../server/tokens'
import { SyncClient } from '../sync/client'
import { syncRun } from '../sync/sync'
import { CliError, EXIT } from './errors'
import { table } from './format'
import { listenOptions } from './options'
import type { ListenOptions } from './options'
import { remoteToken, serverRunPath } from './labels'
import { progress } from './progress'
import { resolveRun } from './resolve'

function positive(value: string): number {
  const n = Number(value)
  if (!(n > 0)) throw new CommanderArgError('expected a positive number')
  return n
}

interface StorageFlags {
  mediaRedirect?: boolean
  dataDir?: string
  db?: string
  bucket?: string
  s3Endpoint?: string
  s3Region?: string
}

/** Where `amber serve` keeps runs: --data-dir, or --db with --bucket. */
function storageOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--data-dir <dir>', 'keep runs in this folder (a base dir `amber open` can read too)'))
    .addOption(new Option('--db <url>', 'keep the index in this PostgreSQL database (postgres://user@host:5432/db), with --bucket'))
    .addOption(new Option('--bucket <url>', 'keep media and sealed chunks in this S3 bucket (s3://bucket/prefix), with --db'))
    .addOption(new Option('--s3-endpoint <url>', 'an S3-compatible endpoint (MinIO, ...); credentials come from the standard AWS variables and files'))
    .addOption(new Option('--s3-region <region>', 'the bucket\'s region (default: $AWS_REGION, else us-east-1)'))
    .addOption(new Option('--media-redirect', 'send browsers to presigned bucket URLs for media instead of proxying the bytes (with --db)'))
}

function storageOf(o: StorageFlags): { dataDir: string } | { db: string; bucket: string; s3Endpoint?: string; s3Region?: string } {
  if (o.dataDir !== undefined && o.db !== undefined) throw new CliError('give --data-dir or --db, not both', EXIT.usage)
  if (o.db !== undefined) {
    if (!o.bucket) throw new CliError('--db needs --bucket s3://bucket/prefix too: media and sealed chunks are kept there', EXIT.usage)
    return { db: o.db, bucket: o.bucket, s3Endpoint: o.s3Endpoint, s3Region: o.s3Region }
  }
  if (o.bucket !== undefined || o.s3Endpoint !== undefined) throw new CliError('--bucket and --s3-endpoint go with --db', EXIT.usage)
  if (o.dataDir === undefined) throw new CliError('give --data-dir <dir>, or --db <url> with --bucket <s3://...>', EXIT.usage)
  return { dataDir: o.dataDir }
}

/** The tokens of the data dir or database the options name, for one command. */
async function withTokens<T>(o: { dataDir?: string; db?: string }, fn: (tokens: Tokens) => T | Promise<T>): Promise<T> {
  if ((o.dataDir === undefined) === (o.db === undefined)) throw new CliError("give the server's --data-dir <dir> or --db <url>", EXIT.usage)
  if (o.dataDir !== undefined) return fn(new TokenStore(o.dataDir))
  const { openPgTokens } = await import('../server/pg/tokens')
  const { tokens, close } = await openPgTokens(o.db!)
  try {
    return await fn(tokens)
  } finally {
    await close()
  }
}

export function registerSyncCommands(program: Command): void {
  const serve = program
    .command('serve')
    .description('run the team server: the viewer behind token auth plus the ingest API for `Board({ remote })` and `amber sync`')
  storageOptions(serve)
  listenOptions(serve, 8470)
    .addOption(new Option('--max-body-mb <mb>', 'largest request body accepted').argParser(positive).default(64))
    .addOption(new Option('--max-scalar-batch-mb <mb>', 'largest scalar batch accepted (at most --max-body-mb)').argParser(positive).default(16))
    .addOption(new Option('--max-batches <n>', 'upload bodies read or stored at once (one more gets 503 and is retried)').argParser(positive).default(4))
    .addOption(new Option('--idle-close <seconds>', "close a run's writer after this long without uploads (--data-dir)").argParser(positive).default(600))
    .action(async (o: ListenOptions & StorageFlags & { maxBodyMb: number; maxScalarBatchMb: number; maxBatches: number; idleClose: number }) => {
      const s = await startServer({
        ...storageOf(o), host: o.host, port: o.port, allowedHosts: o.allowedHosts, trustProxy: o.trustProxy,
        maxBodyBytes: Math.floor(o.maxBodyMb * 1024 * 1024), maxScalarBodyBytes: Math.floor(o.maxScalarBatchMb * 1024 * 1024),
        maxBatchesInFlight: Math.floor(o.maxBatches), idleCloseMs: o.idleClose * 1000, mediaRedirect: !!o.mediaRedirect,
      })
      if ((await s.tokens.list()).length === 0) process.stderr.write(`no tokens yet: create one with \`amber token create ${o.db ? '--db <url>' : `--data-dir ${o.dataDir}`} --project <name>\`\n`)
      process.stdout.write(`amber team server for ${s.storage.description}\n  ${s.url}\n(Ctrl-C to stop)\n`)
      await new Promise<void>((done) => {
        // Ctrl-C closes at once; SIGTERM (a load balancer or orchestrator) first lets the batches
        // being stored finish, refusing new requests with 503 so clients retry on another replica.
        process.once('SIGINT', () => void s.close().then(done))
        process.once('SIGTERM', () => void s.drain().then(done))
      })
    })

  const token = program.command('token').description("manage the team server's tokens (kept hashed: <data-dir>/.amber/tokens.json, or the database)")
  token
    .command('create')
    .exitOverride()
    .description('create a token and print it (the only time it is shown)')
    .addOption(new Option('--data-dir <dir>', "the server's data dir"))
    .addOption(new Option('--db <url>', "the server's PostgreSQL database"))
    .requiredOption('--project <names>', "projects the token may use, comma-separated, or '*' for all")
    .option('--read-only', 'may read runs but not upload')
    .option('--name <name>', 'a label to recognise the token by', '')
    .action(async (o: { dataDir?: string; db?: string; project: string; readOnly?: boolean; name: string }) => {
      const projects = o.project.trim() === '*' ? '*' : o.project.split(',').map((s) => s.trim()).filter(Boolean)
      const { token: t, record } = await withTokens(o, (tokens) => tokens.create({ name: o.name, projects, readOnly: !!o.readOnly }))
      process.stderr.write(`token ${record.id} (${record.readOnly ? 'read-only' : 'read-write'}) for ${record.projects === '*' ? 'all projects' : record.projects.join(', ')}:\n`)
      process.stdout.write(`${t}\n`)
    })
  token
    .command('list')
    .exitOverride()
    .description('list tokens (ids and scopes; tokens themselves are not stored)')
    .addOption(new Option('--data-dir <dir>', "the server's data dir"))
    .addOption(new Option('--db <url>', "the server's PostgreSQL database"))
    .action(async (o: { dataDir?: string; db?: string }) => {
      const rows = (await withTokens(o, (tokens) => tokens.list())).map((t) => [t.id, t.name, t.projects === '*' ? '*' : t.projects.join(','), t.readOnly ? 'read-only' : 'read-write', t.createdAt])
      process.stdout.write(`${table(['id', 'name', 'projects', 'access', 'created'], rows)}\n`)
    })
  token
    .command('revoke')
    .exitOverride()
    .description('revoke a token by id (effective at once, also on running servers)')
    .argument('<id>', 'token id from `amber token list`')
    .addOption(new Option('--data-dir <dir>', "the server's data dir"))
    .addOption(new Option('--db <url>', "the server's PostgreSQL database"))
    .action(async (id: string, o: { dataDir?: string; db?: string }) => {
      await withTokens(o, (tokens) => tokens.revoke(id))
      process.stderr.write(`revoked ${id}\n`)
    })

  program
    .command('delete')
    .description('delete a run and everything it logged: a run folder under --dir, or with --remote a run on a team server (a client still logging to it starts it anew)')
    .argument('<run>', 'run folder, or project/folder, run id or name under --dir; project/folder with --remote')
    .option('--dir <dir>', 'base dir to look the run up in', './amberboard')
    .option('--remote <url>', 'a team server instead')
    .option('--token <token>', 'a read-write token for --remote (default: $AMBER_TOKEN)')
    .option('--force', 'delete a local run even while it reads as running')
    .action(async (ref: string, o: { dir: string; remote?: string; token?: string; force?: boolean }) => {
      if (o.remote !== undefined) {
        await new SyncClient({ url: o.remote, token: remoteToken(o.token) }).request('DELETE', `/api/sync/runs/${serverRunPath(ref)}`)
        process.stderr.write(`deleted ${ref} from ${o.remote}\n`)
        return
      }
      const runDir = resolveRun(ref, o.dir)
      const run = openRun(runDir)
      const status = run.metadata.status
      run.close()
      // A run whose writer is gone reads as killed; one that reads as running may still be written.
      if (status === 'running' && !o.force) throw new CliError(`${runDir} is running (its process may still write it): stop it first, or give --force`, EXIT.usage)
      rmSync(runDir, { recursive: true, force: true })
      process.stderr.write(`deleted ${runDir}\n`)
    })

  program
    .command('sync')
    .description('upload a run to a team server; resumes where the server copy ends, never duplicates points')
    .argument('<run>', 'run folder, or project/folder, run id or name under --dir')
    .requiredOption('--remote <url>', 'team server URL (amber serve)')
    .option('--project <name>', 'project on the server (default: the run’s own)')
    .option('--token <token>', 'token (default: $AMBER_TOKEN)')
    .option('--dir <dir>', 'base dir to look the run up in', './amberboard')
    .addOption(new Option('--retry-for <seconds>', 'keep retrying a down server this long').argParser(positive).default(300))
    .action(async (ref: string, o: { remote: string; project?: string; token?: string; dir: string; retryFor: number }) => {
      const tok = remoteToken(o.token)
      const runDir = resolveRun(ref, o.dir)
      let bar: ReturnType<typeof progress> | null = null
      let shown = 0
      const r = await syncRun(runDir, {
        url: o.remote, token: tok, project: o.project, retryForMs: o.retryFor * 1000,
        onProgress: (p) => {
          bar ??= progress('sync', Math.max(p.localPoints, 2))
          bar.tick(Math.max(0, p.remotePoints - shown))
          shown = p.remotePoints
        },
      })
      ;(bar as ReturnType<typeof progress> | null)?.stop()
      process.stderr.write(`synced ${runDir} to ${o.remote} as ${r.run}: ${r.sentPoints} new points in ${r.batches} batches, ${r.metrics} metrics, ${r.sentMedia} media, ${r.sentRecords} histograms/tables/tensors/densities, ${r.sentOutputBytes} output bytes, status ${r.status}${r.retries ? `, ${r.retries} retries` : ''}\n`)
      for (const why of r.skipped) process.stderr.write(`warning: not synced, the server refuses the name: ${why}\n`)
    })
}
