import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeSupergraph } from '../scripts/composition/composeSupergraph';
import { readRegistry, SUPERGRAPH_FILE } from '../scripts/composition/readRegistry';
import { loadGatewayConfig } from '../gateway/src/config';
import { type RunningGateway, startGateway } from '../gateway/src/startGateway';
import { supergraphHash } from '../gateway/src/supergraphFile';
import { createLogger } from '../kit/logger';
import { product, user } from './support/fixtures';
import { RELAXED_DEADLINES, type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { TEST_SUBGRAPH_SECRET } from './support/subgraphSigning';

/** Waits (bounded) until `check` holds; the file watcher reacts asynchronously. */
async function eventually(check: () => Promise<boolean>, what: string, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('supergraph hot reload', () => {
  let stack: InProcessStack;
  let gateway: RunningGateway;
  let dir: string;
  let file: string;
  const ask = async (query: string) => {
    const response = await fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.devKey}` }, body: JSON.stringify({ query }) });
    return { status: response.status, body: (await response.json()) as any };
  };
  const ready = async () => (await fetch(`${gateway.url}/ready`)).json() as Promise<any>;

  beforeEach(async () => {
    stack = await startInProcessStack();
    await stack.crm.store.seed([user('u1')]);
    await stack.stock.store.seed([product('A1', 5)]);
    dir = mkdtempSync(join(tmpdir(), 'tailor-reload-'));
    file = join(dir, 'supergraph.graphql');
    writeFileSync(file, readFileSync(SUPERGRAPH_FILE, 'utf8'));
    const urls = `crm=${stack.urls.crm}/graphql,stock=${stack.urls.stock}/graphql,behavior=${stack.urls.behavior}/graphql`;
    gateway = await startGateway(loadGatewayConfig({ env: { ...RELAXED_DEADLINES, TAILOR_DATA_DIR: ':memory:', TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET, TAILOR_SUBGRAPH_URLS: urls }, argv: ['--supergraph', file, '--port', '0'] }), createLogger('gateway', 'silent'));
  });
  afterEach(async () => {
    await gateway.close();
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('swaps to a new supergraph without a restart, and no request of a steady loop fails during the swap', async () => {
    const crmOnly = composeSupergraph(readRegistry().filter((s) => s.name === 'crm'));
    if (!('supergraphSdl' in crmOnly)) throw new Error(crmOnly.errors.join('\n'));
    expect((await ask('{ product(sku: "A1") { name } }')).body).toEqual({ data: { product: { name: 'Product A1' } } });

    // Three clients query without pause while the file changes; the loop is bounded in count.
    let swapped = false;
    const answers: { status: number; body: any }[] = [];
    const client = async () => {
      for (let i = 0; i < 400 && !(swapped && i > 20); i++) answers.push(await ask('{ user(id: "u1") { id firstName } }'));
    };
    const loop = Promise.all([client(), client(), client()]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    writeFileSync(file, crmOnly.supergraphSdl);
    await eventually(async () => (await ready()).supergraph === supergraphHash(crmOnly.supergraphSdl), 'the new supergraph');
    swapped = true;
    await loop;

    expect(answers.length).toBeGreaterThan(60);
    expect(answers.filter((a) => a.status !== 200 || a.body.errors)).toEqual([]);
    expect(answers.every((a) => a.body.data.user.firstName === 'First u1')).toBe(true);
    // The new schema is the one served: stock's fields are gone from it.
    expect((await ask('{ product(sku: "A1") { name } }')).body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('refuses a supergraph file that does not load, keeps serving the last good one, and says why on /ready', async () => {
    const before = await ready();
    writeFileSync(file, 'this is not a supergraph');
    await eventually(async () => (await ready()).lastRefusal !== undefined, 'the refusal');
    const after = await ready();
    expect(after).toEqual({
      status: 'ready',
      supergraph: before.supergraph,
      loadedAt: before.loadedAt,
      lastRefusal: { hash: supergraphHash('this is not a supergraph'), at: expect.any(String), reason: expect.stringMatching(/Syntax Error/) },
      subgraphs: before.subgraphs,
    });
    expect((await ask('{ product(sku: "A1") { name } user(id: "u1") { firstName } }')).body).toEqual({
      data: { product: { name: 'Product A1' }, user: { firstName: 'First u1' } },
    });
  });
});
