/** The Rust "floor" examples of the core that the benchmarks run beside the JS API. */
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

/**
 * Build `crates/ambervault-core/examples/<name>.rs` (release) once and return its path; null
 * when cargo is not there or the build fails. The same explicit target and packages as
 * `npm run build` (napi passes --target) reuse its built dependencies, SQLite included,
 * instead of compiling them again.
 */
export function floorBinary(name: string): string | null {
  const top = path.join(__dirname, '..', '..')
  const host = /host: (\S+)/.exec(spawnSync('rustc', ['-vV'], { encoding: 'utf8' }).stdout ?? '')?.[1]
  if (!host) return null
  const args = ['build', '--release', '-q', '--target', host, '-p', 'ambervault-core', '-p', 'ambervault-node', '--example', name]
  const b = spawnSync('cargo', args, { cwd: top, stdio: 'inherit' })
  const bin = path.join(top, 'target', host, 'release', 'examples', name)
  return b.status === 0 && fs.existsSync(bin) ? bin : null
}
