import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../errors';

/** Sends a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Sends a JSON error body `{ error: { code, message, ... } }`, never cached. */
export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, extra: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, ...extra } }, { 'cache-control': 'no-store' });
}

/** Sends a GraphQL-shaped error body `{ errors: [{ message, extensions: { code } }] }`, never cached. */
export function sendGraphQLError(res: ServerResponse, status: number, code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): void {
  sendJson(res, status, { errors: [{ message, extensions: { code, ...extensions } }] }, { 'cache-control': 'no-store' });
}
