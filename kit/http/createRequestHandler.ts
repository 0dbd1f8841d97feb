import type { IncomingMessage, ServerResponse } from 'node:http';
import { SpanStatusCode, context } from '@opentelemetry/api';
import type { Histogram } from 'prom-client';
import { ErrorCode } from '../errors';
import type { Logger } from '../logger';
import { SERVICE_ATTRIBUTE, startServerSpan, tracingEnabled } from '../tracing';
import { parseRequestTarget } from './parseRequestTarget';
import { sendError } from './sendJson';

/** Options of `createRequestHandler`. */
export interface RequestHandlerOptions {
  /** Serves one request for `path`. */
  route: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;
  /** The metric label of a path: known routes by name, anything else as `other`. */
  routeLabel: (path: string) => string;
  httpDuration: Histogram<'route' | 'status'>;
  logger: Logger;
  /** The service's name on its server spans (`tailor.service`), e.g. `gateway` or `crm`. */
  service?: string;
}

/**
 * Wraps a router with timing by route and status, a 400 for a request target that is not a path, and
 * a plain 500 for anything the router throws. The returned promise never rejects. With tracing on,
 * each request runs in a server span `HTTP <method> <route>`, child of the `traceparent` it carries.
 */
export function createRequestHandler(options: RequestHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const target = parseRequestTarget(req.url);
    const route = target ? options.routeLabel(target.path) : 'invalid';
    const serve = async () => {
      const stop = options.httpDuration.startTimer({ route });
      try {
        if (!target) {
          sendError(res, 400, ErrorCode.BAD_REQUEST, 'The request target is not a valid path, e.g. /graphql?query=…');
          return;
        }
        await options.route(req, res, target.path);
      } catch (error) {
        // The path only: a query string may carry a recipient's id or email.
        options.logger.error({ err: error, path: target?.path }, 'request failed');
        if (!res.headersSent) sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error. The details are in the server log.');
        else res.end();
      } finally {
        stop({ status: String(res.statusCode) });
      }
    };
    if (!tracingEnabled()) return serve();
    // The route label, never the path: a REST path or a query string may carry a recipient's id.
    const attributes = { 'http.request.method': req.method ?? 'GET', 'http.route': route, ...(options.service ? { [SERVICE_ATTRIBUTE]: options.service } : {}) };
    const { span, context: spanContext } = startServerSpan(`HTTP ${req.method ?? 'GET'} ${route}`, req.headers, attributes);
    try {
      await context.with(spanContext, serve);
    } finally {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
  };
}
