import { join } from 'node:path';
import { type Stack, startStack } from '../scripts/startStack';
import { REPO_ROOT } from './config';

/** The preload that refuses any connection off the loopback interface; every benchmarked process loads it. */
export const LOOPBACK_GUARD = join(REPO_ROOT, 'tests', 'support', 'loopbackOnly.cjs');

/** The two configurations the benchmark compares. */
export type Variant = 'tailor' | 'baseline';

/** The processes the benchmark measures, in the order results list them: the gateway and the registry's three subgraphs. */
export type ServiceName = 'gateway' | 'crm' | 'stock' | 'behavior';

/** The service processes, in the order results list them. */
export const SERVICES: ServiceName[] = ['gateway', 'crm', 'stock', 'behavior'];

/**
 * Client quotas far above any load the benchmark sends with its one key: the gateway still counts every
 * operation against them (that work is measured), but never answers 429, which would count as a failure.
 */
export const BENCH_QUOTA_ENV = { TAILOR_CLIENT_RATE_PER_MINUTE: '1000000000000', TAILOR_CLIENT_DAILY_QUOTA: '1000000000000000' };

/** Environment of every process of a variant: Tailor as configured, or batching and LRU caches off. */
export function variantEnv(variant: Variant, demoScale: 'full' | 'small'): Record<string, string> {
  const on = variant === 'tailor' ? 'true' : 'false';
  return { TAILOR_BATCHING: on, TAILOR_CACHE: on, TAILOR_DEMO_SCALE: demoScale, TAILOR_LOG_LEVEL: 'warn', TAILOR_SEED: 'demo', ...BENCH_QUOTA_ENV };
}

/** A started stack, with the client key its gateway's requests carry. */
export type BenchStack = Stack & { devKey: string };

/** Options of `startBenchStack`. */
export interface BenchStackOptions {
  variant: Variant;
  demoScale: 'full' | 'small';
  dataDir: string;
  /** Environment of every process on top of the variant's (e.g. `TAILOR_DATABASE_URL` of the PostgreSQL run). */
  env?: Record<string, string>;
  /** Extra Node.js flags for every process (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Receives the processes' log lines (at `warn`, only problems and shutdown notices). */
  onLine?: (service: string, line: string) => void;
}

/** Throws unless `url` points at the loopback interface: the benchmark sends traffic nowhere else. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== '[::1]' && host !== 'localhost') throw new Error(`Refusing to benchmark ${url}: only 127.0.0.1 is allowed`);
}

/**
 * Starts the four real processes with `startStack` on free loopback ports over `dataDir` (seeded on the
 * first start; with `TAILOR_DATABASE_URL` in `env`, the subgraphs seed that database instead, and the
 * start waits for it, as every process reports that it listens only once it is seeded), each preloading the loopback guard, and checks the gateway is on 127.0.0.1 and made
 * its development key (`<dataDir>/dev-key`), which every benchmark request sends.
 */
export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const stack = await startStack({
    dataDir: options.dataDir,
    gatewayPort: 0,
    subgraphPorts: 'free',
    host: '127.0.0.1',
    env: { ...variantEnv(options.variant, options.demoScale), ...options.env },
    nodeArgs: ['--require', LOOPBACK_GUARD, ...(options.nodeArgs ?? [])],
    onLine: options.onLine ?? ((service, line) => process.stderr.write(`  [${service}] ${line}\n`)),
    startTimeoutMs: 120_000,
  });
  try {
    assertLoopback(stack.graphqlUrl);
    if (!stack.devKey) throw new Error(`The gateway made no development key in ${options.dataDir}/dev-key (is TAILOR_PROFILE=production or TAILOR_DEV_KEY=false set?): the benchmark needs a client key with every scope`);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack as BenchStack;
}
