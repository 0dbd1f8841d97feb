import BetterSqlite3 from 'better-sqlite3';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Webhook } from 'standardwebhooks';
import { ConfigError } from '../kit/config';
import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type CrmSubgraph, createCrmSubgraph } from '../subgraphs/crm/src/createCrmSubgraph';
import { startSubgraph } from '../subgraphs/kit/subgraphServer';

// POST /ingest/* over real HTTP, on a CRM subgraph started in this process with the ingest settings
// of each case. Batches are signed with the standardwebhooks package, as a sender would sign them.

const secret = () => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET = secret();
const SECOND_SECRET = secret();
const KEY = randomBytes(32).toString('hex');
const KEY_HASH = createHash('sha256').update(KEY).digest('hex');

interface Crm {
  subgraph: CrmSubgraph;
  url: string;
  logs: Record<string, unknown>[];
  /** SQL statements the subgraph has executed so far. */
  statements(): Promise<number>;
  emailOf(id: string): Promise<string | undefined>;
  close(): Promise<void>;
}

const open: Crm[] = [];
const dirs: string[] = [];

async function startCrm(env: Record<string, string>, dataDir = ':memory:'): Promise<Crm> {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line));
      done();
    },
  });
  const config = loadCrmConfig({ env: { TAILOR_DATA_DIR: dataDir, TAILOR_SEED: 'none', TAILOR_DB_SYNC: 'NORMAL', ...env }, argv: [] });
  const subgraph = await createCrmSubgraph(config, { logger: createLogger('crm', 'info', destination) });
  const running = await startSubgraph(subgraph.definition, { host: '127.0.0.1', port: 0 });
  let closed = false;
  const crm: Crm = {
    subgraph,
    url: `${running.url}/ingest/users`,
    logs,
    statements: () => counterTotal(subgraph.definition.metrics.dbStatements),
    emailOf: async (id) => (await subgraph.store.getUsersByIds([id])).get(id)?.email ?? undefined,
    async close() {
      if (closed) return;
      closed = true;
      await running.close();
    },
  };
  open.push(crm);
  return crm;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const batch = (...ids: string[]) => JSON.stringify(ids.map((id) => ({ id, email: `${id}@example.com` })));

/** The three Standard Webhooks headers of `body`, signed with `key` as of `at`. */
function signed(body: string, key = SECRET, options: { id?: string; at?: Date } = {}): Record<string, string> {
  const id = options.id ?? `msg_${randomUUID()}`;
  const at = options.at ?? new Date();
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, body),
  };
}

async function post(url: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  return { status: response.status, body: (await response.json()) as any };
}

/** Expects a 401 UNAUTHENTICATED refusal that applied nothing: no SQL statement ran, no user was written. */
async function expectRefused(crm: Crm, body: string | Buffer, headers: Record<string, string>, message: RegExp, ids = ['u1']) {
  const before = await crm.statements();
  const res = await post(crm.url, body, headers);
  expect(res).toEqual({ status: 401, body: { error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(message) } } });
  expect(await crm.statements()).toBe(before);
  for (const id of ids) expect(await crm.emailOf(id)).toBeUndefined();
}

describe('POST /ingest/* with a webhook secret', () => {
  it('accepts and applies a batch signed with the secret', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const body = batch('u1', 'u2');
    expect(await post(crm.url, body, signed(body))).toEqual({ status: 200, body: { accepted: 2, duplicates: 0, stale: 0 } });
    expect(await crm.emailOf('u1')).toBe('u1@example.com');
    expect(await crm.emailOf('u2')).toBe('u2@example.com');
  });

  it('refuses an unsigned batch with 401 UNAUTHENTICATED, applying nothing', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    await expectRefused(crm, batch('u1'), {}, /^This subgraph takes only authenticated batches: sign it \(webhook-id, webhook-timestamp, webhook-signature\)\.$/);
  });

  it('refuses a batch with one of the three headers missing', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const body = batch('u1');
    const { 'webhook-id': _id, ...withoutId } = signed(body);
    await expectRefused(crm, body, withoutId, /not signed: it needs all of webhook-id, webhook-timestamp and webhook-signature/);
  });

  it('refuses a batch signed with another secret', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const body = batch('u1');
    await expectRefused(crm, body, signed(body, secret()), /webhook-signature matches no configured secret/);
  });

  it('refuses a tampered body: the signature covers its exact bytes', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const body = batch('u1');
    const headers = signed(body);
    await expectRefused(crm, body.replace('u1@example.com', 'u1@evil.example'), headers, /matches no configured secret/);
    // Same JSON, other bytes: refused as well.
    await expectRefused(crm, ` ${body}`, headers, /matches no configured secret/);
    // The timestamp and the id are signed too.
    await expectRefused(crm, body, { ...headers, 'webhook-id': 'msg_other' }, /matches no configured secret/);
    await expectRefused(crm, body, { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) + 1) }, /matches no configured secret/);
  });

  it('refuses a body that is not well-formed UTF-8 even with a signature of its decoded text', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    // 0xff decodes to U+FFFD, as the well-formed bytes ef bf bd do: a signature of one must not pass the other.
    const good = Buffer.from(JSON.stringify([{ id: 'u1', email: 'u1@example.com', firstName: '\ufffd' }]), 'utf8');
    const bad = Buffer.from(good.toString('latin1').replace('\xef\xbf\xbd', '\xff'), 'latin1');
    expect(bad.toString('utf8')).toBe(good.toString('utf8'));
    await expectRefused(crm, bad, signed(good.toString('utf8')), /not well-formed UTF-8/);
  });

  it('refuses a stale and a future webhook-timestamp, outside the tolerance', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET, TAILOR_INGEST_TOLERANCE_SECONDS: '60' });
    const body = batch('u1');
    const outside = /^webhook-timestamp is outside the tolerance of 60 seconds/;
    await expectRefused(crm, body, signed(body, SECRET, { at: new Date(Date.now() - 120_000) }), outside);
    await expectRefused(crm, body, signed(body, SECRET, { at: new Date(Date.now() + 120_000) }), outside);
    await expectRefused(crm, body, { ...signed(body), 'webhook-timestamp': 'yesterday' }, /whole seconds/);
    // Within it, either way: accepted.
    expect((await post(crm.url, body, signed(body, SECRET, { at: new Date(Date.now() - 30_000) }))).status).toBe(200);
    expect((await post(crm.url, batch('u2'), signed(batch('u2'), SECRET, { at: new Date(Date.now() + 30_000) }))).status).toBe(200);
  });

  it('refuses a timestamp older than the default tolerance of 300 seconds', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const body = batch('u1');
    await expectRefused(crm, body, signed(body, SECRET, { at: new Date(Date.now() - 301_000) }), /^webhook-timestamp is outside the tolerance of 300 seconds/);
  });

  it('answers a replayed webhook-id as all duplicates and applies nothing again', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const body = batch('u1', 'u2', 'u3');
    const headers = signed(body);
    expect((await post(crm.url, body, headers)).body).toEqual({ accepted: 3, duplicates: 0, stale: 0 });
    // Changed in between: a replay of the first batch must not write it back.
    await crm.subgraph.store.upsertUsers([{ id: 'u1', email: 'u1@new.example' }]);
    const before = await crm.statements();
    expect(await post(crm.url, body, headers)).toEqual({ status: 200, body: { accepted: 0, duplicates: 3, stale: 0 } });
    // Only forgetting ids past the tolerance and recording this one (found there) ran: no write of a user.
    expect(await crm.statements()).toBe(before + 2);
    expect(await crm.emailOf('u1')).toBe('u1@new.example');
  });

  it('still catches a replay after a restart: seen ids are in the subgraph database', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tailor-signed-ingest-'));
    dirs.push(dataDir);
    const env = { TAILOR_INGEST_WEBHOOK_SECRET: SECRET };
    const body = batch('u1');
    const headers = signed(body);
    const first = await startCrm(env, dataDir);
    expect((await post(first.url, body, headers)).body).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
    await first.subgraph.store.upsertUsers([{ id: 'u1', email: 'u1@new.example' }]);
    await first.close();

    const second = await startCrm(env, dataDir);
    expect(await post(second.url, body, headers)).toEqual({ status: 200, body: { accepted: 0, duplicates: 1, stale: 0 } });
    expect(await second.emailOf('u1')).toBe('u1@new.example');
  });

  it('does not remember the id of a refused batch: the sender may fix and resend it', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    const id = `msg_${randomUUID()}`;
    const invalid = JSON.stringify([{ id: 'u1', email: 'not an email' }]);
    const refused = await post(crm.url, invalid, signed(invalid, SECRET, { id }));
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('BAD_USER_INPUT');
    const fixed = batch('u1');
    expect((await post(crm.url, fixed, signed(fixed, SECRET, { id }))).body).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
  });

  it('forgets ids older than the tolerance, by their webhook-timestamp', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tailor-signed-ingest-'));
    dirs.push(dataDir);
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET, TAILOR_INGEST_TOLERANCE_SECONDS: '60' }, dataDir);
    const send = async (id: string, at: Date) => {
      const body = batch(id);
      expect((await post(crm.url, body, signed(body, SECRET, { id, at }))).status).toBe(200);
    };
    const seen = () => {
      const db = new BetterSqlite3(join(dataDir, 'crm.db'), { readonly: true });
      try {
        return db.prepare('SELECT id FROM ingest_webhook_ids ORDER BY id').pluck().all();
      } finally {
        db.close();
      }
    };
    const now = Date.now();
    await send('old', new Date(now - 50_000));
    await send('fresh', new Date(now));
    expect(seen()).toEqual(['fresh', 'old']);
    // Twenty seconds on, `old` (sent 70 s before) is past the tolerance: the next batch forgets it.
    const later = jest.spyOn(Date, 'now').mockReturnValue(now + 20_000);
    try {
      await send('next', new Date(now + 20_000));
    } finally {
      later.mockRestore();
    }
    expect(seen()).toEqual(['fresh', 'next']);
  });

  it('accepts every secret of a rotation, comma-separated', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: `${SECRET}, ${SECOND_SECRET}` });
    const one = batch('u1');
    const two = batch('u2');
    expect((await post(crm.url, one, signed(one, SECRET))).body).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
    expect((await post(crm.url, two, signed(two, SECOND_SECRET))).body).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
    // A sender may send signatures of both, space-separated, while it moves over.
    const three = batch('u3');
    const both = signed(three, secret(), { id: 'msg_both' });
    both['webhook-signature'] += ` ${new Webhook(SECOND_SECRET).sign('msg_both', new Date(Number(both['webhook-timestamp']) * 1000), three)}`;
    expect((await post(crm.url, three, both)).status).toBe(200);
    expect(await crm.emailOf('u3')).toBe('u3@example.com');
  });
});

describe('POST /ingest/* with an ingest key', () => {
  it('accepts a batch with Authorization: Bearer <key> whose sha256 is configured', async () => {
    const crm = await startCrm({ TAILOR_INGEST_KEYS: `${createHash('sha256').update('another').digest('hex')},${KEY_HASH.toUpperCase()}` });
    expect(await post(crm.url, batch('u1'), { authorization: `Bearer ${KEY}` })).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 0 } });
    expect(await crm.emailOf('u1')).toBe('u1@example.com');
  });

  it('refuses a wrong key, the hash itself as the key, no key, and another scheme', async () => {
    const crm = await startCrm({ TAILOR_INGEST_KEYS: KEY_HASH });
    const body = batch('u1');
    await expectRefused(crm, body, { authorization: `Bearer ${randomBytes(32).toString('hex')}` }, /^The ingest key is not one of TAILOR_INGEST_KEYS\.$/);
    await expectRefused(crm, body, { authorization: `Bearer ${KEY_HASH}` }, /not one of TAILOR_INGEST_KEYS/);
    await expectRefused(crm, body, { authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` }, /must be Bearer <ingest key>/);
    await expectRefused(crm, body, {}, /^This subgraph takes only authenticated batches: send Authorization: Bearer <ingest key>\.$/);
    // A signature is no use without a configured secret.
    await expectRefused(crm, body, signed(body), /send Authorization: Bearer <ingest key>/);
  });

  it('takes either a signature or a key when both are configured', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET, TAILOR_INGEST_KEYS: KEY_HASH });
    const one = batch('u1');
    expect((await post(crm.url, one, signed(one))).status).toBe(200);
    expect((await post(crm.url, batch('u2'), { authorization: `Bearer ${KEY}` })).status).toBe(200);
    await expectRefused(crm, batch('u3'), {}, /sign it \(webhook-id, webhook-timestamp, webhook-signature\) or send Authorization: Bearer <ingest key>/, ['u3']);
  });
});

describe('POST /ingest/* with neither a secret nor a key (development)', () => {
  it('accepts unsigned batches as before, and says so once in a warning at start-up', async () => {
    const crm = await startCrm({});
    expect(await post(crm.url, batch('u1'), {})).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 0 } });
    expect(await crm.emailOf('u1')).toBe('u1@example.com');
    const warnings = crm.logs.filter((l) => l.level === 'warn' && String(l.msg).includes('/ingest/'));
    expect(warnings).toEqual([expect.objectContaining({ msg: expect.stringMatching(/^POST \/ingest\/\* accepts unsigned batches from anyone: set TAILOR_INGEST_WEBHOOK_SECRET or TAILOR_INGEST_KEYS/) })]);
  });

  it('logs no such warning when a secret is set', async () => {
    const crm = await startCrm({ TAILOR_INGEST_WEBHOOK_SECRET: SECRET });
    expect(crm.logs.filter((l) => l.level === 'warn' && String(l.msg).includes('/ingest/'))).toEqual([]);
  });
});

describe('the ingest settings', () => {
  const load = (env: Record<string, string>) => () => loadCrmConfig({ env, argv: [] });

  it('stop start-up with a clear message on a bad value', () => {
    expect(load({ TAILOR_INGEST_WEBHOOK_SECRET: 'not-a-secret' })).toThrow(/TAILOR_INGEST_WEBHOOK_SECRET="not-a-secret": secret 1 must start with whsec_/);
    expect(load({ TAILOR_INGEST_WEBHOOK_SECRET: 'whsec_!!!' })).toThrow(/secret 1 is not whsec_ then base64/);
    expect(load({ TAILOR_INGEST_WEBHOOK_SECRET: `${SECRET},whsec_c2hvcnQ=` })).toThrow(/secret 2 holds 5 bytes; use at least 24/);
    expect(load({ TAILOR_INGEST_KEYS: KEY })).not.toThrow(); // 64 hex digits: indistinguishable from a hash
    expect(load({ TAILOR_INGEST_KEYS: 'my-key' })).toThrow(/TAILOR_INGEST_KEYS="my-key": entry 1 is not a sha256 hex digest/);
    expect(load({ TAILOR_INGEST_TOLERANCE_SECONDS: '301' })).toThrow(/TAILOR_INGEST_TOLERANCE_SECONDS="301": must be at most 300/);
    expect(load({ TAILOR_INGEST_TOLERANCE_SECONDS: '0' })).toThrow(ConfigError);
  });

  it('default to no secret, no key and a tolerance of 300 seconds', () => {
    const config = loadCrmConfig({ env: {}, argv: [] });
    expect([config.ingestWebhookSecrets, config.ingestKeys, config.ingestToleranceSeconds]).toEqual([[], [], 300]);
  });
});
