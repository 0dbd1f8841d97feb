import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { ConfigError, type ConfigSource, type Settings, loadConfig, settingTypes } from '../kit/config';
import { redactUrl } from '../subgraphs/kit/postgres';
import { z } from 'zod';
import { type Stack, startStack } from './startStack';

/**
 * `npm run start:cluster`: a local multi-replica topology on PostgreSQL and Redis, two gateways and two
 * replicas of each subgraph, every gateway routing each subgraph to both. It is `npm start` with
 * `replicas: 2, gateways: 2`: gateways on 4000 and 4100, crm on 4001 and 4101, stock on 4002 and 4102,
 * behavior on 4003 and 4103.
 */
export const clusterSettings = {
  dataDir: { env: 'TAILOR_DATA_DIR', flag: 'data-dir', schema: settingTypes.string('data/cluster'), doc: 'Folder of the gateways\' database and the stack\'s secrets.' },
  databaseUrl: {
    env: 'TAILOR_DATABASE_URL',
    flag: 'database-url',
    schema: z.url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// or postgresql:// URL' }).default('postgres://postgres@127.0.0.1:5432/tailor'),
    doc: 'The PostgreSQL database every replica shares (created if missing, when the user may).',
  },
  redisUrl: {
    env: 'TAILOR_REDIS_URL',
    flag: 'redis-url',
    schema: z.url({ protocol: /^rediss?$/, message: 'must be a redis:// or rediss:// URL' }).default('redis://127.0.0.1:6379'),
    doc: 'The Redis every process shares.',
  },
  replicas: { env: 'TAILOR_CLUSTER_REPLICAS', flag: 'replicas', schema: settingTypes.positiveInt(2, 9), doc: 'Processes of each subgraph.' },
  gateways: { env: 'TAILOR_CLUSTER_GATEWAYS', flag: 'gateways', schema: settingTypes.positiveInt(2, 9), doc: 'Gateway processes.' },
} satisfies Settings;

/** Creates the database when it does not exist (connecting to the server's `postgres` database). */
async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot reach PostgreSQL at ${redactUrl(admin.toString())}: ${(error as Error).message}`);
  }
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
      process.stdout.write(`Created the database ${name}.\n`);
    }
  } finally {
    await client.end();
  }
}

async function main(source: ConfigSource): Promise<void> {
  const config = loadConfig(clusterSettings, source);
  await ensureDatabase(config.databaseUrl);
  process.stdout.write(
    `Starting a Tailor cluster: ${config.gateways} gateways, ${config.replicas} replicas of each subgraph, on ${redactUrl(config.databaseUrl)} and ${redactUrl(config.redisUrl)} (data in ${resolve(config.dataDir)})…\n`,
  );
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      stack?.kill();
      process.exit(128 + osConstants.signals[signal]);
    }
    stopping = true;
    process.stdout.write('\nStopping the cluster (Ctrl-C again to kill at once)…\n');
    await stack?.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  stack = await startStack({
    dataDir: config.dataDir,
    gatewayPort: 4000,
    replicas: config.replicas,
    gateways: config.gateways,
    supervise: true,
    env: { TAILOR_DATABASE_URL: config.databaseUrl, TAILOR_REDIS_URL: config.redisUrl },
  });
  const lines = Object.values(stack.services).map((s) => `  ${s.name.padEnd(12)}${s.url}${s.name.startsWith('gateway') ? '/graphql' : ''}`);
  process.stdout.write(['', 'The Tailor cluster is running.', ...lines, '', stack.devKey ? `Development key: ${stack.devKey}` : '', 'Press Ctrl-C to stop.', ''].join('\n'));
}

if (require.main === module) {
  main({ env: process.env, argv: process.argv.slice(2) }).catch((error) => {
    process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `The Tailor cluster failed to start: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  });
}
