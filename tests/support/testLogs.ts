import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type DestinationStream } from 'pino';
import { demoUsers, DEMO_SCALES } from '../../demo/demoData';

/**
 * Every log line the test run's services write, kept for one scan at the end (`scanLogsForPersonalData`):
 * the loggers of in-process stacks and the output of every process stack land in `TAILOR_TEST_LOG_DIR`.
 */
export const TEST_LOG_DIR_ENV = 'TAILOR_TEST_LOG_DIR';

/** Makes the run's log folder and names it in the environment, which the test workers inherit. */
export function createTestLogDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-test-logs-'));
  process.env[TEST_LOG_DIR_ENV] = dir;
  return dir;
}

/** A new file in the run's log folder: test files that share a worker process never share a file. */
const fileOf = (name: string) => {
  const dir = process.env[TEST_LOG_DIR_ENV]!;
  mkdirSync(dir, { recursive: true });
  return join(dir, `${process.pid}-${randomUUID()}-${name}.log`);
};

/** A log destination for an in-process service, or `undefined` outside a test run that keeps logs. */
export function testLogDestination(service: string): DestinationStream | undefined {
  if (!process.env[TEST_LOG_DIR_ENV]) return undefined;
  return pino.destination({ dest: fileOf(service), sync: true });
}

/** A sink for the lines of a process stack: each is appended as it arrives. */
export function testLogSink(name: string): (line: string) => void {
  if (!process.env[TEST_LOG_DIR_ENV]) return () => undefined;
  const file = fileOf(name);
  return (line) => appendFileSync(file, `${line}\n`);
}

/** What no log line may hold: every email address, and the demo users' and fixtures' names as logged values. */
export function personalDataPatterns(): { email: RegExp; names: Set<string> } {
  const names = new Set<string>();
  for (const scale of Object.values(DEMO_SCALES)) {
    for (const user of demoUsers(scale)) {
      names.add(`${user.firstName} ${user.lastName}`);
      names.add(JSON.stringify(user.lastName));
    }
  }
  return { email: /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/, names };
}

/** The lines of `text` that hold an email address or a user's name (as a JSON value, or first and last together). */
export function linesWithPersonalData(text: string, patterns = personalDataPatterns()): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    if (patterns.email.test(line) || [...patterns.names].some((name) => line.includes(name)) || /"Last u-[^"]*"/.test(line)) found.push(line);
  }
  return found;
}

/** Every log line of the run that holds personal data, with its file. */
export function scanLogsForPersonalData(dir: string): { file: string; line: string }[] {
  if (!existsSync(dir)) return [];
  const patterns = personalDataPatterns();
  return readdirSync(dir).flatMap((file) => linesWithPersonalData(readFileSync(join(dir, file), 'utf8'), patterns).map((line) => ({ file, line })));
}
