import { randomBytes } from 'node:crypto';
import { type JetStreamClient, type JetStreamManager, type NatsConnection, connect } from 'nats';
import type { Counter, Gauge } from 'prom-client';
import { counterTotal } from '../kit/metrics';
import { DEAD_LETTER_HEADERS, type EventStream } from '../subgraphs/behavior/src/eventStream';
import { product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

const NATS_URL = 'nats://127.0.0.1:4222';

let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;

beforeAll(async () => {
  try {
    nc = await connect({ servers: NATS_URL, maxReconnectAttempts: 0 });
  } catch (error) {
    throw new Error(
      `These tests need NATS with JetStream at ${NATS_URL} (nats-server -a 127.0.0.1 -p 4222 -js); it could not be reached: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  jsm = await nc.jetstreamManager();
  js = nc.jetstream();
});
afterAll(() => nc?.close());

/** Polls `condition` until it holds; fails naming `what` after a bound far above any expected wait. */
async function waitFor(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('browsing events from NATS JetStream', () => {
  let stack: InProcessStack;
  let names: { stream: string; subject: string; consumer: string; dead: string };
  let now: number;
  const iso = (ms: number) => new Date(ms).toISOString();
  const event = (eventId: string, sku = 'A1', extra: Record<string, unknown> = {}) => ({ eventId, userId: 'u1', sku, type: 'VIEW', occurredAt: iso(now - 60_000), ...extra });

  beforeEach(async () => {
    const id = `${process.pid}_${randomBytes(4).toString('hex')}`;
    names = { stream: `TEST_EVENTS_${id}`, subject: `test.${id}.events`, consumer: `behavior_${id}`, dead: `test.${id}.dead` };
    stack = await startInProcessStack({
      env: {
        TAILOR_NATS_URL: NATS_URL,
        TAILOR_NATS_STREAM: names.stream,
        TAILOR_NATS_SUBJECT: names.subject,
        TAILOR_NATS_CONSUMER: names.consumer,
        TAILOR_NATS_DEAD_LETTER_SUBJECT: names.dead,
      },
    });
    now = stack.clock.now();
    await stack.stock.store.seed([product('A1', 5), product('A2', 3)]);
    await stack.crm.store.seed([user('u1')]);
  });
  afterEach(async () => {
    await stack?.close();
    await jsm.streams.delete(names.stream).catch(() => undefined);
  });

  /** Starts a consumer whose lag gauge changes only when `refreshLag` is called. */
  const start = async (options: { retryDelayMs?: number } = {}): Promise<EventStream> => (await stack.behavior.startEventStream({ lagRefreshMs: 3_600_000, ...options }))!;
  const publish = (payload: unknown) => js.publish(names.subject, typeof payload === 'string' ? payload : JSON.stringify(payload));
  const registry = () => stack.behavior.definition.metrics.registry;
  const outcome = (name: string) => counterTotal(registry().getSingleMetric('tailor_stream_messages_total') as Counter<string>, { outcome: name });
  const lagGauge = async () => (await (registry().getSingleMetric('tailor_stream_consumer_lag') as Gauge<string>).get()).values[0]?.value;
  const recentlyViewed = async () => (await stack.query('{ user(id: "u1") { recentlyViewed { product { sku } } } }')).body.data.user.recentlyViewed.map((v: any) => v.product.sku);
  const storedEventIds = async () => (await stack.behavior.store.getAllEventsByUserId('u1')).map((e) => e.eventId).sort();
  /** Every message of the stream on the dead-letter subject, with its headers. */
  async function deadLetters() {
    const { state } = await jsm.streams.info(names.stream);
    const letters = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(names.stream, { seq }).catch(() => undefined);
      if (m?.subject !== names.dead) continue;
      letters.push({
        reason: m.header.get(DEAD_LETTER_HEADERS.reason),
        subject: m.header.get(DEAD_LETTER_HEADERS.subject),
        sequence: Number(m.header.get(DEAD_LETTER_HEADERS.sequence)),
        body: m.string(),
      });
    }
    return letters;
  }

  it('applies published events, acknowledged only once committed, and the next query sees them', async () => {
    const stream = await start();
    await publish(event('e1', 'A1'));
    await publish({ ...event('e2', 'A2'), occurredAt: iso(now - 30_000) });
    await waitFor('2 accepted events', async () => (await outcome('accepted')) === 2);
    expect(await recentlyViewed()).toEqual(['A2', 'A1']);
    await waitFor('no unacknowledged message', async () => (await stream.refreshLag()) === 0);
    expect(await outcome('duplicate')).toBe(0);
    expect(await outcome('dead_letter')).toBe(0);
    // The ingest metric of POST /ingest/events counts them too: one ingestion path.
    expect(await counterTotal(stack.behavior.definition.metrics.ingestItems, { kind: 'events', result: 'accepted' })).toBe(2);
  });

  it('counts a replayed eventId once: accepted, then duplicate, and acknowledges both', async () => {
    const stream = await start();
    await publish(event('e1'));
    await publish(event('e1'));
    await waitFor('both messages handled', async () => (await outcome('accepted')) + (await outcome('duplicate')) === 2);
    expect(await outcome('accepted')).toBe(1);
    expect(await outcome('duplicate')).toBe(1);
    expect(await storedEventIds()).toEqual(['e1']);
    await waitFor('no unacknowledged message', async () => (await stream.refreshLag()) === 0);
  });

  it('sends malformed and invalid messages to the dead-letter subject with their reason, stores none of them, and goes on', async () => {
    const stream = await start();
    const malformed = await publish('{"eventId": "e1", oops');
    const badType = await publish(event('e2', 'A1', { type: 'HOVER' }));
    const future = await publish(event('e3', 'A1', { occurredAt: iso(now + 3_600_000) }));
    const batch = await publish([event('e4')]);
    await publish(event('e5', 'A2'));
    await waitFor('1 accepted event and 4 dead letters', async () => (await outcome('accepted')) === 1 && (await outcome('dead_letter')) === 4);
    expect(await storedEventIds()).toEqual(['e5']);
    expect(await recentlyViewed()).toEqual(['A2']);
    const letters = await deadLetters();
    expect(letters.sort((a, b) => a.sequence - b.sequence)).toEqual([
      { reason: 'the message is not valid JSON', subject: names.subject, sequence: malformed.seq, body: '{"eventId": "e1", oops' },
      { reason: 'type: type must be one of VIEW, ADD_TO_CART, PURCHASE, CLICK', subject: names.subject, sequence: badType.seq, body: JSON.stringify(event('e2', 'A1', { type: 'HOVER' })) },
      {
        reason: 'occurredAt: occurredAt is more than 300 s in the future (the allowed clock skew, TAILOR_MAX_CLOCK_SKEW_SECONDS)',
        subject: names.subject,
        sequence: future.seq,
        body: JSON.stringify(event('e3', 'A1', { occurredAt: iso(now + 3_600_000) })),
      },
      { reason: 'a message holds one event, a JSON object, not an array', subject: names.subject, sequence: batch.seq, body: JSON.stringify([event('e4')]) },
    ]);
    // Terminated, not left to be delivered again: nothing of the stream waits for the consumer.
    await waitFor('no unacknowledged message', async () => (await stream.refreshLag()) === 0);
    expect(await outcome('retried')).toBe(0);
  });

  it('sends an event the ingestor refuses (a lone surrogate) to the dead-letter subject, and applies the rest of its batch', async () => {
    await start();
    await publish('{"eventId":"x\\ud800","userId":"u1","sku":"A1","type":"VIEW","occurredAt":"' + iso(now - 60_000) + '"}');
    await publish(event('e2'));
    await waitFor('1 accepted event and 1 dead letter', async () => (await outcome('accepted')) === 1 && (await outcome('dead_letter')) === 1);
    expect(await storedEventIds()).toEqual(['e2']);
    expect((await deadLetters()).map((l) => l.reason)).toEqual(['eventId: must be well-formed Unicode text (it holds a lone UTF-16 surrogate)']);
  });

  it('reports the lag of what was published while the consumer was stopped, then 0 once it is consumed', async () => {
    const first = await start();
    expect(await lagGauge()).toBe(0);
    await first.close();
    for (let i = 1; i <= 5; i++) await publish(event(`e${i}`));
    const second = await start();
    expect(await lagGauge()).toBe(5);
    await waitFor('5 accepted events', async () => (await outcome('accepted')) === 5);
    await waitFor('a lag of 0', async () => (await second.refreshLag()) === 0);
    expect(await lagGauge()).toBe(0);
  });

  it('resumes from the durable consumer after a restart without applying acknowledged events again', async () => {
    const first = await start();
    for (let i = 1; i <= 3; i++) await publish(event(`e${i}`));
    await waitFor('3 accepted events', async () => (await outcome('accepted')) === 3);
    await waitFor('no unacknowledged message', async () => (await first.refreshLag()) === 0);
    await first.close();
    await publish(event('e4'));
    await publish(event('e5'));
    const second = await start();
    await waitFor('5 accepted events', async () => (await outcome('accepted')) === 5);
    await waitFor('no unacknowledged message', async () => (await second.refreshLag()) === 0);
    expect(await outcome('duplicate')).toBe(0);
    expect(await storedEventIds()).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('delivers again the events the store failed to apply, and acknowledges them once applied', async () => {
    const stream = await start({ retryDelayMs: 50 });
    const trackEvents = jest.spyOn(stack.behavior.store, 'trackEvents').mockImplementationOnce(() => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    });
    await publish(event('e1'));
    await waitFor('the event applied after a retry', async () => (await outcome('accepted')) === 1);
    expect(await outcome('retried')).toBe(1);
    expect(trackEvents).toHaveBeenCalledTimes(2);
    expect(await storedEventIds()).toEqual(['e1']);
    await waitFor('no unacknowledged message', async () => (await stream.refreshLag()) === 0);
  });
});
