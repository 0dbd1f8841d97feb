import { rmSync } from 'node:fs';
import { TEST_LOG_DIR_ENV, scanLogsForPersonalData } from './testLogs';

/**
 * After every test file: no log line written during the whole run may hold a user's email address or
 * name. The run fails, naming the lines, when one does.
 */
export default function globalTeardown(): void {
  const dir = process.env[TEST_LOG_DIR_ENV];
  if (!dir) return;
  const found = scanLogsForPersonalData(dir);
  if (found.length > 0) {
    const sample = found.slice(0, 5).map((f) => `  ${f.file}: ${f.line.slice(0, 300)}`).join('\n');
    throw new Error(`${found.length} log line(s) written during the test run hold personal data (kept in ${dir}):\n${sample}`);
  }
  rmSync(dir, { recursive: true, force: true });
}
