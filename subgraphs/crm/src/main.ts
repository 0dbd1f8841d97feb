import { runService } from '../../../kit/runService';
import { startSubgraph } from '../../kit/subgraphServer';
import { loadCrmConfig } from './config';
import { createCrmSubgraph } from './createCrmSubgraph';

runService('crm', async () => {
  const config = loadCrmConfig({ env: process.env, argv: process.argv.slice(2) });
  const { definition } = await createCrmSubgraph(config);
  return startSubgraph(definition, config);
});
