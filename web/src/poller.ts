/**
 * A refresh loop for a page that follows the runs while it is open: `tick` runs every `everyMs`
 * while the page is visible (none while it is hidden, one at once when it shows again), one at a
 * time, and waits at least ten times what the last one took, so a slow server (a thousand runs
 * on a busy disk) is asked less often instead of being kept busy.
 */
export interface Poller {
  /** Run a tick now (after the one in progress, if any). */
  now(): void
  stop(): void
}

export function poll(tick: () => Promise<void>, everyMs: number): Poller {
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let again = false
  let stopped = false
  let lastMs = 0
  const schedule = () => {
    clearTimeout(timer)
    if (!stopped && document.visibilityState === 'visible') timer = setTimeout(run, Math.max(everyMs, 10 * lastMs))
  }
  const run = async () => {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    running = true
    const t0 = performance.now()
    try {
      await tick()
    } catch {
      // A failed refresh (server restarting, network gone) is tried again at the next tick.
    }
    lastMs = performance.now() - t0
    running = false
    if (again) {
      again = false
      void run()
    } else schedule()
  }
  const onVisibility = () => {
    if (document.visibilityState === 'visible') void run()
    else clearTimeout(timer)
  }
  document.addEventListener('visibilitychange', onVisibility)
  schedule()
  return {
    now: () => void run(),
    stop() {
      stopped = true
      clearTimeout(timer)
      document.removeEventListener('visibilitychange', onVisibility)
    },
  }
}
