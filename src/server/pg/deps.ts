/**
 * The packages only the PostgreSQL + S3 server mode needs (`amber serve --db --bucket`). They are
 * optional peer dependencies: the embedded API and `--data-dir` must load without them, so they
 * are required here, lazily, by the code of that mode alone. A missing one is a usage error that
 * names the one command that installs all of them.
 */
import { InvalidArgumentError } from '../../errors'

/** What the PostgreSQL + S3 mode needs installed beside ambervault. */
export const SERVER_PACKAGES = ['pg', '@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'] as const
export const INSTALL_COMMAND = `npm install ${SERVER_PACKAGES.join(' ')}`

/** `require`, or a stand-in for it (tests pass one that fails as a missing package would). */
export type RequireFn = (id: string) => unknown

export interface S3Modules {
  s3: typeof import('@aws-sdk/client-s3')
  presigner: typeof import('@aws-sdk/s3-request-presigner')
}

/** node-postgres, for `--db postgres://...`. */
export function loadPg(req: RequireFn = require): typeof import('pg') {
  return load(req, ['pg'])[0] as typeof import('pg')
}

/** The S3 client and its URL signer (presigned media redirects), for `--bucket s3://...`. */
export function loadS3(req: RequireFn = require): S3Modules {
  const [s3, presigner] = load(req, ['@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'])
  return { s3: s3 as S3Modules['s3'], presigner: presigner as S3Modules['presigner'] }
}

/**
 * Require every package of `ids`, so the error names all the missing ones at once rather than
 * one per attempt. Any other failure (a broken install, a syntax error) is rethrown as it is.
 */
function load(req: RequireFn, ids: readonly string[]): unknown[] {
  const missing: string[] = []
  const mods = ids.map((id) => {
    try {
      return req(id)
    } catch (e) {
      if (isMissing(e, id)) missing.push(id)
      else throw e
      return undefined
    }
  })
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      `the PostgreSQL + S3 server mode needs ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed: ` +
        `run \`${INSTALL_COMMAND}\` where ambervault is installed`,
    )
  }
  return mods
}

/** Whether `e` says that `id` itself cannot be found (not a module it requires in turn). */
function isMissing(e: unknown, id: string): boolean {
  const err = e as { code?: unknown; message?: unknown }
  // Node's message starts with the module it looked for, then the require stack.
  return err?.code === 'MODULE_NOT_FOUND' && typeof err.message === 'string' && err.message.startsWith(`Cannot find module '${id}'`)
}
