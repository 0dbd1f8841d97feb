import { readFileSync } from 'node:fs';
import { REPO_ROOT } from './config';

/** The parts of a V8 `.cpuprofile` (written by `node --cpu-prof`) that the summary reads. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  /** Microseconds, on the same monotonic clock as `process.hrtime` (CLOCK_MONOTONIC on Linux). */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** One row of a summary: a function or a code area, and its share of the busy time. */
export interface ProfileRow {
  name: string;
  selfMs: number;
  /** Percentage of the busy (non-idle) time of the window. */
  percent: number;
}

/** Self time of one process over a window. */
export interface ProfileSummary {
  /** Milliseconds sampled in the window, idle included. */
  windowMs: number;
  /** Milliseconds not idle (everything but `(idle)`; includes time the thread was runnable but descheduled). */
  busyMs: number;
  /** False when the window did not overlap the profile, so every sample was used. */
  windowed: boolean;
  functions: ProfileRow[];
  /** Self time grouped by package (`node_modules/<pkg>`), Tailor folder, Node.js internals or V8 category. */
  areas: ProfileRow[];
}

/** Reads a `.cpuprofile` file. */
export function readCpuProfile(file: string): CpuProfile {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) throw new Error(`${file} is not a V8 CPU profile`);
  return profile;
}

/** A source URL shortened to a path inside the repository or a package. */
export function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length);
  return path.startsWith(`${REPO_ROOT}/`) ? path.slice(REPO_ROOT.length + 1) : path;
}

/** The code area of a frame: a package, a Tailor folder, Node.js internals, or V8's own category. */
export function areaOf(functionName: string, url: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node: internals';
  const short = shortUrl(url);
  if (url.includes('/node_modules/')) {
    const parts = short.split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const parts = short.split('/');
  return parts.length > 2 ? `tailor ${parts.slice(0, 2).join('/')}` : `tailor ${parts[0]}`;
}

/**
 * Sums self time per function and per area over the samples taken between `fromUs` and `toUs`
 * (microseconds of CLOCK_MONOTONIC, as `process.hrtime.bigint() / 1000n`), or over all samples when the
 * window misses the profile. Each sample is charged the time until the next one.
 */
export function summarizeProfile(profile: CpuProfile, window?: { fromUs: number; toUs: number }, top = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const windowed = window !== undefined && window.fromUs < profile.endTime && window.toUs > profile.startTime;
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let windowUs = 0;
  let idleUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (windowed && (t < window!.fromUs || t > window!.toUs)) continue;
    const duration = Math.max(0, Math.min(profile.timeDeltas[i + 1] ?? 0, 100_000));
    const frame = byId.get(profile.samples[i]);
    if (!frame) continue;
    windowUs += duration;
    if (frame.functionName === '(idle)') {
      idleUs += duration;
      continue;
    }
    const name = frame.url ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}` : frame.functionName || '(anonymous)';
    self.set(name, (self.get(name) ?? 0) + duration);
    const area = areaOf(frame.functionName, frame.url);
    areas.set(area, (areas.get(area) ?? 0) + duration);
  }
  const busyUs = windowUs - idleUs;
  const rows = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, percent: busyUs > 0 ? Math.round((us / busyUs) * 1000) / 10 : 0 }));
  return { windowMs: Math.round(windowUs / 1000), busyMs: Math.round(busyUs / 1000), windowed, functions: rows(self), areas: rows(areas) };
}
