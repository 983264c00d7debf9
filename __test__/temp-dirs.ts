/**
 * Temp folders for one spec file, each named `<prefix>XXXXXX`: every folder made here is removed
 * once that file's tests are done (one `test.after.always` hook, registered as the spec file loads
 * this module, so a spec's helpers may make folders too), and repeated runs do not fill /tmp.
 */
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const made: string[] = []

test.after.always('remove temp folders', () => {
  for (const dir of made.splice(0)) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    } catch (e) {
      process.stderr.write(`could not remove ${dir}: ${(e as Error).message}\n`)
    }
  }
})

/** A fresh temp folder `<prefix>XXXXXX`, removed after this spec file's tests. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  made.push(dir)
  return dir
}

/** A maker of fresh temp folders `<prefix>XXXXXX`, each removed after this spec file's tests. */
export function tempDirs(prefix: string): () => string {
  return () => tempDir(prefix)
}
