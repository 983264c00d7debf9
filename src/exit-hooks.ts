/**
 * Work to run when the process (or worker thread) exits normally: flushing write-back caches.
 * One 'exit' listener serves every registered hook, so opening many vaults adds no listeners.
 */
type Hook = () => void

const hooks = new Set<Hook>()
let installed = false

function runAll(): void {
  for (const hook of [...hooks]) {
    try {
      hook()
    } catch (e) {
      // The process is going away: report, and keep flushing the others.
      process.stderr.write(`ambervault: flush on exit failed: ${(e as Error)?.message ?? e}\n`)
    }
  }
}

export function onExit(hook: Hook): () => void {
  if (!installed) {
    process.on('exit', runAll)
    installed = true
  }
  hooks.add(hook)
  return () => {
    hooks.delete(hook)
  }
}
