/**
 * Smoke test of `npm run bench`: the benchmark runs end to end in `--short` mode over the real four
 * processes (twice: Tailor and the baseline, then the fault scenario on Tailor's) and writes a complete
 * JSON result. No timing is asserted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK_ONLY, REPO_ROOT } from './support/processStack';

jest.setTimeout(240_000);

interface Finished {
  code: number | null;
  output: string;
}

/** Runs `node --import tsx bench/run.ts ...args` from the repository root, killing it after `timeoutMs`. */
function runBench(args: string[], env: Record<string, string> = {}, timeoutMs = 220_000): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', 'bench/run.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    // SIGINT lets the benchmark stop the stack it started before it exits.
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

const positive = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value > 0;

describe('npm run bench', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tailor-bench-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a bad flag with a message naming it and exit code 2', async () => {
    const { code, output } = await runBench(['--bogus', '1', '--duration', 'soon'], {}, 60_000);
    expect(code).toBe(2);
    expect(output).toContain('--bogus: unknown flag');
    expect(output).toContain('--duration="soon": must be a number');
  });

  it('runs end to end in --short mode and writes every section of the JSON result', async () => {
    const out = join(dir, 'result.json');
    // A generous subgraph time-out: a loaded test machine must not turn into failed recipients.
    const { code, output } = await runBench(['--short', '--out', out], { TAILOR_SUBGRAPH_TIMEOUT_MS: '30000', TAILOR_REQUEST_DEADLINE_MS: '60000' });
    if (code !== 0) throw new Error(`bench exited with ${code}:\n${output.slice(-4000)}`);
    expect(output).toContain('Targets');
    expect(output).toMatch(/(PASS|MISS) {2}campaign ≥ 2,000 recipients\/s/);

    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(result.settings).toMatchObject({ mode: 'short', demoScale: 'small', userCount: 300, repetitions: 1 });
    expect(result.machine.cpuModel).toEqual(expect.any(String));
    expect(positive(result.machine.cpuCount)).toBe(true);
    expect(positive(result.machine.totalMemoryMb)).toBe(true);
    expect(result.machine.node).toBe(process.version);
    expect(result.code.commit).toEqual(expect.any(String));

    for (const variant of ['tailor', 'baseline'] as const) {
      const v = result[variant];
      expect(v.variant).toBe(variant);
      expect(v.env.TAILOR_BATCHING).toBe(variant === 'tailor' ? 'true' : 'false');
      expect(v.env.TAILOR_CACHE).toBe(variant === 'tailor' ? 'true' : 'false');

      expect(v.single.runs).toHaveLength(1);
      for (const key of ['requestsPerSecond', 'p50Ms', 'p99Ms']) expect([variant, key, positive(v.single.median[key])]).toEqual([variant, key, true]);
      expect(v.single.problems).toEqual({ non2xx: 0, errors: 0, badBodies: 0 });

      expect(v.campaign.grid).toHaveLength(4);
      expect(positive(v.campaign.batchSize)).toBe(true);
      expect(positive(v.campaign.concurrency)).toBe(true);
      expect(positive(v.campaign.median.recipientsPerSecond)).toBe(true);
      expect(v.campaign.failedRecipients).toBe(0);
      for (const run of [...v.campaign.grid, ...v.campaign.runs]) {
        expect(run.failedRecipients).toBe(0);
        expect(run.personalized).toBe(run.recipients);
      }
      expect(v.campaign.runs.map((r: { recipients: number }) => r.recipients)).toEqual([2000]);

      for (const service of ['gateway', 'crm', 'stock', 'behavior']) {
        const cost = v.cost.perProcess[service];
        expect([variant, service, positive(cost.cpuSecondsPer1000Recipients), positive(cost.peakRssMb)]).toEqual([variant, service, true, true]);
      }
      expect(positive(v.cost.totalCpuSecondsPer1000Recipients)).toBe(true);
    }

    for (const key of ['singleRequestsPerSecond', 'singleP99', 'campaignRecipientsPerSecond', 'campaignCpuPer1000Recipients']) {
      expect([key, positive(result.ratios[key])]).toEqual([key, true]);
    }
    // The fault scenario ran too (behavior slowed, then healed), one run and one heal each.
    expect(result.settings.scenarios).toEqual(['compare', 'fault']);
    expect(result.fault).toMatchObject({ slowMs: 3000, connections: 16, healthy: { runs: [expect.anything()] }, slowed: { runs: [expect.anything()] } });
    expect(result.fault.recovery.cycles).toHaveLength(1);
    expect(output).toMatch(/(PASS|MISS) {2}usable answers with behavior slowed = 100%/);

    expect(result.targets.map((t: { id: string }) => t.id)).toEqual([
      'campaignThroughput',
      'singleP99',
      'campaignVsBaseline',
      'faultP99VsDeadline',
      'faultUsable',
      'faultRecovery',
    ]);
    for (const target of result.targets) expect(typeof target.pass).toBe('boolean');
  });
});
