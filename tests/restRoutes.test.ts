import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// The REST face reads its routes from a data file at start-up (TAILOR_REST_ROUTES): one line a route.

describe('the REST route table', () => {
  let dir: string;
  let stack: InProcessStack | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tailor-rest-'));
  });
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const table = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('serves a route added as one line of the file', async () => {
    const file = table('routes.yaml', 'routes:\n  - { path: /api/v2/recipients/:id, operation: RecipientProfile, root: user }\n');
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_REST_ROUTES: file } });
    await stack.crm.store.seed([user('u1')]);
    const response = await fetch(`${stack.urls.gateway}/api/v2/recipients/u1`, { headers: stack.auth });
    const body = (await response.json()) as Record<string, unknown>;
    expect({ status: response.status, id: body.id, firstName: body.firstName }).toEqual({ status: 200, id: 'u1', firstName: 'First u1' });
    // The routes of the default table are not served: the file is the only list.
    expect((await fetch(`${stack.urls.gateway}/api/v1/users/u1/profile`, { headers: stack.auth })).status).toBe(404);
  });

  it('stops the gateway at start-up when a route names an operation the manifest does not hold', async () => {
    const file = table('unknown-operation.yaml', 'routes:\n  - { path: /api/v1/x/:id, operation: NoSuchOperation, root: user }\n');
    await expect(startInProcessStack({ gatewayEnv: { TAILOR_REST_ROUTES: file } })).rejects.toThrow(
      'REST route /api/v1/x/:id names operation NoSuchOperation, which is not in the manifest',
    );
  });

  it('stops the gateway at start-up naming every bad entry of the file', async () => {
    const file = table('bad.yaml', 'routes:\n  - { path: no-slash, operation: RecipientProfile, root: user }\n  - { path: /ok, operation: RecipientProfile, root: user, colour: red }\n');
    await expect(startInProcessStack({ gatewayEnv: { TAILOR_REST_ROUTES: file } })).rejects.toThrow(
      /The REST route table .*bad\.yaml is not valid:\n {2}- routes\.0\.path: path must start with \/.*\n {2}- routes\.1: Unrecognized key: "colour"/,
    );
  });
});
