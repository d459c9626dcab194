/**
 * What a process costs, read from /proc (Linux): CPU ticks and resident memory.
 * Git children a node has already reaped count in its children's ticks.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let ticksPerSecond: number | null = null;
function hz(): number {
  if (ticksPerSecond === null) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface CpuSample {
  /** utime + stime of the process itself, seconds. */
  self: number;
  /** cutime + cstime: reaped children (git processes the node spawned), seconds. */
  children: number;
  at: number;
}

export function cpu(pid: number): CpuSample {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which may itself contain spaces and parentheses.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  const t = (i: number) => Number(f[i - 3]);
  return { self: (t(14) + t(15)) / hz(), children: (t(16) + t(17)) / hz(), at: performance.now() };
}

/** Percent of one core between two samples: [self, self + children]. */
export function cpuPct(a: CpuSample, b: CpuSample): { self: number; total: number } {
  const wall = (b.at - a.at) / 1000;
  return { self: (100 * (b.self - a.self)) / wall, total: (100 * (b.self - a.self + b.children - a.children)) / wall };
}

/** Resident and peak resident memory in MiB. */
export function memory(pid: number): { rss_mb: number; peak_rss_mb: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss_mb: Math.round(kb('VmRSS') / 102.4) / 10, peak_rss_mb: Math.round(kb('VmHWM') / 102.4) / 10 };
  } catch {
    return null;
  }
}
