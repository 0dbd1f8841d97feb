import { runService } from '../../../kit/runService';
import { startSubgraph } from '../../kit/subgraphServer';
import { loadBehaviorConfig } from './config';
import { createBehaviorSubgraph } from './createBehaviorSubgraph';

runService('behavior', async () => {
  const config = loadBehaviorConfig({ env: process.env, argv: process.argv.slice(2) });
  const behavior = await createBehaviorSubgraph(config);
  // With TAILOR_NATS_URL set, a NATS server that cannot be reached stops the start-up, as a database
  // that cannot be opened does: the operator asked for the stream. Once connected, the client
  // reconnects by itself.
  await behavior.startEventStream();
  return startSubgraph(behavior.definition, config);
});
