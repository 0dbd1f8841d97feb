import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { type CachePolicy, cacheControlHeader, responseCachePolicy } from '../../schema/cachePolicy';

/**
 * Sets each response's `Cache-Control` from the schema's `@cacheControl` declarations: the smallest
 * `maxAge` of everything the operation selects, `no-store` for mutations, errors and live fields.
 */
export function createCacheControlPlugin<TContext extends BaseContext>(policy: () => CachePolicy): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, document, schema, errors }) {
          const hint = document && !errors?.length && response.body.kind === 'single' && !response.body.singleResult.errors?.length
            ? responseCachePolicy(schema, document, policy())
            : { maxAge: 0, scope: 'PRIVATE' as const };
          response.http.headers.set('cache-control', cacheControlHeader(hint));
        },
      };
    },
  };
}
