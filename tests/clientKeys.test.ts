import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { createAuditLog } from '../gateway/src/auditLog';
import { KeyStoreError, createKeyStore } from '../gateway/src/clientKeys';
import { GATEWAY_DATABASE_FILE, gatewayDatabasePath, openGatewayDatabase } from '../gateway/src/gatewayDatabase';
import { parseAuditArgs } from '../scripts/audit';
import { UsageError, parseKeysArgs, scopesOfSupergraph } from '../scripts/keys';

const REPO_ROOT = join(__dirname, '..');
const LOOPBACK_ONLY = join(__dirname, 'support', 'loopbackOnly.cjs');
const TOKEN = /tlr_[A-Za-z0-9_-]{43}/;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const scratch: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-keys-'));
  scratch.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('createKeyStore', () => {
  let db: BetterSqlite3.Database;
  beforeEach(() => {
    db = openGatewayDatabase(':memory:');
  });
  afterEach(() => {
    if (db.open) db.close();
  });

  it('stores the sha256 of a token and the token nowhere, neither in the table nor in the file', () => {
    const dir = tempDir();
    const file = gatewayDatabasePath(dir);
    const onDisk = openGatewayDatabase(file);
    const { token, key } = createKeyStore(onDisk).create({ name: 'braze', scopes: ['recipients:read'] });
    expect(token).toMatch(new RegExp(`^${TOKEN.source}$`));
    expect(key.id).toMatch(/^key_[0-9a-f]{12}$/);

    const rows = onDisk.prepare('SELECT * FROM client_keys').all() as Record<string, unknown>[];
    expect(rows).toHaveLength(1);
    expect(rows[0].token_sha256).toBe(sha256(token));
    const secret = token.slice('tlr_'.length);
    expect(JSON.stringify(rows)).not.toContain(secret);

    onDisk.pragma('wal_checkpoint(TRUNCATE)');
    onDisk.close();
    const bytes = readFileSync(join(dir, GATEWAY_DATABASE_FILE)).toString('latin1');
    expect(bytes).toContain(sha256(token));
    expect(bytes).not.toContain(secret);
  });

  it('verifies a live token as its key, with scopes deduplicated and sorted and limits kept', () => {
    const store = createKeyStore(db);
    const { token, key } = store.create({ name: 'braze', scopes: ['pii:read', 'recipients:read', 'pii:read'], ratePerMinute: 6000, dailyQuota: 1_000_000 });
    expect(key).toEqual({
      id: key.id,
      name: 'braze',
      scopes: ['pii:read', 'recipients:read'],
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      revokedAt: null,
      ratePerMinute: 6000,
      dailyQuota: 1_000_000,
    });
    expect(store.verify(token)).toEqual(key);
    expect(store.create({ name: 'iterable', scopes: ['recipients:read'] }).key).toMatchObject({ ratePerMinute: null, dailyQuota: null });
  });

  it('verifies no unknown token, and refuses a token of another shape without reading the database', () => {
    const store = createKeyStore(db);
    const { token } = store.create({ name: 'braze', scopes: ['recipients:read'] });
    const unknown = `tlr_${'A'.repeat(43)}`;
    expect(store.verify(unknown)).toBeUndefined();
    expect(store.verify(`${token}x`)).toBeUndefined();
    expect(store.verify(token.slice(0, -1))).toBeUndefined();
    expect(store.verify(`Bearer ${token}`)).toBeUndefined();

    // A closed database throws on any statement: the malformed tokens above and below never reach it.
    db.close();
    expect(store.verify('tlr_short')).toBeUndefined();
    expect(store.verify('')).toBeUndefined();
    expect(() => store.verify(unknown)).toThrow(/not open/);
  });

  it('stops verifying a key once it is revoked, by name or by id, and revoking again finds nothing', () => {
    const store = createKeyStore(db);
    const braze = store.create({ name: 'braze', scopes: ['recipients:read'] });
    const iterable = store.create({ name: 'iterable', scopes: ['recipients:read'] });
    expect(store.hasLiveKeys()).toBe(true);

    const revoked = store.revoke('braze');
    expect(revoked).toEqual({ ...braze.key, revokedAt: expect.stringMatching(/Z$/) });
    expect(store.verify(braze.token)).toBeUndefined();
    expect(store.verify(iterable.token)).toEqual(iterable.key);
    expect(store.revoke('braze')).toBeUndefined();
    expect(store.revoke(braze.key.id)).toBeUndefined();
    expect(store.revoke('nobody')).toBeUndefined();

    expect(store.revoke(iterable.key.id)?.name).toBe('iterable');
    expect(store.verify(iterable.token)).toBeUndefined();
    expect(store.hasLiveKeys()).toBe(false);
    expect(store.list()).toEqual([]);
    expect(store.list({ includeRevoked: true }).map((k) => [k.name, k.revokedAt !== null])).toEqual([
      ['braze', true],
      ['iterable', true],
    ]);
  });

  it('sees a revocation made through another connection to the same file at its very next verify', () => {
    const file = gatewayDatabasePath(tempDir());
    const gateway = openGatewayDatabase(file);
    const operator = openGatewayDatabase(file);
    try {
      const gatewayStore = createKeyStore(gateway);
      const { token, key } = gatewayStore.create({ name: 'braze', scopes: ['recipients:read'] });
      expect(gatewayStore.verify(token)).toEqual(key);
      expect(createKeyStore(operator).revoke('braze')?.id).toBe(key.id);
      expect(gatewayStore.verify(token)).toBeUndefined();
      expect(gatewayStore.hasLiveKeys()).toBe(false);
    } finally {
      gateway.close();
      operator.close();
    }
  });

  it('refuses a name a live key has, and gives it to a new key once that one is revoked', () => {
    const store = createKeyStore(db);
    const first = store.create({ name: 'braze', scopes: ['recipients:read'] });
    expect(() => store.create({ name: 'braze', scopes: ['pii:read'] })).toThrow(
      new KeyStoreError('A live key is already named "braze": revoke it first (npm run keys -- revoke braze) or choose another name.'),
    );
    expect(store.list()).toHaveLength(1);

    store.revoke('braze');
    const second = store.create({ name: 'braze', scopes: ['pii:read'] });
    expect(second.key.id).not.toBe(first.key.id);
    expect(store.verify(second.token)).toEqual(second.key);
    expect(store.verify(first.token)).toBeUndefined();
    // The partial unique index holds the rule even for a writer that skips the store.
    expect(() =>
      db.prepare("INSERT INTO client_keys (id, name, token_sha256, scopes, created_at) VALUES ('key_000000000000', 'braze', 'x', '[]', 'now')").run(),
    ).toThrow(/UNIQUE constraint failed: client_keys.name/);
  });

  it('names every problem of a bad name, scope or limit in one KeyStoreError, and stores nothing', () => {
    const store = createKeyStore(db);
    expect(() => store.create({ name: 'my key', scopes: ['Recipients:read', 'recipients'], ratePerMinute: 0, dailyQuota: 1.5 })).toThrow(
      new KeyStoreError(
        'Cannot create the key: name "my key" must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. braze); ' +
          'scope "Recipients:read" must be resource:action in lower case (e.g. recipients:read); ' +
          'scope "recipients" must be resource:action in lower case (e.g. recipients:read); ' +
          'ratePerMinute must be a whole number of at least 1, got 0; dailyQuota must be a whole number of at least 1, got 1.5.',
      ),
    );
    expect(() => store.create({ name: 'braze', scopes: [] })).toThrow('scopes must list at least one scope');
    expect(() => store.create({ name: '-braze', scopes: ['recipients:read'] })).toThrow('name "-braze" must be 1–64');
    expect(() => store.create({ name: 'b'.repeat(65), scopes: ['recipients:read'] })).toThrow('must be 1–64');
    expect(() => store.create({ name: 'key_0123456789ab', scopes: ['recipients:read'] })).toThrow('has the form of a key id');
    expect(store.list({ includeRevoked: true })).toEqual([]);
    expect(store.create({ name: 'b'.repeat(64), scopes: ['recipients:read'] }).key.name).toHaveLength(64);
  });
});

describe('createAuditLog', () => {
  let db: BetterSqlite3.Database;
  beforeEach(() => {
    db = openGatewayDatabase(':memory:');
  });
  afterEach(() => db.close());

  it('reads entries oldest first, filtered by time, actor and action, and keeps the last `limit`', () => {
    const log = createAuditLog(db);
    log.append({ at: '2025-01-01T10:00:00.000Z', actor: 'cli:alice', action: 'key.create', target: 'braze', outcome: 'ok', detail: { id: 'key_1', scopes: ['recipients:read'] } });
    log.append({ at: '2025-01-02T10:00:00.000Z', actor: 'cli:bob', action: 'key.revoke', target: 'braze', outcome: 'refused' });
    log.append({ at: '2025-01-03T10:00:00+02:00', actor: 'braze', action: 'query', outcome: 'partial', detail: { operation: 'RecipientCard', fields: 3 } });
    log.append({ at: '2025-01-04T10:00:00.000Z', actor: 'cli:alice', action: 'key.create', target: 'iterable', outcome: 'ok' });

    const all = log.read();
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(all[0]).toEqual({ seq: 1, at: '2025-01-01T10:00:00.000Z', actor: 'cli:alice', action: 'key.create', target: 'braze', outcome: 'ok', detail: { id: 'key_1', scopes: ['recipients:read'] } });
    expect(all[2]).toEqual({ seq: 3, at: '2025-01-03T08:00:00.000Z', actor: 'braze', action: 'query', target: null, outcome: 'partial', detail: { operation: 'RecipientCard', fields: 3 } });
    expect(all[1].detail).toBeNull();

    expect(log.read({ since: '2025-01-03T08:00:00Z' }).map((e) => e.seq)).toEqual([3, 4]);
    expect(log.read({ since: '2025-01-02' }).map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(log.read({ actor: 'cli:alice' }).map((e) => e.seq)).toEqual([1, 4]);
    expect(log.read({ action: 'key.revoke' }).map((e) => e.seq)).toEqual([2]);
    expect(log.read({ actor: 'cli:alice', action: 'key.create', since: '2025-01-02' }).map((e) => e.seq)).toEqual([4]);
    expect(log.read({ limit: 2 }).map((e) => e.seq)).toEqual([3, 4]);
    expect(() => log.read({ limit: 0 })).toThrow('limit must be a whole number of at least 1');
    expect(() => log.read({ since: 'yesterday' })).toThrow('must be an ISO time');
  });

  it('refuses an entry without an actor or with an unknown outcome', () => {
    const log = createAuditLog(db);
    expect(() => log.append({ actor: '', action: 'key.create', outcome: 'ok' })).toThrow('needs an actor');
    expect(() => log.append({ actor: 'cli:alice', action: 'key.create', outcome: 'fine' as 'ok' })).toThrow('outcome must be one of ok, partial, error, forbidden, refused');
    expect(log.read()).toEqual([]);
  });

  it('is append-only: the database refuses every UPDATE and DELETE', () => {
    const log = createAuditLog(db);
    log.append({ actor: 'cli:alice', action: 'key.create', target: 'braze', outcome: 'ok' });
    const before = log.read();
    expect(() => db.prepare("UPDATE audit_log SET outcome = 'error'").run()).toThrow('the audit log is append-only');
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow('the audit log is append-only');
    expect(log.read()).toEqual(before);
  });
});

describe('scopesOfSupergraph', () => {
  it('collects every scope of every @requiresScopes, once each, sorted', () => {
    const sdl = `
      directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT
      type Query { user(id: ID!): User @requiresScopes(scopes: [["recipients:read"]]) }
      type User @requiresScopes(scopes: [["recipients:read", "pii:read"], ["admin:all"]]) { id: ID! email: String @deprecated(reason: "x:y") }
    `;
    expect(scopesOfSupergraph(sdl)).toEqual(['admin:all', 'pii:read', 'recipients:read']);
    expect(scopesOfSupergraph('directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION\ntype Query { a: Int }')).toEqual([]);
  });

  it('follows a rename of the directive by its @link', () => {
    const sdl = `
      schema @link(url: "https://specs.apollo.dev/requiresScopes/v0.1", as: "scopes", for: SECURITY) { query: Query }
      type Query { a: Int @scopes(scopes: [["stock:read"]]) }
    `;
    expect(scopesOfSupergraph(sdl)).toEqual(['stock:read']);
  });
});

describe('the command lines of npm run keys and npm run audit', () => {
  it('parse flags, with --data-dir over TAILOR_DATA_DIR over data', () => {
    expect(parseKeysArgs(['create', '--name', 'braze', '--scopes', 'recipients:read, pii:read', '--rate-per-minute=6000', '--allow-unknown-scopes'], { TAILOR_DATA_DIR: '/srv/tailor' })).toMatchObject({
      command: 'create',
      dataDir: '/srv/tailor',
      name: 'braze',
      scopes: ['recipients:read', 'pii:read'],
      ratePerMinute: 6000,
      dailyQuota: undefined,
      allowUnknownScopes: true,
    });
    expect(parseKeysArgs(['list', '--all', '--data-dir', 'here'], { TAILOR_DATA_DIR: '/srv/tailor' })).toEqual({ command: 'list', dataDir: 'here', includeRevoked: true, json: false });
    expect(parseKeysArgs(['revoke', 'braze'])).toEqual({ command: 'revoke', dataDir: 'data', idOrName: 'braze' });
    expect(parseKeysArgs(['list', '--help'])).toEqual({ command: 'help' });
    expect(parseAuditArgs(['--actor', 'cli:alice', '--limit', '5', '--json'])).toEqual({ help: false, dataDir: 'data', since: undefined, actor: 'cli:alice', action: undefined, limit: 5, json: true });
  });

  it.each([
    [[], 'a command is needed: create, list or revoke'],
    [['rotate'], 'unknown command "rotate" (commands: create, list, revoke)'],
    [['list', '--colour', 'blue'], 'unknown flag --colour (this command takes --data-dir, --all, --json)'],
    [['create', '--name'], '--name needs a value'],
    [['create', '--name', 'braze', '--scopes', 'recipients:read', '--daily-quota', '1e6'], '--daily-quota must be a whole number of at least 1, got "1e6"'],
    [['create', '--scopes', 'recipients:read'], 'create needs --name, e.g. --name braze'],
    [['revoke'], 'revoke needs exactly one key name or id, e.g. revoke braze'],
    [['list', '--json=yes'], '--json takes no value'],
  ])('refuses keys %j: %s', (argv, message) => {
    expect(() => parseKeysArgs(argv)).toThrow(new UsageError(message));
  });

  it('refuses audit arguments it cannot use', () => {
    expect(() => parseAuditArgs(['--limit', '-3'])).toThrow(new UsageError('--limit must be a whole number of at least 1, got "-3"'));
    expect(() => parseAuditArgs(['--limit'])).toThrow(new UsageError('--limit needs a value'));
    expect(() => parseAuditArgs(['--limit', 'ten'])).toThrow(new UsageError('--limit must be a whole number of at least 1, got "ten"'));
    expect(() => parseAuditArgs(['--since', 'last week'])).toThrow(new UsageError('--since must be an ISO time, e.g. 2025-01-31T09:00:00Z, got "last week"'));
  });
});

describe('npm run keys and npm run audit, as processes', () => {
  interface Run {
    code: number;
    stdout: string;
    stderr: string;
  }
  const dataDir = tempDir();
  const supergraph = join(tempDir(), 'supergraph.graphql');
  writeFileSync(
    supergraph,
    `directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT
     type Query { recipient(id: ID!): Recipient @requiresScopes(scopes: [["recipients:read"]]) }
     type Recipient { id: ID! firstName: String }
    `,
  );
  const cli = (script: string, ...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env: { ...process.env, TAILOR_DATA_DIR: dataDir } }, (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      });
    });
  /** Runs `fn` on a connection of this test's own to the database the processes write. */
  const withDatabase = <T>(fn: (db: BetterSqlite3.Database) => T): T => {
    const db = openGatewayDatabase(gatewayDatabasePath(dataDir));
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  const withStore = <T>(fn: (store: ReturnType<typeof createKeyStore>) => T): T => withDatabase((db) => fn(createKeyStore(db)));

  it('create prints a token once that the store verifies; list never prints it; revoke ends it; audit shows both', async () => {
    const created = await cli('scripts/keys.ts', 'create', '--name', 'braze', '--scopes', 'recipients:read', '--rate-per-minute', '6000', '--supergraph', supergraph);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const token = created.stdout.match(TOKEN)?.[0] as string;
    expect(token).toBeDefined();
    expect(created.stdout).toContain('cannot be shown again');
    const key = withStore((store) => store.verify(token));
    expect(key).toMatchObject({ name: 'braze', scopes: ['recipients:read'], ratePerMinute: 6000, dailyQuota: null });
    expect(created.stdout).toContain(`Created key braze (${key?.id}) with scopes recipients:read`);

    const listed = await cli('scripts/keys.ts', 'list');
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(new RegExp(`^id .*\\n${key?.id}  braze  recipients:read .* -  +6000/min, default daily quota\\n$`));
    expect(listed.stdout).not.toContain(token.slice(4));
    expect(listed.stdout).not.toContain(sha256(token));

    const revoked = await cli('scripts/keys.ts', 'revoke', 'braze');
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    expect(revoked.stdout).toContain(`Revoked key braze (${key?.id}). The gateway refuses it from its next request on; no restart is needed.`);
    expect(withStore((store) => store.verify(token))).toBeUndefined();

    const audit = await cli('scripts/audit.ts', '--action', 'key.create');
    expect(audit).toMatchObject({ code: 0, stderr: '' });
    const lines = audit.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z  cli:\\S+  key.create  braze  ok  +\\{"id":"${key?.id}","scopes":\\["recipients:read"\\]\\}$`));
    const entries = withDatabase((db) => createAuditLog(db).read());
    expect(entries.map((e) => [e.action, e.target, e.outcome])).toEqual([
      ['key.create', 'braze', 'ok'],
      ['key.revoke', 'braze', 'ok'],
    ]);
  });

  it('refuses a scope the supergraph does not name, listing the known ones, and an unknown flag, with exit code 2', async () => {
    const unknownScope = await cli('scripts/keys.ts', 'create', '--name', 'hubspot', '--scopes', 'recipients:read,pii:read', '--supergraph', supergraph);
    expect(unknownScope).toEqual({
      code: 2,
      stdout: '',
      stderr: `keys: Unknown scope pii:read: no @requiresScopes of ${supergraph} names it. Known scopes: privacy:admin, recipients:read. Pass --allow-unknown-scopes to create the key anyway.\n`,
    });
    expect(withStore((store) => store.list({ includeRevoked: true }).map((k) => k.name))).not.toContain('hubspot');

    const unknownFlag = await cli('scripts/keys.ts', 'list', '--colour', 'blue');
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stdout).toBe('');
    expect(unknownFlag.stderr).toMatch(/^keys: unknown flag --colour \(this command takes --data-dir, --all, --json\)\n\nUsage: npm run keys -- <command>/);
    expect(unknownFlag.stderr).not.toMatch(/\n\s+at /);
  });
});
