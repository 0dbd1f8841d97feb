import './telemetry';
import { createLogger } from '../../kit/logger';
import { runService } from '../../kit/runService';
import { loadGatewayConfig } from './config';
import { startGateway } from './startGateway';

runService('gateway', async () => {
  const config = loadGatewayConfig({ env: process.env, argv: process.argv.slice(2) });
  return startGateway(config, createLogger('gateway', config.logLevel));
});
