import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Histogram } from 'prom-client';
import { ErrorCode } from '../errors';
import type { Logger } from '../logger';
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
}

/**
 * Wraps a router with timing by route and status, a 400 for a request target that is not a path, and
 * a plain 500 for anything the router throws. The returned promise never rejects.
 */
export function createRequestHandler(options: RequestHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const target = parseRequestTarget(req.url);
    const stop = options.httpDuration.startTimer({ route: target ? options.routeLabel(target.path) : 'invalid' });
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
}
