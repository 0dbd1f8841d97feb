import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ConfigError } from '../kit/config';
import { createLogger } from '../kit/logger';
import { SERVICE_ATTRIBUTE, setupTracing, tracer, tracingEnabled } from '../kit/tracing';
import { loadGatewayConfig } from '../gateway/src/config';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { signedHeaders } from './support/subgraphSigning';

// One PersonalizeRecipient query through the in-process stack (gateway and three subgraphs over real
// loopback HTTP), recorded by an in-memory exporter. All four services share this process's tracer
// provider, so each span's `tailor.service` says which service recorded it; the links between the
// services' spans are only what `traceparent` carried over HTTP. Structure and counts, never durations.

const run = promisify(execFile);
const PERSONALIZE = readFileSync(join(__dirname, '..', 'schema', 'operations', 'personalize-recipient.graphql'), 'utf8');
const SUBGRAPHS = ['behavior', 'crm', 'stock'];

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const serviceOf = (span: ReadableSpan) => span.attributes[SERVICE_ATTRIBUTE];
const sorted = (values: unknown[]) => values.map(String).sort();

/** The recorded spans as a tree: parent and children by span id. */
function treeOf(spans: ReadableSpan[]) {
  const byId = new Map(spans.map((s) => [idOf(s), s]));
  const parentOf = (span: ReadableSpan) => (span.parentSpanContext ? byId.get(span.parentSpanContext.spanId) : undefined);
  const childrenOf = (span: ReadableSpan) => spans.filter((s) => s.parentSpanContext?.spanId === idOf(span));
  const descendantsOf = (span: ReadableSpan): ReadableSpan[] => childrenOf(span).flatMap((c) => [c, ...descendantsOf(c)]);
  /** The nearest span above `span` (itself included) that `test` accepts. */
  const ancestorOf = (span: ReadableSpan, test: (s: ReadableSpan) => boolean): ReadableSpan | undefined => {
    for (let s: ReadableSpan | undefined = span; s; s = parentOf(s)) if (test(s)) return s;
    return undefined;
  };
  return { byId, parentOf, childrenOf, descendantsOf, ancestorOf };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('tracing a Personalize query across the gateway and the subgraphs', () => {
  const exporter = new InMemorySpanExporter();
  let stopTracing: () => Promise<void>;
  let stack: InProcessStack;
  let spans: ReadableSpan[];

  beforeAll(async () => {
    stopTracing = setupTracing({ service: 'tailor-test', exporter });
    // Deadlines far above a cold first query on a busy machine: a timed-out fetch or a retry would
    // change the tree, and its shape, not the time taken, is what is checked here.
    stack = await startInProcessStack({
      seed: 'demo',
      gatewayEnv: { TAILOR_REQUEST_DEADLINE_MS: '60000', TAILOR_SUBGRAPH_TIMEOUT_MS: '30000' },
      env: { TAILOR_TRENDING_WAIT_MS: '30000', TAILOR_TRENDING_TIMEOUT_MS: '30000' },
    });
    exporter.reset(); // start-up and seeding are not part of the query
    const answer = await stack.query(PERSONALIZE, { id: 'u-00001' });
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data.user.recommendations.length).toBeGreaterThan(0);
    // A server span ends just after its answer is sent: wait for the whole tree to be recorded.
    await stack.stock.trending.idle();
    await until(() => {
      const recorded = exporter.getFinishedSpans();
      const ids = new Set(recorded.map(idOf));
      const clientSpans = recorded.filter((s) => s.name === 'tailor.subgraph.request').length;
      const subgraphServers = recorded.filter((s) => s.kind === SpanKind.SERVER && serviceOf(s) !== 'gateway').length;
      const rootDone = recorded.some((s) => s.kind === SpanKind.SERVER && serviceOf(s) === 'gateway');
      return rootDone && subgraphServers >= clientSpans && recorded.every((s) => !s.parentSpanContext || ids.has(s.parentSpanContext.spanId));
    }, 'every span of the query to end');
    spans = exporter.getFinishedSpans();
  });

  afterAll(async () => {
    await stack?.close();
    await stopTracing?.();
  });

  it('records one trace, rooted at the gateway\'s server span', () => {
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    const roots = spans.filter((s) => !s.parentSpanContext);
    expect(roots.map((s) => [s.name, s.kind, serviceOf(s)])).toEqual([['HTTP POST /graphql', SpanKind.SERVER, 'gateway']]);
    expect(roots[0].attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200 });
    // Every span hangs off that root: none lost its parent on the way.
    const { byId } = treeOf(spans);
    expect(spans.filter((s) => s.parentSpanContext && !byId.has(s.parentSpanContext.spanId)).map((s) => s.name)).toEqual([]);
    expect(new Set(spans.map(serviceOf))).toEqual(new Set(['gateway', ...SUBGRAPHS]));
  });

  it('has Apollo Gateway\'s request, plan and execute spans, and one gateway.fetch per plan step, for crm, behavior and stock', () => {
    const { parentOf, childrenOf } = treeOf(spans);
    const [root] = spans.filter((s) => !s.parentSpanContext);
    const requests = spans.filter((s) => s.name === 'gateway.request');
    expect(requests).toHaveLength(1);
    expect(parentOf(requests[0])).toBe(root);
    expect(requests[0].attributes).toMatchObject({ 'graphql.operation.name': 'PersonalizeRecipient', 'graphql.operation.type': 'query' });
    const stages = childrenOf(requests[0]).map((s) => s.name);
    expect(stages).toEqual(expect.arrayContaining(['gateway.plan', 'gateway.execute']));
    const [execute] = spans.filter((s) => s.name === 'gateway.execute');
    expect(parentOf(execute)).toBe(requests[0]);

    const fetches = spans.filter((s) => s.name === 'gateway.fetch');
    expect(fetches.every((f) => parentOf(f) === execute && serviceOf(f) === 'gateway')).toBe(true);
    // crm first (the user), then behavior (recent views, signals) and stock (products, recommendations).
    expect(new Set(fetches.map((f) => f.attributes.service))).toEqual(new Set(SUBGRAPHS));
    expect(fetches.length).toBeGreaterThanOrEqual(3);
    expect(spans.filter((s) => s.name === 'gateway.postprocessing').map(parentOf)).toEqual([execute]);
  });

  it('has one tailor.subgraph.request client span per HTTP attempt, inside the gateway.fetch of that subgraph', () => {
    const { parentOf, childrenOf } = treeOf(spans);
    const fetches = spans.filter((s) => s.name === 'gateway.fetch');
    for (const fetch of fetches) {
      const attempts = childrenOf(fetch).filter((s) => s.name === 'tailor.subgraph.request');
      expect(attempts.map((a) => [a.kind, a.attributes.subgraph, a.attributes.attempt])).toEqual([[SpanKind.CLIENT, fetch.attributes.service, 1]]);
    }
    expect(spans.filter((s) => s.name === 'tailor.subgraph.request').every((s) => parentOf(s)?.name === 'gateway.fetch')).toBe(true);
  });

  it('continues the trace in each subgraph: its server span is the child, over traceparent, of the span that sent the request', () => {
    const { parentOf } = treeOf(spans);
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER && serviceOf(s) !== 'gateway');
    for (const server of servers) {
      expect(server.name).toBe('HTTP POST /graphql');
      expect(server.parentSpanContext?.isRemote).toBe(true);
    }
    const fromGateway = servers.filter((s) => serviceOf(parentOf(s)!) === 'gateway');
    for (const server of fromGateway) {
      const sender = parentOf(server)!;
      expect([sender.name, sender.attributes.subgraph]).toEqual(['tailor.subgraph.request', serviceOf(server)]);
    }
    // One subgraph request per attempt the gateway sent, each answered under its own span.
    const attempts = spans.filter((s) => s.name === 'tailor.subgraph.request');
    expect(sorted(fromGateway.map(serviceOf))).toEqual(sorted(attempts.map((a) => a.attributes.subgraph)));
    expect(new Set(fromGateway.map(parentOf)).size).toBe(attempts.length);

    // Stock asks behavior for the trending ranking (it has none yet): that request carries stock's context.
    const fromStock = servers.filter((s) => serviceOf(parentOf(s)!) === 'stock');
    expect(fromStock.map(serviceOf)).toEqual(['behavior']);
    expect(servers.filter((s) => !fromGateway.includes(s) && !fromStock.includes(s))).toEqual([]);
  });

  it('has resolver spans and SQL statement spans under each subgraph\'s server span, in that subgraph', () => {
    const { ancestorOf, descendantsOf } = treeOf(spans);
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER && serviceOf(s) !== 'gateway');
    const resolvers = spans.filter((s) => s.name.startsWith('resolve '));
    const statements = spans.filter((s) => s.attributes['db.system'] === 'sqlite');
    for (const span of [...resolvers, ...statements]) {
      const server = ancestorOf(span, (s) => s.kind === SpanKind.SERVER);
      expect(server && servers.includes(server)).toBe(true);
      expect(serviceOf(span)).toBe(serviceOf(server!));
    }
    for (const server of servers) {
      const below = descendantsOf(server).filter((s) => serviceOf(s) === serviceOf(server));
      expect(below.filter((s) => s.name.startsWith('resolve ')).length).toBeGreaterThan(0);
      expect(below.filter((s) => s.attributes['db.system'] === 'sqlite').length).toBeGreaterThan(0);
    }
    // The query's own fields, each resolved in the subgraph that owns it.
    const resolved = (service: string) => new Set(resolvers.filter((s) => serviceOf(s) === service).map((s) => s.name));
    expect([...resolved('crm')]).toEqual(expect.arrayContaining(['resolve Query.user']));
    expect([...resolved('behavior')]).toEqual(expect.arrayContaining(['resolve Query._entities', 'resolve User.recentViews', 'resolve Query.trendingRanking']));
    expect([...resolved('stock')]).toEqual(expect.arrayContaining(['resolve Query._entities', 'resolve User.recommendations', 'resolve Product.inStock']));
    // A field of a list item nests under the resolver span of the field above it.
    const inStock = resolvers.find((s) => s.name === 'resolve Product.inStock')!;
    expect(ancestorOf(treeOf(spans).parentOf(inStock)!, (s) => s.name === 'resolve User.recommendations')).toBeDefined();
    expect(inStock.attributes['graphql.field.path']).toMatch(/^_entities\.0\.recommendations\.\d+\.product\.inStock$/);
    // A statement span is named after the statement and carries its SQL, never its parameters.
    for (const statement of statements) {
      expect(statement.kind).toBe(SpanKind.CLIENT);
      expect(statement.name).toMatch(/^\w+$/);
      expect(String(statement.attributes['db.query.text'])).not.toContain('u-00001');
    }
  });

  it('starts a new trace for a request that carries no traceparent, and continues one that does', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    exporter.reset();
    const body = JSON.stringify({ query: '{ __typename }' });
    // Signed as the gateway signs it: crm answers the gateway only.
    const post = (headers: Record<string, string>) => fetch(`${stack.urls.crm}/graphql`, { method: 'POST', headers: { ...signedHeaders(body), ...headers }, body });
    for (const headers of [{ traceparent: `00-${traceId}-${parentId}-01` }, {} as Record<string, string>]) {
      const response = await post(headers);
      expect(response.status).toBe(200);
      await response.text();
    }
    await until(() => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER).length === 2, 'two server spans');
    const servers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    const continued = servers.filter((s) => s.spanContext().traceId === traceId);
    expect(continued.map((s) => [s.parentSpanContext?.spanId, s.parentSpanContext?.isRemote, serviceOf(s)])).toEqual([[parentId, true, 'crm']]);
    const fresh = servers.filter((s) => s.spanContext().traceId !== traceId);
    expect(fresh.map((s) => s.parentSpanContext)).toEqual([undefined]);
  });

  it('writes the active span\'s trace id into each log line written inside it, and none outside', () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).trim().split('\n').map((line) => JSON.parse(line)));
        done();
      },
    });
    const logger = createLogger('crm', 'info', destination);
    logger.info({ n: 1 }, 'before');
    const ids = tracer().startActiveSpan('work', (span) => {
      logger.info({ n: 2 }, 'inside');
      logger.info('inside, no fields');
      span.end();
      return span.spanContext();
    });
    logger.info({ n: 3 }, 'after');
    expect(lines.map((l) => l.msg)).toEqual(['before', 'inside', 'inside, no fields', 'after']);
    for (const line of [lines[1], lines[2]]) expect(line).toMatchObject({ service: 'crm', trace_id: ids.traceId, span_id: ids.spanId, trace_flags: '01' });
    expect(lines[1].n).toBe(2);
    for (const line of [lines[0], lines[3]]) expect(Object.keys(line).filter((k) => k.includes('_id'))).toEqual([]);
    expect(lines[3]).not.toHaveProperty('n', 1);
  });
});

describe('tracing configuration', () => {
  it('is off by default: no endpoint, so no provider, and spans are no-ops', () => {
    expect(loadGatewayConfig({ env: {}, argv: [] })).toMatchObject({ otlpEndpoint: undefined, traceSampleRatio: 1 });
    expect(loadCrmConfig({ env: {}, argv: [] }).otlpEndpoint).toBeUndefined();
    const stop = setupTracing({ service: 'gateway', endpoint: undefined });
    expect(tracingEnabled()).toBe(false);
    expect(tracer().startSpan('nothing').isRecording()).toBe(false);
    return stop();
  });

  it('refuses a collector that is not an http(s) URL and a sample ratio outside 0..1, naming the setting', () => {
    let error: unknown;
    try {
      loadGatewayConfig({ env: { TAILOR_OTLP_ENDPOINT: 'collector:4318', TAILOR_TRACE_SAMPLE_RATIO: '2' }, argv: [] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'TAILOR_OTLP_ENDPOINT="collector:4318": must be an absolute http(s) URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318',
      'TAILOR_TRACE_SAMPLE_RATIO="2": must be from 0 to 1',
    ]);
  });

  it('exports over OTLP/HTTP to <endpoint>/v1/traces when TAILOR_OTLP_ENDPOINT is set, flushing on shutdown', async () => {
    // In a process of its own: the OTLP exporter loads node:http with import(), which Jest's module
    // sandbox does not run. The collector is this test, on loopback.
    const received: { method?: string; url?: string; body: string }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const script = [
        "const { setupTracing, shutdownTracing, tracer, tracingEnabled } = require('./kit/tracing');",
        "const config = require('./gateway/src/config').loadGatewayConfig({ env: process.env, argv: [] });",
        "setupTracing({ service: 'gateway', endpoint: config.otlpEndpoint, sampleRatio: config.traceSampleRatio });",
        "tracer().startSpan('exported').end();",
        "shutdownTracing().then(() => process.stdout.write(String(tracingEnabled())));",
      ].join('\n');
      const env = { ...process.env, TAILOR_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` };
      const { stdout } = await run(process.execPath, ['--require', './tests/support/loopbackOnly.cjs', '--import', 'tsx', '-e', script], { cwd: join(__dirname, '..'), env });
      expect(stdout).toBe('false');
      expect(received.map((r) => [r.method, r.url])).toEqual([['POST', '/v1/traces']]);
      expect(received[0].body).toContain('"exported"');
      expect(received[0].body).toContain('"gateway"');
    } finally {
      await new Promise((resolve) => collector.close(resolve));
    }
  });
});
