import { GraphQLError } from 'graphql';

/**
 * Every `extensions.code` a Tailor client can see. One enum, so that the email engine can switch on
 * codes and know which ones are worth a retry.
 */
export enum ErrorCode {
  /** The request itself is wrong: fix it, do not retry. */
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  /** A batch is larger than the configured limit: split it, then retry. */
  BATCH_TOO_LARGE = 'BATCH_TOO_LARGE',
  /** Only the persisted operations of the manifest are accepted here: send a known hash. */
  PERSISTED_QUERY_REQUIRED = 'PERSISTED_QUERY_REQUIRED',
  /** A service the answer needs could not be reached: retry later. */
  SUBGRAPH_UNAVAILABLE = 'SUBGRAPH_UNAVAILABLE',
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
  const noun = problems.length === 1 ? 'item is' : 'items are';
  return new GraphQLError(
    `The ${kind} batch was refused: ${problems.length} ${noun} invalid, and nothing was applied.`,
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
const CLIENT_CODES = new Set<string>([
  ...Object.values(ErrorCode).filter((code) => code !== ErrorCode.INTERNAL_SERVER_ERROR),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'BAD_REQUEST',
]);

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
export function formatClientError(formatted: FormattedError, report: (formatted: FormattedError) => void): FormattedError {
  const code = String(formatted.extensions?.code ?? '');
  if (CLIENT_CODES.has(code)) {
    const { stacktrace: _stack, exception: _exception, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  report(formatted);
  return {
    message: 'Internal server error. The details are in the server log.',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}
