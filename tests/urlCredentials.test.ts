import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// TAILOR_URL_CREDENTIALS: an ESP whose URL fetch cannot set a header sends its key as ?access_token=
// on the GET REST routes, and there only.

describe('client keys in the URL of a REST route', () => {
  let on: InProcessStack;
  let off: InProcessStack;

  beforeAll(async () => {
    on = await startInProcessStack({ seed: 'demo', gatewayEnv: { TAILOR_URL_CREDENTIALS: 'true' } });
    off = await startInProcessStack({ seed: 'demo' });
  });
  afterAll(async () => {
    await on?.close();
    await off?.close();
  });

  const get = async (stack: InProcessStack, path: string) => {
    const response = await fetch(`${stack.urls.gateway}${path}`);
    return { status: response.status, body: await response.json() };
  };

  it('answers a REST route with ?access_token= when switched on, the token never taken for a parameter', async () => {
    const token = on.gateway.keys.create({ name: 'sfmc', scopes: ['recipients:read'] }).token;
    const answer = await get(on, `/api/v1/users/u-00001/recommendations?limit=2&access_token=${token}`);
    expect(answer.status).toBe(200);
    expect(answer.body.recommendations).toHaveLength(2);
  });

  it('refuses it when not switched on (the default), and on /graphql always', async () => {
    const offToken = off.gateway.keys.create({ name: 'sfmc', scopes: ['recipients:read'] }).token;
    expect(await get(off, `/api/v1/users/u-00001/recommendations?access_token=${offToken}`)).toEqual({
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', message: 'This request carries no credential: send Authorization: Bearer <API key or JWT>.' } },
    });
    const onToken = on.gateway.keys.list().find((k) => k.name === 'sfmc') ? on.gateway.keys.create({ name: 'sfmc-2', scopes: ['recipients:read'] }).token : '';
    const query = encodeURIComponent('{ user(id: "u-00001") { firstName } }');
    const graphql = await get(on, `/graphql?query=${query}&access_token=${onToken}`);
    expect(graphql).toEqual({ status: 401, body: { errors: [{ message: 'This request carries no credential: send Authorization: Bearer <API key or JWT>.', extensions: { code: 'UNAUTHENTICATED' } }] } });
  });

  it('refuses a revoked or unknown token in the URL like one in the header', async () => {
    const { token } = on.gateway.keys.create({ name: 'sfmc-revoked', scopes: ['recipients:read'] });
    on.gateway.keys.revoke('sfmc-revoked');
    expect(await get(on, `/api/v1/users/u-00001/profile?access_token=${token}`)).toEqual({
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', message: 'The API key is unknown or revoked.' } },
    });
  });
});
