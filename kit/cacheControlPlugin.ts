import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { DocumentNode } from 'graphql';
import { type CacheHint, type CachePolicy, cacheControlHeader, responseCachePolicy } from './cachePolicy';

const UNCACHEABLE: CacheHint = { maxAge: 0, scope: 'PRIVATE' };

/**
 * Sets each response's `Cache-Control` from the schema's `@cacheControl` declarations: the smallest
 * `maxAge` of everything the operation selects, `no-store` for mutations, errors and live fields.
 */
export function createCacheControlPlugin<TContext extends BaseContext>(policy: () => CachePolicy): ApolloServerPlugin<TContext> {
  // Apollo reuses one parsed document per operation text, so each operation is walked once per policy.
  const known = new WeakMap<CachePolicy, WeakMap<DocumentNode, CacheHint>>();
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, document, schema, errors }) {
          let hint = UNCACHEABLE;
          if (document && !errors?.length && response.body.kind === 'single' && !response.body.singleResult.errors?.length) {
            const current = policy();
            let byDocument = known.get(current);
            if (!byDocument) known.set(current, (byDocument = new WeakMap()));
            hint = byDocument.get(document) ?? responseCachePolicy(schema, document, current);
            byDocument.set(document, hint);
          }
          response.http.headers.set('cache-control', cacheControlHeader(hint));
        },
      };
    },
  };
}
