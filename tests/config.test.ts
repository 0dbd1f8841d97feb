import { loadConfig } from '../kit/config';
import { problemsOf } from './support/configProblems';
import { stackSettings } from '../scripts/start';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { loadStockConfig } from '../subgraphs/stock/src/config';
import { loadBehaviorConfig } from '../subgraphs/behavior/src/config';
import { DEFAULT_SUPERGRAPH, loadGatewayConfig } from '../gateway/src/config';



describe('configuration', () => {
  it('gives every setting a default, so a bare start needs nothing', () => {
    expect(loadGatewayConfig({ env: {}, argv: [] })).toMatchObject({ port: 4000, host: '127.0.0.1', supergraph: DEFAULT_SUPERGRAPH, subgraphUrls: {}, maxQueryDepth: 12 });
    expect(loadCrmConfig({ env: {}, argv: [] })).toMatchObject({ port: 4001, dataDir: 'data', seed: 'demo', cache: true, batching: true });
    expect(loadStockConfig({ env: {}, argv: [] })).toMatchObject({ port: 4002, inStockThreshold: 1, behaviorUrl: 'http://127.0.0.1:4003/graphql' });
    expect(loadBehaviorConfig({ env: {}, argv: [] })).toMatchObject({ port: 4003, signalWindowDays: 30, halfLifeDays: 3 });
  });

  it('takes flags over environment variables', () => {
    const config = loadGatewayConfig({ env: { TAILOR_PORT: '5000' }, argv: ['--port', '5001', '--supergraph=/tmp/x.graphql'] });
    expect(config).toMatchObject({ port: 5001, supergraph: '/tmp/x.graphql' });
  });

  it('names every bad setting in one error', () => {
    const problems = problemsOf(() =>
      loadGatewayConfig({ env: { TAILOR_MAX_QUERY_DEPTH: 'deep', TAILOR_SUBGRAPH_URLS: 'crm=nowhere', TAILOR_LOG_LEVEL: 'loud' }, argv: ['--port', '99999', '--colour', 'blue'] }),
    );
    expect(problems).toEqual([
      '--colour: unknown flag (known: --host, --log-level, --port, --workers, --supergraph, --subgraph-urls, --data-dir, --operation-manifest, --rest-routes, --sandbox-example)',
      'TAILOR_LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent',
      '--port="99999": must be 0..65535',
      'TAILOR_SUBGRAPH_URLS="crm=nowhere": "crm=nowhere" is not name=http://host:port/graphql (replicas: name=http://a/graphql|http://b/graphql)',
      'TAILOR_MAX_QUERY_DEPTH="deep": must be a number',
    ]);
  });

  it('refuses out-of-range subgraph settings', () => {
    expect(problemsOf(() => loadStockConfig({ env: { TAILOR_IN_STOCK_THRESHOLD: '0', TAILOR_BEHAVIOR_URL: 'behavior:4003' }, argv: [] }))).toEqual([
      'TAILOR_IN_STOCK_THRESHOLD="0": must be at least 1',
      'TAILOR_BEHAVIOR_URL="behavior:4003": must be an absolute http(s) URL',
    ]);
    expect(problemsOf(() => loadBehaviorConfig({ env: { TAILOR_HALF_LIFE_DAYS: '-1', TAILOR_CACHE: 'maybe', TAILOR_SEED: 'lots' }, argv: [] }))).toEqual([
      'TAILOR_SEED="lots": must be demo or none',
      'TAILOR_CACHE="maybe": must be true or false',
      'TAILOR_HALF_LIFE_DAYS="-1": must be greater than 0',
    ]);
  });

  it('reads npm start\'s subgraph ports by name, and names each bad pair', () => {
    expect(loadConfig(stackSettings, { env: { TAILOR_SUBGRAPH_PORTS: 'crm=0, loyalty=4010' }, argv: [] }).subgraphPorts).toEqual({ crm: 0, loyalty: 4010 });
    const problems = problemsOf(() => loadConfig(stackSettings, { env: {}, argv: ['--subgraph-ports', 'crm=70000,stock,behavior=x'] }));
    expect(problems).toEqual([
      '--subgraph-ports="crm=70000,stock,behavior=x": "crm=70000" is not name=port (a port is 0..65535); "stock" is not name=port (a port is 0..65535); "behavior=x" is not name=port (a port is 0..65535)',
    ]);
  });

  it('settles stock\'s behavior URL: its own setting, else the stack\'s routing table, else the default', () => {
    const urls = 'crm=http://127.0.0.1:5001/graphql,behavior=http://127.0.0.1:5003/graphql';
    expect(loadStockConfig({ env: { TAILOR_SUBGRAPH_URLS: urls }, argv: [] }).behaviorUrl).toBe('http://127.0.0.1:5003/graphql');
    expect(loadStockConfig({ env: { TAILOR_SUBGRAPH_URLS: urls, TAILOR_BEHAVIOR_URL: 'http://10.0.0.9:4003/graphql' }, argv: [] }).behaviorUrl).toBe('http://10.0.0.9:4003/graphql');
    expect(loadStockConfig({ env: {}, argv: [] }).behaviorUrl).toBe('http://127.0.0.1:4003/graphql');
  });

  it('refuses a flag without a value and a stray argument', () => {
    expect(problemsOf(() => loadCrmConfig({ env: {}, argv: ['stray', '--port'] }))).toEqual([
      '"stray": unexpected argument (settings are given as --name value)',
      '--port: missing value',
    ]);
  });
});
