/**
 * Property-based fuzzing of every entry point of the real processes (tests/fuzz.test.ts runs it).
 *
 * Each property takes a running stack (`startProcessStack`) and `{ numRuns, seed }`, generates
 * malformed and hostile requests for one entry point, mixed with valid-looking ones, sends each to
 * the real process over 127.0.0.1, and asserts after every case:
 *
 * - every process is still running and `GET /health` of each answers 200;
 * - no answer has a 5xx status (a 503 too: with every process up, nothing should be unavailable),
 *   every HTTP request gets a well-formed answer, and within SLOW_ANSWER_MS;
 * - no answer carries a stack trace or an internal message, nor the `INTERNAL_SERVER_ERROR` code
 *   (README: "a fault inside Tailor");
 * - a gateway request to `/graphql` or `/api/*` without a live client key (none, a malformed
 *   `Authorization` header, garbage, a wrong key) is answered 401 `UNAUTHENTICATED`; one with the
 *   development key (most generated cases, so that they reach GraphQL handling) never 401;
 * - an ingest batch that is refused stores nothing (the accepted-items counter does not move and the
 *   ids it names read back the same); an accepted one, sent again, applies nothing more (users,
 *   events), and what it names reads back through the gateway without errors;
 * - over a raw socket, whatever comes back is a 4xx (`HTTP/1.1 4…`), or nothing at all.
 *
 * A failure names the request that caused it (method, service, target, headers, body), what came
 * back, and the lines the processes logged meanwhile; fast-check's counterexample prints the same
 * request. Once a process has died, later cases cannot tell anything apart, so they are treated as
 * passing: shrinking then keeps the request that killed it instead of "shrinking" to any request.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import fc from 'fast-check';
import { parseRequestTarget } from '../../kit/http/parseRequestTarget';
import { SIGNATURE_HEADER, signRequest } from '../../kit/subgraphCredential';
import { type ProcessStack, REPO_ROOT, scrapeMetric } from './processStack';

// ---------------------------------------------------------------------------------------------
// Shared types and settings
// ---------------------------------------------------------------------------------------------

/** The processes of the stack. */
export type Service = 'gateway' | 'crm' | 'stock' | 'behavior';
export const SERVICES: readonly Service[] = ['gateway', 'crm', 'stock', 'behavior'];
const SUBGRAPHS: readonly Service[] = ['crm', 'stock', 'behavior'];

/** How long one property runs: how many cases, from which seed. */
export interface FuzzOptions {
  numRuns: number;
  seed: number;
  /**
   * Stops the run (cases and shrinking) after this long and fails it, so that a test runner's own
   * timeout never abandons a property with a request still in flight. Unset: no limit.
   */
  timeLimitMs?: number;
}

/** One HTTP request of a case, as sent on the wire (the target is not normalized). */
export interface HttpCase {
  service: Service;
  method: string;
  /** Request target: path and query exactly as they go on the request line. */
  target: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /**
   * Send it with a fresh gateway credential (`Tailor-Gateway-Signature`, the stack's secret) over the
   * exact body bytes, as the gateway does: a subgraph's `/graphql` answers nothing else.
   */
  sign?: boolean;
}

/** Real ids of the running demo data, for valid-looking requests. */
export interface Catalog {
  userIds: string[];
  skus: string[];
}

/** A persisted operation of schema/operations/manifest.json. */
interface PersistedOperation {
  id: string;
  name: string;
  body: string;
}

/** Largest generated string or body, in bytes. */
export const MAX_GENERATED_BYTES = 200_000;
/** How long an HTTP request may go unanswered before it counts as a failure. */
const ANSWER_TIMEOUT_MS = 15_000;
/**
 * Longest a fuzzed request may take to be answered: every generated body is small (at most
 * MAX_GENERATED_BYTES), so a slower answer means one request can hold a process (a cost or size
 * limit missing). Follow-up reads are not held to it.
 */
const SLOW_ANSWER_MS = 5_000;
/** How long a raw socket waits for more bytes. */
const RAW_IDLE_MS = 400;

const MANIFEST: PersistedOperation[] = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'operations', 'manifest.json'), 'utf8')) as { operations: PersistedOperation[] }
).operations;

const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>): fc.WeightedArbitrary<T> => ({ weight, arbitrary });
const json = (value: unknown): string => JSON.stringify(value) ?? 'undefined';
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

// ---------------------------------------------------------------------------------------------
// Printing: requests and answers are shown with invisible characters escaped
// ---------------------------------------------------------------------------------------------

/** Escapes control characters and lone surrogates so that a report shows exactly what was sent. */
function visible(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += text[i] + text[i + 1];
        i++;
        continue;
      }
    }
    const lone = code >= 0xd800 && code <= 0xdfff;
    if (lone || code < 0x20 || (code >= 0x7f && code <= 0x9f)) {
      out += code === 0x0a ? '\\n' : code === 0x0d ? '\\r' : code === 0x09 ? '\\t' : `\\u${code.toString(16).padStart(4, '0')}`;
    } else {
      out += text[i];
    }
  }
  return out;
}

/** Shortens a long text to its start and end. */
function preview(text: string, max = 1200): string {
  if (text.length <= max) return visible(text);
  const head = Math.ceil(max * 0.7);
  const tail = Math.floor(max * 0.2);
  return `${visible(text.slice(0, head))} …[${text.length} chars in all]… ${visible(text.slice(-tail))}`;
}

function bodyText(body: string | Buffer): string {
  if (typeof body === 'string') return body;
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body) ? text : `<${body.length} bytes, not UTF-8: ${body.subarray(0, 120).toString('hex')}${body.length > 120 ? '…' : ''}>`;
}

function byteLength(body: string | Buffer | undefined): number {
  return body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length;
}

/** The request as a reader of a failure wants it: method, service, target, headers, body. */
export function describeHttpCase(c: HttpCase): string {
  const lines = [`${c.method} ${c.service} ${preview(c.target, 600)}${c.sign ? ' (signed with the gateway credential)' : ''}`];
  for (const [name, value] of Object.entries(c.headers)) lines.push(`  ${name}: ${preview(value, 300)}`);
  if (c.body !== undefined) lines.push(`  body (${byteLength(c.body)} bytes): ${preview(bodyText(c.body))}`);
  return lines.join('\n');
}

/** Gives a generated value a compact printed form in fast-check's counterexample. */
function printedAs<T extends object>(value: T, print: (v: T) => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => print(value), enumerable: false });
  return value;
}
/** The target with every byte a client cannot put on a request line unescaped percent-encoded (raw bytes are the raw-socket property's job). */
const sendable = (target: string): string => target.replace(/[^\x21-\x7e]/gu, (ch) => percentEncode(ch));
const asHttpCase = (c: HttpCase): HttpCase => printedAs({ ...c, target: sendable(c.target) }, describeHttpCase);

// ---------------------------------------------------------------------------------------------
// Leaf generators: hostile strings and JSON values
// ---------------------------------------------------------------------------------------------

const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff'];

/** A short string with a lone surrogate somewhere in it, e.g. `"x\ud800"`. */
export const loneSurrogateString: fc.Arbitrary<string> = fc
  .tuple(fc.string({ maxLength: 6 }), fc.constantFrom(...LONE_SURROGATES), fc.string({ maxLength: 6 }))
  .map(([a, s, b]) => a + s + b);

/** A long string of up to MAX_GENERATED_BYTES bytes once JSON-encoded. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('x', 'é', '\u{1F600}', ' ', '{', 'ab cd'), fc.integer({ min: 1_000, max: MAX_GENERATED_BYTES - 200 }))
  .map(([unit, bytes]) => unit.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(unit)))));

const SPECIAL_STRINGS = [
  '', ' ', '   ', '\u0000', '\t\n', '\u202e', '\ufeff', '%', '%ZZ', '../..', '..', 'null', 'undefined', 'NaN',
  '__proto__', 'constructor', 'toString', '{{7*7}}', "' OR 1=1 --", '\\', '"', '\u00e9', '\u{1F600}', 'u-00001',
  'DRS-0001', 'x'.repeat(129), 'x'.repeat(321), '0', '-1', '1e309', 'true',
];

/** A string from everything an attacker would try, short mostly. */
export const weirdString: fc.Arbitrary<string> = fc.oneof(
  w(4, fc.string({ maxLength: 20 })),
  w(2, fc.string({ unit: 'binary', maxLength: 12 })),
  w(1, fc.string({ unit: 'grapheme', maxLength: 8 })),
  w(2, loneSurrogateString),
  w(3, fc.constantFrom(...SPECIAL_STRINGS)),
  w(1, hugeString),
);

/** A short string without lone surrogates or huge sizes, for object keys and names. */
const shortString: fc.Arbitrary<string> = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...SPECIAL_STRINGS.filter((s) => s.length < 40)));

const jsonLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1e308, -1e308, 2 ** 53 + 1, 2 ** 31, -(2 ** 31) - 1, 5e-324, 1.5),
  weirdString,
);

/** Any JSON value, shallow: objects and arrays of at most a few members. */
export const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    jsonLeaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(shortString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Percent-escapes that a decoder must refuse or survive: truncated, overlong, lone surrogates (WTF-8), NUL. */
export const BAD_ESCAPES = ['%', '%Z', '%ZZ', '%G0', '%2', '%%', '%E0%A4', '%ED%A0%80', '%ED%BF%BF', '%C0%AF', '%C0%80', '%FF', '%FE%FF', '%00', '%0A', '%0D%0A', '%u0041', '%25', '%2F', '%5C', '+'];
const badEscape = fc.constantFrom(...BAD_ESCAPES);

/** Percent-encodes every code unit but the unreserved ones, lone surrogates as their WTF-8 bytes (`%ED%A0%80`). */
export function percentEncode(text: string): string {
  let out = '';
  for (const ch of text) {
    if (/^[A-Za-z0-9\-_.~]$/.test(ch)) {
      out += ch;
      continue;
    }
    const cp = ch.codePointAt(0)!;
    const bytes =
      cp < 0x80
        ? [cp]
        : cp < 0x800
          ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
          : cp < 0x10000
            ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
            : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
    out += bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

/** A URL component: properly encoded text, with bad escapes spliced in now and then. */
const urlComponent = (text: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    w(5, text.map(percentEncode)),
    w(3, fc.tuple(text.map(percentEncode), badEscape, fc.nat()).map(([t, bad, at]) => t.slice(0, at % (t.length + 1)) + bad + t.slice(at % (t.length + 1)))),
    w(1, fc.array(badEscape, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''))),
  );

const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  w(16, fc.constant('application/json')),
  w(4, fc.constantFrom(
    'application/json; charset=utf-8', 'application/graphql-response+json', 'application/json; charset=utf-16',
    'application/json; charset=latin1', 'application/json; charset=nope', 'text/plain', 'text/plain; charset=utf-8',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----fuzz', 'application/graphql', 'APPLICATION/JSON',
    'application/jsonp', 'json', '*/*', '', 'text/html', 'application/xml', 'application/json;;;', ';charset=utf-8',
  )),
  w(2, fc.string({ maxLength: 30 })),
  w(2, fc.constant(undefined)),
);

const acceptHeader: fc.Arbitrary<string | undefined> = fc.oneof(
  w(16, fc.constant(undefined)),
  w(3, fc.constantFrom(
    'application/json', 'application/graphql-response+json', 'multipart/mixed; deferSpec=20220824', 'text/html',
    '*/*', 'image/png', 'text/event-stream', 'application/json;q=0', '', 'text/html, application/json;q=0.9',
  )),
  w(1, fc.string({ maxLength: 30 })),
);

const headersOf = (entries: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(entries).filter((e): e is [string, string] => e[1] !== undefined));

// ---------------------------------------------------------------------------------------------
// Client credentials of gateway requests
// ---------------------------------------------------------------------------------------------

/**
 * Stands for the running stack's development key in a case's headers: `sendHttp` puts the key in its
 * place, and reports print the placeholder, never the key.
 */
export const DEV_KEY = '<dev-key>';
/** The `Authorization` header of a request with the development key (every scope). */
export const BEARER_DEV_KEY = `Bearer ${DEV_KEY}`;

/** `Authorization` values that carry no live key: missing schemes, other schemes, wrong or mangled keys, JWT-shaped tokens. */
export const BAD_AUTHORIZATIONS = [
  '', ' ', 'Bearer', 'Bearer ', 'bearer', 'Bearer  ', 'Basic Og==', 'Basic dXNlcjpwYXNz', 'Digest username="x"', 'Token tlr_x', 'tlr_x',
  'Bearer tlr_', 'Bearer tlr_x', `Bearer tlr_${'A'.repeat(43)}`, 'Bearer null', 'Bearer undefined', 'Bearer a b', 'Bearer a.b.c', 'Bearer ..',
  'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.', 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln', `Bearer ${'x'.repeat(8_000)}`,
  'Bearer %00',
  DEV_KEY, `Basic ${DEV_KEY}`, `Bearer x${DEV_KEY}`, `Bearer ${DEV_KEY}x`, `Bearer ${DEV_KEY},`, `Bearer ${DEV_KEY} ${DEV_KEY}`, `Bearer${DEV_KEY}`, `BearerX ${DEV_KEY}`,
  `Bearer ${DEV_KEY}.x.y`,
];

/**
 * The `Authorization` header of a gateway request: mostly the development key, so that the case
 * reaches GraphQL handling; else none, a malformed one, garbage, or a wrong key (a 401 each).
 */
export const gatewayAuthorization: fc.Arbitrary<string | undefined> = fc.oneof(
  w(10, fc.constant(BEARER_DEV_KEY)),
  w(1, fc.constant(undefined)),
  w(2, fc.constantFrom(...BAD_AUTHORIZATIONS)),
  w(1, fc.string({ unit: 'grapheme-ascii', maxLength: 40 })),
  w(1, fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }).map((token) => `Bearer ${token}`)),
);

/** Whether the gateway routes `target` to an operation (`/graphql`, `/api/*`); `undefined` for a target it answers 400 before routing. */
function operatesOn(target: string): boolean | undefined {
  const parsed = parseRequestTarget(target);
  if (!parsed) return undefined;
  return parsed.path === '/graphql' || parsed.path.startsWith('/api/');
}

/** A case's header, by its lower-case name. */
const headerOf = (c: HttpCase, name: string): string | undefined => Object.entries(c.headers).find(([h]) => h.toLowerCase() === name)?.[1];

/**
 * Whether the gateway must authenticate `c` before anything else: a request to `/graphql` or `/api/*`,
 * except the sandbox page a browser gets at `GET /graphql` (it accepts HTML and sends no operation).
 */
export function gatewayAuthenticates(c: HttpCase): boolean {
  if (c.service !== 'gateway') return false;
  const parsed = parseRequestTarget(c.target);
  if (!parsed || !operatesOn(c.target)) return false;
  const browser = (c.method === 'GET' || c.method === 'HEAD') && parsed.path === '/graphql' && (headerOf(c, 'accept') ?? '').includes('text/html');
  return !(browser && !parsed.searchParams.has('query') && !parsed.searchParams.has('extensions'));
}

/** `c` with the development key, when it is a gateway request to `/graphql` or `/api/*`. */
export const withDevKey = (c: HttpCase): HttpCase =>
  c.service === 'gateway' && operatesOn(c.target) !== false ? { ...c, headers: { ...c.headers, authorization: BEARER_DEV_KEY } } : c;

/** Gives each gateway case to `/graphql` or `/api/*` an `Authorization` header from `gatewayAuthorization`; other cases stay as they are. */
const withGatewayCredential = (cases: fc.Arbitrary<HttpCase>): fc.Arbitrary<HttpCase> =>
  fc.tuple(cases, gatewayAuthorization).map(([c, authorization]) =>
    c.service === 'gateway' && operatesOn(c.target) !== false ? asHttpCase({ ...c, headers: headersOf({ ...c.headers, authorization }) }) : c,
  );

// ---------------------------------------------------------------------------------------------
// GraphQL text
// ---------------------------------------------------------------------------------------------

const DEMO_USERS = range(300).map((i) => `u-${String(i + 1).padStart(5, '0')}`);
const gqlString = (s: string): string => JSON.stringify(s);

/** A GraphQL value literal for an argument: right, wrong-typed, out of range, or not a literal at all. */
const graphqlLiteral: fc.Arbitrary<string> = fc.oneof(
  w(2, fc.integer().map(String)),
  w(4, fc.constantFrom(
    '0', '-1', '4', '50', '51', '500', '501', '2147483647', '2147483648', '-2147483649', '99999999999999999999', '1.5', '1e400',
    '-0', 'NaN', 'Infinity', 'null', 'true', 'false', 'GOLD', 'VIEW', '""', '[]', '{}', '$undefinedVariable', '"u-00001"',
    '"DRS-0001"', '"2026-11-28T09:30:00Z"', '"9999-12-31T00:00:00Z"', '"nobody@example.com"',
  )),
  w(3, weirdString.map(gqlString)),
  w(1, fc.array(fc.constantFrom('"u-00001"', '"u-00002"', '"x"', '1', 'null', '"DRS-0001"', '[]'), { maxLength: 20 }).map((a) => `[${a.join(', ')}]`)),
  w(1, fc.integer({ min: 490, max: 700 }).map((n) => `[${range(n).map((i) => gqlString(DEMO_USERS[i % DEMO_USERS.length])).join(',')}]`)),
);

const TEMPLATES = [
  '{ user(id: $$) { id email firstName recommendations(limit: $$) { score reason product { sku name inStock } } } }',
  '{ users(ids: $$) { id consent { email personalization } recentlyViewed(limit: $$) { viewedAt product { sku } } } }',
  '{ trendingProducts(limit: $$) { sku name price { amount formatted } stock { available updatedAt } } }',
  '{ product(sku: $$) { sku name brand inStock } products(skus: $$) { sku } }',
  '{ userByEmail(email: $$) { id locale loyaltyTier segments } }',
  '{ users(ids: $$) { id recommendations(limit: $$) { score product { sku price { formatted } } } } }',
  'mutation { updateConsent(userId: $$, email: $$, personalization: $$) { email personalization updatedAt } }',
  'mutation { trackEvents(events: [{ eventId: $$, userId: $$, sku: $$, type: $$, occurredAt: $$ }]) { accepted duplicates stale } }',
  'mutation { recordStockLevels(levels: [{ sku: $$, available: $$, observedAt: $$ }]) { accepted stale } }',
  'mutation { upsertUsers(users: [{ id: $$, email: $$, locale: $$, timezone: $$ }]) { accepted duplicates } }',
  '{ __type(name: $$) { name fields { name type { name } } } }',
  'subscription { user(id: $$) { id } }',
  '{ user(id: "u-00001") @skip(if: $$) { id } }',
  '{ user(id: $$) { recommendations @defer { score } } }',
  '{ _entities(representations: [{ __typename: "User", id: $$ }]) { ... on User { id } } }',
  '{ _service { sdl } trendingRanking(limit: $$) { sku } }',
  '{ user(id: $$) { recommendationSignals { skus } } }',
];

/** Valid operations, some needing variables or an operation name. */
const VALID_QUERIES = [
  '{ __typename }',
  'query Q($id: ID!, $limit: Int) { user(id: $id) { id email recommendations(limit: $limit) { score reason product { sku inStock } } } }',
  'query Q($ids: [ID!]!) { users(ids: $ids) { id firstName } }',
  '{ trendingProducts(limit: 3) { sku name } }',
  'query A { __typename } query B { trendingProducts(limit: 1) { sku } }',
  'query Q($email: String!) { userByEmail(email: $email) { id } }',
  'mutation M($id: ID!) { updateConsent(userId: $id) { email } }',
  ...MANIFEST.map((op) => op.body),
];

const TOKENS = [
  'query', 'mutation', 'subscription', 'fragment', 'on', '{', '}', '(', ')', ':', '$id', '$', '!', '[', ']', '...', '@include(if: true)',
  '@skip', 'user', 'users', 'id', 'email', 'recommendations', 'product', '__typename', '__schema', '__type', '"str"', '"""block"""', '1',
  '1.5e308', '99999999999999999999', 'true', 'null', '#comment\n', ',', '=', '|', '&', '\u0000', '"\\u00', '"unterminated', 'Q', 'F',
  'ID!', 'Int', 'limit:', 'ids:', '\ufeff', '\u00a0', '\\', '`', 'extend', 'type', 'schema', 'directive', 'input', 'scalar',
];

/** Operation text that is slow or big to parse, validate or plan: depth, aliases, duplicates, fragments. */
const hostileGraphql: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 10, max: 50_000 }).map((n) => '{a'.repeat(n) + '}'.repeat(n)),
  fc.integer({ min: 10, max: 50_000 }).map((n) => `{ users(ids: ${'['.repeat(n)}${']'.repeat(n)}) { id } }`),
  fc.integer({ min: 10, max: 12_000 }).map((n) => `{ user(id: "u-00001") { ${'... on User { '.repeat(n)}id${' }'.repeat(n)} } }`),
  fc.integer({ min: 10, max: 40_000 }).map((n) => `{ user(id: ${'{a:'.repeat(n)}1${'}'.repeat(n)}) { id } }`),
  fc.integer({ min: 13, max: 40 }).map((n) => `{ user(id: "u-00001") { ${'recommendations { product { '.repeat(1)}${'sku '.repeat(n)}} } } }`),
  fc.integer({ min: 20, max: 6_000 }).map((n) => `{ ${range(n).map((i) => `a${i}: __typename`).join(' ')} }`),
  fc.integer({ min: 25, max: 40 }).map((n) => `{ ${range(n).map((i) => `a${i}: user(id: "${DEMO_USERS[i]}") { recommendations(limit: 50) { product { name stock { available } } } }`).join(' ')} }`),
  fc.integer({ min: 100, max: 15_000 }).map((n) => `{ ${'__typename '.repeat(n)}}`),
  fc.integer({ min: 100, max: 5_000 }).map((n) => `{ user(id: "u-00001") { ${'email '.repeat(n)}} }`),
  fc.integer({ min: 10, max: 10_000 }).map((n) => `{ __typename ${'@skip(if: false) '.repeat(n)}}`),
  fc.integer({ min: 2, max: 3_000 }).map((n) => `query { ...F0 } ${range(n).map((i) => `fragment F${i} on Query { __typename ...F${i + 1} }`).join(' ')} fragment F${n} on Query { __typename }`),
  fc.constant('{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }'),
  fc.integer({ min: 1, max: 15 }).map((n) => `{ __schema { types { ${'fields { type { '.repeat(n)}name${' } }'.repeat(n)} } } }`),
  fc.integer({ min: 1, max: 12 }).map((n) => `{ __type(name: "User") { ${'fields { type { ofType { '.repeat(n)}name${' } } }'.repeat(n)} } }`),
  fc.integer({ min: 1_000, max: 190_000 }).map((n) => `{ user(id: "${'x'.repeat(n)}") { id } }`),
  fc.integer({ min: 1_000, max: 190_000 }).map((n) => `# ${'x'.repeat(n)}\n{ __typename }`),
  fc.integer({ min: 1_000, max: 45_000 }).map((n) => `{ __typename ${'   ,'.repeat(n)}}`),
  fc.integer({ min: 20, max: 5_000 }).map((n) => `{ trendingProducts(limit: ${'9'.repeat(n)}) { sku } }`),
  fc.integer({ min: 100, max: 20_000 }).map((n) => `query Q(${range(n).map((i) => `$v${i}: Int`).join(', ')}) { __typename }`),
);

/** Operation text: valid, templates with hostile arguments, token soup, mutated valid text, or hostile shapes. */
export const graphqlText: fc.Arbitrary<string> = fc.oneof(
  w(3, fc.constantFrom(...VALID_QUERIES)),
  w(5, fc.tuple(fc.constantFrom(...TEMPLATES), fc.array(graphqlLiteral, { minLength: 5, maxLength: 5 })).map(([template, holes]) => {
    let i = 0;
    return template.replace(/\$\$/g, () => holes[i++ % holes.length]);
  })),
  w(2, fc.array(fc.constantFrom(...TOKENS), { maxLength: 40 }).map((tokens) => tokens.join(' '))),
  w(2, fc.tuple(fc.constantFrom(...VALID_QUERIES), fc.array(fc.tuple(fc.nat(), fc.oneof(fc.string({ maxLength: 3 }), loneSurrogateString, fc.constantFrom(...TOKENS))), { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
    let out = text;
    for (const [at, insert] of edits) {
      const i = at % (out.length + 1);
      out = out.slice(0, i) + insert + out.slice(i);
    }
    return out;
  })),
  w(3, hostileGraphql),
  w(1, weirdString),
);

// ---------------------------------------------------------------------------------------------
// GraphQL-over-HTTP bodies
// ---------------------------------------------------------------------------------------------

/** Real manifest hashes, and hashes that look like them. */
const persistedHash: fc.Arbitrary<unknown> = fc.oneof(
  w(5, fc.constantFrom(...MANIFEST.map((op) => op.id))),
  w(1, fc.constantFrom(...MANIFEST.map((op) => op.id.toUpperCase()))),
  w(2, fc.tuple(fc.constantFrom(...MANIFEST.map((op) => op.id)), fc.integer({ min: 0, max: 63 })).map(([id, n]) => id.slice(0, n))),
  w(1, fc.tuple(fc.constantFrom(...MANIFEST.map((op) => op.id)), fc.stringMatching(/^[0-9a-f]{1,8}$/)).map(([id, more]) => id + more)),
  w(3, fc.stringMatching(/^[0-9a-f]{64}$/)),
  w(2, fc.stringMatching(/^[0-9a-fA-F]{0,100}$/)),
  w(1, fc.constantFrom('', ' ', '0'.repeat(64), 'g'.repeat(64), '__proto__')),
  w(1, loneSurrogateString),
  w(1, anyJson),
);

/** Variables that are wrong for the persisted operations: wrong types, out of range, too many ids. */
const wrongVariables: fc.Arbitrary<unknown> = fc.oneof(
  w(2, fc.constant(undefined)),
  w(1, fc.constant({})),
  w(3, fc.record({ id: jsonLeaf }, { requiredKeys: [] })),
  w(2, fc.record({ id: fc.constantFrom(...DEMO_USERS.slice(0, 20)), limit: fc.oneof(jsonLeaf, fc.constantFrom(-1, 0, 51, 1e9, 2 ** 31, 1.5, '4', null)) })),
  w(2, fc.record({ ids: fc.oneof(anyJson, fc.array(fc.oneof(fc.constantFrom(...DEMO_USERS), jsonLeaf), { maxLength: 20 })) })),
  w(1, fc.integer({ min: 495, max: 700 }).map((n) => ({ ids: range(n).map((i) => DEMO_USERS[i % DEMO_USERS.length]) }))),
  w(1, anyJson),
);

/** `extensions.persistedQuery` of every shape: right, wrong version, wrong or malformed hash. */
const persistedExtensions: fc.Arbitrary<unknown> = fc.oneof(
  w(6, fc.record({ persistedQuery: fc.record({ version: fc.oneof(w(6, fc.constant(1)), w(2, jsonLeaf)), sha256Hash: persistedHash }, { requiredKeys: ['sha256Hash'] }) })),
  w(1, fc.record({ persistedQuery: anyJson })),
  w(1, fc.record({ persistedQuery: fc.record({ version: fc.constant(1), sha256Hash: persistedHash }), extra: anyJson })),
);

/** A persisted-operation request: a hash (real or not) with wrong variables, maybe with some query text. */
const persistedOperation: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    extensions: persistedExtensions,
    variables: wrongVariables,
    operationName: fc.oneof(w(4, fc.constant(undefined)), w(2, fc.constantFrom(...MANIFEST.map((op) => op.name))), w(1, shortString)),
    query: fc.oneof(
      w(6, fc.constant(undefined)),
      w(2, fc.constantFrom(...MANIFEST.map((op) => op.body))),
      w(1, fc.constantFrom(...MANIFEST.map((op) => `${op.body} `))),
      w(1, fc.constantFrom('{ __typename }', '')),
      w(1, anyJson),
    ),
  });

/** A GraphQL-over-HTTP request object with each member right, wrong-typed or absent, plus unknown members. */
export const operationObject: fc.Arbitrary<Record<string, unknown>> = fc
  .record({
    query: fc.oneof(w(8, graphqlText), w(2, anyJson), w(1, fc.constant(undefined))),
    variables: fc.oneof(
      w(4, fc.constant(undefined)),
      w(3, fc.dictionary(fc.constantFrom('id', 'ids', 'limit', 'email', 'sku', 'v', '__proto__', '', 'constructor'), anyJson, { maxKeys: 4 })),
      w(2, fc.record({ id: fc.oneof(fc.constantFrom(...DEMO_USERS.slice(0, 20)), weirdString), limit: fc.oneof(fc.integer({ min: -5, max: 60 }), jsonLeaf) }, { requiredKeys: [] })),
      w(2, anyJson),
      w(1, fc.constant('{"id":"u-00001"}')),
    ),
    operationName: fc.oneof(w(5, fc.constant(undefined)), w(2, fc.constantFrom('Q', 'A', 'B', 'M', 'Nope', '')), w(2, anyJson), w(1, loneSurrogateString)),
    extensions: fc.oneof(w(6, fc.constant(undefined)), w(2, anyJson), w(2, persistedExtensions)),
    extra: fc.oneof(w(5, fc.constant({})), w(1, fc.dictionary(shortString, anyJson, { maxKeys: 3 }))),
  })
  .map(({ extra, ...members }) => ({ ...(extra as Record<string, unknown>), ...members }));

/** A well-typed request object (string query, object variables): what gets past the HTTP layer to GraphQL. */
const wellTypedOperation: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record(
    {
      query: graphqlText.filter((q) => q.length < 20_000),
      variables: fc.record({ id: fc.oneof(fc.constantFrom(...DEMO_USERS.slice(0, 20)), weirdString), ids: fc.array(fc.constantFrom(...DEMO_USERS), { maxLength: 5 }), limit: fc.integer({ min: -5, max: 60 }) }, { requiredKeys: [] }),
      operationName: fc.constantFrom('Q', 'A', 'B', 'M'),
    },
    { requiredKeys: ['query'] },
  ),
  fc.record({
    extensions: fc.record({ persistedQuery: fc.record({ version: fc.constant(1), sha256Hash: persistedHash }) }),
    variables: fc.oneof(fc.constant({}), fc.record({ id: fc.constantFrom(...DEMO_USERS.slice(0, 20)) }), fc.record({ ids: fc.array(fc.constantFrom(...DEMO_USERS), { maxLength: 5 }) })),
  }),
);

/** Text that is not JSON, or not quite: truncations, trailing garbage, raw GraphQL, form encoding, invalid UTF-8. */
const notJsonBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  weirdString,
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    '{"query": "{ __typename }"', '{"query": "{ __typename }"}}', '{"query": "{ __typename }"} garbage', '\ufeff{"query": "{ __typename }"}',
    '{ __typename }', 'query=%7B__typename%7D', "{'query': '{ __typename }'}", '{"query": NaN}', '{"query": "{ __typename }" /* c */}',
    '{"query":"{ __typename }","query":1}', '{"__proto__": {"query": "{ __typename }"}}', '{"query": "\\ud800"}', '{"query": "\\u00"}',
    '{"query": "{ __typename }"}\n{"query": "{ __typename }"}', 'null', '""', '[', ']', '{', '}', ',', '"', 'nul', 'tru', '-', '01', '1e', '[,]',
  ),
  fc.tuple(operationObject, fc.nat()).map(([op, cut]) => {
    const text = json(op);
    return text.slice(0, cut % Math.max(1, text.length));
  }),
  fc.constant(Buffer.from([0x7b, 0x22, 0x71, 0x75, 0x65, 0x72, 0x79, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80, 0x22, 0x7d])),
);

/** Deeply nested JSON, as text (building the value would overflow this process's own stack). */
const deepJsonBody: fc.Arbitrary<string> = fc.tuple(fc.integer({ min: 100, max: 30_000 }), fc.constantFrom('array', 'object'), fc.constantFrom('body', 'variables', 'extensions', 'query')).map(([depth, shape, where]) => {
  const deep = shape === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  switch (where) {
    case 'body':
      return deep;
    case 'variables':
      return `{"query":"query Q($v: String) { __typename }","variables":{"v":${deep}}}`;
    case 'extensions':
      return `{"query":"{ __typename }","extensions":${deep}}`;
    default:
      return `{"query":${deep}}`;
  }
});

/** A request object with one huge member. */
const hugeBody: fc.Arbitrary<string> = fc.tuple(hugeString, fc.constantFrom('query', 'variables', 'operationName', 'extensions', 'unknown')).map(([big, where]) => {
  switch (where) {
    case 'query':
      return json({ query: `{ __typename }${' '.repeat(Math.min(big.length, MAX_GENERATED_BYTES - 100))}` });
    case 'variables':
      return json({ query: 'query Q($id: ID!) { user(id: $id) { id } }', variables: { id: big } });
    case 'operationName':
      return json({ query: '{ __typename }', operationName: big });
    case 'extensions':
      return json({ query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: big } } });
    default:
      return json({ query: '{ __typename }', [big.slice(0, 100)]: big });
  }
});

/** The body of a single-operation POST. */
export const graphqlPostBody: fc.Arbitrary<string | Buffer> = fc.oneof(
  w(8, operationObject.map(json)),
  w(4, wellTypedOperation.map(json)),
  w(2, persistedOperation.map(json)),
  w(2, anyJson.map(json)),
  w(3, notJsonBody),
  w(2, deepJsonBody),
  w(2, hugeBody),
);

/** Where a POST /graphql goes: mostly the endpoint itself, sometimes with a query string or a suffix. */
const graphqlPostTarget: fc.Arbitrary<string> = fc.oneof(
  w(8, fc.constant('/graphql')),
  w(1, fc.constantFrom('/graphql?', '/graphql?query=%7B__typename%7D', '/graphql/', '/graphql?extensions=%7B', '/graphql#x', '//graphql')),
  w(1, urlComponent(shortString).map((q) => `/graphql?${q}`)),
);

/** POST /graphql with any body and content type, to the gateway or (`service`) a subgraph. */
export function graphqlPostRequest(service: fc.Arbitrary<Service> = fc.constant('gateway')): fc.Arbitrary<HttpCase> {
  return withGatewayCredential(
    fc
      .record({ service, target: graphqlPostTarget, body: graphqlPostBody, contentType, accept: acceptHeader })
      .map(({ service: s, target, body, contentType: ct, accept }) =>
        asHttpCase({ service: s, method: 'POST', target, headers: headersOf({ 'content-type': ct, accept }), body }),
      ),
  );
}

/** A query-string value for GET /graphql. */
const getParamValue: fc.Arbitrary<string> = fc.oneof(
  w(4, graphqlText.filter((q) => q.length < 3_000)),
  w(2, anyJson.map(json)),
  w(3, persistedExtensions.map(json)),
  w(2, wrongVariables.map(json)),
  w(2, shortString),
  w(1, loneSurrogateString),
  w(1, fc.integer({ min: 4_000, max: 40_000 }).map((n) => `{ user(id: "${'x'.repeat(n)}") { id } }`)),
);

/** GET /graphql with random `query`, `variables`, `extensions`, `operationName` and other parameters. */
export const graphqlGetRequest: fc.Arbitrary<HttpCase> = withGatewayCredential(fc
  .record({
    params: fc.array(
      fc.tuple(
        fc.oneof(w(8, fc.constantFrom('query', 'variables', 'extensions', 'operationName')), w(1, urlComponent(shortString))),
        urlComponent(getParamValue),
        fc.constantFrom('=', '=', '=', '', '=='),
      ),
      { maxLength: 5 },
    ),
    separator: fc.constantFrom('&', '&', '&', '&&', ';', '&amp;'),
    method: fc.oneof(w(12, fc.constant('GET')), w(1, fc.constantFrom('HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'))),
    accept: acceptHeader,
    contentType: fc.oneof(w(5, fc.constant(undefined)), w(1, contentType)),
    question: fc.constantFrom('?', '?', '?', '??', '?&'),
  })
  .map(({ params, separator, method, accept, contentType: ct, question }) =>
    asHttpCase({
      service: 'gateway',
      method,
      target: `/graphql${question}${params.map(([name, value, eq]) => `${name}${eq}${value}`).join(separator)}`,
      headers: headersOf({ accept, 'content-type': ct }),
    }),
  ));

/** One member of an HTTP batch: an operation, a persisted one, a simple valid one, or not an object at all. */
const batchEntry: fc.Arbitrary<unknown> = fc.oneof(
  w(3, operationObject),
  w(3, persistedOperation),
  w(3, fc.constantFrom<unknown>(
    { query: '{ __typename }' },
    { query: 'query Q($id: ID!) { user(id: $id) { id } }', variables: { id: 'u-00001' } },
    { query: '{ user(id: "nobody") { id } }' },
  )),
  w(2, jsonLeaf),
  w(1, fc.array(jsonLeaf, { maxLength: 3 })),
);

/** POST /graphql with a JSON array: empty, of non-objects, of operations, nested, over the 25-operation limit. */
export const graphqlBatchRequest: fc.Arbitrary<HttpCase> = withGatewayCredential(fc
  .record({
    body: fc.oneof(
      w(1, fc.constantFrom('[]', '[[]]', '[{}]', '[null]', '[[],[]]', '[ ]')),
      w(2, fc.array(jsonLeaf, { minLength: 1, maxLength: 30 }).map(json)),
      w(6, fc.array(batchEntry, { minLength: 1, maxLength: 40 }).map(json)),
      w(6, fc.array(wellTypedOperation, { minLength: 1, maxLength: 8 }).map(json)),
      w(1, fc.array(fc.array(batchEntry, { maxLength: 3 }), { minLength: 1, maxLength: 3 }).map(json)),
      w(1, fc.integer({ min: 26, max: 3_000 }).map((n) => json(Array(n).fill({ query: '{ __typename }' })))),
      w(1, fc.tuple(fc.array(batchEntry, { minLength: 1, maxLength: 10 }), fc.nat()).map(([entries, cut]) => {
        const text = json(entries);
        return text.slice(0, Math.max(1, cut % text.length));
      })),
    ),
    contentType: fc.oneof(w(6, fc.constant('application/json')), w(1, contentType)),
    accept: acceptHeader,
  })
  .map(({ body, contentType: ct, accept }) =>
    asHttpCase({ service: 'gateway', method: 'POST', target: '/graphql', headers: headersOf({ 'content-type': ct, accept }), body }),
  ));

/** Persisted-operation hashes over POST and GET: random hex, wrong lengths, real hashes with wrong variables. */
export const persistedQueryRequest: fc.Arbitrary<HttpCase> = withGatewayCredential(fc
  .record({ op: persistedOperation, transport: fc.constantFrom('POST', 'GET'), accept: acceptHeader })
  .map(({ op, transport, accept }) => {
    if (transport === 'POST') return asHttpCase({ service: 'gateway', method: 'POST', target: '/graphql', headers: headersOf({ 'content-type': 'application/json', accept }), body: json(op) });
    const params = Object.entries(op)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `${name}=${percentEncode(typeof value === 'string' && name !== 'extensions' && name !== 'variables' ? value : json(value))}`);
    return asHttpCase({ service: 'gateway', method: 'GET', target: `/graphql?${params.join('&')}`, headers: headersOf({ accept }) });
  }));

// ---------------------------------------------------------------------------------------------
// REST routes
// ---------------------------------------------------------------------------------------------

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'PURGE', 'M-SEARCH', 'LINK', 'REPORT', 'MKCOL', 'SEARCH'];

/** GET /api/v1/users/{id}/… with random ids, parameters, methods and conditional headers. */
export function restRequest(catalog: Catalog): fc.Arbitrary<HttpCase> {
  const id = fc.oneof(
    w(4, fc.constantFrom(...catalog.userIds.slice(0, 10), 'nobody', 'u-99999')),
    w(4, urlComponent(weirdString.filter((s) => s.length < 3_000))),
    w(3, fc.array(badEscape, { minLength: 1, maxLength: 3 }).map((parts) => parts.join(''))),
    w(1, fc.constantFrom('.', '..', '%2e%2e', '%2E', '~', '%2F', 'u-00001%2Fprofile', 'u-00001%00', ';', '*', '@', ':', '%20', '+')),
    w(1, fc.integer({ min: 1_000, max: 30_000 }).map((n) => 'x'.repeat(n))),
    w(1, fc.integer({ min: 300, max: 5_000 }).map((n) => '%ED%A0%80'.repeat(n))),
  );
  const param = fc.tuple(
    fc.oneof(w(6, fc.constant('limit')), w(1, fc.constantFrom('id', 'ids', 'LIMIT', '', '__proto__')), w(1, urlComponent(shortString))),
    fc.oneof(
      w(4, fc.constantFrom('4', '0', '1', '50', '51', '-1', '-0', '999999999', '9999999999', '1e3', '0x10', ' 4', '4.0', 'x', '', 'null', '%20', '+4', '4%00')),
      w(2, fc.integer().map(String)),
      w(2, urlComponent(shortString)),
    ),
  );
  return withGatewayCredential(fc
    .record({
      route: fc.oneof(w(8, fc.constantFrom('profile', 'recommendations', 'personalization')), w(1, urlComponent(shortString)), w(1, fc.constantFrom('', 'profile/', 'Profile', 'profile%00', 'profile/extra'))),
      prefix: fc.oneof(w(10, fc.constant('/api/v1/users/')), w(1, fc.constantFrom('/api/v1/users//', '/api/v1//users/', '/api/v2/users/', '/API/v1/users/', '/api/v1/users/%2F', '//api/v1/users/'))),
      id,
      params: fc.array(param, { maxLength: 4 }),
      method: fc.oneof(w(10, fc.constant('GET')), w(3, fc.constant('HEAD')), w(3, fc.constantFrom(...HTTP_METHODS))),
      ifNoneMatch: fc.oneof(w(6, fc.constant(undefined)), w(1, fc.constantFrom('*', '"abc"', 'W/"x"', '', ',', '"', 'W/', '"a", "b"', 'W/"*"')), w(1, fc.string({ maxLength: 30 }))),
      accept: acceptHeader,
    })
    .map(({ route, prefix, id: userId, params, method, ifNoneMatch, accept }) =>
      asHttpCase({
        service: 'gateway',
        method,
        target: `${prefix}${userId}/${route}${params.length ? '?' : ''}${params.map(([k, v]) => `${k}=${v}`).join('&')}`,
        headers: headersOf({ 'if-none-match': ifNoneMatch, accept }),
      }),
    ));
}

// ---------------------------------------------------------------------------------------------
// Other routes of every process
// ---------------------------------------------------------------------------------------------

/** Any path and method on any process: /health, /ready, /metrics, /, /sandbox/…, /images/…, unknown paths. */
export const otherRouteRequest: fc.Arbitrary<HttpCase> = withGatewayCredential(fc
  .record({
    service: fc.constantFrom(...SERVICES),
    path: fc.oneof(
      w(3, fc.constantFrom('/health', '/ready', '/metrics', '/', '/graphql', '/ingest/users', '/ingest/stock', '/ingest/events', '/sandbox/sandbox.js', '/sandbox/sandbox.css', '/images/DRS-0001.svg', '/favicon.ico', '/api/', '/api')),
      w(3, fc.tuple(fc.constantFrom('/sandbox/', '/images/', '/ingest/', '/api/', '/metrics/', '/health/', '/r/', '/i/', '/', '//'), urlComponent(weirdString.filter((s) => s.length < 3_000))).map(([p, s]) => p + s)),
      // Live links and images: tokens of the right alphabet, of any length, with or without `.png`.
      w(1, fc.tuple(fc.constantFrom('/r/', '/i/'), fc.stringMatching(/^[A-Za-z0-9_-]{0,400}$/), fc.constantFrom('', '.png', '.png.png', '/x')).map(([p, t, e]) => p + t + e)),
      w(2, fc.webPath()),
      w(1, fc.constantFrom('/%', '/%ZZ', '/%ED%A0%80', '/images/%ZZ.svg', '/images/%ED%A0%80.svg', '/images/%', '/sandbox/%ZZ', '/sandbox/..%2F..%2Fpackage.json', '/images/..%2F..%2Fpackage.json', '/health%00', '/./health', '/health/..', '/%2e%2e/%2e%2e/etc/passwd')),
    ),
    query: fc.oneof(w(4, fc.constant('')), w(1, urlComponent(shortString).map((q) => `?${q}`)), w(1, badEscape.map((e) => `?${e}`))),
    method: fc.oneof(w(6, fc.constant('GET')), w(2, fc.constantFrom(...HTTP_METHODS))),
    accept: acceptHeader,
    contentType: fc.oneof(w(4, fc.constant(undefined)), w(1, contentType)),
    body: fc.oneof(w(4, fc.constant(undefined)), w(1, notJsonBody), w(1, anyJson.map(json))),
  })
  .map(({ service, path, query, method, accept, contentType: ct, body }) =>
    asHttpCase({ service, method, target: path + query, headers: headersOf({ accept, 'content-type': ct }), body: method === 'GET' || method === 'HEAD' ? undefined : body }),
  ));

// ---------------------------------------------------------------------------------------------
// Ingestion batches
// ---------------------------------------------------------------------------------------------

/** The three ingest routes: which process serves each, and the key a batch may be wrapped in. */
export type IngestKind = 'users' | 'stock' | 'events';
export const INGEST_SERVICE: Record<IngestKind, Service> = { users: 'crm', stock: 'stock', events: 'behavior' };

/** One ingest case: the request, and the items it carries when its body is an array of them. */
export interface IngestCase {
  kind: IngestKind;
  request: HttpCase;
  /** The items, when the body is a JSON array of them or wraps one; undefined for other bodies. */
  items?: unknown[];
}

type Item = Record<string, unknown>;
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const MISSING = Symbol('missing');
const withField = (item: Item, field: string, value: unknown): Item => {
  const copy = { ...item };
  if (value === MISSING) delete copy[field];
  else copy[field] = value;
  return copy;
};

/** A recent timestamp, in the past by up to 20 days (computed when the case is generated). */
const recentIso = fc.integer({ min: 0, max: 20 * 24 * 60 }).map((minutes) => new Date(Date.now() - minutes * 60_000).toISOString());
/** Timestamps that are malformed, impossible, or far away (`9999-12-31T00:00:00Z`). */
const badIso = fc.constantFrom<unknown>(
  '9999-12-31T00:00:00Z', '9999-12-31T23:59:59.999999999Z', '+275760-09-13T00:00:00.000Z', '0000-01-01T00:00:00Z', '2026-13-01T00:00:00Z',
  '2026-02-30T00:00:00Z', '2026-01-01T25:00:00Z', '2026-01-01T00:00:00+99:99', '2026-01-01', '2026-01-01T00:00:00', 'now', '', ' ',
  '2026-01-01T00:00:00Z\u0000', '2026-01-01T00:00:00\ud800Z', 0, 1e15, null, true, [], {},
);

function userItems(): { valid: fc.Arbitrary<Item>; almost: fc.Arbitrary<Item> } {
  const valid = fc
    .record(
      {
        id: hex(10).map((h) => `fz-u-${h}`),
        email: hex(10).map((h) => `fz.${h}@example.com`),
        firstName: fc.oneof(fc.string({ maxLength: 30 }), fc.constant(null)),
        lastName: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constant(null)),
        locale: fc.constantFrom('en-GB', 'fr', 'de-DE', 'pt-BR'),
        timezone: fc.constantFrom('Europe/London', 'UTC', 'America/New_York', 'Asia/Tokyo'),
        loyaltyTier: fc.constantFrom('NONE', 'BRONZE', 'SILVER', 'GOLD', 'PLATINUM'),
        segments: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 4 }),
        consent: fc.record({ email: fc.boolean(), personalization: fc.boolean() }),
      },
      { requiredKeys: ['id', 'email'] },
    )
    .map((item) => item as Item);
  const wrong: [string, fc.Arbitrary<unknown>][] = [
    ['id', fc.constantFrom<unknown>('', '   ', 'x'.repeat(129), 42, null, MISSING, 'u-00001', ' u-00002 ')],
    ['id', loneSurrogateString.map((s) => `fz-${s}`)],
    ['email', fc.constantFrom<unknown>('not-an-email', '', 'a@b', '@example.com', `${'x'.repeat(320)}@example.com`, 42, MISSING, 'u00001@example.com', ' FZ@example.com ', 'fz@\ud800.com')],
    ['firstName', fc.constantFrom<unknown>('x'.repeat(201), 42, {}, [], true)],
    ['firstName', loneSurrogateString],
    ['locale', fc.constantFrom<unknown>('english', 'en_GB', '', 42, 'x'.repeat(300), 'en-GB\u0000')],
    ['timezone', fc.constantFrom<unknown>('Mars/Olympus', '', 'Europe/London\u0000', 42, 'x'.repeat(300), '../../etc/passwd')],
    ['loyaltyTier', fc.constantFrom<unknown>('DIAMOND', 'gold', 1, '', 'GOLD ')],
    ['segments', fc.constantFrom<unknown>([''], 'vip', Array(101).fill('s'), ['x'.repeat(101)], [1], [null], {})],
    ['consent', fc.constantFrom<unknown>({ email: 'yes', personalization: true }, { email: true }, { email: true, personalization: true, extra: 1 }, true, [], 'yes')],
    ['unknownField', anyJson],
  ];
  return { valid, almost: almostValid(valid, wrong) };
}

function stockItems(catalog: Catalog): { valid: fc.Arbitrary<Item>; almost: fc.Arbitrary<Item> } {
  const valid = fc.record({
    sku: fc.constantFrom(...catalog.skus),
    available: fc.oneof(fc.integer({ min: 0, max: 500 }), fc.constantFrom(0, 1, 1e9)),
    observedAt: fc.oneof(w(8, recentIso), w(1, fc.constant('2020-01-01T00:00:00Z'))),
  }) as fc.Arbitrary<Item>;
  const wrong: [string, fc.Arbitrary<unknown>][] = [
    ['sku', fc.constantFrom<unknown>('NOPE-0000', '', '   ', 'x'.repeat(65), 42, null, MISSING, 'drs-0001')],
    ['sku', fc.tuple(fc.constantFrom(...catalog.skus), fc.constantFrom(...LONE_SURROGATES)).map(([s, l]) => s + l)],
    ['available', fc.constantFrom<unknown>(-1, 1.5, 1e9 + 1, '5', null, true, 1e308, Number.MAX_SAFE_INTEGER, MISSING, [], {})],
    ['observedAt', badIso],
    ['observedAt', fc.integer({ min: 10, max: 100_000 }).map((minutes) => new Date(Date.now() + minutes * 60_000).toISOString())],
    ['unknownField', anyJson],
  ];
  return { valid, almost: almostValid(valid, wrong) };
}

function eventItems(catalog: Catalog): { valid: fc.Arbitrary<Item>; almost: fc.Arbitrary<Item> } {
  const valid = fc.record({
    eventId: hex(12).map((h) => `fz-e-${h}`),
    userId: fc.oneof(fc.constantFrom(...catalog.userIds), hex(6).map((h) => `fz-u-${h}`)),
    sku: fc.oneof(w(4, fc.constantFrom(...catalog.skus)), w(1, hex(4).map((h) => `FZ-${h}`))),
    type: fc.constantFrom('VIEW', 'ADD_TO_CART', 'PURCHASE', 'CLICK'),
    occurredAt: recentIso,
  }) as fc.Arbitrary<Item>;
  const wrong: [string, fc.Arbitrary<unknown>][] = [
    ['eventId', fc.constantFrom<unknown>('', '   ', 'x'.repeat(129), 42, null, MISSING)],
    ['eventId', loneSurrogateString.map((s) => `fz-e-${s}`)],
    ['userId', fc.constantFrom<unknown>('', 'x'.repeat(129), 42, null, MISSING)],
    ['userId', loneSurrogateString],
    ['sku', fc.constantFrom<unknown>('', 'x'.repeat(65), 42, null, MISSING)],
    ['type', fc.constantFrom<unknown>('HOVER', 'view', 'click', null, 0, '', MISSING)],
    ['occurredAt', badIso],
    ['occurredAt', fc.integer({ min: 10, max: 100_000 }).map((minutes) => new Date(Date.now() + minutes * 60_000).toISOString())],
    ['unknownField', anyJson],
  ];
  return { valid, almost: almostValid(valid, wrong) };
}

/** A valid item with exactly one field made wrong (or one unknown field added). */
function almostValid(valid: fc.Arbitrary<Item>, wrong: [string, fc.Arbitrary<unknown>][]): fc.Arbitrary<Item> {
  return fc.tuple(valid, fc.oneof(...wrong.map(([field, value]) => value.map((v) => [field, v] as const)))).map(([item, [field, value]]) => withField(item, field, value));
}

/** Two events whose ids differ only in a lone surrogate (`e\ud800`, `e\udc00`), or the same id twice. */
function duplicateEventPair(catalog: Catalog): fc.Arbitrary<Item[]> {
  return fc
    .tuple(eventItems(catalog).valid, eventItems(catalog).valid, fc.constantFrom(...LONE_SURROGATES), fc.constantFrom(...LONE_SURROGATES, ''))
    .map(([a, b, s1, s2]) => [{ ...a, eventId: `${a.eventId}${s1}` }, { ...b, eventId: `${a.eventId}${s2}` }]);
}

/** Batches for `POST /ingest/<kind>`: random bodies, arrays of random items, almost-valid items, oversized batches. */
export function ingestRequest(kind: IngestKind, catalog: Catalog): fc.Arbitrary<IngestCase> {
  const { valid, almost } = kind === 'users' ? userItems() : kind === 'stock' ? stockItems(catalog) : eventItems(catalog);
  const item = fc.oneof(w(3, valid), w(4, almost), w(1, anyJson));
  const items: fc.Arbitrary<unknown[]> = fc.oneof(
    w(6, fc.array(item, { minLength: 1, maxLength: 8 })),
    w(2, fc.array(valid, { minLength: 1, maxLength: 5 })),
    w(1, fc.tuple(fc.array(valid, { minLength: 1, maxLength: 4 }), almost, fc.nat()).map(([good, bad, at]) => {
      const out: unknown[] = [...good];
      out.splice(at % (good.length + 1), 0, bad);
      return out;
    })),
    w(1, fc.array(anyJson, { maxLength: 6 })),
    w(1, fc.constant<unknown[]>([])),
    w(1, valid.map((v) => [v, v])),
    ...(kind === 'events' ? [w(3, duplicateEventPair(catalog))] : []),
  );
  const body: fc.Arbitrary<{ body: string | Buffer; items?: unknown[] }> = fc.oneof(
    w(8, items.map((list) => ({ body: json(list), items: list }))),
    w(2, items.map((list) => ({ body: json({ [kind]: list }), items: list }))),
    w(1, fc.tuple(fc.constantFrom('items', 'data', kind.toUpperCase(), `${kind} `, '__proto__'), items).map(([key, list]) => ({ body: json({ [key]: list }) }))),
    w(1, fc.tuple(anyJson, fc.boolean()).map(([value, wrapped]) => ({ body: json(wrapped ? { [kind]: value } : value) }))),
    w(2, notJsonBody.map((b) => ({ body: b }))),
    w(1, fc.integer({ min: 4_990, max: 20_000 }).map((n) => ({ body: `[${Array(n).fill('0').join(',')}]` }))),
    w(1, fc.tuple(valid, hugeString).map(([v, big]) => {
      const list = [{ ...v, [kind === 'events' ? 'eventId' : kind === 'stock' ? 'sku' : 'firstName']: big }];
      return { body: json(list), items: list };
    })),
    w(1, fc.integer({ min: 100, max: 30_000 }).map((n) => ({ body: '['.repeat(n) + ']'.repeat(n) }))),
  );
  return fc
    .record({
      body,
      method: fc.oneof(w(12, fc.constant('POST')), w(1, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'))),
      contentType: fc.oneof(w(6, fc.constant('application/json')), w(2, contentType)),
      suffix: fc.oneof(w(12, fc.constant('')), w(1, fc.constantFrom('?', '?x=%ZZ', '/', '?%', '#'))),
    })
    .map(({ body: b, method, contentType: ct, suffix }) => {
      const request = asHttpCase({
        service: INGEST_SERVICE[kind],
        method,
        target: `/ingest/${kind}${suffix}`,
        headers: headersOf({ 'content-type': ct }),
        body: method === 'GET' || method === 'HEAD' ? undefined : b.body,
      });
      const c: IngestCase = { kind, request, items: request.body === undefined || suffix === '/' ? undefined : b.items };
      return printedAs(c, (v) => describeHttpCase(v.request));
    });
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP over node:net
// ---------------------------------------------------------------------------------------------

/** Bytes written to a process's port over a plain socket. */
export interface RawCase {
  service: Service;
  bytes: Buffer;
  /** Half-close after writing (the server sees the end of the stream). */
  halfClose: boolean;
}

/**
 * Request targets no process may answer with anything but a 4xx: malformed, or naming no route. (Not
 * `/?%`, `?` or `.`: those are the landing page with an ignored query, which may rightly be a 200.)
 */
export const HOSTILE_TARGETS = [
  '//[', '//%', 'http://[', '//host:99999', 'http://host:99999/', '//[::1', 'http://%', 'http://[::1]:65536/', '//@', '//user@[',
  'http://', 'http:', 'https://', 'file:///etc/passwd', '//', '///', '//a b', '%', '/%', '/%ZZ', '/%ED%A0%80', '/\x7f', '/%00',
  '/graphql?query=%', '/api/v1/users/%ZZ/profile', '/api/v1/users/%ED%A0%80/profile', '/api/v1/users/%/recommendations',
  '/api/v1/users/%C0%AF/personalization', '/ingest/events?%', '/images/%ZZ.svg', '/sandbox/%ZZ', '*', '?%ZZ', '#x', 'http://[%]',
  '//host:-1', '//host:0x50', 'HTTP://[', 'javascript:alert(1)', '\\\\host\\x', '/\\', 'http://127.0.0.1:99999/health',
  'http://[::ffff:127.0.0.1', '//127.0.0.1:4000:4000', '/nope', '/health/../..%2F', 'x', '/%2e%2e/%2e%2e/nope',
];
const RAW_METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'FUZZ', 'get', 'G ET', '', 'GET\t', 'PRI', 'M-SEARCH', 'PROPFIND', '\u0000'];
const RAW_VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1x', 'HTTP/', ''];
const BAD_HEADER_LINES = [
  'NoColon', ' leading-space: x', '\tfolded', 'X-Bad\u0000: y', 'X: a\u0000b', ': novalue', 'X :y', 'Content-Length: 99999999999999999999',
  'Content-Length: -1', 'Content-Length: 1, 2', 'Content-Length: 10\r\nContent-Length: 11', 'Content-Length: abc', 'Content-Length: 1e3',
  'Content-Length: 1099511627776', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, identity', 'Transfer-Encoding: gzip',
  'Transfer-Encoding: chunked\r\nContent-Length: 5', 'Host: [', 'Host: a:99999', 'Host:', 'Host: a\r\nHost: b', 'Connection: Upgrade\r\nUpgrade: h2c',
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13', 'Content-Type: application/json', 'X-\u00ff: \u00ff\u00fe',
  'Accept: text/html', `X-Long: ${'a'.repeat(20_000)}`, 'Cookie: a=b', 'Authorization: Basic Og==',
];

/** Request lines, headers and bodies over a raw socket; random bytes too. Every one is malformed or hostile. */
export const rawHttpRequest: fc.Arbitrary<RawCase> = fc
  .record({
    service: fc.constantFrom(...SERVICES),
    halfClose: fc.oneof(w(3, fc.constant(true)), w(1, fc.constant(false))),
    shape: fc.oneof(
      w(8, fc.record({
        kind: fc.constant('request' as const),
        method: fc.oneof(w(4, fc.constant('GET')), w(3, fc.constantFrom(...RAW_METHODS))),
        target: fc.oneof(
          w(5, fc.constantFrom(...HOSTILE_TARGETS)),
          // Not `http://` + anything: an absolute-form target naming a host (`http://m`) is a valid request for `/`.
          w(2, fc.tuple(fc.constantFrom('//', '/%', 'http://[', '//[', 'http://%', 'http://a:99999'), fc.string({ maxLength: 16 })).map(([p, s]) => p + s.replace(/[\s]/g, ''))),
          w(1, fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 20 }).map((s) => `/nope${s}`)),
        ),
        version: fc.constantFrom(...RAW_VERSIONS),
        host: fc.oneof(w(4, fc.constant(true)), w(1, fc.constant(false))),
        headerLines: fc.array(fc.oneof(w(3, fc.constantFrom(...BAD_HEADER_LINES)), w(1, fc.string({ unit: 'binary-ascii', maxLength: 30 }))), { maxLength: 3 }),
        eol: fc.oneof(w(6, fc.constant('\r\n')), w(1, fc.constantFrom('\n', '\r', '\r\r\n', '\n\r'))),
        body: fc.oneof(w(3, fc.constant('')), w(1, fc.constantFrom('{}', '[]', 'zz\r\n', '0\r\n\r\n', '5\r\nab')), w(1, fc.string({ maxLength: 40 }))),
      })),
      w(2, fc.record({
        kind: fc.constant('length' as const),
        method: fc.constantFrom('POST', 'PUT'),
        target: fc.constantFrom('/graphql', '/ingest/users', '/ingest/stock', '/ingest/events'),
        length: fc.constantFrom('99999999999999999999', '1099511627776', '4294967296', '9007199254740993', '-1', '1e9', '0x10', '+5', '5 5', ' 5', '5,5', ''),
        body: fc.constantFrom('', '{}', '[]', '[{'),
      })),
      w(2, fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 512 }) })),
      w(1, fc.record({
        kind: fc.constant('prefix' as const),
        prefix: fc.constantFrom('GET ', 'GET / HTTP/1.1\r\n', 'POST /graphql HTTP/1.1\r\nContent-Length: 5\r\n', 'GET //[ HTTP/1.1\r\nHost: x\r\n', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 128 }),
      })),
    ),
  })
  .map(({ service, halfClose, shape }) => {
    let bytes: Buffer;
    switch (shape.kind) {
      case 'request': {
        const lines = [`${shape.method} ${shape.target} ${shape.version}`.trimEnd(), ...(shape.host ? ['Host: 127.0.0.1'] : []), ...shape.headerLines];
        bytes = Buffer.from(lines.join(shape.eol) + shape.eol + shape.eol + shape.body, 'latin1');
        break;
      }
      case 'length':
        bytes = Buffer.from(`${shape.method} ${shape.target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${shape.length}\r\n\r\n${shape.body}`, 'latin1');
        break;
      case 'bytes':
        bytes = Buffer.from(shape.bytes);
        break;
      default:
        bytes = Buffer.concat([Buffer.from(shape.prefix, 'latin1'), Buffer.from(shape.bytes)]);
    }
    return printedAs<RawCase>({ service, bytes, halfClose }, describeRawCase);
  });

export function describeRawCase(c: RawCase): string {
  return `raw bytes to ${c.service}${c.halfClose ? ' (then half-close)' : ''}: ${preview(c.bytes.toString('latin1'), 800)}`;
}

// ---------------------------------------------------------------------------------------------
// Sending, and what every answer must satisfy
// ---------------------------------------------------------------------------------------------

/** An answer: status 0 when none came (then `error` says why). */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
  error?: string;
}

function portOf(stack: ProcessStack, service: Service): number {
  return Number(new URL(stack.url(service)).port);
}

/** Sends one request on a fresh connection and reads the whole answer (or the reason there is none). */
export function sendHttp(stack: ProcessStack, c: HttpCase, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Answer> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (answer: Omit<Answer, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...answer, ms: Date.now() - started });
    };
    const headers: Record<string, string | number> = Object.fromEntries(Object.entries(c.headers).map(([name, value]) => [name, value.split(DEV_KEY).join(stack.devKey)]));
    if (c.sign) headers[SIGNATURE_HEADER] = signRequest(stack.subgraphSecret, c.body ?? '');
    if (c.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) headers['content-length'] = byteLength(c.body);
    let req: ReturnType<typeof httpRequest>;
    try {
      req = httpRequest({ host: '127.0.0.1', port: portOf(stack, c.service), method: c.method, path: c.target, headers, agent: false });
    } catch (error) {
      // The generator made a request Node's client will not send: not something the server saw.
      done({ status: -1, headers: {}, text: '', error: `client refused to send it: ${String(error)}` });
      return;
    }
    const timer = setTimeout(() => {
      req.destroy();
      done({ status: 0, headers: {}, text: '', error: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        done({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (error) => {
        clearTimeout(timer);
        done({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), error: `answer cut short: ${String(error)}` });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      done({ status: 0, headers: {}, text: '', error: `${error.code ?? ''} ${error.message}`.trim() });
    });
    req.end(c.body);
  });
}

/** Writes bytes to a socket and collects what comes back until the server closes, answers fully, or goes quiet. */
export function sendRaw(stack: ProcessStack, c: RawCase, idleMs = RAW_IDLE_MS): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: '127.0.0.1', port: portOf(stack, c.service) });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    socket.setTimeout(idleMs, finish);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (completeResponse(Buffer.concat(chunks))) finish();
    });
    socket.on('close', finish);
    socket.on('error', finish);
    socket.on('connect', () => {
      socket.write(c.bytes);
      if (c.halfClose) socket.end();
    });
  });
}

/** True once `bytes` hold one whole response with a Content-Length body and no further data is expected. */
function completeResponse(bytes: Buffer): boolean {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, end));
  return length !== null && bytes.length >= end + 4 + Number(length[1]);
}

/** Markers of a stack trace or an internal message in an answer. */
const LEAK_MARKERS: [string, RegExp][] = [
  ['a stack frame', / at (?:async )?(?:[^\s()]+ \()?(?:\/|[A-Za-z]:\\|file:\/\/|node:)[^\s()]*:\d+/],
  ['".ts:"', /\.ts:/],
  ['"node_modules"', /node_modules/],
  ['"SQLITE"', /sqlite/i],
  ['"TypeError"', /TypeError/],
  ['"RangeError"', /RangeError/],
  ['"ReferenceError"', /ReferenceError/],
  ['"SyntaxError"', /SyntaxError/],
  ['"URIError" / "URI malformed"', /URIError|URI malformed/],
  ['"Maximum call stack"', /Maximum call stack/],
  ['a JSON.parse message', /in JSON at position|Unexpected token|Unexpected end of JSON/],
  ['"Cannot read properties"', /Cannot read propert/],
  ['"is not a function"', /is not a function/],
  ['the INTERNAL_SERVER_ERROR code', /INTERNAL_SERVER_ERROR/],
];

/** What a request itself said, so that an answer quoting it back does not count as a leak. */
function echoable(parts: string[]): string {
  const out: string[] = [];
  for (const part of parts) {
    out.push(part);
    try {
      out.push(decodeURIComponent(part.replace(/\+/g, ' ')));
    } catch {
      out.push(part.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));
    }
  }
  return out.join('\n');
}

/** The leak markers an answer holds that its request did not. */
export function leaksIn(text: string, requestText: string): string[] {
  return LEAK_MARKERS.filter(([, pattern]) => pattern.test(text) && !pattern.test(requestText)).map(([name]) => name);
}

const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;
const exitOf = (child: ChildProcess): string => (child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while every process of the stack is running. */
export function allRunning(stack: ProcessStack): boolean {
  return SERVICES.every((s) => running(stack.stack.services[s].child));
}

/**
 * One case: the requests it sent with their answers, and every problem found. Every answer is
 * checked (answered, no 5xx, no leak); `finish` checks the processes and throws the report.
 */
/** Answers seen by every case of this process, by outcome class (`400`, `413`, `raw 400`, `raw closed`…). */
const outcomeTally = new Map<string, number>();

/** Every answer the fuzz cases got so far, by outcome class, most frequent first. */
export function outcomes(): [outcome: string, count: number][] {
  return [...outcomeTally.entries()].sort((a, b) => b[1] - a[1]);
}

const tally = (outcome: string) => outcomeTally.set(outcome, (outcomeTally.get(outcome) ?? 0) + 1);

export class CaseRun {
  readonly problems: string[] = [];
  private readonly transcript: string[] = [];
  private readonly logMark: number;

  constructor(readonly stack: ProcessStack) {
    this.logMark = stack.logs.length;
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  /** Sends `c` and checks its answer; `label` names a follow-up read in the report. */
  async send(c: HttpCase, label?: string): Promise<Answer> {
    const answer = await sendHttp(this.stack, c);
    tally(answer.status === -1 ? 'not sent' : answer.status === 0 ? 'no answer' : String(answer.status));
    const n = this.transcript.length + 1;
    const what = label ? `#${n} (${label})` : `#${n}`;
    this.transcript.push(`${what} ${describeHttpCase(c)}\n  → ${describeAnswer(answer)} (${answer.ms} ms)`);
    if (answer.status === -1) {
      // Not sent at all: nothing to judge. (fc.pre would also do, but a skip is as good as a pass here.)
      return answer;
    }
    if (answer.status === 0) this.problem(`${what} got no HTTP answer: ${answer.error}`);
    else if (answer.status >= 500) this.problem(`${what} was answered ${answer.status}${answer.headers['retry-after'] ? ` (Retry-After: ${answer.headers['retry-after']})` : ''}`);
    else if (answer.error) this.problem(`${what}: ${answer.error}`);
    if (!label && answer.status > 0 && answer.ms > SLOW_ANSWER_MS) this.problem(`${what} took ${(answer.ms / 1000).toFixed(1)} s to answer (the limit is ${SLOW_ANSWER_MS / 1000} s)`);
    // A static asset (the sandbox's bundled script, a product image) is code and pictures, not an answer to judge.
    const type = String(answer.headers['content-type'] ?? '');
    const asset = answer.status < 400 && /javascript|css|image\/|font\//.test(type);
    const leaks = asset ? [] : leaksIn(answer.text, echoable([c.target, ...Object.values(c.headers), c.body === undefined ? '' : bodyText(c.body)]));
    if (leaks.length) this.problem(`${what}'s answer holds ${leaks.join(', ')}`);
    if (answer.status > 0 && gatewayAuthenticates(c)) this.checkAuthentication(c, answer, what);
    return answer;
  }

  /** A gateway request to `/graphql` or `/api/*`: 401 `UNAUTHENTICATED` without the development key, never 401 with it. */
  private checkAuthentication(c: HttpCase, answer: Answer, what: string): void {
    // Node's HTTP parser refused the request (headers too large, unreadable) before any route saw it.
    if (answer.status === 431 || (answer.status === 400 && answer.text.includes('could not be read as HTTP/1.1'))) return;
    const authorized = headerOf(c, 'authorization') === BEARER_DEV_KEY;
    if (authorized) {
      if (answer.status === 401) this.problem(`${what} carries the development key, yet was answered 401: ${preview(answer.text, 300)}`);
      return;
    }
    if (answer.status !== 401) {
      this.problem(`${what} carries no live client key, yet was answered ${answer.status}, not 401`);
      return;
    }
    if (c.method !== 'HEAD' && !answer.text.includes('"UNAUTHENTICATED"')) this.problem(`${what} was answered 401 without the UNAUTHENTICATED code: ${preview(answer.text, 300)}`);
    if (answer.headers['www-authenticate'] !== 'Bearer realm="tailor"') this.problem(`${what} was answered 401 without WWW-Authenticate: Bearer realm="tailor"`);
  }

  /** Sends raw bytes and checks that anything that comes back is a 4xx. */
  async sendRaw(c: RawCase): Promise<Buffer> {
    const bytes = await sendRaw(this.stack, c);
    const text = bytes.toString('latin1');
    tally(bytes.length ? `raw ${text.slice(9, 12)}` : 'raw closed without an answer');
    this.transcript.push(`#${this.transcript.length + 1} ${describeRawCase(c)}\n  → ${bytes.length ? preview(text, 900) : '(nothing, connection closed or idle)'}`);
    if (bytes.length > 0) {
      if (!text.startsWith('HTTP/1.1 4')) this.problem(`the raw request was answered "${visible(text.split('\r\n')[0].slice(0, 80))}", not a 4xx`);
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      const bad = statuses.filter((s) => s < 400 || s >= 500);
      if (bad.length && text.startsWith('HTTP/1.1 4')) this.problem(`a later response on the same socket was ${bad.join(', ')}`);
      const leaks = leaksIn(text, echoable([c.bytes.toString('latin1')]));
      if (leaks.length) this.problem(`the raw answer holds ${leaks.join(', ')}`);
    }
    return bytes;
  }

  /** Checks that every process still runs and answers GET /health with 200. */
  async checkProcesses(): Promise<void> {
    for (const service of SERVICES) {
      const child = this.stack.stack.services[service].child;
      if (!running(child)) {
        this.problem(`${service} is no longer running (${exitOf(child)})`);
        continue;
      }
      try {
        const response = await fetch(`${this.stack.url(service)}/health`, { signal: AbortSignal.timeout(5_000) });
        await response.arrayBuffer();
        if (response.status !== 200) this.problem(`GET /health of ${service} answered ${response.status}`);
      } catch (error) {
        await sleep(300);
        const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
        this.problem(running(child) ? `GET /health of ${service} failed (${cause})` : `${service} died (${exitOf(child)})`);
      }
    }
  }

  /** Throws the report of this case if anything was wrong. */
  async finish(): Promise<void> {
    if (this.problems.length === 0) return;
    // A process's log line about this request may still be on its way through the pipe.
    await sleep(150);
    const logs = this.stack.logs
      .slice(this.logMark)
      .slice(0, 20)
      .map((l) => `  [${l.service}] ${summarizeLogLine(l.line)}`);
    throw new Error(
      [
        `${this.problems.length} problem(s):`,
        ...this.problems.map((p) => `  - ${p}`),
        'requests and answers:',
        ...this.transcript,
        ...(logs.length ? ['lines the processes logged meanwhile:', ...logs] : []),
      ].join('\n'),
    );
  }
}

/** A log line, shortened: for a JSON line its message, and its error's type, message and first frames. */
function summarizeLogLine(line: string): string {
  let entry: { msg?: unknown; path?: unknown; err?: { type?: unknown; message?: unknown; stack?: unknown } };
  try {
    entry = JSON.parse(line);
  } catch {
    return preview(line, 600);
  }
  if (!entry || typeof entry !== 'object') return preview(line, 600);
  const parts = [String(entry.msg ?? '')];
  if (entry.path) parts.push(`path=${String(entry.path)}`);
  if (entry.err) {
    parts.push(`${String(entry.err.type ?? 'Error')}: ${preview(String(entry.err.message ?? ''), 300)}`);
    const frames = String(entry.err.stack ?? '')
      .split('\n')
      .filter((f) => /^\s*at /.test(f))
      .slice(0, 3)
      .map((f) => f.trim());
    if (frames.length) parts.push(frames.join(' | '));
  }
  return parts.join(' — ');
}

function describeAnswer(a: Answer): string {
  if (a.status === -1) return `(not sent: ${a.error})`;
  if (a.status === 0) return `(no answer: ${a.error})`;
  const retry = a.headers['retry-after'] ? ` retry-after: ${a.headers['retry-after']}` : '';
  return `${a.status}${retry} ${preview(a.text, 900)}${a.error ? ` [${a.error}]` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Running a property
// ---------------------------------------------------------------------------------------------

const catalogs = new WeakMap<ProcessStack, Promise<Catalog>>();

/** Real user ids and SKUs of the running stack's data, read once through the gateway. */
export function loadCatalog(stack: ProcessStack): Promise<Catalog> {
  let catalog = catalogs.get(stack);
  if (!catalog) {
    catalog = (async () => {
      const response = await fetch(stack.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...stack.auth },
        body: json({ query: 'query($ids: [ID!]!) { trendingProducts(limit: 50) { sku } users(ids: $ids) { id } }', variables: { ids: DEMO_USERS.slice(0, 40) } }),
      });
      const body = (await response.json()) as { data?: { trendingProducts: { sku: string }[]; users: ({ id: string } | null)[] } };
      const skus = body.data?.trendingProducts.map((p) => p.sku) ?? [];
      const userIds = (body.data?.users ?? []).filter((u): u is { id: string } => u !== null).map((u) => u.id);
      if (skus.length === 0 || userIds.length === 0) throw new Error(`The stack has no demo data to fuzz with: ${json(body)}`);
      return { skus, userIds };
    })();
    catalogs.set(stack, catalog);
  }
  return catalog;
}

/** Fails at once when a process died before this property started (an earlier case killed it). */
function requireRunning(stack: ProcessStack): void {
  const dead = SERVICES.filter((s) => !running(stack.stack.services[s].child));
  if (dead.length) {
    throw new Error(`Cannot fuzz: ${dead.map((s) => `${s} (${exitOf(stack.stack.services[s].child)})`).join(', ')} stopped before this property started; an earlier case killed it (see the first failure).`);
  }
}

/** One entry point under fuzz: its generator, and the check of one case beyond the common ones. */
export interface FuzzTarget<T> {
  arbitrary(catalog: Catalog): fc.Arbitrary<T>;
  /**
   * Hand-written hostile cases run before the generated ones on every run, whatever the seed: the
   * shapes named in the suite's brief and those that found bugs, so that a small count still covers them.
   */
  examples?(catalog: Catalog): T[];
  /** Sends the case and checks what is particular to this entry point (answers are checked by `CaseRun`). */
  check(value: T, run: CaseRun): Promise<void>;
}

/**
 * Runs one case: `check`, then the processes. Throws the case's report when anything was wrong.
 * Exported for tools that want every failing case rather than the first (fast-check stops there).
 */
export async function runCase<T>(stack: ProcessStack, target: FuzzTarget<T>, value: T): Promise<void> {
  const run = new CaseRun(stack);
  await target.check(value, run);
  await run.checkProcesses();
  await run.finish();
}

/**
 * Runs `numRuns` generated cases of `target`; after each one every process must still be up. A case
 * that runs once a process is down passes without sending anything (see the module comment).
 */
export async function fuzzTarget<T>(stack: ProcessStack, options: FuzzOptions, target: FuzzTarget<T>): Promise<void> {
  requireRunning(stack);
  if (!stack.devKey) throw new Error('Cannot fuzz: the stack\'s gateway made no development key (<data dir>/dev-key), which gateway cases send.');
  const catalog = await loadCatalog(stack);
  const arbitrary = target.arbitrary(catalog);
  const examples = target.examples?.(catalog) ?? [];
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      if (!allRunning(stack)) return;
      await runCase(stack, target, value);
    }),
    {
      // fast-check counts examples among the runs: `numRuns` generated cases come on top of them.
      numRuns: options.numRuns + examples.length,
      examples: examples.map((e) => [e] as [T]),
      seed: options.seed,
      includeErrorInReport: true,
      ...(options.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: options.timeLimitMs, markInterruptAsFailure: true }),
    },
  );
}

/**
 * A request to a subgraph's `/graphql`: an unsigned one must be refused with 401 `UNAUTHENTICATED`
 * (or 413 for a body over the limit, which is read first), a signed one never.
 */
async function checkSubgraphGraphql(c: HttpCase, run: CaseRun): Promise<void> {
  const answer = await run.send(c);
  if (answer.status <= 0) return;
  let path: string | undefined;
  try {
    path = new URL(`http://x${c.target}`).pathname;
  } catch {
    path = undefined;
  }
  if (path !== '/graphql' || c.method !== 'POST') return;
  if (c.sign && answer.status === 401) run.problem(`a request signed with the gateway credential was refused: ${preview(answer.text, 300)}`);
  if (!c.sign && answer.status !== 413 && (answer.status !== 401 || !answer.text.includes('"UNAUTHENTICATED"'))) {
    run.problem(`an unsigned request to a subgraph's /graphql was answered ${answer.status}, not 401 UNAUTHENTICATED`);
  }
}

/** One request per case, with the checks every answer gets. */
const sendOne = (c: HttpCase, run: CaseRun) => run.send(c).then(() => undefined);
const simple = (arbitrary: (catalog: Catalog) => fc.Arbitrary<HttpCase>, examples?: (catalog: Catalog) => HttpCase[]): FuzzTarget<HttpCase> => ({
  arbitrary,
  check: sendOne,
  examples: examples && ((catalog) => examples(catalog).map(asHttpCase)),
});

// ---------------------------------------------------------------------------------------------
// Hand-written examples, run first on every run
// ---------------------------------------------------------------------------------------------

const JSON_HEADERS = { 'content-type': 'application/json' };
const post = (service: Service, body: unknown, target = '/graphql'): HttpCase => ({
  service,
  method: 'POST',
  target,
  headers: JSON_HEADERS,
  body: typeof body === 'string' ? body : json(body),
});
const UNPRINTABLE_HASH = { persistedQuery: { version: 1, sha256Hash: { toString: null } } };

const graphqlPostExamples = (service: Service): HttpCase[] => [
  post(service, { query: '{ __typename }', operationName: '' }),
  post(service, { query: '{ user(id: "x\ud800") { id } }' }),
  post(service, { query: 'query Q($id: ID!) { user(id: $id) { id } }', variables: { id: 'x\ud800' } }),
  post(service, { extensions: UNPRINTABLE_HASH }),
  post(service, { extensions: { persistedQuery: { sha256Hash: 'abc' } } }),
  post(service, { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } }),
  post(service, { query: `{ users(ids: ${'['.repeat(3_000)}${']'.repeat(3_000)}) { id } }` }),
  post(service, { query: '{a'.repeat(20_000) + '}'.repeat(20_000) }),
  post(service, { query: 'subscription { __typename }' }),
  post(service, '{"query":'),
  { service, method: 'POST', target: '/graphql', headers: { 'content-type': 'text/plain' }, body: '{ __typename }' },
];

const rawRequestLine = (service: Service, line: string): RawCase =>
  printedAs<RawCase>({ service, bytes: Buffer.from(`${line}\r\nHost: 127.0.0.1\r\n\r\n`, 'latin1'), halfClose: true }, describeRawCase);

/** Batches named in the brief and past failures, for `POST /ingest/<kind>`. */
function ingestExamples(kind: IngestKind, catalog: Catalog): IngestCase[] {
  const at = new Date(Date.now() - 60 * 60_000).toISOString();
  const [user] = catalog.userIds;
  const [sku] = catalog.skus;
  const items: unknown[][] =
    kind === 'users'
      ? [[{ id: 'fz-u-x\ud800', email: 'fz.lone@example.com' }], [{ id: 'fz-u-ok', email: 'not-an-email' }], [{ id: user, email: 'fz.taken@example.com', loyaltyTier: 'DIAMOND' }]]
      : kind === 'stock'
        ? [[{ sku, available: 3, observedAt: '9999-12-31T00:00:00Z' }], [{ sku, available: -1, observedAt: at }], [{ sku: `${sku}\ud800`, available: 1, observedAt: at }]]
        : [
            [{ eventId: 'fz-e-x\ud800', userId: user, sku, type: 'VIEW', occurredAt: at }],
            [{ eventId: 'fz-e-y\ud800', userId: user, sku, type: 'VIEW', occurredAt: at }, { eventId: 'fz-e-y\udc00', userId: user, sku, type: 'VIEW', occurredAt: at }],
            [{ eventId: 'fz-e-future', userId: user, sku, type: 'VIEW', occurredAt: '9999-12-31T00:00:00Z' }],
          ];
  const cases: IngestCase[] = items.map((list) => ({ kind, request: asHttpCase(post(INGEST_SERVICE[kind], list, `/ingest/${kind}`)), items: list }));
  cases.push({ kind, request: asHttpCase(post(INGEST_SERVICE[kind], '['.repeat(30_000) + ']'.repeat(30_000), `/ingest/${kind}`)) });
  return cases.map((c) => printedAs(c, (v) => describeHttpCase(v.request)));
}

// ---------------------------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------------------------

/** What an ingest batch names, as strings: user ids (users), SKUs (stock) or user ids (events). */
function namedKeys(kind: IngestKind, items: unknown[] | undefined): string[] {
  const field = kind === 'stock' ? 'sku' : kind === 'users' ? 'id' : 'userId';
  const keys = new Set<string>();
  for (const item of items ?? []) {
    const value = item && typeof item === 'object' ? (item as Item)[field] : undefined;
    if (typeof value === 'string' && value.length <= 200) {
      keys.add(value);
      if (value.trim()) keys.add(value.trim());
    }
  }
  return [...keys].slice(0, 100);
}

/** The reads that show what is stored for the keys a batch names. */
function snapshotRead(kind: IngestKind, keys: string[]): HttpCase {
  if (kind === 'events') {
    return {
      service: 'behavior',
      method: 'POST',
      target: '/graphql',
      headers: { 'content-type': 'application/json' },
      body: json({
        query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id recentlyViewed(limit: 50) { viewedAt product { sku } } } } }',
        variables: { r: keys.map((id) => ({ __typename: 'User', id, consent: { personalization: true } })) },
      }),
    };
  }
  const query =
    kind === 'users'
      ? 'query($k: [ID!]!) { users(ids: $k) { id email firstName lastName locale timezone loyaltyTier segments consent { email personalization updatedAt } } }'
      : 'query($k: [ID!]!) { products(skus: $k) { sku stock { available updatedAt } } }';
  return { service: 'gateway', method: 'POST', target: '/graphql', headers: { 'content-type': 'application/json', authorization: BEARER_DEV_KEY }, body: json({ query, variables: { k: keys } }) };
}

/** A read after an accepted batch: the named ids must read back, recommendations included, without errors. */
function readBack(kind: IngestKind, keys: string[]): HttpCase {
  const query =
    kind === 'stock'
      ? 'query($k: [ID!]!) { products(skus: $k) { sku inStock stock { available updatedAt } } }'
      : 'query($k: [ID!]!) { users(ids: $k) { id email recentlyViewed(limit: 4) { viewedAt product { sku } } recommendations(limit: 4) { score reason product { sku inStock } } } }';
  return { service: 'gateway', method: 'POST', target: '/graphql', headers: { 'content-type': 'application/json', authorization: BEARER_DEV_KEY }, body: json({ query, variables: { k: keys } }) };
}

interface IngestState {
  accepted: number;
  reads: string;
}

async function ingestState(run: CaseRun, kind: IngestKind, keys: string[], label: string): Promise<IngestState | undefined> {
  const service = INGEST_SERVICE[kind];
  let accepted: number;
  try {
    accepted = await scrapeMetric(run.stack.url(service), 'tailor_ingest_items_total', { kind, result: 'accepted' });
  } catch (error) {
    run.problem(`reading ${service}'s /metrics ${label} failed: ${String(error)}`);
    return undefined;
  }
  let reads = '';
  if (keys.length) {
    const answer = await run.send(asHttpCase(snapshotRead(kind, keys)), `read ${label}`);
    reads = answer.text;
  }
  return { accepted, reads };
}

/** `POST /ingest/<kind>` on its subgraph: a refused batch stores nothing; an accepted one reads back. */
export const ingestTarget = (kind: IngestKind): FuzzTarget<IngestCase> => ({
  arbitrary: (catalog) => ingestRequest(kind, catalog),
  async check(c, run) {
    const keys = namedKeys(kind, c.items);
    const before = await ingestState(run, kind, keys, 'before the batch');
    const answer = await run.send(c.request);
    if (answer.status <= 0 || !before) return;
    if (answer.status >= 400) {
      const after = await ingestState(run, kind, keys, 'after the refusal');
      if (!after) return;
      if (after.accepted !== before.accepted) {
        run.problem(`the batch was refused (${answer.status}), yet tailor_ingest_items_total{kind="${kind}",result="accepted"} went from ${before.accepted} to ${after.accepted}`);
      }
      if (after.reads !== before.reads) {
        run.problem(`the batch was refused (${answer.status}), yet what is stored for ${preview(json(keys), 300)} changed:\n    before: ${preview(before.reads, 600)}\n    after:  ${preview(after.reads, 600)}`);
      }
      return;
    }
    if (answer.status >= 300 || c.request.method === 'HEAD' || c.request.method === 'OPTIONS') return;
    // Accepted: the counts add up to the items sent, and what it named reads back without errors.
    let result: { accepted?: unknown; duplicates?: unknown; stale?: unknown } = {};
    try {
      result = JSON.parse(answer.text);
    } catch {
      run.problem(`the accepted batch's answer is not JSON`);
    }
    if (c.items) {
      const counted = [result.accepted, result.duplicates, result.stale].map(Number).reduce((a, b) => a + b, 0);
      if (counted !== c.items.length) run.problem(`the batch of ${c.items.length} items was answered ${answer.status} with counts ${preview(answer.text, 200)} that add up to ${counted}`);
    }
    // Replayed, it is applied at most once: users and events come back as duplicates. (Not stock: two
    // levels of one SKU at one instant in a batch are both applied, so its replay is not a no-op.)
    if (c.items?.length) {
      const replay = await run.send(c.request, 'the same batch again');
      if (kind !== 'stock' && replay.status >= 200 && replay.status < 300) {
        let again: { accepted?: unknown } = {};
        try {
          again = JSON.parse(replay.text);
        } catch {
          // A 2xx answer that is not JSON fails the check below, as applying something would.
        }
        if (again.accepted !== 0) run.problem(`the same batch sent again was answered ${replay.status} ${preview(replay.text, 200)}: a replay must count duplicates, not apply anything`);
      }
    }
    const readKeys = namedKeys(kind, c.items);
    if (readKeys.length) {
      const read = await run.send(asHttpCase(readBack(kind, readKeys)), 'read back after acceptance');
      if (read.status === 200 && /"errors"\s*:/.test(read.text)) run.problem(`reading back what the accepted batch named answered errors`);
    }
  },
});

/**
 * `c` without a live key, for each way a client can get the credential wrong: no header, a
 * malformed one, another scheme, a wrong key, a JWT to a gateway that takes none. Each must get 401.
 */
const unauthenticatedVariants = (c: HttpCase): HttpCase[] =>
  [undefined, '', 'Bearer', 'Basic Og==', `Bearer ${DEV_KEY}x`, DEV_KEY, 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln', `Bearer ${'x'.repeat(8_000)}`].map((authorization) => ({
    ...c,
    headers: headersOf({ ...c.headers, authorization }),
  }));

/** Every entry point, by the name the properties below use. */
export const TARGETS = {
  gatewayPostGraphql: simple(
    () => graphqlPostRequest(),
    () => [...graphqlPostExamples('gateway').map(withDevKey), ...unauthenticatedVariants(post('gateway', { query: '{ __typename }' })), ...unauthenticatedVariants(post('gateway', '{"query":'))],
  ),
  gatewayGetGraphql: simple(
    () => graphqlGetRequest,
    () => {
      const get = (q: string): HttpCase => ({ service: 'gateway', method: 'GET', target: `/graphql?${q}`, headers: {} });
      return [
        ...['query=%ZZ', 'query=%ED%A0%80', 'query=%7B__typename%7D&operationName=', 'extensions=%7B', 'variables=%', 'query=%7B__typename%7D&variables=%5B%5D'].map((q) => withDevKey(get(q))),
        ...unauthenticatedVariants(get('query=%7B__typename%7D')),
      ];
    },
  ),
  gatewayBatch: simple(
    () => graphqlBatchRequest,
    () => [
      ...[
        post('gateway', []),
        post('gateway', [1, 'x', null]),
        post('gateway', Array(26).fill({ query: '{ __typename }' })),
        post('gateway', [{ query: '{ __typename }' }, { query: '{ __typename }', operationName: '' }]),
        post('gateway', [{ query: '{ __typename }' }, { extensions: UNPRINTABLE_HASH }]),
      ].map(withDevKey),
      ...unauthenticatedVariants(post('gateway', [{ query: '{ __typename }' }, { query: '{ __typename }' }])),
    ],
  ),
  gatewayPersistedQuery: simple(
    () => persistedQueryRequest,
    () => [
      ...[
        post('gateway', { extensions: { persistedQuery: { version: 1, sha256Hash: MANIFEST[0].id } }, variables: { ids: 'x' } }),
        post('gateway', { extensions: { persistedQuery: { version: 1, sha256Hash: MANIFEST[1].id } }, variables: { id: 1.5, limit: 2 ** 31 } }),
        post('gateway', { extensions: { persistedQuery: { version: 1, sha256Hash: MANIFEST[2].id } }, variables: { id: 'u-00001' }, operationName: '' }),
        post('gateway', { extensions: { persistedQuery: { version: 1, sha256Hash: MANIFEST[0].id.slice(0, 63) } } }),
        post('gateway', { extensions: UNPRINTABLE_HASH }),
      ].map(withDevKey),
      ...unauthenticatedVariants(post('gateway', { extensions: { persistedQuery: { version: 1, sha256Hash: MANIFEST[2].id } }, variables: { id: 'u-00001' } })),
    ],
  ),
  gatewayRest: simple(restRequest, () => [
    ...['%ZZ/profile', '%/recommendations', '%ED%A0%80/personalization', `${'x'.repeat(20_000)}/profile`, 'u-00001/recommendations?limit=x', 'u-00001/profile?limit=%ZZ'].flatMap((tail) =>
      ['GET', 'HEAD'].map((method) => withDevKey({ service: 'gateway', method, target: `/api/v1/users/${tail}`, headers: {} })),
    ),
    ...['GET', 'HEAD', 'POST'].flatMap((method) => unauthenticatedVariants({ service: 'gateway', method, target: '/api/v1/users/u-00001/profile', headers: {} })),
  ]),
  subgraphGraphql: {
    // Mostly signed, as the gateway sends them, so that they reach the parser; the rest unsigned,
    // which a subgraph must refuse with 401 before reading any of it.
    arbitrary: () =>
      fc.tuple(graphqlPostRequest(fc.constantFrom(...SUBGRAPHS)), fc.oneof(w(4, fc.constant(true)), w(1, fc.constant(false)))).map(([c, sign]) => asHttpCase({ ...c, sign })),
    check: checkSubgraphGraphql,
    examples: () =>
      [
        ...SUBGRAPHS.flatMap(graphqlPostExamples),
        post('stock', { query: '{ _entities(representations: [{ __typename: "Product", sku: [] }]) { ... on Product { sku } } }' }),
        post('behavior', { query: '{ _entities(representations: [{ __typename: "User", id: [] }]) { ... on User { id } } }' }),
      ].flatMap((c) => [asHttpCase({ ...c, sign: true }), asHttpCase(c)]),
  } as FuzzTarget<HttpCase>,
  ingestUsers: { ...ingestTarget('users'), examples: (catalog: Catalog) => ingestExamples('users', catalog) },
  ingestStock: { ...ingestTarget('stock'), examples: (catalog: Catalog) => ingestExamples('stock', catalog) },
  ingestEvents: { ...ingestTarget('events'), examples: (catalog: Catalog) => ingestExamples('events', catalog) },
  otherRoutes: simple(() => otherRouteRequest, (): HttpCase[] => [
    { service: 'stock', method: 'GET', target: '/images/%ZZ.svg', headers: {} },
    { service: 'stock', method: 'GET', target: '/images/%ED%A0%80.svg', headers: {} },
    { service: 'gateway', method: 'GET', target: '/sandbox/%ZZ', headers: {} },
    ...['/r/', '/r/%ZZ', '/i/.png', '/i/%ED%A0%80.png', `/r/${'A'.repeat(5_000)}`, `/i/${'A'.repeat(5_000)}.png`, '/r/AQ', '/i/AQJrMQ.png'].map((target): HttpCase => ({ service: 'gateway', method: 'GET', target, headers: {} })),
    { service: 'gateway', method: 'HEAD', target: '/health', headers: { 'x-pad': 'a'.repeat(20_000) } },
  ]),
  rawSocket: {
    arbitrary: () => rawHttpRequest,
    check: (c: RawCase, run: CaseRun) => run.sendRaw(c).then(() => undefined),
    examples: () => SERVICES.flatMap((service) => ['GET //[ HTTP/1.1', 'GET //% HTTP/1.1', 'GET http://[ HTTP/1.1', 'GET //host:99999 HTTP/1.1'].map((line) => rawRequestLine(service, line))),
  } as FuzzTarget<RawCase>,
};

/** Gateway `POST /graphql`: any body, content type and operation. */
export const gatewayPostGraphqlProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.gatewayPostGraphql);
/** Gateway `GET /graphql`: any query string, bad percent escapes included. */
export const gatewayGetGraphqlProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.gatewayGetGraphql);
/** Gateway HTTP batches: JSON arrays of operations, empty, of non-objects, over the limit. */
export const gatewayBatchProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.gatewayBatch);
/** Gateway persisted queries: real and fake hashes, wrong variables, over POST and GET. */
export const gatewayPersistedQueryProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.gatewayPersistedQuery);
/** Gateway REST routes: random ids, parameters, methods. */
export const gatewayRestProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.gatewayRest);
/** Each subgraph's own `POST /graphql` (what the gateway talks to), with the same bodies. */
export const subgraphGraphqlProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.subgraphGraphql);
/** `POST /ingest/users|stock|events`: random and almost-valid batches; a refused one stores nothing. */
export const ingestProperty = (stack: ProcessStack, options: FuzzOptions, kind: IngestKind) =>
  fuzzTarget(stack, options, kind === 'users' ? TARGETS.ingestUsers : kind === 'stock' ? TARGETS.ingestStock : TARGETS.ingestEvents);
/** Every other path and method of every process. */
export const otherRoutesProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.otherRoutes);
/** Raw request lines and bytes over node:net to every port. */
export const rawSocketProperty = (stack: ProcessStack, options: FuzzOptions) => fuzzTarget(stack, options, TARGETS.rawSocket);
