import './telemetry';
import { createLogger } from '../../subgraphs/kit/logger';
import { runService } from '../../subgraphs/kit/runService';
import { loadGatewayConfig } from './config';
import { startGateway } from './startGateway';

runService('gateway', async () => {
  const config = loadGatewayConfig({ env: process.env, argv: process.argv.slice(2) });
  return startGateway(config, createLogger('gateway', config.logLevel));
});
