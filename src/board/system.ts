/**
 * System metrics sampled every `intervalMs` into `sys/*` scalars: CPU % of the machine and of
 * this process tree, RAM, process RSS, and per-GPU utilisation and memory when `nvidia-smi` is
 * there. Reads are a few small /proc files per sample; nvidia-smi runs asynchronously. The
 * timer is unref'd so it never keeps the process alive.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import { execFile } from 'node:child_process'

export type Sample = Array<[string, number]>

function readCpuTotals(): { idle: number; total: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3] + (f[4] || 0)
    return { idle, total: f.reduce((a, b) => a + b, 0) }
  } catch {
    return null
  }
}

/** CPU ticks (utime + stime) of a process and its descendants, from /proc. */
function treeTicks(pid: number, depth = 0): number {
  let ticks = 0
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(f[11]) + Number(f[12])
  } catch {
    return 0
  }
  if (depth > 8) return ticks
  try {
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const kids = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim()
      if (kids) for (const k of kids.split(' ')) ticks += treeTicks(Number(k), depth + 1)
    }
  } catch {
    // No children file on this kernel: this process only.
  }
  return ticks
}

function memInfo(): { totalMb: number; usedMb: number } | null {
  try {
    const txt = fs.readFileSync('/proc/meminfo', 'utf8')
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(txt)?.[1] ?? NaN)
    const total = kb('MemTotal')
    return { totalMb: total / 1024, usedMb: (total - kb('MemAvailable')) / 1024 }
  } catch {
    return null
  }
}

export class SystemMonitor {
  private timer: NodeJS.Timeout
  private lastCpu = readCpuTotals()
  private lastTree = treeTicks(process.pid)
  private lastTime = Date.now()
  private gpu: Sample = []
  private gpuAvailable = true

  constructor(intervalMs: number, emit: (s: Sample) => void) {
    this.timer = setInterval(() => {
      try {
        emit(this.sample())
      } catch {
        // A failed sample is skipped; training goes on.
      }
      this.pollGpu()
    }, intervalMs)
    this.timer.unref()
    this.pollGpu()
  }

  private sample(): Sample {
    const out: Sample = []
    const cpu = readCpuTotals()
    if (cpu && this.lastCpu && cpu.total > this.lastCpu.total) {
      const dt = cpu.total - this.lastCpu.total
      out.push(['sys/cpu_percent', 100 * (1 - (cpu.idle - this.lastCpu.idle) / dt)])
    }
    this.lastCpu = cpu
    const now = Date.now()
    const tree = treeTicks(process.pid)
    const hz = 100 // USER_HZ is 100 on every Linux that Node supports
    const secs = (now - this.lastTime) / 1000
    if (secs > 0 && tree > 0) out.push(['sys/proc_cpu_percent', (100 * (tree - this.lastTree)) / hz / secs])
    this.lastTree = tree
    this.lastTime = now
    const mem = memInfo()
    if (mem) {
      out.push(['sys/ram_used_mb', mem.usedMb])
      out.push(['sys/ram_percent', (100 * mem.usedMb) / mem.totalMb])
    } else {
      out.push(['sys/ram_used_mb', (os.totalmem() - os.freemem()) / 2 ** 20])
    }
    out.push(['sys/proc_rss_mb', process.memoryUsage.rss() / 2 ** 20])
    return out.concat(this.gpu)
  }

  private pollGpu(): void {
    if (!this.gpuAvailable) return
    const child = execFile('nvidia-smi', ['--query-gpu=index,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'],
      { timeout: 5000 }, (err, stdout) => {
        if (err) {
          this.gpuAvailable = false
          this.gpu = []
          return
        }
        const s: Sample = []
        for (const line of stdout.trim().split('\n')) {
          const [i, util, used, total] = line.split(',').map((x) => Number(x.trim()))
          if (Number.isNaN(i)) continue
          s.push([`sys/gpu${i}/util_percent`, util], [`sys/gpu${i}/mem_used_mb`, used], [`sys/gpu${i}/mem_percent`, (100 * used) / total])
        }
        this.gpu = s
      })
    child.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }
}
