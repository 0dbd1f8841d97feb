/**
 * TAILOR_GATEWAY_WORKERS=2 on the real processes of `npm start` (small demo data set): two gateway
 * workers on one port, sharing one client quota and one /metrics through their primary (no Redis), and
 * a worker killed with SIGKILL started again while the other answers.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LOOPBACK_ONLY, type ProcessStack, REPO_ROOT, scrapeMetric, startProcessStack } from './support/processStack';

jest.setTimeout(120_000);
const execFileAsync = promisify(execFile);

/** The gateway workers of the primary `pid`: its live children running the gateway's script (Linux /proc; tsx's esbuild helper is a child too). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        // Field 4 of /proc/<pid>/stat is the parent's pid (after the command name, which is in parentheses).
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
        return parent === pid && state !== 'Z' && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(join('gateway', 'src', 'main.ts'));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** A request on a connection of its own, so that the cluster hands it to the next worker. */
async function ask(url: string, token: string, query: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, connection: 'close' },
    body: JSON.stringify({ query }),
    // A bound, not a timing assertion: a request that never gets an answer fails the test instead of hanging it.
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: await response.json() };
}

describe('TAILOR_GATEWAY_WORKERS=2', () => {
  let tailor: ProcessStack;
  let primary: number;

  beforeAll(async () => {
    tailor = await startProcessStack({ scale: 'small', env: { TAILOR_GATEWAY_WORKERS: '2' } });
    primary = tailor.stack.services.gateway.child.pid!;
  }, 200_000);
  afterAll(() => tailor?.stop(), 60_000);

  const gateway = () => tailor.url('gateway');
  const QUERY = '{ user(id: "u-00001") { id consent { email } } }';

  it('runs two workers on one port, each answering', async () => {
    const workers = childrenOf(primary);
    expect(workers).toHaveLength(2);
    const cpuOf = (pid: number) => {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(fields[11]) + Number(fields[12]);
    };
    const before = workers.map(cpuOf);
    for (let i = 0; i < 40; i++) expect(await ask(gateway(), tailor.devKey, QUERY)).toEqual({ status: 200, body: { data: { user: { id: 'u-00001', consent: { email: true } } } } });
    const after = workers.map(cpuOf);
    // Both did work: the connections went round the workers.
    expect(after[0]).toBeGreaterThan(before[0]);
    expect(after[1]).toBeGreaterThan(before[1]);
  });

  it('sums /metrics over the workers, whichever one answers the scrape', async () => {
    const fetched = async () => scrapeMetric(gateway(), 'tailor_subgraph_fetches_total', { subgraph: 'crm' });
    const before = await fetched();
    for (let i = 0; i < 10; i++) expect((await ask(gateway(), tailor.devKey, QUERY)).status).toBe(200);
    // Each query fetches crm once, on whichever worker served it; two scrapes, likely on different workers, agree.
    expect((await fetched()) - before).toBe(10);
    expect((await fetched()) - before).toBe(10);
  });

  it('counts one quota for a client across both workers', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('TAILOR_') && e[1] !== undefined));
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--require', LOOPBACK_ONLY, '--import', 'tsx', join('scripts', 'keys.ts'), 'create', '--name', 'workers-quota', '--scopes', 'recipients:read', '--rate-per-minute', '6', '--data-dir', tailor.dataDir],
      { cwd: REPO_ROOT, env },
    );
    const token = /(tlr_[A-Za-z0-9_-]+)/.exec(stdout)![1];
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await ask(gateway(), token, QUERY)).status);
    // Six in the minute, for the client as a whole: not six per worker.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
  });

  it('starts a killed worker again while the other one answers', async () => {
    const [victim, survivor] = childrenOf(primary);
    process.kill(victim, 'SIGKILL');
    // Once the primary has reaped it (its /proc entry is gone), no connection goes to it: until the new
    // worker listens, the survivor answers alone. (A connection handed over in the instant between the
    // kill and the reaping is lost with the worker: README, Running services on their own.)
    for (let i = 0; i < 200 && existsSync(`/proc/${victim}`); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(existsSync(`/proc/${victim}`)).toBe(false);
    for (let i = 0; i < 6; i++) expect((await ask(gateway(), tailor.devKey, QUERY)).status).toBe(200);
    let workers: number[] = [];
    for (let i = 0; i < 200; i++) {
      workers = childrenOf(primary);
      if (workers.length === 2 && !workers.includes(victim)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(workers).toHaveLength(2);
    expect(workers).toContain(survivor);
    expect(workers).not.toContain(victim);
  });
});
