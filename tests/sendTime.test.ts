import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_FILE, OPERATIONS_DIR, readManifest, sha256Hex } from '../kit/operationManifest';
import { buildOperationManifest } from '../scripts/buildOperationManifest';
import { DAY, event, product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

const manifest = readManifest();
const hashOf = (name: string) => manifest.operations.find((op) => op.name === name)!.id;
const persisted = (name: string, variables: Record<string, unknown>) => ({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(name) } } });

async function seed(stack: InProcessStack): Promise<void> {
  const now = stack.clock.now();
  await stack.stock.store.seed([product('A1', 5), product('A2', 0), product('A3', 7), product('A4', 3), product('A5', 9)]);
  await stack.crm.store.seed([user('u1'), user('u2', { consentPersonalization: false })]);
  await stack.behavior.store.trackEvents([event('u1', 'A1', 'VIEW', now, DAY), event('u1', 'A2', 'VIEW', now, 2 * DAY), event('u1', 'A3', 'ADD_TO_CART', now, 3 * DAY)]);
  for (let i = 0; i < 5; i++) await stack.behavior.store.trackEvents([event(`crowd${i}`, 'A4', 'VIEW', now, DAY), event(`crowd${i}`, 'A5', 'VIEW', now, 2 * DAY)]);
}

/** POSTs `body` to `url` (the stack's gateway), with the stack's development key. */
async function post(stack: InProcessStack, url: string, body: unknown) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...stack.auth }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

describe('persisted operations', () => {
  it('are listed in a manifest that maps the sha256 of each file, exactly as committed, to its text', () => {
    expect(readFileSync(MANIFEST_FILE, 'utf8')).toBe(`${JSON.stringify(buildOperationManifest(), null, 2)}\n`);
    for (const op of manifest.operations) {
      const file = readFileSync(join(OPERATIONS_DIR, `${op.name.replace(/[A-Z]/g, (c, i) => (i ? '-' : '') + c.toLowerCase())}.graphql`), 'utf8');
      expect(op.id).toBe(sha256Hex(file));
      expect(op.body).toBe(file);
    }
    expect(manifest.operations.map((op) => op.name).sort()).toEqual(['CampaignBatch', 'PersonalizeRecipient', 'RecipientProfile', 'RecipientRecommendations']);
  });
});

describe('send-time API', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack();
    await seed(stack);
  });
  afterAll(() => stack.close());
  const gateway = () => `${stack.urls.gateway}/graphql`;

  describe('hash-only persisted operations', () => {
    it('are answered on the first try over POST', async () => {
      const res = await post(stack, gateway(), persisted('RecipientProfile', { id: 'u1' }));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        data: { user: { id: 'u1', email: 'u1@example.com', firstName: 'First u1', lastName: 'Last u1', locale: 'en-GB', timezone: 'Europe/London', loyaltyTier: 'SILVER', segments: ['fixture'] } },
      });
    });

    it('are answered on the first try over GET, cacheable by a CDN for profile data', async () => {
      const { variables, extensions } = persisted('RecipientProfile', { id: 'u1' });
      const url = `${gateway()}?variables=${encodeURIComponent(JSON.stringify(variables))}&extensions=${encodeURIComponent(JSON.stringify(extensions))}`;
      const response = await fetch(url, { headers: stack.auth });
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('max-age=300, private');
      expect(((await response.json()) as any).data.user.id).toBe('u1');
    });

    it.each(['PersonalizeRecipient', 'RecipientRecommendations'])('answer %s with in-stock recommendations and no-store', async (name) => {
      const res = await post(stack, gateway(), persisted(name, { id: 'u1', limit: 3 }));
      expect(res.body.errors).toBeUndefined();
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body.data.user.recommendations.map((r: any) => [r.product.sku, r.reason])).toEqual([
        ['A3', 'ADDED_TO_CART'],
        ['A1', 'RECENTLY_VIEWED'],
        ['A4', 'TRENDING'],
      ]);
    });

    it('answer CampaignBatch for many recipients, null where unknown', async () => {
      const res = await post(stack, gateway(), persisted('CampaignBatch', { ids: ['u2', 'ghost', 'u1'] }));
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data.users.map((u: any) => u && u.id)).toEqual(['u2', null, 'u1']);
    });

    it('refuse an unknown hash with PERSISTED_QUERY_NOT_FOUND, so a client can register it', async () => {
      const res = await post(stack, gateway(), { extensions: { persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } } });
      expect(res.body.errors).toEqual([expect.objectContaining({ message: 'PersistedQueryNotFound', extensions: expect.objectContaining({ code: 'PERSISTED_QUERY_NOT_FOUND' }) })]);
    });

    it('keep ad-hoc queries working', async () => {
      expect((await post(stack, gateway(), { query: '{ user(id: "u1") { firstName } }' })).body).toEqual({ data: { user: { firstName: 'First u1' } } });
    });
  });

  describe('HTTP-batched operations', () => {
    it('answer each operation on its own: one bad operation never fails the others', async () => {
      const res = await post(stack, gateway(), [
        persisted('RecipientProfile', { id: 'u1' }),
        { query: '{ user(id: "u1") { nope } }' },
        { query: 'query($ids: [ID!]!) { users(ids: $ids) { id } }', variables: { ids: Array.from({ length: 501 }, (_, i) => `x${i}`) } },
        { query: '{ user(id: "u2") { firstName } }' },
      ]);
      expect(res.status).toBe(200);
      expect(res.body).toHaveLength(4);
      expect(res.body[0].data.user.id).toBe('u1');
      expect(res.body[1]).toEqual({
        errors: [{ message: 'Cannot query field "nope" on type "User".', locations: [{ line: 1, column: 20 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }],
      });
      expect(res.body[2].errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(res.body[3]).toEqual({ data: { user: { firstName: 'First u2' } } });
    });

    it('refuse a batch over the documented limit (TAILOR_MAX_BATCH_OPERATIONS, 25) with 413', async () => {
      const res = await post(stack, gateway(), Array.from({ length: 26 }, () => ({ query: '{ __typename }' })));
      expect(res).toEqual({
        status: 413,
        headers: expect.anything(),
        body: { errors: [{ message: 'The batch has 26 operations; the limit is 25. Split it into smaller batches.', extensions: { code: 'BATCH_TOO_LARGE' } }] },
      });
    });
  });

  describe('REST routes', () => {
    const rest = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.urls.gateway}${path}`, { headers: { ...stack.auth, ...headers } });

    it('GET /api/v1/users/{id}/profile returns the profile fields, cacheable for their TTL', async () => {
      const response = await rest('/api/v1/users/u1/profile');
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('max-age=300, private');
      expect(await response.json()).toEqual({
        id: 'u1',
        email: 'u1@example.com',
        firstName: 'First u1',
        lastName: 'Last u1',
        locale: 'en-GB',
        timezone: 'Europe/London',
        loyaltyTier: 'SILVER',
        segments: ['fixture'],
      });
    });

    it('GET /api/v1/users/{id}/recommendations returns flat in-stock recommendations, no-store', async () => {
      const response = await rest('/api/v1/users/u1/recommendations?limit=2');
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({
        id: 'u1',
        recommendations: [
          { reason: 'ADDED_TO_CART', score: expect.any(Number), sku: 'A3', name: 'Product A3', brand: 'Fixture', price: { amount: '49.90', currency: 'GBP', formatted: '£49.90' }, imageUrl: 'https://images.tailor.example/products/A3.jpg', url: 'https://shop.tailor.example/p/A3', inStock: true },
          { reason: 'RECENTLY_VIEWED', score: expect.any(Number), sku: 'A1', name: 'Product A1', brand: 'Fixture', price: { amount: '49.90', currency: 'GBP', formatted: '£49.90' }, imageUrl: 'https://images.tailor.example/products/A1.jpg', url: 'https://shop.tailor.example/p/A1', inStock: true },
        ],
      });
    });

    it('GET /api/v1/users/{id}/personalization returns profile, consent and recommendations in one call, no-store', async () => {
      const response = await rest('/api/v1/users/u2/personalization?limit=1');
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = (await response.json()) as any;
      expect(body).toMatchObject({ id: 'u2', firstName: 'First u2', consent: { email: true, personalization: false }, recentlyViewed: [] });
      expect(body.recommendations).toEqual([expect.objectContaining({ reason: 'TRENDING', sku: 'A4', inStock: true })]);
    });

    it.each([
      ['/api/v1/users/ghost/profile', 404, { error: { code: 'NOT_FOUND', message: 'No user with id "ghost".' } }],
      ['/api/v1/users/u1/recommendations?limit=many', 400, { error: { code: 'BAD_USER_INPUT', message: 'Parameter "limit" must be a whole number, got "many".', parameter: 'limit' } }],
      ['/api/v1/users/u1/recommendations?limit=-2', 400, { error: { code: 'BAD_USER_INPUT', message: 'Argument "limit": must be 0 or more, got -2.', parameter: 'limit' } }],
      ['/api/v1/users/u1/profile?fields=all', 400, { error: { code: 'BAD_USER_INPUT', message: 'Unknown parameter "fields". Known: none.', parameter: 'fields' } }],
      ['/api/v1/users/u1/orders', 404, { error: { code: 'NOT_FOUND', message: 'No route /api/v1/users/u1/orders. Routes: /api/v1/users/:id/profile, /api/v1/users/:id/recommendations, /api/v1/users/:id/personalization.' } }],
    ])('GET %s answers %i with a JSON body', async (path, status, body) => {
      const response = await rest(path);
      expect(response.status).toBe(status);
      expect(await response.json()).toEqual(body);
    });

    it('sends an ETag and answers a matching If-None-Match with 304', async () => {
      const first = await rest('/api/v1/users/u1/profile');
      const etag = first.headers.get('etag')!;
      expect(etag).toMatch(/^"[\w-]{27}"$/);
      const again = await rest('/api/v1/users/u1/profile', { 'if-none-match': etag });
      expect(again.status).toBe(304);
      expect(again.headers.get('etag')).toBe(etag);
      expect(await again.text()).toBe('');
      const changed = await rest('/api/v1/users/u1/profile', { 'if-none-match': '"something-else"' });
      expect(changed.status).toBe(200);
    });
  });
});

describe('REST routes with a subgraph down', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    // A circuit that never opens keeps every answer's wording the same, whatever the order of the tests.
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_BREAKER_FAILURES: '1000' } });
    await seed(stack);
    await stack.stopSubgraph('stock');
  });
  afterAll(() => stack.close());

  it('answer 503 with Retry-After when nothing usable is left without it (recommendations without stock)', async () => {
    const response = await fetch(`${stack.urls.gateway}/api/v1/users/u1/recommendations`, { headers: stack.auth });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toEqual({
      error: { code: 'SUBGRAPH_UNAVAILABLE', message: 'A service this answer needs is unavailable; retry in 1 s.', degraded: ['stock'] },
    });
  });

  it('answer 200 with "degraded" when the answer is usable with fallbacks (a profile, recommendations [])', async () => {
    const response = await fetch(`${stack.urls.gateway}/api/v1/users/u1/personalization`, { headers: stack.auth });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: 'u1', firstName: 'First u1', recentlyViewed: [], recommendations: [], degraded: ['stock'] });
  });

  it('make /graphql answer 503 with Retry-After when a root field is lost, keeping the data it could get', async () => {
    const res = await post(stack, `${stack.urls.gateway}/graphql`, { query: '{ user(id: "u1") { firstName } product(sku: "A1") { name } }' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.body).toEqual({
      data: { user: { firstName: 'First u1' }, product: null },
      errors: [{ message: 'The stock service is unavailable.', extensions: { code: 'SUBGRAPH_UNAVAILABLE', service: 'stock', reason: 'connection' } }],
      extensions: { degraded: ['stock'] },
    });
  });

  it('still answer a route that does not need the stopped subgraph', async () => {
    expect((await fetch(`${stack.urls.gateway}/api/v1/users/u1/profile`, { headers: stack.auth })).status).toBe(200);
  });
});

describe('persisted operations only (TAILOR_AD_HOC_QUERIES=false)', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_AD_HOC_QUERIES: 'false' } });
    await seed(stack);
  });
  afterAll(() => stack.close());

  it('refuses an ad-hoc query and answers a persisted one', async () => {
    const adHoc = await post(stack, `${stack.urls.gateway}/graphql`, { query: '{ user(id: "u1") { firstName } }' });
    expect(adHoc).toEqual({
      status: 400,
      headers: expect.anything(),
      body: {
        errors: [
          {
            message: 'This gateway answers persisted operations only: send extensions.persistedQuery.sha256Hash of an operation in its manifest.',
            extensions: { code: 'PERSISTED_QUERY_REQUIRED' },
          },
        ],
      },
    });
    const known = await post(stack, `${stack.urls.gateway}/graphql`, persisted('RecipientProfile', { id: 'u1' }));
    expect(known.body.data.user.id).toBe('u1');
  });

  it('still serves the REST routes, which run persisted operations', async () => {
    expect((await fetch(`${stack.urls.gateway}/api/v1/users/u1/profile`, { headers: stack.auth })).status).toBe(200);
  });
});
