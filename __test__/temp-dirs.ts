import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * A maker of fresh temp folders named `<prefix>XXXXXX` for one spec file; every folder it made is
 * removed once that file's tests are done, so repeated runs do not fill /tmp.
 */
export function tempDirs(prefix: string): () => string {
  const dirs: string[] = []
  test.after.always(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })))
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
    dirs.push(dir)
    return dir
  }
}
