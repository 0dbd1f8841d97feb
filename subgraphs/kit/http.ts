import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { Histogram, Registry } from 'prom-client';
import { ErrorCode } from './errors';
import type { Logger } from './logger';

/** A request body over the configured size limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Request body is larger than the limit of ${limit} bytes.`);
  }
}

/** Reads a request body, refusing it as soon as it passes `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    req.resume();
    throw new BodyTooLargeError(limitBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes) {
      req.resume();
      throw new BodyTooLargeError(limitBytes);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Sends a JSON error body `{ error: { code, message, ... } }`. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, ...extra } }, { 'cache-control': 'no-store' });
}

/** Options of `handleGraphQLRequest`. */
export interface GraphQLHttpOptions<TContext extends BaseContext> {
  maxBodyBytes: number;
  context: (req: IncomingMessage) => Promise<TContext>;
  /** Most operations in one HTTP-batched request (a JSON array); more get 413. Unset: no batches. */
  maxBatchOperations?: number;
  /**
   * Looks at each operation of a request (`{ query, extensions }`) before it runs; a returned
   * message refuses the whole request with 400 and `PERSISTED_QUERY_REQUIRED`.
   */
  vetOperation?: (operation: { query?: unknown; extensions?: unknown }) => string | undefined;
}

/**
 * Serves one GraphQL-over-HTTP request (GET or POST) through Apollo Server, with a body size limit
 * and a clear answer for a body that is not JSON.
 */
export async function handleGraphQLRequest<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  req: IncomingMessage,
  res: ServerResponse,
  options: GraphQLHttpOptions<TContext>,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let body: unknown;
  if (req.method === 'POST') {
    let text: string;
    try {
      text = await readBody(req, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return sendGraphQLError(res, 413, ErrorCode.BATCH_TOO_LARGE, error.message);
      }
      throw error;
    }
    const type = req.headers['content-type'] ?? '';
    if (type.includes('json')) {
      try {
        body = text.length > 0 ? JSON.parse(text) : undefined;
      } catch {
        return sendGraphQLError(res, 400, ErrorCode.BAD_USER_INPUT, 'The request body is not valid JSON.');
      }
    } else {
      body = text;
    }
  }
  const operations: unknown[] = req.method === 'POST' ? (Array.isArray(body) ? body : [body]) : [operationFromSearch(url.searchParams)];
  if (Array.isArray(body) && options.maxBatchOperations !== undefined && body.length > options.maxBatchOperations) {
    return sendGraphQLError(
      res,
      413,
      ErrorCode.BATCH_TOO_LARGE,
      `The batch has ${body.length} operations; the limit is ${options.maxBatchOperations}. Split it into smaller batches.`,
    );
  }
  if (options.vetOperation) {
    for (const operation of operations) {
      const refusal = operation && typeof operation === 'object' ? options.vetOperation(operation) : undefined;
      if (refusal) return sendGraphQLError(res, 400, ErrorCode.PERSISTED_QUERY_REQUIRED, refusal);
    }
  }
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const response = await server.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
    context: () => options.context(req),
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  // Apollo gives a batch the status of one of its failed operations; but each operation of a batch
  // carries its own errors, so the batch as a whole succeeded.
  if (Array.isArray(body) && response.body.kind === 'complete' && response.body.string.startsWith('[')) res.statusCode = 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

function operationFromSearch(search: URLSearchParams): { query?: string; extensions?: unknown } {
  let extensions: unknown;
  try {
    extensions = search.has('extensions') ? JSON.parse(search.get('extensions')!) : undefined;
  } catch {
    extensions = undefined;
  }
  return { query: search.get('query') ?? undefined, extensions };
}

function sendGraphQLError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] }, { 'cache-control': 'no-store' });
}

/** Options of `createRequestHandler`. */
export interface RequestHandlerOptions {
  /** Serves one request for `path`. */
  route: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;
  /** The metric label of a path: known routes by name, anything else as `other`. */
  routeLabel: (path: string) => string;
  httpDuration: Histogram<'route' | 'status'>;
  logger: Logger;
}

/** Wraps a router with timing by route and status, and a plain 500 for anything it throws. */
export function createRequestHandler(options: RequestHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const stop = options.httpDuration.startTimer({ route: options.routeLabel(path) });
    try {
      await options.route(req, res, path);
    } catch (error) {
      options.logger.error({ err: error, path }, 'request failed');
      if (!res.headersSent) sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error. The details are in the server log.');
      else res.end();
    } finally {
      stop({ status: String(res.statusCode) });
    }
  };
}

/** Serves a registry's metrics in Prometheus text format. */
export async function sendMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
  res.end(text);
}
