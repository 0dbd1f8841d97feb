import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { ErrorCode } from '../../kit/errors';

/** Seconds a client should wait before retrying when a subgraph is down. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Answers 503 with `Retry-After` when a subgraph the operation needed did not answer. The body keeps
 * whatever data could be fetched, but the status tells an ESP plainly to retry rather than to treat
 * nulls as unknown recipients. (An HTTP batch stays 200: each operation carries its own errors.)
 */
export function subgraphUnavailablePlugin(): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors ?? [];
          if (!errors.some((e) => e.extensions?.code === ErrorCode.SUBGRAPH_UNAVAILABLE)) return;
          response.http.status = 503;
          response.http.headers.set('retry-after', String(RETRY_AFTER_SECONDS));
        },
      };
    },
  };
}
