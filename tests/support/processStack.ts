import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testLogSink } from './testLogs';
import { type Stack, startStack } from '../../scripts/startStack';

/** A process of the stack: `gateway` or a subgraph's name. */
export type ServiceName = string;

/** The preload that refuses any connection off the loopback interface, for every spawned process. */
export const LOOPBACK_ONLY = join(__dirname, 'loopbackOnly.cjs');

/** The repository root (where `npm start` runs). */
export const REPO_ROOT = join(__dirname, '..', '..');

/** Options of `startProcessStack`. */
export interface ProcessStackOptions {
  /** `TAILOR_DEMO_SCALE` of every subgraph. */
  scale: 'full' | 'small';
  /** Extra environment for every process. */
  env?: Record<string, string>;
}

/** One line a process printed, tagged with its service. */
export interface LogLine {
  service: ServiceName;
  line: string;
}

/** The real processes of `npm start`, on free loopback ports, over a fresh data folder. */
export interface ProcessStack {
  stack: Stack;
  dataDir: string;
  /** Every line every process printed (stdout and stderr), in arrival order. */
  logs: LogLine[];
  /** The gateway's GraphQL endpoint. */
  graphqlUrl: string;
  /** The secret `npm start` gave every process (made in `<dataDir>/subgraph-secret`): sign direct subgraph calls with it. */
  subgraphSecret: string;
  /** Base URL (`http://127.0.0.1:port`) of a service; follows restarts. */
  url(service: ServiceName): string;
  /** The development key the gateway made (every scope). */
  devKey: string;
  /** `Authorization` headers with the development key. */
  auth: { authorization: string };
  /** Sends an operation to the gateway's `/graphql` with the development key (or the `credential` given). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, credential?: string): Promise<HttpAnswer<{ data?: T | null; errors?: GraphQLErrorBody[] }>>;
  /** Stops every process, then deletes the data folder. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the stack exactly as `npm start` does (scripts/startStack.ts), each process preloading
 * tests/support/loopbackOnly.cjs and logging at `warn`, with a fresh temporary data folder that is
 * deleted on `stop()`.
 */
export async function startProcessStack(options: ProcessStackOptions): Promise<ProcessStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tailor-e2e-'));
  const logs: LogLine[] = [];
  const keep = testLogSink('process-stack');
  let stack: Stack;
  try {
    stack = await startStack({
      dataDir,
      gatewayPort: 0,
      subgraphPorts: 'free',
      host: '127.0.0.1',
      // Far above any answer's time on a loaded machine: tests assert behaviour and counts, never speed.
      env: { TAILOR_DEMO_SCALE: options.scale, TAILOR_LOG_LEVEL: 'warn', TAILOR_REQUEST_DEADLINE_MS: '60000', TAILOR_SUBGRAPH_TIMEOUT_MS: '30000', ...options.env },
      nodeArgs: ['--require', LOOPBACK_ONLY],
      onLine: (service, line) => {
        logs.push({ service, line });
        keep(line);
      },
      startTimeoutMs: 60_000,
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  let stopped = false;
  const devKey = stack.devKey ?? '';
  return {
    devKey,
    auth: { authorization: `Bearer ${devKey}` },
    gql: (query, variables, credential = devKey) => gql(stack.graphqlUrl, query, variables, { authorization: `Bearer ${credential}` }),
    stack,
    dataDir,
    logs,
    graphqlUrl: stack.graphqlUrl,
    subgraphSecret: stack.subgraphSecret,
    url: (service) => stack.services[service].url,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await stack.stop();
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** A GraphQL error as a client receives it. */
export interface GraphQLErrorBody {
  message: string;
  locations?: { line: number; column: number }[];
  path?: (string | number)[];
  extensions?: Record<string, any>;
}

/** An HTTP answer: status, headers and the body parsed as JSON (or the raw text when it is not JSON). */
export interface HttpAnswer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Sends a GraphQL operation as a JSON POST to `url` (an endpoint such as the gateway's `/graphql`). */
export async function gql<T = any>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<HttpAnswer<{ data?: T | null; errors?: GraphQLErrorBody[] }>> {
  return postRaw(url, JSON.stringify({ query, variables }), headers);
}

/** POSTs `body` (a JSON value, or an already serialized string) to `url` with a JSON content type. */
export async function postJson<T = any>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer<T>> {
  return postRaw(url, typeof body === 'string' ? body : JSON.stringify(body), headers);
}

async function postRaw<T>(url: string, text: string, headers: Record<string, string> = {}): Promise<HttpAnswer<T>> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text });
  return { status: response.status, headers: response.headers, body: parseBody(await response.text()) as T };
}

/** GETs `url`; the body is parsed as JSON when it is JSON. */
export async function get<T = any>(url: string, headers: Record<string, string> = {}): Promise<HttpAnswer<T>> {
  const response = await fetch(url, { headers });
  return { status: response.status, headers: response.headers, body: parseBody(await response.text()) as T };
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** One sample of the Prometheus text format. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format into samples (comments skipped). */
export function parsePrometheus(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/);
    if (!match) throw new Error(`Not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const labelText = match[3] ?? '';
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let m = labelPattern.exec(labelText); m; m = labelPattern.exec(labelText)) {
      labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1], labels, value: Number(match[4]) });
  }
  return samples;
}

/**
 * GETs `<baseUrl>/metrics` and sums the samples of metric `name` whose labels include every pair of
 * `labels` (0 when none match).
 */
export async function scrapeMetric(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`${baseUrl}/metrics answered ${response.status}`);
  return parsePrometheus(await response.text())
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
