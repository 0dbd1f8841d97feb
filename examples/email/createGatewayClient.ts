/** Error codes that mean "the gateway could not answer now; the same request may work later". */
const RETRYABLE_CODES = new Set(['SUBGRAPH_UNAVAILABLE', 'INTERNAL_SERVER_ERROR']);

/** A GraphQL error as the gateway reports it. */
export interface GraphQLError {
  message?: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** One attempt at a batch: the users array if there was one, and why it failed if it did. */
export interface BatchAnswer<User> {
  users?: (User | null)[];
  errors: GraphQLError[];
  /** Set when the answer is unusable or incomplete for a reason outside a single recipient. */
  failure?: string;
  retryable: boolean;
  retryAfterMs?: number;
}

/** Options of `createGatewayClient`. */
export interface GatewayClientOptions {
  /** The gateway's GraphQL endpoint. */
  url: string;
  /** The persisted operation to run; it takes `ids` and `limit` and answers `users`, one per id. */
  operationName: string;
  /** The operation's sha256 hash: only the hash is sent, never the operation's text. */
  operationHash: string;
  /** The `limit` variable sent with every batch. */
  limit: number;
  /** Other variables sent with every batch, e.g. `{ campaign: 'spring-sale' }`. */
  variables?: Record<string, unknown>;
  /** Retries of a request that failed in a way that may pass (network error, 408/429/5xx, a retryable error code). */
  retries: number;
  /** First retry delay in ms; it doubles on each retry (a `Retry-After` of up to 10 s wins). */
  retryDelayMs: number;
  /** A request that takes longer than this is abandoned (and retried). */
  requestTimeoutMs: number;
  /** The client key (or JWT) sent as `Authorization: Bearer …`; it needs `recipients:read` and `pii:read`. */
  credential?: string;
}

/** What a client has sent so far. */
export interface GatewayClientStats {
  /** HTTP requests sent, retries included. */
  requests: number;
  /** Why requests were retried, with how many times each reason occurred. */
  retryReasons: Record<string, number>;
}

/** A client that fetches batches of users from the gateway. */
export interface GatewayClient<User> {
  /** Fetches a batch, retrying with exponential backoff while the failure is one that may pass. */
  fetchBatch(batch: string[]): Promise<BatchAnswer<User>>;
  /** Counters, updated as requests are sent. */
  readonly stats: GatewayClientStats;
}

/** Creates a retrying client that fetches users by id through a persisted operation of the gateway. */
export function createGatewayClient<User>(options: GatewayClientOptions): GatewayClient<User> {
  const { url, operationName, operationHash, limit, variables, retries, retryDelayMs, requestTimeoutMs, credential } = options;
  const stats: GatewayClientStats = { requests: 0, retryReasons: {} };

  /** One request (no retry): what the gateway answered for `batch`. */
  const attempt = async (batch: string[]): Promise<BatchAnswer<User>> => {
    stats.requests++;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        // A campaign batch can wait longer than an ESP's 2 s: the gateway's deadline follows this client's timeout.
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'tailor-deadline-ms': String(Math.max(1, requestTimeoutMs - 100)),
          ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        },
        body: JSON.stringify({
          operationName,
          variables: { ...variables, ids: batch, limit },
          extensions: { persistedQuery: { version: 1, sha256Hash: operationHash } },
        }),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (error) {
      return { errors: [], failure: `cannot reach the gateway at ${url}: ${describeFetchError(error)}`, retryable: true };
    }
    const text = await response.text().catch(() => '');
    let body: { data?: { users?: unknown } | null; errors?: GraphQLError[]; error?: { message?: string } } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    const retryableStatus = response.status >= 500 || response.status === 408 || response.status === 429;
    if (!response.ok) {
      const message = errors[0]?.message ?? body?.error?.message ?? text.slice(0, 200).trim();
      return {
        errors,
        failure: `the gateway answered HTTP ${response.status}${message ? `: ${message}` : ''}`,
        retryable: retryableStatus,
        retryAfterMs: retryAfter(response.headers.get('retry-after')),
      };
    }
    if (body === undefined) return { errors, failure: `the gateway answered HTTP ${response.status} with a body that is not JSON`, retryable: false };
    const users = body.data?.users;
    const retryable = errors.some((e) => RETRYABLE_CODES.has(String(e.extensions?.code)));
    if (!Array.isArray(users)) {
      return { errors, failure: `the gateway returned no users: ${errors.map(describeError).join('; ') || 'no data and no error'}`, retryable };
    }
    if (users.length !== batch.length) {
      return { errors, failure: `the gateway returned ${users.length} users for ${batch.length} ids`, retryable: false };
    }
    // An error that points at no single recipient (e.g. a subgraph down) makes every null ambiguous.
    const general = errors.filter((e) => recipientIndex(e) === undefined);
    return {
      users: users as (User | null)[],
      errors,
      failure: general.length > 0 ? general.map(describeError).join('; ') : undefined,
      retryable: general.length > 0 && retryable,
    };
  };

  return {
    stats,
    async fetchBatch(batch) {
      for (let retry = 0; ; retry++) {
        const answer = await attempt(batch);
        if (!answer.failure || !answer.retryable || retry >= retries) return answer;
        stats.retryReasons[answer.failure] = (stats.retryReasons[answer.failure] ?? 0) + 1;
        // Exponential backoff with jitter, so concurrent batches that failed together do not retry together.
        await sleep(answer.retryAfterMs ?? retryDelayMs * 2 ** retry * (0.75 + Math.random() / 2));
      }
    },
  };
}

/** The recipient an error is about: `path` `['users', i, …]`. */
export function recipientIndex(error: GraphQLError): number | undefined {
  const path = error.path;
  return Array.isArray(path) && path[0] === 'users' && typeof path[1] === 'number' ? path[1] : undefined;
}

/** A GraphQL error as one line of text: its message and, if any, its code. */
export function describeError(error: GraphQLError): string {
  const code = error.extensions?.code;
  return `${error.message ?? 'unknown error'}${code ? ` (${code})` : ''}`;
}

function describeFetchError(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return 'timed out';
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/** `Retry-After` in ms, for the seconds form only. */
function retryAfter(header: string | null): number | undefined {
  const seconds = header === null ? NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, 10_000) : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
