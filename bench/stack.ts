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

/** Environment of every process of a variant: Tailor as configured, or batching and LRU caches off. */
export function variantEnv(variant: Variant, demoScale: 'full' | 'small'): Record<string, string> {
  const on = variant === 'tailor' ? 'true' : 'false';
  return { TAILOR_BATCHING: on, TAILOR_CACHE: on, TAILOR_DEMO_SCALE: demoScale, TAILOR_LOG_LEVEL: 'warn', TAILOR_SEED: 'demo' };
}

/** Options of `startBenchStack`. */
export interface BenchStackOptions {
  variant: Variant;
  demoScale: 'full' | 'small';
  dataDir: string;
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
 * first start), each preloading the loopback guard, and checks the gateway is on 127.0.0.1.
 */
export async function startBenchStack(options: BenchStackOptions): Promise<Stack> {
  const stack = await startStack({
    dataDir: options.dataDir,
    gatewayPort: 0,
    subgraphPorts: 'free',
    host: '127.0.0.1',
    env: variantEnv(options.variant, options.demoScale),
    nodeArgs: ['--require', LOOPBACK_GUARD, ...(options.nodeArgs ?? [])],
    onLine: options.onLine ?? ((service, line) => process.stderr.write(`  [${service}] ${line}\n`)),
    startTimeoutMs: 120_000,
  });
  try {
    assertLoopback(stack.graphqlUrl);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
