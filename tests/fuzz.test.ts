/**
 * Fuzzing every entry point of the real processes (`npm start`'s, on free loopback ports) with
 * generated malformed and hostile requests: tests/support/fuzzProperties.ts holds the generators and
 * the properties.
 *
 * Deterministic by default: a fixed seed and a small count per property. A longer run reuses this
 * file: `TAILOR_FUZZ_RUNS=2000 npx jest tests/fuzz.test.ts` (and `TAILOR_FUZZ_SEED=<n>` for another
 * sequence of cases).
 */
import * as fuzz from './support/fuzzProperties';
import { type ProcessStack, startProcessStack } from './support/processStack';

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < (name === 'TAILOR_FUZZ_SEED' ? -(2 ** 31) : 1)) {
    throw new Error(`${name} must be a whole number${name === 'TAILOR_FUZZ_SEED' ? '' : ' of 1 or more'}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const numRuns = positiveInteger('TAILOR_FUZZ_RUNS', 40);
const options: fuzz.FuzzOptions = {
  numRuns,
  seed: positiveInteger('TAILOR_FUZZ_SEED', 20261128),
  // A property's cases and the shrinking of a failure; a passing one takes a few seconds at 40 cases.
  timeLimitMs: 20_000 + numRuns * 250,
};
/** Jest's limit for one property: its time limit, plus one request still in flight and the health checks. */
const timeout = options.timeLimitMs! + 30_000;

let tailor: ProcessStack;

beforeAll(async () => {
  // Quotas far above what a long run sends with the development key, so that its cases reach GraphQL
  // handling instead of a 429 (tests/quotas.test.ts covers the quotas themselves).
  tailor = await startProcessStack({ scale: 'small', env: { TAILOR_CLIENT_RATE_PER_MINUTE: '1000000000', TAILOR_CLIENT_DAILY_QUOTA: '1000000000000' } });
}, 120_000);

afterAll(async () => {
  await tailor?.stop();
  // The outcome classes of every answer, for the record of a long run (`npm run fuzz`).
  const total = fuzz.outcomes().reduce((sum, [, n]) => sum + n, 0);
  process.stdout.write(`fuzz: ${total} answers (${numRuns} cases per property): ${fuzz.outcomes().map(([o, n]) => `${o} ×${n}`).join(', ')}\n`);
}, 60_000);

describe('gateway POST /graphql', () => {
  it('answers any body, content type, operation or credential with a non-5xx, leak-free answer (401 without a key) and keeps every process up', () => fuzz.gatewayPostGraphqlProperty(tailor, options), timeout);
});

describe('gateway GET /graphql', () => {
  it('answers any query string, bad percent escapes included, with a non-5xx, leak-free answer', () => fuzz.gatewayGetGraphqlProperty(tailor, options), timeout);
});

describe('gateway HTTP batches', () => {
  it('answers any JSON array of operations, empty or over the limit, with a non-5xx, leak-free answer', () => fuzz.gatewayBatchProperty(tailor, options), timeout);
});

describe('gateway persisted queries', () => {
  it('answers real and fake hashes with wrong variables, over POST and GET, with a non-5xx, leak-free answer', () => fuzz.gatewayPersistedQueryProperty(tailor, options), timeout);
});

describe('gateway GET /api/v1/users/{id}/…', () => {
  it('answers any id, parameter or method with a non-5xx, leak-free answer', () => fuzz.gatewayRestProperty(tailor, options), timeout);
});

describe('subgraph POST /graphql', () => {
  it('answers any body sent straight to crm, stock or behavior with a non-5xx, leak-free answer', () => fuzz.subgraphGraphqlProperty(tailor, options), timeout);
});

describe('crm POST /ingest/users', () => {
  it('answers any batch without a 5xx, stores nothing of a refused one, and reads back an accepted one', () => fuzz.ingestProperty(tailor, options, 'users'), timeout);
});

describe('stock POST /ingest/stock', () => {
  it('answers any batch without a 5xx, stores nothing of a refused one, and reads back an accepted one', () => fuzz.ingestProperty(tailor, options, 'stock'), timeout);
});

describe('behavior POST /ingest/events', () => {
  it('answers any batch without a 5xx, stores nothing of a refused one, and reads back an accepted one', () => fuzz.ingestProperty(tailor, options, 'events'), timeout);
});

describe('other routes of every process', () => {
  it('answers any path and method with a non-5xx, leak-free answer', () => fuzz.otherRoutesProperty(tailor, options), timeout);
});

describe('raw HTTP on every port', () => {
  it('answers malformed request lines, headers and bytes with a 4xx or nothing, and keeps every process up', () => fuzz.rawSocketProperty(tailor, options), timeout);
});
