/**
 * `npm run bench:bombs`: the query bombs against the real processes. For each bomb it reports the
 * median time to refuse it, the gateway CPU it costs, and the gateway's `/health` latency while one
 * client sends it back to back; then the gateway's RSS. Targets: each bomb refused within 10 ms of
 * gateway CPU; `/health` p99 under 50 ms while each runs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../kit/operationManifest';
import { REPO_ROOT } from './config';
import { clockTicksPerSecond, readCpuSeconds } from './procStats';
import { median } from './report';
import { startBenchStack } from './stack';
import { requestHeaders } from './workloads';

/** One bomb: a request body and the error code it must be refused with. */
interface Bomb {
  name: string;
  body: string;
  code: string;
}

const ids = Array.from({ length: 500 }, (_, i) => `u-${String(i + 1).padStart(5, '0')}`);

function bombs(): Bomb[] {
  let fragments = 'fragment F26 on User { consent { email } }\n';
  for (let i = 25; i >= 0; i--) fragments += `fragment F${i} on User { ...F${i + 1} ...F${i + 1} }\n`;
  const depth = 50_000;
  const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: users(ids: $ids) { id }`).join(' ');
  const heavy = { query: 'query($ids: [ID!]!) { users(ids: $ids) { id recommendations(limit: 50) { product { sku name } } } }', variables: { ids } };
  const campaign = readManifest().operations.find((op) => op.name === 'CampaignBatch')!.body;
  return [
    { name: 'fragment explosion (2^26 spreads)', body: JSON.stringify({ query: `{ user(id: "u-00001") { ...F0 } }\n${fragments}` }), code: 'COST_LIMIT_EXCEEDED' },
    { name: 'depth 50,000', body: JSON.stringify({ query: `{${'a{'.repeat(depth)}b${'}'.repeat(depth)}}` }), code: 'GRAPHQL_PARSE_FAILED' },
    { name: '30 aliases × users(500 ids)', body: JSON.stringify({ query: `query($ids: [ID!]!) { ${aliases} }`, variables: { ids } }), code: 'COST_LIMIT_EXCEEDED' },
    { name: 'batch 25 × 500 users × 50 recs', body: JSON.stringify(Array.from({ length: 25 }, () => heavy)), code: 'COST_LIMIT_EXCEEDED' },
    { name: 'batch 3 × campaign of 500', body: JSON.stringify([1, 2, 3].map(() => ({ query: campaign, variables: { ids, limit: 4 } }))), code: 'COST_LIMIT_EXCEEDED' },
  ];
}

async function send(url: string, credential: string, body: string): Promise<{ ms: number; status: number; code: string }> {
  const started = performance.now();
  const response = await fetch(url, { method: 'POST', headers: requestHeaders(credential), body });
  const parsed = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
  return { ms: performance.now() - started, status: response.status, code: String(parsed.errors?.[0]?.extensions?.code ?? '') };
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];

async function main(): Promise<void> {
  const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 30);
  const dataDir = mkdtempSync(join(tmpdir(), 'tailor-bombs-'));
  const stack = await startBenchStack({ variant: 'tailor', demoScale: 'small', dataDir });
  const ticks = clockTicksPerSecond();
  const gatewayPid = stack.services.gateway.child.pid!;
  const graphql = stack.graphqlUrl;
  const credential = stack.devKey;
  try {
    const rows: { bomb: string; status: number; code: string; medianMs: number; gatewayCpuMsPerBomb: number; healthMedianMs: number; healthP99Ms: number }[] = [];
    const healthUrl = `${stack.services.gateway.url}/health`;
    for (const bomb of bombs()) {
      await send(graphql, credential, bomb.body); // warm-up: parse caches, JIT
      const times: number[] = [];
      let last = { status: 0, code: '' };
      const cpuBefore = readCpuSeconds(gatewayPid, ticks);
      for (let i = 0; i < rounds; i++) {
        const answer = await send(graphql, credential, bomb.body);
        times.push(answer.ms);
        last = answer;
      }
      const cpuMs = ((readCpuSeconds(gatewayPid, ticks) - cpuBefore) * 1000) / rounds;
      if (last.code !== bomb.code) throw new Error(`${bomb.name}: refused with ${last.code || `status ${last.status}`}, expected ${bomb.code}`);

      // The bomb sent back to back for 3 s by one client, while /health is probed every 20 ms.
      const stopAt = Date.now() + 3_000;
      const sender = (async () => {
        while (Date.now() < stopAt) await send(graphql, credential, bomb.body);
      })();
      const health: number[] = [];
      while (Date.now() < stopAt) {
        const started = performance.now();
        await (await fetch(healthUrl)).arrayBuffer();
        health.push(performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await sender;
      rows.push({ bomb: bomb.name, status: last.status, code: last.code, medianMs: median(times), gatewayCpuMsPerBomb: cpuMs, healthMedianMs: median(health), healthP99Ms: percentile(health, 99) });
    }
    const rssMb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${gatewayPid}/status`, 'utf8'))![1]) / 1024;

    const result = {
      rounds,
      bombs: rows,
      gatewayRssMbAfter: rssMb,
      targets: {
        refusedWithin10msCpu: rows.every((r) => r.gatewayCpuMsPerBomb < 10),
        healthUnder50ms: rows.every((r) => r.healthP99Ms < 50),
      },
    };
    console.log('| bomb | answer | median time to refuse | gateway CPU per bomb | /health while it runs: median / p99 |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.bomb} | ${r.status} ${r.code} | ${r.medianMs.toFixed(1)} ms | ${r.gatewayCpuMsPerBomb.toFixed(2)} ms | ${r.healthMedianMs.toFixed(1)} / ${r.healthP99Ms.toFixed(1)} ms |`);
    }
    console.log(`\nGateway RSS after: ${rssMb.toFixed(0)} MB.`);
    console.log(`Targets: each bomb < 10 ms gateway CPU: ${result.targets.refusedWithin10msCpu ? 'met' : 'MISSED'}; /health p99 < 50 ms while each runs: ${result.targets.healthUnder50ms ? 'met' : 'MISSED'}.`);
    const out = join(REPO_ROOT, 'bench', 'results', `bombs-${new Date().toISOString().replace(/:/g, '-')}.json`);
    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`Wrote ${out}`);
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
