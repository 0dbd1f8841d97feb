import { readFileSync } from 'node:fs';
import { buildSchema, parse } from 'graphql';
import { readManifest } from '../kit/operationManifest';
import { SUPERGRAPH_FILE } from '../scripts/composition/readRegistry';
import { operationCost, readCostPolicy } from '../gateway/src/operationCost';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// Operation cost, depth and size are bounded before anything is planned: the bombs are refused with
// their own code, and the shipped operations pass at their largest documented use.

const manifest = readManifest();
const bodyOf = (name: string) => manifest.operations.find((op) => op.name === name)!.body;
const hashOf = (name: string) => manifest.operations.find((op) => op.name === name)!.id;
const ids = (n: number) => Array.from({ length: n }, (_, i) => `u-${String(i + 1).padStart(5, '0')}`);

describe('operation limits at the gateway', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack({ seed: 'demo' });
  });
  afterAll(() => stack.close());

  const post = async (body: unknown) => {
    const response = await fetch(`${stack.urls.gateway}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...stack.auth }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  };

  it('lets the shipped operations through at their largest documented use: a campaign batch of 500 with 4 recommendations', async () => {
    const campaign = await post({ query: bodyOf('CampaignBatch'), variables: { ids: ids(500), limit: 4 } });
    expect(campaign.status).toBe(200);
    expect(campaign.body.errors).toBeUndefined();
    expect(campaign.body.data.users).toHaveLength(500);
    for (const name of ['PersonalizeRecipient', 'RecipientProfile', 'RecipientRecommendations']) {
      const single = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: hashOf(name) } }, variables: { id: 'u-00001', limit: 50 } });
      expect({ name, status: single.status, errors: single.body.errors }).toEqual({ name, status: 200, errors: undefined });
    }
    // Two campaign batches in one HTTP request fit the request budget.
    const two = await post([1, 2].map(() => ({ query: bodyOf('CampaignBatch'), variables: { ids: ids(500), limit: 4 } })));
    expect(two.status).toBe(200);
    expect(two.body.map((r: { errors?: unknown }) => r.errors)).toEqual([undefined, undefined]);
  });

  it('refuses 30 aliases of users(ids:) with 500 ids each, with its cost and the limit', async () => {
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: users(ids: $ids) { id }`).join(' ');
    expect(await post({ query: `query Amplified($ids: [ID!]!) { ${aliases} }`, variables: { ids: ids(500) } })).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'The operation costs 15000; the limit is 10000 (TAILOR_MAX_OPERATION_COST). Ask for fewer items (ids, limit) or split it.',
            extensions: { code: 'COST_LIMIT_EXCEEDED', cost: 15000, limit: 10000 },
          },
        ],
      },
    });
  });

  it('refuses an HTTP batch of 25 × 500 users × 50 recommendations before any of it runs', async () => {
    const before = await stack.fetches('crm');
    const operation = { query: 'query($ids: [ID!]!) { users(ids: $ids) { id recommendations(limit: 50) { product { sku name } } } }', variables: { ids: ids(500) } };
    expect(await post(Array.from({ length: 25 }, () => operation))).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'Operation 0 of the batch costs 50500; the limit is 10000 (TAILOR_MAX_OPERATION_COST). Ask for fewer items (ids, limit) or split it.',
            extensions: { code: 'COST_LIMIT_EXCEEDED', cost: 50500, limit: 10000, operation: 0 },
          },
        ],
      },
    });
    expect(await stack.fetches('crm')).toBe(before);
  });

  it('refuses an HTTP batch whose operations fit one by one but not together', async () => {
    const three = [1, 2, 3].map(() => ({ query: bodyOf('CampaignBatch'), variables: { ids: ids(500), limit: 4 } }));
    expect(await post(three)).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'The operations of this request cost 21000 together; the limit is 20000 (TAILOR_MAX_REQUEST_COST). Split the batch.',
            extensions: { code: 'COST_LIMIT_EXCEEDED', cost: 21000, limit: 20000 },
          },
        ],
      },
    });
  });

  it('prices a persisted operation sent by hash alone, over GET too, with its variables', async () => {
    const search = new URLSearchParams({
      variables: JSON.stringify({ ids: ids(500), limit: 50 }),
      extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hashOf('CampaignBatch') } }),
    });
    const response = await fetch(`${stack.urls.gateway}/graphql?${search}`, { headers: stack.auth });
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'The operation costs 76000; the limit is 10000 (TAILOR_MAX_OPERATION_COST). Ask for fewer items (ids, limit) or split it.',
            extensions: { code: 'COST_LIMIT_EXCEEDED', cost: 76000, limit: 10000 },
          },
        ],
      },
    });
  });

  it('refuses a fragment explosion (each fragment spreads the next twice, 26 levels down) by its cost, without expanding it', async () => {
    let fragments = 'fragment F26 on User { consent { email } }\n';
    for (let i = 25; i >= 0; i--) fragments += `fragment F${i} on User { ...F${i + 1} ...F${i + 1} }\n`;
    const res = await post({ query: `{ user(id: "u-00001") { ...F0 } }\n${fragments}` });
    expect(res).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: `The operation costs ${1 + 2 ** 26}; the limit is 10000 (TAILOR_MAX_OPERATION_COST). Ask for fewer items (ids, limit) or split it.`,
            extensions: { code: 'COST_LIMIT_EXCEEDED', cost: 1 + 2 ** 26, limit: 10000 },
          },
        ],
      },
    });
  });

  it('refuses a document 50,000 levels deep from its tokens, before the recursive parser sees it, with no internal message', async () => {
    const depth = 50_000;
    const res = await post({ query: `{${'a{'.repeat(depth)}b${'}'.repeat(depth)}}` });
    expect(res).toEqual({
      status: 400,
      body: { errors: [{ message: 'Syntax Error: the document nests 1000 levels deep; the limit is 64.', extensions: { code: 'GRAPHQL_PARSE_FAILED', limit: 64 } }] },
    });
  });

  it('refuses a document over TAILOR_MAX_TOKENS at the parser', async () => {
    const res = await post({ query: `{ ${'__typename '.repeat(2500)}}` });
    expect(res).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'Syntax Error: Document contains more that 2000 tokens. Parsing aborted.',
            locations: [{ line: 1, column: 21_992 }],
            extensions: { code: 'GRAPHQL_PARSE_FAILED' },
          },
        ],
      },
    });
  });

  it('refuses more directives than TAILOR_MAX_DIRECTIVES', async () => {
    const res = await post({ query: `{ user(id: "u-00001") { ${'id @include(if: true) '.repeat(51)} } }` });
    expect(res).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'The operation uses 51 directives; the limit is 50.',
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', limit: 50, setting: 'TAILOR_MAX_DIRECTIVES' },
          },
        ],
      },
    });
  });
});

describe('operationCost', () => {
  const supergraph = readFileSync(SUPERGRAPH_FILE, 'utf8');
  const policy = readCostPolicy(supergraph);
  // The client API's types; the cost declarations come from the supergraph.
  const schema = buildSchema(`
    type Query { user(id: ID!): User users(ids: [ID!]!): [User]! trendingProducts(limit: Int = 10): [Product!]! }
    type Mutation { updateConsent(userId: ID!, email: Boolean): Consent! }
    type User { id: ID! segments: [String!]! consent: Consent! recommendations(limit: Int = 4): [Recommendation!]! }
    type Consent { email: Boolean! }
    type Recommendation { product: Product! score: Float! }
    type Product { sku: ID! }
  `);
  const cost = (query: string, variables?: Record<string, unknown>) => operationCost(schema, policy, parse(query), undefined, variables);

  it('reads @listSize from the composed supergraph', () => {
    expect(policy.listSize('Query', 'users')).toEqual({ assumedSize: 500, slicingArguments: [] });
    expect(policy.listSize('User', 'recommendations')).toEqual({ slicingArguments: ['limit'] });
  });

  it('costs 1 per object, 0 per scalar, and multiplies a list by its slicing argument or its default', () => {
    expect(cost('{ user(id: "u1") { id segments } }')).toBe(1);
    expect(cost('{ user(id: "u1") { consent { email } } }')).toBe(2);
    expect(cost('{ user(id: "u1") { recommendations(limit: 7) { product { sku } } } }')).toBe(1 + 7 * 2);
    expect(cost('{ user(id: "u1") { recommendations { score } } }')).toBe(1 + 4);
    expect(cost('query($n: Int) { trendingProducts(limit: $n) { sku } }', { n: 3 })).toBe(3);
    expect(cost('query($n: Int = 6) { trendingProducts(limit: $n) { sku } }')).toBe(6);
  });

  it('sizes users(ids:) by the length of ids, up to its assumedSize of 500', () => {
    expect(cost('query($ids: [ID!]!) { users(ids: $ids) { id } }', { ids: ['a', 'b', 'c'] })).toBe(3);
    expect(cost('query($ids: [ID!]!) { users(ids: $ids) { id } }', { ids: ids(900) })).toBe(500);
    expect(cost('{ users(ids: ["a", "b"]) { consent { email } } }')).toBe(2 * 2);
  });

  it('adds 10 per mutation field, and nothing for introspection', () => {
    expect(cost('mutation { updateConsent(userId: "u1", email: true) { email } }')).toBe(1 + 10);
    expect(cost('{ __schema { types { name fields { name } } } }')).toBe(0);
  });

  it('costs a fragment spread as its fragment written out, counting each fragment once', () => {
    expect(cost('{ user(id: "u1") { ...A ...A } } fragment A on User { consent { email } }')).toBe(1 + 2 * 1);
  });
});
