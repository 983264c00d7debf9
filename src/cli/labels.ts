/**
 * `amber tag`, `amber note`, `amber archive`: a run's labels (src/board/labels.ts), on a run
 * folder under --dir or, with --remote, on a team server (POST /api/runs/:p/:f/labels with a
 * write token). Registered on the main program by src/cli/amber.ts.
 */
import { Command } from 'commander'
import { labelRun } from '../board/labels'
import type { LabelPatch, RunLabels } from '../board/labels'
import { SyncClient } from '../sync/client'
import { CliError, EXIT } from './errors'
import { resolveRun } from './resolve'

interface Where {
  dir: string
  remote?: string
  token?: string
}

/** `project/folder` for a team server, or a usage error. */
export function serverRunPath(ref: string): string {
  const parts = ref.split('/')
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new CliError(`give the run as project/folder (got ${JSON.stringify(ref)})`, EXIT.usage)
  return parts.map(encodeURIComponent).join('/')
}

/** A read-write token from --token or $AMBER_TOKEN, or a usage error. */
export function remoteToken(token: string | undefined): string {
  const tok = token ?? process.env.AMBER_TOKEN
  if (!tok) throw new CliError('give a token with --token or $AMBER_TOKEN', EXIT.usage)
  return tok
}

async function label(ref: string, patch: LabelPatch, o: Where): Promise<RunLabels> {
  if (o.remote === undefined) return labelRun(resolveRun(ref, o.dir), patch)
  const reply = await new SyncClient({ url: o.remote, token: remoteToken(o.token) }).request('POST', `/api/runs/${serverRunPath(ref)}/labels`, patch as Record<string, unknown>)
  return reply.body as unknown as RunLabels
}

function show(labels: RunLabels): void {
  process.stdout.write(`tags: ${labels.tags.join(', ') || '-'}\nnote: ${labels.note ?? '-'}\n${labels.archived ? 'archived\n' : ''}`)
}

function where(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'base dir to look the run up in', './amberboard')
    .option('--remote <url>', 'a team server instead (the run as project/folder)')
    .option('--token <token>', 'a read-write token for --remote (default: $AMBER_TOKEN)')
}

export function registerLabelCommands(program: Command): void {
  where(
    program
      .command('tag')
      .description("add tags to a run (or take them off with --remove); the runs table shows and filters them")
      .argument('<run>', 'run folder, or project/folder, run id or name under --dir')
      .argument('<tags...>', 'tags')
      .option('--remove', 'take these tags off instead'),
  ).action(async (ref: string, tags: string[], o: Where & { remove?: boolean }) => show(await label(ref, o.remove ? { removeTags: tags } : { addTags: tags }, o)))

  where(
    program
      .command('note')
      .description("set a run's note (an empty text clears it)")
      .argument('<run>', 'run folder, or project/folder, run id or name under --dir')
      .argument('<text>', 'the note'),
  ).action(async (ref: string, text: string, o: Where) => show(await label(ref, { note: text === '' ? null : text }, o)))

  where(
    program
      .command('archive')
      .description('archive a run: the runs table hides it unless asked to show archived runs (--undo brings it back)')
      .argument('<run>', 'run folder, or project/folder, run id or name under --dir')
      .option('--undo', 'unarchive'),
  ).action(async (ref: string, o: Where & { undo?: boolean }) => show(await label(ref, { archived: !o.undo }, o)))
}
