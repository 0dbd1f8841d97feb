import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { CLIENT_CODE_OF } from './errors';

/**
 * Gives the client mistakes that Apollo Gateway reports in its own words (`INVALID_GRAPHQL`: an
 * `operationName` that names no operation of the document, or several operations and none named)
 * their client code and a 400, before they are formatted. Without it, Apollo Server answers them 500
 * and the error formatter masks them as internal errors, which tells a client to retry.
 */
export function createClientErrorPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const code = CLIENT_CODE_OF[String(error.extensions?.code ?? '')];
            if (!code) continue;
            const extensions = error.extensions as Record<string, unknown>;
            extensions.code = code;
            extensions.http = { status: 400 };
          }
        },
      };
    },
  };
}
