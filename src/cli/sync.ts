/**
 * The team commands of `amber`: `serve` (the team server), `token` (create / list / revoke the
 * server's tokens) and `sync` (upload a finished or offline run, resuming where the server's copy
 * ends). Registered on the main program by src/cli/amber.ts.
 */
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander'
import { startServer } from '../server/server'
import { TokenStore } from '../server/tokens'
import { syncRun } from '../sync/sync'
import { CliError, EXIT } from './errors'
import { table } from './format'
import { listenOptions } from './options'
import type { ListenOptions } from './options'
import { progress } from './progress'
import { resolveRun } from './resolve'

function positive(value: string): number {
  const n = Number(value)
  if (!(n > 0)) throw new CommanderArgError('expected a positive number')
  return n
}

export function registerSyncCommands(program: Command): void {
  const serve = program
    .command('serve')
    .description('run the team server: the viewer behind token auth plus the ingest API for `Board({ remote })` and `amber sync`')
    .requiredOption('--data-dir <dir>', 'where synced runs are kept (a base dir `amber open` can read too)')
  listenOptions(serve, 8470)
    .addOption(new Option('--max-body-mb <mb>', 'largest request body accepted').argParser(positive).default(64))
    .addOption(new Option('--max-scalar-batch-mb <mb>', 'largest scalar batch accepted (at most --max-body-mb)').argParser(positive).default(16))
    .addOption(new Option('--max-batches <n>', 'upload bodies read or stored at once (one more gets 503 and is retried)').argParser(positive).default(4))
    .addOption(new Option('--idle-close <seconds>', "close a run's writer after this long without uploads").argParser(positive).default(600))
    .action(async (o: ListenOptions & { dataDir: string; maxBodyMb: number; maxScalarBatchMb: number; maxBatches: number; idleClose: number }) => {
      const s = await startServer({
        dataDir: o.dataDir, host: o.host, port: o.port, allowedHosts: o.allowedHosts, trustProxy: o.trustProxy,
        maxBodyBytes: Math.floor(o.maxBodyMb * 1024 * 1024), maxScalarBodyBytes: Math.floor(o.maxScalarBatchMb * 1024 * 1024),
        maxBatchesInFlight: Math.floor(o.maxBatches), idleCloseMs: o.idleClose * 1000,
      })
      if ((await s.tokens.list()).length === 0) process.stderr.write(`no tokens yet: create one with \`amber token create --data-dir ${o.dataDir} --project <name>\`\n`)
      process.stdout.write(`amber team server for ${o.dataDir}\n  ${s.url}\n(Ctrl-C to stop)\n`)
      await new Promise<void>((done) => {
        const stop = () => void s.close().then(done)
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
    })

  const token = program.command('token').description("manage the team server's tokens (stored hashed in <data-dir>/.amber/tokens.json)")
  token
    .command('create')
    .exitOverride()
    .description('create a token and print it (the only time it is shown)')
    .requiredOption('--data-dir <dir>', "the server's data dir")
    .requiredOption('--project <names>', "projects the token may use, comma-separated, or '*' for all")
    .option('--read-only', 'may read runs but not upload')
    .option('--name <name>', 'a label to recognise the token by', '')
    .action((o: { dataDir: string; project: string; readOnly?: boolean; name: string }) => {
      const projects = o.project.trim() === '*' ? '*' : o.project.split(',').map((s) => s.trim()).filter(Boolean)
      const { token: t, record } = new TokenStore(o.dataDir).create({ name: o.name, projects, readOnly: !!o.readOnly })
      process.stderr.write(`token ${record.id} (${record.readOnly ? 'read-only' : 'read-write'}) for ${record.projects === '*' ? 'all projects' : record.projects.join(', ')}:\n`)
      process.stdout.write(`${t}\n`)
    })
  token
    .command('list')
    .exitOverride()
    .description('list tokens (ids and scopes; tokens themselves are not stored)')
    .requiredOption('--data-dir <dir>', "the server's data dir")
    .action((o: { dataDir: string }) => {
      const rows = new TokenStore(o.dataDir).list().map((t) => [t.id, t.name, t.projects === '*' ? '*' : t.projects.join(','), t.readOnly ? 'read-only' : 'read-write', t.createdAt])
      process.stdout.write(`${table(['id', 'name', 'projects', 'access', 'created'], rows)}\n`)
    })
  token
    .command('revoke')
    .exitOverride()
    .description('revoke a token by id (effective at once, also on a running server)')
    .argument('<id>', 'token id from `amber token list`')
    .requiredOption('--data-dir <dir>', "the server's data dir")
    .action((id: string, o: { dataDir: string }) => {
      new TokenStore(o.dataDir).revoke(id)
      process.stderr.write(`revoked ${id}\n`)
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
      const tok = o.token ?? process.env.AMBER_TOKEN
      if (!tok) throw new CliError('give a token with --token or $AMBER_TOKEN', EXIT.usage)
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
