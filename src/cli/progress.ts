/** A progress bar on stderr for long work, shown only when stderr is a terminal. */
import { SingleBar, Presets } from 'cli-progress'

export interface Progress {
  tick(n?: number): void
  stop(): void
}

export function progress(label: string, total: number): Progress {
  if (!process.stderr.isTTY || total < 2) return { tick() {}, stop() {} }
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr, clearOnComplete: true, hideCursor: true }, Presets.shades_classic)
  bar.start(total, 0)
  return { tick: (n = 1) => bar.increment(n), stop: () => bar.stop() }
}
