/** Open a URL in the user's browser (`--browser`), with the platform's own opener. */
import { spawn } from 'node:child_process'

export function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]]
  try {
    const child = spawn(cmd, args as string[], { stdio: 'ignore', detached: true })
    child.on('error', () => process.stderr.write(`could not start a browser; open ${url} yourself\n`))
    child.unref()
  } catch {
    process.stderr.write(`could not start a browser; open ${url} yourself\n`)
  }
}
