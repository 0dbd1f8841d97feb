import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseRequestTarget } from '../../../kit/http/parseRequestTarget';
import { type SandboxPageConfig, sandboxPage } from './sandboxPage';

/** Where the built sandbox assets live (`npm run build:sandbox`); committed, so serving them needs no build step. */
export const SANDBOX_DIST = join(__dirname, 'dist');

/** Options of `createSandbox`. */
export interface SandboxOptions {
  /** The operation the first tab shows. */
  query: string;
  /** Its variables. */
  variables: Record<string, unknown>;
  /** Folder of the built assets (default: gateway/src/sandbox/dist). */
  dist?: string;
  /**
   * Request headers the sandbox opens with when the browser is on this machine (a loopback address),
   * e.g. the development key; pages for other clients open with none.
   */
  localHeaders?: Record<string, string>;
}

/** The sandbox's routes, for the gateway's router. */
export interface Sandbox {
  /** Serves `req` if it is the sandbox's (and returns true): `/`, a browser's `GET /graphql`, `/sandbox/*`. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  gzipped?: Buffer;
}

const ASSET_PREFIX = '/sandbox/';
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/**
 * The GraphiQL sandbox, served from the gateway's own bundled assets so it works with no internet
 * access: the page at `/` (and at `GET /graphql` for a browser), and its script and stylesheet under `/sandbox/`.
 */
export function createSandbox(options: SandboxOptions): Sandbox {
  const dist = options.dist ?? SANDBOX_DIST;
  const assets = new Map<string, Asset>();
  for (const name of ['sandbox.js', 'sandbox.css']) {
    let body: Buffer;
    try {
      body = readFileSync(join(dist, name));
    } catch (error) {
      throw new Error(`The sandbox asset ${join(dist, name)} is missing: run \`npm run build:sandbox\`, or set TAILOR_SANDBOX=false. (${String(error)})`);
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(`${ASSET_PREFIX}${name}`, { body, type: TYPES[name.slice(name.lastIndexOf('.'))], etag });
  }
  const config: SandboxPageConfig = {
    endpoint: 'graphql',
    query: options.query,
    variables: JSON.stringify(options.variables, null, 2),
  };
  // Relative URLs resolve to /sandbox/… from both / and /graphql; the etag busts a stale browser cache.
  const version = (path: string) => `${path.slice(1)}?v=${encodeURIComponent(assets.get(path)!.etag.slice(1, 9))}`;
  const files = { script: version('/sandbox/sandbox.js'), stylesheet: version('/sandbox/sandbox.css') };
  const page = Buffer.from(sandboxPage(config, files));
  const localPage = options.localHeaders ? Buffer.from(sandboxPage({ ...config, headers: JSON.stringify(options.localHeaders, null, 2) }, files)) : page;

  return {
    serve(req, res, path) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (path === '/' || (path === '/graphql' && wantsSandbox(req))) {
        const body = isLoopback(req.socket.remoteAddress) ? localPage : page;
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': body.length,
          'cache-control': 'no-store',
          vary: 'Accept',
          'x-content-type-options': 'nosniff',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        return true;
      }
      const asset = assets.get(path);
      if (!asset) return false;
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, { etag: asset.etag, 'cache-control': 'no-cache' });
        res.end();
        return true;
      }
      const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      const body = gzip ? (asset.gzipped ??= gzipSync(asset.body)) : asset.body;
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': body.length,
        'cache-control': 'no-cache',
        etag: asset.etag,
        vary: 'Accept-Encoding',
        'x-content-type-options': 'nosniff',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    },
  };
}

/** A browser navigating to `/graphql`: it accepts HTML and sends no operation. */
function wantsSandbox(req: IncomingMessage): boolean {
  if (!String(req.headers.accept ?? '').includes('text/html')) return false;
  const search = parseRequestTarget(req.url)?.searchParams ?? new URLSearchParams();
  return !search.has('query') && !search.has('extensions');
}

/** Whether a peer address is this machine's: 127.0.0.0/8, ::1, or an IPv4-mapped loopback. */
function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}
