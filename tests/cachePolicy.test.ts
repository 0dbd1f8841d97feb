import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, parse } from 'graphql';
import { cacheControlHeader, readCachePolicy, responseCachePolicy } from '../kit/cachePolicy';

const SDL = `
  directive @cacheControl(maxAge: Int, scope: CacheControlScope) on FIELD_DEFINITION | OBJECT
  enum CacheControlScope { PUBLIC PRIVATE }
  type Query { product(sku: ID!): Product  user: User  count: Int  version: String @cacheControl(maxAge: 30) }
  type Product @cacheControl(maxAge: 300) { sku: ID! name: String! stock: Int! @cacheControl(maxAge: 0) brand: Brand }
  type Brand { name: String }
  type User @cacheControl(maxAge: 120, scope: PRIVATE) { name: String }
`;

describe('readCachePolicy', () => {
  it('reads type and field declarations', () => {
    const policy = readCachePolicy(SDL);
    expect(policy.typeHint('Product')).toEqual({ maxAge: 300, scope: 'PUBLIC' });
    expect(policy.fieldHint('Product', 'stock')).toEqual({ maxAge: 0, scope: 'PUBLIC' });
    expect(policy.typeTtlMs('User')).toBe(120_000);
    expect(policy.typeHint('Brand')).toBeUndefined();
  });

  it('reads the composed supergraph the gateway serves, where each subgraph declared its policy', () => {
    const policy = readCachePolicy(readFileSync(join(__dirname, '..', 'schema', 'supergraph.graphql'), 'utf8'));
    expect(policy.typeHint('Product')).toEqual({ maxAge: 300, scope: 'PUBLIC' });
    expect(policy.typeHint('User')).toEqual({ maxAge: 300, scope: 'PRIVATE' });
    expect(policy.fieldHint('Product', 'stock')?.maxAge).toBe(0);
    expect(policy.fieldHint('Product', 'inStock')?.maxAge).toBe(0);
    expect(policy.fieldHint('User', 'consent')?.maxAge).toBe(0);
    expect(policy.fieldHint('User', 'recommendations')?.maxAge).toBe(0);
  });
});

describe('responseCachePolicy', () => {
  const schema = buildSchema(SDL);
  const policy = readCachePolicy(SDL);
  const of = (query: string) => responseCachePolicy(schema, parse(query), policy);

  it.each([
    ['scalar fields follow their object', '{ product(sku: "1") { sku name } }', { maxAge: 300, scope: 'PUBLIC' }],
    ['a live field makes the answer uncacheable', '{ product(sku: "1") { name stock } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['an object without a declaration is uncacheable', '{ product(sku: "1") { brand { name } } }', { maxAge: 0, scope: 'PUBLIC' }],
    ['private data makes the answer private', '{ product(sku: "1") { name } user { name } }', { maxAge: 120, scope: 'PRIVATE' }],
    ['a root scalar without a declaration is uncacheable', '{ count }', { maxAge: 0, scope: 'PUBLIC' }],
    ['a root scalar with a declaration keeps it', '{ version }', { maxAge: 30, scope: 'PUBLIC' }],
    ['fragments are followed', '{ product(sku: "1") { ...F } } fragment F on Product { stock }', { maxAge: 0, scope: 'PUBLIC' }],
    ['__typename does not restrict', '{ product(sku: "1") { __typename name } }', { maxAge: 300, scope: 'PUBLIC' }],
  ])('%s', (_, query, expected) => {
    expect(of(query)).toEqual(expected);
  });

  it('makes every mutation uncacheable', () => {
    const withMutation = buildSchema(`${SDL} type Mutation { touch: Int @cacheControl(maxAge: 60) }`);
    expect(responseCachePolicy(withMutation, parse('mutation { touch }'), policy).maxAge).toBe(0);
  });

  it('turns a policy into a Cache-Control header', () => {
    expect(cacheControlHeader({ maxAge: 300, scope: 'PUBLIC' })).toBe('max-age=300, public');
    expect(cacheControlHeader({ maxAge: 60, scope: 'PRIVATE' })).toBe('max-age=60, private');
    expect(cacheControlHeader({ maxAge: 0, scope: 'PUBLIC' })).toBe('no-store');
  });
});
