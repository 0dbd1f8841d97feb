import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { CLIENT_CODE_OF, ErrorCode } from './errors';

/**
 * Gives the client mistakes that Apollo Gateway reports in its own words (`INVALID_GRAPHQL`: an
 * `operationName` that names no operation of the document, or several operations and none named)
 * their client code and a 400, before they are formatted. Without it, Apollo Server answers them 500
 * and the error formatter masks them as internal errors, which tells a client to retry. Errors Apollo
 * Server itself answers with a 4xx but no code get `BAD_REQUEST`.
 */
export function createClientErrorPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const extensions = error.extensions as Record<string, unknown>;
            const status = (extensions.http as { status?: unknown } | undefined)?.status;
            if (extensions.code === undefined && typeof status === 'number' && status >= 400 && status < 500) {
              // Apollo Server refuses some requests with a 4xx and no code (e.g. "Unsupported persisted query version").
              extensions.code = ErrorCode.BAD_REQUEST;
              continue;
            }
            const code = CLIENT_CODE_OF[String(extensions.code ?? '')];
            if (!code) continue;
            extensions.code = code;
            extensions.http = { status: 400 };
          }
        },
      };
    },
  };
}
