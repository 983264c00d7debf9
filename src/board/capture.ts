/**
 * stdout/stderr capture as a tee: the original stream still gets every write, and a copy goes
 * into the run's log as an output record (the writer collapses carriage-return progress bars
 * and marks stderr lines in logs/output.log).
 */

type Write = typeof process.stdout.write

export class OutputCapture {
  private readonly restores: Array<() => void> = []

  constructor(sink: (stream: 'stdout' | 'stderr', text: string) => void) {
    for (const name of ['stdout', 'stderr'] as const) {
      const stream = process[name]
      const original: Write = stream.write
      const patched = function (this: unknown, chunk: unknown, ...rest: unknown[]): boolean {
        try {
          sink(name, typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
        } catch {
          // Capture must never break printing.
        }
        return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest)
      }
      stream.write = patched as Write
      this.restores.push(() => {
        if (stream.write === patched) stream.write = original
      })
    }
  }

  stop(): void {
    for (const r of this.restores.splice(0)) r()
  }
}
