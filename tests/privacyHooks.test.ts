import BetterSqlite3 from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_SCALES, demoEvents, demoUsers } from '../demo/demoData';
import { createLogger } from '../kit/logger';
import type { RunningService } from '../kit/runService';
import { SIGNATURE_HEADER, parseSubgraphKeys, signRequest } from '../kit/subgraphCredential';
import { loadBehaviorConfig } from '../subgraphs/behavior/src/config';
import { type BehaviorSubgraph, createBehaviorSubgraph } from '../subgraphs/behavior/src/createBehaviorSubgraph';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type CrmSubgraph, createCrmSubgraph } from '../subgraphs/crm/src/createCrmSubgraph';
import { PRIVACY_MAX_BODY_BYTES } from '../subgraphs/kit/privacyRoutes';
import { startSubgraph } from '../subgraphs/kit/subgraphServer';
import { loadStockConfig } from '../subgraphs/stock/src/config';
import { type StockSubgraph, createStockSubgraph } from '../subgraphs/stock/src/createStockSubgraph';
import { createFakeClock } from './support/fakeClock';
import { TEST_SUBGRAPH_SECRET, postSigned, signedHeaders } from './support/subgraphSigning';

// The erased user consents to personalization and browses (a showcase user of the demo); the kept
// one is there to show that an erasure touches nobody else.
const ERASED = 'u-00003';
const KEPT = 'u-00001';
const UNSIGNED_TARGET = 'u-00002';
const clock = createFakeClock();
const NOW = new Date(clock.now()).toISOString();
const users = demoUsers(DEMO_SCALES.small);
const erased = users.find((u) => u.id === ERASED)!;
const erasedEvents = [...demoEvents(DEMO_SCALES.small, clock.now())]
  .filter((e) => e.userId === ERASED)
  .sort((a, b) => a.occurredAt - b.occurredAt || (a.eventId < b.eventId ? -1 : 1));

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** POSTs raw bytes to a privacy route with the given headers. */
async function post(url: string, body: string | Buffer<ArrayBuffer>, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers, body });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** POSTs `{"userId": …}` to a privacy route with a fresh gateway credential. */
const signedPost = (url: string, payload: unknown) => {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return post(url, body, signedHeaders(body));
};

/** The bytes of a database file and its WAL, as they are on disk. */
function fileBytes(file: string): Buffer {
  return Buffer.concat([readFileSync(file), existsSync(`${file}-wal`) ? readFileSync(`${file}-wal`) : Buffer.alloc(0)]);
}

/** Runs `read` on a read-only connection of its own to `file`, closed at once (so it holds up no checkpoint). */
function readDb<T>(file: string, read: (db: BetterSqlite3.Database) => T): T {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

describe('privacy operations of the subgraphs (real HTTP, databases on disk)', () => {
  let dir: string;
  let crm: CrmSubgraph;
  let behavior: BehaviorSubgraph;
  let stock: StockSubgraph;
  const running: RunningService[] = [];
  const urls = { crm: '', behavior: '', stock: '' };
  const logs: string[] = [];
  const logger = (name: string) => createLogger(name, 'info', { write: (line: string) => void logs.push(line) });
  let crmDb: string;
  let behaviorDb: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tailor-privacy-'));
    crmDb = join(dir, 'crm.db');
    behaviorDb = join(dir, 'behavior.db');
    const env = { TAILOR_DATA_DIR: dir, TAILOR_SEED: 'demo', TAILOR_DEMO_SCALE: 'small', TAILOR_DB_SYNC: 'NORMAL', TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET };
    const crmConfig = loadCrmConfig({ env, argv: [] });
    const listen = { host: '127.0.0.1', port: 0, subgraphSecret: crmConfig.subgraphSecret, credentialToleranceSeconds: crmConfig.credentialToleranceSeconds };
    crm = await createCrmSubgraph(crmConfig, { clock, logger: logger('crm') });
    behavior = await createBehaviorSubgraph(loadBehaviorConfig({ env, argv: [] }), { clock, logger: logger('behavior') });
    running.push(await startSubgraph(crm.definition, listen));
    running.push(await startSubgraph(behavior.definition, listen));
    stock = await createStockSubgraph(loadStockConfig({ env: { ...env, TAILOR_BEHAVIOR_URL: `${running[1].url}/graphql` }, argv: [] }), { clock, logger: logger('stock') });
    running.push(await startSubgraph(stock.definition, listen));
    [urls.crm, urls.behavior, urls.stock] = running.map((r) => r.url);
  });

  afterAll(async () => {
    await Promise.all(running.map((r) => r.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  const crmRows = (id: string, email = '') =>
    readDb(crmDb, (db) => ({
      profiles: (db.prepare('SELECT COUNT(*) AS n FROM users WHERE id = ? OR email_key = ?').get(id, email) as { n: number }).n,
      consents: (db.prepare('SELECT COUNT(*) AS n FROM consents WHERE user_id = ?').get(id) as { n: number }).n,
    }));
  const behaviorRows = (id: string) => readDb(behaviorDb, (db) => (db.prepare('SELECT COUNT(*) AS n FROM events WHERE user_id = ?').get(id) as { n: number }).n);

  const USER_QUERY = (id: string, email: string) => ({
    query: `query($id: ID!, $email: String!) { user(id: $id) { id email firstName lastName } userByEmail(email: $email) { id } }`,
    variables: { id, email },
  });
  const CRM_ENTITIES = (id: string) => ({
    query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id email consent { personalization } } } }',
    variables: { r: [{ __typename: 'User', id }] },
  });
  const RECENTLY_VIEWED = (id: string) => ({
    query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { recentViews { skus viewedAt } } } }',
    variables: { r: [{ __typename: 'User', id, consent: { personalization: true } }] },
  });

  describe('a call without the gateway credential', () => {
    const body = JSON.stringify({ userId: UNSIGNED_TARGET });
    const target = users.find((u) => u.id === UNSIGNED_TARGET)!;
    const refused = {
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/^This subgraph answers the gateway only: /) } },
    };

    it.each([
      ['unsigned', {}],
      ['signed with another secret', { [SIGNATURE_HEADER]: signRequest('w'.repeat(64), body) }],
      ['signed over another body', { [SIGNATURE_HEADER]: signRequest(TEST_SUBGRAPH_SECRET, JSON.stringify({ userId: KEPT })) }],
    ])('is refused with 401 when %s, and neither erases nor exports anything', async (_name, credential) => {
      for (const service of ['crm', 'behavior'] as const) {
        for (const operation of ['erase', 'export']) {
          const answer = await post(`${urls[service]}/privacy/${operation}`, body, { 'content-type': 'application/json', ...credential });
          expect({ service, operation, status: answer.status, body: answer.body }).toEqual({ service, operation, ...refused });
          expect(JSON.stringify(answer.body)).not.toContain(UNSIGNED_TARGET);
        }
      }
      expect(crmRows(UNSIGNED_TARGET, target.email)).toEqual({ profiles: 1, consents: 1 });
      expect(behaviorRows(UNSIGNED_TARGET)).toBeGreaterThan(0);
      const still = await postSigned(`${urls.crm}/graphql`, USER_QUERY(UNSIGNED_TARGET, target.email));
      expect(still.body.data.user).toEqual({ id: UNSIGNED_TARGET, email: target.email, firstName: target.firstName, lastName: target.lastName });
    });
  });

  describe(`erasing and exporting ${ERASED}`, () => {
    const expectedCrmExport = {
      profile: {
        id: ERASED,
        email: erased.email,
        firstName: erased.firstName,
        lastName: erased.lastName,
        locale: erased.locale,
        timezone: erased.timezone,
        loyaltyTier: erased.loyaltyTier,
        segments: erased.segments,
        updatedAt: NOW,
      },
      consent: { email: erased.consentEmail, personalization: erased.consentPersonalization, updatedAt: NOW },
    };

    it('exports everything each subgraph holds of the user, before the erasure', async () => {
      expect(erasedEvents.length).toBeGreaterThan(0);
      const crmExport = await signedPost(`${urls.crm}/privacy/export`, { userId: ERASED });
      expect({ status: crmExport.status, body: crmExport.body }).toEqual({
        status: 200,
        body: { subgraph: 'crm', holdsPersonalData: true, data: expectedCrmExport, exportedAt: NOW },
      });
      const behaviorExport = await signedPost(`${urls.behavior}/privacy/export`, { userId: ERASED });
      expect({ status: behaviorExport.status, body: behaviorExport.body }).toEqual({
        status: 200,
        body: {
          subgraph: 'behavior',
          holdsPersonalData: true,
          data: { events: erasedEvents.map((e) => ({ eventId: e.eventId, sku: e.sku, type: e.type, occurredAt: new Date(e.occurredAt).toISOString() })) },
          exportedAt: NOW,
        },
      });
      expect(behaviorExport.headers.get('cache-control')).toBe('no-store');
    });

    it('serves the user through /graphql before the erasure, and warms the profile cache', async () => {
      const before = await postSigned(`${urls.crm}/graphql`, USER_QUERY(ERASED, erased.email));
      expect(before.body).toEqual({
        data: { user: { id: ERASED, email: erased.email, firstName: erased.firstName, lastName: erased.lastName }, userByEmail: { id: ERASED } },
      });
      expect(crm.profiles.getMany([ERASED]).found.has(ERASED)).toBe(true);
      const views = await postSigned(`${urls.behavior}/graphql`, RECENTLY_VIEWED(ERASED));
      expect(views.body.data._entities[0].recentViews.skus.length).toBeGreaterThan(0);
      // The bytes are there to be erased: the check after the erasure would otherwise prove nothing.
      expect(fileBytes(crmDb).includes(erased.email)).toBe(true);
      expect(fileBytes(crmDb).includes(ERASED)).toBe(true);
      expect(fileBytes(behaviorDb).includes(ERASED)).toBe(true);
    });

    it('erases the user in crm and behavior, each answering a receipt with what it deleted', async () => {
      const crmReceipt = await signedPost(`${urls.crm}/privacy/erase`, { userId: ERASED });
      expect({ status: crmReceipt.status, body: crmReceipt.body }).toEqual({
        status: 200,
        body: { subgraph: 'crm', holdsPersonalData: true, deleted: { profiles: 1, consents: 1 }, erasedAt: NOW },
      });
      expect(crmReceipt.headers.get('cache-control')).toBe('no-store');
      const behaviorReceipt = await signedPost(`${urls.behavior}/privacy/erase`, { userId: ERASED });
      expect({ status: behaviorReceipt.status, body: behaviorReceipt.body }).toEqual({
        status: 200,
        body: { subgraph: 'behavior', holdsPersonalData: true, deleted: { events: erasedEvents.length }, erasedAt: NOW },
      });
    });

    it('leaves no row of the user, and every other user as they were', () => {
      expect(crmRows(ERASED, erased.email)).toEqual({ profiles: 0, consents: 0 });
      expect(behaviorRows(ERASED)).toBe(0);
      expect(crmRows(KEPT, users[0].email)).toEqual({ profiles: 1, consents: 1 });
      expect(behaviorRows(KEPT)).toBeGreaterThan(0);
      expect(readDb(crmDb, (db) => (db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n)).toBe(users.length - 1);
    });

    it('answers /graphql as for an unknown id, the profile cache serving nothing', async () => {
      expect((await postSigned(`${urls.crm}/graphql`, USER_QUERY(ERASED, erased.email))).body).toEqual({ data: { user: null, userByEmail: null } });
      expect((await postSigned(`${urls.crm}/graphql`, CRM_ENTITIES(ERASED))).body).toEqual({ data: { _entities: [null] } });
      expect(crm.profiles.getMany([ERASED]).found.size).toBe(0);
      expect((await postSigned(`${urls.behavior}/graphql`, RECENTLY_VIEWED(ERASED))).body).toEqual({ data: { _entities: [{ recentViews: { skus: [], viewedAt: [] } }] } });
    });

    it("leaves neither the user's email nor their id in the bytes of any .db or -wal file", () => {
      for (const file of [crmDb, behaviorDb]) {
        const bytes = fileBytes(file);
        expect({ file, email: bytes.includes(erased.email), id: bytes.includes(ERASED) }).toEqual({ file, email: false, id: false });
      }
      // The checkpoint emptied the WALs: no older page image of the user's rows is left in them.
      expect([readFileSync(`${crmDb}-wal`).length, readFileSync(`${behaviorDb}-wal`).length]).toEqual([0, 0]);
    });

    it('deletes nothing on a second erasure (idempotent), with the same receipt shape', async () => {
      expect((await signedPost(`${urls.crm}/privacy/erase`, { userId: ERASED })).body).toEqual({
        subgraph: 'crm',
        holdsPersonalData: true,
        deleted: { profiles: 0, consents: 0 },
        erasedAt: NOW,
      });
      expect((await signedPost(`${urls.behavior}/privacy/erase`, { userId: ERASED })).body).toEqual({
        subgraph: 'behavior',
        holdsPersonalData: true,
        deleted: { events: 0 },
        erasedAt: NOW,
      });
    });

    it('exports an empty object after the erasure', async () => {
      for (const service of ['crm', 'behavior'] as const) {
        const answer = await signedPost(`${urls[service]}/privacy/export`, { userId: ERASED });
        expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { subgraph: service, holdsPersonalData: true, data: {}, exportedAt: NOW } });
      }
    });

    it('logs one line per operation with the counts, and never the user id, email or name', () => {
      const lines = logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      const privacyLines = lines.filter((line) => line.operation !== undefined).map(({ subgraph, operation, deleted, exported, msg }) => ({ subgraph, operation, deleted, exported, msg }));
      expect(privacyLines).toEqual([
        { subgraph: 'crm', operation: 'export', deleted: undefined, exported: { profile: 1, consent: 1 }, msg: 'exported a user' },
        { subgraph: 'behavior', operation: 'export', deleted: undefined, exported: { events: erasedEvents.length }, msg: 'exported a user' },
        { subgraph: 'crm', operation: 'erase', deleted: { profiles: 1, consents: 1 }, exported: undefined, msg: 'erased a user' },
        { subgraph: 'behavior', operation: 'erase', deleted: { events: erasedEvents.length }, exported: undefined, msg: 'erased a user' },
        { subgraph: 'crm', operation: 'erase', deleted: { profiles: 0, consents: 0 }, exported: undefined, msg: 'erased a user' },
        { subgraph: 'behavior', operation: 'erase', deleted: { events: 0 }, exported: undefined, msg: 'erased a user' },
        { subgraph: 'crm', operation: 'export', deleted: undefined, exported: {}, msg: 'exported a user' },
        { subgraph: 'behavior', operation: 'export', deleted: undefined, exported: {}, msg: 'exported a user' },
      ]);
      const all = logs.join('\n');
      for (const value of [ERASED, UNSIGNED_TARGET, erased.email, `"${erased.firstName}"`, `"${erased.lastName}"`]) expect({ value, logged: all.includes(value) }).toEqual({ value, logged: false });
    });
  });

  describe('a subgraph without a privacy hook (stock)', () => {
    it('answers that it holds no personal data, deleting and exporting nothing', async () => {
      const receipt = await signedPost(`${urls.stock}/privacy/erase`, { userId: KEPT });
      expect({ status: receipt.status, body: receipt.body }).toEqual({ status: 200, body: { subgraph: 'stock', holdsPersonalData: false, deleted: {}, erasedAt: NOW } });
      const exported = await signedPost(`${urls.stock}/privacy/export`, { userId: KEPT });
      expect({ status: exported.status, body: exported.body }).toEqual({ status: 200, body: { subgraph: 'stock', holdsPersonalData: false, data: {}, exportedAt: NOW } });
    });

    it('stores no user id at all', () => {
      expect(/u-\d{5}/.test(fileBytes(join(dir, 'stock.db')).toString('latin1'))).toBe(false);
    });
  });

  describe('a bad request', () => {
    const erase = () => `${urls.crm}/privacy/erase`;
    const badInput = (message: string, field?: string) => ({ status: 400, body: { error: { code: 'BAD_USER_INPUT', message, ...(field ? { field } : {}) } } });

    it.each([
      ['not JSON', '{"userId": ', badInput('The request body is not valid JSON. The body must be a JSON object {"userId": "<id>"}.')],
      ['an array', '["u-00001"]', badInput('The body must be a JSON object {"userId": "<id>"}.')],
      ['null', 'null', badInput('The body must be a JSON object {"userId": "<id>"}.')],
      ['without userId', '{}', badInput('userId is missing. The body must be a JSON object {"userId": "<id>"}.', 'userId')],
      ['with a number for userId', '{"userId": 3}', badInput('userId must be a string, not number.', 'userId')],
      ['with an empty userId', '{"userId": ""}', badInput('userId must not be empty.', 'userId')],
      ['with a userId of 257 characters', JSON.stringify({ userId: 'u'.repeat(257) }), badInput('userId must be at most 256 characters.', 'userId')],
      ['with a lone surrogate in userId', '{"userId": "u-\\ud800"}', badInput('userId must be well-formed Unicode text (it holds a lone UTF-16 surrogate).', 'userId')],
      ['with an unknown field', '{"userId": "u-00001", "reason": "x"}', badInput('Unknown field "reason": The body must be a JSON object {"userId": "<id>"}.')],
    ])('is refused with 400 BAD_USER_INPUT when the body is %s, deleting nothing', async (_name, body, expected) => {
      const answer = await signedPost(erase(), body);
      expect({ status: answer.status, body: answer.body }).toEqual(expected);
      expect(crmRows(KEPT, users[0].email)).toEqual({ profiles: 1, consents: 1 });
    });

    it('is refused with 400 when the body is not UTF-8', async () => {
      const body = Buffer.concat([Buffer.from('{"userId": "u-'), Buffer.from([0xff]), Buffer.from('"}')]);
      const answer = await post(erase(), body, signedHeaders(body));
      expect({ status: answer.status, body: answer.body }).toEqual(badInput('The body is not well-formed UTF-8. The body must be a JSON object {"userId": "<id>"}.'));
    });

    it('accepts a userId of 256 characters (an unknown one: nothing to delete)', async () => {
      const answer = await signedPost(erase(), { userId: 'u'.repeat(256) });
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { subgraph: 'crm', holdsPersonalData: true, deleted: { profiles: 0, consents: 0 }, erasedAt: NOW } });
    });

    it('is refused with 415 when it is not JSON', async () => {
      const body = JSON.stringify({ userId: KEPT });
      const answer = await post(erase(), body, { ...signedHeaders(body), 'content-type': 'text/plain' });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 415,
        body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body of /privacy/erase as JSON, with Content-Type: application/json.' } },
      });
      expect(crmRows(KEPT, users[0].email)).toEqual({ profiles: 1, consents: 1 });
    });

    it('is refused with 413 past 16 KiB, before anything is parsed', async () => {
      const body = JSON.stringify({ userId: KEPT, pad: 'x'.repeat(PRIVACY_MAX_BODY_BYTES) });
      const answer = await post(erase(), body, signedHeaders(body));
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 413,
        body: { error: { code: 'BATCH_TOO_LARGE', message: 'Request body is larger than the limit of 16384 bytes. The body of /privacy/erase is {"userId": "<id>"}.', limitBytes: 16384 } },
      });
      expect(PRIVACY_MAX_BODY_BYTES).toBe(16 * 1024);
      expect(crmRows(KEPT, users[0].email)).toEqual({ profiles: 1, consents: 1 });
    });

    it.each(['GET', 'PUT', 'DELETE'])('is refused with 405 and Allow: POST for %s', async (method) => {
      const response = await fetch(`${urls.crm}/privacy/export`, { method });
      expect({ status: response.status, allow: response.headers.get('allow'), body: await response.json() }).toEqual({
        status: 405,
        allow: 'POST',
        body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Use POST for /privacy/export, with the body {"userId": "<id>"}.' } },
      });
    });

    it('lists the privacy routes among the routes of a 404', async () => {
      const response = await fetch(`${urls.crm}/privacy/forget`, { method: 'POST' });
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: 'No route /privacy/forget. Routes: /graphql, /ingest/users, /privacy/erase, /privacy/export, /health, /metrics.' } },
      });
    });
  });

  describe('a hook that throws', () => {
    let failing: RunningService;
    const lines: string[] = [];
    beforeAll(async () => {
      const quote = `no such user ${erased.email}`;
      failing = await startSubgraph(
        {
          ...crm.definition,
          logger: createLogger('crm', 'info', { write: (line: string) => void lines.push(line) }),
          privacy: {
            erase: () => {
              throw new Error(quote);
            },
            export: async () => {
              throw new TypeError(quote);
            },
          },
          onClose: undefined,
        },
        { host: '127.0.0.1', port: 0, subgraphSecret: parseSubgraphKeys(TEST_SUBGRAPH_SECRET) },
      );
    });
    afterAll(() => failing.close());

    it('answers 500 INTERNAL_SERVER_ERROR with a generic message, logs the error without its message, and keeps serving', async () => {
      for (const [operation, errorType] of [
        ['erase', 'Error'],
        ['export', 'TypeError'],
      ]) {
        const answer = await signedPost(`${failing.url}/privacy/${operation}`, { userId: KEPT });
        expect({ status: answer.status, body: answer.body }).toEqual({
          status: 500,
          body: { error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error. The details are in the server log.' } },
        });
        const logged = lines.map((line) => JSON.parse(line)).find((line) => line.operation === operation);
        expect(logged).toMatchObject({ level: 'error', subgraph: 'crm', operation, errorType, msg: `the privacy ${operation} hook failed` });
        expect(logged.frames.length).toBeGreaterThan(0);
      }
      expect(lines.join('\n')).not.toContain(erased.email);
      expect(lines.join('\n')).not.toContain(KEPT);
      expect((await fetch(`${failing.url}/health`)).status).toBe(200);
      expect((await postSigned(`${failing.url}/graphql`, { query: '{ __typename }' })).body).toEqual({ data: { __typename: 'Query' } });
    });
  });
});
