import './telemetry';
import { createLogger } from '../../kit/logger';
import { runService } from '../../kit/runService';
import { setupTracing } from '../../kit/tracing';
import { loadGatewayConfig } from './config';
import { startGateway } from './startGateway';

runService('gateway', async () => {
  const config = loadGatewayConfig({ env: process.env, argv: process.argv.slice(2) });
  // Before the gateway serves: its spans (and Apollo Gateway's own) go to the collector, if one is set.
  setupTracing({ service: 'gateway', endpoint: config.otlpEndpoint, sampleRatio: config.traceSampleRatio });
  return startGateway(config, createLogger('gateway', config.logLevel));
});
