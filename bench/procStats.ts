import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

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

/** The live processes whose parent is `pid`, and theirs, and so on (a gateway's TAILOR_GATEWAY_WORKERS, tsx's esbuild helper). */
export function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone in between
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const [child, of] of parentOf) if (of === parent) found.push(child), walk(child);
  };
  walk(pid);
  return found;
}

/** CPU seconds of a process and of its live descendants: a gateway with workers is charged their work. */
export function readTreeCpuSeconds(pid: number, ticksPerSecond: number): number {
  let total = readCpuSeconds(pid, ticksPerSecond);
  for (const child of descendantsOf(pid)) {
    try {
      total += readCpuSeconds(child, ticksPerSecond);
    } catch {
      // exited in between
    }
  }
  return total;
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

/** CPU a process has used so far: its own (utime + stime) and that of its children it has reaped (cutime + cstime), in seconds. */
export interface ProcessCpu {
  pid: number;
  /** Its command name (`/proc/<pid>/comm`). */
  comm: string;
  self: number;
  reapedChildren: number;
  /** Its command line (NUL-separated arguments joined by spaces), e.g. PostgreSQL's `postgres: 15/main: postgres db 127.0.0.1(5432) idle`. */
  cmdline: string;
}

/**
 * Every process whose command name (`/proc/<pid>/comm`) is one of `names`, with the CPU it has used so
 * far, keyed by pid and start time (so that a pid reused by another process is a different key).
 * Processes that vanish while the folder is read are skipped.
 */
export function readProcessesCpu(names: string[], ticksPerSecond: number): Map<string, ProcessCpu> {
  const found = new Map<string, ProcessCpu>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (!names.includes(comm)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // After the name: utime 11, stime 12, cutime 13, cstime 14, starttime 19 (fields 14, 15, 16, 17, 22).
      const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
      if (![utime, stime, cutime, cstime].every(Number.isFinite)) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ').trim();
      found.set(`${entry}:${fields[19]}`, { pid: Number(entry), comm, self: (utime + stime) / ticksPerSecond, reapedChildren: (cutime + cstime) / ticksPerSecond, cmdline });
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/**
 * CPU seconds the processes of two `readProcessesCpu` snapshots used between them: each one's own CPU
 * gained (all of it for one born since `before`), plus the reaped-children CPU every one gained, so that
 * a process that came and went in between (a PostgreSQL backend of a closed connection, reaped by the
 * postmaster) counts too, and one that was there before and exited since counts for what it used
 * after `before`. `counted` picks the processes whose own CPU counts (all by default); reaped-children
 * CPU counts only with `counted` absent. Also the number of processes seen at either end.
 */
export function cpuBetween(
  before: Map<string, ProcessCpu>,
  after: Map<string, ProcessCpu>,
  counted?: (process: ProcessCpu) => boolean,
): { cpuSeconds: number; processes: number } {
  let cpuSeconds = 0;
  const keys = new Set([...before.keys(), ...after.keys()]);
  let processes = 0;
  for (const key of keys) {
    const a = before.get(key);
    const b = after.get(key);
    const proc = (b ?? a)!;
    if (counted && !counted(proc)) continue;
    processes++;
    if (b) cpuSeconds += b.self - (a?.self ?? 0);
    if (!counted) {
      if (b) cpuSeconds += b.reapedChildren - (a?.reapedChildren ?? 0);
      // Gone since `before`: what it used after `before` is in its parent's reaped-children CPU, with what it used before it, which is taken off here.
      else cpuSeconds -= a!.self;
    }
  }
  return { cpuSeconds: Math.max(0, cpuSeconds), processes };
}
