import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SUPERGRAPH_FILE, readRegistry, type RegisteredSubgraph } from '../scripts/composition/readRegistry';
import { checkSupergraph } from '../scripts/composition/checkSupergraph';
import { composeSupergraph } from '../scripts/composition/composeSupergraph';

// Every case works on in-memory copies of the real subgraph SDLs: no file of the repository is touched.
const committed = readFileSync(SUPERGRAPH_FILE, 'utf8');

type Edit = [subgraph: string, from: string, to: string];

/** The real registry with string replacements applied to the subgraph SDLs (each must match). */
function edited(...edits: Edit[]): RegisteredSubgraph[] {
  return readRegistry().map((s) => {
    let sdl = s.sdl;
    for (const [name, from, to] of edits) {
      if (name !== s.name) continue;
      if (!sdl.includes(from)) throw new Error(`${name}'s SDL has no ${JSON.stringify(from)}: update this test`);
      sdl = sdl.replace(from, to);
    }
    return { ...s, sdl };
  });
}

function composed(subgraphs: RegisteredSubgraph[]): string {
  const result = composeSupergraph(subgraphs);
  if ('errors' in result) throw new Error(result.errors.join('\n'));
  return result.supergraphSdl;
}

/** The check of a change that was recomposed (the file is fresh), against the real committed supergraph as the base. */
function checkChange(edits: Edit[], allowBreaking = false) {
  const subgraphs = edited(...edits);
  return checkSupergraph({ subgraphs, committedSdl: composed(subgraphs), baseSdl: committed, allowBreaking });
}

describe('checkSupergraph', () => {
  it('passes on the repository as it is', () => {
    const result = checkSupergraph({ subgraphs: readRegistry(), committedSdl: committed });
    expect(result).toMatchObject({ ok: true, problems: [], stale: false, breakingChanges: [] });
  });

  it('catches a stale supergraph: a subgraph changed and nobody recomposed', () => {
    const subgraphs = edited(['stock', '  brand: String!\n', '  brand: String!\n  color: String\n']);
    const result = checkSupergraph({ subgraphs, committedSdl: committed });
    expect(result.ok).toBe(false);
    expect(result.stale).toBe(true);
    expect(result.problems).toEqual([expect.stringMatching(/^schema\/supergraph\.graphql is out of date .*run `npm run compose`/)]);
  });

  it('catches a missing supergraph file', () => {
    const result = checkSupergraph({ subgraphs: readRegistry(), committedSdl: null });
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([expect.stringMatching(/does not exist/)]);
  });

  it.each<[string, Edit[], string[]]>([
    ['a removed field', [['stock', '  brand: String!\n', '']], ['FIELD_REMOVED: Product.brand was removed']],
    ['a field made @inaccessible (gone from the client API)', [['stock', '  brand: String!\n', '  brand: String! @inaccessible\n']], ['FIELD_REMOVED: Product.brand was removed']],
    ['a field made nullable', [['stock', '  category: String!\n', '  category: String\n']], ['FIELD_CHANGED_KIND: Product.category changed type from String! to String']],
    ['a field that is no longer a list', [['crm', '  segments: [String!]!\n', '  segments: String!\n']], ['FIELD_CHANGED_KIND: User.segments changed type from [String!]! to String!']],
    ['a field of another type', [['stock', '  available: Int!\n  updatedAt', '  available: Float!\n  updatedAt']], ['FIELD_CHANGED_KIND: Stock.available changed type from Int! to Float!']],
    ['a new required argument', [['stock', 'trendingProducts(limit: Int = 10)', 'trendingProducts(limit: Int = 10, category: String!)']], ['REQUIRED_ARG_ADDED: A required arg category on Query.trendingProducts was added']],
    ['a changed argument type', [['stock', 'product(sku: ID!)', 'product(sku: String!)']], ['ARG_CHANGED_KIND: Query.product arg sku has changed type from ID! to String!']],
    ['a removed enum value', [['crm', '  GOLD\n  PLATINUM\n', '  GOLD\n']], ['VALUE_REMOVED_FROM_ENUM: PLATINUM was removed from enum type LoyaltyTier']],
    [
      'a removed type',
      [
        ['stock', '  "Live stock level: read from the store on every query, never cached."\n  stock: Stock! @cacheControl(maxAge: 0, scope: PUBLIC)\n', ''],
        ['stock', '"A stock level and when it was observed."\ntype Stock @cacheControl(maxAge: 0, scope: PUBLIC) {\n  available: Int!\n  updatedAt: DateTime!\n}\n', ''],
      ],
      ['FIELD_REMOVED: Product.stock was removed', 'TYPE_REMOVED: Stock was removed'],
    ],
    ['a new required input field', [['stock', '  observedAt: DateTime!\n}', '  observedAt: DateTime!\n  warehouse: String!\n}']], ['REQUIRED_INPUT_FIELD_ADDED: A required field warehouse on input type StockLevelInput was added']],
  ])('fails on %s, naming the change', (_what, edits, expected) => {
    const result = checkChange(edits);
    expect(result.stale).toBe(false);
    expect(result.ok).toBe(false);
    expect([...result.problems].sort()).toEqual([...expected].sort());
    expect(result.breakingChanges.map((c) => `${c.type}: ${c.description}`).sort()).toEqual([...expected].sort());
  });

  it('lets additive changes pass: a new field, a new optional argument, a new enum value, a new type', () => {
    const result = checkChange([
      ['stock', '  brand: String!\n', '  brand: String!\n  "Main colour."\n  color: String\n'],
      ['stock', 'trendingProducts(limit: Int = 10)', 'trendingProducts(limit: Int = 10, category: String)'],
      ['crm', '  GOLD\n  PLATINUM\n', '  GOLD\n  PLATINUM\n  DIAMOND\n'],
      ['stock', '"An amount of money."', 'type Warehouse { code: ID! }\n\nextend type Query { warehouses: [Warehouse!]! }\n\n"An amount of money."'],
      ['stock', '  observedAt: DateTime!\n}', '  observedAt: DateTime!\n  warehouse: String\n}'],
    ]);
    expect(result).toMatchObject({ ok: true, problems: [], stale: false, breakingChanges: [] });
  });

  it('--allow-breaking passes a breaking change, still listing it', () => {
    const result = checkChange([['stock', '  brand: String!\n', '']], true);
    expect(result.ok).toBe(true);
    expect(result.problems).toEqual([]);
    expect(result.breakingChanges).toEqual([{ type: 'FIELD_REMOVED', description: 'Product.brand was removed' }]);
  });

  it('--allow-breaking does not excuse a stale supergraph; without a separate base the file itself is the base', () => {
    const subgraphs = edited(['stock', '  brand: String!\n', '']);
    const allowed = checkSupergraph({ subgraphs, committedSdl: committed, allowBreaking: true });
    expect(allowed.ok).toBe(false);
    expect(allowed.problems).toEqual([expect.stringMatching(/out of date/)]);
    expect(allowed.breakingChanges.map((c) => c.description)).toEqual(['Product.brand was removed']);
    const strict = checkSupergraph({ subgraphs, committedSdl: committed });
    expect(strict.problems).toEqual([expect.stringMatching(/out of date/), 'FIELD_REMOVED: Product.brand was removed']);
  });

  it('fails on a composition error, naming its code, the subgraphs and the element', () => {
    const subgraphs = edited(['stock', 'sku: ID!\n  name: String!', 'sku: ID!\n  name: Int!'], ['crm', 'enum LoyaltyTier {', 'type Product @key(fields: "sku") { sku: ID! name: String! }\n\nenum LoyaltyTier {']);
    const result = checkSupergraph({ subgraphs, committedSdl: committed });
    expect(result.ok).toBe(false);
    const composition = composeSupergraph(subgraphs);
    if (!('errors' in composition)) throw new Error('expected composition errors');
    expect(result.problems).toEqual(composition.errors);
    expect(composition.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'FIELD_TYPE_MISMATCH',
          subgraphs: ['crm', 'stock'],
          elements: ['Product.name'],
          locations: [expect.stringMatching(/^subgraphs\/crm\/schema\.graphql:\d+:\d+ \(crm\)$/), expect.stringMatching(/^subgraphs\/stock\/schema\.graphql:\d+:\d+ \(stock\)$/)],
        }),
        expect.objectContaining({ code: 'INVALID_FIELD_SHARING', subgraphs: ['crm', 'stock'], elements: ['Product.name'] }),
      ]),
    );
    expect(composition.errors[0]).toMatch(/^FIELD_TYPE_MISMATCH: .*\[element Product\.name; subgraphs crm, stock; at subgraphs\/crm\/schema\.graphql:\d+:\d+ \(crm\), subgraphs\/stock/);
  });

  it('names the subgraph, file and line of an SDL that does not parse', () => {
    const composition = composeSupergraph(edited(['crm', '  GOLD\n', '  GOLD,,\n  {\n']));
    if (!('errors' in composition)) throw new Error('expected composition errors');
    expect(composition.details).toEqual([expect.objectContaining({ code: 'INVALID_GRAPHQL', subgraphs: ['crm'], locations: [expect.stringMatching(/^subgraphs\/crm\/schema\.graphql:\d+:\d+ \(crm\)$/)] })]);
  });
});

describe('npm run compose -- --check', () => {
  const root = join(__dirname, '..');
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'scripts/compose.ts', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, APOLLO_TELEMETRY_DISABLED: 'true' } });

  it('exits 0 with one OK line on the repository as it is, and writes nothing', () => {
    const result = run('--check');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^compose --check OK: schema\/supergraph\.graphql is up to date with \d+ subgraph\(s\); no breaking change to the client API/m);
    expect(readFileSync(SUPERGRAPH_FILE, 'utf8')).toBe(committed);
  });

  it('exits 2 with the usage on an unknown flag', () => {
    const result = run('--chek');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('unknown argument --chek');
  });
});
