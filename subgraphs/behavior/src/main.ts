import { runService } from '../../../kit/runService';
import { startSubgraph } from '../../kit/subgraphServer';
import { loadBehaviorConfig } from './config';
import { createBehaviorSubgraph } from './createBehaviorSubgraph';

runService('behavior', async () => {
  const config = loadBehaviorConfig({ env: process.env, argv: process.argv.slice(2) });
  const { definition } = createBehaviorSubgraph(config);
  return startSubgraph(definition, config);
});
