import { createLogger } from '../../kit/logger';
import { counterTotal } from '../../kit/metrics';
import { type RunningService } from '../../kit/runService';
import { startSubgraph } from '../../subgraphs/kit/subgraphServer';
import { type CrmConfig, loadCrmConfig } from '../../subgraphs/crm/src/config';
import { type CrmSubgraph, createCrmSubgraph } from '../../subgraphs/crm/src/createCrmSubgraph';
import { loadStockConfig } from '../../subgraphs/stock/src/config';
import { type StockSubgraph, createStockSubgraph } from '../../subgraphs/stock/src/createStockSubgraph';
import { loadBehaviorConfig } from '../../subgraphs/behavior/src/config';
import { type BehaviorSubgraph, createBehaviorSubgraph } from '../../subgraphs/behavior/src/createBehaviorSubgraph';
import { loadGatewayConfig } from '../../gateway/src/config';
import { type RunningGateway, startGateway } from '../../gateway/src/startGateway';
import { type FakeClock, createFakeClock } from './fakeClock';
import { freePort } from '../../scripts/startStack';
import { TEST_LINK_KEYS, TEST_SUBGRAPH_SECRET } from './subgraphSigning';
import { testLogDestination } from './testLogs';

/** Options of an in-process stack. */
export interface InProcessOptions {
  /** `none` (default) starts empty databases; `demo` seeds the small demo data set. */
  seed?: 'none' | 'demo';
  /** Extra environment settings for every subgraph, e.g. `{ TAILOR_BATCHING: 'false' }`. */
  env?: Record<string, string>;
  /** Extra environment settings for the gateway, e.g. `{ TAILOR_MAX_QUERY_DEPTH: '3' }`. */
  gatewayEnv?: Record<string, string>;
  clock?: FakeClock;
}

/** A GraphQL answer as the client sees it. */
export interface GraphQLAnswer<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[] };
}

/** Three subgraphs and a gateway in this process, over real HTTP on free loopback ports. */
export interface InProcessStack {
  clock: FakeClock;
  crm: CrmSubgraph;
  stock: StockSubgraph;
  behavior: BehaviorSubgraph;
  gateway: RunningGateway;
  urls: { gateway: string; crm: string; stock: string; behavior: string };
  /** Sends an operation to the gateway, with the development key (every scope) or the `credential` given. */
  query<T = any>(query: string, variables?: Record<string, unknown>, credential?: string): Promise<GraphQLAnswer<T>>;
  /** `Authorization` headers with the development key, for requests sent another way. */
  auth: { authorization: string };
  /** SQL statements a subgraph has executed so far. */
  statements(service: 'crm' | 'stock' | 'behavior'): Promise<number>;
  /** Fetches the gateway has sent to a subgraph so far. */
  fetches(subgraph: 'crm' | 'stock' | 'behavior'): Promise<number>;
  /** Stops one subgraph's server, as if its process had died. */
  stopSubgraph(name: 'crm' | 'stock' | 'behavior'): Promise<void>;
  /** Cache look-ups of one cache with one result so far. */
  cacheRequests(service: 'crm' | 'stock' | 'behavior', cache: string, result: 'hit' | 'miss'): Promise<number>;
  close(): Promise<void>;
}

/** A service's logger: at `info` into the run's log folder (scanned for personal data at the end), else silent. */
const silent = (name: string) => {
  const destination = testLogDestination(name);
  return destination ? createLogger(name, 'info', destination) : createLogger(name, 'silent');
};

/** Deadlines far above any answer's time on a loaded machine. */
export const RELAXED_DEADLINES = { TAILOR_REQUEST_DEADLINE_MS: '60000', TAILOR_SUBGRAPH_TIMEOUT_MS: '30000' };

/** Times the stack is started again when the gateway's port was taken before it could listen. */
const PORT_ATTEMPTS = 5;

/**
 * Starts the stack in this process, with in-memory databases and a fake clock.
 *
 * The gateway's port is chosen before the subgraphs start (stock's live links point at it), so another socket
 * on the machine (a parallel suite's server, or an outgoing connection's local port) can take it in between;
 * the stack is then started again on another port rather than failing the test.
 */
export async function startInProcessStack(options: InProcessOptions = {}): Promise<InProcessStack> {
  const clock = options.clock ?? createFakeClock();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, clock);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

async function startOnce(options: InProcessOptions, clock: FakeClock): Promise<InProcessStack> {
  // One secret for the gateway and every subgraph: every request between them is signed and verified.
  const env = {
    TAILOR_DATA_DIR: ':memory:',
    TAILOR_SEED: options.seed ?? 'none',
    TAILOR_DEMO_SCALE: 'small',
    TAILOR_DB_SYNC: 'NORMAL',
    TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
    TAILOR_LINK_KEYS: TEST_LINK_KEYS,
    ...options.env,
  };
  // The gateway's port is settled first: stock points live links at it.
  const gatewayPort = await freePort('127.0.0.1');
  const source = { env, argv: [] };
  const crmConfig = loadCrmConfig(source);
  const behaviorConfig = loadBehaviorConfig(source);
  // Where each subgraph listens, and the credential it requires (its config's, as its main.ts passes it).
  const listen = ({ subgraphSecret, credentialToleranceSeconds }: Pick<CrmConfig, 'subgraphSecret' | 'credentialToleranceSeconds'>) => ({
    host: '127.0.0.1',
    port: 0,
    subgraphSecret,
    credentialToleranceSeconds,
  });
  const crm = await createCrmSubgraph(crmConfig, { clock, logger: silent('crm') });
  const behavior = await createBehaviorSubgraph(behaviorConfig, { clock, logger: silent('behavior') });
  const running: RunningService[] = [];
  running.push(await startSubgraph(crm.definition, listen(crmConfig)));
  running.push(await startSubgraph(behavior.definition, listen(behaviorConfig)));
  const stockConfig = loadStockConfig({ env: { TAILOR_LINK_BASE_URL: `http://127.0.0.1:${gatewayPort}`, ...env, TAILOR_BEHAVIOR_URL: `${running[1].url}/graphql` }, argv: [] });
  const stock = await createStockSubgraph(stockConfig, {
    clock,
    logger: silent('stock'),
  });
  running.push(await startSubgraph(stock.definition, listen(stockConfig)));
  const [crmUrl, behaviorUrl, stockUrl] = running.map((r) => r.url);
  const byName = { crm: running[0], behavior: running[1], stock: running[2] };
  const stopped = new Set<RunningService>();
  let gateway: RunningGateway;
  try {
    gateway = await startGateway(
      loadGatewayConfig({
        // A loaded test machine must not turn into degraded answers: tests assert behaviour and counts, never speed.
        // Tests of the deadline itself set their own (tests/faults.e2e.test.ts runs a gateway with deadlines of its own).
        // Keys and the audit log in memory; the development key (every scope) is what `query` sends.
        env: {
          ...RELAXED_DEADLINES,
          TAILOR_DATA_DIR: ':memory:',
          TAILOR_SUBGRAPH_SECRET: env.TAILOR_SUBGRAPH_SECRET,
          ...(env.TAILOR_LINK_KEYS ? { TAILOR_LINK_KEYS: env.TAILOR_LINK_KEYS } : {}),
          ...options.gatewayEnv,
          TAILOR_SUBGRAPH_URLS: `crm=${crmUrl}/graphql,stock=${stockUrl}/graphql,behavior=${behaviorUrl}/graphql`,
        },
        argv: ['--port', String(gatewayPort)],
      }),
      silent('gateway'),
      { clock },
    );
  } catch (error) {
    // A gateway that refuses to start leaves no subgraph behind.
    await Promise.all(running.map((r) => r.close()));
    throw error;
  }
  const metricsOf = { crm: crm.definition.metrics, stock: stock.definition.metrics, behavior: behavior.definition.metrics };
  return {
    clock,
    crm,
    stock,
    behavior,
    gateway,
    urls: { gateway: gateway.url, crm: crmUrl, stock: stockUrl, behavior: behaviorUrl },
    auth: { authorization: `Bearer ${gateway.devKey}` },
    async query(query, variables, credential = gateway.devKey) {
      const response = await fetch(`${gateway.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLAnswer[`body`] };
    },
    statements: (service) => counterTotal(metricsOf[service].dbStatements),
    async stopSubgraph(name) {
      stopped.add(byName[name]);
      await byName[name].close();
    },
    fetches: (subgraph) => counterTotal(gateway.metrics.subgraphFetches, { subgraph }),
    cacheRequests: (service, cache, result) => counterTotal(metricsOf[service].cacheRequests, { cache, result }),
    async close() {
      await gateway.close();
      await Promise.all(running.filter((r) => !stopped.has(r)).map((r) => r.close()));
    },
  };
}
