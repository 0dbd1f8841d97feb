import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat` times, from `getconf CLK_TCK` (100 when that fails). */
export function clockTicksPerSecond(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5_000 }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far, from `/proc/<pid>/stat`. */
export function readCpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name, field 3 (state) is index 0, so utime (14) and stime (15) are indexes 11 and 12.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`Cannot read utime/stime of process ${pid} from /proc/${pid}/stat`);
  return (utime + stime) / ticksPerSecond;
}

/** A `kB` line of `/proc/<pid>/status` (e.g. `VmHWM`), in MB (1 MB = 1024 kB). */
function readStatusMb(pid: number, key: string): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
  if (!match) throw new Error(`No ${key} in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

/** Peak resident set size (`VmHWM`) of a process, in MB, since it started or since `resetPeakRss`. */
export const readPeakRssMb = (pid: number): number => readStatusMb(pid, 'VmHWM');

/**
 * Resets a process's `VmHWM` to its current RSS (writing `5` to `/proc/<pid>/clear_refs`, Linux 4.0+),
 * so that the next peak covers one workload only. False when the kernel refuses it.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
