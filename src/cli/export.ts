/**
 * `amber export`: a run's scalar metrics as CSV (long format: metric,step,global_step,timestamp,value)
 * or JSON ({ metric: { step, globalStep, timestamp, value } }). Values are written exactly
 * (shortest round-trip decimal); NaN and ±Infinity are written as NaN / Infinity / -Infinity,
 * as strings in JSON since JSON has no such numbers.
 */
import { createWriteStream } from 'node:fs'
import type { Writable } from 'node:stream'
import { once } from 'node:events'
import type { Run } from '../board'
import { progress } from './progress'

export type ExportFormat = 'csv' | 'json'

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

function jsonValue(v: number): string {
  return Number.isFinite(v) ? String(v) : JSON.stringify(String(v))
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain')
}

export async function exportRun(run: Run, names: string[], format: ExportFormat, outPath: string | undefined): Promise<number> {
  const out: Writable = outPath ? createWriteStream(outPath) : process.stdout
  const bar = progress('export', names.length)
  let rows = 0
  const CHUNK = 8192
  if (format === 'csv') await write(out, 'metric,step,global_step,timestamp,value\n')
  else await write(out, '{')
  for (let m = 0; m < names.length; m++) {
    const name = names[m]
    const s = run.scalars(name)
    const n = s.value.length
    if (format === 'csv') {
      const prefix = csvField(name) + ','
      for (let i = 0; i < n; i += CHUNK) {
        let text = ''
        for (let j = i; j < Math.min(n, i + CHUNK); j++) text += `${prefix}${s.step[j]},${s.globalStep[j]},${s.timestamp[j]},${s.value[j]}\n`
        await write(out, text)
      }
    } else {
      const col = (arr: ArrayLike<number | bigint>, f: (v: number) => string = String) => {
        const parts: string[] = new Array(arr.length)
        for (let i = 0; i < arr.length; i++) parts[i] = f(Number(arr[i]))
        return `[${parts.join(',')}]`
      }
      await write(
        out,
        `${m ? ',' : ''}\n${JSON.stringify(name)}:{"step":${col(s.step)},"globalStep":${col(s.globalStep)},"timestamp":${col(s.timestamp)},"value":${col(s.value, jsonValue)}}`,
      )
    }
    rows += n
    bar.tick()
  }
  if (format === 'json') await write(out, '\n}\n')
  bar.stop()
  if (outPath) {
    out.end()
    await once(out, 'finish')
  }
  return rows
}
