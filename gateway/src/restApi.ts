import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import { Kind, type OperationDefinitionNode, parse, print } from 'graphql';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { OperationManifest, PersistedOperation } from '../../kit/operationManifest';
import type { RestRoute } from './restRoutes';
import { ErrorCode } from '../../kit/errors';
import { parseRequestTarget } from '../../kit/http/parseRequestTarget';
import { isWellFormed } from '../../kit/isWellFormed';
import { sendError } from '../../kit/http/sendJson';
import type { GatewayContext } from './subgraphUnavailablePlugin';

/** The query parameter that may carry a client key on a REST route (`TAILOR_URL_CREDENTIALS`); never an operation variable. */
export const ACCESS_TOKEN_PARAMETER = 'access_token';

/** The query parameter that names a campaign or send: answers that carry one may be kept (`answerTtlMs`). */
export const CAMPAIGN_PARAMETER = 'campaign';

/** A 200 answer as sent, kept for the repeats of one render. */
interface KeptAnswer {
  text: string;
  etag: string;
  cacheControl: string;
}

/** The REST face: GET routes that each run one persisted operation and answer flat JSON. */
export interface RestApi {
  /** Serves `path` if it is a REST route (or under `/api/`), and says whether it did. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, context: () => Promise<GatewayContext>): Promise<boolean>;
  /** Drops every kept answer: a mutation may have changed what they show (a consent, an erasure). */
  forgetKeptAnswers(): void;
}

interface CompiledRoute {
  route: RestRoute;
  pattern: RegExp;
  pathParams: string[];
  operation: PersistedOperation;
  /** Variable name → GraphQL type name (without `!`/list), for coercing query parameters. */
  variables: Map<string, { type: string; required: boolean }>;
}

/** Builds the REST face over the gateway's own Apollo Server; throws if a route names no known operation. */
export function createRestApi(
  apollo: ApolloServer<GatewayContext>,
  manifest: OperationManifest,
  routes: RestRoute[],
  options: {
    retryAfterSeconds: number;
    /**
     * How long a usable, complete answer to a request with a `campaign` parameter is kept for the same
     * client (name and scopes) and URL; 0: never. An ESP renders one recipient several times (HTML,
     * text, AMP, validation): the repeats are answered from it.
     */
    answerTtlMs?: number;
    answerCacheEntries?: number;
    registry?: Registry;
  },
): RestApi {
  const compiled = routes.map((route) => compile(route, manifest));
  const answerTtlMs = options.answerTtlMs ?? 0;
  const kept = answerTtlMs > 0 ? new LRUCache<string, KeptAnswer>({ max: options.answerCacheEntries ?? 20_000, ttl: answerTtlMs }) : undefined;
  const keptLookups = kept
    ? new Counter({
        name: 'tailor_rest_answer_cache_total',
        help: 'REST requests with a campaign parameter, by whether a kept answer served them (hit) or they were computed (miss).',
        labelNames: ['result'],
        registers: options.registry ? [options.registry] : [],
      })
    : undefined;

  return {
    forgetKeptAnswers: () => kept?.clear(),
    async handle(req, res, path, context) {
      const match = compiled.map((c) => ({ c, m: c.pattern.exec(path) })).find((x) => x.m);
      if (!match) {
        if (!path.startsWith('/api/')) return false;
        sendError(res, 404, ErrorCode.NOT_FOUND, `No route ${path}. Routes: ${routes.map((r) => r.path).join(', ')}.`);
        return true;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use GET for ${match.c.route.path}.`);
        return true;
      }
      await serve(req, res, match.c, match.m!, await context());
      return true;
    },
  };

  async function serve(req: IncomingMessage, res: ServerResponse, route: CompiledRoute, match: RegExpExecArray, contextValue: GatewayContext): Promise<void> {
    const target = parseRequestTarget(req.url);
    const searchParams = target?.searchParams ?? new URLSearchParams();
    const variables: Record<string, unknown> = {};
    for (const [i, name] of route.pathParams.entries()) {
      const value = decodePathSegment(match[i + 1]);
      if (value === undefined) {
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, `Path parameter "${name}" is not a valid percent-encoded UTF-8 string.`, { parameter: name });
      }
      variables[name] = value;
    }
    for (const [name, raw] of searchParams) {
      if (name === ACCESS_TOKEN_PARAMETER) continue;
      const variable = route.variables.get(name);
      if (!variable || route.pathParams.includes(name)) {
        const known = [...route.variables.keys()].filter((v) => !route.pathParams.includes(v));
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, `Unknown parameter "${name}". Known: ${known.join(', ') || 'none'}.`, { parameter: name });
      }
      const value = coerce(variable.type, raw);
      if (value === undefined) {
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, `Parameter "${name}" must be ${describe(variable.type)}, got ${JSON.stringify(raw)}.`, { parameter: name });
      }
      variables[name] = value;
    }
    // Only a request the route accepts is looked up: a bad parameter is refused above, kept answer or not.
    const keepKey = kept && searchParams.has(CAMPAIGN_PARAMETER) ? answerKey(contextValue, target!.path, searchParams) : undefined;
    if (keepKey !== undefined) {
      const answer = kept!.get(keepKey);
      keptLookups!.inc({ result: answer ? 'hit' : 'miss' });
      if (answer) return sendAnswer(req, res, answer);
    }
    const response = await apollo.executeOperation({ query: route.operation.body, operationName: route.operation.name, variables }, { contextValue });
    if (response.body.kind !== 'single') throw new Error('REST routes run single-result operations only');
    const { data, errors } = response.body.singleResult;
    // The status plugin has judged the answer (Apollo gives plugins their own copy of the context).
    const degraded = (response.body.singleResult.extensions?.degraded as string[] | undefined) ?? [];
    if (response.http.status === 503) {
      const retryAfter = options.retryAfterSeconds;
      res.setHeader('retry-after', String(retryAfter));
      return sendError(res, 503, ErrorCode.SUBGRAPH_UNAVAILABLE, `A service this answer needs is unavailable; retry in ${retryAfter} s.`, { degraded });
    }
    const failures = (errors ?? []).filter((e) => e.extensions?.code !== ErrorCode.SUBGRAPH_UNAVAILABLE);
    if (failures.length) {
      // A route's answer is one document: a field the client may not read refuses the whole of it.
      const forbidden = failures.find((e) => e.extensions?.code === ErrorCode.FORBIDDEN);
      if (forbidden) {
        return sendError(res, 403, ErrorCode.FORBIDDEN, forbidden.message, { missingScopes: forbidden.extensions?.missingScopes, field: forbidden.extensions?.field });
      }
      const badInput = failures.find((e) => e.extensions?.code === ErrorCode.BAD_USER_INPUT || e.extensions?.code === ErrorCode.GRAPHQL_VALIDATION_FAILED);
      if (badInput) {
        const argument = badInput.extensions?.argument;
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, badInput.message, argument ? { parameter: argument } : {});
      }
      return sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error. The details are in the server log.');
    }
    const root = (data as Record<string, unknown> | undefined)?.[route.route.root];
    if (root === null || root === undefined) {
      const id = variables.id === undefined ? '' : ` with id ${JSON.stringify(variables.id)}`;
      return sendError(res, 404, ErrorCode.NOT_FOUND, `No ${route.route.root}${id}.`);
    }
    const shaped = hoist(root, new Set(route.route.hoist ?? []));
    // A usable answer with fallbacks says which services it went without, as GraphQL's extensions.degraded does.
    const text = JSON.stringify(degraded.length && shaped && typeof shaped === 'object' && !Array.isArray(shaped) ? { ...shaped, degraded } : shaped);
    const etag = `"${createHash('sha256').update(text).digest('base64url').slice(0, 27)}"`;
    const answer = { text, etag, cacheControl: response.http.headers.get('cache-control') ?? 'no-store' };
    // Only a whole answer is kept: a degraded one would outlive the outage it reports.
    if (keepKey !== undefined && !degraded.length && !errors?.length) kept!.set(keepKey, answer);
    sendAnswer(req, res, answer);
  }
}

/** The key of a kept answer: who asked (their name and scopes decide what they may read) and the exact URL, `access_token` aside. */
function answerKey(context: GatewayContext, pathname: string, searchParams: URLSearchParams): string {
  const params = [...searchParams].filter(([name]) => name !== ACCESS_TOKEN_PARAMETER).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const scopes = [...(context.client?.scopes ?? [])].sort();
  return JSON.stringify([context.client?.name ?? null, scopes, pathname, params]);
}

function sendAnswer(req: IncomingMessage, res: ServerResponse, { text, etag, cacheControl }: KeptAnswer): void {
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.writeHead(304, { etag, 'cache-control': cacheControl });
    res.end();
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': cacheControl,
    etag,
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function compile(route: RestRoute, manifest: OperationManifest): CompiledRoute {
  const operation = manifest.operations.find((op) => op.name === route.operation);
  if (!operation) throw new Error(`REST route ${route.path} names operation ${route.operation}, which is not in the manifest`);
  const definition = parse(operation.body).definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const variables = new Map<string, { type: string; required: boolean }>();
  for (const v of definition.variableDefinitions ?? []) {
    const printed = print(v.type);
    variables.set(v.variable.name.value, { type: printed.replace(/[!\[\]]/g, ''), required: printed.endsWith('!') && !v.defaultValue });
  }
  const pathParams: string[] = [];
  const source = route.path.replace(/:([A-Za-z]\w*)/g, (_, name: string) => {
    if (!variables.has(name)) throw new Error(`REST route ${route.path}: operation ${route.operation} has no variable $${name}`);
    pathParams.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), pathParams, operation, variables };
}

/** A path segment decoded, or `undefined` for a bad escape (`%ZZ`) or one that is not UTF-8 (`%ED%A0%80`). */
function decodePathSegment(segment: string): string | undefined {
  try {
    const decoded = decodeURIComponent(segment);
    return isWellFormed(decoded) ? decoded : undefined;
  } catch {
    return undefined;
  }
}

function coerce(type: string, raw: string): unknown {
  switch (type) {
    case 'Int':
      return /^-?\d{1,9}$/.test(raw) ? Number(raw) : undefined;
    case 'Float':
      return raw.trim() !== '' && Number.isFinite(Number(raw)) ? Number(raw) : undefined;
    case 'Boolean':
      return raw === 'true' ? true : raw === 'false' ? false : undefined;
    default:
      return raw;
  }
}

function describe(type: string): string {
  return type === 'Int' ? 'a whole number' : type === 'Float' ? 'a number' : type === 'Boolean' ? 'true or false' : `a ${type}`;
}

/** Merges the named object fields into the object that holds them, at any depth. */
export function hoist(value: unknown, names: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => hoist(v, names));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (names.has(key) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [innerKey, innerValue] of Object.entries(hoist(v, names) as object)) {
        if (!(innerKey in value)) out[innerKey] = innerValue;
      }
    } else {
      out[key] = hoist(v, names);
    }
  }
  return out;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}
