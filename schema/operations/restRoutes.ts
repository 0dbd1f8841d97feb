/**
 * The REST face for ESPs that can only GET a URL (Braze Connected Content, Iterable data feeds,
 * Salesforce HTTPGet). Each route runs one persisted operation of this folder: `:id` and the query
 * string become its variables, and the answer is `data.<root>`, with the `hoist`ed objects merged
 * into their parent so a Liquid template reads `rec.name` rather than `rec.product.name`.
 * Adding a route is one line.
 */
export interface RestRoute {
  /** Path pattern; `:name` segments are variables. */
  path: string;
  /** Name of a persisted operation in `schema/operations/`. */
  operation: string;
  /** The field of `data` that is the answer; `null` there is a 404. */
  root: string;
  /** Object fields merged into the object that holds them. */
  hoist?: string[];
}

export const restRoutes: RestRoute[] = [
  { path: '/api/v1/users/:id/profile', operation: 'RecipientProfile', root: 'user' },
  { path: '/api/v1/users/:id/recommendations', operation: 'RecipientRecommendations', root: 'user', hoist: ['product'] },
  { path: '/api/v1/users/:id/personalization', operation: 'PersonalizeRecipient', root: 'user', hoist: ['product'] },
];
