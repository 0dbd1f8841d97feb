import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSection } from '../scripts/configTable';

const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  it('documents the configuration exactly as the processes validate it (npm run docs:config)', () => {
    expect(readme).toContain(configSection());
  });

  it('shows the two commands from clone to answer, and the test command', () => {
    expect(readme).toMatch(/npm install\nnpm start/);
    expect(readme).toContain('npm test');
  });

  it('shows the example operation that examples/personalize.graphql holds', () => {
    const operation = readFileSync(join(__dirname, '..', 'examples', 'personalize.graphql'), 'utf8').split('\n').slice(1).join('\n').trim();
    expect(readme).toContain(operation);
  });
});
