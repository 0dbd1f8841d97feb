import { runService } from '../../../kit/runService';
import { startSubgraph } from '../../kit/subgraphServer';
import { loadStockConfig } from './config';
import { createStockSubgraph } from './createStockSubgraph';

runService('stock', async () => {
  const config = loadStockConfig({ env: process.env, argv: process.argv.slice(2) });
  const { definition } = await createStockSubgraph(config);
  return startSubgraph(definition, config);
});
