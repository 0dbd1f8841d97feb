import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');

/** Loads the gateway's entry modules in a fresh process and prints what the gateway package will see. */
function telemetrySettingWith(env: Record<string, string | undefined>): string {
  const script = "require('./gateway/src/startGateway'); process.stdout.write(String(process.env.APOLLO_TELEMETRY_DISABLED))";
  const childEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...env })) if (value !== undefined) childEnv[key] = value;
  return execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, env: childEnv, encoding: 'utf8' });
}

describe('gateway telemetry', () => {
  it('is switched off by the gateway itself before @apollo/gateway loads', () => {
    expect(telemetrySettingWith({ APOLLO_TELEMETRY_DISABLED: undefined })).toBe('true');
  });

  it('stays on only when an operator opts in explicitly', () => {
    expect(telemetrySettingWith({ APOLLO_TELEMETRY_DISABLED: 'false' })).toBe('false');
  });

  it('is imported before @apollo/gateway in every module that loads it', () => {
    for (const file of ['gateway/src/main.ts', 'gateway/src/startGateway.ts', 'gateway/src/subgraphDataSource.ts']) {
      const source = readFileSync(join(ROOT, file), 'utf8');
      const telemetry = source.indexOf("import './telemetry';");
      expect(telemetry).toBeGreaterThanOrEqual(0);
      const gateway = source.indexOf('@apollo/gateway');
      if (gateway >= 0) expect(telemetry).toBeLessThan(gateway);
    }
  });
});
