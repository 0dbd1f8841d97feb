import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode } from '../errors';
import type { Logger } from '../logger';
import { sendError } from './sendJson';

/**
 * An HTTP server for `handle` that answers whatever a client sends. A request Node's parser cannot
 * read (a malformed request line or header, an absurd Content-Length) gets a JSON 400 (431 for
 * oversized headers) instead of a bare one, and a handler that fails after all is logged, never
 * left to reject unhandled.
 */
export function createHttpServer(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, logger: Logger): Server {
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: error }, 'request handler failed');
      if (!res.headersSent) sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error. The details are in the server log.');
      else res.destroy();
    });
  });
  // Keep-alive longer than a typical load balancer's idle timeout (60 s), so it closes first.
  server.keepAliveTimeout = 65_000;
  // A client that trickles its headers or body is cut off, instead of holding a connection for good.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    // An answer to HEAD carries no body, even when the rest of the request could not be read.
    const head = (error as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
    writeRaw(socket, tooLarge ? 431 : 400, ErrorCode.BAD_REQUEST, tooLarge ? 'The request headers are too large.' : 'The request could not be read as HTTP/1.1.', head);
  });
  return server;
}

/** Writes a complete JSON error response straight to the socket and closes it. */
function writeRaw(socket: Socket | null, status: number, code: ErrorCode, message: string, headOnly = false): void {
  if (!socket || socket.destroyed) return;
  const body = JSON.stringify({ error: { code, message } });
  const reason = status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${headOnly ? '' : body}`,
  );
}
