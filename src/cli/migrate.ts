/**
 * `amber migrate`: move a data dir server's runs and tokens to PostgreSQL + S3
 * (../server/migrate). One line per run on stderr as it ends, then a summary; the exit code is
 * non-zero when any run failed (the others are migrated; running it again retries the failed ones
 * and skips what the database holds). Registered on the main program by ./amber.ts.
 */
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander'
import { statSync } from 'node:fs'
import { CliError, EXIT } from './errors'

function positive(value: string): number {
  const n = Number(value)
  if (!(n > 0)) throw new CommanderArgError('expected a positive number')
  return n
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) throw new CommanderArgError('expected a positive integer')
  return n
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`

interface MigrateFlags {
  from?: string
  db?: string
  bucket?: string
  s3Endpoint?: string
  s3Region?: string
  jobs: number
  retryFor: number
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description("move a data dir server's runs (0.1 and current layouts) and tokens to PostgreSQL + S3, through the sync protocol: resumable, never duplicates")
    // Checked in the action, not by commander, so each missing flag gets a sentence saying what it is for.
    .addOption(new Option('--from <dir>', 'the data dir of `amber serve --data-dir` (read as `amber open` reads it)'))
    .addOption(new Option('--db <url>', 'the PostgreSQL database to move into (postgres://user@host:5432/db)'))
    .addOption(new Option('--bucket <url>', 'the S3 bucket for media and sealed chunks (s3://bucket/prefix)'))
    .addOption(new Option('--s3-endpoint <url>', 'an S3-compatible endpoint (MinIO, ...); credentials come from the standard AWS variables and files'))
    .addOption(new Option('--s3-region <region>', "the bucket's region (default: $AWS_REGION, else us-east-1)"))
    .addOption(new Option('--jobs <n>', 'runs migrated at once').argParser(positiveInt).default(2))
    .addOption(new Option('--retry-for <seconds>', 'keep retrying an unreachable database or bucket this long per run').argParser(positive).default(60))
    .action(async (o: MigrateFlags) => {
      if (o.from === undefined) throw new CliError('give the data dir to migrate with --from <dir>', EXIT.usage)
      if (o.db === undefined) throw new CliError('give the PostgreSQL database to migrate into with --db postgres://user@host:5432/db', EXIT.usage)
      if (o.bucket === undefined) throw new CliError('give the bucket for media and sealed chunks with --bucket s3://bucket/prefix', EXIT.usage)
      let isDir = false
      try {
        isDir = statSync(o.from).isDirectory()
      } catch {
        throw new CliError(`--from ${o.from}: no such folder`, EXIT.usage)
      }
      if (!isDir) throw new CliError(`--from ${o.from} is not a folder (give the data dir of \`amber serve --data-dir\`)`, EXIT.usage)

      const { migrateDataDir } = await import('../server/migrate')
      const r = await migrateDataDir({
        from: o.from, db: o.db, bucket: o.bucket, s3Endpoint: o.s3Endpoint, s3Region: o.s3Region, jobs: o.jobs, retryForMs: o.retryFor * 1000,
        onProgress: (e) => {
          if (e.kind === 'tokens') {
            process.stderr.write(`tokens: ${e.tokens.copied} of ${e.tokens.total} copied${e.tokens.present ? `, ${e.tokens.present} already in the database` : ''}\n`)
            return
          }
          const m = e.run
          const head = `[${e.done}/${e.total}] ${m.project}/${m.folder}${m.layout === 1 ? ' (0.1 layout)' : ''}`
          if (m.error !== undefined) {
            process.stderr.write(`${head}: FAILED: ${m.error}\n`)
            return
          }
          process.stderr.write(`${head}: ${plural(m.points, 'new point')}, ${plural(m.media, 'media item')}, ${plural(m.records, 'record')}, ${plural(m.outputBytes, 'output byte')}, ${m.status}, ${(m.ms / 1000).toFixed(1)} s\n`)
          for (const why of m.skipped) process.stderr.write(`  warning: not copied, the server refuses the name: ${why}\n`)
        },
      })
      const ok = r.runs.length - r.failed.length
      const secs = r.ms / 1000
      process.stdout.write(
        `migrated ${ok} of ${plural(r.runs.length, 'run')} in ${secs.toFixed(1)} s: ${plural(r.points, 'new point')}, ${plural(r.media, 'media item')}, ` +
          `${plural(r.records, 'record')}, ${plural(r.outputBytes, 'output byte')}; tokens: ${r.tokens.copied} copied, ${r.tokens.present} already there; ` +
          `${plural(r.failed.length, 'failure')}\n`,
      )
      if (r.failed.length) {
        for (const f of r.failed) process.stderr.write(`failed: ${f.project}/${f.folder}: ${f.error}\n`)
        throw new CliError(`${plural(r.failed.length, 'run')} did not migrate (run the same command again to retry them)`, EXIT.failure)
      }
    })
}
