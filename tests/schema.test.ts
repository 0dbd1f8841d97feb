import { readFileSync } from 'node:fs';
import { SUPERGRAPH_FILE, readRegistry } from '../scripts/composition/readRegistry';
import { composeSupergraph } from '../scripts/composition/composeSupergraph';

describe('schema/supergraph.graphql', () => {
  it('is what npm run compose makes of the registry and the subgraph schemas', () => {
    const result = composeSupergraph(readRegistry());
    if ('errors' in result) throw new Error(result.errors.join('\n'));
    expect(readFileSync(SUPERGRAPH_FILE, 'utf8')).toBe(result.supergraphSdl);
  });

  it('reports every composition error in plain words with its code', () => {
    const registry = readRegistry();
    const broken = registry.map((s) => (s.name === 'stock' ? { ...s, sdl: s.sdl.replace('sku: ID!\n  name: String!', 'sku: ID!\n  name: Int!') } : s));
    const crmClash = broken.map((s) => (s.name === 'crm' ? { ...s, sdl: `${s.sdl}\ntype Product @key(fields: "sku") { sku: ID! name: String! }\n` } : s));
    const result = composeSupergraph(crmClash);
    expect('errors' in result && result.errors.length).toBeGreaterThan(0);
    if ('errors' in result) expect(result.errors.join('\n')).toMatch(/^[A-Z_]+: .*Product\.name/m);
  });
});
