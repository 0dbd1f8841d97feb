import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Histogram } from 'prom-client';
import { ErrorCode } from '../errors';
import type { Logger } from '../logger';
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
