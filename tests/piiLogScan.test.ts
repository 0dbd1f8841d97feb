import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startInProcessStack } from './support/inProcessStack';
import { TEST_LOG_DIR_ENV, linesWithPersonalData } from './support/testLogs';

// The run-wide scan (tests/support/globalTeardown.ts) fails `npm test` when any log line written by
// the services under test holds an email address or a user's name. These tests prove that it sees
// the lines and that it recognises personal data.

describe('the scan of the test run\'s logs for personal data', () => {
  it('recognises email addresses and users\' names as logged values, and passes lines without them', () => {
    const lines = [
      '{"level":"info","service":"crm","msg":"listening"}',
      '{"level":"warn","service":"gateway","user":"finn.bernard.1@example.com"}',
      '{"level":"info","service":"crm","lastName":"Bernard"}',
      '{"level":"info","msg":"greeting Finn Bernard"}',
      '{"level":"info","service":"crm","lastName":"Last u-000007"}',
      '{"level":"info","service":"crm","deleted":{"profiles":1}}',
    ];
    expect(linesWithPersonalData(lines.join('\n'))).toEqual([lines[1], lines[2], lines[3], lines[4]]);
  });

  it('collects the lines of the services under test, where the scan reads them', async () => {
    const dir = process.env[TEST_LOG_DIR_ENV];
    expect(dir).toBeDefined();
    const before = new Set(readdirSync(dir!));
    const stack = await startInProcessStack({ seed: 'demo' });
    try {
      expect((await stack.query('{ user(id: "u-00001") { firstName email } }')).status).toBe(200);
    } finally {
      await stack.close();
    }
    const written = readdirSync(dir!).filter((f) => !before.has(f));
    const text = written.map((f) => readFileSync(join(dir!, f), 'utf8')).join('');
    // Each service of the stack wrote there (start-up lines at least), and none of it is personal.
    for (const service of ['crm', 'stock', 'behavior', 'gateway']) expect(text).toContain(`"service":"${service}"`);
    expect(linesWithPersonalData(text)).toEqual([]);
  });
});
