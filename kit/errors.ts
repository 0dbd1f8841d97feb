import { GraphQLError } from 'graphql';

/**
 * Every `extensions.code` a Tailor client can see. One enum, so that the email engine can switch on
 * codes and know which ones are worth a retry.
 */
export enum ErrorCode {
  /** The request itself is wrong: fix it, do not retry. */
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  /** The request is not a GraphQL-over-HTTP request Tailor can read (e.g. a GET with no query). */
  BAD_REQUEST = 'BAD_REQUEST',
  /** The operation text does not parse. */
  GRAPHQL_PARSE_FAILED = 'GRAPHQL_PARSE_FAILED',
  /** The operation does not validate against the schema, or is over a depth or alias limit. */
  GRAPHQL_VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED',
  /** The document holds no operation by the given `operationName`, or several and none was named. */
  OPERATION_RESOLUTION_FAILURE = 'OPERATION_RESOLUTION_FAILURE',
  /** A hash the gateway does not know: send the query text once (APQ). */
  PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND',
  /** This server does not take persisted queries (subgraphs). */
  PERSISTED_QUERY_NOT_SUPPORTED = 'PERSISTED_QUERY_NOT_SUPPORTED',
  /** Only the persisted operations of the manifest are accepted here: send a known hash. */
  PERSISTED_QUERY_REQUIRED = 'PERSISTED_QUERY_REQUIRED',
  /** The operation, or the operations of one request together, cost more than the budget: ask for less, or split. */
  COST_LIMIT_EXCEEDED = 'COST_LIMIT_EXCEEDED',
  /** A batch is larger than the configured limit: split it, then retry. */
  BATCH_TOO_LARGE = 'BATCH_TOO_LARGE',
  /** No such route, or no such resource behind it (e.g. an unknown recipient on a REST route). */
  NOT_FOUND = 'NOT_FOUND',
  /**
   * No valid credential: a gateway request without a client key or JWT (or with a revoked, expired or
   * unknown one), a subgraph call without the gateway credential, an unsigned ingest batch. HTTP 401.
   */
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  /** The credential is valid but lacks a scope the field or route needs; the error names it (`missingScopes`). */
  FORBIDDEN = 'FORBIDDEN',
  /** The client used up its rate limit or daily quota: retry after `Retry-After` (HTTP 429, with `RateLimit` headers). */
  RATE_LIMITED = 'RATE_LIMITED',
  /** The route exists but not for this HTTP method; the `Allow` header lists the ones it takes. */
  METHOD_NOT_ALLOWED = 'METHOD_NOT_ALLOWED',
  /** The body is not in a format the route takes (e.g. not JSON); the message names the one it does. */
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  /** A service the answer needs could not be reached: retry later. */
  SUBGRAPH_UNAVAILABLE = 'SUBGRAPH_UNAVAILABLE',
  /** The gateway is at its limit of operations in flight: retry after `Retry-After`. */
  OVERLOADED = 'OVERLOADED',
  /** The client's quota could not be checked (its store, Redis, is unreachable) and the gateway refuses uncounted requests: retry after `Retry-After` (HTTP 503). */
  QUOTA_UNAVAILABLE = 'QUOTA_UNAVAILABLE',
  /** Something failed inside Tailor; details are in the server log, never in the response. */
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

/** One refused item of a batch: where it is and why it was refused. */
export interface ItemProblem {
  index: number;
  field?: string;
  reason: string;
}

/** The error for a batch refused whole because some of its items are invalid. */
export function invalidBatchError(kind: string, problems: ItemProblem[]): GraphQLError {
  // One item may have several problems: the count is of items.
  const items = new Set(problems.map((p) => p.index)).size;
  const noun = items === 1 ? 'item is' : 'items are';
  return new GraphQLError(
    `The ${kind} batch was refused: ${items} ${noun} invalid, and nothing was applied.`,
    { extensions: { code: ErrorCode.BAD_USER_INPUT, items: problems } },
  );
}

/** The error for an argument out of its documented range. */
export function badArgumentError(argument: string, message: string): GraphQLError {
  return new GraphQLError(`Argument "${argument}": ${message}`, {
    extensions: { code: ErrorCode.BAD_USER_INPUT, argument },
  });
}

/** The error for a batch over the configured item limit. */
export function batchTooLargeError(kind: string, size: number, limit: number): GraphQLError {
  return new GraphQLError(
    `The ${kind} batch has ${size} items; the limit is ${limit}. Split it into smaller batches.`,
    { extensions: { code: ErrorCode.BATCH_TOO_LARGE, limit, size } },
  );
}

/** Codes a client may see as they are; anything else is masked as an internal error. */
const CLIENT_CODES = new Set<string>(Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR));

/**
 * Codes that Apollo Gateway gives client mistakes, and the client code each one means (see
 * `createClientErrorPlugin`).
 * The gateway reports an operation it cannot plan (`INVALID_GRAPHQL`), e.g. one whose `operationName`
 * names no operation of the document, without Apollo Server's own code.
 */
export const CLIENT_CODE_OF: Readonly<Record<string, ErrorCode>> = {
  INVALID_GRAPHQL: ErrorCode.OPERATION_RESOLUTION_FAILURE,
};

/** What client errors may tell beyond their message and code (both off in the production profile). */
export interface ClientErrorDetail {
  /** graphql-js's "Did you mean …?" suggestions of schema names. */
  hints: boolean;
  /** `extensions.serviceName`: which subgraph an error came from. */
  serviceNames: boolean;
}

/** A formatted GraphQL error, as Apollo Server hands it to `formatError`. */
export interface FormattedError {
  message: string;
  locations?: readonly { line: number; column: number }[];
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

/**
 * Shapes an error for a client: known codes pass without their stack trace; anything else becomes a
 * plain internal error, and `report` gets the original for the log.
 */
export function formatClientError(
  formatted: FormattedError,
  report: (formatted: FormattedError) => void,
  reveal: ClientErrorDetail = { hints: true, serviceNames: true },
): FormattedError {
  const code = String(formatted.extensions?.code ?? '');
  if (CLIENT_CODES.has(code)) {
    const { stacktrace: _stack, exception: _exception, serviceName, ...extensions } = formatted.extensions ?? {};
    // graphql-js suggests names of the schema ("Did you mean \"email\"?"): a map of it for whoever probes.
    const message = reveal.hints ? formatted.message : formatted.message.replace(/ Did you mean [^?]*\?/g, '');
    return { ...formatted, message, extensions: reveal.serviceNames && serviceName !== undefined ? { ...extensions, serviceName } : extensions };
  }
  report(formatted);
  return {
    message: 'Internal server error. The details are in the server log.',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}
