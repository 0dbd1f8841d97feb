import './telemetry';
import cluster from 'node:cluster';
import { createLogger } from '../../kit/logger';
import { runService } from '../../kit/runService';
import { setupTracing } from '../../kit/tracing';
import { loadGatewayConfig } from './config';
import { startGatewayWorkers } from './gatewayCluster';
import { startGateway } from './startGateway';

runService('gateway', async () => {
  const config = loadGatewayConfig({ env: process.env, argv: process.argv.slice(2) });
  const logger = createLogger('gateway', config.logLevel);
  // TAILOR_GATEWAY_WORKERS above 1: this process starts the workers, each of which runs this script.
  if (config.workers > 1 && cluster.isPrimary) return startGatewayWorkers(config.workers, logger);
  // Before the gateway serves: its spans (and Apollo Gateway's own) go to the collector, if one is set.
  setupTracing({ service: 'gateway', endpoint: config.otlpEndpoint, sampleRatio: config.traceSampleRatio });
  return startGateway(config, logger);
});
