/**
 * Privacy operations end to end, through the real processes of `npm start`: `exportUser` and
 * `eraseUser` fan out from the gateway to every subgraph; afterwards the user is unknown everywhere,
 * the caches serve nothing of them, and the database files on disk hold no trace of them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readRegistry } from '../scripts/composition/readRegistry';
import { type ProcessStack, REPO_ROOT, startProcessStack } from './support/processStack';

/** Every subgraph of the registry: Tailor's three and any partner's (a scratch clone may hold one). */
const SUBGRAPHS = readRegistry().map((s) => s.name).sort();
const BUILT_IN = ['behavior', 'crm', 'stock'];

jest.setTimeout(120_000);

let tailor: ProcessStack;

beforeAll(async () => {
  tailor = await startProcessStack({ scale: 'small' });
}, 200_000);

afterAll(async () => {
  await tailor?.stop();
}, 60_000);

/** A client key made with the operator's CLI in the stack's data folder. */
function createKey(name: string, scopes: string): string {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', 'create', '--name', name, '--scopes', scopes, '--data-dir', tailor.dataDir], { cwd: REPO_ROOT, encoding: 'utf8' });
  return /tlr_[A-Za-z0-9_-]{43}/.exec(out)![0];
}

const PROFILE = `query Profile($id: ID!) { user(id: $id) { id email firstName lastName consent { email personalization } recentlyViewed(limit: 50) { product { sku } } } }`;
const ERASE = `mutation Erase($id: ID!) { eraseUser(id: $id) { userId complete receipts { subgraph holdsPersonalData deleted { kind count } erasedAt error } } }`;
const EXPORT = `query Export($id: ID!) { exportUser(id: $id) { userId complete exportedAt document } }`;

/** Every byte of every database file (and WAL) in the data folder, as latin1 text for searching. */
function databaseBytes(): Record<string, string> {
  const files = readdirSync(tailor.dataDir).filter((f) => /\.db(-wal)?$/.test(f));
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(tailor.dataDir, f)).toString('latin1')]));
}

/** The files whose bytes hold `text` (an id is matched only where no further digit follows). */
function filesHolding(text: string): string[] {
  const pattern = new RegExp(`${text.replace(/[-.]/g, '\\$&')}(?![0-9])`);
  return Object.entries(databaseBytes())
    .filter(([, bytes]) => pattern.test(bytes))
    .map(([file]) => file);
}

describe('eraseUser and exportUser across every subgraph', () => {
  // A demo user with consent to personalization and a browsing history.
  let id: string;
  let profile: { id: string; email: string; firstName: string; lastName: string; recentlyViewed: unknown[] };

  beforeAll(async () => {
    for (let n = 1; n <= 40 && !id; n++) {
      const candidate = `u-${String(n).padStart(5, '0')}`;
      const answer = await tailor.gql(PROFILE, { id: candidate });
      const user = answer.body.data?.user;
      if (user?.consent.personalization && user.recentlyViewed.length >= 2 && user.lastName) {
        id = candidate;
        profile = user;
      }
    }
    expect(id).toBeDefined();
    // Before: the user is on disk, in crm's database or its WAL, and their id in behavior's too.
    expect(filesHolding(profile.email).map((f) => f.replace(/-wal$/, ''))).toContain('crm.db');
    expect(filesHolding(id).map((f) => f.replace(/-wal$/, ''))).toEqual(expect.arrayContaining(['crm.db', 'behavior.db']));
  });

  it('refuses both without privacy:admin, with FORBIDDEN and 403, and erases nothing', async () => {
    const reader = createKey('reader', 'recipients:read,pii:read');
    const erase = await tailor.gql(ERASE, { id }, reader);
    expect({ status: erase.status, body: erase.body }).toEqual({
      status: 403,
      body: {
        data: null,
        errors: [
          {
            message: "Not allowed: Mutation.eraseUser needs the scope privacy:admin, which this client's credential does not carry.",
            path: ['eraseUser'],
            extensions: { code: 'FORBIDDEN', field: 'Mutation.eraseUser', missingScopes: ['privacy:admin'] },
          },
        ],
      },
    });
    const exported = await tailor.gql(EXPORT, { id }, reader);
    expect(exported.status).toBe(403);
    expect(exported.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect((await tailor.gql(PROFILE, { id })).body.data?.user).toEqual(profile);
  });

  it('exports every subgraph holding data of the user as one JSON document', async () => {
    const answer = await tailor.gql(EXPORT, { id });
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    const exported = answer.body.data!.exportUser;
    expect(exported).toEqual({ userId: id, complete: true, exportedAt: expect.any(String), document: expect.any(Object) });
    const { document } = exported;
    expect(Object.keys(document).sort()).toEqual(['exportedAt', 'subgraphs', 'userId']);
    expect(Object.keys(document.subgraphs)).toEqual(expect.arrayContaining(['behavior', 'crm']));
    expect(Object.keys(document.subgraphs).filter((name) => !SUBGRAPHS.includes(name))).toEqual([]);
    expect(document.subgraphs.crm.profile).toMatchObject({ id, email: profile.email, firstName: profile.firstName, lastName: profile.lastName });
    expect(document.subgraphs.crm.consent).toMatchObject({ personalization: true });
    const viewed = new Set((document.subgraphs.behavior.events as { sku: string; type: string }[]).filter((e) => e.type === 'VIEW').map((e) => e.sku));
    for (const view of profile.recentlyViewed as { product: { sku: string } }[]) expect(viewed.has(view.product.sku)).toBe(true);
  });

  it('erases the user in crm and behavior, with one receipt per subgraph; afterwards every query answers as for an unknown id and the files hold no trace', async () => {
    // The caches are warm: the profile was read just before.
    expect((await tailor.gql(PROFILE, { id })).body.data?.user?.email).toBe(profile.email);

    const answer = await tailor.gql(ERASE, { id });
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    const erasure = answer.body.data!.eraseUser;
    const bySubgraph = Object.fromEntries(erasure.receipts.map((r: { subgraph: string }) => [r.subgraph, r]));
    expect({ userId: erasure.userId, complete: erasure.complete, subgraphs: Object.keys(bySubgraph).sort() }).toEqual({ userId: id, complete: true, subgraphs: SUBGRAPHS });
    expect(bySubgraph.crm).toEqual({
      subgraph: 'crm',
      holdsPersonalData: true,
      deleted: [
        { kind: 'consents', count: 1 },
        { kind: 'profiles', count: 1 },
      ],
      erasedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      error: null,
    });
    expect(bySubgraph.behavior).toEqual({
      subgraph: 'behavior',
      holdsPersonalData: true,
      deleted: [{ kind: 'events', count: expect.any(Number) }],
      erasedAt: expect.any(String),
      error: null,
    });
    expect(bySubgraph.behavior.deleted[0].count).toBeGreaterThanOrEqual(profile.recentlyViewed.length);
    expect(bySubgraph.stock).toEqual({ subgraph: 'stock', holdsPersonalData: false, deleted: [], erasedAt: expect.any(String), error: null });

    // Every way of asking answers as for an unknown id: nothing comes from a cache.
    expect((await tailor.gql(PROFILE, { id })).body).toEqual({ data: { user: null } });
    expect((await tailor.gql('query($ids: [ID!]!) { users(ids: $ids) { id email } }', { ids: [id] })).body).toEqual({ data: { users: [null] } });
    expect((await tailor.gql('query($email: String!) { userByEmail(email: $email) { id } }', { email: profile.email })).body).toEqual({ data: { userByEmail: null } });
    const rest = await fetch(`${tailor.url('gateway')}/api/v1/users/${id}/profile`, { headers: tailor.auth });
    expect(rest.status).toBe(404);

    // No database file of any service (the gateway's audit log included) holds the id or the email.
    expect(filesHolding(profile.email)).toEqual([]);
    expect(filesHolding(id)).toEqual([]);

    // The export is now empty.
    const exported = await tailor.gql(EXPORT, { id });
    expect(exported.body.data?.exportUser).toMatchObject({ userId: id, complete: true, document: { userId: id, subgraphs: {} } });
  });

  it('is idempotent: erasing again deletes nothing more and succeeds', async () => {
    const answer = await tailor.gql(ERASE, { id });
    expect(answer.status).toBe(200);
    const receipts = answer.body.data!.eraseUser.receipts
      .filter((r: { subgraph: string }) => BUILT_IN.includes(r.subgraph))
      .map((r: { subgraph: string; deleted: unknown[]; error: unknown }) => [r.subgraph, r.deleted, r.error]);
    expect(answer.body.data!.eraseUser.complete).toBe(true);
    expect(receipts.sort()).toEqual([
      ['behavior', [{ kind: 'events', count: 0 }], null],
      ['crm', [{ kind: 'consents', count: 0 }, { kind: 'profiles', count: 0 }], null],
      ['stock', [], null],
    ]);
  });

  it('leaves an audit entry per privacy operation with who, what, when and the outcome, and no personal value', async () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/audit.ts', '--json', '--data-dir', tailor.dataDir], { cwd: REPO_ROOT, encoding: 'utf8' });
    const entries = JSON.parse(out) as { actor: string; action: string; outcome: string; detail: Record<string, any> | null }[];
    const privacy = entries.filter((e) => e.action === 'eraseUser' || e.action === 'exportUser').map((e) => [e.actor, e.action, e.outcome]);
    expect(privacy).toEqual([
      ['reader', 'eraseUser', 'forbidden'],
      ['reader', 'exportUser', 'forbidden'],
      ['development', 'exportUser', 'ok'],
      ['development', 'eraseUser', 'ok'],
      ['development', 'exportUser', 'ok'],
      ['development', 'eraseUser', 'ok'],
    ]);
    const firstErase = entries.find((e) => e.action === 'eraseUser' && e.outcome === 'ok')!;
    expect(firstErase.detail?.receipts).toEqual(expect.arrayContaining([{ subgraph: 'crm', deleted: { profiles: 1, consents: 1 }, ok: true }]));
    for (const text of [id, profile.email, profile.lastName]) expect(out).not.toContain(text);
  });

  it('writes none of the user\'s personal values to any log line of any process', () => {
    const lines = tailor.logs.map((l) => l.line);
    expect(lines.length).toBeGreaterThan(0);
    for (const text of [profile.email, profile.lastName]) expect(lines.filter((line) => line.includes(text))).toEqual([]);
  });
});
