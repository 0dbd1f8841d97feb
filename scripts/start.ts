import { resolve } from 'node:path';
import { ConfigError, type ConfigSource, type Settings, loadConfig, settingTypes } from '../subgraphs/kit/config';
import { type Stack, startStack } from './startStack';

/** Settings of `npm start`: where the data lives and which ports the four processes use. */
export const stackSettings = {
  dataDir: { env: 'TAILOR_DATA_DIR', flag: 'data-dir', schema: settingTypes.string('data'), doc: 'Folder of the SQLite databases.' },
  gatewayPort: { env: 'TAILOR_GATEWAY_PORT', flag: 'gateway-port', schema: settingTypes.port(4000), doc: 'Gateway port.' },
  crmPort: { env: 'TAILOR_CRM_PORT', flag: 'crm-port', schema: settingTypes.port(4001), doc: 'CRM subgraph port.' },
  stockPort: { env: 'TAILOR_STOCK_PORT', flag: 'stock-port', schema: settingTypes.port(4002), doc: 'Stock subgraph port.' },
  behaviorPort: { env: 'TAILOR_BEHAVIOR_PORT', flag: 'behavior-port', schema: settingTypes.port(4003), doc: 'Behavior subgraph port.' },
} satisfies Settings;

async function main(source: ConfigSource): Promise<void> {
  const config = loadConfig(stackSettings, source);
  process.stdout.write(`Starting Tailor (data in ${resolve(config.dataDir)}; the first start seeds the demo data)…\n`);
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping Tailor: draining in-flight requests…\n');
    await stack?.stop();
    process.stdout.write('Stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  stack = await startStack({
    dataDir: config.dataDir,
    ports: { gateway: config.gatewayPort, crm: config.crmPort, stock: config.stockPort, behavior: config.behaviorPort },
  });
  const { gateway, crm, stock, behavior } = stack.services;
  for (const service of Object.values(stack.services)) {
    service.child.once('exit', (code, signal) => {
      if (stopping) return;
      process.stderr.write(`${service.name} stopped unexpectedly (${signal ?? `code ${code}`}); stopping the stack.\n`);
      void shutdown().then(() => process.exit(1));
    });
  }
  process.stdout.write(
    [
      '',
      'Tailor is running.',
      `  GraphQL   ${gateway.url}/graphql`,
      `  Gateway   ${gateway.url}/  (health ${gateway.url}/health, ready ${gateway.url}/ready, metrics ${gateway.url}/metrics)`,
      `  crm       ${crm.url}/graphql`,
      `  stock     ${stock.url}/graphql`,
      `  behavior  ${behavior.url}/graphql`,
      '',
      'Try it:',
      `  curl -s ${gateway.url}/graphql -H 'content-type: application/json' \\`,
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
