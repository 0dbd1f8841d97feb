import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { product, user } from './support/fixtures';
import { type TestDatabase, createTestDatabase } from './support/postgresServer';
import { type TcpProxy, startTcpProxy } from './support/tcpProxy';

// The subgraphs reach PostgreSQL through a TCP proxy this test cuts and restores: the database
// "goes away" without touching the machine's server, which other suites use at the same time.
describe('a subgraph whose PostgreSQL goes away while it runs', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let stack: InProcessStack;

  beforeAll(async () => {
    database = await createTestDatabase('outage');
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    stack = await startInProcessStack({ env: { TAILOR_DATABASE_URL: `postgres://postgres@127.0.0.1:${proxy.port}/${database.name}` } });
    await stack.crm.store.seed([user('u1')]);
    await stack.stock.store.seed([product('A1', 5)]);
  });
  afterAll(async () => {
    await stack?.close();
    await proxy?.close();
    await database?.drop();
  });

  const QUERY = '{ user(id: "u1") { id firstName consent { email } } product(sku: "A1") { sku inStock } }';

  it('answers, then SUBGRAPH_UNAVAILABLE for what it cannot read, then recovers by itself', async () => {
    const healthy = await stack.query(QUERY);
    expect([healthy.status, healthy.body]).toEqual([200, { data: { user: { id: 'u1', firstName: 'First u1', consent: { email: true } }, product: { sku: 'A1', inStock: true } } }]);

    await proxy.cut();
    const down = await stack.query(QUERY);
    // Consent and stock are live, never cached: with their databases away, the subgraphs say so
    // (the profile came from the cache, but a user without a readable consent cannot be answered).
    expect([down.status, down.body]).toEqual([
      503,
      {
        errors: [
          { message: 'The crm database cannot be reached right now.', path: ['user', 'consent'], extensions: { code: 'SUBGRAPH_UNAVAILABLE', service: 'crm', serviceName: 'crm' } },
          {
            message: 'The stock database cannot be reached right now.',
            path: ['product', 'inStock'],
            extensions: { code: 'SUBGRAPH_UNAVAILABLE', service: 'stock', serviceName: 'stock' },
          },
        ],
        data: { user: null, product: null },
        extensions: { degraded: ['crm', 'stock'] },
      },
    ]);

    await proxy.restore();
    const back = await stack.query(QUERY);
    expect([back.status, back.body]).toEqual([200, healthy.body]);
  });
});
