import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadGatewayConfig } from '../gateway/src/config';
import { type RunningGateway, startGateway } from '../gateway/src/startGateway';
import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';

// Under overload the gateway answers 503 with Retry-After at once instead of queueing without bound,
// and what it already runs, it finishes.

describe('load shedding at the gateway', () => {
  let gateway: RunningGateway;
  let subgraph: ReturnType<typeof createServer>;
  /** Requests the stand-in subgraph holds until `answerAll()`. */
  const held: ServerResponse[] = [];
  let holding = true;
  const answer = (res: ServerResponse) => {
    const body = JSON.stringify({ data: { user: { id: 'u1' } } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const answerAll = () => {
    holding = false;
    for (const res of held.splice(0)) answer(res);
  };

  beforeAll(async () => {
    // One stand-in for every subgraph: it answers `user { id }` when told to, like a slow crm.
    subgraph = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      req.on('end', () => (holding ? held.push(res) : answer(res)));
    });
    await new Promise<void>((resolve) => subgraph.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(subgraph.address() as AddressInfo).port}/graphql`;
    gateway = await startGateway(
      loadGatewayConfig({
        env: {
          TAILOR_DATA_DIR: ':memory:',
          TAILOR_SUBGRAPH_URLS: `crm=${url},stock=${url},behavior=${url}`,
          TAILOR_WATCH_SUPERGRAPH: 'false',
          TAILOR_MAX_IN_FLIGHT: '1',
          TAILOR_MAX_QUEUED: '1',
          TAILOR_QUEUE_TIMEOUT_MS: '1500',
          TAILOR_SUBGRAPH_TIMEOUT_MS: '30000',
          TAILOR_REQUEST_DEADLINE_MS: '60000',
        },
        argv: ['--port', '0'],
      }),
      createLogger('gateway', 'silent'),
    );
  });

  afterAll(async () => {
    answerAll();
    await gateway?.close();
    await new Promise((resolve) => subgraph.close(resolve));
  });

  const ask = async () => {
    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.devKey}` },
      body: JSON.stringify({ query: '{ user(id: "u1") { id } }' }),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
  };
  const until = async (condition: () => boolean) => {
    while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const overloaded = {
    status: 503,
    retryAfter: '1',
    body: { errors: [{ message: 'The gateway is at its limit of 1 operations in flight; retry in 1 s.', extensions: { code: 'OVERLOADED' } }] },
  };

  it('sheds what does not fit, counts it, and finishes the request it is already running', async () => {
    const running = ask();
    await until(() => held.length === 1);
    const waiting = ask(); // takes the one place in the queue, then gives up after 1.5 s
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await ask()).toEqual(overloaded); // the queue is full: shed at once
    expect(await waiting).toEqual(overloaded);
    expect(held).toHaveLength(1); // nothing shed ever reached a subgraph

    answerAll();
    expect(await running).toEqual({ status: 200, retryAfter: null, body: { data: { user: { id: 'u1' } } } });
    expect(await counterTotal(gateway.metrics.requestsShed, { reason: 'queue_full' })).toBe(1);
    expect(await counterTotal(gateway.metrics.requestsShed, { reason: 'queue_timeout' })).toBe(1);

    // With its slot free again, the next request runs.
    expect(await ask()).toEqual({ status: 200, retryAfter: null, body: { data: { user: { id: 'u1' } } } });
  });

  it('gives a slot that frees up to the request waiting for it', async () => {
    holding = true;
    const first = ask();
    await until(() => held.length === 1);
    const second = ask();
    await new Promise((resolve) => setTimeout(resolve, 20));
    answerAll();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
  });
});
