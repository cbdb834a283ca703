import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, release, totalmem } from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  kernel: string;
}

function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // Linux's USER_HZ almost everywhere
  }
}
const TICKS = clockTicksPerSecond();

/** User + system CPU seconds a process has used so far (/proc/<pid>/stat fields 14 and 15). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/**
 * CPU seconds so far of every visible process named `name` (pgrep -x), by pid: for
 * Redis and PostgreSQL when they run on this machine. Empty when none is visible.
 */
export function cpuByName(name: string): Map<number, number> {
  const found = new Map<number, number>();
  let pids: number[];
  try {
    pids = execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').map(Number);
  } catch {
    return found; // pgrep exits 1 when nothing matches (a server in Docker or elsewhere)
  }
  for (const pid of pids) {
    try {
      found.set(pid, cpuSeconds(pid));
    } catch {
      // exited between pgrep and the read: it has nothing left to count
    }
  }
  return found;
}

/** CPU seconds used since `before` by processes named `name` (those started since count in full). */
export function cpuSinceByName(name: string, before: Map<number, number>): number | null {
  const after = cpuByName(name);
  if (after.size === 0) return null;
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/**
 * Starts a new peak: VmHWM is set back to the current RSS (Linux clear_refs "5"), so a
 * later peakRssMiB covers only what came after. False where that is not allowed.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** A kB field of /proc/<pid>/status (VmRSS, VmHWM, …) in KiB. */
export function procStatusKiB(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : Number.NaN;
}

/** Peak resident set size in MiB (VmHWM). */
export function peakRssMiB(pid: number): number {
  return Math.round(procStatusKiB(pid, 'VmHWM') / 1024);
}

/** Each process's peak RSS over `run` alone (VmHWM reset just before); null where it cannot be reset. */
export async function peaksDuring<T>(pids: readonly number[], run: () => Promise<T>): Promise<[T, number[] | null]> {
  const reset = pids.map((pid) => resetPeakRss(pid)).every(Boolean);
  const result = await run();
  return [result, reset ? pids.map((pid) => peakRssMiB(pid)) : null];
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Waits until a process uses under 5% of a core for a second (at most `maxMs`), before
 * reading its RSS: quiet is a property of a time window, so this samples.
 */
export async function settle(pid: number, maxMs = 20_000): Promise<void> {
  const deadline = performance.now() + maxMs;
  for (;;) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (cpuSeconds(pid) - before < 0.05 || performance.now() > deadline) return;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat), for how loaded it was. */
export function machineJiffies(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.reduce((a, b) => a + b, 0);
  const idle = (cpu[3] ?? 0) + (cpu[4] ?? 0);
  return { busy: total - idle, total };
}

export function machineInfo(): MachineInfo {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return {
    cpuModel: model?.[1] ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
  };
}
