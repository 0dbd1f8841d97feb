import type { ApolloServerPlugin } from '@apollo/server';
import { ErrorCode } from '../../kit/errors';
import { type DegradationLog, createDegradationLog } from './degradation';
import type { GatewayMetrics } from './gatewayMetrics';
import type { Client } from './clientAuth';

/** The context value of every operation the gateway runs. */
export interface GatewayContext {
  /** Epoch ms by which the answer must be ready: arrival plus `TAILOR_REQUEST_DEADLINE_MS`. */
  deadline: number;
  /** How much longer than the default this request's deadline is (≥ 1): each attempt's timeout grows with it. */
  timeoutScale: number;
  degradation: DegradationLog;
  /** Content values (leaves that are not IDs) the answer holds outside fallbacks; set after execution. */
  liveValues?: number;
  /** Who sent the request (every operation the gateway runs has authenticated). */
  client?: Client;
  /** The client may read none of the operation's root fields: the answer is 403. */
  forbidden?: boolean;
  /** What the audit log records of the operation besides its fields and outcome (e.g. erasure receipts' counts). */
  auditDetail?: Record<string, unknown>;
}

/** A fresh context for an operation that arrived at `receivedAt`, with `deadlineMs` to answer (`defaultMs` unless the client asked). */
export const createGatewayContext = (receivedAt: number, deadlineMs: number, defaultMs: number = deadlineMs, client?: Client): GatewayContext => ({
  deadline: receivedAt + deadlineMs,
  timeoutScale: Math.max(1, deadlineMs / defaultMs),
  degradation: createDegradationLog(),
  client,
});

interface AnswerLike {
  data?: Record<string, unknown> | null;
  errors?: readonly { extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

/**
 * Whether an answer that lost subgraphs is still usable by an ESP: every root field resolved, and
 * something besides identifiers and fallbacks is left. Not usable: a root field that could not be
 * resolved (no recipient), or an answer left with nothing but ids and fallbacks (`{ id, recommendations: [] }`).
 */
export function assessAnswer(answer: AnswerLike, liveValues: number | undefined): { degraded: string[]; usable: boolean } {
  const degraded = Array.isArray(answer.extensions?.degraded) ? (answer.extensions.degraded as string[]) : [];
  const unavailable = (answer.errors ?? []).some((e) => e.extensions?.code === ErrorCode.SUBGRAPH_UNAVAILABLE);
  if (!unavailable) return { degraded, usable: true };
  const data = answer.data;
  const rootsResolved = !!data && Object.values(data).every((value) => value !== null && value !== undefined);
  return { degraded, usable: rootsResolved && (liveValues ?? 0) > 0 };
}

/**
 * Sets the status an ESP acts on: 200 when the answer is usable, declared fallbacks included (the
 * degraded services are in `extensions.degraded` and in errors at the degraded fields); 503 with
 * `Retry-After` only when it is not; 403 when the client may read none of the root fields it asked
 * for (FORBIDDEN errors say which scopes it lacks). An HTTP batch stays 200: each operation carries
 * its own errors.
 */
export function subgraphUnavailablePlugin(metrics: GatewayMetrics, retryAfterSeconds: number): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          if (response.body.kind !== 'single') return;
          if (contextValue.forbidden) {
            response.http.status = 403;
            return;
          }
          const { degraded, usable } = assessAnswer(response.body.singleResult, contextValue.liveValues);
          for (const service of degraded) (usable ? metrics.degradedResponses : metrics.unusableResponses).inc({ subgraph: service });
          if (usable) return;
          if (degraded.length === 0) metrics.unusableResponses.inc({ subgraph: 'unknown' });
          response.http.status = 503;
          response.http.headers.set('retry-after', String(retryAfterSeconds));
        },
      };
    },
  };
}
