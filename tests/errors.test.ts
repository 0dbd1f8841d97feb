import { formatClientError } from '../kit/errors';
import { product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

describe('client errors', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack();
    await stack.stock.store.seed([product('A1', 5)]);
    await stack.crm.store.seed([user('u1'), user('u2')]);
  });
  afterAll(() => stack.close());

  it('answers an unknown id with null, not an error', async () => {
    const res = await stack.query('{ user(id: "ghost") { id } userByEmail(email: "nobody@example.com") { id } product(sku: "NOPE") { sku } }');
    expect(res.body).toEqual({ data: { user: null, userByEmail: null, product: null } });
  });

  it('keeps the order of ids in users(ids:) and products(skus:), with null where unknown', async () => {
    const res = await stack.query('{ users(ids: ["u2", "ghost", "u1"]) { id } products(skus: ["NOPE", "A1"]) { sku } }');
    expect(res.body).toEqual({ data: { users: [{ id: 'u2' }, null, { id: 'u1' }], products: [null, { sku: 'A1' }] } });
  });

  it('refuses more than 500 ids with BAD_USER_INPUT naming the limit', async () => {
    const ids = Array.from({ length: 501 }, (_, i) => `u${i}`);
    const res = await stack.query('query($ids: [ID!]!) { users(ids: $ids) { id } }', { ids });
    expect(res.body).toEqual({
      data: null,
      errors: [
        {
          message: 'Argument "ids": at most 500 ids per query, got 501. Split the list into batches of 500.',
          path: ['users'],
          extensions: { code: 'BAD_USER_INPUT', argument: 'ids', serviceName: 'crm' },
        },
      ],
    });
  });

  it('refuses an aliased query bomb as a validation failure naming the limit', async () => {
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: user(id: "u1") { id }`).join(' ');
    const res = await stack.query(`{ ${aliases} }`);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      errors: [
        {
          message: 'The operation uses 31 aliases; the limit is 30.',
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 30, setting: 'TAILOR_MAX_ALIASES' },
        },
      ],
    });
  });

  it('refuses a request body over the gateway limit with 413', async () => {
    const response = await fetch(`${stack.urls.gateway}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...stack.auth },
      body: JSON.stringify({ query: `{ __typename }`, variables: { pad: 'x'.repeat(1_100_000) } }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ errors: [{ message: 'Request body is larger than the limit of 1048576 bytes.', extensions: { code: 'BATCH_TOO_LARGE' } }] });
  });

  it('answers malformed JSON with 400 and no stack trace', async () => {
    const response = await fetch(`${stack.urls.gateway}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...stack.auth }, body: '{"query": ' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ errors: [{ message: 'The request body is not valid JSON.', extensions: { code: 'BAD_USER_INPUT' } }] });
  });

  it('answers a wrongly typed variable with a validation error and no stack trace', async () => {
    const res = await stack.query('query($id: ID!) { user(id: $id) { id } }', { id: { nested: true } });
    expect(res.status).toBe(400);
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors![0].extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(JSON.stringify(res.body)).not.toMatch(/stacktrace|at .*\.ts:/);
  });
});

describe('client mistakes the gateway reports itself', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack();
  });
  afterAll(() => stack.close());

  const post = async (body: unknown) => {
    const response = await fetch(`${stack.urls.gateway}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...stack.auth }, body: JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  };

  it('answers an operationName the document does not hold with 400 OPERATION_RESOLUTION_FAILURE, saying so', async () => {
    expect(await post({ query: 'query A { user(id: "u1") { id } }', operationName: 'B' })).toEqual({
      status: 400,
      body: { errors: [{ message: 'Unknown operation named "B".', extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }] },
    });
  });

  it('answers two operations with none named with 400 OPERATION_RESOLUTION_FAILURE, saying so', async () => {
    expect(await post({ query: 'query A { user(id: "u1") { id } } query B { user(id: "u2") { id } }' })).toEqual({
      status: 400,
      body: { errors: [{ message: 'Must provide operation name if query contains multiple operations.', extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }] },
    });
  });

  it('answers a wrong method on a REST route with 405 METHOD_NOT_ALLOWED and Allow', async () => {
    const response = await fetch(`${stack.urls.gateway}/api/v1/users/u1/profile`, { method: 'POST', headers: stack.auth });
    expect({ status: response.status, allow: response.headers.get('allow'), body: await response.json() }).toEqual({
      status: 405,
      allow: 'GET, HEAD',
      body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Use GET for /api/v1/users/:id/profile.' } },
    });
  });

  it('answers a wrong method on an ingest route with 405 METHOD_NOT_ALLOWED and Allow', async () => {
    const response = await fetch(`${stack.urls.stock}/ingest/stock`);
    expect({ status: response.status, allow: response.headers.get('allow'), body: await response.json() }).toEqual({
      status: 405,
      allow: 'POST',
      body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Use POST to send a stock batch.' } },
    });
  });

  it('has each subgraph refuse a /graphql body over its own limit with 413, whoever sends it', async () => {
    const body = JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(5 * 1024 * 1024) } });
    for (const url of [stack.urls.crm, stack.urls.stock, stack.urls.behavior]) {
      const response = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 413,
        body: { errors: [{ message: 'Request body is larger than the limit of 4194304 bytes.', extensions: { code: 'BATCH_TOO_LARGE' } }] },
      });
    }
  });

  it('answers a POST that is not JSON with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const response = await fetch(`${stack.urls.gateway}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain', ...stack.auth }, body: '{ __typename }' });
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 415,
      body: { errors: [{ message: 'Send the operation as JSON, with Content-Type: application/json.', extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' } }] },
    });
  });

  it('answers a request target that is not a path with 400, and a bad escape in a REST path with 400 naming it', async () => {
    const { request } = await import('node:http');
    const raw = (path: string) =>
      new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const url = new URL(stack.urls.gateway);
        request({ host: url.hostname, port: url.port, path, method: 'GET', headers: stack.auth }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        })
          .on('error', reject)
          .end();
      });
    expect(await raw('http://[')).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message: 'The request target is not a valid path, e.g. /graphql?query=…' } } });
    expect(await raw('/api/v1/users/%ZZ/profile')).toEqual({
      status: 400,
      body: { error: { code: 'BAD_USER_INPUT', message: 'Path parameter "id" is not a valid percent-encoded UTF-8 string.', parameter: 'id' } },
    });
  });

  it('answers an unknown path with 404 NOT_FOUND listing the routes', async () => {
    const response = await fetch(`${stack.urls.gateway}/nowhere`);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 404,
      body: {
        error: {
          code: 'NOT_FOUND',
          message:
            'No route /nowhere. Routes: /graphql, /api/v1/users/:id/profile, /api/v1/users/:id/recommendations, /api/v1/users/:id/personalization, /health, /ready, /metrics, /.',
        },
      },
    });
  });
});

describe('query depth limit', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_MAX_QUERY_DEPTH: '3' } });
    await stack.crm.store.seed([user('u1')]);
  });
  afterAll(() => stack.close());

  it('refuses an operation deeper than TAILOR_MAX_QUERY_DEPTH, counting through fragments', async () => {
    const query = `
      query Deep { user(id: "u1") { ...Recs } }
      fragment Recs on User { recommendations { product { sku } } }`;
    const res = await stack.query(query);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      errors: [
        {
          message: 'The operation is 4 levels deep; the limit is 3.',
          extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 3, setting: 'TAILOR_MAX_QUERY_DEPTH' },
        },
      ],
    });
  });

  it('lets an operation at the limit through, and does not count introspection', async () => {
    expect((await stack.query('{ user(id: "u1") { consent { email } } }')).body).toEqual({ data: { user: { consent: { email: true } } } });
    const introspection = await stack.query('{ __schema { types { fields { type { ofType { ofType { name } } } } } } }');
    expect(introspection.body.errors).toBeUndefined();
  });
});

describe('formatClientError', () => {
  it('masks an unexpected error as INTERNAL_SERVER_ERROR and reports the original', () => {
    const reported: unknown[] = [];
    const out = formatClientError(
      { message: 'SqliteError: no such table: users', path: ['user'], extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x.ts:1'] } },
      (original) => reported.push(original),
    );
    expect(out).toEqual({ message: 'Internal server error. The details are in the server log.', path: ['user'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(reported).toHaveLength(1);
  });

  it('passes a known client error without its stack trace', () => {
    const out = formatClientError({ message: 'bad', extensions: { code: 'BAD_USER_INPUT', stacktrace: ['at x.ts:1'], argument: 'ids' } }, () => {
      throw new Error('must not report');
    });
    expect(out).toEqual({ message: 'bad', extensions: { code: 'BAD_USER_INPUT', argument: 'ids' } });
  });
});
