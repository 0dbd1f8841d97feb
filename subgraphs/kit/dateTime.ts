import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { z } from 'zod';
import type { Clock } from '../../kit/clock';
import { ErrorCode } from '../../kit/errors';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const DATE_TIME_HELP = 'must be an ISO-8601 date and time with a time zone, e.g. "2026-11-28T09:30:00Z"';

/** Parses an ISO-8601 date-time with a zone into epoch milliseconds; `undefined` if it is not one. */
export function parseDateTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !ISO_8601.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Formats epoch milliseconds as the API's DateTime: ISO-8601 in UTC. */
export const formatDateTime = (ms: number): string => new Date(ms).toISOString();

/** A zod schema taking an ISO-8601 string and giving epoch milliseconds. */
export const zDateTime = z.string({ message: DATE_TIME_HELP }).transform((value, ctx) => {
  const ms = parseDateTime(value);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: DATE_TIME_HELP });
    return z.NEVER;
  }
  return ms;
});

/**
 * A zod schema for a timestamp that may not lie more than `maxSkewMs` after `clock.now()`: another
 * system's clock may run a little fast, but a date far in the future is a mistake, and one accepted
 * would outrank every real observation after it.
 */
export function zPastDateTime(field: string, clock: Clock, maxSkewMs: number) {
  return zDateTime.refine(
    (ms) => ms <= clock.now() + maxSkewMs,
    `${field} is more than ${Math.round(maxSkewMs / 1000)} s in the future (the allowed clock skew, TAILOR_MAX_CLOCK_SKEW_SECONDS)`,
  );
}

/** The `DateTime` scalar: ISO-8601 strings in UTC out, any valid ISO-8601 with a zone in. */
export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'An ISO-8601 date and time in UTC.',
  serialize(value) {
    if (typeof value === 'number') return formatDateTime(value);
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'string') return value;
    throw new GraphQLError('DateTime cannot represent this value.');
  },
  parseValue(value) {
    const ms = parseDateTime(value);
    if (ms === undefined) throw new GraphQLError(`DateTime ${DATE_TIME_HELP}.`, { extensions: { code: ErrorCode.BAD_USER_INPUT } });
    return formatDateTime(ms);
  },
  parseLiteral(ast) {
    const ms = ast.kind === Kind.STRING ? parseDateTime(ast.value) : undefined;
    if (ms === undefined) throw new GraphQLError(`DateTime ${DATE_TIME_HELP}.`, { extensions: { code: ErrorCode.BAD_USER_INPUT } });
    return formatDateTime(ms);
  },
});
