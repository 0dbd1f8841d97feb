import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, type ConfigSource, type Settings, loadConfig, settingTypes } from '../kit/config';
import { type Stack, startStack } from './startStack';

/** Settings of `npm start`: where the data lives and which ports the processes use. */
export const stackSettings = {
  dataDir: { env: 'TAILOR_DATA_DIR', flag: 'data-dir', schema: settingTypes.string('data'), doc: 'Folder of the SQLite databases.' },
  gatewayPort: { env: 'TAILOR_GATEWAY_PORT', flag: 'gateway-port', schema: settingTypes.port(4000), doc: 'Gateway port.' },
  subgraphPorts: {
    env: 'TAILOR_SUBGRAPH_PORTS',
    flag: 'subgraph-ports',
    schema: settingTypes.portMap(),
    doc: 'Ports of subgraphs by name, e.g. `crm=5001,stock=0` (0 picks a free one), instead of the port of their `routing_url` in `schema/supergraph.yaml`.',
  },
} satisfies Settings;

async function main(source: ConfigSource): Promise<void> {
  const config = loadConfig(stackSettings, source);
  process.stdout.write(`Starting Tailor (data in ${resolve(config.dataDir)}; the first start seeds the demo data)…\n`);
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second Ctrl-C (or SIGTERM): no more waiting for the drain.
      process.stdout.write('Killing every process of Tailor.\n');
      stack?.kill();
      process.exit(128 + osConstants.signals[signal]);
    }
    stopping = true;
    process.stdout.write('\nStopping Tailor: draining in-flight requests (Ctrl-C again to kill at once)…\n');
    // The stack restarts nothing from here on: a process that exits now was asked to.
    await stack?.stop();
    process.stdout.write('Stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // Once the stack is up, a process that stops unexpectedly is started again on its port, with backoff
  // (DEFAULT_RESTART_POLICY), and the launcher logs each restart; the others keep serving meanwhile.
  stack = await startStack({ dataDir: config.dataDir, gatewayPort: config.gatewayPort, subgraphPorts: config.subgraphPorts, supervise: true });
  const { gateway, ...subgraphs } = stack.services;
  const width = Math.max(8, ...Object.keys(stack.services).map((name) => name.length), ...Object.keys(stack.remote).map((name) => name.length)) + 2;
  process.stdout.write(
    [
      '',
      'Tailor is running.',
      `  ${'GraphQL'.padEnd(width)}${gateway.url}/graphql`,
      `  ${'Sandbox'.padEnd(width)}${gateway.url}/  (health ${gateway.url}/health, ready ${gateway.url}/ready, metrics ${gateway.url}/metrics)`,
      ...Object.values(subgraphs).map((s) => `  ${s.name.padEnd(width)}${s.url}/graphql`),
      ...Object.entries(stack.remote).map(([name, url]) => `  ${name.padEnd(width)}${url}  (not started here: routed to)`),
      '',
      ...(stack.devKey
        ? [
            `Development key (every scope; in ${join(resolve(config.dataDir), 'dev-key')}, never made in production):`,
            `  ${stack.devKey}`,
            '',
            'Try it (or open the sandbox, which sends the key for you):',
            `  curl -s ${gateway.url}/graphql -H 'content-type: application/json' -H "authorization: Bearer $(cat ${join(config.dataDir, 'dev-key')})" \\`,
          ]
        : ['Try it, with a client key (npm run keys -- create …):', `  curl -s ${gateway.url}/graphql -H 'content-type: application/json' -H 'authorization: Bearer <key>' \\`]),
      `    -d '{"query":"{ user(id: \\"u-00001\\") { firstName recommendations(limit: 4) { reason product { name price { formatted } inStock } } } }"}'`,
      '',
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}

if (require.main === module) {
  main({ env: process.env, argv: process.argv.slice(2) }).catch((error) => {
    process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `Tailor failed to start: ${(error as Error).message}\n`);
    process.exit(error instanceof ConfigError ? 2 : 1);
  });
}
