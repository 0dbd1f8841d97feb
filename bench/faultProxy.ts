import { type IncomingMessage, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { Socket } from 'node:net';

/**
 * How the proxy treats requests: passes them on; refuses connections (as if the process were dead);
 * answers 500; answers garbage; holds the connection open without a byte; forwards after a delay;
 * trickles the real answer a byte at a time; or passes on but nulls the `_entities` at `nullEntities`.
 */
export type Fault =
  | { kind: 'pass' }
  | { kind: 'down' }
  | { kind: 'status500' }
  | { kind: 'garbage' }
  | { kind: 'held' }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'trickle'; byteEveryMs: number }
  | { kind: 'nullEntities'; indexes: number[] };

/** A fault-injecting HTTP proxy in front of one subgraph, on a fixed loopback port. */
export interface FaultProxy {
  url: string;
  port: number;
  set(fault: Fault): Promise<void>;
  /** Requests that reached the proxy, and how many of them carried a mutation. */
  counts(): { requests: number; mutations: number };
  close(): Promise<void>;
}

/** Starts a proxy to `target` (a base URL such as `http://127.0.0.1:4001`). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  let fault: Fault = { kind: 'pass' };
  let requests = 0;
  let mutations = 0;
  const sockets = new Set<Socket>();
  /** Sockets with a request not yet answered: a fault change cuts them, as a restart would; idle keep-alive ones stay. */
  const busy = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    busy.add(req.socket);
    res.on('close', () => busy.delete(req.socket));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests++;
      if (/^\s*\{?\s*"query"\s*:\s*"\s*mutation\b/.test(body.toString('utf8'))) mutations++;
      const current = fault;
      switch (current.kind) {
        case 'status500':
          res.writeHead(500, { 'content-type': 'text/plain' });
          return res.end('Internal Server Error');
        case 'garbage':
          res.writeHead(200, { 'content-type': 'application/json' });
          return res.end('<html>not a GraphQL answer');
        case 'held':
          return; // Never a byte: the socket stays open until the client gives up.
        case 'slow':
          return later(current.delayMs, () => forward(req, body, res, (text) => text));
        case 'trickle':
          return forward(req, body, res, (text) => text, current.byteEveryMs);
        case 'nullEntities':
          return forward(req, body, res, (text) => nullEntities(text, current.indexes));
        default:
          return forward(req, body, res, (text) => text);
      }
    });
  };

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  function forward(req: IncomingMessage, body: Buffer, res: ServerResponse, rewrite: (text: string) => string, byteEveryMs?: number) {
    const out = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } },
      (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          const text = Buffer.from(rewrite(Buffer.concat(parts).toString('utf8')));
          const headers = { 'content-type': String(answer.headers['content-type'] ?? 'application/json'), 'content-length': text.length };
          if (res.destroyed) return;
          res.writeHead(answer.statusCode ?? 502, headers);
          if (byteEveryMs === undefined) return res.end(text);
          let i = 0;
          const drip = () => {
            if (res.destroyed) return;
            if (i >= text.length) return res.end();
            res.write(text.subarray(i, i + 1));
            i++;
            later(byteEveryMs, drip);
          };
          drip();
        });
      },
    );
    out.on('error', () => {
      if (!res.destroyed) res.destroy();
    });
    out.end(body);
  }

  let server: Server = createServer(handler);
  const track = (s: Server) =>
    s.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
  track(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  let listening = true;

  const dropConnections = (all: boolean) => {
    for (const socket of all ? sockets : busy) socket.destroy();
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async set(next) {
      dropConnections(next.kind === 'down');
      fault = next;
      if (next.kind === 'down' && listening) {
        listening = false;
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } else if (next.kind !== 'down' && !listening) {
        server = createServer(handler);
        track(server);
        await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
        listening = true;
      }
    },
    counts: () => ({ requests, mutations }),
    async close() {
      dropConnections(true);
      if (listening) await new Promise<void>((resolve) => server.close(() => resolve()));
      listening = false;
    },
  };
}

/** The subgraph's answer with the entities at `indexes` replaced by null and an error for each, as a partial failure. */
function nullEntities(text: string, indexes: number[]): string {
  try {
    const body = JSON.parse(text) as { data?: { _entities?: unknown[] }; errors?: unknown[] };
    const entities = body.data?._entities;
    if (!Array.isArray(entities)) return text;
    const errors = [...(body.errors ?? [])];
    for (const i of indexes) {
      if (i >= entities.length) continue;
      entities[i] = null;
      errors.push({ message: 'Injected failure for one entity.', path: ['_entities', i], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    }
    return JSON.stringify({ ...body, errors });
  } catch {
    return text;
  }
}
