import './telemetry';
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../subgraphs/kit/errors';
import type { GatewayMetrics } from './gatewayMetrics';

/** Options of `createSubgraphDataSource`. */
export interface SubgraphDataSourceOptions {
  name: string;
  url: string;
  timeoutMs: number;
  metrics: GatewayMetrics;
}

/**
 * The gateway's connection to one subgraph: Node's keep-alive `fetch`, a timeout, every request
 * counted in `tailor_subgraph_fetches_total`, and a failure to reach the subgraph reported to the
 * client as `SUBGRAPH_UNAVAILABLE` (retry later) instead of a network error message.
 */
export function createSubgraphDataSource(options: SubgraphDataSourceOptions): RemoteGraphQLDataSource {
  const { name, url, timeoutMs, metrics } = options;
  const fetches = metrics.subgraphFetches.labels(name);
  const fetcher = (async (input: string, init: RequestInit) => {
    fetches.inc();
    const stop = metrics.subgraphFetchDuration.startTimer({ subgraph: name });
    try {
      const response = await fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      stop({ outcome: response.ok ? 'ok' : 'error' });
      return response;
    } catch (error) {
      stop({ outcome: 'error' });
      throw error;
    }
  }) as unknown as Fetcher;

  return new RemoteGraphQLDataSource({
    url,
    fetcher,
    // Tailor sets Cache-Control from the supergraph's declarations, not from subgraph headers.
    honorSubgraphCacheControlHeader: false,
    didEncounterError(error: Error) {
      if (error instanceof GraphQLError) throw error;
      const timedOut = error.name === 'TimeoutError' || error.name === 'AbortError';
      throw new GraphQLError(
        timedOut ? `The ${name} service did not answer within ${timeoutMs} ms.` : `The ${name} service is unavailable.`,
        { extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, service: name } },
      );
    },
  });
}
